//! The request pipeline. Its phases, in this fixed order so later features slot in
//! without holes:
//!
//! 1. route by host (421 for an unknown host) and refuse malformed targets (400);
//! 2. preflight answer, always local, never forwarded or authenticated;
//! 3. access control: who may use a private-bucket site, and for which operations;
//! 4. enforce gate: a cross-origin request no rule allows is refused here;
//! 5. cache: origin-neutral entries, CORS computed per hit;
//! 6. signing: SigV4 with the site's credentials, in the forward step;
//! 7. forward to the site's upstream, bodies streaming both ways;
//! 8. decorate the response: upstream CORS headers out, ours in, Vary merged.
//!
//! A [`Gateway`] is one immutable config snapshot with everything built from it; the
//! [`Shared`] state holds the current one behind an `ArcSwap`, so a reload is a
//! pointer swap and requests in flight finish on the snapshot they started with.
mod access_log;
mod body_timeout;
mod cached;
mod fields;
mod forward;
pub mod headers;
pub mod path;
pub mod private;
pub mod route;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use http::header::{self, HeaderName, HeaderValue};
use http::uri::{Authority, Scheme};
use http::{Method, Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use tokio::time::Instant;

use crate::access as access_control;
use crate::access::jwt::JwtVerifier;
use crate::cache::{CacheStatus, ResponseCache, SiteCache};
use crate::config::{Config, Site, UpstreamSpec};
use crate::cors::{self, Actual, LocalAnswer, Mode, Resource};
use crate::metrics::SiteMetrics;
use crate::upstream::file::FileBucket;
use crate::upstream::http::HttpUpstream;
use crate::upstream::{full, sign, Body};
use access_log::{Entry, Logged, RequestId};
use fields::{Fields, Single};
use forward::Target;
use private::{Keyring, SitePrivate};
use route::Router;

/// Where one site's requests go, built from its [`UpstreamSpec`].
enum Backend {
    Http {
        client: Box<HttpUpstream>,
        scheme: Scheme,
        authority: Authority,
        base_path: String,
    },
    File(FileBucket),
}

/// One config snapshot and everything built from it.
pub struct Gateway {
    pub config: Arc<Config>,
    router: Router,
    /// Same order as `config.sites`.
    backends: Vec<Backend>,
    /// Access policies and signers; same order as `config.sites`.
    private: Vec<SitePrivate>,
    /// Request metrics handles; same order as `config.sites`.
    metrics: Vec<SiteMetrics>,
}

impl Gateway {
    /// Builds the snapshot. `verifiers` are the JWT verifiers of the sites that need one
    /// (from [`Keyring::verifiers`], which is async); credentials come from `keyring`.
    pub fn new(
        config: Arc<Config>,
        keyring: &Keyring,
        mut verifiers: HashMap<usize, Arc<JwtVerifier>>,
    ) -> std::io::Result<Gateway> {
        let mut backends = Vec::with_capacity(config.sites.len());
        let mut private = Vec::with_capacity(config.sites.len());
        for (i, site) in config.sites.iter().enumerate() {
            private.push(SitePrivate::build(site, keyring, verifiers.remove(&i))?);
            backends.push(match &site.upstream {
                UpstreamSpec::Http {
                    scheme,
                    authority,
                    base_path,
                } => Backend::Http {
                    client: Box::new(HttpUpstream::new(
                        config.pool,
                        site.connect_timeout,
                        site.first_byte_timeout,
                    )?),
                    scheme: scheme.clone(),
                    authority: authority.clone(),
                    base_path: base_path.clone(),
                },
                UpstreamSpec::File { root, writable } => {
                    Backend::File(FileBucket::new(root.clone(), *writable)?)
                }
            });
        }
        Ok(Gateway {
            router: Router::new(&config.sites),
            metrics: config
                .sites
                .iter()
                .map(|s| SiteMetrics::new(&s.name))
                .collect(),
            config,
            backends,
            private,
        })
    }

    /// Readiness of the signing sites: `Err` names those without valid credentials.
    pub fn credentials_ready(&self) -> Result<(), String> {
        let missing: Vec<&str> = self
            .private
            .iter()
            .zip(&self.config.sites)
            .filter(|(p, _)| p.signer.as_ref().is_some_and(|s| !s.credentials.is_ready()))
            .map(|(_, site)| site.name.as_str())
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "no valid credentials yet for site(s) {}",
                missing.join(", ")
            ))
        }
    }

    /// The host → site table this snapshot routes by (the https redirect checks hosts
    /// with it too).
    pub fn router(&self) -> &Router {
        &self.router
    }
}

