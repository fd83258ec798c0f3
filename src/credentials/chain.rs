//! Which source is configured, in the order the module documentation gives, and
//! fetching from it. Choosing looks only at the config, the environment snapshot and
//! (for the default profile) the shared files; it never calls a network endpoint, so
//! a configured-but-broken source is reported, not skipped.
use std::time::SystemTime;

use super::container::Container;
use super::error::CredentialsError;
use super::http::HttpClient;
use super::imds::Imds;
use super::profile::{self, Lookup, ProfileFiles, ProfileSource};
use super::sts::WebIdentity;
use super::{ChainConfig, Credentials, Env, StaticKeys};

pub(crate) enum Source {
    Static(Credentials),
    Environment(Credentials),
    Profile(ProfileSource),
    WebIdentity(WebIdentity),
    Container(Container),
    Imds(Imds),
}

impl Source {
    pub fn name(&self) -> &'static str {
        match self {
            Source::Static(_) => "static",
            Source::Environment(_) => "environment",
            Source::Profile(_) => "profile",
            Source::WebIdentity(_) => "web-identity",
            Source::Container(_) => "container",
            Source::Imds(_) => "imds",
        }
    }

    /// Whether held credentials without an expiry should be fetched again: only the
    /// profile's can change (its files); config and environment keys are fixed.
    pub async fn changed(&self) -> bool {
        match self {
            Source::Profile(p) => p.changed().await,
            _ => false,
        }
    }

    /// `http` is built on first use, so sources that need no network never need TLS
    /// roots.
    pub async fn fetch(
        &mut self,
        http: &mut Option<HttpClient>,
        now: SystemTime,
    ) -> Result<Credentials, CredentialsError> {
        match self {
            Source::Static(c) | Source::Environment(c) => Ok(c.clone()),
            Source::Profile(p) => p.fetch().await,
            Source::WebIdentity(w) => w.fetch(client(http)?, now).await,
            Source::Container(c) => c.fetch(client(http)?).await,
            Source::Imds(i) => i.fetch(client(http)?).await,
        }
    }
}

fn client(http: &mut Option<HttpClient>) -> Result<&HttpClient, CredentialsError> {
    let client = match http.take() {
        Some(client) => client,
        None => HttpClient::new()?,
    };
    Ok(http.insert(client))
}

/// The first configured source: static > environment > profile > web identity >
/// container > IMDS (unless disabled).
pub(crate) async fn select(config: &ChainConfig, env: &Env) -> Result<Source, CredentialsError> {
    if let Some(keys) = &config.static_keys {
        return Ok(Source::Static(static_credentials(keys, "static")?));
    }
    if let (Some(akid), Some(secret)) = (
        env.get("AWS_ACCESS_KEY_ID"),
        env.get("AWS_SECRET_ACCESS_KEY"),
    ) {
        let keys = StaticKeys {
            access_key_id: akid.trim().to_owned(),
            secret_access_key: secret.trim().to_owned(),
            session_token: env.get("AWS_SESSION_TOKEN").map(|t| t.trim().to_owned()),
        };
        return Ok(Source::Environment(static_credentials(
            &keys,
            "environment",
        )?));
    }
    let (name, explicit) = profile::profile_name(config, env);
    let files = ProfileFiles::from_env(env);
    if explicit || default_profile_has_keys(&files).await {
        return Ok(Source::Profile(ProfileSource::new(name, files)));
    }
    if let Some(w) = WebIdentity::from_env(env) {
        return Ok(Source::WebIdentity(w));
    }
    if let Some(c) = Container::from_env(env) {
        return Ok(Source::Container(c));
    }
    if env.flag("AWS_EC2_METADATA_DISABLED") {
        return Err(CredentialsError::NotConfigured);
    }
    Ok(Source::Imds(Imds::from_env(env)))
}

/// An unreadable or malformed file also counts as "not configured" here: nobody asked
/// for a profile, and falling through beats failing over a stray file.
async fn default_profile_has_keys(files: &ProfileFiles) -> bool {
    matches!(
        profile::load(files, "default").await,
        Ok((Lookup::Keys(_), _))
    )
}

fn static_credentials(
    keys: &StaticKeys,
    provider: &'static str,
) -> Result<Credentials, CredentialsError> {
    if keys.access_key_id.is_empty() || keys.secret_access_key.is_empty() {
        return Err(CredentialsError::Config {
            provider,
            problem: "access key id and secret access key must both be non-empty".to_owned(),
        });
    }
    Ok(Credentials::new(
        keys.access_key_id.clone(),
        keys.secret_access_key.clone(),
        keys.session_token.clone().filter(|t| !t.is_empty()),
        None,
        provider,
    ))
}
