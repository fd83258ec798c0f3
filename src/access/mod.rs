//! Access control for sites that sign upstream requests: who may use the site, and
//! which S3 operations it may be used for.
