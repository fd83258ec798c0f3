//! Bearer JWTs for `Jwt` sites: the verifier, its configuration and the claims a
//! request is judged by.
//!
//! [`JwtVerifier::verify`] is pure (no I/O, time injected): keys are loaded by
//! [`JwtVerifier::new`] and kept fresh by a background task that re-reads the JWKS
//! file or re-fetches its URL every `refresh`, keeping the last good keys when a
//! refresh fails. Signature, algorithm, `iss` and `aud` are checked by jsonwebtoken;
//! `exp` and `nbf` are checked here against the injected `now`, so tests drive time.
//! Denial reasons never quote the token or the secret.
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use http::Method;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, decode_header, Validation};
use tokio::sync::{oneshot, watch};

use super::jwks::{Fetcher, KeySet, Source};
use super::{Denied, DenyKind};

/// Where the verification keys come from. Debug never shows a secret.
#[derive(Clone)]
pub enum JwtKeys {
    /// A shared secret (at least 32 bytes); only HS256 tokens are accepted.
    Hs256(Vec<u8>),
    /// A JWKS document on disk, re-read every `refresh`.
    JwksFile(PathBuf),
    /// A JWKS URL (https, or http to a loopback host), re-fetched every `refresh`.
    JwksUrl(String),
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwtKeys::Hs256(_) => f.write_str("Hs256(<redacted>)"),
            JwtKeys::JwksFile(p) => f.debug_tuple("JwksFile").field(p).finish(),
            JwtKeys::JwksUrl(u) => f.debug_tuple("JwksUrl").field(u).finish(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct JwtConfig {
    pub keys: JwtKeys,
    /// `iss` must equal this.
    pub issuer: String,
    /// `aud` (a string or an array) must contain this.
    pub audience: String,
    /// Clock skew allowed on `exp` and `nbf`.
    pub leeway: Duration,
    /// JWKS re-read / re-fetch period.
    pub refresh: Duration,
}

impl JwtConfig {
    pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
    pub const DEFAULT_REFRESH: Duration = Duration::from_secs(300);

    /// A config with the default leeway (30 s) and refresh period (5 min).
    pub fn new(keys: JwtKeys, issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        JwtConfig {
            keys,
            issuer: issuer.into(),
            audience: audience.into(),
            leeway: Self::DEFAULT_LEEWAY,
            refresh: Self::DEFAULT_REFRESH,
        }
    }
}

/// Why a verifier could not be built; the site cannot start without one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtSetupError {
    #[error("jwt: {0}")]
    Config(String),
    #[error("jwt keys from {source_name}: {reason}")]
    Keys { source_name: String, reason: String },
}

/// Counts of background refreshes, for readiness, metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefreshStats {
    pub attempts: u64,
    pub failures: u64,
}

pub struct JwtVerifier {
    /// The keys in force: swapped whole by the refresh task, so `verify` never locks.
    keys: ArcSwap<KeySet>,
    /// The file or URL the keys come from (`None` for a secret, which never changes).
    source: Option<Arc<Source>>,
    /// iss, aud and the required claims; `algorithms` is set per key in `verify`.
    validation: Validation,
    leeway: Duration,
    refresh: Duration,
    /// Published after every refresh attempt.
    stats: watch::Sender<RefreshStats>,
    /// Taken by the first `spawn_refresh`, so a verifier never runs two refreshers.
    stop_rx: Mutex<Option<oneshot::Receiver<()>>>,
    /// Dropped with the verifier, which ends the refresh task at once instead of at
    /// its next tick.
    _stop: oneshot::Sender<()>,
}

