//! The accept loops: one task per connection, HTTP/1.1 and h2c (prior knowledge) on
//! the plain port and HTTP/1.1 or h2 (ALPN) over TLS, all through hyper-util's auto
//! builder, under one connection cap and one graceful stop. It knows only a service
//! (`proxy::handle`, or the https redirect), nothing of CORS or upstreams.
//!
//! - [`limits`]: the connection cap and the socket idle timeout.
//! - [`head`]: the HTTP/1 head deadline, kept by the idle timer.
//! - [`tls`]: certificates by SNI, reloadable; the rustls config.
//! - [`redirect`]: the plain listener's 308 to https.
pub mod head;
pub mod limits;
pub mod redirect;
pub mod tls;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::FutureExt;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::proxy::{self, ConnInfo, Handled, Shared};
use head::{HeadClock, HeadTimer};
use limits::{ConnectionLimit, HeadWatch, IdleIo};
use redirect::Redirect;
use tls::TlsListener;

/// Per-connection protections.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A client must send its whole request head within this (slowloris); also bounds
    /// a TLS handshake, so a silent TLS client cannot hold a connection slot either.
    pub header_read_timeout: Duration,
    /// Request heads above this get 431.
    pub max_header_bytes: usize,
    /// How long in-flight requests may run after a stop was asked for.
    pub drain_deadline: Duration,
    /// A connection that moves no byte either way for this long is closed.
    pub idle_timeout: Duration,
    /// Open connections across every listener; the excess is refused at once.
    pub max_connections: usize,
    pub h2_max_concurrent_streams: u32,
}

/// What a listener's connections are served with.
#[derive(Clone)]
enum Role {
    Proxy(Arc<Shared>),
    /// The plain listener when `[tls] redirect_http` is on.
    Redirect(Arc<Redirect>),
}

/// One listener and how its connections start.
struct Listener {
    tcp: TcpListener,
    /// `Some` for https: a handshake first, then HTTP with `proto` "https".
    tls: Option<TlsAcceptor>,
    role: Role,
}

/// Serves `listener` until `shutdown` resolves, then stops accepting and lets
/// in-flight connections finish up to `limits.drain_deadline`.
pub async fn run(
    listener: TcpListener,
    shared: Arc<Shared>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    run_all(listener, None, shared, limits, shutdown).await;
}

/// As [`run`], plus the https listener when there is one (and with it, perhaps, the
/// plain listener turned into a redirect). Both stop on the same `shutdown`, and share
/// one connection cap.
pub async fn run_all(
    plain: TcpListener,
    tls: Option<TlsListener>,
    shared: Arc<Shared>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let cap = ConnectionLimit::new(limits.max_connections);
    let shutdown = shutdown.shared();
    let Some(tls) = tls else {
        let plain = Listener {
            tcp: plain,
            tls: None,
            role: Role::Proxy(shared),
        };
        return serve(plain, limits, cap, shutdown).await;
    };
    let plain_role = match tls.local_addr() {
        Ok(addr) if tls.redirect_http => Role::Redirect(Arc::new(Redirect::new(
            shared.clone(),
            tls.certificates.clone(),
            addr.port(),
        ))),
        _ => Role::Proxy(shared.clone()),
    };
    let plain = Listener {
        tcp: plain,
        tls: None,
        role: plain_role,
    };
    let https = Listener {
        tcp: tls.listener,
        tls: Some(tls.acceptor),
        role: Role::Proxy(shared),
    };
    tokio::join!(
        serve(plain, limits, cap.clone(), shutdown.clone()),
        serve(https, limits, cap, shutdown),
    );
}

fn builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        // hyper also runs this timer while a kept-alive connection waits for its next
        // request, so an idle HTTP/1.1 connection closes after the smaller of this and
        // `idle_timeout`. Its timer is per connection: see `head_timer`.
        .header_read_timeout(limits.header_read_timeout)
        // hyper answers 431 when the head does not fit this buffer (min 8 KiB).
        .max_buf_size(limits.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.h2_max_concurrent_streams);
    builder
}

