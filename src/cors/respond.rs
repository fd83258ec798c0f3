//! From a request's CORS headers to what the gateway does, per [`Mode`]: a local
//! answer for preflights ([`answer_preflight`]) and forward-and-decorate or refuse for
//! actual requests ([`check_actual`]). S3 mode is spec §2 and §3 byte for byte;
//! enforce mode keeps S3's rule semantics and adds Vary everywhere (spec §4.2 items
//! 7-8) and a gate on cross-origin requests. Matching is `policy.rs`'s, headers are
//! `render.rs`'s, XML bodies `s3_error.rs`'s.

use http::header::{CONTENT_TYPE, VARY};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};

use super::policy::{CorsPolicy, Decision, Failure};
use super::render::{Decoration, Granted, Miss, Outcome};
use super::s3_error;
use super::validate::is_token;
use super::vary::VarySet;

/// Per-site CORS mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Byte-for-byte S3.
    S3,
    /// S3's rule semantics plus Vary everywhere and a gate on cross-origin requests.
    #[default]
    Enforce,
}

/// Whether the URL names an object (non-empty key) or the bucket root; S3 puts it in
/// `<ResourceType>` of its 403 bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Object,
    Bucket,
}

impl Resource {
    fn as_s3(self) -> &'static str {
        match self {
            Resource::Object => "OBJECT",
            Resource::Bucket => "BUCKET",
        }
    }
}

/// What a preflight carries. Built by the proxy from the request headers; a header
/// sent more than once must already have been refused (or, for ACRH, joined); see
/// [`single`].
#[derive(Debug, Clone, Copy)]
pub struct PreflightInput<'a> {
    pub origin: Option<&'a HeaderValue>,
    pub request_method: Option<&'a HeaderValue>,
    pub request_headers: Option<&'a HeaderValue>,
    pub resource: Resource,
    /// Goes into S3's `<RequestId>` / `<HostId>`.
    pub request_id: &'a str,
}

/// What an actual (non-preflight) request carries.
#[derive(Debug, Clone, Copy)]
pub struct ActualInput<'a> {
    pub origin: Option<&'a HeaderValue>,
    pub method: &'a Method,
    pub request_method: Option<&'a HeaderValue>,
    pub request_headers: Option<&'a HeaderValue>,
    /// The request's Host (or :authority), for the same-origin test in enforce mode.
    pub host: Option<&'a str>,
    pub request_id: &'a str,
}

/// A response the gateway writes itself (preflight answers and refusals).
#[derive(Debug, Clone)]
pub struct LocalAnswer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
    pub outcome: Outcome,
}

/// What to do with an actual request.
#[derive(Debug)]
pub enum Actual {
    /// Forward it, then decorate whatever response comes back (any status).
    Forward(Decoration),
    /// Enforce mode: refuse before the upstream sees it.
    Refuse(LocalAnswer),
}

/// A header sent more than once where one value is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DuplicateHeader;

/// The value of a header that must appear at most once (Origin, ACRM). The proxy
/// refuses the request on `Err`; spec §5 open #8 leaves S3's behaviour unknown.
pub fn single<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'a HeaderValue>, DuplicateHeader> {
    let mut all = headers.get_all(name).iter();
    let first = all.next();
    match all.next() {
        Some(_) => Err(DuplicateHeader),
        None => Ok(first),
    }
}

/// S3's preflight Vary (spec §2.3), on matched answers and matched actual responses.
const S3_VARY: &VarySet = &VarySet {
    tokens: &[
        "Origin",
        "Access-Control-Request-Headers",
        "Access-Control-Request-Method",
    ],
    line: "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
};
/// Enforce mode: on every preflight answer, whatever its status.
const ENFORCE_PREFLIGHT_VARY: &VarySet = &VarySet {
    tokens: &[
        "Origin",
        "Access-Control-Request-Method",
        "Access-Control-Request-Headers",
    ],
    line: "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
};
/// Enforce mode, actual requests: ACRM/ACRH are ignored there, so only Origin varies.
const ENFORCE_ACTUAL_VARY: &VarySet = &VarySet {
    tokens: &["Origin"],
    line: "Origin",
};