impl JwtVerifier {
    /// Loads keys now (a JWKS file is read, a URL fetched once with a 5 s timeout; an
    /// error says why), then starts the refresh task for a file or URL.
    pub async fn new(cfg: JwtConfig) -> Result<Arc<JwtVerifier>, JwtSetupError> {
        if cfg.issuer.is_empty() || cfg.audience.is_empty() {
            return Err(JwtSetupError::Config(
                "issuer and audience must be set".into(),
            ));
        }
        if cfg.refresh < Duration::from_secs(1) {
            return Err(JwtSetupError::Config("refresh must be at least 1s".into()));
        }
        let (keys, source) = match cfg.keys {
            JwtKeys::Hs256(secret) => {
                (KeySet::hs256(&secret).map_err(JwtSetupError::Config)?, None)
            }
            JwtKeys::JwksFile(path) => load(Source::File(path)).await?,
            JwtKeys::JwksUrl(url) => {
                let fetcher = Fetcher::new(&url).map_err(|reason| JwtSetupError::Keys {
                    source_name: url.clone(),
                    reason,
                })?;
                load(Source::Url(Box::new(fetcher))).await?
            }
        };
        let mut validation = Validation::default();
        validation.set_issuer(&[&cfg.issuer]);
        validation.set_audience(&[&cfg.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        // Time is judged in `verify`, against the injected clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        let (stop, stop_rx) = oneshot::channel();
        let verifier = Arc::new(JwtVerifier {
            keys: ArcSwap::from_pointee(keys),
            source: source.map(Arc::new),
            validation,
            leeway: cfg.leeway,
            refresh: cfg.refresh,
            stats: watch::Sender::new(RefreshStats::default()),
            stop_rx: Mutex::new(Some(stop_rx)),
            _stop: stop,
        });
        verifier.spawn_refresh();
        Ok(verifier)
    }

    /// For a JWKS file or URL: a tokio task re-reading/re-fetching every `refresh`; a
    /// failed refresh keeps the last good keys and logs why at warn. It holds only a
    /// `Weak`, and ends when the verifier is dropped. `new` calls it; later calls do
    /// nothing.
    pub fn spawn_refresh(self: &Arc<Self>) {
        let Some(source) = self.source.clone() else {
            return;
        };
        let Some(mut stop) = self.stop_rx.lock().ok().and_then(|mut s| s.take()) else {
            return;
        };
        let weak: Weak<JwtVerifier> = Arc::downgrade(self);
        // The first deadline is fixed now, not when the task is first polled, so the
        // period counts from the load that `new` just did.
        let period = self.refresh;
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        // A slow fetch pushes the schedule back rather than causing a burst.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    _ = &mut stop => return,
                }
                let loaded = source.load().await;
                let Some(verifier) = weak.upgrade() else {
                    return;
                };
                let failed = match loaded {
                    Ok(keys) => {
                        tracing::debug!(source = %source.describe(), keys = keys.keys.len(), "JWKS refreshed");
                        verifier.keys.store(Arc::new(keys));
                        false
                    }
                    Err(why) => {
                        tracing::warn!(source = %source.describe(), "JWKS refresh failed, keeping the last good keys: {why}");
                        true
                    }
                };
                verifier.stats.send_modify(|s| {
                    s.attempts += 1;
                    s.failures += u64::from(failed);
                });
            }
        });
    }

    /// Whether keys are loaded (always, once `new` succeeded: a failed refresh keeps
    /// the last good ones).
    pub fn is_ready(&self) -> bool {
        !self.keys.load().keys.is_empty()
    }

    /// Watches the background refresh (one update per attempt).
    pub fn refresh_stats(&self) -> watch::Receiver<RefreshStats> {
        self.stats.subscribe()
    }

    /// Verifies a token and returns its claims. Pure: no I/O.
    pub fn verify(&self, token: &str, now: SystemTime) -> Result<Claims, Denied> {
        let bad = |why: &str| Denied::new(DenyKind::BadToken, why);
        // `alg: none` (and any alg jsonwebtoken does not know) fails here: the header
        // does not parse.
        let header = decode_header(token).map_err(|_| bad("the token is not a signed JWT"))?;
        let keys = self.keys.load();
        if keys.keys.is_empty() {
            return Err(Denied::new(
                DenyKind::JwksUnavailable,
                "no verification keys are loaded",
            ));
        }
        let key = keys.select(&header)?;
        let mut validation = self.validation.clone();
        validation.algorithms = vec![key.alg];
        let data =
            decode::<RawClaims>(token, &key.key, &validation).map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => bad("the signature does not verify"),
                ErrorKind::InvalidIssuer => {
                    Denied::new(DenyKind::WrongIssuer, "the token is from another issuer")
                }
                ErrorKind::InvalidAudience => {
                    Denied::new(DenyKind::WrongAudience, "the token is for another audience")
                }
                ErrorKind::MissingRequiredClaim(c) => bad(&format!("the token has no {c} claim")),
                ErrorKind::InvalidAlgorithm => {
                    bad("the token's algorithm is not accepted for this key")
                }
                _ => bad("the token is malformed"),
            })?;
        let c = data.claims;
        let now = now
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let leeway = self.leeway.as_secs_f64();
        match c.exp {
            None => return Err(bad("the token has no exp claim")),
            Some(exp) if exp <= now - leeway => {
                return Err(Denied::new(DenyKind::Expired, "the token has expired"))
            }
            Some(_) => {}
        }
        if c.nbf.is_some_and(|nbf| nbf > now + leeway) {
            return Err(Denied::new(
                DenyKind::NotYetValid,
                "the token is not valid yet (nbf)",
            ));
        }
        Ok(Claims {
            sub: c.sub,
            paths: c.paths,
            methods: c.methods,
        })
    }
}

async fn load(source: Source) -> Result<(KeySet, Option<Source>), JwtSetupError> {
    match source.load().await {
        Ok(keys) => Ok((keys, Some(source))),
        Err(reason) => Err(JwtSetupError::Keys {
            source_name: source.describe(),
            reason,
        }),
    }
}

/// The claims as they arrive; a wrongly typed claim makes the token malformed rather
/// than unrestricted.
#[derive(serde::Deserialize)]
struct RawClaims {
    sub: Option<String>,
    exp: Option<f64>,
    nbf: Option<f64>,
    paths: Option<Vec<String>>,
    methods: Option<Vec<String>>,
}

/// What a verified token says about its bearer. `paths` and `methods` restrict: an
/// absent claim is no restriction, an empty array allows nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub sub: Option<String>,
    /// Path prefixes the raw request path must start with ("/users/42/": end a
    /// folder with `/`, or "/users/42" also admits "/users/420").
    pub paths: Option<Vec<String>>,
    /// Method names (exact, upper case), intersected with the site's.
    pub methods: Option<Vec<String>>,
}

impl Claims {
    /// Whether the claims admit `method` on `path` (raw, as sent).
    pub fn permits(&self, method: &Method, path: &str) -> Result<(), Denied> {
        if let Some(methods) = &self.methods {
            if !methods.iter().any(|m| m == method.as_str()) {
                return Err(Denied::new(
                    DenyKind::MethodClaim,
                    format!("the token does not allow {method}"),
                ));
            }
        }
        if let Some(paths) = &self.paths {
            // Prefixes compare raw bytes, so a path that decodes into a dot segment
            // would escape one; the pipeline refuses those first, and so do we here.
            if has_dot_segment(path) || !paths.iter().any(|p| path.starts_with(p.as_str())) {
                return Err(Denied::new(
                    DenyKind::PathClaim,
                    "the path is outside the token's paths",
                ));
            }
        }
        Ok(())
    }
}

fn has_dot_segment(path: &str) -> bool {
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(path).collect();
    decoded
        .split(|b| *b == b'/' || *b == b'\\')
        .any(|seg| seg == b"." || seg == b"..")
}
