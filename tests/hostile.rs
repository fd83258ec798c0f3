//! Hostile and malformed input over raw TCP: every case gets a definite refusal (or a
//! correct answer), nothing reaches the upstream that should not, nothing is reflected,
//! and the gateway keeps serving afterwards.
mod common;

use std::net::SocketAddr;

use bytes::Bytes;
use common::standin::{ok, Reply, StandIn};
use common::wire::{read_response, send, RawResponse, LIMIT};
use common::{Gateway, GatewayProcess};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::AsyncWriteExt;

use common::RULES;

/// Two named sites and no default: `good.test` (enforce) and `s3.test` (s3 mode).
fn toml(upstream: &str) -> String {
    format!(
        "listen = \"127.0.0.1:0\"\n\
         [[site]]\nname = \"good\"\nhosts = [\"good.test\"]\nupstream = \"{upstream}\"\nmode = \"enforce\"\n{RULES}\n\
         [[site]]\nname = \"s3\"\nhosts = [\"s3.test\"]\nupstream = \"{upstream}\"\nmode = \"s3\"\n{RULES}"
    )
}

async fn setup() -> (StandIn, Gateway, tempfile::TempDir) {
    let up = StandIn::always(Reply::Raw(ok("fine", &[])));
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::from_toml(dir.path(), &toml(&up.url("/bkt"))).await;
    (up, gw, dir)
}

/// Writes raw bytes (a write error is fine: the server may hang up early) and reads
/// one response.
async fn raw(addr: SocketAddr, bytes: &[u8]) -> Result<RawResponse, String> {
    tokio::time::timeout(LIMIT, async {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let _ = s.write_all(bytes).await;
        let mut buf = Vec::new();
        read_response(&mut s, &mut buf, false).await
    })
    .await
    .expect("gateway hung")
}

async fn status(addr: SocketAddr, bytes: &[u8]) -> u16 {
    let r = raw(addr, bytes).await.expect("a response");
    r.status
}

