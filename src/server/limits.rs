//! Connection-level protections that hyper does not give directly: a cap on open
//! connections that refuses the excess at once, and an idle timeout on the socket,
//! whose timer also enforces the HTTP/1 head deadline (`server/head.rs`). The head
//! size (hyper's `max_buf_size`) and the h2 stream cap are builder settings in
//! `server/mod.rs`; the request body gap is a body wrapper in the proxy
//! (`proxy/body_timeout.rs`), because only a request knows when it is waiting for its
//! body.
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use super::head::HeadClock;

/// What an HTTP/1 client over the limit reads before the close: a definite answer it
/// can log, rather than a reset it would retry at once.
pub const REFUSED_H1: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
Connection: close\r\nContent-Length: 20\r\nContent-Type: text/plain\r\nRetry-After: 1\r\n\r\n\
too many connections";

/// The process-wide cap on open client connections, shared by every listener.
/// A connection holds its permit from accept (before any TLS handshake, which costs
/// more than the request) to close. Over the cap a connection is refused at once: a
/// queue would only hold sockets and memory for clients that time out anyway.
#[derive(Debug, Clone)]
pub struct ConnectionLimit {
    permits: Arc<Semaphore>,
}

impl ConnectionLimit {
    pub fn new(max: usize) -> ConnectionLimit {
        ConnectionLimit {
            permits: Arc::new(Semaphore::new(max.clamp(1, Semaphore::MAX_PERMITS))),
        }
    }

    /// A permit for one more connection, or `None` when the cap is reached.
    pub fn try_admit(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }
}

/// A socket that fails with `TimedOut` once no byte has moved either way for `idle`.
///
/// hyper 1 has no idle timeout of its own for HTTP/1.1 or HTTP/2 connections, so the
/// socket keeps one. "Activity" is any byte read or written, so a long download keeps
/// its connection, and a client that stops reading the response (writes stay pending)
/// is dropped too. A request waiting on its upstream moves no byte either, and hyper
/// keeps polling the socket meanwhile (to notice a client hanging up), so
/// `idle_timeout` must exceed the upstream first-byte timeout (defaults 60 s and 30 s).
///
/// The deadline moves lazily: a read only stamps `last_activity`, and the timer is
/// re-armed when it fires early. That keeps the timer wheel out of the data path.
///
/// With a [`HeadWatch`], the same timer wakes the connection when a request head is
/// overdue, and hyper's head sleep (which has no timer of its own) then fires.
#[derive(Debug)]
pub struct IdleIo<T> {
    io: T,
    idle: Duration,
    /// When a byte last moved either way.
    last_activity: Instant,
    timer: Pin<Box<Sleep>>,
    head: Option<HeadWatch>,
}

/// The HTTP/1 head deadline an [`IdleIo`] enforces (see `server/head.rs`).
#[derive(Debug)]
pub struct HeadWatch {
    pub clock: Arc<HeadClock>,
    /// hyper's `header_read_timeout`: no deadline is ever set nearer than this.
    pub timeout: Duration,
}

impl<T> IdleIo<T> {
    pub fn new(io: T, idle: Duration, head: Option<HeadWatch>) -> IdleIo<T> {
        let now = Instant::now();
        let first = next_wake(head.as_ref(), now + idle, now);
        IdleIo {
            io,
            idle,
            last_activity: now,
            timer: Box::pin(tokio::time::sleep_until(first)),
            head,
        }
    }

    fn touch(&mut self) {
        self.last_activity = Instant::now();
    }

    /// Bytes written count as activity; a write that must wait arms the idle timer.
    fn after_write(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match polled {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.touch();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.poll_idle(cx).map(Err),
        }
    }

    /// Ready with an error once the connection has really been idle for `idle`. An
    /// overdue head is hyper's to notice: the wake-up makes it poll its head sleep.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        loop {
            ready!(self.timer.as_mut().poll(cx));
            let now = Instant::now();
            let idle_at = self.last_activity + self.idle;
            if idle_at <= now {
                return Poll::Ready(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("connection idle for {:?}", self.idle),
                ));
            }
            let next = next_wake(self.head.as_ref(), idle_at, now);
            self.timer.as_mut().reset(next);
        }
    }
}

/// When an [`IdleIo`] timer should fire next: at the idle deadline, or sooner for a
/// head.
fn next_wake(head: Option<&HeadWatch>, idle_at: Instant, now: Instant) -> Instant {
    let Some(head) = head else {
        return idle_at;
    };
    // A head deadline is set at least `timeout` after the moment it is set, so a timer
    // never further than `timeout` ahead fires before any deadline set later, and can
    // then aim at it exactly, without hyper ever re-arming this timer.
    let mut at = idle_at.min(now + head.timeout);
    if let Some(due) = head.clock.deadline().filter(|&due| due > now) {
        at = at.min(due);
    }
    at
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.touch();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.poll_idle(cx).map(Err),
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write(cx, buf);
        this.after_write(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.after_write(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_flush(cx) {
            Poll::Pending => this.poll_idle(cx).map(Err),
            done => done,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_shutdown(cx) {
            Poll::Pending => this.poll_idle(cx).map(Err),
            done => done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn idle_socket_times_out_and_activity_defers_it() {
        let (a, mut b) = tokio::io::duplex(64);
        let mut io = IdleIo::new(a, Duration::from_secs(10), None);
        let started = Instant::now();
        tokio::time::sleep(Duration::from_secs(6)).await;
        b.write_all(b"x").await.unwrap();
        let mut buf = [0u8; 1];
        io.read_exact(&mut buf).await.unwrap();
        // 6 s in plus a fresh 10 s of quiet: the read fails at 16 s, not 10 s.
        let err = io.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        let waited = started.elapsed();
        assert!(waited >= Duration::from_secs(16) && waited < Duration::from_secs(17));
    }

    #[test]
    fn the_cap_refuses_then_readmits() {
        let limit = ConnectionLimit::new(2);
        let a = limit.try_admit().expect("first");
        let _b = limit.try_admit().expect("second");
        assert!(limit.try_admit().is_none());
        drop(a);
        assert!(limit.try_admit().is_some());
    }
}
