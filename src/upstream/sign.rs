//! Phase 6: SigV4 signing of forwarded requests for private buckets, with the
//! `aws-sigv4` crate (never by hand). Pure: the credentials and the time are inputs.
//!
//! What S3 checks is the canonical request it computes itself, so everything here
//! exists to make ours equal to S3's:
//! - **Path.** S3 percent-decodes the path to the object key, then encodes every
//!   segment once (uppercase hex; unreserved characters and `/` kept; empty segments
//!   kept) — <https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html>.
//!   So the client's path is decoded and re-encoded that way, signed with the SDK's
//!   `PercentEncodingMode::Single` (path used as given) and forwarded exactly as signed.
//!   `%2F` therefore becomes `/`, which is what S3 makes of it too. A literal `+` stays a
//!   `+` (encoded `%2B`): it is a plus in a path (RFC 3986), and every SDK sends a key's
//!   `+` as `%2B`.
//! - **Headers.** Signed: `host`, `content-type`, `content-md5`, `range` and every
//!   `x-amz-*` (S3 requires those to be signed). Nothing hyper may rewrite on the way
//!   (`content-length`, `transfer-encoding`) is signed.
//! - **Payload.** Never buffered: `UNSIGNED-PAYLOAD`, or the client's own SHA-256 when
//!   it sent one (S3 then still checks the body end to end). `aws-chunked` uploads with
//!   unsigned chunks (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`, current SDKs' default) are
//!   forwarded framed as they are; the framing is S3's to decode. Signed chunks chain from
//!   the client's own seed signature, which our credentials cannot continue: refused.
//! - **The client's own auth** (Authorization, X-Amz-Date, X-Amz-Security-Token, a
//!   presigned query) is removed first: the upstream must see ours alone.
use std::borrow::Cow;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use http::uri::PathAndQuery;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

const X_AMZ_CONTENT_SHA256: &str = "x-amz-content-sha256";

/// Everything but RFC 3986's unreserved characters and `/`.
const S3_PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// Query parameters of SigV4 (and SigV2) query authentication: a presigned URL's auth.
const QUERY_AUTH: [&str; 10] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
    "AWSAccessKeyId",
    "Signature",
    "Expires",
];

/// Why a request cannot be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The client's fault: answered 400 with this reason.
    #[error("{0}")]
    BadRequest(&'static str),
    /// The signing library refused; our fault.
    #[error("signing failed: {0}")]
    Failed(String),
}

/// How the body is declared to S3, decided by the client's `x-amz-content-sha256`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    Unsigned,
    /// `aws-chunked` with unsigned chunks and trailing checksums, forwarded framed.
    UnsignedTrailer,
    /// The client declared the body's SHA-256 (lowercase hex).
    Sha256(String),
}

impl Payload {
    /// Reads the client's declaration. Signed `aws-chunked` bodies are refused: each
    /// chunk signature chains from the client's seed signature, which is replaced by ours.
    pub fn of(headers: &HeaderMap) -> Result<Payload, SignError> {
        let Some(v) = headers.get(X_AMZ_CONTENT_SHA256) else {
            return Ok(Payload::Unsigned);
        };
        let v = v.to_str().unwrap_or("");
        match v {
            "UNSIGNED-PAYLOAD" => Ok(Payload::Unsigned),
            "STREAMING-UNSIGNED-PAYLOAD-TRAILER" => Ok(Payload::UnsignedTrailer),
            _ if v.starts_with("STREAMING-") => Err(SignError::BadRequest(
                "signed aws-chunked uploads (x-amz-content-sha256: STREAMING-AWS4-…) chain from \
                 the client's own signature and cannot be re-signed by the gateway; send \
                 UNSIGNED-PAYLOAD or STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            )),
            _ if v.len() == 64 && v.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) => {
                Ok(Payload::Sha256(v.to_owned()))
            }
            _ => Err(SignError::BadRequest(
                "x-amz-content-sha256 is neither a SHA-256 nor a known payload mode",
            )),
        }
    }

    fn signable(&self) -> SignableBody<'_> {
        match self {
            Payload::Unsigned => SignableBody::UnsignedPayload,
            Payload::UnsignedTrailer => SignableBody::StreamingUnsignedPayloadTrailer,
            Payload::Sha256(h) => SignableBody::Precomputed(h.clone()),
        }
    }
}

