//! The runtime side of private-bucket sites: their access policies (phase 3) and
//! signers (phase 6), built from a config snapshot, plus the [`Keyring`] of credential
//! handles that outlives snapshots, so a reload neither re-resolves credentials nor
//! flips readiness while they are fetched again.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::access::jwt::JwtVerifier;
use crate::access::{AccessMode, AccessPolicy};
use crate::config::private::{AccessKind, SignConfig};
use crate::config::Config;
use crate::credentials::{ChainConfig, Clock, CredentialsHandle, Env};
use crate::upstream::sign::SigningSpec;

/// Credential handles by chain config, shared by every snapshot.
pub struct Keyring {
    handles: Mutex<HashMap<ChainConfig, CredentialsHandle>>,
    /// The environment the chain reads (the process's, or a test's).
    env: Env,
    /// Expiry is wall time; tests move this clock.
    pub clock: Arc<dyn Clock>,
}

impl Keyring {
    pub fn new(env: Env, clock: Arc<dyn Clock>) -> Keyring {
        Keyring {
            handles: Mutex::new(HashMap::new()),
            env,
            clock,
        }
    }

    /// The handle for `chain`, started on first use. Call inside the runtime.
    pub fn credentials(&self, chain: &ChainConfig) -> CredentialsHandle {
        let mut handles = self.handles.lock().unwrap_or_else(|p| p.into_inner());
        handles
            .entry(chain.clone())
            .or_insert_with(|| {
                CredentialsHandle::spawn(chain.clone(), self.env.clone(), self.clock.clone())
            })
            .clone()
    }

    /// Builds the JWT verifiers `config` needs (loading their keys now and refreshing
    /// them in the background), by site index.
    /// Async because a JWKS URL is fetched; a failure names the site.
    pub async fn verifiers(
        &self,
        config: &Config,
    ) -> Result<HashMap<usize, Arc<JwtVerifier>>, String> {
        let mut out = HashMap::new();
        for (i, site) in config.sites.iter().enumerate() {
            if let Some(AccessKind::Jwt(cfg)) = site.access.as_ref().map(|a| &a.kind) {
                let v = JwtVerifier::new(cfg.clone())
                    .await
                    .map_err(|e| format!("site {:?}: jwt: {e}", site.name))?;
                out.insert(i, v);
            }
        }
        Ok(out)
    }
}

/// What signs one site's upstream requests.
pub struct Signer {
    pub spec: SigningSpec,
    pub credentials: CredentialsHandle,
    /// The signature's time (the keyring's clock, so tests can fix it).
    pub clock: Arc<dyn Clock>,
}

/// Phase 3 and phase 6 state of one site.
#[derive(Default)]
pub struct SitePrivate {
    pub access: Option<AccessPolicy>,
    pub signer: Option<Signer>,
}

impl SitePrivate {
    pub fn build(
        site: &crate::config::Site,
        keyring: &Keyring,
        verifier: Option<Arc<JwtVerifier>>,
    ) -> std::io::Result<SitePrivate> {
        let access = match &site.access {
            None => None,
            Some(a) => Some(AccessPolicy {
                mode: match &a.kind {
                    AccessKind::Public => AccessMode::Public,
                    AccessKind::Presigned => AccessMode::Presigned,
                    AccessKind::Jwt(_) => AccessMode::Jwt(verifier.ok_or_else(|| {
                        std::io::Error::other(format!("site {:?}: no JWT verifier", site.name))
                    })?),
                },
                methods: a.methods,
                allow_listing: a.allow_listing,
            }),
        };
        let signer = site
            .sign
            .as_ref()
            .map(|SignConfig { region, chain }| Signer {
                spec: SigningSpec {
                    region: region.clone(),
                },
                credentials: keyring.credentials(chain),
                clock: keyring.clock.clone(),
            });
        Ok(SitePrivate { access, signer })
    }
}
