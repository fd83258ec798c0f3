//! A first end-to-end check against a real S3-compatible server.
mod common;

use common::{Gateway, S3Server};

#[tokio::test]
async fn get_through_gateway_reaches_s3s_fs() {
    let s3 = S3Server::start("bkt", None);
    std::fs::write(s3.object_path("hello.txt"), b"hi there").unwrap();
    let cfg = corsgate::config::Config::try_from(corsgate::config::OneSite {
        listen: "127.0.0.1:0".parse().unwrap(),
        upstream: s3.bucket_url(),
        cors_rules: None,
        mode: corsgate::cors::Mode::S3,
        writable: false,
        cache_bytes: None,
        admin: None,
        sign_region: None,
        access: None,
        allow_methods: None,
    })
    .unwrap();
    let gw = Gateway::start(cfg).await;
    let mut stream = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("hi there"), "{text}");
}