/// State shared by every connection.
pub struct Shared {
    /// The config in force; swapped whole on reload.
    pub current: ArcSwap<Gateway>,
    /// Source of request ids (S3's `RequestId`, log correlation).
    next_id: AtomicU64,
    /// Mixed into request ids so two processes' logs don't collide.
    id_salt: u64,
    /// The response cache, when any site uses one. It outlives config snapshots:
    /// entries are origin-neutral, so a rule change needs no purge.
    pub cache: Option<ResponseCache>,
    /// This gateway's Prometheus registry; outlives config snapshots so counters
    /// survive reloads.
    pub metrics: crate::metrics::Metrics,
    /// Readiness for `/readyz`; the shutdown sequence marks it draining.
    pub health: crate::admin::Health,
    /// Credential handles of signing sites; outlives snapshots like the cache.
    pub keyring: Arc<Keyring>,
}

impl Shared {
    pub fn new(gateway: Gateway, cache: Option<ResponseCache>, keyring: Arc<Keyring>) -> Shared {
        let salt = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Shared {
            current: ArcSwap::from_pointee(gateway),
            next_id: AtomicU64::new(1),
            id_salt: salt << 20,
            cache,
            metrics: crate::metrics::Metrics::new(),
            health: crate::admin::Health::default(),
            keyring,
        }
    }

    fn request_id(&self) -> RequestId {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        RequestId::new(self.id_salt ^ n)
    }
}

/// What the server knows about the connection a request came on.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    /// "http" or "https".
    pub proto: &'static str,
}

/// A request's answer: complete, or still waiting on the upstream.
pub enum Handled {
    /// Answered without I/O: a preflight, a refusal, a fresh cache hit.
    Ready(Response<Body>),
    /// Needs the upstream; the future owns everything it uses.
    Pending(Pin<Box<dyn Future<Output = Response<Body>> + Send>>),
}

/// Handles one request through every phase. Never fails: every error is a response.
///
/// Phases 1-5 are decisions and a cache lookup, none of which waits, so they run here,
/// synchronously; only a request that needs the upstream gets a future. That keeps an
/// answer without I/O free of a future's allocation and moves, and, more subtly, lets
/// hyper reuse its read buffer: right after taking a request hyper reads the socket
/// again (to notice a client hanging up), and while any of the request's head is alive
/// (its header values share that buffer) that read must allocate a new one.
pub fn handle(shared: &Arc<Shared>, conn: ConnInfo, req: Request<Incoming>) -> Handled {
    let gw = shared.current.load_full();
    let mut entry = Entry::new(gw.config.log.access_log, shared.request_id(), &req);
    // Only the log line reads this (its `ms`): no clock read without the log.
    let started = entry.enabled().then(Instant::now);
    match decide(shared, &gw, conn, req, &mut entry) {
        Step::Answer(resp) => Handled::Ready(finish(shared, &gw, entry, started, resp)),
        Step::Upstream(job) => {
            let shared = shared.clone();
            Handled::Pending(Box::pin(async move {
                let resp = job.run(&shared, &gw, &mut entry).await;
                finish(&shared, &gw, entry, started, resp)
            }))
        }
    }
}

/// Records the finished request (metrics, log) and adds the request id.
fn finish(
    shared: &Shared,
    gw: &Gateway,
    mut entry: Entry,
    started: Option<Instant>,
    mut resp: Response<Body>,
) -> Response<Body> {
    entry.status = resp.status().as_u16();
    // Counted when the head is decided, not when the body ends, so the numbers do not
    // depend on the access log being on or on clients reading to the end.
    record_metrics(shared, gw, &entry);
    // Set exactly when the log is on.
    let Some(started) = started else {
        return resp;
    };
    // The id correlates a response with its log line; without the log it has no use.
    if let Ok(v) = HeaderValue::from_str(entry.request_id.as_str()) {
        resp.headers_mut()
            .insert(HeaderName::from_static("x-request-id"), v);
    }
    let (parts, body) = resp.into_parts();
    Response::from_parts(parts, Logged::wrap(body, entry, started))
}

/// What the synchronous phases decided.
enum Step {
    Answer(Response<Body>),
    Upstream(Box<Job>),
}

/// A request on its way to the upstream (phases 5-8), owning all it needs.
struct Job {
    site: usize,
    conn: ConnInfo,
    /// The Host the client asked for.
    host: Option<String>,
    via: Via,
    stall: body_timeout::Stall,
    decoration: cors::Decoration,
    started: Instant,
}

enum Via {
    Direct(Request<Body>),
    Cache {
        cache: ResponseCache,
        policy: SiteCache,
        pending: Box<cached::Pending>,
    },
}

