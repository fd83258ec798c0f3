//! TLS termination: the certificate store that picks a certificate by SNI and can be
//! reloaded in place, and the rustls server config around it (TLS 1.2 or 1.3 minimum,
//! ALPN `h2` then `http/1.1`). The accept loop in `server/mod.rs` does the handshake;
//! nothing here knows HTTP.
//!
//! Selection (RFC 6066 §3 SNI): an exact name wins, then a wildcard `*.parent` for a
//! name one label below `parent` (RFC 6125 §6.4.3: a wildcard covers one label, so no
//! other wildcard could match and the "longest" one is the only one); a client without
//! SNI, or with a name no certificate lists, gets the first certificate, so plain
//! `https://IP/` clients still complete a handshake they can then judge.
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::config::tls::sni_name;
use crate::config::{CertSpec, Diagnostic, Diagnostics, TlsConfig, TlsVersion};

/// The served certificates by name. Swapped whole on reload, so a handshake sees
/// either the old set or the new one, never a mix.
pub struct CertStore {
    /// What to read on [`CertStore::reload`]; replaced by [`CertStore::replace`].
    specs: ArcSwap<Vec<CertSpec>>,
    table: ArcSwap<Table>,
    /// Parses keys; the same provider the handshakes use.
    provider: Arc<CryptoProvider>,
    /// Serializes reload and replace, so a slow reload of the old list cannot land
    /// after a replace and bring the old certificates back. Handshakes never take it.
    writer: Mutex<()>,
}

/// One loaded set of certificates.
struct Table {
    /// Exact lowercase names.
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// `*.parent` names, keyed by `parent`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    /// The answer without SNI or for an unknown name.
    first: Arc<CertifiedKey>,
    /// Each certificate's names in config order, for logs and tests.
    names: Vec<Vec<String>>,
}

impl Table {
    fn lookup(&self, name: &str) -> Option<&Arc<CertifiedKey>> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(k) = self.exact.get(&name) {
            return Some(k);
        }
        let (_, parent) = name.split_once('.')?;
        self.wildcard.get(parent)
    }
}

impl CertStore {
    /// Reads every certificate of `tls`; the first problem in each entry is reported
    /// at that entry's line.
    pub fn load(tls: &TlsConfig) -> Result<CertStore, Diagnostics> {
        let provider = provider().ok_or_else(|| {
            let at = tls.certificates.first().map(|c| {
                c.diagnostic(
                    "this build has no TLS crypto provider (features tls-ring or tls-aws-lc)",
                )
            });
            Diagnostics(at.into_iter().collect())
        })?;
        let table = build(&tls.certificates, &provider)?;
        Ok(CertStore {
            specs: ArcSwap::from_pointee(tls.certificates.clone()),
            table: ArcSwap::from_pointee(table),
            provider,
            writer: Mutex::new(()),
        })
    }

    /// Re-reads the PEM files (same paths as before) and serves them from the next
    /// handshake on; connections already up keep theirs. On any error nothing
    /// changes: the old certificates stay in service and the error is returned.
    pub fn reload(&self) -> Result<(), Diagnostics> {
        let _writing = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let specs = self.specs.load_full();
        let table = build(&specs, &self.provider)?;
        self.table.store(Arc::new(table));
        Ok(())
    }

    /// As [`CertStore::reload`], from a new config's certificate list (a config
    /// reload that added, removed or renamed certificates). The listen address and
    /// `min_version` cannot change without a restart.
    pub fn replace(&self, tls: &TlsConfig) -> Result<(), Diagnostics> {
        let _writing = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let table = build(&tls.certificates, &self.provider)?;
        self.specs.store(Arc::new(tls.certificates.clone()));
        self.table.store(Arc::new(table));
        Ok(())
    }

    /// Whether some certificate lists `host` (a bare name, no port) by exact or
    /// wildcard name. The https redirect asks this before sending a client there.
    pub fn covers(&self, host: &str) -> bool {
        self.table.load().lookup(host).is_some()
    }

    /// Each certificate's names, in config order.
    pub fn names(&self) -> Vec<Vec<String>> {
        self.table.load().names.clone()
    }
}

impl fmt::Debug for CertStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertStore")
            .field("names", &self.table.load().names)
            .finish()
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let table = self.table.load();
        let chosen = hello.server_name().and_then(|n| table.lookup(n));
        Some(chosen.unwrap_or(&table.first).clone())
    }
}

/// Loads every certificate; all problems are collected before failing.
fn build(specs: &[CertSpec], provider: &CryptoProvider) -> Result<Table, Diagnostics> {
    let mut errors = Vec::new();
    let mut loaded = Vec::new();
    for spec in specs {
        match load_one(spec, provider) {
            Ok(pair) => loaded.push(pair),
            Err(d) => errors.push(d),
        }
    }
    let Some((first, _)) = loaded.first() else {
        if errors.is_empty() {
            return Err(Diagnostics(vec![Diagnostic::whole(
                std::path::Path::new("[tls]"),
                "no certificate configured",
            )]));
        }
        return Err(Diagnostics(errors));
    };
    if !errors.is_empty() {
        return Err(Diagnostics(errors));
    }
    let mut table = Table {
        exact: HashMap::new(),
        wildcard: HashMap::new(),
        first: first.clone(),
        names: Vec::new(),
    };
    for (key, names) in &loaded {
        for name in names {
            // Config order decides between two certificates listing one name.
            match name.strip_prefix("*.") {
                Some(parent) => table
                    .wildcard
                    .entry(parent.to_owned())
                    .or_insert_with(|| key.clone()),
                None => table
                    .exact
                    .entry(name.clone())
                    .or_insert_with(|| key.clone()),
            };
        }
        table.names.push(names.clone());
    }
    Ok(table)
}

