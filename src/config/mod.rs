//! Configuration: the TOML file schema and S3's CORS formats, turned into a validated
//! runtime [`Config`]. The proxy never sees the file format.

mod diag;
pub mod effective;
pub mod file;
pub mod private;
mod runtime;
pub mod s3_formats;
mod targets;
pub mod tls;
pub mod units;

pub use diag::{line_col, Diagnostic, Diagnostics};
pub use runtime::{
    load, load_rules_file, parse, rules_from_text, Config, LogConfig, LogFormat, OneSite,
    PoolConfig, ServerLimits, ShutdownConfig, Site, Source,
};
pub use targets::{split_host_port, HostPattern, UpstreamSpec};
pub use tls::{CertSpec, TlsConfig, TlsVersion};
