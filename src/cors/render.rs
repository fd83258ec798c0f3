//! From a matched rule to response headers, and the log [`Outcome`] of a decision.
//! Owns the success headers of spec §2.3 (shared by preflight answers and decorated
//! actual responses) and [`Decoration::apply`], the only place that edits an upstream
//! response. Values are pre-rendered in `policy.rs` or cloned from the request; nothing
//! here builds a header value from request bytes except the lowercased ACAH echo,
//! through a fallible constructor.

use std::fmt;
use std::sync::Arc;

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
};
use http::{HeaderMap, HeaderName, HeaderValue};

use super::policy::{header_names, CorsPolicy, Failure, Rule};
use super::vary::VarySet;

/// Why no rule matched: the failed condition of the closest rule (the one that got
/// furthest: header > method > origin; ties go to the earlier rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Miss {
    /// No rule allows this Origin.
    Origin,
    /// The origin matched rule `rule` (the closest), its methods did not.
    Method { rule: usize },
    /// Origin and method matched rule `rule`, a requested header did not.
    Header { rule: usize },
    /// Access-Control-Request-Headers over the limits; not read.
    TooManyHeaders,
}

impl Miss {
    pub(crate) fn from_closest(closest: Option<(usize, Failure)>) -> Miss {
        match closest {
            None | Some((_, Failure::Origin)) => Miss::Origin,
            Some((rule, Failure::Method)) => Miss::Method { rule },
            Some((rule, Failure::Header { .. })) => Miss::Header { rule },
        }
    }
}

impl fmt::Display for Miss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Miss::Origin => f.write_str("origin"),
            Miss::Method { rule } => write!(f, "method(rule#{rule})"),
            Miss::Header { rule } => write!(f, "header(rule#{rule})"),
            Miss::TooManyHeaders => f.write_str("too-many-headers"),
        }
    }
}

/// The CORS outcome of one request, for logs and metrics. Displays as `rule#0`,
/// `rule#0(my-id)`, `deny:origin`, `deny:method(rule#1)`, `deny:too-many-headers`,
/// `no-match:header(rule#2)`, `no-origin`, `same-origin`, `no-cors-config`,
/// `bad-preflight`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Rule `rule` matched; its headers were (or will be) sent.
    Matched { rule: usize, id: Option<Arc<str>> },
    /// Refused: a 403 (or enforce-mode 400) was answered.
    Denied(Miss),
    /// S3 mode, actual request: no rule matched, forwarded without CORS headers.
    NoMatch(Miss),
    /// No Origin header: not a CORS request.
    NoOrigin,
    /// Enforce mode: Origin names this very host and no rule matched; forwarded.
    SameOrigin,
    /// The site has no CORS configuration.
    NoCorsConfig,
    /// A preflight without a usable Access-Control-Request-Method (400).
    BadPreflight,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Matched { rule, id: None } => write!(f, "rule#{rule}"),
            // The ID comes from the config file; escaped so it cannot break a log line.
            Outcome::Matched { rule, id: Some(id) } => {
                write!(f, "rule#{rule}({})", id.escape_debug())
            }
            Outcome::Denied(miss) => write!(f, "deny:{miss}"),
            Outcome::NoMatch(miss) => write!(f, "no-match:{miss}"),
            Outcome::NoOrigin => f.write_str("no-origin"),
            Outcome::SameOrigin => f.write_str("same-origin"),
            Outcome::NoCorsConfig => f.write_str("no-cors-config"),
            Outcome::BadPreflight => f.write_str("bad-preflight"),
        }
    }
}

/// The success headers of one match (spec §2.3). It owns its values (cloning a
/// pre-rendered value is a reference-count bump), so a decision can outlive the
/// borrow of the policy it came from, e.g. while a request waits on its upstream.
#[derive(Debug, Clone)]
pub(crate) struct Granted {
    index: usize,
    id: Option<Arc<str>>,
    /// `*`, or the request's Origin (copied when written).
    allow_origin: HeaderValue,
    allow_methods: HeaderValue,
    /// The requested header names, lowercased, in request order; `None` without ACRH.
    allow_headers: Option<HeaderValue>,
    expose_headers: Option<HeaderValue>,
    max_age: Option<HeaderValue>,
}

impl Granted {
    pub(crate) fn new(
        policy: &CorsPolicy,
        index: usize,
        origin: &HeaderValue,
        request_headers: Option<&HeaderValue>,
    ) -> Granted {
        let rule: &Rule = policy.rule(index);
        // Still the request's own bytes; `write` copies them (see there).
        let allow_origin = if rule.star_origin {
            HeaderValue::from_static("*")
        } else {
            origin.clone()
        };
        Granted {
            index,
            id: rule.id.clone(),
            allow_origin,
            allow_methods: rule.allow_methods.clone(),
            allow_headers: request_headers.and_then(echo_request_headers),
            expose_headers: rule.expose_headers.clone(),
            max_age: rule.max_age.clone(),
        }
    }

