//! Forwarding to an HTTP(S) upstream through hyper-util's pooled client.
//!
//! Why not reqwest: it parses every URL with WHATWG rules, which rewrite `\` to `/`,
//! collapse `%2e%2e` segments and re-encode some bytes, so the key S3 sees could differ
//! from the key the client sent. hyper-util's client sends the request target exactly
//! as given.
//!
//! A pooled keep-alive connection can be closed by the upstream at any moment, and the
//! FIN may arrive only after we have picked the connection for the next request. If no
//! byte of that request was written yet, hyper-util sends it again on another
//! connection (`retry_canceled_requests`). If it was written, the read then fails with
//! the connection closed and no response, and [`HttpUpstream::send`] replays it, once,
//! on a new connection, provided replaying it is safe: an idempotent method
//! (RFC 9110 §9.2.2) and no body. nginx retries a failed cached connection the same way.
use std::error::Error as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderMap, Method, Request, Response, Uri, Version};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::sync::oneshot;

use super::Body;
use crate::config::PoolConfig;

/// Why a forward failed; decides 502 versus 504.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    #[error("connect failed: {0}")]
    Connect(String),
    #[error("connect timed out after {0:?}")]
    ConnectTimeout(Duration),
    #[error("no response headers within {0:?}")]
    FirstByteTimeout(Duration),
    #[error("upstream failed: {0}")]
    Failed(String),
    #[error("request target cannot be sent upstream")]
    BadTarget,
    /// The client's request cannot be signed as sent (its fault: 400).
    #[error("cannot sign: {0}")]
    Unsignable(&'static str),
    /// A signing site holds no valid credentials right now (503).
    #[error("no valid credentials to sign with")]
    NoCredentials,
}

impl UpstreamError {
    /// 504 for timeouts, 502 for other upstream faults (RFC 9110 §15.6.3, §15.6.5),
    /// 503 while a signing site has no credentials, 400 for what is the client's fault.
    pub fn status(&self) -> http::StatusCode {
        match self {
            UpstreamError::ConnectTimeout(_) | UpstreamError::FirstByteTimeout(_) => {
                http::StatusCode::GATEWAY_TIMEOUT
            }
            UpstreamError::BadTarget | UpstreamError::Unsignable(_) => {
                http::StatusCode::BAD_REQUEST
            }
            UpstreamError::NoCredentials => http::StatusCode::SERVICE_UNAVAILABLE,
            _ => http::StatusCode::BAD_GATEWAY,
        }
    }

    /// What the client is told: the reason when it is the client's to fix, nothing
    /// about our upstream otherwise (the log has it).
    pub fn public_reason(&self) -> &'static str {
        match self {
            UpstreamError::Unsignable(why) => why,
            UpstreamError::BadTarget => "request target cannot be sent upstream",
            UpstreamError::NoCredentials => "upstream credentials unavailable",
            _ => "upstream unavailable",
        }
    }

    /// A short label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            UpstreamError::Connect(_) => "connect",
            UpstreamError::ConnectTimeout(_) => "connect-timeout",
            UpstreamError::FirstByteTimeout(_) => "first-byte-timeout",
            UpstreamError::Failed(_) => "failed",
            UpstreamError::BadTarget => "bad-target",
            UpstreamError::Unsignable(_) => "unsignable",
            UpstreamError::NoCredentials => "no-credentials",
        }
    }
}

/// A request body that says when it has been sent whole (or dropped).
pub struct Sent<B> {
    inner: B,
    done: Option<oneshot::Sender<()>>,
}

impl<B: HttpBody + Unpin> HttpBody for Sent<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            if let Some(tx) = self.done.take() {
                let _ = tx.send(());
            }
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

type Pool = Client<HttpsConnector<HttpConnector>, Sent<Body>>;

/// A pooled client for one site's upstream.
#[derive(Clone)]
pub struct HttpUpstream {
    client: Pool,
    /// Keeps no idle connection, so a replay never lands on another stale one.
    fresh: Pool,
    connect_timeout: Duration,
    first_byte_timeout: Duration,
}

