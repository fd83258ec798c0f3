//! Plumbing for tests/browser.rs: the two page servers, a raw HTTP helper for seeding,
//! the runner of tests/browser/cdp.mjs, what it reports, and the access-log readers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

/// The page every case runs in: blank, same for both page origins.
const PAGE: &str = "<!doctype html><meta charset=utf-8><title>corsgate browser test</title>";

/// A page origin of the test's own: serves the blank page on `/`, 404 elsewhere
/// (Chromium asks for /favicon.ico). Binds 127.0.0.1; the thread lives as long as the
/// test process.
pub fn page_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind page server");
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming().map_while(Result::ok) {
            std::thread::spawn(move || serve_page(conn));
        }
    });
    addr
}

fn serve_page(mut conn: TcpStream) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(conn.try_clone().expect("clone stream"));
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        // Skip the headers; GETs for a page carry no body.
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
        }
        let path = request_line.split_whitespace().nth(1).unwrap_or("");
        let (status, body) = if path == "/" {
            ("200 OK", PAGE)
        } else {
            ("404 Not Found", "not found")
        };
        let resp = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n\
             Cache-Control: no-store\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if conn.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

/// One HTTP/1.1 exchange over a fresh connection (`Connection: close`).
pub struct RawResponse {
    pub status: u16,
    /// Lowercased names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> RawResponse {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    RawResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// What cdp.mjs reports for one case.
#[derive(Debug, Deserialize)]
pub struct Seen {
    pub name: String,
    /// The snippet's return value: `probe()` results (`ok`, `status`, `headers`,
    /// `body` or `error`), alone or in an object.
    pub page: Value,
    pub network: Vec<Req>,
    /// The runner's own failure (navigation, snippet exception, timeout).
    #[serde(default)]
    pub error: Option<String>,
}

/// One request to a gateway, from DevTools network events.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Req {
    pub url: String,
    pub method: String,
    #[serde(default)]
    pub preflight: bool,
    #[serde(default)]
    pub status: Option<u16>,
    /// Response headers, lowercased names.
    #[serde(default)]
    pub headers: serde_json::Map<String, Value>,
    #[serde(default)]
    pub request_headers: serde_json::Map<String, Value>,
    #[serde(default)]
    pub from_cache: bool,
    #[serde(default)]
    pub failed: bool,
    #[serde(default)]
    pub error_text: Option<String>,
    #[serde(default)]
    pub cors_error: Option<String>,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(Value::as_str)
    }

    fn describe(&self) -> String {
        let path = self
            .url
            .find("://")
            .and_then(|i| self.url[i + 3..].find('/').map(|j| &self.url[i + 3 + j..]))
            .unwrap_or(&self.url);
        let mut s = format!("{} {}", self.method, path);
        if self.preflight {
            s.push_str(" [preflight]");
        }
        if let Some(st) = self.status {
            s.push_str(&format!(" -> {st}"));
        }
        if self.from_cache {
            s.push_str(" (from disk cache)");
        }
        if self.failed {
            s.push_str(&format!(
                " FAILED {} corsError={}",
                self.error_text.as_deref().unwrap_or("?"),
                self.cors_error.as_deref().unwrap_or("none")
            ));
        }
        let acao = self.header("access-control-allow-origin");
        let vary = self.header("vary");
        if self.status.is_some() {
            s.push_str(&format!(
                " ACAO={} Vary={}",
                acao.unwrap_or("-"),
                vary.unwrap_or("-")
            ));
        }
        s
    }
}

impl Seen {
    pub fn preflights(&self) -> impl Iterator<Item = &Req> {
        self.network.iter().filter(|r| r.preflight)
    }

    pub fn actual(&self, method: &str) -> impl Iterator<Item = &Req> {
        let method = method.to_owned();
        self.network
            .iter()
            .filter(move |r| !r.preflight && r.method == method)
    }

    /// What Chromium reported, for failure messages.
    pub fn describe(&self) -> String {
        let mut s = format!("page saw: {}", self.page);
        if let Some(e) = &self.error {
            s.push_str(&format!("\n    runner error: {e}"));
        }
        if self.network.is_empty() {
            s.push_str("\n    network: no request reached the network layer");
        }
        for r in &self.network {
            s.push_str(&format!("\n    network: {}", r.describe()));
        }
        s
    }
}

/// `$CHROMIUM`, else Debian's /usr/bin/chromium. Missing is a setup error, never a skip.
pub fn chromium_binary() -> PathBuf {
    let p = std::env::var_os("CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        p.exists(),
        "no Chromium at {} (set $CHROMIUM, or `apt-get install -y chromium`; scripts/test does)",
        p.display()
    );
    p
}

/// `$NODE`, else `node` on PATH.
pub fn node_binary() -> PathBuf {
    std::env::var_os("NODE").map_or_else(|| PathBuf::from("node"), PathBuf::from)
}

/// Runs cdp.mjs on `spec` (written to `dir/spec.json`) and returns one [`Seen`] per
/// case. Panics (a setup failure) if the runner dies, hangs past `limit`, or loses
/// cases.
pub fn run_browser(dir: &Path, spec: &Value, limit: Duration) -> Vec<Seen> {
    let spec_path = dir.join("spec.json");
    std::fs::write(&spec_path, serde_json::to_vec_pretty(spec).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/cdp.mjs");
    let mut child = Command::new(node_binary())
        .arg(&script)
        .arg(&spec_path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start node ({e}); Node.js is required for the browser tier")
        });
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let done = lines.lock().unwrap().len();
            panic!("the browser runner hung: killed after {limit:?} with {done} case(s) reported");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    reader.join().unwrap();
    let stderr = err_reader.join().unwrap();
    let lines = lines.lock().unwrap();
    assert!(
        status.success() && lines.last().is_some_and(|l| l.contains("\"done\":true")),
        "cdp.mjs failed ({status}):\n{stderr}\nstdout:\n{}",
        lines.join("\n")
    );
    lines[..lines.len() - 1]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad runner line ({e}): {l}")))
        .collect()
}

/// The access-log lines of a gateway process, parsed.
pub fn access_log(log: &Mutex<Vec<String>>) -> Vec<Value> {
    log.lock()
        .unwrap()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("target").and_then(Value::as_str) == Some("corsgate::access"))
        .collect()
}

/// Access-log entries for `method` on `path`.
pub fn logged<'a>(log: &'a [Value], method: &str, path: &str) -> Vec<&'a Value> {
    log.iter()
        .filter(|v| {
            v.get("method").and_then(Value::as_str) == Some(method)
                && v.get("path").and_then(Value::as_str) == Some(path)
        })
        .collect()
}
