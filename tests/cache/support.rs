//! Support for the response-cache tests: a clock the test moves (RFC 9111 ages use wall
//! time, so the tests advance this instead of sleeping), upstream replies whose `Date`
//! comes from that clock, a gateway + stand-in pair per test, and a keep-alive raw
//! client for the long request runs.
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::common::standin::StandIn;
use crate::common::wire::{self, cors, send, RawResponse};
use crate::common::Gateway;

pub const HOST: &str = "gw.test";
/// The origin rule 1 names.
pub const APP: &str = "http://app.test:3000";
/// Any other origin: only rule 2 (`*`, GET) matches it.
pub const OTHER: &str = "http://other.test";

pub use crate::common::RULES;

pub use crate::common::APP_ONLY;

/// Rule 1 granted to [`APP`] on an actual request, enforce mode.
pub fn app_granted() -> Vec<(String, String)> {
    app_granted_vary("Origin")
}

pub fn app_granted_vary(vary: &str) -> Vec<(String, String)> {
    cors(&[
        ("access-control-allow-origin", "http://app.test:3000"),
        ("access-control-allow-credentials", "true"),
        ("access-control-allow-methods", "GET, HEAD, PUT, DELETE"),
        ("access-control-expose-headers", "ETag"),
        ("access-control-max-age", "600"),
        ("vary", vary),
    ])
}

/// Rule 2 granted to any other origin's GET: `*`, no credentials, nothing exposed.
pub fn star_granted() -> Vec<(String, String)> {
    cors(&[
        ("access-control-allow-origin", "*"),
        ("access-control-allow-methods", "GET"),
        ("vary", "Origin"),
    ])
}

/// A request without Origin in enforce mode: no CORS headers, only `Vary: Origin`.
pub fn no_origin() -> Vec<(String, String)> {
    cors(&[("vary", "Origin")])
}

/// A clock that stands still until the test moves it.
pub struct ManualClock {
    now: Mutex<SystemTime>,
}

impl ManualClock {
    /// Starts on a whole second (HTTP dates have no fractions), far from the real time
    /// so that nothing can pass by accident on the system clock.
    pub fn new() -> Arc<ManualClock> {
        Arc::new(ManualClock {
            now: Mutex::new(UNIX_EPOCH + Duration::from_secs(1_900_000_000)),
        })
    }

    pub fn advance(&self, by: Duration) {
        *self.now.lock().unwrap() += by;
    }

    pub fn secs(&self, s: u64) {
        self.advance(Duration::from_secs(s));
    }

    /// `Date` for an upstream reply, from this clock.
    pub fn http_date(&self) -> String {
        httpdate::fmt_http_date(corsgate::cache::Clock::now(self))
    }

    /// The clock's time `offset` seconds from now, as an HTTP date.
    pub fn http_date_in(&self, offset: u64) -> String {
        httpdate::fmt_http_date(corsgate::cache::Clock::now(self) + Duration::from_secs(offset))
    }
}

impl corsgate::cache::Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.now.lock().unwrap()
    }
}