/// The connection's own copy of the builder, its HTTP/1 head deadline kept by the
/// connection's [`HeadClock`] (one timer entry per connection, not one per request).
fn head_timer(
    shared: &auto::Builder<TokioExecutor>,
    clock: Arc<HeadClock>,
) -> auto::Builder<TokioExecutor> {
    let mut builder = shared.clone();
    builder.http1().timer(HeadTimer::new(clock));
    builder
}

async fn serve(
    listener: Listener,
    limits: Limits,
    cap: ConnectionLimit,
    shutdown: impl Future<Output = ()>,
) {
    let builder = builder(&limits);
    let graceful = GracefulShutdown::new();
    let proto = if listener.tls.is_some() {
        "https"
    } else {
        "http"
    };
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.tcp.accept() => match accepted {
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
        let Some(permit) = cap.try_admit() else {
            refuse(stream, listener.tls.is_some());
            continue;
        };
        let _ = stream.set_nodelay(true);
        let info = ConnInfo { peer, proto };
        let clock = HeadClock::new();
        let head = HeadWatch {
            clock: clock.clone(),
            timeout: limits.header_read_timeout,
        };
        let io = IdleIo::new(stream, limits.idle_timeout, Some(head));
        // Taken here, before the handshake: a stop that comes mid-handshake still
        // reaches the connection, and the drain waits for it.
        let watcher = graceful.watcher();
        let builder = head_timer(&builder, clock);
        let role = listener.role.clone();
        // The open-connections gauge counts the public listener's connections.
        let open = match &role {
            Role::Proxy(shared) => Some(shared.metrics.connection_opened()),
            Role::Redirect(_) => None,
        };
        let tls = listener.tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _open = open; // the gauge drops by one when this task ends
            let Some(tls) = tls else {
                return serve_connection(&builder, io, info, role, watcher).await;
            };
            match tokio::time::timeout(limits.header_read_timeout, tls.accept(io)).await {
                Ok(Ok(stream)) => serve_connection(&builder, stream, info, role, watcher).await,
                Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
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

/// One connection, HTTP/1.1 or HTTP/2, until it ends or the graceful stop closes it.
async fn serve_connection<I>(
    builder: &auto::Builder<TokioExecutor>,
    io: I,
    info: ConnInfo,
    role: Role,
    watcher: Watcher,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // An answer that needed no I/O is complete when `handle` returns (see there why
    // that matters); only one waiting on the upstream is a future hyper polls.
    let service = service_fn(move |req| match &role {
        Role::Proxy(shared) => Answer(proxy::handle(shared, info, req)),
        Role::Redirect(redirect) => Answer(Handled::Ready(redirect.answer(&req))),
    });
    let conn = builder.serve_connection(TokioIo::new(io), service);
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(peer = %info.peer, "connection ended: {e}");
    }
}

/// The future hyper gets for a request: for an answer that needed no I/O, one that is
/// ready at its first poll and allocates nothing.
struct Answer(Handled);

impl Future for Answer {
    type Output = Result<http::Response<crate::upstream::Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().0 {
            // Taken, leaving an empty response: a future is not polled after Ready.
            Handled::Ready(resp) => Poll::Ready(Ok(std::mem::take(resp))),
            Handled::Pending(answer) => answer.as_mut().poll(cx).map(Ok),
        }
    }
}

/// Turns away a connection over the cap without reading from it. A plain client gets
/// a 503 if the socket takes it at once (it always does on a fresh connection); a TLS
/// client just sees the close, since answering would need the handshake we are
/// refusing to spend on it.
fn refuse(stream: TcpStream, tls: bool) {
    tracing::debug!("connection refused: max_connections reached");
    if !tls {
        let _ = stream.try_write(limits::REFUSED_H1);
    }
    drop(stream);
}