/// Longest request-supplied method or header name we echo in a refusal body.
const MAX_ECHO: usize = 64;

/// Answers a preflight locally.
pub fn answer_preflight(
    policy: Option<&CorsPolicy>,
    mode: Mode,
    input: &PreflightInput<'_>,
) -> LocalAnswer {
    match mode {
        Mode::S3 => s3_preflight(policy, input),
        Mode::Enforce => enforce_preflight(policy, input),
    }
}

/// Spec §2 steps 1, 3-7 (step 2, "bucket does not exist", is the proxy's: a site
/// without a policy answers step 3).
fn s3_preflight(policy: Option<&CorsPolicy>, input: &PreflightInput<'_>) -> LocalAnswer {
    let id = input.request_id;
    let Some(origin) = input.origin else {
        let body = s3_error::bad_request(s3_error::NO_ORIGIN, id);
        return xml(StatusCode::BAD_REQUEST, body, Outcome::NoOrigin);
    };
    let Some(policy) = policy else {
        let method = input.request_method.map_or("OPTIONS".into(), lossy);
        let body = s3_error::forbidden(s3_error::NOT_ENABLED, &method, "BUCKET", id);
        return xml(StatusCode::FORBIDDEN, body, Outcome::NoCorsConfig);
    };
    // spec §2 step 4 (inferred): missing ACRM → 400 "…: null". We treat an empty ACRM
    // as missing. spec §5 open #2: a present but unknown method (PATCH, put) is
    // evaluated like any other and, matching no rule, gets the 403 of step 6.
    let Some(acrm) = input.request_method.filter(|v| !v.is_empty()) else {
        let body = s3_error::bad_request(s3_error::BAD_METHOD, id);
        return xml(StatusCode::BAD_REQUEST, body, Outcome::BadPreflight);
    };
    let acrh = input.request_headers;
    let miss = match policy.evaluate(origin.as_bytes(), acrm.as_bytes(), acrh.map(as_bytes)) {
        Decision::Matched(index) => {
            let granted = Granted::new(policy, index, origin, acrh);
            return ok_preflight(granted, S3_VARY);
        }
        Decision::NoMatch(closest) => Miss::from_closest(closest),
        // Not an S3 limit; in S3 mode it looks like any other refusal.
        Decision::TooManyHeaders => Miss::TooManyHeaders,
    };
    let method = lossy(acrm);
    let body = s3_error::forbidden(s3_error::NOT_ALLOWED, &method, input.resource.as_s3(), id);
    xml(StatusCode::FORBIDDEN, body, Outcome::Denied(miss))
}

fn enforce_preflight(policy: Option<&CorsPolicy>, input: &PreflightInput<'_>) -> LocalAnswer {
    // The proxy only calls us for OPTIONS + Origin + ACRM; the first two arms are for
    // callers that do not pre-filter.
    let Some(origin) = input.origin else {
        let body = "CORS preflight refused: Origin header missing";
        return text_preflight(StatusCode::BAD_REQUEST, body, Outcome::NoOrigin);
    };
    let Some(policy) = policy else {
        let body = "CORS is not enabled for this site";
        return text_preflight(StatusCode::FORBIDDEN, body, Outcome::NoCorsConfig);
    };
    let Some(acrm) = input.request_method.filter(|v| !v.is_empty()) else {
        let body = "CORS preflight refused: Access-Control-Request-Method header missing";
        return text_preflight(StatusCode::BAD_REQUEST, body, Outcome::BadPreflight);
    };
    let acrh = input.request_headers;
    match policy.evaluate(origin.as_bytes(), acrm.as_bytes(), acrh.map(as_bytes)) {
        Decision::Matched(index) => {
            let granted = Granted::new(policy, index, origin, acrh);
            ok_preflight(granted, ENFORCE_PREFLIGHT_VARY)
        }
        Decision::NoMatch(closest) => {
            let reason = refusal_reason(closest, acrm.as_bytes(), acrh.map(as_bytes));
            let body = format!("CORS preflight refused: {reason}");
            let outcome = Outcome::Denied(Miss::from_closest(closest));
            text_preflight(StatusCode::FORBIDDEN, &body, outcome)
        }
        Decision::TooManyHeaders => {
            let body = "CORS preflight refused: too many request headers";
            let outcome = Outcome::Denied(Miss::TooManyHeaders);
            text_preflight(StatusCode::BAD_REQUEST, body, outcome)
        }
    }
}