async fn still_serving(addr: SocketAddr) {
    let r = send(addr, "GET", "/ok", "good.test", &[], b"").await;
    assert_eq!(r.status, 200, "gateway stopped serving: {}", r.head);
    assert_eq!(r.body, b"fine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_host_is_400() {
    let (up, gw, _d) = setup().await;
    assert_eq!(
        status(gw.addr, b"GET /k HTTP/1.1\r\nConnection: close\r\n\r\n").await,
        400
    );
    assert_eq!(up.request_count(), 0);
    still_serving(gw.addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_header_is_431() {
    let (up, gw, _d) = setup().await;
    let mut req = b"GET /k HTTP/1.1\r\nHost: good.test\r\nX-Big: ".to_vec();
    req.extend(std::iter::repeat_n(b'a', 100 * 1024));
    req.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    assert_eq!(status(gw.addr, &req).await, 431);
    assert_eq!(up.request_count(), 0);
    still_serving(gw.addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_cr_inside_a_header_value_is_400_and_not_reflected() {
    let (up, gw, _d) = setup().await;
    for req in [
        &b"GET /k HTTP/1.1\r\nHost: good.test\r\nX-Test: a\rInjected: yes\r\nConnection: close\r\n\r\n"[..],
        &b"GET /k HTTP/1.1\r\nHost: good.test\r\nOrigin: http://app.test:3000\rSet-Cookie: x=1\r\nConnection: close\r\n\r\n"[..],
        &b"GET /k HTTP/1.1\r\nHost: good.test\rX-Evil: 1\r\nConnection: close\r\n\r\n"[..],
    ] {
        let r = raw(gw.addr, req).await.expect("a response");
        assert_eq!(r.status, 400, "{}", r.head);
        let all = format!("{}{}", r.head, r.text());
        for leak in ["Injected", "Set-Cookie", "set-cookie", "X-Evil", "x-evil"] {
            assert!(!all.contains(leak), "{leak} reflected:\n{all}");
        }
    }
    assert_eq!(up.request_count(), 0);
    still_serving(gw.addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_hosts_are_421_and_never_forwarded() {
    let (up, gw, _d) = setup().await;
    let cases: [&[u8]; 4] = [
        b"GET http://evil.test/x HTTP/1.1\r\nHost: good.test\r\nConnection: close\r\n\r\n",
        b"GET http://evil.test:80/x HTTP/1.1\r\nHost: evil.test\r\nConnection: close\r\n\r\n",
        b"GET /x HTTP/1.1\r\nHost: unknown.test\r\nConnection: close\r\n\r\n",
        b"GET /x HTTP/1.1\r\nHost: good.test.evil.test\r\nConnection: close\r\n\r\n",
    ];
    for req in cases {
        let r = raw(gw.addr, req).await.expect("a response");
        assert_eq!(
            r.status,
            421,
            "{}\n{}",
            String::from_utf8_lossy(req),
            r.head
        );
    }
    assert_eq!(up.connections(), 0, "an unknown host reached the upstream");
    // Absolute form naming the good host is routed by its authority and served.
    let r = raw(
        gw.addr,
        b"GET http://good.test/x HTTP/1.1\r\nHost: ignored.test\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(up.requests()[0].request_line(), "GET /bkt/x HTTP/1.1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_segments_are_400_and_never_forwarded() {
    let (up, gw, _d) = setup().await;
    for path in [
        "/..",
        "/../other-bucket/k",
        "/a/../b",
        "/%2e%2e/x",
        "/%2E%2e/x",
        "/%2e%2E/x",
        "/a/./b",
        "/a/%2e/b",
        "/a%2f..%2fb",
        "/a%2F%2E%2E%2Fb",
        "/a\\..\\b",
        "/.",
    ] {
        for host in ["good.test", "s3.test"] {
            let r = send(gw.addr, "GET", path, host, &[], b"").await;
            assert_eq!(r.status, 400, "{host}{path}: {}", r.head);
        }
    }
    assert_eq!(
        up.connections(),
        0,
        "a dot-segment path reached the upstream"
    );
    still_serving(gw.addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_origin_is_400() {
    let (up, gw, _d) = setup().await;
    for (method, extra) in [
        ("GET", ""),
        ("OPTIONS", "Access-Control-Request-Method: GET\r\n"),
    ] {
        for host in ["good.test", "s3.test"] {
            let req = format!(
                "{method} /k HTTP/1.1\r\nHost: {host}\r\nOrigin: http://app.test:3000\r\n\
                 Origin: http://evil.test\r\n{extra}Connection: close\r\n\r\n"
            );
            let r = raw(gw.addr, req.as_bytes()).await.unwrap();
            assert_eq!(r.status, 400, "{method} {host}: {}", r.head);
            assert!(
                r.all("access-control-allow-origin").is_empty(),
                "{}",
                r.head
            );
        }
    }
    assert_eq!(up.request_count(), 0);
    still_serving(gw.addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn obs_text_origin_gets_a_definite_answer() {
    let (_up, gw, _d) = setup().await;
    for host in ["good.test", "s3.test"] {
        for req in [
            format!("GET /k HTTP/1.1\r\nHost: {host}\r\nOrigin: http://\u{0}\r\n"),
            format!("OPTIONS /k HTTP/1.1\r\nHost: {host}\r\nAccess-Control-Request-Method: GET\r\nOrigin: http://\u{0}\r\n"),
        ] {
            // Splice raw 0x80-0xFF bytes in place of the NUL marker.
            let mut bytes = req.into_bytes();
            let at = bytes.iter().position(|b| *b == 0).unwrap();
            bytes.splice(at..=at, [0xff, 0x80, b'.', 0xe9, b't']);
            bytes.extend_from_slice(b"Connection: close\r\n\r\n");
            let r = raw(gw.addr, &bytes).await.expect("a response");
            match r.status {
                // Rule 2 (`*`, GET) matches any Origin value: the answer is `*`.
                200 => assert_eq!(r.header("access-control-allow-origin"), Some("*"), "{}", r.head),
                400..=499 => {}
                s => panic!("{host}: status {s} for an obs-text Origin:\n{}", r.head),
            }
        }
    }
    still_serving(gw.addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_requested_headers_are_refused() {
    let (up, gw, _d) = setup().await;
    let names: Vec<String> = (0..10_000).map(|i| format!("h{i:x}")).collect();
    let acrh = names.join(",");
    assert!(
        acrh.len() < 60 * 1024,
        "must fit the head limit to reach the engine"
    );
    for (host, want) in [("good.test", 400), ("s3.test", 403)] {
        let r = send(
            gw.addr,
            "OPTIONS",
            "/k",
            host,
            &[
                ("Origin", "http://app.test:3000"),
                ("Access-Control-Request-Method", "PUT"),
                ("Access-Control-Request-Headers", &acrh),
            ],
            b"",
        )
        .await;
        assert_eq!(r.status, want, "{host}: {}", r.head);
        assert!(
            r.all("access-control-allow-origin").is_empty(),
            "{}",
            r.head
        );
        assert!(
            !r.text().contains("h270f"),
            "request data echoed back: {}",
            r.text()
        );
    }
    assert_eq!(up.request_count(), 0);
    still_serving(gw.addr).await;
}

async fn h2c(addr: SocketAddr) -> hyper::client::conn::http2::SendRequest<Empty<Bytes>> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("h2c prior-knowledge handshake");
    tokio::spawn(conn);
    send
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_prior_knowledge_works() {
    let (up, gw, _d) = setup().await;
    let mut send = h2c(gw.addr).await;
    let req = http::Request::get("http://good.test/h2/key?x=1")
        .header("origin", "http://app.test:3000")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = tokio::time::timeout(LIMIT, send.send_request(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    assert_eq!(h["access-control-allow-origin"], "http://app.test:3000");
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert_eq!(h["vary"], "Origin");
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"fine");
    let got = &up.requests()[0];
    assert_eq!(got.request_line(), "GET /bkt/h2/key?x=1 HTTP/1.1");
    assert_eq!(got.header("host").unwrap(), up.addr.to_string());
    assert_eq!(got.header("x-forwarded-host").as_deref(), Some("good.test"));

    // A preflight over h2 is answered locally, and :authority routes.
    let pre = http::Request::builder()
        .method("OPTIONS")
        .uri("http://good.test/k")
        .header("origin", "http://app.test:3000")
        .header("access-control-request-method", "PUT")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = send.send_request(pre).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["access-control-allow-methods"],
        "GET, HEAD, PUT, DELETE"
    );
    let unknown = http::Request::get("http://unknown.test/k")
        .body(Empty::<Bytes>::new())
        .unwrap();
    assert_eq!(send.send_request(unknown).await.unwrap().status(), 421);
    assert_eq!(up.request_count(), 1);
}

/// Every hostile case against the real binary, then proof it is still up and serving.
#[test]
fn real_binary_survives_the_gauntlet() {
    let up = StandIn::always(Reply::Raw(ok("fine", &[])));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corsgate.toml");
    std::fs::write(&path, toml(&up.url("/bkt"))).unwrap();
    let mut gw =
        GatewayProcess::spawn(&["--config", path.to_str().unwrap(), "--access-log", "off"]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let addr = gw.addr;
    let obs_forwarded = rt.block_on(async move {
        let acrh = (0..10_000).map(|i| format!("h{i:x}")).collect::<Vec<_>>().join(",");
        let mut big = b"GET /k HTTP/1.1\r\nHost: good.test\r\nX-Big: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', 100 * 1024));
        big.extend_from_slice(b"\r\n\r\n");
        let cases: Vec<(Vec<u8>, u16)> = vec![
            (b"GET /k HTTP/1.1\r\nConnection: close\r\n\r\n".to_vec(), 400),
            (big, 431),
            (b"GET /k HTTP/1.1\r\nHost: good.test\r\nX-T: a\rB: c\r\n\r\n".to_vec(), 400),
            (b"GET http://evil.test/x HTTP/1.1\r\nHost: good.test\r\nConnection: close\r\n\r\n".to_vec(), 421),
            (b"GET /x HTTP/1.1\r\nHost: unknown.test\r\nConnection: close\r\n\r\n".to_vec(), 421),
            (b"GET /%2E%2e/x HTTP/1.1\r\nHost: good.test\r\nConnection: close\r\n\r\n".to_vec(), 400),
            (b"GET /a/./b HTTP/1.1\r\nHost: good.test\r\nConnection: close\r\n\r\n".to_vec(), 400),
            (b"GET /k HTTP/1.1\r\nHost: good.test\r\nOrigin: a\r\nOrigin: b\r\nConnection: close\r\n\r\n".to_vec(), 400),
            (
                format!("OPTIONS /k HTTP/1.1\r\nHost: good.test\r\nOrigin: http://app.test:3000\r\nAccess-Control-Request-Method: PUT\r\nAccess-Control-Request-Headers: {acrh}\r\nConnection: close\r\n\r\n").into_bytes(),
                400,
            ),
            (
                format!("OPTIONS /k HTTP/1.1\r\nHost: s3.test\r\nOrigin: http://app.test:3000\r\nAccess-Control-Request-Method: PUT\r\nAccess-Control-Request-Headers: {acrh}\r\nConnection: close\r\n\r\n").into_bytes(),
                403,
            ),
        ];
        for (req, want) in &cases {
            let r = raw(addr, req).await.expect("a response");
            assert_eq!(r.status, *want, "{}", r.head);
        }
        let obs = b"GET /k HTTP/1.1\r\nHost: good.test\r\nOrigin: http://\xff\x80.t\r\nConnection: close\r\n\r\n".to_vec();
        let r = raw(addr, &obs).await.expect("a response");
        assert!(r.status == 200 || (400..500).contains(&r.status), "{}", r.head);
        let obs_forwarded = usize::from(r.status == 200);
        // Garbage that is not HTTP at all.
        let _ = raw(addr, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n").await;
        let mut h2 = h2c(addr).await;
        let resp = h2
            .send_request(
                http::Request::get("http://good.test/k")
                    .body(Empty::<Bytes>::new())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        still_serving(addr).await;
        obs_forwarded
    });
    assert!(
        gw.child.try_wait().unwrap().is_none(),
        "corsgate exited during the gauntlet"
    );
    assert_eq!(
        up.requests().len(),
        2 + obs_forwarded,
        "only the good requests (and an obs-text GET that rule 2 allows) went upstream"
    );
}
