//! A raw HTTP/1.1 client for asserting on exactly what crossed the wire: requests are
//! written as bytes, responses parsed by hand (status, header lines in order with
//! duplicates, body by Content-Length, chunked or EOF). Every read is bounded in time.
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Upper bound on any single exchange; a hang is a failure, not a wait.
pub const LIMIT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone)]
pub struct RawResponse {
    /// The status line and header lines, as received.
    pub head: String,
    pub status: u16,
    /// (lowercased name, value) in wire order, duplicates kept.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The single value of `name`; panics if it was sent more than once.
    pub fn header(&self, name: &str) -> Option<&str> {
        let all = self.all(name);
        assert!(
            all.len() <= 1,
            "{name} sent {} times:\n{}",
            all.len(),
            self.head
        );
        all.first().copied()
    }

    /// Every `access-control-*` and `vary` line, sorted by name: the whole CORS surface.
    pub fn cors(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self
            .headers
            .iter()
            .filter(|(n, _)| n.starts_with("access-control-") || n == "vary")
            .cloned()
            .collect();
        v.sort();
        v
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Literal expected CORS lines, sorted like [`RawResponse::cors`].
pub fn cors(lines: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = lines
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    v.sort();
    v
}

/// Builds a request: `METHOD TARGET HTTP/1.1`, `Host`, the extra lines, a
/// Content-Length when there is a body (or for PUT/POST), and `Connection: close`.
pub fn request(
    method: &str,
    target: &str,
    host: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut s = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\n");
    for (n, v) in headers {
        s.push_str(&format!("{n}: {v}\r\n"));
    }
    if !body.is_empty() || method == "PUT" || method == "POST" {
        s.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    s.push_str("Connection: close\r\n\r\n");
    let mut out = s.into_bytes();
    out.extend_from_slice(body);
    out
}

/// Sends raw bytes on a new connection and reads one response (a HEAD's has no body).
pub async fn exchange(addr: SocketAddr, raw: &[u8]) -> RawResponse {
    let is_head = raw.starts_with(b"HEAD ");
    tokio::time::timeout(LIMIT, async {
        let mut s = TcpStream::connect(addr).await.expect("connect gateway");
        s.write_all(raw).await.expect("write request");
        let mut buf = Vec::new();
        read_response(&mut s, &mut buf, is_head)
            .await
            .expect("read response")
    })
    .await
    .expect("exchange timed out")
}

/// Shorthand: `exchange` of a built [`request`].
pub async fn send(
    addr: SocketAddr,
    method: &str,
    target: &str,
    host: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> RawResponse {
    exchange(addr, &request(method, target, host, headers, body)).await
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads one response from `s`, `buf` holding bytes already read. Errors if the
/// connection ends before the head or before a declared body is complete.
pub async fn read_response(
    s: &mut TcpStream,
    buf: &mut Vec<u8>,
    is_head: bool,
) -> Result<RawResponse, String> {
    let mut tmp = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        match s.read(&mut tmp).await {
            Ok(0) => {
                return Err(format!(
                    "EOF before response head; got {:?}",
                    String::from_utf8_lossy(buf)
                ))
            }
            Err(e) => return Err(format!("read: {e}")),
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    };
    let head_bytes: Vec<u8> = buf.drain(..head_end).collect();
    let head = String::from_utf8_lossy(&head_bytes).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap_or((l, ""));
            (n.to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let no_body = is_head || status == 304 || status == 204 || (100..200).contains(&status);
    let body = if no_body {
        Vec::new()
    } else if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        let mut out = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = find(buf, b"\r\n") {
                    break i;
                }
                match s.read(&mut tmp).await {
                    Ok(0) => return Err("EOF inside chunked body".into()),
                    Err(e) => return Err(format!("read: {e}")),
                    Ok(n) => buf.extend_from_slice(&tmp[..n]),
                }
            };
            let size_line = String::from_utf8_lossy(&buf[..line_end]).into_owned();
            let size = usize::from_str_radix(size_line.split(';').next().unwrap().trim(), 16)
                .map_err(|_| format!("bad chunk size {size_line:?}"))?;
            buf.drain(..line_end + 2);
            while buf.len() < size + 2 {
                match s.read(&mut tmp).await {
                    Ok(0) => return Err("EOF inside chunk".into()),
                    Err(e) => return Err(format!("read: {e}")),
                    Ok(n) => buf.extend_from_slice(&tmp[..n]),
                }
            }
            out.extend(buf.drain(..size));
            buf.drain(..2);
            if size == 0 {
                break;
            }
        }
        out
    } else if let Some(len) = get("content-length") {
        let len: usize = len.parse().map_err(|_| "bad content-length")?;
        while buf.len() < len {
            match s.read(&mut tmp).await {
                Ok(0) => return Err(format!("EOF after {} of {len} body bytes", buf.len())),
                Err(e) => return Err(format!("read after {} of {len}: {e}", buf.len())),
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        }
        buf.drain(..len).collect()
    } else {
        loop {
            match s.read(&mut tmp).await {
                Ok(0) => break,
                Err(e) => return Err(format!("read: {e}")),
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        }
        std::mem::take(buf)
    };
    Ok(RawResponse {
        head,
        status,
        headers,
        body,
    })
}
