//! Answering a request from a stored entry: HEAD from a GET entry, preconditions
//! (304/412, RFC 9110 §13) and one byte range (206/416, §14), with `Age` (RFC 9111
//! §5.1). Pure apart from cloning the stored `Bytes`.
//!
//! A fresh hit's answer ([`hit`]) also carries the cache status and the request's CORS
//! headers. For a plain one (the whole object, no precondition) the entry keeps the
//! finished head of its first [`HEADS`] decorations, and a hit whose decoration writes
//! exactly the same fields as one of them clones that head and only sets its Age:
//! one map clone instead of a clone, a regrowth and eight inserts.
//!
//! This reuses no origin's answer for another: the decoration compared is the one just
//! computed for this request from the rules in force, and a head is reused only when
//! that decoration would write the same bytes as the one the head was built with. The
//! head is a pure function of the entry and the decoration.
use std::sync::OnceLock;
use std::time::SystemTime;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Response, StatusCode};

use super::freshness;
use super::{CacheStatus, Entry};
use crate::cors::Decoration;
use crate::representation::conditional::{self, Outcome, Validators};
use crate::representation::range::{self, Ranged};
use crate::upstream::{empty, full, Body};

/// Builds the response to `method` + `request` from `entry` at time `now`.
pub fn respond(
    entry: &Entry,
    method: &Method,
    request: &HeaderMap,
    now: SystemTime,
) -> Response<Body> {
    let mut headers = entry.headers.clone();
    headers.insert(header::AGE, freshness::age_header_value(entry.age(now)));
    let v = &entry.validators;
    let shaped = shapes_answer(request);
    if shaped {
        match conditional::evaluate(method, request, v) {
            Outcome::NotModified => return not_modified(headers),
            Outcome::Failed(_) => return status_only(StatusCode::PRECONDITION_FAILED, headers),
            Outcome::Proceed => {}
        }
    }
    let size = entry.body.len() as u64;
    let head = method == Method::HEAD;
    let ranged = if shaped {
        match request.get(header::RANGE).map(HeaderValue::to_str) {
            Some(Ok(value)) if conditional::if_range_holds(request, v) => range::parse(value, size),
            _ => Ranged::Full,
        }
    } else {
        Ranged::Full
    };
    match ranged {
        Ranged::Full => build(
            StatusCode::OK,
            headers,
            if head {
                Bytes::new()
            } else {
                entry.body.clone()
            },
        ),
        Ranged::Part { first, last } => {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(last - first + 1));
            let cr = format!("bytes {first}-{last}/{size}");
            if let Ok(v) = HeaderValue::from_str(&cr) {
                headers.insert(header::CONTENT_RANGE, v);
            }
            // `first..=last` lies inside the body: `range::parse` guarantees last < size.
            let body = if head {
                Bytes::new()
            } else {
                entry.body.slice(first as usize..=last as usize)
            };
            build(StatusCode::PARTIAL_CONTENT, headers, body)
        }
        Ranged::Unsatisfiable => {
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                h.insert(header::CONTENT_RANGE, v);
            }
            carry(&headers, &mut h);
            status_only(StatusCode::RANGE_NOT_SATISFIABLE, h)
        }
    }
}

/// How many decorated heads an entry keeps; the first ones built stay (replacing them
/// would let alternating origins rebuild on every hit).
pub(super) const HEADS: usize = 2;

/// The most a head may add to the entry's weight (`Entry::weight` reserves this for
/// each of the [`HEADS`]); a decoration that adds more is never kept.
pub(super) const HEAD_EXTRA_WEIGHT: usize = 512;

/// A plain hit's head, as sent: the entry's fields, a placeholder Age (each hit
/// replaces it in place, so the clone never grows), the cache status and the fields
/// of `decoration`.
#[derive(Debug)]
pub(super) struct Head {
    decoration: Decoration,
    headers: HeaderMap,
}

/// Slots for an entry's [`Head`]s; each is set once.
pub(super) type Heads = [OnceLock<Head>; HEADS];

/// The answer to a fresh hit: [`respond`], then the cache status and `decoration`.
pub fn hit(
    entry: &Entry,
    method: &Method,
    request: &HeaderMap,
    now: SystemTime,
    decoration: &Decoration,
    status_header: &HeaderName,
) -> Response<Body> {
    if shapes_answer(request) {
        let mut resp = respond(entry, method, request, now);
        let headers = resp.headers_mut();
        headers.insert(status_header.clone(), CacheStatus::Hit.header_value());
        decoration.clone().add(headers);
        return resp;
    }
    let mut headers = head(entry, decoration, status_header);
    headers.insert(header::AGE, freshness::age_header_value(entry.age(now)));
    let body = if method == Method::HEAD {
        Bytes::new()
    } else {
        entry.body.clone()
    };
    build(StatusCode::OK, headers, body)
}

