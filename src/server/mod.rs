//! The accept loop: one task per connection, HTTP/1.1 and h2c (prior knowledge) on the
//! same port through hyper-util's auto builder, and a graceful stop. It knows only a
//! service (`proxy::handle`), nothing of CORS or upstreams.
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::proxy::{self, ConnInfo, Shared};

/// Per-connection protections.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A client must send its whole request head within this (slowloris).
    pub header_read_timeout: Duration,
    /// Request heads above this get 431.
    pub max_header_bytes: usize,
    /// How long in-flight requests may run after a stop was asked for.
    pub drain_deadline: Duration,
}

/// Serves `listener` until `shutdown` resolves, then stops accepting and lets
/// in-flight connections finish up to `limits.drain_deadline`.
pub async fn run(
    listener: TcpListener,
    shared: Arc<Shared>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        // hyper answers 431 when the head does not fit this buffer (min 8 KiB).
        .max_buf_size(limits.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off rather than spin.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let info = ConnInfo {
            peer,
            proto: "http",
        };
        let open = shared.metrics.connection_opened();
        let shared = shared.clone();
        let service = service_fn(move |req| {
            let shared = shared.clone();
            async move { Ok::<_, Infallible>(proxy::handle(shared, info, req).await) }
        });
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _open = open; // the gauge drops by one when this task ends
            if let Err(e) = conn.await {
                tracing::debug!(%peer, "connection ended: {e}");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.drain_deadline) => {
            tracing::warn!("drain deadline passed with requests still in flight");
        }
    }
}
