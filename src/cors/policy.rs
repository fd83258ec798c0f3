//! The compiled policy and the match decision (spec §2 step 5, §2.1, §2.2).
//!
//! `compile` validates (all errors, see `validate.rs`) and then builds, once: exact
//! origins in a hash map, wildcard origins as prefix/suffix pairs, methods as a bitset,
//! lowercased header patterns, and the rule's response header values pre-rendered
//! (tower-http's shape), so a request only clones them. `evaluate` is the hot path and
//! allocates nothing; `explain` is its per-rule, allocating twin for diagnostics.
//! Turning a decision into headers or bodies is `respond.rs`'s job.

use std::collections::HashMap;
use std::sync::Arc;

use http::HeaderValue;

use super::model::{ErrorCode, Location, RuleSpec, ValidationError};
use super::pattern::Pattern;
use super::validate::{validate, METHODS};

/// At most this many names in Access-Control-Request-Headers. Browsers send a handful
/// (the AWS SDK about ten, spec §4.3); more is abuse, refused unread.
pub const MAX_REQUEST_HEADER_NAMES: usize = 64;
/// At most this many bytes in Access-Control-Request-Headers.
pub const MAX_REQUEST_HEADERS_BYTES: usize = 8 * 1024;

/// A validated, compiled rule list. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct CorsPolicy {
    /// The rules as written, for `rules()` (GetBucketCors, `explain`, logs).
    specs: Vec<RuleSpec>,
    rules: Vec<Rule>,
    /// Exact (wildcard-free) AllowedOrigin → indices of the rules listing it, ascending.
    /// One lookup per request replaces a string compare per origin per rule. Built
    /// from config and only read afterwards, so no request can grow a bucket: a fast
    /// hash is safe where SipHash would guard against flooding.
    exact_origins: HashMap<Box<[u8]>, Vec<usize>, foldhash::fast::RandomState>,
}

/// One compiled rule.
#[derive(Debug)]
pub(crate) struct Rule {
    /// The rule's ID; an `Arc` so an [`Outcome`](super::Outcome) can carry it cheaply.
    pub(crate) id: Option<Arc<str>>,
    /// AllowedOrigins contains the literal `*`: ACAO is `*` (spec §2.3). spec §5 open
    /// #3: when `*` sits next to specific origins we still answer `*`, as the clones do.
    pub(crate) star_origin: bool,
    /// Origin patterns with a `*` (exact ones live in `CorsPolicy::exact_origins`).
    origin_patterns: Vec<Pattern>,
    /// Bitset over [`method_bit`].
    methods: u8,
    /// Lowercased AllowedHeader patterns; empty = no requested header is allowed.
    header_patterns: Vec<Pattern>,
    /// Access-Control-Allow-Methods: all methods in configured order, `, `-joined.
    pub(crate) allow_methods: HeaderValue,
    /// Access-Control-Expose-Headers: verbatim, `, `-joined; `None` if not configured.
    pub(crate) expose_headers: Option<HeaderValue>,
    /// Access-Control-Max-Age in decimal. spec §5 open #5: emitted for 0 as well,
    /// since the rule says so explicitly (and 0 means "do not cache" to browsers).
    pub(crate) max_age: Option<HeaderValue>,
}

/// Why a rule did not match: the first condition that failed for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Origin,
    Method,
    /// The requested header at this byte range of the Access-Control-Request-Headers value.
    Header {
        start: usize,
        end: usize,
    },
}

impl Failure {
    /// How far a rule got before failing; the closest rule is the one that got furthest.
    fn progress(self) -> u8 {
        match self {
            Failure::Origin => 0,
            Failure::Method => 1,
            Failure::Header { .. } => 2,
        }
    }
}

/// Result of scanning the rules in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Index of the first rule that fully matched.
    Matched(usize),
    /// No rule matched; the rule that came closest and the condition it failed on
    /// (`None` when the policy has no rules).
    NoMatch(Option<(usize, Failure)>),
    /// Access-Control-Request-Headers over the bound (names or bytes): refused unread.
    TooManyHeaders,
}

/// One rule's verdict, from [`CorsPolicy::explain`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleVerdict {
    pub rule: usize,
    pub id: Option<Arc<str>>,
    /// `None`: the rule matches fully; else the first condition it fails.
    pub failure: Option<Failure>,
}

