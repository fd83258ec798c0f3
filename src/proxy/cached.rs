//! Phase 5: the response cache in the pipeline. Runs after the enforce gate, so a hit
//! never skips a check; what it returns is decorated with CORS headers like any other
//! response, from the rules in force at that moment. In two steps: [`lookup`] answers a
//! fresh hit synchronously, [`fetch`] does whatever needs the upstream.
use http::header::{self, HeaderMap, HeaderName};
use http::request::Parts;
use http::{Method, Request, Response};

use super::forward::Target;
use crate::cache::freshness::RequestFacts;
use crate::cache::{
    hit, respond, shapes_answer, CacheStatus, Fetch, FillOutcome, ResponseCache, SiteCache, Slot,
};
use crate::cors::Decoration;
use crate::upstream::http::UpstreamError;
use crate::upstream::{empty, Body};

/// Request headers a fill forwards. Anything else could change the upstream's answer
/// without being in the key (unkeyed-header poisoning), so it is not sent.
const FILL_HEADERS: [HeaderName; 3] = [
    header::ACCEPT,
    header::ACCEPT_ENCODING,
    header::ACCEPT_LANGUAGE,
];

type Served = (Result<Response<Body>, UpstreamError>, Option<CacheStatus>);

/// What the cache could not answer at once; [`fetch`] takes it from there.
pub enum Pending {
    /// An unsafe method: forwarded, and on success it invalidates its target.
    Invalidate(Request<Body>),
    /// Not to be cached for this client: forwarded around the cache.
    Bypass(Request<Body>),
    /// No fresh entry: a fill or a revalidation.
    Miss {
        parts: Parts,
        slot: Slot,
        credentialed: bool,
    },
}

/// A fresh hit for `req`, decorated, or what must go to the upstream. Never waits: the
/// lookup is in memory, so a hit is answered without building a future.
pub fn lookup(
    cache: &ResponseCache,
    policy: SiteCache,
    site: &str,
    req: Request<Body>,
    decoration: &Decoration,
) -> Result<Response<Body>, Box<Pending>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Err(Box::new(Pending::Invalidate(req)));
    }
    let fields = FieldScan::of(req.headers());
    let credentialed = fields.credentials || presigned(&req);
    if (credentialed && !policy.credentialed) || fields.amz {
        return Err(Box::new(Pending::Bypass(req)));
    }
    let (parts, _empty_body) = req.into_parts();
    let slot = cache.lookup(site, &parts);
    let now = cache.now();
    match slot.fresh(now) {
        Some(entry) => {
            let status = &cache.config().status_header;
            Ok(hit(
                entry,
                &parts.method,
                &parts.headers,
                now,
                decoration,
                status,
            ))
        }
        None => Err(Box::new(Pending::Miss {
            parts,
            slot,
            credentialed,
        })),
    }
}

/// Takes a [`Pending`] request to the upstream: fills, revalidates, invalidates or
/// forwards around the cache.
pub async fn fetch(
    cache: &ResponseCache,
    policy: SiteCache,
    target: &Target<'_>,
    pending: Box<Pending>,
) -> Served {
    match *pending {
        Pending::Invalidate(req) => unsafe_method(cache, target, req).await,
        Pending::Bypass(req) => (target.forward(req).await, Some(CacheStatus::Bypass)),
        Pending::Miss {
            parts,
            slot,
            credentialed,
        } => miss(cache, policy, target, parts, slot, credentialed).await,
    }
}

/// The answer from `slot`'s entry when it is fresh now, not yet decorated.
fn fresh_hit(cache: &ResponseCache, slot: &Slot, parts: &Parts) -> Option<Response<Body>> {
    let now = cache.now();
    let entry = slot.fresh(now)?;
    Some(respond(entry, &parts.method, &parts.headers, now))
}

