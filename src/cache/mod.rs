//! The response cache: origin-neutral entries in a byte-bounded moka cache.
//!
//! Immune to the CloudFront trap by construction: an entry never holds CORS headers
//! (the upstream's are stripped before storing, ours are computed per request on every
//! hit from the current rules), and its key holds no Origin (see `key.rs`). So a
//! response fetched for origin A, or for no origin, can be replayed to origin B: it
//! carries nothing that depends on the origin. It sits after access control and the
//! enforce gate in the pipeline, so a hit never skips a check. (An entry may also keep
//! the finished head of a hit, for reuse only by hits whose own decoration writes the
//! same bytes: see `serve.rs`.)
//!
//! Concurrent misses for one key share one upstream fetch (`fill`). The fetch runs in its
//! own task, shared through a `futures::future::Shared`; it is aborted only when the last
//! waiter has gone, so one client leaving never fails the others.
pub mod freshness;
pub mod key;
mod serve;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use futures_util::future::{FutureExt, WeakShared};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;

use crate::representation::conditional::Validators;
use crate::upstream::http::UpstreamError;
use crate::upstream::{Body, BoxError};
use freshness::{RequestFacts, Timing};

pub use serve::{hit, respond, shapes_answer};

pub use crate::clock::{Clock, SystemClock};

/// Process-wide cache settings.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Bound on everything stored (bodies, headers, keys).
    pub max_bytes: u64,
    /// Larger objects stream through uncached.
    pub max_object_bytes: u64,
    /// The response header that says HIT, MISS, REVALIDATED or BYPASS.
    pub status_header: HeaderName,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_bytes: 256 << 20,
            max_object_bytes: 8 << 20,
            status_header: HeaderName::from_static("x-cache"),
        }
    }
}

/// Per-site cache policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SiteCache {
    /// Freshness for responses with validators but no freshness information.
    pub default_ttl: Option<Duration>,
    /// Store responses to requests the client sent with Authorization, a cookie or a
    /// presigned query (only where the response also allows it, RFC 9111 §3.5).
    pub credentialed: bool,
}

/// What the cache did for a response; sent in the status header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    Hit,
    Miss,
    Revalidated,
    Bypass,
}

impl CacheStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "HIT",
            CacheStatus::Miss => "MISS",
            CacheStatus::Revalidated => "REVALIDATED",
            CacheStatus::Bypass => "BYPASS",
        }
    }

    pub fn header_value(self) -> HeaderValue {
        HeaderValue::from_static(self.as_str())
    }
}

/// A stored response: a full 200, without CORS or hop-by-hop headers.
#[derive(Debug)]
pub struct Entry {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub timing: Timing,
    /// Judged once at store time so a hit parses no header: the entry is fresh while
    /// its resident time is under this (RFC 9111 §4.2: lifetime − corrected initial age),
    /// `None` when it must be revalidated before every use.
    fresh_for: Option<Duration>,
    /// The corrected initial age (RFC 9111 §4.2.3), to which resident time is added.
    initial_age: Duration,
    /// ETag and Last-Modified, for the preconditions a hit answers.
    pub validators: Validators,
    /// Finished heads of plain hits, by decoration (see `serve.rs`).
    heads: serve::Heads,
}

impl Entry {
    /// Every entry is built here, so none ever holds a CORS or hop-by-hop field: a hit
    /// adds ours without looking for upstream ones.
    fn new(
        mut headers: HeaderMap,
        body: Bytes,
        timing: Timing,
        default_ttl: Option<Duration>,
    ) -> Entry {
        strip_unstorable(&mut headers);
        let at_store = timing.response_time;
        let initial_age = freshness::current_age(&headers, timing, at_store);
        let fresh_for = freshness::is_fresh(&headers, timing, at_store, default_ttl)
            .then(|| freshness::freshness_lifetime(&headers, at_store, default_ttl))
            .flatten()
            .and_then(|lifetime| lifetime.checked_sub(initial_age));
        let validators = serve::validators(&headers);
        Entry {
            headers: serve::with_room(headers),
            body,
            timing,
            fresh_for,
            initial_age,
            validators,
            heads: Default::default(),
        }
    }

