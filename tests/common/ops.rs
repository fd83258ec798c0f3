//! Operations test support: a gateway started in process from a config *file* (so it
//! can reload), `/metrics` scrapes parsed with the `prometheus-parse` crate, atomic file
//! replacement (write a temporary file, rename it over), and requests that report
//! failure as a value instead of panicking, for load loops that count failures.
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use corsgate::app::App;
use corsgate::reload::Reloader;
use prometheus_parse::{Scrape, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::wire::{self, RawResponse};

/// A gateway serving `path`, with its admin listener and reloader.
pub struct FileGateway {
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub reloader: Arc<Reloader>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl FileGateway {
    /// Loads `path` (which must bind `127.0.0.1:0` and have an `[admin]` listener) and
    /// serves it. `watch`: whether directory changes trigger reloads on their own.
    pub async fn start(path: &Path, watch: bool) -> FileGateway {
        let cfg = corsgate::config::load(path).unwrap_or_else(|e| panic!("config: {e}"));
        let app = App::bind(cfg)
            .await
            .expect("bind")
            .with_config_path(path)
            .expect("config path")
            .watch_config_files(watch);
        let addr = app.local_addr().unwrap();
        let admin = app
            .admin_addr()
            .expect("the test config needs [admin] listen");
        let reloader = app.reloader().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(app.run(async {
            let _ = rx.await;
        }));
        FileGateway {
            addr,
            admin,
            reloader,
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for FileGateway {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// GET `/metrics` from an admin listener, parsed.
pub async fn scrape(admin: SocketAddr) -> Scrape {
    let r = wire::send(admin, "GET", "/metrics", "admin", &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.head);
    assert!(
        r.header("content-type")
            .is_some_and(|v| v.starts_with("text/plain")),
        "{}",
        r.head
    );
    let text = r.text();
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("prometheus text")
}

/// The value of the one sample of `metric` whose labels include `labels`; `None` when
/// there is none. Panics when several match (the test named the series ambiguously).
pub fn value(s: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let found: Vec<_> = s
        .samples
        .iter()
        .filter(|x| x.metric == metric)
        .filter(|x| labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .collect();
    assert!(
        found.len() <= 1,
        "{metric} {labels:?} matches {} series: {found:?}",
        found.len()
    );
    found.first().map(|x| match &x.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        other => panic!("{metric} is not a scalar: {other:?}"),
    })
}

/// Replaces `path` the way editors and ConfigMap updates do: a new file renamed over.
pub fn write_atomic(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text).expect("write temp config");
    std::fs::rename(&tmp, path).expect("rename config into place");
}

/// One request on a new connection; `Err` instead of a panic on any failure.
pub async fn try_send(
    addr: SocketAddr,
    method: &str,
    target: &str,
    host: &str,
    headers: &[(&str, &str)],
) -> Result<RawResponse, String> {
    let raw = wire::request(method, target, host, headers, b"");
    tokio::time::timeout(wire::LIMIT, async {
        let mut s = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        s.write_all(&raw).await.map_err(|e| format!("write: {e}"))?;
        let mut buf = Vec::new();
        wire::read_response(&mut s, &mut buf, method == "HEAD").await
    })
    .await
    .map_err(|_| "timed out".to_owned())?
}

/// A preflight for GET from `origin`; its status.
pub async fn preflight(addr: SocketAddr, host: &str, origin: &str) -> u16 {
    wire::send(
        addr,
        "OPTIONS",
        "/obj.txt",
        host,
        &[("Origin", origin), ("Access-Control-Request-Method", "GET")],
        b"",
    )
    .await
    .status
}

/// SHA-256 of `text`, lowercase hex (what `sha256sum` prints).
pub fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
