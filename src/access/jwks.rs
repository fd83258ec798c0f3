//! JWT verification keys: the key set, parsed from a JWKS (RFC 7517) or built from an
//! HS256 secret, picked per token by `kid` and `alg`; and where a JWKS comes from (a
//! file, or a URL fetched with the project's hyper-util/rustls stack).
//!
//! Each key is pinned to one algorithm when the set is loaded, so a token can never
//! choose how its signature is checked (no "HS256 with the RSA public key as secret").
//! Keys named in a token (`jku`, `jwk`, `x5u`) are never used. Loading does I/O;
//! [`KeySet::select`] does none and runs on the request path.
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Header};

use super::{Denied, DenyKind};

/// A JWKS bigger than this is refused: real ones are a few KiB, and the fetch must not
/// let a misconfigured URL fill memory.
const MAX_JWKS_BYTES: usize = 1 << 20;

/// One usable key, with the one algorithm it verifies.
pub(crate) struct VerifyKey {
    pub kid: Option<String>,
    pub alg: Algorithm,
    pub key: DecodingKey,
}

/// The keys in force; swapped whole on refresh.
pub(crate) struct KeySet {
    pub keys: Vec<VerifyKey>,
}

impl KeySet {
    pub fn hs256(secret: &[u8]) -> Result<KeySet, String> {
        // RFC 7518 §3.2: an HS256 key must be at least as long as the hash, 256 bits.
        if secret.len() < 32 {
            return Err("an HS256 secret must be at least 32 bytes (RFC 7518 §3.2)".into());
        }
        let key = DecodingKey::from_secret(secret).map_err(|_| "unusable HS256 secret")?;
        Ok(KeySet {
            keys: vec![VerifyKey {
                kid: None,
                alg: Algorithm::HS256,
                key,
            }],
        })
    }

    /// Parses a JWKS. Keys this verifier cannot or must not use (encryption keys,
    /// symmetric `oct` keys, unknown types or curves) are skipped with a warning, so
    /// one odd key does not take the whole set down; a set with no usable key is an
    /// error.
    pub fn parse_jwks(body: &[u8]) -> Result<KeySet, String> {
        #[derive(serde::Deserialize)]
        struct Raw {
            keys: Vec<serde_json::Value>,
        }
        let raw: Raw =
            serde_json::from_slice(body).map_err(|e| format!("not a JWKS document: {e}"))?;
        let mut keys = Vec::new();
        for (i, value) in raw.keys.into_iter().enumerate() {
            match usable(value) {
                Ok(k) => keys.push(k),
                Err(why) => tracing::warn!(key = i, "JWKS key skipped: {why}"),
            }
        }
        if keys.is_empty() {
            return Err("the JWKS has no usable signing key (RSA, EC P-256/P-384, Ed25519)".into());
        }
        Ok(KeySet { keys })
    }

    /// The key a token's header asks for: by `kid` when it names one, else the only
    /// key of the set. The header's `alg` must be the key's own.
    pub fn select(&self, header: &Header) -> Result<&VerifyKey, Denied> {
        let candidates: Vec<&VerifyKey> = match &header.kid {
            Some(kid) => {
                let named: Vec<_> = self
                    .keys
                    .iter()
                    .filter(|k| k.kid.as_deref() == Some(kid))
                    .collect();
                if named.is_empty() {
                    return Err(Denied::new(
                        DenyKind::UnknownKey,
                        format!(
                            "the token's key id {} is not in the key set",
                            super::operation::shown(kid)
                        ),
                    ));
                }
                named
            }
            None if self.keys.len() == 1 => self.keys.iter().collect(),
            None => {
                return Err(Denied::new(
                    DenyKind::BadToken,
                    "the token has no kid and the key set holds several keys",
                ))
            }
        };
        candidates
            .into_iter()
            .find(|k| k.alg == header.alg)
            .ok_or_else(|| {
                Denied::new(
                    DenyKind::BadToken,
                    format!("algorithm {:?} is not accepted for this key", header.alg),
                )
            })
    }
}

