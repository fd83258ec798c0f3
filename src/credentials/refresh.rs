//! The background task: resolve, then keep the held credentials fresh. It owns the
//! timing rules (refresh ahead of expiry, re-read changed profile files, back off
//! after failures) and is the only writer of `Shared::held`. It never holds the
//! shared state across a sleep or a fetch, only a `Weak`, so dropping the last handle
//! ends it.
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use tokio::sync::oneshot;

use super::chain::{self, Source};
use super::error::CredentialsError;
use super::http::HttpClient;
use super::{ChainConfig, Credentials, Env, Held, Shared, CHECK_EVERY, REFRESH_AHEAD};

/// First retry after a failure; doubles up to [`CHECK_EVERY`], so a failing source is
/// retried at least as often as a healthy one is checked.
pub(crate) const RETRY_FIRST: Duration = Duration::from_secs(1);

pub(super) async fn run(
    shared: Weak<Shared>,
    config: ChainConfig,
    env: Env,
    stop: oneshot::Receiver<()>,
) {
    tokio::select! {
        // Err (sender dropped) is the only outcome: the last handle went away.
        _ = stop => tracing::debug!("credentials: last handle dropped, refresh task ends"),
        _ = refresh_loop(shared, config, env) => {}
    }
}

async fn refresh_loop(shared: Weak<Shared>, config: ChainConfig, env: Env) {
    let mut source: Option<Source> = None;
    let mut http: Option<HttpClient> = None;
    let mut retry = RETRY_FIRST;
    let mut last_error: Option<String> = None;
    let mut delay = Duration::ZERO;
    loop {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let Some(strong) = shared.upgrade() else {
            return;
        };
        let clock = Arc::clone(&strong.clock);
        let held = strong.held.load_full();
        drop(strong);

        let due = match held.as_ref().map(|h| h.creds.expiry()) {
            None => {
                // Nothing ever worked: choose again, since the default profile's file
                // may have appeared meanwhile.
                source = None;
                true
            }
            Some(Some(expiry)) => refresh_due(expiry, clock.now()),
            Some(None) => match &source {
                Some(s) => s.changed().await,
                None => true,
            },
        };
        if !due {
            delay = CHECK_EVERY;
            continue;
        }

        match attempt(&mut source, &config, &env, &mut http, clock.now()).await {
            Ok((creds, name)) => {
                let Some(strong) = shared.upgrade() else {
                    return;
                };
                tracing::info!(
                    source = name,
                    access_key_id = creds.access_key_id(),
                    expires = ?creds.expiry().map(httpdate::fmt_http_date),
                    "credentials: obtained"
                );
                strong.held.store(Some(Arc::new(Held {
                    creds: Arc::new(creds),
                    source: name,
                })));
                strong.stored.send_replace(());
                retry = RETRY_FIRST;
                last_error = None;
                delay = CHECK_EVERY;
            }
            Err(e) => {
                let text = e.to_string();
                let still_held = held
                    .is_some_and(|h| h.creds.expiry().is_none_or(|expiry| expiry > clock.now()));
                if last_error.as_deref() != Some(text.as_str()) {
                    tracing::warn!(
                        source = e.provider(),
                        error = %text,
                        retry_in = ?retry,
                        keeping_current = still_held,
                        "credentials: fetch failed; current credentials (if any) kept until they expire"
                    );
                } else {
                    tracing::debug!(source = e.provider(), error = %text, retry_in = ?retry, "credentials: fetch failed again");
                }
                last_error = Some(text);
                delay = retry;
                retry = (retry * 2).min(CHECK_EVERY);
            }
        }
    }
}

async fn attempt(
    source: &mut Option<Source>,
    config: &ChainConfig,
    env: &Env,
    http: &mut Option<HttpClient>,
    now: SystemTime,
) -> Result<(Credentials, &'static str), CredentialsError> {
    let source = match source {
        Some(s) => s,
        None => source.insert(chain::select(config, env).await?),
    };
    let creds = source.fetch(http, now).await?;
    Ok((creds, source.name()))
}

/// Due once no more than [`REFRESH_AHEAD`] is left (or already past expiry).
pub(crate) fn refresh_due(expiry: SystemTime, now: SystemTime) -> bool {
    expiry
        .duration_since(now)
        .map_or(true, |left| left <= REFRESH_AHEAD)
}