    /// Time spent in this cache so far.
    fn resident(&self, now: SystemTime) -> Duration {
        now.duration_since(self.timing.response_time)
            .unwrap_or_default()
    }

    /// RFC 9111 §4.2.3 current_age: the corrected initial age plus resident time.
    pub fn age(&self, now: SystemTime) -> Duration {
        self.initial_age + self.resident(now)
    }

    /// Counted at insert, so it reserves room for every head the entry may keep later.
    fn weight(&self, key: &str) -> u32 {
        let headers = serve::weight(&self.headers);
        let heads = serve::HEADS * (headers + serve::HEAD_EXTRA_WEIGHT);
        u32::try_from(self.body.len() + headers + heads + key.len() + 128).unwrap_or(u32::MAX)
    }

    pub fn is_fresh(&self, now: SystemTime) -> bool {
        self.fresh_for.is_some_and(|f| self.resident(now) < f)
    }
}

/// Sends a request to the site's upstream. The cache calls it from its own task.
pub type Fetch = Box<dyn FnOnce(Request<Body>) -> FetchFuture + Send>;
pub type FetchFuture = Pin<Box<dyn Future<Output = Result<Response<Body>, UpstreamError>> + Send>>;

/// How a shared fetch ended, as every waiter sees it.
#[derive(Clone)]
enum Filled {
    /// The entry and the full key it was stored under.
    Stored(Arc<Entry>, Arc<str>, CacheStatus),
    /// Not storable: the live response is in the slot for the first waiter to take;
    /// the others go upstream on their own.
    Passthrough(Arc<Mutex<Option<Response<Body>>>>),
    Failed(Arc<UpstreamError>),
}

/// What a caller gets from [`ResponseCache::fill`].
pub enum FillOutcome {
    Entry(Arc<Entry>, CacheStatus),
    /// This caller took the live, uncacheable response.
    Live(Response<Body>),
    /// Someone else took it: forward on your own.
    Bypass,
    Failed(Arc<UpstreamError>),
}

/// The fetch task; aborted when dropped, i.e. when the last waiter has gone.
struct FillTask {
    task: tokio::task::JoinHandle<Filled>,
    /// To forget the in-flight record once nobody can join any more.
    key: String,
    inner: std::sync::Weak<Inner>,
}

impl Future for FillTask {
    type Output = Filled;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Filled> {
        Pin::new(&mut self.task).poll(cx).map(|r| {
            r.unwrap_or_else(|e| {
                Filled::Failed(Arc::new(UpstreamError::Failed(format!(
                    "cache fill task: {e}"
                ))))
            })
        })
    }
}

impl Drop for FillTask {
    fn drop(&mut self) {
        self.task.abort();
        // The last waiter is gone, so the record is dead unless a newer fill for the same
        // key replaced it.
        if let Some(inner) = self.inner.upgrade() {
            let mut inflight = inner.inflight.lock().unwrap_or_else(|p| p.into_inner());
            if inflight
                .get(&self.key)
                .is_some_and(|w| w.upgrade().is_none())
            {
                inflight.remove(&self.key);
            }
        }
    }
}

struct Inner {
    entries: moka::sync::Cache<String, Arc<Entry>>,
    /// Primary key → the Vary names its stored response keys on.
    vary: moka::sync::Cache<String, Arc<[HeaderName]>>,
    inflight: Mutex<HashMap<String, WeakShared<FillTask>>>,
    /// Entries dropped to stay within `max_bytes`, for the evictions metric (the cache
    /// knows nothing of metrics; `/metrics` reads this at scrape time).
    evictions: Arc<AtomicU64>,
    /// Bumped by every purge; a fill that started before it must not store what it
    /// fetched (it may be the object a PUT just replaced).
    generation: AtomicU64,
    config: CacheConfig,
    clock: Arc<dyn Clock>,
}

/// The cache, shared by every site that has it on; survives config reloads.
#[derive(Clone)]
pub struct ResponseCache {
    inner: Arc<Inner>,
}

