//! Access control for sites that sign upstream requests: who may use the site, and
//! which S3 operations it may be used for.
//!
//! A signing proxy lends its credentials to every request it forwards, so this module
//! is deny-by-default at each level: only allowed methods, only object operations
//! (bucket listing is opt-in), only allow-listed query parameters and `x-amz-*`
//! headers, and then the site's authentication (none, a JWT, or the client's own
//! presigned URL). [`check`] is pure and synchronous: it judges the request head and
//! returns a [`Grant`] or the reason it [`Denied`]; it never edits the request (the
//! pipeline strips the client's own auth before signing) and never does I/O (JWT keys
//! are loaded ahead by [`jwt::JwtVerifier`], which owns the only I/O here).
//!
//! Precondition: the pipeline has already refused dot segments and non-path targets
//! (`proxy::path::check`) and answered preflights, so OPTIONS never arrives here.
//!
//! Layout: `methods` ([`MethodSet`]) → `operation` (what S3 operation a request is) →
//! `amz_headers` (the `x-amz-*` allow-list) → [`jwt`] (+ `jwks`: key sets, loading,
//! refresh).

mod amz_headers;
mod jwks;
pub mod jwt;
mod methods;
pub mod operation;

#[cfg(test)]
mod jwt_check_tests;
#[cfg(test)]
mod jwt_tests;
#[cfg(test)]
mod mode_tests;
#[cfg(test)]
mod refresh_tests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::SystemTime;

use http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};

pub use methods::MethodSet;
pub use operation::{is_query_auth_param, Operation};

/// How a site authenticates its clients.
pub enum AccessMode {
    /// Anyone, within the method and operation limits.
    Public,
    /// `Authorization: Bearer <JWT>`, verified against pre-loaded keys.
    Jwt(Arc<jwt::JwtVerifier>),
    /// The client's own SigV4 presigned URL, forwarded unsigned and byte-exact: S3
    /// checks the signature, the proxy lends no credentials.
    Presigned,
}

/// One site's access rules.
pub struct AccessPolicy {
    pub mode: AccessMode,
    /// Deny by default: only these methods are ever forwarded (and signed).
    pub methods: MethodSet,
    /// Opt-in: bucket-level requests (empty key: ListObjects, ListObjectsV2
    /// `?list-type=2`, HEAD bucket). Default false.
    pub allow_listing: bool,
}

/// Why a request is refused: 401 when the client's credentials are missing or bad,
/// 403 when it is authenticated (or needs no authentication) but asks for something
/// this site never does, 503 when the site cannot judge tokens at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub status: StatusCode,
    pub kind: DenyKind,
    /// For the client and the log; never contains a token or a secret.
    pub reason: String,
}

/// Short stable labels for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DenyKind {
    NoToken,
    BadToken,
    Expired,
    NotYetValid,
    WrongIssuer,
    WrongAudience,
    /// The token names a `kid` the key set does not hold (maybe a rotation the next
    /// refresh will pick up).
    UnknownKey,
    Method,
    Operation,
    Header,
    PathClaim,
    MethodClaim,
    NotPresigned,
    JwksUnavailable,
}

impl DenyKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            DenyKind::NoToken => "no-token",
            DenyKind::BadToken => "bad-token",
            DenyKind::Expired => "expired",
            DenyKind::NotYetValid => "not-yet-valid",
            DenyKind::WrongIssuer => "issuer",
            DenyKind::WrongAudience => "audience",
            DenyKind::UnknownKey => "unknown-key",
            DenyKind::Method => "method",
            DenyKind::Operation => "operation",
            DenyKind::Header => "header",
            DenyKind::PathClaim => "path-claim",
            DenyKind::MethodClaim => "method-claim",
            DenyKind::NotPresigned => "not-presigned",
            DenyKind::JwksUnavailable => "jwks-unavailable",
        }
    }

    /// The status that follows from the kind, so the two never disagree.
    pub fn status(&self) -> StatusCode {
        match self {
            DenyKind::NoToken
            | DenyKind::BadToken
            | DenyKind::Expired
            | DenyKind::NotYetValid
            | DenyKind::WrongIssuer
            | DenyKind::WrongAudience
            | DenyKind::UnknownKey => StatusCode::UNAUTHORIZED,
            DenyKind::JwksUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::FORBIDDEN,
        }
    }
}

impl Denied {
    pub fn new(kind: DenyKind, reason: impl Into<String>) -> Denied {
        Denied {
            status: kind.status(),
            kind,
            reason: reason.into(),
        }
    }

