//! AWS credentials for upstream signing, resolved and refreshed in the background
//! (never on the request path). This module owns choosing the source, fetching from it,
//! and keeping a fresh copy in an [`ArcSwapOption`] that requests read lock-free; it does
//! no signing and knows nothing about sites or the proxy.
//!
//! # The chain
//! One source is chosen by which one is *configured*; the first configured wins, as in
//! the AWS SDKs. A configured source that fails is an error, the chain does not fall
//! through to the next one.
//!
//! 1. **static**: `static_keys` in the site's config (discouraged: secrets in a file).
//! 2. **environment**: `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` both set
//!    (optionally `AWS_SESSION_TOKEN`).
//! 3. **profile**: the shared files. The profile is `profile` from the config, else
//!    `AWS_PROFILE`, else `default`; files are `AWS_SHARED_CREDENTIALS_FILE` (default
//!    `~/.aws/credentials`, sections `[NAME]`) and `AWS_CONFIG_FILE` (default
//!    `~/.aws/config`, sections `[profile NAME]` and `[default]`); the credentials file
//!    wins per key. Keys: `aws_access_key_id`, `aws_secret_access_key`,
//!    `aws_session_token`. Configured means a profile was named, or `default` exists
//!    with keys. A named profile that is missing is an error listing the files read.
//!    Not supported: SSO, `credential_process`, `role_arn`/`source_profile` chaining.
//! 4. **web-identity** (EKS IRSA): `AWS_WEB_IDENTITY_TOKEN_FILE` and `AWS_ROLE_ARN`
//!    both set (`AWS_ROLE_SESSION_NAME` optional, default `corsgate-<unix time>`).
//!    STS `AssumeRoleWithWebIdentity` at `AWS_ENDPOINT_URL_STS`, else `AWS_ENDPOINT_URL`,
//!    else `https://sts.{AWS_REGION or AWS_DEFAULT_REGION}.amazonaws.com`, else
//!    `https://sts.amazonaws.com`. The token file is re-read at every refresh.
//! 5. **container** (ECS, EKS Pod Identity): `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`
//!    (on `http://169.254.170.2`) or `AWS_CONTAINER_CREDENTIALS_FULL_URI` (https, or
//!    http to a loopback or the ECS/EKS link-local address). `Authorization` from
//!    `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (re-read each time), else
//!    `AWS_CONTAINER_AUTHORIZATION_TOKEN`.
//! 6. **imds**: EC2 instance metadata, IMDSv2 only (no v1 fallback), at
//!    `AWS_EC2_METADATA_SERVICE_ENDPOINT` (default `http://169.254.169.254`). The
//!    fallback when nothing above is configured, unless `AWS_EC2_METADATA_DISABLED=true`;
//!    then "no credentials configured" is the error.
//!
//! Empty environment variables count as unset.
//!
//! # Refresh
//! A task started by [`CredentialsHandle::spawn`] resolves the source, then wakes every
//! [`CHECK_EVERY`]: credentials with an expiry are fetched again once
//! `expiry - now <= REFRESH_AHEAD`, judged by the injected [`Clock`]; profile files are
//! re-read when their mtime or size changes; static and environment keys never change.
//! A failed fetch keeps the old credentials until they expire, logs at warn (repeats of
//! the same error at debug) and is retried after 1 s, doubling up to `CHECK_EVERY`. The
//! task holds only a `Weak` and ends when the last handle is dropped.
//!
//! # Layout
//! - `env`: the environment snapshot.
//! - `chain`: which source is configured (the order above) and fetching from it.
//! - `profile`: the INI parser and shared-files profile lookup.
//! - `sts`: web identity (form POST, XML reply); `container`; `imds`.
//! - `http`: the small HTTP client they share (timeouts, size cap); `time`: RFC 3339.
//! - `refresh`: the background task. `error`: the typed error, which never holds a
//!   secret, session token or web-identity token.
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use tokio::sync::{oneshot, watch};

mod chain;
mod container;
mod env;
mod error;
mod http;
mod imds;
mod profile;
mod refresh;
mod sts;
mod time;

