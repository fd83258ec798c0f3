//! RFC 9111 rules for the shared response cache, as pure functions over headers and times.
//!
//! This module owns the cache's *decisions*, not its storage: parsing `Cache-Control`
//! ([`CacheControl`]), whether a response may be stored at all ([`storable`]), how long a
//! stored response stays fresh ([`freshness_lifetime`]), how old it is now ([`current_age`],
//! [`is_fresh`]), whether it may be served stale when the upstream is unreachable
//! ([`may_serve_stale_on_error`]), the `Age` header of a hit ([`age_header_value`]), and how a
//! `304 Not Modified` refreshes the stored header fields ([`merge_304`]). It is std + `http` +
//! `httpdate` only: no I/O, no async, and no reading of the clock — every time is a
//! parameter, so callers (and tests) decide what "now" is. Header values are never
//! `unwrap()`ped: a malformed field degrades to the conservative answer (not storable, stale,
//! no stale-on-error), never to a panic.
//!
//! corsgate does no heuristic freshness (RFC 9111 §4.2.2): a response without explicit
//! freshness information is only cached when it carries a validator and the site configured a
//! `default_ttl`, so that every reuse after that TTL is a cheap conditional request.

use std::fmt;
use std::time::{Duration, SystemTime};

use http::header::{
    AGE, CACHE_CONTROL, CONNECTION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, DATE, ETAG,
    EXPIRES, LAST_MODIFIED, SET_COOKIE, VARY,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};

/// RFC 9111 §1.2.2: a delta-seconds value too large to represent is taken as 2^31 seconds,
/// and §5.1: an `Age` that overflows is transmitted as 2^31.
const DELTA_SECONDS_MAX: u64 = 2_147_483_648;

/// Parsed `Cache-Control` response directives (RFC 9111 §5.2.2).
///
/// Built from *all* `Cache-Control` field lines, each a comma list; directive names are
/// case-insensitive; arguments may be bare tokens or quoted strings (RFC 9111 §5.2: recipients
/// accept both, so `max-age="60"` is 60 s). Unknown directives are ignored (§5.2.3).
///
/// Conflicts resolve to the most restrictive reading (RFC 9111 §4.2.1):
/// - a `max-age`/`s-maxage` argument that is not delta-seconds (empty, negative, non-digit,
///   unterminated quote) sets [`invalid_age`](Self::invalid_age), and the response is then
///   treated as stale;
/// - the same directive repeated with different values keeps the *smallest* value — never
///   fresher than RFC 9111's "use the first occurrence", never staler than "treat as stale";
/// - `public` together with `private` stays private (storability checks `private` first);
///   `no-cache` beside `max-age` makes the response never fresh ([`is_fresh`]).
/// - the qualified forms `no-cache="field"` and `private="field"` (§5.2.2.4, §5.2.2.7) are
///   treated like their unqualified forms, which both sections permit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheControl {
    pub no_store: bool,
    pub no_cache: bool,
    pub private: bool,
    pub public: bool,
    pub must_revalidate: bool,
    pub proxy_revalidate: bool,
    pub max_age: Option<Duration>,
    pub s_maxage: Option<Duration>,
    /// A `max-age` or `s-maxage` argument that did not parse as delta-seconds.
    pub invalid_age: bool,
}

impl CacheControl {
    /// Parse every `Cache-Control` line of `headers`. Never fails: see the type's docs.
    pub fn parse(headers: &HeaderMap) -> CacheControl {
        let mut cc = CacheControl::default();
        for line in headers.get_all(CACHE_CONTROL) {
            // Non-UTF-8 bytes (obs-text) can only sit inside arguments; a lossy view keeps
            // the directive names readable instead of dropping the whole line.
            let text = String::from_utf8_lossy(line.as_bytes());
            for item in split_list(&text) {
                cc.apply(item);
            }
        }
        cc
    }

