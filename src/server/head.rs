//! The HTTP/1 request-head deadline (slowloris) without a timer entry per request.
//!
//! hyper enforces `header_read_timeout` with the `hyper::rt::Timer` it is given. With
//! tokio's, every request head allocates a timer, registers it in the timer wheel and
//! removes it again (about 2 % of a cache hit's instructions). [`HeadTimer`] only writes
//! the deadline into the connection's [`HeadClock`]; the socket's idle timer, which
//! runs anyway ([`IdleIo`](super::limits::IdleIo)), wakes the connection at that
//! deadline, and hyper then finds its head sleep expired and closes the connection.
//!
//! The division of work: hyper polls a [`HeadSleep`] only after a head read came back
//! `Pending`, that is after `IdleIo` polled its timer with the same task's waker. So
//! the sleep itself never registers a waker; the idle timer must simply never fire
//! later than a head deadline. It guarantees that by waking at least once per
//! head timeout (a deadline set later is never nearer than that), then at the exact
//! deadline it reads here.
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

/// One connection's pending head deadline, shared by hyper's timer (which sets and
/// clears it) and the connection's socket (whose timer enforces it).
#[derive(Debug)]
pub struct HeadClock {
    base: Instant,
    /// Nanoseconds after `base`, plus one; 0 while no head is being waited for.
    deadline: AtomicU64,
}

impl HeadClock {
    pub fn new() -> Arc<HeadClock> {
        Arc::new(HeadClock {
            base: Instant::now(),
            deadline: AtomicU64::new(0),
        })
    }

    fn encode(&self, at: Instant) -> u64 {
        let nanos = at.saturating_duration_since(self.base).as_nanos();
        u64::try_from(nanos).unwrap_or(u64::MAX - 1) + 1
    }

    /// The deadline of the head being read, if one is.
    pub fn deadline(&self) -> Option<Instant> {
        match self.deadline.load(Ordering::Relaxed) {
            0 => None,
            n => Some(self.base + Duration::from_nanos(n - 1)),
        }
    }

    fn set(&self, at: Instant) {
        self.deadline.store(self.encode(at), Ordering::Relaxed);
    }

    /// Clears the deadline if it is still `at` (a newer sleep may have replaced it).
    fn clear(&self, at: Instant) {
        let _ = self.deadline.compare_exchange(
            self.encode(at),
            0,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
}

/// The `hyper::rt::Timer` of one HTTP/1 connection: hands out [`HeadSleep`]s tied to
/// that connection's [`HeadClock`]. hyper's HTTP/1 server uses its timer for the head
/// deadline only.
#[derive(Debug, Clone)]
pub struct HeadTimer {
    clock: Arc<HeadClock>,
}

impl HeadTimer {
    pub fn new(clock: Arc<HeadClock>) -> HeadTimer {
        HeadTimer { clock }
    }

    fn sleep_at(&self, at: Instant) -> HeadSleep {
        self.clock.set(at);
        HeadSleep {
            at,
            clock: self.clock.clone(),
        }
    }
}

impl hyper::rt::Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(self.sleep_at(Instant::now() + duration))
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(self.sleep_at(Instant::from_std(deadline)))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: std::time::Instant) {
        let at = Instant::from_std(new_deadline);
        match sleep.as_mut().downcast_mut_pin::<HeadSleep>() {
            Some(mut ours) => {
                self.clock.set(at);
                ours.at = at;
            }
            None => *sleep = self.sleep_until(new_deadline),
        }
    }

    /// tokio's clock, so paused-time tests move this deadline too.
    fn now(&self) -> std::time::Instant {
        Instant::now().into_std()
    }
}

/// Ready once its deadline has passed. It registers no waker: see the module docs.
#[derive(Debug)]
pub struct HeadSleep {
    at: Instant,
    clock: Arc<HeadClock>,
}

