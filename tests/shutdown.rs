//! SIGTERM on the real binary, the way Kubernetes stops a pod: `/readyz` turns 503 at
//! once while the listener keeps accepting for `drain_delay`; then new connections are
//! refused, the request in flight (a slow upstream body) still completes in full, and
//! the process exits 0.
mod common;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use common::ops::preflight;
use common::standin::{Reply, StandIn};
use common::wire::send;
use common::GatewayProcess;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CHUNKS: usize = 12;
const CHUNK: usize = 100;

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Polls `cond` every 20 ms; panics with `what` after `limit`.
fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_drains_in_flight_requests_and_exits_zero() {
    // The upstream sends its head at once and the body in slices, 400 ms apart.
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
        CHUNKS * CHUNK
    );
    let up = StandIn::always(Reply::Trickle {
        head: head.into_bytes(),
        chunk: CHUNK,
        interval: Duration::from_millis(400),
        max_chunks: CHUNKS,
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corsgate.toml");
    std::fs::write(
        &path,
        format!(
            r#"listen = "127.0.0.1:0"
[admin]
listen = "127.0.0.1:0"
[server]
drain_delay = "3s"
shutdown_timeout = "30s"

[[site]]
name = "slow"
default = true
upstream = "{}"
[[site.cors]]
allowed_origins = ["https://app.example"]
allowed_methods = ["GET"]
"#,
            up.url("/bkt")
        ),
    )
    .unwrap();
    let mut gw = GatewayProcess::spawn(&["--config", path.to_str().unwrap()]);
    let (addr, admin) = (gw.addr, gw.admin.expect("admin address in the log"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let readyz = |rt: &tokio::runtime::Runtime| {
        rt.block_on(send(admin, "GET", "/readyz", "admin", &[], b""))
            .status
    };
    assert_eq!(readyz(&rt), 200);

    // The slow request: once its head has arrived, it is in flight.
    let (head_tx, head_rx) = std::sync::mpsc::channel::<()>();
    let slow = rt.spawn(async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.write_all(b"GET /big HTTP/1.1\r\nHost: slow.test\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut buf = Vec::new();
        let mut tmp = [0u8; 4096];
        let mut signalled = false;
        loop {
            let n = tokio::time::timeout(Duration::from_secs(30), s.read(&mut tmp))
                .await
                .expect("read timed out")
                .expect("read");
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&tmp[..n]);
            if !signalled && find(&buf, b"\r\n\r\n").is_some() {
                signalled = true;
                let _ = head_tx.send(());
            }
        }
        buf
    });
    head_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the slow response's head");

    let status = std::process::Command::new("kill")
        .args(["-TERM", &gw.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());

    // Not ready at once, but still accepting during the drain delay.
    wait_until(Duration::from_secs(10), "/readyz 503", || {
        readyz(&rt) == 503
    });
    assert_eq!(
        rt.block_on(preflight(addr, "slow.test", "https://app.example")),
        200,
        "a new connection during the drain delay was not served"
    );

    // After the delay the listener is closed: connecting is refused.
    wait_until(Duration::from_secs(20), "connections refused", || {
        matches!(
            std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)),
            Err(e) if e.kind() == ErrorKind::ConnectionRefused
        )
    });

    // The request in flight completed in full.
    let raw = rt.block_on(slow).expect("slow request task");
    let head_end = find(&raw, b"\r\n\r\n").unwrap() + 4;
    assert!(
        raw.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&raw[..head_end])
    );
    assert_eq!(raw.len() - head_end, CHUNKS * CHUNK, "body cut short");

    let mut exit = None;
    wait_until(Duration::from_secs(30), "the process to exit", || {
        exit = gw.child.try_wait().expect("try_wait");
        exit.is_some()
    });
    let exit = exit.unwrap();
    assert!(exit.success(), "exit status {exit:?}");
}