    fn apply(&mut self, item: &str) {
        let (name, arg) = match item.split_once('=') {
            Some((n, a)) => (n.trim(), Some(a.trim())),
            None => (item.trim(), None),
        };
        if name.is_empty() {
            return;
        }
        let name = name.to_ascii_lowercase();
        match name.as_str() {
            "no-store" => self.no_store = true,
            "no-cache" => self.no_cache = true,
            "private" => self.private = true,
            "public" => self.public = true,
            "must-revalidate" => self.must_revalidate = true,
            "proxy-revalidate" => self.proxy_revalidate = true,
            "max-age" | "s-maxage" => {
                let parsed = arg
                    .and_then(unquote)
                    .as_deref()
                    .and_then(parse_delta_seconds);
                let slot = if name == "max-age" {
                    &mut self.max_age
                } else {
                    &mut self.s_maxage
                };
                match parsed {
                    Some(d) => *slot = Some(slot.map_or(d, |old| old.min(d))),
                    None => self.invalid_age = true,
                }
            }
            _ => {}
        }
    }
}

/// Why a response may not be stored by a shared cache (RFC 9111 §3, plus corsgate policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotStorable {
    /// The request method is not GET.
    Method,
    /// The status is not 200 (206/304 are produced from stored 200s, never stored).
    Status,
    /// `Cache-Control: no-store` (RFC 9111 §5.2.2.5).
    NoStore,
    /// `Cache-Control: private` (RFC 9111 §5.2.2.7): a shared cache must not store it.
    Private,
    /// The response sets a cookie: per-client state, never shared.
    SetCookie,
    /// `Vary: *` (RFC 9111 §4.1): no later request can ever match.
    VaryStar,
    /// A credentialed request without the site's opt-in or the response's permission
    /// (RFC 9111 §3.5).
    Authorization,
    /// No explicit freshness, and no validator + `default_ttl` to fall back on.
    NoFreshness,
}

impl NotStorable {
    /// The short kebab-case reason used in logs and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            NotStorable::Method => "method",
            NotStorable::Status => "status",
            NotStorable::NoStore => "no-store",
            NotStorable::Private => "private",
            NotStorable::SetCookie => "set-cookie",
            NotStorable::VaryStar => "vary-star",
            NotStorable::Authorization => "authorization",
            NotStorable::NoFreshness => "no-freshness",
        }
    }
}

impl fmt::Display for NotStorable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for NotStorable {}

/// What the request looked like, for storability.
#[derive(Debug, Clone)]
pub struct RequestFacts {
    pub method: Method,
    /// The client sent `Authorization`, `Cookie`, or a presigned query.
    pub credentialed: bool,
    /// The site opted in to caching responses to credentialed requests.
    pub allow_credentialed: bool,
}

/// RFC 9111 §3: may a shared cache store this response?
///
/// Checked in this order, the first failure being reported: GET only; status 200 only
/// (corsgate stores full 200s, and produces 206/304 from them); no `no-store`; no `private`
/// (we are a shared cache); no `Set-Cookie`; no `Vary: *`; a credentialed request only when
/// the site allows it *and* (RFC 9111 §3.5) the response says `public`, `s-maxage` or
/// `must-revalidate`; and finally some freshness information — `max-age`, `s-maxage` (even an
/// invalid one, which makes the entry stale but still revalidatable) or `Expires` — or else a
/// validator (`ETag`/`Last-Modified`) together with `default_ttl`. corsgate does no heuristic
/// freshness, so anything else is [`NotStorable::NoFreshness`].
pub fn storable(
    req: &RequestFacts,
    status: StatusCode,
    headers: &HeaderMap,
    default_ttl: Option<Duration>,
) -> Result<(), NotStorable> {
    if req.method != Method::GET {
        return Err(NotStorable::Method);
    }
    if status != StatusCode::OK {
        return Err(NotStorable::Status);
    }
    let cc = CacheControl::parse(headers);
    if cc.no_store {
        return Err(NotStorable::NoStore);
    }
    if cc.private {
        return Err(NotStorable::Private);
    }
    if headers.contains_key(SET_COOKIE) {
        return Err(NotStorable::SetCookie);
    }
    if vary_star(headers) {
        return Err(NotStorable::VaryStar);
    }
    if req.credentialed {
        // RFC 9111 §3.5: a shared cache may store a response to a request with
        // Authorization only if the response has public, s-maxage or must-revalidate.
        // corsgate additionally requires the site's opt-in, and treats cookies and
        // presigned queries the same way as Authorization.
        let permitted = cc.public || cc.s_maxage.is_some() || cc.must_revalidate;
        if !(req.allow_credentialed && permitted) {
            return Err(NotStorable::Authorization);
        }
    }
    let explicit = cc.max_age.is_some()
        || cc.s_maxage.is_some()
        || cc.invalid_age
        || headers.contains_key(EXPIRES);
    let fallback = has_validator(headers) && default_ttl.is_some();
    if !(explicit || fallback) {
        return Err(NotStorable::NoFreshness);
    }
    Ok(())
}