/// One JWK as a [`VerifyKey`], or why it is skipped.
fn usable(value: serde_json::Value) -> Result<VerifyKey, String> {
    let jwk: Jwk = serde_json::from_value(value).map_err(|e| format!("not a JWK: {e}"))?;
    if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
        return Err("not a signature key (`use`)".into());
    }
    let declared = match jwk.common.key_algorithm {
        Some(a) => {
            Some(Algorithm::try_from(a).map_err(|_| format!("algorithm {a} is not a JWS one"))?)
        }
        None => None,
    };
    // What the key type allows; a declared `alg` must be one of those.
    let alg = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => match declared {
            Some(
                a @ (Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512),
            ) => a,
            None => Algorithm::RS256,
            Some(a) => return Err(format!("an RSA key cannot be {a:?}")),
        },
        AlgorithmParameters::EllipticCurve(ec) => {
            let by_curve = match ec.curve {
                EllipticCurve::P256 => Algorithm::ES256,
                EllipticCurve::P384 => Algorithm::ES384,
                ref c => return Err(format!("curve {c:?} is not supported")),
            };
            match declared {
                Some(a) if a != by_curve => {
                    return Err(format!("alg {a:?} does not match curve {:?}", ec.curve))
                }
                _ => by_curve,
            }
        }
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            match declared {
                None | Some(Algorithm::EdDSA) => Algorithm::EdDSA,
                Some(a) => return Err(format!("an Ed25519 key cannot be {a:?}")),
            }
        }
        // A secret in a key set anyone may read would let them mint tokens.
        AlgorithmParameters::OctetKey(_) => return Err("symmetric (oct) keys are refused".into()),
        _ => return Err("unsupported key type".into()),
    };
    let key = DecodingKey::from_jwk(&jwk).map_err(|e| format!("unusable key material: {e}"))?;
    Ok(VerifyKey {
        kid: jwk.common.key_id.clone(),
        alg,
        key,
    })
}

/// Where a JWKS comes from.
pub(crate) enum Source {
    File(PathBuf),
    // Boxed: the client is large, and a file source should not carry its size.
    Url(Box<Fetcher>),
}

impl Source {
    /// Reads or fetches and parses the set; the error says which and why.
    pub async fn load(&self) -> Result<KeySet, String> {
        let body = match self {
            Source::File(path) => tokio::fs::read(path)
                .await
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
            Source::Url(f) => f.fetch().await?.to_vec(),
        };
        KeySet::parse_jwks(&body)
    }

    pub fn describe(&self) -> String {
        match self {
            Source::File(path) => path.display().to_string(),
            Source::Url(f) => f.uri.to_string(),
        }
    }
}

/// A JWKS URL and the client that fetches it.
pub(crate) struct Fetcher {
    uri: http::Uri,
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

/// The whole fetch (connect, headers, body) must finish within this.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

impl Fetcher {
    /// Plain `http` is refused except to a loopback host: whoever can rewrite the key
    /// set in transit can mint tokens for the site.
    pub fn new(url: &str) -> Result<Fetcher, String> {
        let uri: http::Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
        let host = uri.host().ok_or("the URL has no host")?;
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") if is_loopback(host) => {}
            Some("http") => {
                return Err("a JWKS URL must be https (plain http only to a loopback host)".into())
            }
            _ => return Err("a JWKS URL must be https".into()),
        }
        // rustls needs one process-wide provider (same choice as `app`, which this
        // module may not depend on); idempotent.
        #[cfg(feature = "tls-ring")]
        let _ = rustls::crypto::ring::default_provider().install_default();
        #[cfg(all(feature = "tls-aws-lc", not(feature = "tls-ring")))]
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(FETCH_TIMEOUT));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .try_with_platform_verifier()
            .map_err(|e| format!("TLS setup failed: {e}"))?
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).build(https);
        Ok(Fetcher { uri, client })
    }

    /// One GET; redirects are not followed (the configured URL is the trusted one).
    async fn fetch(&self) -> Result<Bytes, String> {
        let req = http::Request::get(self.uri.clone())
            .header(
                http::header::ACCEPT,
                "application/jwk-set+json, application/json",
            )
            .body(Empty::new())
            .map_err(|e| format!("bad request: {e}"))?;
        let work = async {
            let resp = self.client.request(req).await.map_err(|e| {
                let mut s = e.to_string();
                if let Some(src) = std::error::Error::source(&e) {
                    s = format!("{s}: {src}");
                }
                s
            })?;
            if resp.status() != http::StatusCode::OK {
                return Err(format!("answered {}", resp.status()));
            }
            Limited::new(resp.into_body(), MAX_JWKS_BYTES)
                .collect()
                .await
                .map(|c| c.to_bytes())
                .map_err(|e| format!("body: {e}"))
        };
        match tokio::time::timeout(FETCH_TIMEOUT, work).await {
            Ok(r) => r.map_err(|e| format!("fetching {}: {e}", self.uri)),
            Err(_) => Err(format!(
                "fetching {}: no answer within {FETCH_TIMEOUT:?}",
                self.uri
            )),
        }
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