/// Reads one certificate chain and its key, checks they belong together, and finds
/// the names it answers.
fn load_one(
    spec: &CertSpec,
    provider: &CryptoProvider,
) -> Result<(Arc<CertifiedKey>, Vec<String>), Diagnostic> {
    let cert_path = spec.cert.display();
    let chain = CertificateDer::pem_file_iter(&spec.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| spec.diagnostic(format!("certificate {cert_path}: {e}")))?;
    let Some(leaf) = chain.first() else {
        return Err(spec.diagnostic(format!(
            "certificate {cert_path}: no CERTIFICATE block in the file"
        )));
    };
    let names = match &spec.names {
        Some(names) => names.clone(),
        None => san_names(leaf).map_err(|e| spec.diagnostic(format!("{cert_path}: {e}")))?,
    };
    let key = PrivateKeyDer::from_pem_file(&spec.key)
        .map_err(|e| spec.diagnostic(format!("key {}: {e}", spec.key.display())))?;
    let certified = CertifiedKey::from_der(chain, key, provider).map_err(|e| {
        spec.diagnostic(format!(
            "certificate {cert_path} with key {}: {e}",
            spec.key.display()
        ))
    })?;
    Ok((Arc::new(certified), names))
}

/// The DNS names of a certificate's subjectAltName, normalized like configured names.
fn san_names(leaf: &CertificateDer<'_>) -> Result<Vec<String>, String> {
    let cert = webpki::EndEntityCert::try_from(leaf)
        .map_err(|e| format!("not a parsable X.509 certificate: {e}"))?;
    let names: Vec<String> = cert
        .valid_dns_names()
        .filter_map(|n| sni_name(n).ok())
        .collect();
    if names.is_empty() {
        return Err(
            "the certificate has no DNS names in subjectAltName: list them with names = [...]"
                .into(),
        );
    }
    Ok(names)
}

/// The crypto provider chosen by the crate features, like `app::install_crypto_provider`.
fn provider() -> Option<Arc<CryptoProvider>> {
    #[cfg(feature = "tls-ring")]
    return Some(Arc::new(rustls::crypto::ring::default_provider()));
    #[cfg(all(feature = "tls-aws-lc", not(feature = "tls-ring")))]
    return Some(Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    #[allow(unreachable_code)]
    CryptoProvider::get_default().cloned()
}

/// The rustls config every handshake uses: certificates from `store`, versions from
/// `min`, ALPN `h2` preferred over `http/1.1` (RFC 7301), no client certificates.
pub fn server_config(
    store: Arc<CertStore>,
    min: TlsVersion,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let versions: &[&'static rustls::SupportedProtocolVersion] = match min {
        TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let mut config = ServerConfig::builder_with_provider(store.provider.clone())
        .with_protocol_versions(versions)?
        .with_no_client_auth()
        .with_cert_resolver(store);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The bound https listener and what its handshakes need.
pub struct TlsListener {
    pub listener: TcpListener,
    pub acceptor: TlsAcceptor,
    pub certificates: Arc<CertStore>,
    /// The plain listener redirects here instead of serving.
    pub redirect_http: bool,
}

impl TlsListener {
    /// Loads the certificates and binds `tls.listen`. Certificate problems come back
    /// as `InvalidData` carrying every diagnostic with its config line.
    pub async fn bind(tls: &TlsConfig) -> std::io::Result<TlsListener> {
        let invalid = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        let certificates = Arc::new(CertStore::load(tls).map_err(|d| invalid(d.to_string()))?);
        let config = server_config(certificates.clone(), tls.min_version)
            .map_err(|e| invalid(format!("TLS setup: {e}")))?;
        Ok(TlsListener {
            listener: TcpListener::bind(tls.listen).await?,
            acceptor: TlsAcceptor::from(config),
            certificates,
            redirect_http: tls.redirect_http,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Arc<CertifiedKey> {
        // Selection is checked by identity (pointer), so a key that cannot sign will do.
        struct NoKey;
        impl fmt::Debug for NoKey {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("NoKey")
            }
        }
        impl rustls::sign::SigningKey for NoKey {
            fn choose_scheme(
                &self,
                _: &[rustls::SignatureScheme],
            ) -> Option<Box<dyn rustls::sign::Signer>> {
                None
            }
            fn algorithm(&self) -> rustls::SignatureAlgorithm {
                rustls::SignatureAlgorithm::ECDSA
            }
        }
        Arc::new(CertifiedKey::new(Vec::new(), Arc::new(NoKey)))
    }

    #[test]
    fn exact_beats_wildcard_and_wildcards_cover_one_label() {
        let (a, star, exact) = (key(), key(), key());
        let table = Table {
            exact: [
                ("a.test".into(), a.clone()),
                ("x.b.test".into(), exact.clone()),
            ]
            .into(),
            wildcard: [("b.test".into(), star.clone())].into(),
            first: a.clone(),
            names: Vec::new(),
        };
        let is = |name: &str, k: &Arc<CertifiedKey>| {
            table.lookup(name).is_some_and(|got| Arc::ptr_eq(got, k))
        };
        assert!(is("a.test", &a));
        assert!(is("A.Test.", &a));
        assert!(is("x.b.test", &exact));
        assert!(is("y.b.test", &star));
        assert!(table.lookup("b.test").is_none());
        assert!(table.lookup("z.y.b.test").is_none());
        assert!(table.lookup("c.test").is_none());
    }
}
