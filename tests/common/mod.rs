//! Shared test support: a real S3-compatible server (s3s-fs, which verifies SigV4 when
//! given keys) started per test, and the gateway started in process or as the real
//! binary. Everything binds 127.0.0.1 on ports the OS picks.
#![allow(dead_code)]

pub mod ops;
pub mod presign;
pub mod standin;
pub mod wire;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use corsgate::app::App;
use corsgate::config::Config;

/// Rule 1 of the policy the issues test with: a specific origin with four methods,
/// three allowed headers, ETag exposed, MaxAge 600.
macro_rules! app_rule {
    () => {
        r#"
[[site.cors]]
allowed_origins = ["http://app.test:3000"]
allowed_methods = ["GET", "HEAD", "PUT", "DELETE"]
allowed_headers = ["content-type", "authorization", "x-amz-meta-*"]
expose_headers = ["ETag"]
max_age_seconds = 600
"#
    };
}

/// Rule 1 only: every other origin is refused by the enforce gate.
pub const APP_ONLY: &str = app_rule!();

/// Rule 1, then rule 2: any origin, GET only.
pub const RULES: &str = concat!(
    app_rule!(),
    r#"
[[site.cors]]
allowed_origins = ["*"]
allowed_methods = ["GET"]
"#
);

/// Where the s3s-fs binary is: `$S3S_FS`, else `~/.cargo/bin/s3s-fs`, else `PATH`.
/// `scripts/test` installs it; a missing binary is a setup error, never a skip.
pub fn s3s_fs_binary() -> PathBuf {
    if let Ok(p) = std::env::var("S3S_FS") {
        return PathBuf::from(p);
    }
    if let Ok(home) = std::env::var("HOME") {
        let p = Path::new(&home).join(".cargo/bin/s3s-fs");
        if p.exists() {
            return p;
        }
    }
    PathBuf::from("s3s-fs")
}