/// RFC 9111 §4.2.1: the freshness lifetime for a shared cache.
///
/// In order: an invalid `max-age`/`s-maxage` → `Some(ZERO)` (invalid → stale); `s-maxage`;
/// `max-age`; `Expires − Date` (saturating at zero; `Date` missing or invalid → `response_time`;
/// an invalid `Expires` such as `"0"` → `Some(ZERO)`, already expired; several `Expires` lines
/// → the earliest, or `ZERO` if any is invalid); then `default_ttl` if the response carries a
/// validator; otherwise `None` (no heuristic freshness, §4.2.2).
pub fn freshness_lifetime(
    headers: &HeaderMap,
    response_time: SystemTime,
    default_ttl: Option<Duration>,
) -> Option<Duration> {
    let cc = CacheControl::parse(headers);
    lifetime_with(&cc, headers, response_time, default_ttl)
}

fn lifetime_with(
    cc: &CacheControl,
    headers: &HeaderMap,
    response_time: SystemTime,
    default_ttl: Option<Duration>,
) -> Option<Duration> {
    if cc.invalid_age {
        return Some(Duration::ZERO);
    }
    // §4.2.1: a shared cache uses s-maxage first, then max-age.
    if let Some(d) = cc.s_maxage.or(cc.max_age) {
        return Some(d);
    }
    if headers.contains_key(EXPIRES) {
        let mut earliest: Option<SystemTime> = None;
        for value in headers.get_all(EXPIRES) {
            // §5.3: an invalid Expires (notably "0") represents a time in the past.
            let Some(t) = parse_date(value) else {
                return Some(Duration::ZERO);
            };
            earliest = Some(earliest.map_or(t, |e| e.min(t)));
        }
        let expires = earliest?;
        let date = first_date(headers).unwrap_or(response_time);
        return Some(expires.duration_since(date).unwrap_or(Duration::ZERO));
    }
    if has_validator(headers) {
        return default_ttl;
    }
    None
}

/// The times a cache records when it stores a response (RFC 9111 §4.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// When the request that produced the stored response was sent upstream.
    pub request_time: SystemTime,
    /// When its response (headers) arrived.
    pub response_time: SystemTime,
}

/// RFC 9111 §4.2.3 `current_age`:
///
/// ```text
/// apparent_age          = max(0, response_time - date_value)
/// response_delay        = response_time - request_time
/// corrected_age_value   = age_value + response_delay
/// corrected_initial_age = max(apparent_age, corrected_age_value)
/// resident_time         = now - response_time
/// current_age           = corrected_initial_age + resident_time
/// ```
///
/// Missing or invalid `Date` → `apparent_age` 0; missing or invalid `Age` → 0 (§5.1: a list
/// uses its first member). Every subtraction saturates at zero, so a clock going backwards
/// never panics, and additions saturate too.
pub fn current_age(headers: &HeaderMap, timing: Timing, now: SystemTime) -> Duration {
    let since = |later: SystemTime, earlier: SystemTime| {
        later.duration_since(earlier).unwrap_or(Duration::ZERO)
    };
    let apparent_age = first_date(headers)
        .map(|date| since(timing.response_time, date))
        .unwrap_or(Duration::ZERO);
    let response_delay = since(timing.response_time, timing.request_time);
    let corrected_age_value = age_value(headers).saturating_add(response_delay);
    let corrected_initial_age = apparent_age.max(corrected_age_value);
    let resident_time = since(now, timing.response_time);
    corrected_initial_age.saturating_add(resident_time)
}

