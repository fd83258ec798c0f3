//! Tests for the credential chain. Stand-ins are real HTTP/1.1 servers on
//! `127.0.0.1:0` that record every request; every Env points the HTTP sources at a
//! stand-in or sets `AWS_EC2_METADATA_DISABLED=true`, so nothing reaches 169.254.x.
//! Expiry is moved with [`ManualClock`]; the refresh task is woken with tokio's
//! paused time.
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use super::Clock;

mod chain;
mod container_imds;
mod profile;
mod redaction;
mod sts;

/// 2026-12-01T19:00:00Z: the manual clock's start in every test.
pub(super) fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_796_151_600)
}

pub(super) fn minutes(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

/// Wall time the test moves by hand.
pub(super) struct ManualClock(Mutex<SystemTime>);

impl ManualClock {
    pub fn at(t: SystemTime) -> Arc<ManualClock> {
        Arc::new(ManualClock(Mutex::new(t)))
    }

    pub fn set(&self, t: SystemTime) {
        *self.0.lock().unwrap() = t;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

/// One request as the stand-in saw it.
#[derive(Clone, Debug)]
pub(super) struct Recorded {
    pub method: Method,
    /// Path and query.
    pub target: String,
    pub headers: HeaderMap,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A form field of the (urlencoded) body, decoded.
    pub fn form(&self, key: &str) -> Option<String> {
        self.body.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k == key).then(|| {
                percent_encoding::percent_decode_str(&v.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            })
        })
    }
}

type Respond = dyn Fn(&Recorded, usize) -> (u16, String) + Send + Sync;

/// A recording HTTP server; `respond` gets each request and its index (from 0).
pub(super) struct StandIn {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Recorded>>>,
}

impl StandIn {
    pub async fn start(
        respond: impl Fn(&Recorded, usize) -> (u16, String) + Send + Sync + 'static,
    ) -> StandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let respond: Arc<Respond> = Arc::new(respond);
        let server_log = Arc::clone(&log);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (log, respond) = (Arc::clone(&server_log), Arc::clone(&respond));
                let svc = service_fn(move |req: Request<Incoming>| {
                    let (log, respond) = (Arc::clone(&log), Arc::clone(&respond));
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await.map(|b| b.to_bytes());
                        let rec = Recorded {
                            method: parts.method,
                            target: parts
                                .uri
                                .path_and_query()
                                .map_or("/".into(), |p| p.to_string()),
                            headers: parts.headers,
                            body: String::from_utf8_lossy(&body.unwrap_or_default()).into(),
                        };
                        let index = {
                            let mut log = log.lock().unwrap();
                            log.push(rec.clone());
                            log.len() - 1
                        };
                        let (status, text) = respond(&rec, index);
                        Ok::<_, Infallible>(
                            Response::builder()
                                .status(status)
                                .body(Full::new(Bytes::from(text)))
                                .unwrap(),
                        )
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc),
                );
            }
        });
        StandIn { addr, log }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.log.lock().unwrap().len()
    }
}

/// Polls `cond` while letting the runtime (and, with paused time, the timers) run;
/// bounded so a broken refresh fails the test instead of hanging it.
pub(super) async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..300 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Lets the refresh task see a tick: tokio time moves past one check interval.
pub(super) async fn next_tick() {
    tokio::time::advance(super::CHECK_EVERY + Duration::from_millis(1)).await;
}