    /// The `WWW-Authenticate` a 401 must carry (RFC 9110 §11.6.1), in RFC 6750 §3's
    /// Bearer form: no error code when no token came, `invalid_token` otherwise.
    pub fn www_authenticate(&self) -> Option<HeaderValue> {
        match (self.status, self.kind) {
            (StatusCode::UNAUTHORIZED, DenyKind::NoToken) => {
                Some(HeaderValue::from_static("Bearer"))
            }
            (StatusCode::UNAUTHORIZED, _) => {
                Some(HeaderValue::from_static("Bearer error=\"invalid_token\""))
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.status.as_u16(),
            self.kind.as_str(),
            self.reason
        )
    }
}

/// What the pipeline needs afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The client sent a presigned query on a Presigned site: forward unsigned and
    /// byte-exact. On Public and Jwt sites a presigned query is just a request (the
    /// pipeline strips the client's auth, [`is_query_auth_param`], and signs).
    pub presigned: bool,
    /// The JWT subject, for the access log (never the token).
    pub subject: Option<String>,
    /// The operation the request is, for logs and metrics.
    pub operation: Operation,
}

/// Judges one request head against a site's policy, in a fixed order: method,
/// operation (key and query parameter names), `x-amz-*` headers, then the mode's
/// authentication. `path` in `uri` is as the client sent it (percent-encoded); the
/// key is the path minus its leading `/`. `now` is injected so tests drive time.
pub fn check(
    policy: &AccessPolicy,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    now: SystemTime,
) -> Result<Grant, Denied> {
    if !policy.methods.contains(method) {
        return Err(Denied::new(
            DenyKind::Method,
            format!(
                "method {method} is not allowed on this site (allowed: {})",
                policy.methods
            ),
        ));
    }
    let path = uri.path();
    let operation = operation::classify(
        method,
        path,
        uri.query(),
        policy.methods,
        policy.allow_listing,
    )
    .map_err(|why| Denied::new(DenyKind::Operation, why))?;
    for name in headers.keys() {
        // HeaderName is lower case already.
        if let Err(why) = amz_headers::judge(name.as_str(), method) {
            return Err(Denied::new(
                DenyKind::Header,
                format!("header {name} is {why}"),
            ));
        }
    }
    match &policy.mode {
        AccessMode::Public => Ok(Grant {
            presigned: false,
            subject: None,
            operation,
        }),
        AccessMode::Presigned => {
            if !operation::param_names(uri.query()).any(|n| n == "X-Amz-Signature") {
                return Err(Denied::new(
                    DenyKind::NotPresigned,
                    "this site only forwards SigV4 presigned URLs (X-Amz-Signature is missing)",
                ));
            }
            Ok(Grant {
                presigned: true,
                subject: None,
                operation,
            })
        }
        AccessMode::Jwt(verifier) => {
            let token = bearer(headers)?;
            let claims = verifier.verify(token, now)?;
            claims.permits(method, path)?;
            Ok(Grant {
                presigned: false,
                subject: claims.sub,
                operation,
            })
        }
    }
}

/// Whether a query carries SigV4 query auth (`X-Amz-Signature` or `X-Amz-Credential`,
/// names decoded and exact, as SigV4 spells them).
pub fn is_presigned(query: Option<&str>) -> bool {
    operation::param_names(query).any(|n| n == "X-Amz-Signature" || n == "X-Amz-Credential")
}

/// The token of the one `Authorization: Bearer` header (scheme case-insensitive,
/// RFC 9110 §11.1; RFC 6750 §2.1).
fn bearer(headers: &HeaderMap) -> Result<&str, Denied> {
    const HOW: &str = "send Authorization: Bearer <token> (WWW-Authenticate: Bearer)";
    let mut all = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = all.next() else {
        return Err(Denied::new(
            DenyKind::NoToken,
            format!("no bearer token: {HOW}"),
        ));
    };
    if all.next().is_some() {
        return Err(Denied::new(
            DenyKind::BadToken,
            "more than one Authorization header",
        ));
    }
    let value = value
        .to_str()
        .map_err(|_| Denied::new(DenyKind::BadToken, "Authorization is not visible ASCII"))?;
    let (scheme, token) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Denied::new(
            DenyKind::NoToken,
            format!("the Authorization scheme is not Bearer: {HOW}"),
        ));
    }
    let token = token.trim_start_matches(' ');
    if token.is_empty() || token.contains(' ') {
        return Err(Denied::new(
            DenyKind::BadToken,
            "the Bearer credential must be one token",
        ));
    }
    Ok(token)
}