impl HttpUpstream {
    pub fn new(
        pool: PoolConfig,
        connect_timeout: Duration,
        first_byte_timeout: Duration,
    ) -> std::io::Result<Self> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(connect_timeout));
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .try_with_platform_verifier()
            .map_err(std::io::Error::other)?
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(http);
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(pool.idle_timeout)
            .retry_canceled_requests(true)
            .set_host(false);
        let fresh = builder
            .clone()
            .pool_max_idle_per_host(0)
            .build(https.clone());
        let client = builder
            .pool_max_idle_per_host(pool.max_idle_per_host)
            .build(https);
        Ok(HttpUpstream {
            client,
            fresh,
            connect_timeout,
            first_byte_timeout,
        })
    }

    /// Sends the request (URI already absolute, headers already prepared) and returns
    /// the response with its body still streaming. Dropping the returned future or the
    /// body cancels the upstream request and closes its connection.
    ///
    /// The first-byte timeout runs from the moment the request body has been sent whole,
    /// so a slow upload to a healthy upstream is not mistaken for a slow upstream.
    pub async fn send(&self, req: Request<Body>) -> Result<Response<Body>, UpstreamError> {
        let replay = Replay::of(&req);
        let resp = match (self.attempt(&self.client, req).await, replay) {
            (Err(Failed::Client(e)), Some(replay)) if closed_unanswered(&e) => {
                tracing::debug!(error = %e, "upstream closed a connection unanswered; replaying on a new one");
                self.attempt(&self.fresh, replay.into_request()).await
            }
            (other, _) => other,
        };
        match resp {
            Ok(r) => Ok(r.map(|b| b.map_err(Into::into).boxed_unsync())),
            Err(Failed::Timeout) => Err(UpstreamError::FirstByteTimeout(self.first_byte_timeout)),
            Err(Failed::Client(e)) => Err(self.classify(e)),
        }
    }

    async fn attempt(
        &self,
        client: &Pool,
        req: Request<Body>,
    ) -> Result<Response<hyper::body::Incoming>, Failed> {
        let (sent_tx, sent_rx) = oneshot::channel();
        let bodiless = req.body().is_end_stream();
        let req = req.map(|inner| Sent {
            inner,
            done: Some(sent_tx),
        });
        let response = client.request(req);
        tokio::pin!(response);
        let waited = if bodiless {
            tokio::time::timeout(self.first_byte_timeout, &mut response).await
        } else {
            tokio::select! {
                r = &mut response => Ok(r),
                // Sent whole, or dropped because the request failed: either way the
                // response is due now.
                _ = sent_rx => tokio::time::timeout(self.first_byte_timeout, &mut response).await,
            }
        };
        match waited {
            Err(_) => Err(Failed::Timeout),
            Ok(r) => r.map_err(Failed::Client),
        }
    }

    fn classify(&self, e: hyper_util::client::legacy::Error) -> UpstreamError {
        let mut detail = e.to_string();
        let mut timed_out = false;
        for s in causes(&e) {
            detail.push_str(": ");
            detail.push_str(&s.to_string());
            if io_kind(s) == Some(std::io::ErrorKind::TimedOut) {
                timed_out = true;
            }
        }
        if e.is_connect() && timed_out {
            UpstreamError::ConnectTimeout(self.connect_timeout)
        } else if e.is_connect() {
            UpstreamError::Connect(detail)
        } else {
            UpstreamError::Failed(detail)
        }
    }
}

/// How one attempt failed, before it is told apart for the caller.
enum Failed {
    Timeout,
    Client(hyper_util::client::legacy::Error),
}

/// What it takes to send a request again: only kept for requests safe to replay.
struct Replay {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
}

impl Replay {
    fn of(req: &Request<Body>) -> Option<Replay> {
        let idempotent = matches!(
            *req.method(),
            Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
        );
        (idempotent && req.body().is_end_stream()).then(|| Replay {
            method: req.method().clone(),
            uri: req.uri().clone(),
            version: req.version(),
            headers: req.headers().clone(),
        })
    }

    fn into_request(self) -> Request<Body> {
        let mut req = Request::new(super::empty());
        *req.method_mut() = self.method;
        *req.uri_mut() = self.uri;
        *req.version_mut() = self.version;
        *req.headers_mut() = self.headers;
        req
    }
}

/// The connection was closed or reset after the request went out and before any
/// response byte came back: what a keep-alive closed under us looks like. A connect
/// failure is not this (the connection never existed), nor is a response cut short
/// (that failure comes from the body, after `send` returned).
fn closed_unanswered(e: &hyper_util::client::legacy::Error) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
    !e.is_connect()
        && causes(e).any(|s| {
            s.downcast_ref::<hyper::Error>()
                .is_some_and(hyper::Error::is_incomplete_message)
                || matches!(
                    io_kind(s),
                    Some(ConnectionReset | ConnectionAborted | BrokenPipe)
                )
        })
}

/// The errors beneath `e`, nearest first.
fn causes<'a>(
    e: &'a hyper_util::client::legacy::Error,
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(e.source(), |&s| s.source())
}

fn io_kind(e: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    e.downcast_ref::<std::io::Error>().map(std::io::Error::kind)
}