/// `HTTP/1.1 {status}` with `Date` from `clock`, the extra lines and a body with its
/// Content-Length (none for 304).
pub fn reply(clock: &ManualClock, status: &str, extra: &[&str], body: &[u8]) -> Vec<u8> {
    let mut s = format!("HTTP/1.1 {status}\r\nDate: {}\r\n", clock.http_date());
    for h in extra {
        s.push_str(h);
        s.push_str("\r\n");
    }
    if !status.starts_with("304") {
        s.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    s.push_str("\r\n");
    let mut out = s.into_bytes();
    out.extend_from_slice(body);
    out
}

/// A 200 with `Date` from `clock`.
pub fn ok_at(clock: &ManualClock, body: &str, extra: &[&str]) -> Vec<u8> {
    reply(clock, "200 OK", extra, body.as_bytes())
}

/// A chunked 200 (no Content-Length) of `total` bytes of `b'c'` in `chunk`-byte chunks.
pub fn chunked(extra: &[&str], total: usize, chunk: usize) -> Vec<u8> {
    let mut s = String::from("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n");
    for h in extra {
        s.push_str(h);
        s.push_str("\r\n");
    }
    s.push_str("\r\n");
    let mut left = total;
    while left > 0 {
        let n = left.min(chunk);
        s.push_str(&format!("{n:x}\r\n{}\r\n", "c".repeat(n)));
        left -= n;
    }
    s.push_str("0\r\n\r\n");
    s.into_bytes()
}

/// The config: `top` goes before the site (e.g. a `[cache]` table), `site_cache` inside
/// the site's `[site.cache]` table (written even when empty: caching on).
pub fn toml(upstream: &str, top: &str, rules: &str, site_cache: &str) -> String {
    format!(
        "listen = \"127.0.0.1:0\"\n\
         [upstream]\nfirst_byte_timeout = \"10s\"\n\
         {top}\n\
         [[site]]\nname = \"s\"\ndefault = true\nupstream = \"{upstream}\"\nmode = \"enforce\"\n\
         {rules}\n\
         [site.cache]\n{site_cache}\n"
    )
}

/// A stand-in upstream behind a gateway whose cache runs on `clock`.
pub struct Rig {
    pub up: StandIn,
    pub gw: Gateway,
    _dir: tempfile::TempDir,
}

impl Rig {
    /// Rules 1 and 2, `[site.cache]` with `site_cache`, `[cache]` defaults.
    pub async fn start(up: StandIn, clock: Arc<ManualClock>, site_cache: &str) -> Rig {
        Rig::with(up, clock, "", RULES, site_cache).await
    }

    pub async fn with(
        up: StandIn,
        clock: Arc<ManualClock>,
        top: &str,
        rules: &str,
        site_cache: &str,
    ) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let text = toml(&up.url("/bkt"), top, rules, site_cache);
        let cfg = corsgate::config::parse(&dir.path().join("corsgate.toml"), &text)
            .unwrap_or_else(|e| panic!("config: {e}\n{text}"));
        let gw = Gateway::start_with_clock(cfg, clock).await;
        assert!(gw.cache.is_some(), "a [site.cache] config built no cache");
        Rig { up, gw, _dir: dir }
    }

    pub fn cache(&self) -> &corsgate::cache::ResponseCache {
        self.gw.cache.as_ref().unwrap()
    }

    pub async fn get(&self, target: &str, headers: &[(&str, &str)]) -> RawResponse {
        send(self.gw.addr, "GET", target, HOST, headers, b"").await
    }

    pub async fn req(&self, method: &str, target: &str, headers: &[(&str, &str)]) -> RawResponse {
        send(self.gw.addr, method, target, HOST, headers, b"").await
    }

    /// Requests the upstream has received so far.
    pub fn upstream(&self) -> usize {
        self.up.request_count()
    }

    /// Request lines the upstream received, in order.
    pub fn lines(&self) -> Vec<String> {
        self.up
            .requests()
            .iter()
            .map(|r| r.request_line())
            .collect()
    }
}

/// The cache status header (`X-Cache`) of `r`; panics when it is missing.
pub fn xc(r: &RawResponse) -> &str {
    r.header("x-cache")
        .unwrap_or_else(|| panic!("no X-Cache:\n{}", r.head))
}

/// Asserts status, body, cache status and the whole CORS surface of one response.
#[track_caller]
pub fn expect(r: &RawResponse, status: u16, body: &str, cache: &str, cors: Vec<(String, String)>) {
    assert_eq!(r.status, status, "{}", r.head);
    assert_eq!(r.text(), body, "{}", r.head);
    assert_eq!(xc(r), cache, "{}", r.head);
    assert_eq!(r.cors(), cors, "{}", r.head);
}

/// Polls `cond` every 10 ms without blocking the runtime; false after `limit`.
pub async fn until(limit: Duration, cond: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}

/// One HTTP/1.1 connection kept alive across requests.
pub struct KeepAlive {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl KeepAlive {
    pub async fn connect(addr: SocketAddr) -> KeepAlive {
        KeepAlive {
            stream: TcpStream::connect(addr).await.expect("connect gateway"),
            buf: Vec::new(),
        }
    }

    pub async fn get(&mut self, target: &str, headers: &[(&str, &str)]) -> RawResponse {
        let mut s = format!("GET {target} HTTP/1.1\r\nHost: {HOST}\r\n");
        for (n, v) in headers {
            s.push_str(&format!("{n}: {v}\r\n"));
        }
        s.push_str("\r\n");
        tokio::time::timeout(wire::LIMIT, async {
            self.stream.write_all(s.as_bytes()).await.expect("write");
            wire::read_response(&mut self.stream, &mut self.buf, false)
                .await
                .expect("read response")
        })
        .await
        .expect("keep-alive exchange timed out")
    }
}
