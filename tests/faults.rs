//! Upstream failures, each made real on loopback by a raw-TCP stand-in (or by nobody
//! listening): the status the client gets (502 versus 504, RFC 9110 §15.6.3, §15.6.5),
//! CORS headers on those errors, a truncated upstream body never turning into a clean
//! short one, a vanished client releasing the upstream, and a stale pooled connection (replayed when
//! that is safe).
mod common;

use std::time::Duration;

use bytes::Bytes;
use common::standin::{ok, Reply, StandIn};
use common::wire::{cors, send, RawResponse};
use common::{free_port, Gateway, GatewayProcess};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const APP: &str = "http://app.test:3000";

use common::APP_ONLY as RULES;

/// One default enforce-mode site with rule 1; timeouts short so failures are quick.
fn config(upstream: &str) -> String {
    format!(
        "listen = \"127.0.0.1:0\"\n\
         [upstream]\nconnect_timeout = \"300ms\"\nfirst_byte_timeout = \"300ms\"\n\
         [[site]]\nname = \"s\"\ndefault = true\nupstream = \"{upstream}\"\nmode = \"enforce\"\n{RULES}"
    )
}

async fn gateway(upstream: &str) -> (Gateway, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (Gateway::from_toml(dir.path(), &config(upstream)).await, dir)
}

fn app_granted() -> Vec<(String, String)> {
    cors(&[
        ("access-control-allow-origin", "http://app.test:3000"),
        ("access-control-allow-credentials", "true"),
        ("access-control-allow-methods", "GET, HEAD, PUT, DELETE"),
        ("access-control-expose-headers", "ETag"),
        ("access-control-max-age", "600"),
        ("vary", "Origin"),
    ])
}

fn assert_error_with_cors(r: &RawResponse, status: u16) {
    assert_eq!(r.status, status, "{}", r.head);
    assert_eq!(r.cors(), app_granted(), "{}", r.head);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_refused_is_502_with_cors_headers() {
    let port = free_port(); // bound and released: nobody listens there now
    let (gw, _d) = gateway(&format!("http://127.0.0.1:{port}/bkt")).await;
    let r = send(gw.addr, "GET", "/k", "gw.test", &[("Origin", APP)], b"").await;
    assert_error_with_cors(&r, 502);
    let bare = send(gw.addr, "GET", "/k", "gw.test", &[], b"").await;
    assert_eq!(bare.status, 502, "{}", bare.head);
    assert_eq!(bare.cors(), cors(&[("vary", "Origin")]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_upstream_is_504_after_first_byte_timeout() {
    let up = StandIn::always(Reply::Silent);
    let (gw, _d) = gateway(&up.url("/bkt")).await;
    let r = send(gw.addr, "GET", "/k", "gw.test", &[("Origin", APP)], b"").await;
    assert_error_with_cors(&r, 504);
    assert_eq!(up.request_count(), 1, "the request did reach the upstream");
    // The gateway gave up on that connection rather than leaving it in the pool.
    assert!(
        up.wait_for(Duration::from_secs(10), |u| u.peer_gone() >= 1),
        "gateway kept the timed-out upstream connection open"
    );
}

/// On Linux a listener whose accept queue is full drops further SYNs, so a connect
/// to it hangs: a reliable connect timeout on loopback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_timeout_is_504() {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = sock.listen(0).unwrap(); // never accepted from
    let addr = listener.local_addr().unwrap();
    // Fill the accept queue (backlog 0 still admits one); later connects hang.
    let mut fillers = Vec::new();
    for _ in 0..3 {
        if let Ok(s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            fillers.push(s);
        }
    }
    assert!(
        !fillers.is_empty(),
        "could not connect to the backlog listener"
    );
    let probe = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300));
    assert!(
        probe.is_err(),
        "accept queue not full: cannot make a connect timeout here"
    );
    let (gw, _d) = gateway(&format!("http://{addr}/bkt")).await;
    let r = send(gw.addr, "GET", "/k", "gw.test", &[("Origin", APP)], b"").await;
    assert_error_with_cors(&r, 504);
    drop(listener);
}

/// GET through a hyper HTTP/1 client; returns the status and how collecting the body
/// ended.
async fn hyper_get(addr: std::net::SocketAddr, path: &str) -> (u16, Result<usize, String>) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = http::Request::get(path)
        .header("host", "gw.test")
        .header("origin", APP)
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().len())
        .map_err(|e| e.to_string());
    (status, body)
}