/// A port nobody listens on right now (bind to 0, read, close).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// Polls until something accepts on `addr`; panics after `limit` (a setup failure).
pub fn wait_listening(addr: SocketAddr, limit: Duration) {
    let start = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            start.elapsed() < limit,
            "nothing listening on {addr} after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running s3s-fs with one bucket, killed on drop.
pub struct S3Server {
    child: Child,
    pub addr: SocketAddr,
    pub bucket: String,
    /// The storage root; the bucket is the folder `root/bucket`.
    pub root: tempfile::TempDir,
    pub credentials: Option<(String, String)>,
}

impl S3Server {
    /// Starts s3s-fs on a free loopback port. With `credentials`, s3s-fs checks SigV4 on
    /// every request and refuses anonymous ones.
    pub fn start(bucket: &str, credentials: Option<(&str, &str)>) -> S3Server {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(root.path().join(bucket)).expect("bucket dir");
        // s3s-fs takes a fixed port; another process could grab it between our probe and
        // its bind, so try a few.
        for _ in 0..5 {
            let port = free_port();
            let mut cmd = Command::new(s3s_fs_binary());
            cmd.arg("--host")
                .arg("127.0.0.1")
                .arg("--port")
                .arg(port.to_string())
                .arg(root.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if let Some((k, s)) = credentials {
                cmd.arg("--access-key").arg(k).arg("--secret-key").arg(s);
            }
            let mut child = cmd.spawn().unwrap_or_else(|e| {
                panic!(
                    "cannot start {:?} ({e}); run scripts/test, which installs it",
                    s3s_fs_binary()
                )
            });
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            let start = Instant::now();
            loop {
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    return S3Server {
                        child,
                        addr,
                        bucket: bucket.to_owned(),
                        root,
                        credentials: credentials.map(|(k, s)| (k.to_owned(), s.to_owned())),
                    };
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break; // port taken: try another
                }
                assert!(
                    start.elapsed() < Duration::from_secs(15),
                    "s3s-fs did not start"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("s3s-fs failed to start five times");
    }

    /// Path-style base URL of the bucket: `http://127.0.0.1:PORT/bucket`.
    pub fn bucket_url(&self) -> String {
        format!("http://{}/{}", self.addr, self.bucket)
    }

    /// The file s3s-fs stores an object in.
    pub fn object_path(&self, key: &str) -> PathBuf {
        self.root.path().join(&self.bucket).join(key)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The gateway running in process on a free loopback port; stopped on drop.
pub struct Gateway {
    pub addr: SocketAddr,
    /// The response cache, when the config has one.
    pub cache: Option<corsgate::cache::ResponseCache>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Gateway {
    /// Binds `config` (its `listen` replaced by 127.0.0.1:0) and serves it.
    pub async fn start(mut config: Config) -> Gateway {
        config.listen = "127.0.0.1:0".parse().unwrap();
        Gateway::serve(App::bind(config).await.expect("bind gateway"))
    }

    /// As [`Gateway::start`], with the clock the cache judges freshness by; keeps the
    /// cache handle so tests can inspect its size.
    pub async fn start_with_clock(
        mut config: Config,
        clock: Arc<dyn corsgate::cache::Clock>,
    ) -> Gateway {
        config.listen = "127.0.0.1:0".parse().unwrap();
        let app = App::bind_with_clock(config, clock)
            .await
            .expect("bind gateway");
        Gateway::serve(app)
    }

    /// As [`Gateway::start`], with the environment the credential chain reads (so a
    /// test never touches the process's).
    pub async fn start_with_env(mut config: Config, env: corsgate::credentials::Env) -> Gateway {
        config.listen = "127.0.0.1:0".parse().unwrap();
        let app = App::bind_with(config, Arc::new(corsgate::clock::SystemClock), env)
            .await
            .expect("bind gateway");
        Gateway::serve(app)
    }

    fn serve(app: App) -> Gateway {
        let addr = app.local_addr().unwrap();
        let cache = app.cache();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(app.run(async {
            let _ = rx.await;
        }));
        Gateway {
            addr,
            cache,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Parses TOML written as if it lived at `dir/corsgate.toml`, then starts it.
    pub async fn from_toml(dir: &Path, toml: &str) -> Gateway {
        let cfg = corsgate::config::parse(&dir.join("corsgate.toml"), toml)
            .unwrap_or_else(|e| panic!("config: {e}"));
        Gateway::start(cfg).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Stops accepting and waits for in-flight requests.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// The real `corsgate` binary as a child process (for RSS, signals and the CLI).
pub struct GatewayProcess {
    pub child: Child,
    pub addr: SocketAddr,
    /// The admin listener's address, when the config has one.
    pub admin: Option<SocketAddr>,
    /// Lines the process wrote to stderr after startup (JSON logs), collected.
    pub log: Arc<std::sync::Mutex<Vec<String>>>,
}

impl GatewayProcess {
    /// Runs `corsgate serve ARGS --log-format json` (ARGS should bind 127.0.0.1:0 or a
    /// free port) and waits for its "listening" line to learn the address.
    pub fn spawn(args: &[&str]) -> GatewayProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_corsgate"))
            .arg("serve")
            .args(args)
            .args(["--log-format", "json"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn corsgate");
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let mut addr = None;
        let mut admin = None;
        let mut seen = Vec::new();
        for line in lines.by_ref() {
            let line = line.expect("read corsgate stderr");
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                if let Some(a) = v.get("addr").and_then(|a| a.as_str()) {
                    addr = Some(a.parse().expect("addr"));
                    admin = v
                        .get("admin")
                        .and_then(|a| a.as_str())
                        .map(|a| a.parse().expect("admin addr"));
                    break;
                }
            }
            seen.push(line);
        }
        let addr = addr
            .unwrap_or_else(|| panic!("corsgate exited before listening:\n{}", seen.join("\n")));
        let log = Arc::new(std::sync::Mutex::new(seen));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        GatewayProcess {
            child,
            addr,
            admin,
            log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Peak resident set size so far (VmHWM), in bytes.
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("proc status");
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM");
        kib * 1024
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