/// RFC 9111 §4.2: fresh iff `freshness_lifetime > current_age` (so age == lifetime is stale).
///
/// A response with `no-cache` (§5.2.2.4) is never fresh: every reuse must be revalidated.
/// `no-store` (never stored anyway) and a response without any lifetime are not fresh either.
pub fn is_fresh(
    headers: &HeaderMap,
    timing: Timing,
    now: SystemTime,
    default_ttl: Option<Duration>,
) -> bool {
    let cc = CacheControl::parse(headers);
    if cc.no_cache || cc.no_store {
        return false;
    }
    match lifetime_with(&cc, headers, timing.response_time, default_ttl) {
        Some(lifetime) => lifetime > current_age(headers, timing, now),
        None => false,
    }
}

/// May a stale entry be served when the upstream is unreachable during revalidation?
///
/// corsgate never serves stale otherwise. RFC 9111 §4.2.4 lets a disconnected cache serve
/// stale unless an explicit directive forbids it: `must-revalidate` (§5.2.2.2),
/// `proxy-revalidate` (§5.2.2.8), `s-maxage` (§5.2.2.10, which implies proxy-revalidate) and
/// `no-cache` (§5.2.2.4: no reuse without successful validation). `no-store` and an invalid
/// `max-age`/`s-maxage` also answer `false` — the latter conservatively, since an unparsable
/// `s-maxage` might have been meant to forbid it.
pub fn may_serve_stale_on_error(headers: &HeaderMap) -> bool {
    let cc = CacheControl::parse(headers);
    !(cc.must_revalidate
        || cc.proxy_revalidate
        || cc.s_maxage.is_some()
        || cc.no_cache
        || cc.no_store
        || cc.invalid_age)
}

/// The `Age` header value for a hit: `age` in whole seconds, rounded down (RFC 9111 §5.1),
/// capped at 2^31 as §5.1 requires on overflow.
pub fn age_header_value(age: Duration) -> HeaderValue {
    let secs = age.as_secs().min(DELTA_SECONDS_MAX);
    usize::try_from(secs)
        .ok()
        .and_then(|i| first_hour().get(i).cloned())
        .unwrap_or_else(|| HeaderValue::from(secs))
}

/// The `Age` values of an entry's first hour, rendered once over static bytes: a hit
/// then clones one (a pointer copy, no refcount) rather than formatting and allocating.
fn first_hour() -> &'static [HeaderValue] {
    static TABLE: std::sync::OnceLock<Vec<HeaderValue>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let digits: &'static str = (0..3600).map(|s| s.to_string()).collect::<String>().leak();
        let mut at = 0;
        (0..3600u32)
            .map(|s| {
                let len = s.max(1).ilog10() as usize + 1;
                let text = &digits[at..at + len];
                at += len;
                HeaderValue::from_static(text)
            })
            .collect()
    })
}