/// A copy of `entry`'s head for `decoration`, kept in a free slot when there is one.
fn head(entry: &Entry, decoration: &Decoration, status_header: &HeaderName) -> HeaderMap {
    let mut free = None;
    for slot in &entry.heads {
        match slot.get() {
            Some(kept) if kept.decoration.writes_same(decoration) => return kept.headers.clone(),
            Some(_) => {}
            None => {
                free = Some(slot);
                break;
            }
        }
    }
    let mut headers = entry.headers.clone();
    headers.insert(header::AGE, HeaderValue::from_static("0"));
    headers.insert(status_header.clone(), CacheStatus::Hit.header_value());
    decoration.clone().add(&mut headers);
    let extra = weight(&headers).saturating_sub(weight(&entry.headers));
    if let Some(slot) = free.filter(|_| extra <= HEAD_EXTRA_WEIGHT) {
        // Losing a race to set it is fine: the winner's head is equivalent.
        let _ = slot.set(Head {
            decoration: decoration.clone(),
            headers: headers.clone(),
        });
    }
    headers
}

/// What a header map weighs in the cache's byte bound.
pub(super) fn weight(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 32)
        .sum()
}

/// Whether the client asked for something other than the whole current object: a
/// range or a precondition (If-Range only qualifies a Range). Most requests carry none,
/// and one pass over their few names says so, where a lookup per field would hash and
/// probe five times.
pub fn shapes_answer(request: &HeaderMap) -> bool {
    const SHAPING: [header::HeaderName; 5] = [
        header::RANGE,
        header::IF_MATCH,
        header::IF_NONE_MATCH,
        header::IF_MODIFIED_SINCE,
        header::IF_UNMODIFIED_SINCE,
    ];
    request.keys().any(|n| SHAPING.contains(n))
}

/// Headers a hit adds to the stored ones: Age, Content-Range, the cache status, the
/// CORS set and Vary, a request id.
const ADDED_PER_HIT: usize = 12;

/// The stored headers in a map with room for [`ADDED_PER_HIT`] more: a clone keeps
/// the index table's size, so a hit then never rehashes while it adds them. (Not the
/// entry list's spare room, which a clone drops: the first header added reallocates
/// that once.)
pub(super) fn with_room(stored: HeaderMap) -> HeaderMap {
    let mut roomy = HeaderMap::with_capacity(stored.len() + ADDED_PER_HIT);
    roomy.extend(stored);
    roomy
}

/// The validators a stored response carries.
pub(super) fn validators(stored: &HeaderMap) -> Validators {
    Validators {
        etag: stored
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
        last_modified: stored
            .get(header::LAST_MODIFIED)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| httpdate::parse_http_date(s).ok()),
    }
}

/// RFC 9110 §15.4.5: a 304 carries the validators and caching fields a 200 would, and
/// no content fields.
fn not_modified(mut headers: HeaderMap) -> Response<Body> {
    for h in [
        header::CONTENT_LENGTH,
        header::CONTENT_TYPE,
        header::CONTENT_ENCODING,
        header::CONTENT_RANGE,
    ] {
        headers.remove(h);
    }
    let mut r = Response::new(empty());
    *r.status_mut() = StatusCode::NOT_MODIFIED;
    *r.headers_mut() = headers;
    r
}

/// Keeps the fields an error answer still needs from the stored ones.
fn carry(from: &HeaderMap, to: &mut HeaderMap) {
    for h in [
        header::ETAG,
        header::LAST_MODIFIED,
        header::VARY,
        header::AGE,
    ] {
        if let Some(v) = from.get(&h) {
            to.insert(h, v.clone());
        }
    }
}

fn status_only(status: StatusCode, mut headers: HeaderMap) -> Response<Body> {
    headers.remove(header::CONTENT_LENGTH);
    headers.remove(header::CONTENT_TYPE);
    let mut r = Response::new(empty());
    *r.status_mut() = status;
    *r.headers_mut() = headers;
    r
}

fn build(status: StatusCode, headers: HeaderMap, body: Bytes) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    *r.headers_mut() = headers;
    r
}