#[cfg(test)]
mod tests;

pub use aws_credential_types::Credentials;
pub use env::Env;
pub use error::CredentialsError;

/// Credentials that expire are fetched again this long before their expiry, so a
/// request never signs with keys that lapse in flight and a slow or failing source has
/// minutes of retries before anything breaks.
pub const REFRESH_AHEAD: Duration = Duration::from_secs(5 * 60);

/// How often the background task looks at expiry and profile files.
pub const CHECK_EVERY: Duration = Duration::from_secs(10);

pub use crate::clock::{Clock, SystemClock};

/// Static keys written in the config file (discouraged).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StaticKeys {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for StaticKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticKeys")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// What a site's config says about where credentials come from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ChainConfig {
    pub static_keys: Option<StaticKeys>,
    pub profile: Option<String>,
}

/// One successful fetch, swapped in whole so `current` sees keys and source together.
struct Held {
    creds: Arc<Credentials>,
    source: &'static str,
}

/// State shared by the handles (strongly) and the refresh task (weakly).
struct Shared {
    /// What `current` hands out; written only by the refresh task.
    held: ArcSwapOption<Held>,
    /// Judges expiry in `current`; the same clock the task refreshes by.
    clock: Arc<dyn Clock>,
    /// Bumped after every store so `wait_ready` sleeps instead of polling.
    stored: watch::Sender<()>,
    /// Never sent on: dropping it with the last handle wakes the task so it exits at
    /// once, even in the middle of a fetch.
    _stop: oneshot::Sender<()>,
}

/// Cheap to clone; the background task ends when the last handle is dropped.
#[derive(Clone)]
pub struct CredentialsHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for CredentialsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialsHandle")
            .field("source", &self.source())
            .field("ready", &self.is_ready())
            .finish()
    }
}

impl CredentialsHandle {
    /// Resolves in a spawned tokio task (must be called inside a runtime) and keeps
    /// refreshing.
    pub fn spawn(config: ChainConfig, env: Env, clock: Arc<dyn Clock>) -> CredentialsHandle {
        let (stop_tx, stop_rx) = oneshot::channel();
        let shared = Arc::new(Shared {
            held: ArcSwapOption::empty(),
            clock,
            stored: watch::channel(()).0,
            _stop: stop_tx,
        });
        tokio::spawn(refresh::run(Arc::downgrade(&shared), config, env, stop_rx));
        CredentialsHandle { shared }
    }

    /// Credentials to sign with right now: `None` while none are held or the held ones
    /// have expired (by the injected clock). Lock-free; one Arc clone.
    pub fn current(&self) -> Option<Arc<Credentials>> {
        let held = self.shared.held.load();
        let held = held.as_ref()?;
        if is_expired(&held.creds, self.shared.clock.now()) {
            return None;
        }
        Some(Arc::clone(&held.creds))
    }

    /// Readiness: true while valid (unexpired) credentials are held.
    pub fn is_ready(&self) -> bool {
        let held = self.shared.held.load();
        held.as_ref()
            .is_some_and(|h| !is_expired(&h.creds, self.shared.clock.now()))
    }

    /// Name of the source in use ("static", "environment", "profile", "web-identity",
    /// "container", "imds"); `None` before the first success.
    pub fn source(&self) -> Option<&'static str> {
        self.shared.held.load().as_ref().map(|h| h.source)
    }

    /// Waits (bounded by `limit`) until credentials are held; for startup and tests.
    pub async fn wait_ready(&self, limit: Duration) -> bool {
        // Subscribed before the check, so a store between the two still wakes us.
        let mut stored = self.shared.stored.subscribe();
        let ready = async {
            loop {
                if self.is_ready() {
                    return true;
                }
                if stored.changed().await.is_err() {
                    return false;
                }
            }
        };
        tokio::time::timeout(limit, ready).await.unwrap_or(false)
    }
}

fn is_expired(creds: &Credentials, now: SystemTime) -> bool {
    creds.expiry().is_some_and(|expiry| expiry <= now)
}
