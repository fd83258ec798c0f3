//! Configuration: the TOML file schema and S3's CORS formats, turned into a validated
//! runtime [`Config`]. The proxy never sees the file format.

pub mod s3_formats;
pub mod units;
