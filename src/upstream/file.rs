//! STUB (to be replaced): a local directory served like an S3 bucket.
use std::path::PathBuf;

use bytes::Bytes;
use http::{Request, Response, StatusCode};

use super::{empty, Body, BoxError};

/// A folder served as a bucket: the object key is the percent-decoded request path
/// without its leading `/`.
#[derive(Debug, Clone)]
pub struct FileBucket {
    root: PathBuf,
    writable: bool,
}

impl FileBucket {
    /// `root` must be an existing directory.
    pub fn new(root: PathBuf, writable: bool) -> std::io::Result<FileBucket> {
        Ok(FileBucket { root, writable })
    }

    /// Answers one request like S3 would.
    pub async fn handle<B>(&self, _req: Request<B>) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin,
        B::Error: Into<BoxError>,
    {
        let _ = (&self.root, self.writable);
        let mut r = Response::new(empty());
        *r.status_mut() = StatusCode::NOT_IMPLEMENTED;
        r
    }
}