/// Phases 1-5, up to the point where only the upstream can answer.
fn decide(
    shared: &Shared,
    gw: &Arc<Gateway>,
    conn: ConnInfo,
    req: Request<Incoming>,
    entry: &mut Entry,
) -> Step {
    // Phase 1: route and sanity-check.
    let h = req.headers();
    let fields = Fields::of(h);
    let host = match request_host(&req, fields.host) {
        Ok(h) => h,
        Err(why) => return Step::Answer(plain(StatusCode::BAD_REQUEST, why)),
    };
    entry.record(|e| e.host = host.clone().unwrap_or_default());
    let Some(site_idx) = gw.router.route(host.as_deref()) else {
        entry.record(|e| e.cors = "unknown-host".into());
        return Step::Answer(plain(StatusCode::MISDIRECTED_REQUEST, "unknown host"));
    };
    let site: &Site = &gw.config.sites[site_idx];
    entry.record(|e| e.site = site.name.clone());
    entry.site_index = Some(site_idx);
    if let Err(e) = path::check(req.uri().path()) {
        return Step::Answer(plain(StatusCode::BAD_REQUEST, &e.to_string()));
    }
    let (origin, acrm) = match (fields.origin.get(), fields.request_method.get()) {
        (Ok(o), Ok(m)) => (o.cloned(), m.cloned()),
        _ => {
            return Step::Answer(plain(
                StatusCode::BAD_REQUEST,
                "Origin and Access-Control-Request-Method may appear once",
            ))
        }
    };
    let acrh = fields.request_headers(h);
    entry.record(|e| {
        e.origin = origin
            .as_ref()
            .map(|o| String::from_utf8_lossy(o.as_bytes()).into_owned())
    });
    let policy = site.cors.as_deref();

    // Phase 2: preflight. In s3 mode S3 treats every OPTIONS as one.
    let is_preflight = req.method() == Method::OPTIONS
        && (site.mode == Mode::S3 || (origin.is_some() && acrm.is_some()));
    if is_preflight {
        let answer = cors::answer_preflight(
            policy,
            site.mode,
            &cors::PreflightInput {
                origin: origin.as_ref(),
                request_method: acrm.as_ref(),
                request_headers: acrh.as_ref(),
                resource: resource(req.uri().path()),
                request_id: entry.request_id.as_str(),
            },
        );
        entry.record(|e| e.cors = answer.outcome.to_string());
        entry.preflight = true;
        entry.outcome = Some(answer.outcome.clone());
        return Step::Answer(local(answer));
    }

    // Phase 3: access control. Judged before the enforce gate, answered after it, so a
    // refusal carries CORS headers when the origin is allowed (the page can read it).
    let denied = match &gw.private[site_idx].access {
        None => None,
        Some(policy) => access_control::check(
            policy,
            req.method(),
            req.uri(),
            req.headers(),
            shared.keyring.clock.now(),
        )
        .err(),
    };
    let signer = gw.private[site_idx].signer.as_ref();
    let unsignable = signer.and_then(|_| sign::Payload::of(req.headers()).err());

    // Phase 4: the enforce gate (s3 mode never refuses).
    let decision = cors::check_actual(
        policy,
        site.mode,
        &cors::ActualInput {
            origin: origin.as_ref(),
            method: req.method(),
            request_method: acrm.as_ref(),
            request_headers: acrh.as_ref(),
            host: host.as_deref(),
            request_id: entry.request_id.as_str(),
        },
    );
    let decoration = match decision {
        Actual::Refuse(answer) => {
            entry.record(|e| e.cors = answer.outcome.to_string());
            entry.outcome = Some(answer.outcome.clone());
            return Step::Answer(local(answer));
        }
        Actual::Forward(d) => d,
    };
    let outcome = decoration.outcome();
    entry.record(|e| e.cors = outcome.to_string());
    entry.outcome = Some(outcome);
    if let Some(d) = denied {
        tracing::info!(site = %site.name, kind = d.kind.as_str(), "access denied: {}", d.reason);
        entry.record(|e| e.error = Some(format!("access denied ({})", d.kind.as_str())));
        entry.access_denied = Some(d.kind.as_str());
        let mut resp = plain(d.status, &d.reason);
        if let Some(challenge) = d.www_authenticate() {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        decoration.apply(resp.headers_mut());
        return Step::Answer(resp);
    }
    if let Some(e) = unsignable {
        entry.record(|en| en.error = Some(e.to_string()));
        let mut resp = plain(StatusCode::BAD_REQUEST, &e.to_string());
        decoration.apply(resp.headers_mut());
        return Step::Answer(resp);
    }

    // Phase 5: the cache; a fresh hit is the answer.
    let (req, stall) = body_timeout::wrap(req, gw.config.limits.request_body_timeout);
    let via = match (&shared.cache, site.cache) {
        (Some(cache), Some(policy)) => {
            match cached::lookup(cache, policy, &site.name, req, &decoration) {
                Ok(hit) => {
                    entry.cache = Some(CacheStatus::Hit);
                    return Step::Answer(hit);
                }
                Err(pending) => Via::Cache {
                    cache: cache.clone(),
                    policy,
                    pending,
                },
            }
        }
        _ => Via::Direct(req),
    };
    Step::Upstream(Box::new(Job {
        site: site_idx,
        conn,
        host,
        via,
        stall,
        decoration,
        started: Instant::now(),
    }))
}

impl Job {
    /// Phases 6-8: through the cache's fill or straight to the upstream, then decorated.
    async fn run(self, shared: &Shared, gw: &Arc<Gateway>, entry: &mut Entry) -> Response<Body> {
        let target = Target {
            gw,
            site: self.site,
            conn: self.conn,
            host: self.host.as_deref(),
        };
        let (result, cache_status) = match self.via {
            Via::Direct(req) => (target.forward(req).await, None),
            Via::Cache {
                cache,
                policy,
                pending,
            } => cached::fetch(&cache, policy, &target, pending).await,
        };
        let resp = match self.stall.verdict(result) {
            Ok(r) => r,
            Err(e) => {
                let site = &gw.config.sites[self.site].name;
                tracing::warn!(%site, kind = e.kind(), "upstream: {e}");
                entry.record(|en| en.error = Some(e.to_string()));
                entry.upstream_error = Some(e.kind());
                plain(e.status(), e.public_reason())
            }
        };
        // A fill may find that another request has just stored the answer.
        if cache_status != Some(CacheStatus::Hit) {
            let elapsed = self.started.elapsed();
            entry.record(|e| {
                e.upstream_status = Some(resp.status().as_u16());
                e.upstream_ms = Some(elapsed.as_millis());
            });
            entry.upstream_latency = Some(elapsed);
        }
        decorate(shared, resp, cache_status, self.decoration, entry)
    }
}

/// Phase 8: the cache status header, then CORS, whatever the status. (A fresh hit is
/// decorated by the cache, see `cache::hit`.)
fn decorate(
    shared: &Shared,
    mut resp: Response<Body>,
    cache_status: Option<CacheStatus>,
    decoration: cors::Decoration,
    entry: &mut Entry,
) -> Response<Body> {
    if let (Some(cache), Some(status)) = (&shared.cache, cache_status) {
        resp.headers_mut()
            .insert(cache.config().status_header.clone(), status.header_value());
        entry.cache = Some(status);
    }
    decoration.apply(resp.headers_mut());
    resp
}

/// Hands the finished entry to the metrics (their one recording point).
fn record_metrics(shared: &Shared, gw: &Gateway, entry: &Entry) {
    let site = entry.site_index.and_then(|i| gw.config.sites.get(i));
    let handles = entry.site_index.and_then(|i| gw.metrics.get(i));
    shared.metrics.record_request(
        handles,
        &crate::metrics::RequestRecord {
            method: entry.verb.as_str(),
            preflight: entry.preflight,
            status: entry.status,
            cors: entry.outcome.as_ref(),
            policy: site.and_then(|s| s.cors.as_deref()),
            cache: entry.cache,
            upstream_latency: entry.upstream_latency,
            upstream_error: entry.upstream_error,
            access_denied: entry.access_denied,
        },
    );
}

/// The host a request is for: the URI authority (absolute-form target or HTTP/2
/// `:authority`), else the one `Host` header. HTTP/1.1 requires a Host (RFC 9112 §3.2).
fn request_host(req: &Request<Incoming>, host: Single<'_>) -> Result<Option<String>, &'static str> {
    if let Some(a) = req.uri().authority() {
        return Ok(Some(a.as_str().to_owned()));
    }
    match host.get() {
        Err(_) => Err("more than one Host header"),
        Ok(None) if req.version() == Version::HTTP_11 => Err("missing Host header"),
        Ok(None) => Ok(None),
        Ok(Some(v)) => match v.to_str() {
            Ok(s) if !s.is_empty() => Ok(Some(s.to_owned())),
            _ => Err("invalid Host header"),
        },
    }
}

fn resource(path: &str) -> Resource {
    if path::names_object(path) {
        Resource::Object
    } else {
        Resource::Bucket
    }
}

fn local(answer: LocalAnswer) -> Response<Body> {
    let mut resp = Response::new(full(answer.body));
    *resp.status_mut() = answer.status;
    *resp.headers_mut() = answer.headers;
    resp
}

/// A short plain-text answer of the gateway's own.
fn plain(status: StatusCode, reason: &str) -> Response<Body> {
    let mut resp = Response::new(full(format!("{reason}\n")));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}
