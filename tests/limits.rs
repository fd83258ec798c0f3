//! Connection and request limits over raw TCP against the in-process gateway: a
//! slowloris head is cut at the header timeout, an oversize head gets 431, connections
//! over `max_connections` are refused at once (and admitted again once one closes), a
//! stalled upload gets 408 and a close, and idle keep-alive connections (HTTP/1.1 and
//! h2c) are closed. Every wait is a bounded poll; nothing asserts on durations.
mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::wire::{read_response, send, LIMIT};
use common::Gateway;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A `file:` site at `a.test` (writable, for uploads) with `server` lines in `[server]`.
async fn gateway(server: &str) -> (Gateway, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("site")).unwrap();
    std::fs::write(dir.path().join("site/hello.txt"), "hello\n").unwrap();
    let toml = format!(
        "listen = \"127.0.0.1:0\"\n[server]\n{server}\n\
         [[site]]\nname = \"files\"\nhosts = [\"a.test\"]\nupstream = \"file:site\"\nwritable = true\n"
    );
    let gw = Gateway::from_toml(dir.path(), &toml).await;
    (gw, dir)
}

/// Reads until the server closes the connection (EOF or reset); panics after
/// [`LIMIT`], which only guards against a hang. Returns what arrived first.
async fn until_closed(s: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(LIMIT, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("the server kept the connection open");
    got
}

const GET_KEEP_ALIVE: &[u8] = b"GET /hello.txt HTTP/1.1\r\nHost: a.test\r\n\r\n";

/// A kept-alive connection that has been served once.
async fn served_connection(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(GET_KEEP_ALIVE).await.unwrap();
    let mut buf = Vec::new();
    let resp = tokio::time::timeout(LIMIT, read_response(&mut s, &mut buf, false))
        .await
        .expect("response hung")
        .expect("a response");
    assert_eq!(resp.status, 200, "{}", resp.head);
    s
}

#[tokio::test]
async fn slowloris_head_is_cut_at_the_header_timeout() {
    let (gw, _dir) = gateway("header_read_timeout = \"300ms\"").await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: a.te")
        .await
        .unwrap();
    let got = until_closed(&mut s).await;
    // hyper may say 408 before closing, or just close; it must never answer 200.
    assert!(!got.starts_with(b"HTTP/1.1 200"), "{got:?}");
    // The gateway keeps serving.
    assert_eq!(
        send(gw.addr, "GET", "/hello.txt", "a.test", &[], b"")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn oversize_head_is_431() {
    let (gw, _dir) = gateway("max_header_bytes = \"16KiB\"").await;
    let big = "x".repeat(20 * 1024);
    let resp = send(
        gw.addr,
        "GET",
        "/hello.txt",
        "a.test",
        &[("X-Big", &big)],
        b"",
    )
    .await;
    assert_eq!(resp.status, 431, "{}", resp.head);
    let small = "x".repeat(4 * 1024);
    let resp = send(
        gw.addr,
        "GET",
        "/hello.txt",
        "a.test",
        &[("X-Ok", &small)],
        b"",
    )
    .await;
    assert_eq!(resp.status, 200);
}

#[tokio::test]
async fn connections_over_the_cap_are_refused_at_once_then_admitted_again() {
    let (gw, _dir) = gateway("max_connections = 2\nheader_read_timeout = \"30s\"").await;
    let first = served_connection(gw.addr).await;
    let _second = served_connection(gw.addr).await;

    // The third is accepted and closed straight away, with a 503 if it can be written.
    let mut third = TcpStream::connect(gw.addr).await.unwrap();
    let got = until_closed(&mut third).await;
    assert!(
        got.is_empty() || got.starts_with(b"HTTP/1.1 503"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );

    // Once one held connection closes, a new one is served. The server notices the
    // close asynchronously, so poll (bounded) until a connection gets in.
    drop(first);
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let mut s = TcpStream::connect(gw.addr).await.unwrap();
        let _ = s.write_all(GET_KEEP_ALIVE).await;
        let mut buf = Vec::new();
        match tokio::time::timeout(LIMIT, read_response(&mut s, &mut buf, false)).await {
            Ok(Ok(r)) if r.status == 200 => break,
            Ok(Ok(r)) => assert_eq!(r.status, 503, "{}", r.head),
            Ok(Err(_)) => {} // refused by a plain close
            Err(_) => panic!("response hung"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "a slot never came free"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_stalled_upload_gets_408_and_the_connection_closes() {
    let (gw, dir) =
        gateway("request_body_timeout = \"300ms\"\nheader_read_timeout = \"30s\"").await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"PUT /up.bin HTTP/1.1\r\nHost: a.test\r\nContent-Length: 100\r\n\r\n0123456789")
        .await
        .unwrap();
    let got = until_closed(&mut s).await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        !dir.path().join("site/up.bin").exists(),
        "a partial upload must not be stored"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    // The header timeout is long, so only the idle timeout can close it.
    let (gw, _dir) = gateway("idle_timeout = \"300ms\"\nheader_read_timeout = \"30s\"").await;
    let mut s = served_connection(gw.addr).await;
    assert!(until_closed(&mut s).await.is_empty());
}

#[tokio::test]
async fn an_idle_h2c_connection_is_closed() {
    let (gw, _dir) = gateway("idle_timeout = \"300ms\"").await;
    let tcp = TcpStream::connect(gw.addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("h2c handshake");
    let conn = tokio::spawn(conn);
    let req = Request::get("http://a.test/hello.txt")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = tokio::time::timeout(LIMIT, sender.send_request(req))
        .await
        .expect("h2c request hung")
        .expect("h2c response");
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"hello\n");
    // The client sends nothing more (hyper's client pings are off by default), so the
    // server's idle timer ends the connection, and with it the client's connection task.
    let _ = tokio::time::timeout(LIMIT, conn)
        .await
        .expect("the idle h2c connection stayed open")
        .expect("connection task");
}