impl Future for HeadSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.at {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl hyper::rt::Sleep for HeadSleep {}

impl Drop for HeadSleep {
    fn drop(&mut self) {
        self.clock.clear(self.at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::rt::Timer;

    #[tokio::test(start_paused = true)]
    async fn a_sleep_sets_its_deadline_until_dropped_or_reset() {
        let clock = HeadClock::new();
        let timer = HeadTimer::new(clock.clone());
        assert_eq!(clock.deadline(), None);
        let start = Instant::now();
        let mut sleep = timer.sleep(Duration::from_secs(5));
        assert_eq!(clock.deadline(), Some(start + Duration::from_secs(5)));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(sleep.as_mut().poll(&mut cx).is_pending());

        let later = timer.now() + Duration::from_secs(7);
        timer.reset(&mut sleep, later);
        assert_eq!(clock.deadline(), Some(start + Duration::from_secs(7)));
        tokio::time::advance(Duration::from_secs(6)).await;
        assert!(sleep.as_mut().poll(&mut cx).is_pending());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(sleep.as_mut().poll(&mut cx).is_ready());

        drop(sleep);
        assert_eq!(clock.deadline(), None);
    }

    /// hyper's HTTP/1 server on an in-memory socket, with this module's head deadline
    /// (5 s) kept by the socket's idle timer (60 s), as `server/mod.rs` wires them.
    fn serve(io: tokio::io::DuplexStream) -> tokio::task::JoinHandle<()> {
        use super::super::limits::{HeadWatch, IdleIo};
        let clock = HeadClock::new();
        let head = HeadWatch {
            clock: clock.clone(),
            timeout: Duration::from_secs(5),
        };
        let io = IdleIo::new(io, Duration::from_secs(60), Some(head));
        tokio::spawn(async move {
            let service = hyper::service::service_fn(|_req| async {
                Ok::<_, std::convert::Infallible>(http::Response::new(String::from("ok")))
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(HeadTimer::new(clock))
                .header_read_timeout(Duration::from_secs(5))
                .serve_connection(hyper_util::rt::TokioIo::new(io), service)
                .await;
        })
    }

    /// Reads until the server closes; returns what it sent.
    async fn until_closed(client: &mut tokio::io::DuplexStream) -> Vec<u8> {
        use tokio::io::AsyncReadExt;
        let mut got = Vec::new();
        let _ = client.read_to_end(&mut got).await;
        got
    }

    /// The connection ended without a 200, `from..to` seconds in.
    fn assert_cut(got: &[u8], took: Duration, from: u64, to: u64) {
        assert!(!got.starts_with(b"HTTP/1.1 200"), "{got:?}");
        let (from, to) = (Duration::from_secs(from), Duration::from_secs(to));
        assert!(took >= from && took < to, "cut after {took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickled_head_is_cut_at_the_head_deadline_not_the_idle_one() {
        use tokio::io::AsyncWriteExt;
        let (mut client, server) = tokio::io::duplex(4096);
        let conn = serve(server);
        let start = Instant::now();
        // A byte a second for 3 s, then silence: the bytes keep the idle timer away,
        // and only the idle timer's wake-up at the head deadline can end the wait.
        for b in b"GET" {
            tokio::time::sleep(Duration::from_secs(1)).await;
            client.write_all(&[*b]).await.unwrap();
        }
        let got = until_closed(&mut client).await;
        assert_cut(&got, start.elapsed(), 5, 6);
        conn.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn bytes_after_the_deadline_do_not_extend_it() {
        use tokio::io::AsyncWriteExt;
        let (mut client, server) = tokio::io::duplex(4096);
        let conn = serve(server);
        let start = Instant::now();
        let trickle = async {
            for b in b"GET / HTTP/1.1\r\nHost: a.test\r\nX-Slow: aaaaaaaaaaaaaaaa" {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if client.write_all(&[*b]).await.is_err() {
                    break;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), trickle)
            .await
            .expect("the trickle ends once the server closes");
        let got = until_closed(&mut client).await;
        assert_cut(&got, start.elapsed(), 5, 7);
        conn.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_kept_alive_connection_waits_one_head_timeout_for_its_next_request() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut client, server) = tokio::io::duplex(4096);
        let conn = serve(server);
        // Well inside the deadline, twice: each head gets its own 5 s.
        for _ in 0..2 {
            tokio::time::sleep(Duration::from_secs(4)).await;
            client
                .write_all(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
                .await
                .unwrap();
            let mut buf = [0u8; 512];
            let n = client.read(&mut buf).await.unwrap();
            assert!(buf[..n].starts_with(b"HTTP/1.1 200 OK"), "{:?}", &buf[..n]);
            assert!(buf[..n].ends_with(b"ok"), "{:?}", &buf[..n]);
        }
        let idle_from = Instant::now();
        let got = until_closed(&mut client).await;
        assert_cut(&got, idle_from.elapsed(), 5, 6);
        conn.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_a_replaced_sleep_keeps_the_newer_deadline() {
        let clock = HeadClock::new();
        let timer = HeadTimer::new(clock.clone());
        let old = timer.sleep(Duration::from_secs(5));
        let _new = timer.sleep(Duration::from_secs(9));
        drop(old);
        assert_eq!(clock.deadline(), Some(clock.base + Duration::from_secs(9)));
    }
}
