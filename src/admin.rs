//! The admin listener: its own address, never the public one. `/healthz`, `/readyz`,
//! `/metrics` (Prometheus text), and two endpoints that answer only to loopback peers:
//! `GET /config` (the effective config, secrets redacted) and `POST /cache/purge` (a
//! pod-address listener used for probes and scrapes must not let the network read the
//! config or empty the cache).
//!
//! Readiness ([`Health`]) lives here too: the process is ready once a config is loaded
//! (an `App` cannot exist without one) and until a stop is requested, and every
//! registered [`ReadyCheck`] passes.
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use percent_encoding::percent_decode_str;
use tokio::net::TcpListener;

use crate::proxy::Shared;
use crate::upstream::{full, Body};

/// Serves the admin endpoints until `shutdown` resolves.
pub async fn run(listener: TcpListener, shared: Arc<Shared>, shutdown: impl Future<Output = ()>) {
    let builder = auto::Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("admin accept failed: {e}");
                    continue;
                }
            },
            () = &mut shutdown => return,
        };
        let shared = shared.clone();
        let service = service_fn(move |req| {
            let shared = shared.clone();
            async move { Ok::<_, Infallible>(handle(&shared, peer, req).await) }
        });
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
}

/// A readiness condition beyond "config loaded, not draining": `Err` says why not.
pub type ReadyCheck = Box<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Readiness state, shared by the public listener's shutdown and `/readyz`.
#[derive(Default)]
pub struct Health {
    /// Set when a stop was requested: `/readyz` fails so the load balancer moves
    /// traffic away while the listener still accepts.
    draining: AtomicBool,
    /// HOOK: signing sites will register "credentials loaded" here, so a pod is not
    /// ready before it can sign.
    checks: RwLock<Vec<(String, ReadyCheck)>>,
}

impl Health {
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Adds a condition `/readyz` checks on every probe.
    pub fn add_check(&self, name: impl Into<String>, check: ReadyCheck) {
        self.checks
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push((name.into(), check));
    }

    /// `Ok` when ready; otherwise every reason it is not.
    pub fn ready(&self) -> Result<(), String> {
        if self.is_draining() {
            return Err("draining: shutting down".into());
        }
        let checks = self.checks.read().unwrap_or_else(|p| p.into_inner());
        let failed: Vec<String> = checks
            .iter()
            .filter_map(|(name, check)| check().err().map(|e| format!("{name}: {e}")))
            .collect();
        if failed.is_empty() {
            Ok(())
        } else {
            Err(failed.join("\n"))
        }
    }
}

/// Loopback, including an IPv4 loopback peer seen through a dual-stack `[::]` listener
/// (`::ffff:127.0.0.1`).
fn is_loopback(peer: SocketAddr) -> bool {
    peer.ip().to_canonical().is_loopback()
}

async fn handle(shared: &Shared, peer: SocketAddr, req: Request<Incoming>) -> Response<Body> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/healthz") => text(StatusCode::OK, "ok"),
        (&Method::GET, "/readyz") => match shared.health.ready() {
            Ok(()) => text(StatusCode::OK, "ready"),
            Err(why) => text(StatusCode::SERVICE_UNAVAILABLE, &why),
        },
        (&Method::GET, "/metrics") => {
            let body = shared.metrics.render(shared.cache.as_ref());
            let mut r = text(StatusCode::OK, "");
            *r.body_mut() = full(body);
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        (&Method::GET, "/config") => {
            if !is_loopback(peer) {
                return text(StatusCode::FORBIDDEN, "config answers on loopback only");
            }
            let gw = shared.current.load_full();
            let mut doc = crate::config::effective::to_json(&gw.config);
            doc["hash"] = shared.metrics.config_hash().into();
            let body = serde_json::to_string_pretty(&doc).unwrap_or_default();
            let mut r = text(StatusCode::OK, "");
            *r.body_mut() = full(body + "\n");
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r
        }
        (&Method::POST, "/cache/purge") => {
            if !is_loopback(peer) {
                return text(StatusCode::FORBIDDEN, "purge answers on loopback only");
            }
            let Some(cache) = &shared.cache else {
                return text(StatusCode::NOT_FOUND, "no cache is configured");
            };
            let q = Purge::parse(req.uri().query().unwrap_or(""));
            let (path, prefix) = match (&q.path, &q.prefix) {
                (Some(p), None) => (p.as_str(), false),
                (None, Some(p)) => (p.as_str(), true),
                _ => {
                    return text(
                        StatusCode::BAD_REQUEST,
                        "give exactly one of path= or prefix=",
                    )
                }
            };
            if !path.starts_with('/') {
                return text(StatusCode::BAD_REQUEST, "a path starts with /");
            }
            match cache.purge(q.site.as_deref(), path, prefix) {
                Ok(()) => {
                    tracing::info!(site = q.site.as_deref(), path, prefix, "cache purged");
                    text(StatusCode::OK, "purged")
                }
                Err(e) => text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("purge failed: {e}"),
                ),
            }
        }
        _ => text(StatusCode::NOT_FOUND, "not found"),
    }
}

