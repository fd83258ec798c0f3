//! A recording stand-in upstream over raw TCP: it keeps the exact bytes of every
//! request head it receives and answers from a script (raw response bytes, silence, a
//! truncated body, a trickle). It runs on its own thread and runtime, so sync and async
//! tests can both use it; dropping it closes every socket it holds.
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the stand-in does with one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Writes these bytes, then waits for the next request on the same connection.
    Raw(Vec<u8>),
    /// Writes these bytes, then closes the connection (FIN).
    RawThenClose(Vec<u8>),
    /// Sends nothing and holds the connection until the peer closes it.
    Silent,
    /// Writes `head`, then `send` filler bytes, then closes: with RST if `reset`.
    Truncated {
        head: Vec<u8>,
        send: usize,
        reset: bool,
    },
    /// Writes `head`, then `chunk` filler bytes every `interval`, until a write fails
    /// (the peer went away) or `max_chunks` were sent.
    Trickle {
        head: Vec<u8>,
        chunk: usize,
        interval: Duration,
        max_chunks: usize,
    },
}

/// `HTTP/1.1 200 OK` with a body and any extra header lines (each `Name: value`).
pub fn ok(body: &str, extra: &[&str]) -> Vec<u8> {
    let mut s = String::from("HTTP/1.1 200 OK\r\n");
    for h in extra {
        s.push_str(h);
        s.push_str("\r\n");
    }
    s.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.into_bytes()
}

/// One request as it crossed the wire.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// Which accepted connection (0-based) it came on.
    pub conn: usize,
    /// The request line and header lines, byte for byte, up to and including the blank line.
    pub head: Vec<u8>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn head_text(&self) -> String {
        String::from_utf8_lossy(&self.head).into_owned()
    }

    /// The request line without its CRLF, as raw bytes turned lossy text.
    pub fn request_line(&self) -> String {
        let end = find(&self.head, b"\r\n").unwrap_or(self.head.len());
        String::from_utf8_lossy(&self.head[..end]).into_owned()
    }

    /// Header lines as (lowercased name, value trimmed), in wire order, duplicates kept.
    pub fn headers(&self) -> Vec<(String, String)> {
        let text = self.head_text();
        text.split("\r\n")
            .skip(1)
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap_or((l, ""));
                (n.to_ascii_lowercase(), v.trim().to_owned())
            })
            .collect()
    }

    /// Every value of `name` (case-insensitive), in wire order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.headers()
            .into_iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
            .collect()
    }

    /// The single value of `name`; panics if it appears more than once.
    pub fn header(&self, name: &str) -> Option<String> {
        let mut all = self.all(name);
        assert!(all.len() <= 1, "{name} sent {} times: {all:?}", all.len());
        all.pop()
    }
}

type Script = dyn Fn(usize, &Recorded) -> Reply + Send + Sync;

struct State {
    requests: Mutex<Vec<Recorded>>,
    /// Connections accepted so far.
    connections: AtomicUsize,
    /// Connections on which we saw the peer close or reset.
    peer_gone: AtomicUsize,
    script: Box<Script>,
}

/// The running stand-in; stops (closing every connection) on drop.
pub struct StandIn {
    pub addr: SocketAddr,
    state: Arc<State>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StandIn {
    /// Answers every request with the same reply.
    pub fn always(reply: Reply) -> StandIn {
        StandIn::start(move |_, _| reply.clone())
    }

    /// Answers request number `n` (0-based, across connections) with `script(n, req)`.
    pub fn start(script: impl Fn(usize, &Recorded) -> Reply + Send + Sync + 'static) -> StandIn {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind stand-in");
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let state = Arc::new(State {
            requests: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
            peer_gone: AtomicUsize::new(0),
            script: Box::new(script),
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = TcpListener::from_std(std_listener).unwrap();
                let accept = async {
                    loop {
                        let Ok((stream, _)) = listener.accept().await else {
                            continue;
                        };
                        let conn = st.connections.fetch_add(1, Ordering::SeqCst);
                        tokio::spawn(serve_conn(st.clone(), stream, conn));
                    }
                };
                tokio::select! {
                    () = accept => {}
                    _ = rx => {}
                }
            });
            // Dropping the runtime drops every connection task and its socket.
        });
        StandIn {
            addr,
            state,
            stop: Some(tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT` plus `path` (e.g. "/bucket").
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn request_count(&self) -> usize {
        self.state.requests.lock().unwrap().len()
    }

    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    pub fn peer_gone(&self) -> usize {
        self.state.peer_gone.load(Ordering::SeqCst)
    }

    /// Polls `cond` every 10 ms until it holds; false if `limit` passes first.
    pub fn wait_for(&self, limit: Duration, cond: impl Fn(&StandIn) -> bool) -> bool {
        let start = Instant::now();
        loop {
            if cond(self) {
                return true;
            }
            if start.elapsed() > limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads one request; `None` when the peer closed (or reset) first.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut tmp = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        assert!(buf.len() < 1 << 20, "stand-in: request head over 1 MiB");
        match stream.read(&mut tmp).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    };
    let head: Vec<u8> = buf.drain(..head_end).collect();
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let content_length = text
        .split("\r\n")
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    let chunked = text
        .split("\r\n")
        .any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked"));
    let mut body = Vec::new();
    if let Some(len) = content_length {
        while buf.len() < len {
            match stream.read(&mut tmp).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        }
        body = buf.drain(..len).collect();
    } else if chunked {
        // Good enough for tests: the raw chunked bytes up to the last-chunk marker.
        loop {
            if let Some(i) = find(buf, b"0\r\n\r\n") {
                body = buf.drain(..i + 5).collect();
                break;
            }
            match stream.read(&mut tmp).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        }
    }
    Some((head, body))
}

async fn serve_conn(st: Arc<State>, mut stream: TcpStream, conn: usize) {
    let mut buf = Vec::new();
    loop {
        let Some((head, body)) = read_request(&mut stream, &mut buf).await else {
            st.peer_gone.fetch_add(1, Ordering::SeqCst);
            return;
        };
        let rec = Recorded { conn, head, body };
        let idx = {
            let mut reqs = st.requests.lock().unwrap();
            reqs.push(rec.clone());
            reqs.len() - 1
        };
        match (st.script)(idx, &rec) {
            Reply::Raw(bytes) => {
                if stream.write_all(&bytes).await.is_err() {
                    st.peer_gone.fetch_add(1, Ordering::SeqCst);
                    return;
                }
            }
            Reply::RawThenClose(bytes) => {
                let _ = stream.write_all(&bytes).await;
                let _ = stream.shutdown().await;
                return;
            }
            Reply::Silent => {
                let mut tmp = [0u8; 4096];
                loop {
                    match stream.read(&mut tmp).await {
                        Ok(0) | Err(_) => {
                            st.peer_gone.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                        Ok(_) => {}
                    }
                }
            }
            Reply::Truncated { head, send, reset } => {
                let _ = stream.write_all(&head).await;
                let filler = vec![b'x'; send];
                let _ = stream.write_all(&filler).await;
                let _ = stream.flush().await;
                if reset {
                    let _ = stream.set_zero_linger();
                }
                return;
            }
            Reply::Trickle {
                head,
                chunk,
                interval,
                max_chunks,
            } => {
                if stream.write_all(&head).await.is_err() {
                    st.peer_gone.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                let filler = vec![b'y'; chunk];
                for _ in 0..max_chunks {
                    tokio::time::sleep(interval).await;
                    if stream.write_all(&filler).await.is_err() {
                        st.peer_gone.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                }
                return;
            }
        }
    }
}
