//! Phase 5: the response cache in the pipeline. Runs after the enforce gate, so a hit
//! never skips a check; what it returns is decorated with CORS headers like any other
//! response, from the rules in force at that moment.
use http::header::{self, HeaderMap, HeaderName};
use http::request::Parts;
use http::{Method, Request, Response};

use super::forward::Target;
use crate::cache::freshness::RequestFacts;
use crate::cache::{respond, CacheStatus, Fetch, FillOutcome, ResponseCache, SiteCache};
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

/// Answers from the cache, fills it, or forwards around it.
pub async fn serve(
    cache: &ResponseCache,
    policy: SiteCache,
    target: &Target<'_>,
    req: Request<Body>,
) -> Served {
    let site = target.gw.config.sites[target.site].name.as_str();
    let method = req.method().clone();
    if method != Method::GET && method != Method::HEAD {
        return unsafe_method(cache, site, target, req).await;
    }
    let credentialed = has_credentials(&req);
    if (credentialed && !policy.credentialed) || has_amz_headers(req.headers()) {
        return (target.forward(req).await, Some(CacheStatus::Bypass));
    }
    let (parts, _empty_body) = req.into_parts();
    let slot = cache.lookup(site, &parts).await;
    let now = cache.now();
    if let Some(entry) = slot.entry.as_ref().filter(|e| e.is_fresh(now)) {
        return (
            Ok(respond(entry, &method, &parts.headers, now)),
            Some(CacheStatus::Hit),
        );
    }
    if method == Method::HEAD && slot.entry.is_none() {
        return (
            target.forward(rebuild(&parts)).await,
            Some(CacheStatus::Bypass),
        );
    }
    let facts = RequestFacts {
        method: Method::GET,
        credentialed,
        allow_credentialed: policy.credentialed,
    };
    let (gw, site_idx, conn) = (target.gw.clone(), target.site, target.conn);
    let fetch: Fetch = Box::new(move |r| {
        Box::pin(async move {
            // Shared fetches carry no client's Host: it is not in the key.
            Target {
                gw: &gw,
                site: site_idx,
                conn,
                host: None,
            }
            .forward(r)
            .await
        })
    });
    match cache
        .fill(&slot, fill_request(&parts), facts, policy, fetch)
        .await
    {
        FillOutcome::Entry(entry, status) => (
            Ok(respond(&entry, &method, &parts.headers, cache.now())),
            Some(status),
        ),
        FillOutcome::Live(resp) => (Ok(resp), Some(CacheStatus::Miss)),
        FillOutcome::Bypass => (
            target.forward(rebuild(&parts)).await,
            Some(CacheStatus::Bypass),
        ),
        FillOutcome::Failed(e) => (Err((*e).clone()), Some(CacheStatus::Miss)),
    }
}

/// RFC 9111 §4.4: a successful unsafe request invalidates the stored responses for its
/// target.
async fn unsafe_method(
    cache: &ResponseCache,
    site: &str,
    target: &Target<'_>,
    req: Request<Body>,
) -> Served {
    let path = req.uri().path().to_owned();
    let result = target.forward(req).await;
    if let Ok(resp) = &result {
        if resp.status().is_success() || resp.status().is_redirection() {
            if let Err(e) = cache.purge(Some(site), &path, false).await {
                tracing::warn!(%site, %path, "cache invalidation failed: {e}");
            }
        }
    }
    (result, Some(CacheStatus::Bypass))
}

/// The client sent credentials: Authorization, a cookie, or a presigned query. Our own
/// upstream signature (added later in the pipeline) does not count.
fn has_credentials(req: &Request<Body>) -> bool {
    let h = req.headers();
    if h.contains_key(header::AUTHORIZATION) || h.contains_key(header::COOKIE) {
        return true;
    }
    req.uri().query().is_some_and(|q| {
        q.split('&').any(|pair| {
            let name = pair.split('=').next().unwrap_or("");
            name.eq_ignore_ascii_case("x-amz-signature") || name.eq_ignore_ascii_case("signature")
        })
    })
}

/// `x-amz-*` request headers (SSE-C keys, checksum mode, request payer, ...) can change
/// what S3 answers and are not in the key: such requests go around the cache.
fn has_amz_headers(h: &HeaderMap) -> bool {
    h.keys().any(|k| k.as_str().starts_with("x-amz-"))
}

/// The request a fill sends: a bodiless GET for the target with only [`FILL_HEADERS`].
fn fill_request(parts: &Parts) -> Request<Body> {
    let mut req = Request::new(empty());
    *req.uri_mut() = parts.uri.clone();
    for name in &FILL_HEADERS {
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