/// Decides an actual request.
pub fn check_actual(policy: Option<&CorsPolicy>, mode: Mode, input: &ActualInput<'_>) -> Actual {
    match mode {
        Mode::S3 => Actual::Forward(s3_actual(policy, input)),
        Mode::Enforce => enforce_actual(policy, input),
    }
}

/// Spec §3: never refuses; decorates on a match, otherwise leaves the response as it
/// is (no Vary either, spec §3 items 1, 2, 5).
fn s3_actual(policy: Option<&CorsPolicy>, input: &ActualInput<'_>) -> Decoration {
    let Some(origin) = input.origin else {
        return Decoration::new(None, &VarySet::NONE, Outcome::NoOrigin);
    };
    let Some(policy) = policy else {
        return Decoration::new(None, &VarySet::NONE, Outcome::NoCorsConfig);
    };
    // spec §3 item 3: method = ACRM if present, else the request's; ACRH checked if present.
    let method = input
        .request_method
        .map_or(input.method.as_str().as_bytes(), as_bytes);
    let acrh = input.request_headers;
    match policy.evaluate(origin.as_bytes(), method, acrh.map(as_bytes)) {
        // spec §5 open #6: with an allowed ACRH we echo ACAH here too, as §2.3's table
        // (preflight and actual alike) and Scality do.
        Decision::Matched(index) => {
            let granted = Granted::new(policy, index, origin, acrh);
            let outcome = granted.outcome();
            Decoration::new(Some(granted), S3_VARY, outcome)
        }
        Decision::NoMatch(closest) => Decoration::new(
            None,
            &VarySet::NONE,
            Outcome::NoMatch(Miss::from_closest(closest)),
        ),
        Decision::TooManyHeaders => {
            Decoration::new(None, &VarySet::NONE, Outcome::NoMatch(Miss::TooManyHeaders))
        }
    }
}

/// Enforce mode: judged on Origin + the real method only. ACRM/ACRH on a non-preflight
/// request are ignored, so a GET carrying `ACRM: DELETE` cannot borrow a DELETE rule,
/// nor can a DELETE pass as a GET.
fn enforce_actual(policy: Option<&CorsPolicy>, input: &ActualInput<'_>) -> Actual {
    // With a policy, every forwarded response varies on Origin (spec §4.2 items 7-8).
    let vary = if policy.is_some() {
        ENFORCE_ACTUAL_VARY
    } else {
        &VarySet::NONE
    };
    let Some(origin) = input.origin else {
        return Actual::Forward(Decoration::new(None, vary, Outcome::NoOrigin));
    };
    let same_origin = is_same_origin(origin.as_bytes(), input.host);
    let Some(policy) = policy else {
        if same_origin {
            return Actual::Forward(Decoration::new(None, vary, Outcome::SameOrigin));
        }
        let body = "CORS is not enabled for this site";
        return Actual::Refuse(text(
            StatusCode::FORBIDDEN,
            body,
            Outcome::NoCorsConfig,
            ENFORCE_ACTUAL_VARY,
        ));
    };
    let method = input.method.as_str().as_bytes();
    match policy.evaluate(origin.as_bytes(), method, None) {
        Decision::Matched(index) => {
            let granted = Granted::new(policy, index, origin, None);
            let outcome = granted.outcome();
            Actual::Forward(Decoration::new(Some(granted), vary, outcome))
        }
        _ if same_origin => Actual::Forward(Decoration::new(None, vary, Outcome::SameOrigin)),
        Decision::NoMatch(closest) => {
            let reason = refusal_reason(closest, method, None);
            let body = format!("CORS request refused: {reason}");
            let outcome = Outcome::Denied(Miss::from_closest(closest));
            Actual::Refuse(text(
                StatusCode::FORBIDDEN,
                &body,
                outcome,
                ENFORCE_ACTUAL_VARY,
            ))
        }
        // Unreachable without ACRH; refuse like an origin miss rather than panic.
        Decision::TooManyHeaders => {
            let body = "CORS request refused: origin not allowed";
            let outcome = Outcome::Denied(Miss::TooManyHeaders);
            Actual::Refuse(text(
                StatusCode::FORBIDDEN,
                body,
                outcome,
                ENFORCE_ACTUAL_VARY,
            ))
        }
    }
}