/// A request's place in the cache: its full key and the entry there, if any.
pub struct Slot {
    primary: String,
    /// The Vary names the key was made with (empty when none are known).
    vary: Option<Arc<[HeaderName]>>,
    /// The full key, `None` when it is the primary key (no Vary names).
    full: Option<String>,
    pub entry: Option<Arc<Entry>>,
}

impl Slot {
    pub fn vary(&self) -> &[HeaderName] {
        self.vary.as_deref().unwrap_or(&[])
    }

    pub fn key(&self) -> &str {
        self.full.as_deref().unwrap_or(&self.primary)
    }

    /// The entry, when it is fresh at `now`.
    pub fn fresh(&self, now: SystemTime) -> Option<&Arc<Entry>> {
        self.entry.as_ref().filter(|e| e.is_fresh(now))
    }
}

impl ResponseCache {
    pub fn new(config: CacheConfig, clock: Arc<dyn Clock>) -> ResponseCache {
        let evictions = Arc::new(AtomicU64::new(0));
        let counted = evictions.clone();
        let entries = moka::sync::Cache::builder()
            .max_capacity(config.max_bytes)
            .weigher(|k: &String, v: &Arc<Entry>| v.weight(k))
            .eviction_policy(moka::policy::EvictionPolicy::lru())
            .support_invalidation_closures()
            // Purges and replacements are not evictions: only size pressure counts.
            .eviction_listener(move |_k, _v, cause| {
                if cause.was_evicted() {
                    counted.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build();
        let vary = moka::sync::Cache::builder().max_capacity(100_000).build();
        ResponseCache {
            inner: Arc::new(Inner {
                entries,
                vary,
                inflight: Mutex::new(HashMap::new()),
                evictions,
                generation: AtomicU64::new(0),
                config,
                clock,
            }),
        }
    }

    pub fn config(&self) -> &CacheConfig {
        &self.inner.config
    }

    pub fn now(&self) -> SystemTime {
        self.inner.clock.now()
    }

    /// Finds the request's entry (by the Vary names its primary key last stored).
    ///
    /// A response that names no Vary is stored under the primary key itself, and one
    /// that does never is (its full key is longer), so an entry found there answers
    /// any request for the target: the common case costs one lookup.
    pub fn lookup(&self, site: &str, req: &Parts) -> Slot {
        let target = req.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let primary = key::primary(site, target);
        if let Some(entry) = self.inner.entries.get(&primary) {
            return Slot {
                primary,
                vary: None,
                full: None,
                entry: Some(entry),
            };
        }
        let names = self.inner.vary.get(&primary);
        let full = names
            .as_deref()
            .filter(|n| !n.is_empty())
            .map(|n| key::full(&primary, n, &req.headers));
        let entry = match &full {
            Some(k) => self.inner.entries.get(k),
            None => None,
        };
        Slot {
            primary,
            vary: names,
            full,
            entry,
        }
    }

    /// Fetches `request` for `slot` once for all concurrent callers, stores the response
    /// when RFC 9111 allows it, and tells each caller what to serve. With a stale entry
    /// in the slot the fetch is a revalidation (If-None-Match / If-Modified-Since).
    ///
    /// `client` are the caller's own request headers: a waiter whose Vary values differ
    /// from the fill request's gets [`FillOutcome::Bypass`]. With `join = false` the
    /// fetch is this caller's alone.
    #[allow(clippy::too_many_arguments)]
    pub async fn fill(
        &self,
        slot: &Slot,
        mut request: Request<Body>,
        client: &HeaderMap,
        join: bool,
        facts: RequestFacts,
        site: SiteCache,
        fetch: Fetch,
    ) -> FillOutcome {
        let shared = {
            let mut inflight = self
                .inner
                .inflight
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let running = inflight
                .get(slot.key())
                .and_then(WeakShared::upgrade)
                .filter(|_| join);
            match running {
                Some(shared) => shared,
                None => {
                    prepare_fill_request(&mut request, slot.entry.as_deref());
                    let inner = self.inner.clone();
                    let job = FillJob {
                        primary: slot.primary.clone(),
                        key: slot.key().to_owned(),
                        stale: slot.entry.clone(),
                        facts,
                        site,
                        generation: self.inner.generation.load(Ordering::Acquire),
                    };
                    let task = tokio::spawn(async move {
                        let filled = job.run(&inner, request, fetch).await;
                        let mut inflight = inner.inflight.lock().unwrap_or_else(|p| p.into_inner());
                        inflight.remove(&job.key);
                        filled
                    });
                    let shared = FillTask {
                        task,
                        key: slot.key().to_owned(),
                        inner: Arc::downgrade(&self.inner),
                    }
                    .shared();
                    if join {
                        if let Some(weak) = shared.downgrade() {
                            inflight.insert(slot.key().to_owned(), weak);
                        }
                    }
                    shared
                }
            }
        };
        match shared.await {
            // A waiter whose Vary values differ from the fill request's must not get its
            // response (the Vary names were unknown when the fetches were joined).
            Filled::Stored(entry, stored_key, status) => {
                let names = key::vary_names(&entry.headers).unwrap_or_default();
                if key::full(&slot.primary, &names, client) == *stored_key {
                    FillOutcome::Entry(entry, status)
                } else {
                    FillOutcome::Bypass
                }
            }
            Filled::Passthrough(live) => {
                match live.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    Some(resp) => FillOutcome::Live(resp),
                    None => FillOutcome::Bypass,
                }
            }
            Filled::Failed(e) => FillOutcome::Failed(e),
        }
    }

    /// Removes the entries (every query and variant) whose path is `path` or, with
    /// `prefix`, starts with it; of one site, or of all with `None`. Returns once the
    /// removal is applied.
    pub fn purge(&self, site: Option<&str>, path: &str, prefix: bool) -> Result<(), String> {
        let (site, path) = (site.map(str::to_owned), path.to_owned());
        // Fills under way finish for their waiters but store nothing, and new requests
        // start fresh fills rather than join them.
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        self.inner
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.inner
            .entries
            .invalidate_entries_if(move |k, _| match key::parts(k) {
                Some((s, _)) if site.as_deref().is_some_and(|want| want != s) => false,
                Some((_, target)) if prefix => target.starts_with(&path),
                Some((_, target)) => target.split('?').next() == Some(path.as_str()),
                None => false,
            })
            .map_err(|e| e.to_string())?;
        self.inner.entries.run_pending_tasks();
        Ok(())
    }

    /// Bytes currently held (after pending maintenance).
    pub fn weighted_size(&self) -> u64 {
        self.inner.entries.run_pending_tasks();
        self.inner.entries.weighted_size()
    }

    /// Entries evicted for space since start.
    pub fn evictions(&self) -> u64 {
        self.inner.evictions.load(Ordering::Relaxed)
    }

    /// Requests waiting on a shared fill right now, the one that started it included.
    pub fn fill_waiters(&self) -> usize {
        let inflight = self
            .inner
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        inflight
            .values()
            .filter_map(WeakShared::upgrade)
            // The upgrade just made is one of the strong references.
            .filter_map(|shared| shared.strong_count().map(|n| n - 1))
            .sum()
    }

    pub fn entry_count(&self) -> u64 {
        self.inner.entries.run_pending_tasks();
        self.inner.entries.entry_count()
    }
}

/// Fill requests ask for the whole representation (the cache answers ranges and
/// preconditions itself) and, for a stale entry, carry its validators.
fn prepare_fill_request(req: &mut Request<Body>, stale: Option<&Entry>) {
    *req.method_mut() = Method::GET;
    let h = req.headers_mut();
    for name in [
        header::RANGE,
        header::IF_RANGE,
        header::IF_MATCH,
        header::IF_NONE_MATCH,
        header::IF_MODIFIED_SINCE,
        header::IF_UNMODIFIED_SINCE,
    ] {
        h.remove(name);
    }
    if let Some(e) = stale {
        if let Some(etag) = e.headers.get(header::ETAG) {
            h.insert(header::IF_NONE_MATCH, etag.clone());
        }
        if let Some(lm) = e.headers.get(header::LAST_MODIFIED) {
            h.insert(header::IF_MODIFIED_SINCE, lm.clone());
        }
    }
}

struct FillJob {
    primary: String,
    key: String,
    stale: Option<Arc<Entry>>,
    facts: RequestFacts,
    site: SiteCache,
    /// `Inner::generation` when the fill started.
    generation: u64,
}

impl FillJob {
    async fn run(&self, inner: &Inner, request: Request<Body>, fetch: Fetch) -> Filled {
        let request_headers = request.headers().clone();
        let request_time = inner.clock.now();
        let resp = match fetch(request).await {
            Ok(r) => r,
            Err(e) => return Filled::Failed(Arc::new(e)),
        };
        let timing = Timing {
            request_time,
            response_time: inner.clock.now(),
        };
        // RFC 9111 §4.3.4: a 304 freshens the stored response.
        if let (Some(stale), StatusCode::NOT_MODIFIED) = (&self.stale, resp.status()) {
            let mut headers = stale.headers.clone();
            freshness::merge_304(&mut headers, resp.headers());
            let entry = Arc::new(Entry::new(
                headers,
                stale.body.clone(),
                timing,
                self.site.default_ttl,
            ));
            if self.still_current(inner) {
                inner.entries.insert(self.key.clone(), entry.clone());
            }
            return Filled::Stored(entry, self.key.as_str().into(), CacheStatus::Revalidated);
        }
        let storable = freshness::storable(
            &self.facts,
            resp.status(),
            resp.headers(),
            self.site.default_ttl,
        )
        .is_ok();
        let names = key::vary_names(resp.headers());
        let declared = resp
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let cap = inner.config.max_object_bytes;
        let (Ok(names), true) = (names, storable && declared.is_none_or(|n| n <= cap)) else {
            return passthrough(resp);
        };
        let (parts, mut body) = resp.into_parts();
        let mut buf = BytesMut::with_capacity(declared.unwrap_or(0) as usize);
        while let Some(frame) = body.frame().await {
            match frame {
                Err(e) => {
                    // A partial body leaves no entry.
                    return Filled::Failed(Arc::new(UpstreamError::Failed(format!("body: {e}"))));
                }
                Ok(frame) => {
                    if let Some(data) = frame.data_ref() {
                        buf.extend_from_slice(data);
                    }
                    if buf.len() as u64 > cap {
                        // Too large after all: hand out what we have plus the rest.
                        return passthrough(Response::from_parts(
                            parts,
                            prefixed(buf.freeze(), body),
                        ));
                    }
                }
            }
        }
        let entry = Arc::new(Entry::new(
            parts.headers,
            buf.freeze(),
            timing,
            self.site.default_ttl,
        ));
        // The Vary names are known only now: key the entry on them and on the values
        // the fill request carried.
        let key = key::full(&self.primary, &names, &request_headers);
        if self.still_current(inner) {
            if names.is_empty() {
                inner.vary.invalidate(&self.primary);
            } else {
                inner.vary.insert(self.primary.clone(), names.into());
                // An entry from before the upstream varied would shadow the variants.
                inner.entries.invalidate(&self.primary);
            }
            inner.entries.insert(key.clone(), entry.clone());
        }
        Filled::Stored(entry, key.into(), CacheStatus::Miss)
    }

    fn still_current(&self, inner: &Inner) -> bool {
        inner.generation.load(Ordering::Acquire) == self.generation
    }
}

fn passthrough(resp: Response<Body>) -> Filled {
    Filled::Passthrough(Arc::new(Mutex::new(Some(resp))))
}

/// A body that yields `first`, then the rest of `rest`.
fn prefixed(first: Bytes, rest: Body) -> Body {
    use futures_util::StreamExt;
    let head =
        futures_util::stream::once(async move { Ok::<_, BoxError>(http_body::Frame::data(first)) });
    let tail = http_body_util::BodyStream::new(rest);
    http_body_util::StreamBody::new(head.chain(tail)).boxed_unsync()
}

/// Upstream CORS headers are never stored (ours are computed per hit), and hop-by-hop
/// fields describe a connection that is gone.
fn strip_unstorable(headers: &mut HeaderMap) {
    crate::proxy::headers::remove_hop_by_hop(headers);
    crate::cors::strip_access_control(headers);
}