/// The path S3 will compute from `raw`: decoded to the key, each byte outside the
/// unreserved set and `/` encoded once in uppercase hex. A key that is not UTF-8 is
/// refused (S3 keys are UTF-8).
pub fn canonical_path(raw: &str) -> Result<Cow<'_, str>, SignError> {
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| SignError::BadRequest("the object key is not valid UTF-8"))?;
    Ok(match utf8_percent_encode(&decoded, S3_PATH).into() {
        Cow::Borrowed(s) if s == raw => Cow::Borrowed(raw),
        other => Cow::Owned(other.into_owned()),
    })
}

/// `query` without its query-authentication parameters; the rest byte for byte.
pub fn strip_query_auth(query: &str) -> Cow<'_, str> {
    let is_auth = |pair: &str| {
        let name = pair.split('=').next().unwrap_or("");
        let name = percent_decode_str(name).decode_utf8_lossy();
        QUERY_AUTH.contains(&name.as_ref())
    };
    if !query.split('&').any(is_auth) {
        return Cow::Borrowed(query);
    }
    let kept: Vec<&str> = query.split('&').filter(|p| !is_auth(p)).collect();
    Cow::Owned(kept.join("&"))
}

/// Removes the client's own authentication so the upstream sees only ours.
fn remove_client_auth(headers: &mut HeaderMap) {
    headers.remove(header::AUTHORIZATION);
    headers.remove("x-amz-date");
    headers.remove("x-amz-security-token");
    headers.remove(X_AMZ_CONTENT_SHA256);
}

fn is_signed_header(name: &HeaderName) -> bool {
    name == header::HOST
        || name == header::CONTENT_TYPE
        || name == header::RANGE
        || name.as_str() == "content-md5"
        || name.as_str().starts_with("x-amz-")
}

/// The region and the S3 signing settings that make the SDK's canonical request S3's.
#[derive(Debug, Clone)]
pub struct SigningSpec {
    pub region: String,
}

fn s3_settings() -> SigningSettings {
    let mut s = SigningSettings::default();
    s.percent_encoding_mode = PercentEncodingMode::Single;
    s.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    s.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    s
}

/// Signs an upstream request in place. `parts.uri` is absolute (the upstream's scheme
/// and authority) and `parts.headers` are final but for the auth this adds: call it last,
/// after every other header edit.
pub fn sign_request(
    parts: &mut Parts,
    spec: &SigningSpec,
    credentials: &Credentials,
    now: SystemTime,
) -> Result<(), SignError> {
    let payload = Payload::of(&parts.headers)?;
    remove_client_auth(&mut parts.headers);

    let path = canonical_path(parts.uri.path())?;
    let query = parts.uri.query().map(strip_query_auth);
    let pq = match query.as_deref() {
        Some(q) if !q.is_empty() => format!("{path}?{q}"),
        _ => path.into_owned(),
    };
    let mut uri = parts.uri.clone().into_parts();
    uri.path_and_query =
        Some(PathAndQuery::try_from(pq).map_err(|_| SignError::BadRequest("bad request path"))?);
    parts.uri = http::Uri::from_parts(uri).map_err(|_| SignError::BadRequest("bad request URI"))?;

    let mut signed = Vec::new();
    for (name, value) in &parts.headers {
        if is_signed_header(name) {
            let value = value
                .to_str()
                .map_err(|_| SignError::BadRequest("a signed header value is not visible ASCII"))?;
            signed.push((name.as_str(), value));
        }
    }
    let uri = parts.uri.to_string();
    let signable = SignableRequest::new(
        parts.method.as_str(),
        uri.as_str(),
        signed.into_iter(),
        payload.signable(),
    )
    .map_err(|e| SignError::Failed(e.to_string()))?;
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&spec.region)
        .name("s3")
        .time(now)
        .settings(s3_settings())
        .build()
        .map_err(|e| SignError::Failed(e.to_string()))?
        .into();
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| SignError::Failed(e.to_string()))?
        .into_parts();
    for (name, value) in instructions.headers() {
        let mut v = HeaderValue::from_str(value).map_err(|e| SignError::Failed(e.to_string()))?;
        v.set_sensitive(true);
        parts.headers.insert(
            HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| SignError::Failed(e.to_string()))?,
            v,
        );
    }
    Ok(())
}

#[cfg(test)]
#[path = "sign_tests.rs"]
mod tests;