/// Refresh a stored response's header fields from a `304 Not Modified` (RFC 9111 §4.3.4, §3.2).
///
/// Every field in the 304 replaces all stored lines of the same name, with these exceptions:
/// - hop-by-hop fields and those named by the 304's `Connection` (§3.1, RFC 9110 §7.6.1) are
///   not taken;
/// - `Content-Length` is not taken (§3.2);
/// - `Content-Encoding` and `Content-Range` are not taken either: they describe the stored
///   body's bytes, and §3.2 lets a cache omit fields "necessary to assure integrity of the
///   stored response". `Content-Type` *is* updated — corsgate stores bytes unparsed, so a new
///   media type cannot contradict them.
///
/// Two fields describe the exchange rather than the representation, because the caller resets
/// its [`Timing`] to the revalidation's request/response times:
/// - `Age` is always replaced: the 304's `Age` if it has one, otherwise removed (an old `Age`
///   plus new timing would double-count);
/// - `Date` is taken from the 304, and if the 304 has none the stored `Date` is removed, so the
///   entry's age restarts at the revalidation (`Expires − Date` then falls back to the new
///   `response_time`, which keeps `Expires` an absolute deadline).
pub fn merge_304(stored: &mut HeaderMap, not_modified: &HeaderMap) {
    let connection_listed = connection_tokens(not_modified);
    stored.remove(AGE);
    if !not_modified.contains_key(DATE) {
        stored.remove(DATE);
    }
    for name in not_modified.keys() {
        if is_hop_by_hop(name)
            || connection_listed.iter().any(|t| t == name.as_str())
            || name == CONTENT_LENGTH
            || name == CONTENT_ENCODING
            || name == CONTENT_RANGE
        {
            continue;
        }
        stored.remove(name);
        for value in not_modified.get_all(name) {
            stored.append(name.clone(), value.clone());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// helpers

/// Split a comma list on commas outside quoted strings; empty members dropped (RFC 9110 §5.6.1).
fn split_list(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if in_quotes {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quotes = false;
            }
        } else if c == '"' {
            in_quotes = true;
        } else if c == ',' {
            out.push(&text[start..i]);
            start = i + 1;
        }
    }
    out.push(&text[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// A directive argument as text: bare tokens as-is, quoted strings unescaped (RFC 9110 §5.6.4).
/// An unterminated or trailing-garbage quoted string is `None`.
fn unquote(arg: &str) -> Option<String> {
    let Some(rest) = arg.strip_prefix('"') else {
        return Some(arg.to_owned());
    };
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return chars.as_str().is_empty().then_some(out),
            _ => out.push(c),
        }
    }
    None
}

/// delta-seconds = 1*DIGIT (RFC 9111 §1.2.2), saturating at 2^31.
fn parse_delta_seconds(s: &str) -> Option<Duration> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs = s.bytes().fold(0u64, |acc, b| {
        acc.saturating_mul(10)
            .saturating_add(u64::from(b - b'0'))
            .min(DELTA_SECONDS_MAX)
    });
    Some(Duration::from_secs(secs))
}

fn parse_date(value: &HeaderValue) -> Option<SystemTime> {
    let text = value.to_str().ok()?;
    httpdate::parse_http_date(text.trim()).ok()
}

/// The first `Date` line, if it parses (RFC 9110 §6.6.1).
fn first_date(headers: &HeaderMap) -> Option<SystemTime> {
    headers.get(DATE).and_then(parse_date)
}

/// RFC 9111 §5.1: the first member of the first `Age` line; invalid → ignored (0).
fn age_value(headers: &HeaderMap) -> Duration {
    let Some(line) = headers.get(AGE) else {
        return Duration::ZERO;
    };
    let text = String::from_utf8_lossy(line.as_bytes());
    let first = text.split(',').next().unwrap_or("").trim();
    parse_delta_seconds(first).unwrap_or(Duration::ZERO)
}

fn has_validator(headers: &HeaderMap) -> bool {
    headers.contains_key(ETAG) || headers.contains_key(LAST_MODIFIED)
}

/// Any `Vary` member is `*` (RFC 9110 §12.5.5).
fn vary_star(headers: &HeaderMap) -> bool {
    headers.get_all(VARY).iter().any(|line| {
        let text = String::from_utf8_lossy(line.as_bytes());
        split_list(&text).contains(&"*")
    })
}

/// Lower-cased field names listed in `Connection` (RFC 9110 §7.6.1).
fn connection_tokens(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(CONNECTION)
        .iter()
        .flat_map(|line| {
            let text = String::from_utf8_lossy(line.as_bytes()).into_owned();
            split_list(&text)
                .into_iter()
                .map(str::to_ascii_lowercase)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Hop-by-hop fields (RFC 9110 §7.6.1, plus the legacy ones RFC 9111 §3.1 still names).
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

#[cfg(test)]
#[path = "freshness_tests.rs"]
mod tests;
