//! STUB (to be replaced): from a decision to the headers and local answers, per mode.
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use super::policy::CorsPolicy;

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

/// What a preflight carries. Built by the proxy from the request headers; a header
/// sent more than once must already have been refused (or, for ACRH, joined).
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

/// The CORS outcome of one request, for logs and metrics. Displays as e.g.
/// `rule#0(id)`, `deny:origin`, `no-origin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome(pub String);

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
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
pub enum Actual<'p> {
    /// Forward it, then decorate whatever response comes back (any status).
    Forward(Decoration<'p>),
    /// Enforce mode: refuse before the upstream sees it.
    Refuse(LocalAnswer),
}

/// The CORS headers an actual response gets.
#[derive(Debug)]
pub struct Decoration<'p> {
    _policy: Option<&'p CorsPolicy>,
}

impl Decoration<'_> {
    /// Strips every `Access-Control-*` header the upstream sent, adds ours, and merges
    /// our Vary tokens into the existing Vary.
    pub fn apply(&self, _headers: &mut HeaderMap) {}

    pub fn outcome(&self) -> Outcome {
        Outcome(String::new())
    }
}

/// Answers a preflight locally.
pub fn answer_preflight(
    _policy: Option<&CorsPolicy>,
    _mode: Mode,
    _input: &PreflightInput<'_>,
) -> LocalAnswer {
    LocalAnswer {
        status: StatusCode::OK,
        headers: HeaderMap::new(),
        body: String::new(),
        outcome: Outcome(String::new()),
    }
}

/// Decides an actual request.
pub fn check_actual<'p>(
    policy: Option<&'p CorsPolicy>,
    _mode: Mode,
    _input: &ActualInput<'_>,
) -> Actual<'p> {
    Actual::Forward(Decoration { _policy: policy })
}