    pub(crate) fn outcome(&self) -> Outcome {
        Outcome::Matched {
            rule: self.index,
            id: self.id.clone(),
        }
    }

    fn writes_same(&self, other: &Granted) -> bool {
        fn same(a: &HeaderValue, b: &HeaderValue) -> bool {
            // Values of one policy snapshot are clones of one buffer: the pointer test
            // settles most comparisons without reading bytes.
            let (a, b) = (a.as_bytes(), b.as_bytes());
            (a.as_ptr() == b.as_ptr() && a.len() == b.len()) || a == b
        }
        fn same_opt(a: &Option<HeaderValue>, b: &Option<HeaderValue>) -> bool {
            match (a, b) {
                (None, None) => true,
                (Some(a), Some(b)) => same(a, b),
                _ => false,
            }
        }
        same(&self.allow_origin, &other.allow_origin)
            && same(&self.allow_methods, &other.allow_methods)
            && same_opt(&self.allow_headers, &other.allow_headers)
            && same_opt(&self.expose_headers, &other.expose_headers)
            && same_opt(&self.max_age, &other.max_age)
    }

    /// Inserts (replacing) the CORS response headers of this match.
    pub(crate) fn write(self, headers: &mut HeaderMap) {
        let origin = self.allow_origin;
        let star = origin.as_bytes() == b"*";
        // A copy, not the request's value: that shares the server's read buffer, which
        // the server can only reuse once nothing from the request is left.
        let origin = if star {
            origin
        } else {
            HeaderValue::from_bytes(origin.as_bytes()).unwrap_or(origin)
        };
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        // ACAC exactly when ACAO is not `*` (AWS snapshot; Fetch forbids the pair).
        if !star {
            headers.insert(
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        headers.insert(ACCESS_CONTROL_ALLOW_METHODS, self.allow_methods);
        if let Some(v) = self.allow_headers {
            headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, v);
        }
        if let Some(v) = self.expose_headers {
            headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, v);
        }
        if let Some(v) = self.max_age {
            headers.insert(ACCESS_CONTROL_MAX_AGE, v);
        }
    }
}

/// ACAH: the requested names lowercased, in request order, `, `-joined (spec §2.3);
/// `None` when the list is empty after dropping empty items.
fn echo_request_headers(acrh: &HeaderValue) -> Option<HeaderValue> {
    let raw = acrh.as_bytes();
    let mut out = Vec::with_capacity(raw.len());
    for (start, end) in header_names(raw) {
        if !out.is_empty() {
            out.extend_from_slice(b", ");
        }
        out.extend(raw[start..end].iter().map(u8::to_ascii_lowercase));
    }
    if out.is_empty() {
        return None;
    }
    // Bytes come from a valid HeaderValue, lowercased: cannot fail, but never panic.
    HeaderValue::from_bytes(&out).ok()
}

/// The CORS headers an actual response gets.
#[derive(Debug, Clone)]
pub struct Decoration {
    granted: Option<Granted>,
    /// Vary tokens to merge in (empty: leave Vary alone).
    vary: &'static VarySet,
    outcome: Outcome,
}

impl Decoration {
    pub(crate) fn new(
        granted: Option<Granted>,
        vary: &'static VarySet,
        outcome: Outcome,
    ) -> Decoration {
        Decoration {
            granted,
            vary,
            outcome,
        }
    }

    /// Strips every `Access-Control-*` header the upstream sent (ours are the only
    /// CORS answer the client sees), adds ours, and merges our Vary tokens into the
    /// existing Vary. Works on any status.
    pub fn apply(self, headers: &mut HeaderMap) {
        strip_access_control(headers);
        self.add(headers);
    }

    /// [`Decoration::apply`] for headers known to hold no `Access-Control-*` field (a
    /// stored cache entry), which therefore need no strip.
    pub fn add(self, headers: &mut HeaderMap) {
        if let Some(granted) = self.granted {
            granted.write(headers);
        }
        if !self.vary.is_empty() {
            self.vary.apply(headers);
        }
    }

    pub fn outcome(&self) -> Outcome {
        self.outcome.clone()
    }

    /// Whether [`Decoration::add`] writes exactly the fields `other`'s would, byte for
    /// byte (the log outcome aside), on any header map.
    pub fn writes_same(&self, other: &Decoration) -> bool {
        let same_granted = match (&self.granted, &other.granted) {
            (None, None) => true,
            (Some(a), Some(b)) => a.writes_same(b),
            _ => false,
        };
        same_granted && self.vary.tokens == other.vary.tokens
    }

    /// Whether a rule matched and CORS headers will be added.
    pub fn is_granted(&self) -> bool {
        self.granted.is_some()
    }
}

/// Removes every header whose name starts with `access-control-` (names are stored
/// lowercase by `http`).
pub fn strip_access_control(headers: &mut HeaderMap) {
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with("access-control-"))
        .cloned()
        .collect();
    for name in doomed {
        headers.remove(name);
    }
}