async fn truncated_body_aborts_client(reset: bool) {
    let up = StandIn::always(Reply::Truncated {
        head: b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n".to_vec(),
        send: 100 * 1024,
        reset,
    });
    let (gw, _d) = gateway(&up.url("/bkt")).await;
    let (status, body) = tokio::time::timeout(common::wire::LIMIT, hyper_get(gw.addr, "/big"))
        .await
        .expect("client hung");
    assert_eq!(status, 200);
    assert!(
        body.is_err(),
        "client got a clean {:?}-byte body from a truncated upstream",
        body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_close_mid_body_aborts_client() {
    truncated_body_aborts_client(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_reset_mid_body_aborts_client() {
    truncated_body_aborts_client(true).await;
}

/// The same truncation, read raw: whatever framing the gateway chose, the client must
/// not be handed a complete-looking message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_body_raw_framing_is_never_complete() {
    let up = StandIn::always(Reply::Truncated {
        head: b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n".to_vec(),
        send: 100 * 1024,
        reset: false,
    });
    let (gw, _d) = gateway(&up.url("/bkt")).await;
    let mut s = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"GET /big HTTP/1.1\r\nHost: gw.test\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let r = tokio::time::timeout(
        common::wire::LIMIT,
        common::wire::read_response(&mut s, &mut buf, false),
    )
    .await
    .expect("client hung");
    assert!(
        r.is_err(),
        "a complete message came out of a truncated upstream: {:?}",
        r.map(|r| (r.head, r.body.len()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_gone_mid_download_closes_upstream_connection() {
    let up = StandIn::always(Reply::Trickle {
        head: b"HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\n\r\n".to_vec(),
        chunk: 16 * 1024,
        interval: Duration::from_millis(20),
        max_chunks: 1500,
    });
    let (gw, _d) = gateway(&up.url("/bkt")).await;
    {
        let mut s = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
        s.write_all(b"GET /slow HTTP/1.1\r\nHost: gw.test\r\n\r\n")
            .await
            .unwrap();
        let mut got = 0usize;
        let mut tmp = [0u8; 8192];
        tokio::time::timeout(common::wire::LIMIT, async {
            while got < 40 * 1024 {
                let n = s.read(&mut tmp).await.unwrap();
                assert!(n > 0, "gateway closed first");
                got += n;
            }
        })
        .await
        .expect("no body bytes arrived");
        // `s` dropped here: the client goes away mid-download.
    }
    let seen = tokio::task::spawn_blocking(move || {
        let closed = up.wait_for(Duration::from_secs(10), |u| u.peer_gone() >= 1);
        (closed, up)
    })
    .await
    .unwrap();
    assert!(
        seen.0,
        "upstream connection still open 10 s after the client left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_pooled_connection_is_not_a_spurious_502() {
    // Keep-alive is implied (HTTP/1.1, no Connection: close), but the stand-in closes
    // every connection right after its response, so each pooled connection goes stale.
    let up = StandIn::always(Reply::RawThenClose(ok("fresh", &[])));
    let (gw, _d) = gateway(&up.url("/bkt")).await;
    for i in 0..20 {
        let r = send(gw.addr, "GET", "/k", "gw.test", &[], b"").await;
        assert_eq!(r.status, 200, "request {i}: {}", r.head);
        assert_eq!(r.body, b"fresh");
    }
    assert_eq!(up.request_count(), 20);
}

/// The race above made deterministic: the upstream keeps the first connection open, then
/// closes it on the next request without answering, as a keep-alive closed under us
/// looks once that request is written.
fn closes_the_second_request_unanswered(then: Reply) -> StandIn {
    StandIn::start(move |i, _| match i {
        0 => Reply::Raw(ok("first", &[])),
        1 => Reply::RawThenClose(Vec::new()),
        _ => then.clone(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_closed_unanswered_is_replayed_once_on_a_new_connection() {
    let up = closes_the_second_request_unanswered(Reply::Raw(ok("second", &[])));
    let (gw, _d) = gateway(&up.url("/bkt")).await;
    let r = send(gw.addr, "GET", "/k", "gw.test", &[], b"").await;
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"first"[..]),
        "{}",
        r.head
    );
    let r = send(gw.addr, "GET", "/k", "gw.test", &[("Origin", APP)], b"").await;
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.body, b"second");
    assert_eq!(r.cors(), app_granted(), "{}", r.head);
    let seen = up.requests();
    assert_eq!(seen.len(), 3);
    assert_eq!(
        seen[1].conn, 0,
        "the closed request went on the pooled connection"
    );
    assert_eq!(seen[2].conn, 1, "the replay went on a new connection");
    assert_eq!(
        seen[2].head_text(),
        seen[1].head_text(),
        "the replay is the same request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_that_fails_too_is_a_502_after_two_tries() {
    let up = closes_the_second_request_unanswered(Reply::RawThenClose(Vec::new()));
    let (gw, _d) = gateway(&up.url("/bkt")).await;
    assert_eq!(
        send(gw.addr, "GET", "/k", "gw.test", &[], b"").await.status,
        200
    );
    let r = send(gw.addr, "GET", "/k", "gw.test", &[("Origin", APP)], b"").await;
    assert_error_with_cors(&r, 502);
    assert_eq!(
        up.request_count(),
        3,
        "one try on the pooled connection, one replay"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_with_a_body_is_never_replayed() {
    let up = closes_the_second_request_unanswered(Reply::Raw(ok("second", &[])));
    let (gw, _d) = gateway(&up.url("/bkt")).await;
    assert_eq!(
        send(gw.addr, "GET", "/k", "gw.test", &[], b"").await.status,
        200
    );
    let r = send(gw.addr, "PUT", "/k", "gw.test", &[("Origin", APP)], b"data").await;
    assert_error_with_cors(&r, 502);
    assert_eq!(up.request_count(), 2);
    assert_eq!(up.requests()[1].body, b"data");
}

/// The real binary logs why it answered 502/504 (JSON logs).
#[test]
fn error_reason_is_logged() {
    let silent = StandIn::always(Reply::Silent);
    let dir = tempfile::tempdir().unwrap();
    let refused = free_port();
    let toml = format!(
        "listen = \"127.0.0.1:0\"\n\
         [upstream]\nfirst_byte_timeout = \"300ms\"\n\
         [[site]]\nname = \"refused\"\nhosts = [\"refused.test\"]\nupstream = \"http://127.0.0.1:{refused}/b\"\n{RULES}\n\
         [[site]]\nname = \"silent\"\nhosts = [\"silent.test\"]\nupstream = \"{}\"\n{RULES}",
        silent.url("/b")
    );
    let path = dir.path().join("corsgate.toml");
    std::fs::write(&path, toml).unwrap();
    let gw = GatewayProcess::spawn(&["--config", path.to_str().unwrap()]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let r1 = rt.block_on(send(
        gw.addr,
        "GET",
        "/k",
        "refused.test",
        &[("Origin", APP)],
        b"",
    ));
    assert_error_with_cors(&r1, 502);
    let r2 = rt.block_on(send(
        gw.addr,
        "GET",
        "/k",
        "silent.test",
        &[("Origin", APP)],
        b"",
    ));
    assert_error_with_cors(&r2, 504);

    let wanted = |site: &str, kind: &str| {
        let log = gw.log.lock().unwrap();
        log.iter().any(|l| {
            serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| {
                v["site"] == site
                    && v["kind"] == kind
                    && v["level"] == "WARN"
                    && v["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("upstream:"))
            })
        })
    };
    let start = std::time::Instant::now();
    while !(wanted("refused", "connect") && wanted("silent", "first-byte-timeout")) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "reasons not logged:\n{}",
            gw.log.lock().unwrap().join("\n")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The first-byte timeout is about the upstream being slow to answer, not the client
/// being slow to upload: an upload that takes longer than `first_byte_timeout` (300 ms
/// here) to send, to an upstream that answers as soon as it has the body, must succeed.
/// (A 512 MiB upload through a debug build takes longer than the 30 s default.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_upload_is_not_a_first_byte_timeout() {
    let up = StandIn::always(Reply::Raw(ok("stored", &[])));
    let (gw, _d) = gateway(&up.url("/bkt")).await;
    let mut s = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"PUT /k HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 10\r\n\r\n")
        .await
        .unwrap();
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    for b in b"0123456789" {
        ticker.tick().await;
        if s.write_all(&[*b]).await.is_err() {
            break; // the gateway gave up; its answer tells why
        }
    }
    let mut buf = Vec::new();
    let r = tokio::time::timeout(
        common::wire::LIMIT,
        common::wire::read_response(&mut s, &mut buf, false),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(r.status, 200, "{}\n{}", r.head, r.text());
    assert_eq!(up.requests()[0].body, b"0123456789");
}
