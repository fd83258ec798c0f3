//! Where forwarded requests go: an HTTP(S) bucket through hyper-util's pooled client
//! ([`http`]), or a local folder served like a bucket ([`file`]).

pub mod file;
pub mod http;
pub mod sign;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Every response body the gateway sends: upstream streams, files, local answers.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

/// A body held in memory (local answers, XML errors).
pub fn full(bytes: impl Into<Bytes>) -> Body {
    use http_body_util::BodyExt;
    http_body_util::Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty body (zero-sized, so boxing it allocates nothing).
pub fn empty() -> Body {
    use http_body_util::BodyExt;
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}
