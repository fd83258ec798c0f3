//! What the upstream actually receives, recorded byte for byte by a raw-TCP stand-in:
//! the request line (base path + the client's target, unchanged), Host, hop-by-hop
//! removal (RFC 9110 §7.6.1) both ways, X-Forwarded-*, and no CORS request fields.
mod common;

use std::net::SocketAddr;

use common::standin::{ok, Reply, StandIn};
use common::wire::{exchange, read_response, send};
use common::Gateway;
use tokio::io::AsyncWriteExt;

/// A site in s3 mode without CORS rules: nothing is refused, everything is forwarded.
async fn gateway_to(upstream: &str) -> (Gateway, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "listen = \"127.0.0.1:0\"\n[[site]]\nname = \"s\"\ndefault = true\n\
         upstream = \"{upstream}\"\nmode = \"s3\"\n"
    );
    (Gateway::from_toml(dir.path(), &toml).await, dir)
}

async fn forwarded_line(gw: SocketAddr, up: &StandIn, target: &str) -> String {
    let before = up.request_count();
    let r = send(gw, "GET", target, "gw.test", &[], b"").await;
    assert_eq!(r.status, 200, "{target}: {}", r.head);
    let reqs = up.requests();
    assert_eq!(
        reqs.len(),
        before + 1,
        "{target}: not forwarded exactly once"
    );
    reqs[before].request_line()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_line_is_base_path_plus_client_target_byte_for_byte() {
    let up = StandIn::always(Reply::Raw(ok("ok", &[])));
    let (gw, _d) = gateway_to(&up.url("/bucket")).await;
    let cases = [
        (
            "/a%20b/c+d.txt?x=1&y=%2F",
            "GET /bucket/a%20b/c+d.txt?x=1&y=%2F HTTP/1.1",
        ),
        ("/dir%2Fkey", "GET /bucket/dir%2Fkey HTTP/1.1"),
        ("/dir%2fkey", "GET /bucket/dir%2fkey HTTP/1.1"),
        ("/a:b$c=d&e.txt", "GET /bucket/a:b$c=d&e.txt HTTP/1.1"),
        ("/a'b(c)*!~,;@.txt", "GET /bucket/a'b(c)*!~,;@.txt HTTP/1.1"),
        (
            "/%E2%9C%93/%C3%A9t%C3%A9.txt",
            "GET /bucket/%E2%9C%93/%C3%A9t%C3%A9.txt HTTP/1.1",
        ),
        (
            "//double//slash///run",
            "GET /bucket//double//slash///run HTTP/1.1",
        ),
        (
            "/?list-type=2&prefix=a%2Fb&delimiter=%2F",
            "GET /bucket/?list-type=2&prefix=a%2Fb&delimiter=%2F HTTP/1.1",
        ),
        ("/", "GET /bucket/ HTTP/1.1"),
        ("/a..b/...", "GET /bucket/a..b/... HTTP/1.1"),
        ("/.hidden", "GET /bucket/.hidden HTTP/1.1"),
        ("/k?x=%20+%2B", "GET /bucket/k?x=%20+%2B HTTP/1.1"),
    ];
    for (target, want) in cases {
        assert_eq!(forwarded_line(gw.addr, &up, target).await, want, "{target}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_and_trailing_slash_base_paths() {
    let up = StandIn::always(Reply::Raw(ok("ok", &[])));
    let (bare, _d1) = gateway_to(&up.url("")).await;
    assert_eq!(
        forwarded_line(bare.addr, &up, "/a%20b?c=d").await,
        "GET /a%20b?c=d HTTP/1.1"
    );
    let (slash, _d2) = gateway_to(&up.url("/bkt/")).await;
    assert_eq!(
        forwarded_line(slash.addr, &up, "/k").await,
        "GET /bkt/k HTTP/1.1"
    );
}

/// A raw `\` is not a legal request-target byte (RFC 3986) but hyper accepts it, and
/// S3 keys may contain it: the upstream gets the same bytes, not a `/` or `%5C`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_backslash_is_forwarded_verbatim() {
    let up = StandIn::always(Reply::Raw(ok("ok", &[])));
    let (gw, _d) = gateway_to(&up.url("/bucket")).await;
    assert_eq!(
        forwarded_line(gw.addr, &up, "/a\\b.txt").await,
        "GET /bucket/a\\b.txt HTTP/1.1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_headers_host_forwarded_hop_by_hop_and_cors_fields() {
    let up = StandIn::always(Reply::Raw(ok("ok", &[])));
    let (gw, _d) = gateway_to(&up.url("/bucket")).await;
    let raw = "GET /k HTTP/1.1\r\n\
        Host: gw.test:8080\r\n\
        Connection: keep-alive, X-Hop\r\n\
        Keep-Alive: timeout=5\r\n\
        TE: trailers\r\n\
        Trailer: X-Sum\r\n\
        Upgrade: websocket\r\n\
        Proxy-Authorization: Basic Zm9vOmJhcg==\r\n\
        Proxy-Connection: keep-alive\r\n\
        X-Hop: secret\r\n\
        X-Keep: yes\r\n\
        Range: bytes=0-1\r\n\
        Origin: http://app.test:3000\r\n\
        Access-Control-Request-Method: PUT\r\n\
        Access-Control-Request-Headers: x-a\r\n\
        Access-Control-Request-Private-Network: true\r\n\
        X-Forwarded-For: 203.0.113.7\r\n\
        X-Forwarded-Host: spoofed.test\r\n\
        X-Forwarded-Proto: https\r\n\
        \r\n";
    let mut s = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(raw.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let r = tokio::time::timeout(common::wire::LIMIT, read_response(&mut s, &mut buf, false))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.head);

    let reqs = up.requests();
    assert_eq!(reqs.len(), 1);
    let got = &reqs[0];
    assert_eq!(got.request_line(), "GET /bucket/k HTTP/1.1");
    let mut names: Vec<String> = got.headers().into_iter().map(|(n, _)| n).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "host",
            "range",
            "x-forwarded-for",
            "x-forwarded-host",
            "x-forwarded-proto",
            "x-keep"
        ],
        "upstream got:\n{}",
        got.head_text()
    );
    assert_eq!(got.header("host").unwrap(), up.addr.to_string());
    assert_eq!(
        got.header("x-forwarded-for").unwrap(),
        "203.0.113.7, 127.0.0.1"
    );
    assert_eq!(got.header("x-forwarded-proto").unwrap(), "http");
    assert_eq!(got.header("x-forwarded-host").unwrap(), "gw.test:8080");
    assert_eq!(got.header("x-keep").unwrap(), "yes");
    assert_eq!(got.header("range").unwrap(), "bytes=0-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_is_added_when_absent() {
    let up = StandIn::always(Reply::Raw(ok("ok", &[])));
    let (gw, _d) = gateway_to(&up.url("/bucket")).await;
    let r = send(gw.addr, "GET", "/k", "gw.test", &[], b"").await;
    assert_eq!(r.status, 200);
    let got = &up.requests()[0];
    assert_eq!(got.header("x-forwarded-for").unwrap(), "127.0.0.1");
    assert_eq!(got.header("x-forwarded-proto").unwrap(), "http");
    assert_eq!(got.header("x-forwarded-host").unwrap(), "gw.test");
    // Our own `Connection: close` is hop-by-hop too.
    assert_eq!(got.header("connection"), None, "{}", got.head_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_body_is_forwarded_unchanged() {
    let up = StandIn::always(Reply::Raw(ok("ok", &[])));
    let (gw, _d) = gateway_to(&up.url("/bucket")).await;
    let body: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let r = send(
        gw.addr,
        "PUT",
        "/bin",
        "gw.test",
        &[("Content-Type", "application/octet-stream")],
        &body,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.head);
    let got = &up.requests()[0];
    assert_eq!(got.request_line(), "PUT /bucket/bin HTTP/1.1");
    assert_eq!(got.header("content-length").as_deref(), Some("70000"));
    assert_eq!(
        got.header("content-type").as_deref(),
        Some("application/octet-stream")
    );
    assert!(got.body == body, "body changed on the way");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_hop_by_hop_fields_are_removed() {
    let up = StandIn::always(Reply::Raw(ok(
        "ok",
        &[
            "Connection: keep-alive, X-Resp-Hop",
            "Keep-Alive: timeout=5, max=100",
            "X-Resp-Hop: 1",
            "Proxy-Authenticate: Basic realm=\"x\"",
            "Proxy-Connection: keep-alive",
            "Trailer: X-Sum",
            "Upgrade: h2c",
            "X-Resp-Keep: yes",
            "ETag: \"e1\"",
        ],
    )));
    let (gw, _d) = gateway_to(&up.url("/bucket")).await;
    let mut s = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"GET /k HTTP/1.1\r\nHost: gw.test\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let r = tokio::time::timeout(common::wire::LIMIT, read_response(&mut s, &mut buf, false))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.body, b"ok");
    for gone in [
        "connection",
        "keep-alive",
        "x-resp-hop",
        "proxy-authenticate",
        "proxy-connection",
        "trailer",
        "upgrade",
    ] {
        assert!(
            r.all(gone).is_empty(),
            "{gone} reached the client:\n{}",
            r.head
        );
    }
    assert_eq!(r.header("x-resp-keep"), Some("yes"));
    assert_eq!(r.header("etag"), Some("\"e1\""));
    assert_eq!(r.header("content-length"), Some("2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_and_options_without_origin_in_enforce_mode_are_forwarded() {
    // An OPTIONS that is not a preflight (no Origin/ACRM) in enforce mode is an
    // ordinary request and goes upstream.
    let up = StandIn::always(Reply::Raw(ok("", &[])));
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "listen = \"127.0.0.1:0\"\n[[site]]\nname = \"s\"\ndefault = true\n\
         upstream = \"{}\"\nmode = \"enforce\"\n",
        up.url("/bucket")
    );
    let gw = Gateway::from_toml(dir.path(), &toml).await;
    let r = exchange(
        gw.addr,
        b"OPTIONS /k HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(
        up.requests()[0].request_line(),
        "OPTIONS /bucket/k HTTP/1.1"
    );
}