impl CorsPolicy {
    /// Validates like S3's PutBucketCors (all errors, not the first) and compiles.
    pub fn compile(rules: &[RuleSpec]) -> Result<CorsPolicy, Vec<ValidationError>> {
        let errs = validate(rules);
        if !errs.is_empty() {
            return Err(errs);
        }
        let mut exact_origins: HashMap<Box<[u8]>, Vec<usize>, _> = HashMap::default();
        let mut compiled = Vec::with_capacity(rules.len());
        let mut errs = Vec::new();
        for (i, spec) in rules.iter().enumerate() {
            let mut origin_patterns = Vec::new();
            for origin in &spec.allowed_origins {
                match Pattern::parse(origin.as_bytes()) {
                    Pattern::Exact(lit) => {
                        let list = exact_origins.entry(lit).or_default();
                        // A rule listing the same origin twice keeps one index.
                        if list.last() != Some(&i) {
                            list.push(i);
                        }
                    }
                    other => origin_patterns.push(other),
                }
            }
            let methods = spec
                .allowed_methods
                .iter()
                .fold(0, |set, m| set | method_bit(m.as_bytes()));
            let header_patterns = spec
                .allowed_headers
                .iter()
                .map(|h| Pattern::parse_lowercase(h.as_bytes()))
                .collect();
            // Validation makes these renderings infallible; should one fail anyway we
            // report it instead of panicking.
            let mut render = |list: &[String]| -> Option<HeaderValue> {
                if list.is_empty() {
                    return None;
                }
                HeaderValue::from_str(&list.join(", "))
                    .map_err(|_| {
                        errs.push(ValidationError {
                            at: Location {
                                rule: Some(i),
                                ..Location::default()
                            },
                            code: ErrorCode::InvalidRequest,
                            message: "rule renders to an invalid header value".into(),
                        })
                    })
                    .ok()
            };
            let allow_methods = render(&spec.allowed_methods);
            let expose_headers = render(&spec.expose_headers);
            let max_age = spec.max_age_seconds.map(HeaderValue::from);
            compiled.push(Rule {
                id: spec.id.as_deref().map(Arc::from),
                star_origin: spec.allowed_origins.iter().any(|o| o == "*"),
                origin_patterns,
                methods,
                header_patterns,
                allow_methods: allow_methods.unwrap_or(HeaderValue::from_static("")),
                expose_headers,
                max_age,
            });
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(CorsPolicy {
            specs: rules.to_vec(),
            rules: compiled,
            exact_origins,
        })
    }

    /// The rules as written, in order.
    pub fn rules(&self) -> &[RuleSpec] {
        &self.specs
    }

    /// The ID of rule `index`, if it has one.
    pub fn rule_id(&self, index: usize) -> Option<&Arc<str>> {
        self.rules.get(index)?.id.as_ref()
    }

    pub(crate) fn rule(&self, index: usize) -> &Rule {
        &self.rules[index]
    }

    /// First full match on origin + method + every requested header (spec §2 step 5).
    /// Allocates nothing.
    pub fn evaluate(
        &self,
        origin: &[u8],
        method: &[u8],
        request_headers: Option<&[u8]>,
    ) -> Decision {
        if request_headers.is_some_and(over_limits) {
            return Decision::TooManyHeaders;
        }
        let exact = self.exact_hits(origin);
        let bit = method_bit(method);
        let mut closest: Option<(usize, Failure)> = None;
        for index in 0..self.rules.len() {
            match self.check(index, exact, origin, bit, request_headers) {
                Ok(()) => return Decision::Matched(index),
                Err(f) => {
                    // Strictly greater: ties keep the earlier rule.
                    if closest.is_none_or(|(_, c)| f.progress() > c.progress()) {
                        closest = Some((index, f));
                    }
                }
            }
        }
        Decision::NoMatch(closest)
    }

    /// Every rule's verdict for this request, in order (for an `explain` command and
    /// debug logs). Unlike [`evaluate`](Self::evaluate) it applies no size limits.
    pub fn explain(
        &self,
        origin: &[u8],
        method: &[u8],
        request_headers: Option<&[u8]>,
    ) -> Vec<RuleVerdict> {
        let exact = self.exact_hits(origin);
        let bit = method_bit(method);
        (0..self.rules.len())
            .map(|index| RuleVerdict {
                rule: index,
                id: self.rules[index].id.clone(),
                failure: self.check(index, exact, origin, bit, request_headers).err(),
            })
            .collect()
    }

    fn exact_hits(&self, origin: &[u8]) -> &[usize] {
        self.exact_origins.get(origin).map_or(&[], Vec::as_slice)
    }

    fn check(
        &self,
        index: usize,
        exact: &[usize],
        origin: &[u8],
        method_bit: u8,
        request_headers: Option<&[u8]>,
    ) -> Result<(), Failure> {
        let rule = &self.rules[index];
        let origin_ok = exact.binary_search(&index).is_ok()
            || rule.origin_patterns.iter().any(|p| p.matches(origin));
        if !origin_ok {
            return Err(Failure::Origin);
        }
        if rule.methods & method_bit == 0 {
            return Err(Failure::Method);
        }
        if let Some(acrh) = request_headers {
            for (start, end) in header_names(acrh) {
                let name = &acrh[start..end];
                if !rule
                    .header_patterns
                    .iter()
                    .any(|p| p.matches_ignore_case(name))
                {
                    return Err(Failure::Header { start, end });
                }
            }
        }
        Ok(())
    }
}

/// The method's bit; 0 for anything but the five exact, case-sensitive names (spec §2
/// step 5; spec §5 open #1: we assume case-sensitive), so it matches no rule.
pub(crate) fn method_bit(method: &[u8]) -> u8 {
    METHODS
        .iter()
        .position(|m| m.as_bytes() == method)
        .map_or(0, |i| 1 << i)
}

fn over_limits(acrh: &[u8]) -> bool {
    acrh.len() > MAX_REQUEST_HEADERS_BYTES
        || header_names(acrh).nth(MAX_REQUEST_HEADER_NAMES).is_some()
}

/// Byte ranges of the names in an Access-Control-Request-Headers value: split on `,`,
/// each item trimmed of ASCII whitespace, empty items dropped (spec §2.2:
/// `content-type,,expires` is two names). Allocates nothing.
pub fn header_names(acrh: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        while pos <= acrh.len() {
            let rest = &acrh[pos..];
            let len = rest.iter().position(|&b| b == b',').unwrap_or(rest.len());
            let (mut start, mut end) = (pos, pos + len);
            pos = end + 1;
            while start < end && acrh[start].is_ascii_whitespace() {
                start += 1;
            }
            while end > start && acrh[end - 1].is_ascii_whitespace() {
                end -= 1;
            }
            if start < end {
                return Some((start, end));
            }
        }
        None
    })
}
