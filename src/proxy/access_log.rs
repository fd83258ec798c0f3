//! One log line per request, written when the response body ends (or is abandoned), so
//! it can say how many bytes really went out. Secrets never reach it: query values
//! that carry signatures or tokens are redacted, and no request header but Origin is
//! logged.
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::time::Instant;

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};

use crate::upstream::{Body, BoxError};

/// Query parameters whose values are credentials (SigV2/SigV4 presigned URLs).
const SECRET_PARAMS: [&str; 5] = [
    "x-amz-signature",
    "x-amz-security-token",
    "x-amz-credential",
    "signature",
    "awsaccesskeyid",
];

/// The query string with credential values replaced by `REDACTED`.
pub fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| {
            let name = pair.split('=').next().unwrap_or("");
            if SECRET_PARAMS.iter().any(|s| s.eq_ignore_ascii_case(name)) {
                format!("{name}=REDACTED")
            } else {
                pair.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A request id: 16 uppercase hex digits, formatted without allocating (S3's
/// `RequestId` has the same shape).
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestId([u8; 16]);

impl RequestId {
    pub fn new(n: u64) -> RequestId {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let mut out = [0u8; 16];
        for (i, b) in out.iter_mut().enumerate() {
            *b = HEX[((n >> (60 - 4 * i)) & 0xF) as usize];
        }
        RequestId(out)
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever written.
        std::str::from_utf8(&self.0).unwrap_or("0000000000000000")
    }
}

/// What the log line says; filled in as the request goes through the pipeline. With the
/// access log off nothing but the request id is recorded, so the hot path allocates no
/// log strings.
#[derive(Debug, Default)]
pub struct Entry {
    enabled: bool,
    pub request_id: RequestId,
    /// The method, kept typed for metrics whether or not the log is on.
    pub verb: http::Method,
    pub method: String,
    pub host: String,
    pub path: String,
    pub query: Option<String>,
    pub origin: Option<String>,
    pub site: String,
    pub cors: String,
    pub status: u16,
    pub upstream_status: Option<u16>,
    pub upstream_ms: Option<u128>,
    pub error: Option<String>,
    pub cache: Option<crate::cache::CacheStatus>,
    // Not logged; kept for the metrics, which need them typed rather than as text.
    pub site_index: Option<usize>,
    pub preflight: bool,
    pub outcome: Option<crate::cors::Outcome>,
    pub upstream_latency: Option<std::time::Duration>,
    pub upstream_error: Option<&'static str>,
    pub access_denied: Option<&'static str>,
}

impl Entry {
    pub fn new<B>(enabled: bool, request_id: RequestId, req: &http::Request<B>) -> Entry {
        let mut e = Entry {
            enabled,
            request_id,
            verb: req.method().clone(),
            ..Entry::default()
        };
        e.record(|e| {
            e.method = req.method().to_string();
            e.path = req.uri().path().to_owned();
            e.query = req.uri().query().map(str::to_owned);
        });
        e
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Applies `f` only when the access log is on.
    pub fn record(&mut self, f: impl FnOnce(&mut Entry)) {
        if self.enabled {
            f(self);
        }
    }

    fn emit(&self, bytes: u64, complete: bool, total_ms: u128) {
        tracing::info!(
            target: "corsgate::access",
            id = self.request_id.as_str(),
            method = %self.method,
            host = %self.host,
            path = %self.path,
            query = self.query.as_deref().map(redact_query),
            origin = self.origin.as_deref(),
            site = %self.site,
            cors = %self.cors,
            status = self.status,
            upstream_status = self.upstream_status,
            upstream_ms = self.upstream_ms.map(|v| v as u64),
            ms = total_ms as u64,
            bytes,
            complete,
            error = self.error.as_deref(),
            cache = self.cache.map(|c| c.as_str()),
        );
    }
}

/// A response body that counts what it yields and logs the entry when it ends or is
/// dropped early (client gone, upstream died mid-body).
pub struct Logged {
    inner: Body,
    entry: Option<Box<Entry>>,
    started: Instant,
    bytes: u64,
    failed: bool,
}

impl Logged {
    pub fn wrap(inner: Body, entry: Entry, started: Instant) -> Body {
        use http_body_util::BodyExt;
        Logged {
            inner,
            entry: Some(Box::new(entry)),
            started,
            bytes: 0,
            failed: false,
        }
        .boxed_unsync()
    }

    fn finish(&mut self, complete: bool) {
        if let Some(e) = self.entry.take() {
            e.emit(
                self.bytes,
                complete && !self.failed,
                self.started.elapsed().as_millis(),
            );
        }
    }
}

impl HttpBody for Logged {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    this.bytes += d.len() as u64;
                }
            }
            Poll::Ready(Some(Err(e))) => {
                this.failed = true;
                if let Some(entry) = this.entry.as_mut() {
                    entry.error = Some(format!("body aborted: {e}"));
                }
            }
            Poll::Ready(None) => this.finish(true),
            Poll::Pending => {}
        }
        if this.inner.is_end_stream() {
            this.finish(true);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let complete = self.inner.is_end_stream();
        self.finish(complete);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_sixteen_hex_digits() {
        assert_eq!(
            RequestId::new(0x2F85_6534_E120_0001).as_str(),
            "2F856534E1200001"
        );
        assert_eq!(RequestId::new(0).as_str(), "0000000000000000");
        assert_eq!(RequestId::new(u64::MAX).as_str(), "FFFFFFFFFFFFFFFF");
    }

    #[test]
    fn signatures_and_tokens_are_redacted() {
        assert_eq!(
            redact_query("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F&X-Amz-Signature=abc&x-amz-security-token=t&a=1"),
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED&x-amz-security-token=REDACTED&a=1"
        );
        assert_eq!(
            redact_query("AWSAccessKeyId=AKIA&Signature=s&Expires=1"),
            "AWSAccessKeyId=REDACTED&Signature=REDACTED&Expires=1"
        );
        assert_eq!(redact_query("list-type=2&prefix=a"), "list-type=2&prefix=a");
    }
}