/// `site=`, `path=` and `prefix=` from a purge query, percent-decoded.
#[derive(Debug, Default, PartialEq, Eq)]
struct Purge {
    site: Option<String>,
    path: Option<String>,
    prefix: Option<String>,
}

impl Purge {
    fn parse(query: &str) -> Purge {
        let mut p = Purge::default();
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode_str(v).decode_utf8_lossy().into_owned();
            match k {
                "site" => p.site = Some(v),
                "path" => p.path = Some(v),
                "prefix" => p.prefix = Some(v),
                _ => {}
            }
        }
        p
    }
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut r = Response::new(full(format!("{body}\n")));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Asks a running gateway's admin listener to purge (the `corsgate purge` command).
pub async fn request_purge(
    admin: SocketAddr,
    site: Option<&str>,
    path: &str,
    prefix: bool,
) -> Result<String, String> {
    use http_body_util::BodyExt;
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    let enc = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
    let mut target = format!(
        "/cache/purge?{}={}",
        if prefix { "prefix" } else { "path" },
        enc(path)
    );
    if let Some(site) = site {
        target.push_str(&format!("&site={}", enc(site)));
    }
    let stream = tokio::net::TcpStream::connect(admin)
        .await
        .map_err(|e| format!("cannot reach the admin listener at {admin}: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let req = Request::post(target)
        .header(header::HOST, admin.to_string())
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let text = String::from_utf8_lossy(&body).trim().to_owned();
    if status.is_success() {
        Ok(text)
    } else {
        Err(format!("{status}: {text}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purge_query_is_decoded() {
        assert_eq!(
            Purge::parse("site=demo&prefix=%2Fimg%2F%20x&other=1"),
            Purge {
                site: Some("demo".into()),
                path: None,
                prefix: Some("/img/ x".into()),
            }
        );
        assert_eq!(Purge::parse(""), Purge::default());
    }

    #[test]
    fn loopback_includes_mapped_ipv4() {
        let peer = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(is_loopback(peer("127.0.0.1:5")));
        assert!(is_loopback(peer("[::1]:5")));
        assert!(is_loopback(peer("[::ffff:127.0.0.1]:5")));
        assert!(!is_loopback(peer("10.0.0.7:5")));
        assert!(!is_loopback(peer("[::ffff:10.0.0.7]:5")));
    }

    #[test]
    fn readiness_fails_while_draining_or_a_check_fails() {
        let h = Health::default();
        assert!(h.ready().is_ok());
        let creds = Arc::new(AtomicBool::new(false));
        let seen = creds.clone();
        h.add_check(
            "credentials",
            Box::new(move || {
                if seen.load(Ordering::SeqCst) {
                    Ok(())
                } else {
                    Err("not loaded yet".into())
                }
            }),
        );
        assert_eq!(h.ready(), Err("credentials: not loaded yet".into()));
        creds.store(true, Ordering::SeqCst);
        assert!(h.ready().is_ok());
        h.start_draining();
        assert!(h.ready().unwrap_err().starts_with("draining"));
    }
}