/// No fresh entry in `slot`: fill it (or revalidate it), or forward around it.
async fn miss(
    cache: &ResponseCache,
    policy: SiteCache,
    target: &Target<'_>,
    parts: Parts,
    mut slot: Slot,
    credentialed: bool,
) -> Served {
    let site = target.gw.config.sites[target.site].name.as_str();
    let method = parts.method.clone();
    let (gw, site_idx, conn) = (target.gw.clone(), target.site, target.conn);
    // Two rounds at most: the first fill of a response that varies on a header no fill
    // forwarded teaches the cache its Vary; the second fills this client's variant.
    for round in 0..2 {
        if round > 0 {
            slot = cache.lookup(site, &parts);
            if let Some(hit) = fresh_hit(cache, &slot, &parts) {
                return (Ok(hit), Some(CacheStatus::Hit));
            }
        }
        if method == Method::HEAD && slot.entry.is_none() {
            break;
        }
        let facts = RequestFacts {
            method: Method::GET,
            credentialed,
            allow_credentialed: policy.credentialed,
        };
        let (gw, conn) = (gw.clone(), conn);
        let fetch: Fetch = Box::new(move |r| {
            Box::pin(async move {
                // Shared fetches carry no client's Host: it is not in the key.
                let t = Target {
                    gw: &gw,
                    site: site_idx,
                    conn,
                    host: None,
                };
                t.forward(r).await
            })
        });
        let fill = fill_request(&parts, credentialed, slot.vary());
        // Credentialed fills are never joined: another client's credentials must not
        // answer for this one before the upstream has said the answer is shareable.
        let join = !credentialed;
        match cache
            .fill(&slot, fill, &parts.headers, join, facts, policy, fetch)
            .await
        {
            FillOutcome::Entry(entry, status) => {
                let resp = respond(&entry, &method, &parts.headers, cache.now());
                return (Ok(resp), Some(status));
            }
            // A range or condition the fill did not carry, or a Vary on a header it
            // did not forward: the live answer is not this client's.
            FillOutcome::Live(resp) if answers_client(&resp, &parts.headers) => {
                return (Ok(resp), Some(CacheStatus::Miss));
            }
            FillOutcome::Live(_) => break,
            FillOutcome::Bypass => continue,
            FillOutcome::Failed(e) => return (Err((*e).clone()), Some(CacheStatus::Miss)),
        }
    }
    (
        target.forward(rebuild(&parts)).await,
        Some(CacheStatus::Bypass),
    )
}

/// Whether a live fill response is also the answer to this client's own request: not
/// if the client asked for a range or a condition the fill did not carry, nor if the
/// response varies on a header the fill did not forward and the client sent.
fn answers_client(resp: &Response<Body>, client: &HeaderMap) -> bool {
    if shapes_answer(client) {
        return false;
    }
    // `Vary: *` is taken as varying on nothing the client controls beyond the fill.
    let names = crate::cache::key::vary_names(resp.headers()).unwrap_or_default();
    names
        .iter()
        .all(|n| FILL_HEADERS.contains(n) || !client.contains_key(n))
}

/// RFC 9111 §4.4: a successful unsafe request invalidates the stored responses for its
/// target.
async fn unsafe_method(cache: &ResponseCache, target: &Target<'_>, req: Request<Body>) -> Served {
    let site = target.gw.config.sites[target.site].name.as_str();
    let path = req.uri().path().to_owned();
    let result = target.forward(req).await;
    if let Ok(resp) = &result {
        if resp.status().is_success() || resp.status().is_redirection() {
            if let Err(e) = cache.purge(Some(site), &path, false) {
                tracing::warn!(%site, %path, "cache invalidation failed: {e}");
            }
        }
    }
    (result, Some(CacheStatus::Bypass))
}

/// What the request's field names say about caching it, from one pass over them (a
/// lookup per name would hash and probe each time).
struct FieldScan {
    /// Authorization or a cookie. Our own upstream signature (added later in the
    /// pipeline) does not count.
    credentials: bool,
    /// `x-amz-*` request headers (SSE-C keys, checksum mode, request payer, ...) can
    /// change what S3 answers and are not in the key: such requests go around the cache.
    amz: bool,
}

impl FieldScan {
    fn of(h: &HeaderMap) -> FieldScan {
        let mut scan = FieldScan {
            credentials: false,
            amz: false,
        };
        for name in h.keys() {
            scan.credentials |= name == header::AUTHORIZATION || name == header::COOKIE;
            scan.amz |= name.as_str().starts_with("x-amz-");
        }
        scan
    }
}

/// A presigned query: credentials too.
fn presigned(req: &Request<Body>) -> bool {
    req.uri().query().is_some_and(|q| {
        q.split('&').any(|pair| {
            let name = pair.split('=').next().unwrap_or("");
            name.eq_ignore_ascii_case("x-amz-signature") || name.eq_ignore_ascii_case("signature")
        })
    })
}

/// The request a fill sends: a bodiless GET for the target with [`FILL_HEADERS`] and the
/// headers the stored Vary names (those are in the key), plus the client's credentials
/// on a site that caches credentialed requests.
fn fill_request(parts: &Parts, credentialed: bool, vary: &[HeaderName]) -> Request<Body> {
    let mut req = Request::new(empty());
    *req.uri_mut() = parts.uri.clone();
    let creds = [header::AUTHORIZATION, header::COOKIE];
    let keyed = vary.iter().filter(|n| !FILL_HEADERS.contains(n));
    let names = FILL_HEADERS
        .iter()
        .chain(keyed)
        .chain(creds.iter().filter(|_| credentialed));
    for name in names {
        for v in parts.headers.get_all(name) {
            req.headers_mut().append(name.clone(), v.clone());
        }
    }
    req
}

/// The client's own request again (bodiless: only GET and HEAD get here).
fn rebuild(parts: &Parts) -> Request<Body> {
    let mut req = Request::new(empty());
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = parts.uri.clone();
    *req.version_mut() = parts.version;
    *req.headers_mut() = parts.headers.clone();
    req
}