/// Same-origin: the Origin's `host[:port]` after `scheme://` equals the request's Host,
/// ASCII case-insensitively. Literal: `https://a.com` vs Host `a.com:443` is
/// cross-origin (no default-port folding; browsers omit default ports in both).
fn is_same_origin(origin: &[u8], host: Option<&str>) -> bool {
    let Some(host) = host else { return false };
    let Some(sep) = origin.windows(3).position(|w| w == b"://") else {
        return false; // `null`, `whatever`: never same-origin
    };
    origin[sep + 3..].eq_ignore_ascii_case(host.as_bytes())
}

/// The refusal reason for a body: the failed condition, never the allow-list. Only
/// request values that are short tokens are echoed.
fn refusal_reason(closest: Option<(usize, Failure)>, method: &[u8], acrh: Option<&[u8]>) -> String {
    match closest {
        None | Some((_, Failure::Origin)) => "origin not allowed".into(),
        Some((_, Failure::Method)) => match echoable(method) {
            Some(m) => format!("method {m} not allowed"),
            None => "method not allowed".into(),
        },
        Some((_, Failure::Header { start, end })) => {
            match acrh.and_then(|h| h.get(start..end)).and_then(echoable) {
                Some(name) => format!("request header {} not allowed", name.to_ascii_lowercase()),
                None => "request header not allowed".into(),
            }
        }
    }
}

fn echoable(raw: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(raw).ok()?;
    (s.len() <= MAX_ECHO && is_token(s)).then_some(s)
}

fn ok_preflight(granted: Granted, vary: &'static VarySet) -> LocalAnswer {
    // Room for every header we write, so the map never grows.
    let mut headers = HeaderMap::with_capacity(8);
    let outcome = granted.outcome();
    granted.write(&mut headers);
    vary.apply(&mut headers);
    LocalAnswer {
        status: StatusCode::OK,
        headers,
        body: String::new(),
        outcome,
    }
}

/// S3 error answers: XML, and no Access-Control-* or Vary (spec §2 step 6).
fn xml(status: StatusCode, body: String, outcome: Outcome) -> LocalAnswer {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    LocalAnswer {
        status,
        headers,
        body,
        outcome,
    }
}

fn text_preflight(status: StatusCode, body: &str, outcome: Outcome) -> LocalAnswer {
    text(status, body, outcome, ENFORCE_PREFLIGHT_VARY)
}

/// Enforce-mode refusals: short plain text, one line, with the mode's Vary.
fn text(status: StatusCode, body: &str, outcome: Outcome, vary: &'static VarySet) -> LocalAnswer {
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    vary.apply(&mut headers);
    debug_assert!(headers.contains_key(VARY));
    LocalAnswer {
        status,
        headers,
        body: format!("{body}\n"),
        outcome,
    }
}

fn as_bytes(v: &HeaderValue) -> &[u8] {
    v.as_bytes()
}

/// A header value as text for an XML body; obs-text bytes become U+FFFD.
fn lossy(v: &HeaderValue) -> String {
    String::from_utf8_lossy(v.as_bytes()).into_owned()
}
