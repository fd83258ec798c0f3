//! Answering a request from a stored entry: HEAD from a GET entry, preconditions
//! (304/412, RFC 9110 §13) and one byte range (206/416, §14), with `Age` (RFC 9111
//! §5.1). Pure apart from cloning the stored `Bytes`.
use std::time::SystemTime;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};

use super::freshness;
use super::Entry;
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
