//! Half a gibibyte up and back down through the real binary in one-site mode in front
//! of s3s-fs: the bytes sent, the bytes stored and the bytes received hash the same,
//! and the gateway's peak RSS stays small (bodies stream; nothing is buffered whole).
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{GatewayProcess, S3Server};
use sha2::{Digest, Sha256};

const SIZE: u64 = 512 * 1024 * 1024;
const CHUNK: usize = 1024 * 1024;
const RSS_LIMIT: u64 = 64 * 1024 * 1024;

/// Deterministic filler: one xorshift64* block made once, each chunk stamped with its
/// index so no two chunks are alike (cheap enough for a debug-built test).
struct Filler {
    block: Vec<u8>,
    index: u64,
}

impl Filler {
    fn new(mut seed: u64) -> Filler {
        let mut block = vec![0u8; CHUNK];
        for word in block.chunks_mut(8) {
            seed ^= seed >> 12;
            seed ^= seed << 25;
            seed ^= seed >> 27;
            word.copy_from_slice(&seed.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
        }
        Filler { block, index: 0 }
    }

    fn fill(&mut self, buf: &mut [u8]) {
        buf.copy_from_slice(&self.block);
        for (i, at) in (0..CHUNK).step_by(4096).enumerate() {
            buf[at..at + 8].copy_from_slice(&(self.index ^ i as u64).to_le_bytes());
        }
        self.index += 1;
    }
}

fn hex(d: impl AsRef<[u8]>) -> String {
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn connect(addr: std::net::SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect gateway");
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(120))).unwrap();
    s
}

/// Reads a response head; returns the status line and lowercased header lines.
fn read_head(r: &mut impl BufRead) -> (String, Vec<(String, String)>) {
    let mut status = String::new();
    r.read_line(&mut status).expect("status line");
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).expect("header line");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (n, v) = line.split_once(':').unwrap();
        headers.push((n.to_ascii_lowercase(), v.trim().to_owned()));
    }
    (status.trim_end().to_owned(), headers)
}

#[test]
fn half_gib_round_trip_in_bounded_memory() {
    let s3 = S3Server::start("big", None);
    let url = s3.bucket_url();
    let gw = GatewayProcess::spawn(&[
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &url,
        "--access-log",
        "off",
    ]);

    // Upload, generated chunk by chunk while hashing.
    let started = Instant::now();
    let mut s = connect(gw.addr);
    write!(
        s,
        "PUT /blob.bin HTTP/1.1\r\nHost: gw.test\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {SIZE}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut filler = Filler::new(0x9E37_79B9_7F4A_7C15);
    let mut sent = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut written = 0u64;
    let mut write_error = None;
    for _ in 0..SIZE / CHUNK as u64 {
        filler.fill(&mut buf);
        sent.update(&buf);
        if let Err(e) = s.write_all(&buf) {
            write_error = Some(e);
            break;
        }
        written += CHUNK as u64;
    }
    let sent = hex(sent.finalize());
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    let reply = String::from_utf8_lossy(&reply);
    assert!(
        write_error.is_none() && reply.starts_with("HTTP/1.1 200 "),
        "upload failed after {written} bytes and {:?} ({write_error:?}); gateway said: {reply}\n\
         gateway log:\n{}",
        started.elapsed(),
        gw.log.lock().unwrap().join("\n")
    );
    let upload_time = started.elapsed();

    // What s3s-fs stored.
    let mut stored = Sha256::new();
    let mut f = std::fs::File::open(s3.object_path("blob.bin")).expect("stored object");
    let mut n_stored = 0u64;
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        n_stored += n as u64;
        stored.update(&buf[..n]);
    }
    assert_eq!(n_stored, SIZE);
    let stored = hex(stored.finalize());

    // Download, hashed as it streams.
    let started = Instant::now();
    let mut s = connect(gw.addr);
    s.write_all(b"GET /blob.bin HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut r = BufReader::with_capacity(CHUNK, s);
    let (status, headers) = read_head(&mut r);
    assert_eq!(status, "HTTP/1.1 200 OK");
    let len = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map(|(_, v)| v.clone());
    assert_eq!(len.as_deref(), Some("536870912"), "{headers:?}");
    let mut got = Sha256::new();
    let mut n_got = 0u64;
    loop {
        let n = r.read(&mut buf).expect("download read");
        if n == 0 {
            break;
        }
        n_got += n as u64;
        got.update(&buf[..n]);
    }
    assert_eq!(n_got, SIZE);
    let got = hex(got.finalize());
    let download_time = started.elapsed();

    assert_eq!(stored, sent, "s3s-fs stored other bytes than were sent");
    assert_eq!(got, sent, "the download differs from the upload");
    let peak = gw.peak_rss();
    eprintln!(
        "512 MiB: upload {upload_time:?}, download {download_time:?}, gateway peak RSS {} KiB",
        peak / 1024
    );
    assert!(
        peak < RSS_LIMIT,
        "gateway peak RSS {} KiB is over {} KiB",
        peak / 1024,
        RSS_LIMIT / 1024
    );
}
