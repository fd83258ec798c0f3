//! The `[tls]` table turned into a runtime [`TlsConfig`]: addresses parsed, paths
//! resolved against the config file's directory, SNI names checked for shape. It does
//! no I/O: reading the PEM files is the certificate store's job (`server::tls`), which
//! reports its problems at the `[[tls.certificate]]` entry recorded here.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::diag::{line_col, Diagnostic};
use super::file::TlsSection;

/// The oldest TLS version the https listener accepts. TLS 1.0 and 1.1 are not
/// offered at all (rustls does not implement them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsVersion {
    #[default]
    Tls12,
    Tls13,
}

/// The https listener.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    pub listen: SocketAddr,
    pub min_version: TlsVersion,
    /// The plain listener answers 308 to https instead of serving.
    pub redirect_http: bool,
    /// In config order; the first answers clients without SNI or with an unknown name.
    pub certificates: Vec<CertSpec>,
}

/// One `[[tls.certificate]]`: where its files are and which names it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSpec {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Lowercase names, `*.example.com` allowed; `None`: the certificate's SAN DNS names.
    pub names: Option<Vec<String>>,
    /// The config file and the 1-based line and column of this entry, so a bad PEM
    /// found at startup or on reload points at the place that named it.
    pub declared_in: PathBuf,
    pub declared_at: (usize, usize),
}

impl CertSpec {
    /// A problem with this certificate, located at its config entry.
    pub fn diagnostic(&self, message: impl Into<String>) -> Diagnostic {
        Diagnostic::at(&self.declared_in, self.declared_at, message)
    }
}

/// Converts `[tls]`; every problem is pushed to `out`, `None` if there was any.
pub(super) fn convert(
    path: &Path,
    text: &str,
    base_dir: &Path,
    section: TlsSection,
    out: &mut Vec<Diagnostic>,
) -> Option<TlsConfig> {
    let before = out.len();
    let at = |span: std::ops::Range<usize>| line_col(text, span.start);
    let listen = match section.listen.get_ref().parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(e) => {
            out.push(Diagnostic::at(
                path,
                at(section.listen.span()),
                format!("tls.listen: {e} (expected e.g. \"0.0.0.0:8443\")"),
            ));
            None
        }
    };
    let min_version = match section
        .min_version
        .as_ref()
        .map(|v| (v, v.get_ref().as_str()))
    {
        None | Some((_, "1.2")) => TlsVersion::Tls12,
        Some((_, "1.3")) => TlsVersion::Tls13,
        Some((v, other)) => {
            out.push(Diagnostic::at(
                path,
                at(v.span()),
                format!("tls.min_version: unknown {other:?}: expected \"1.2\" or \"1.3\""),
            ));
            TlsVersion::Tls12
        }
    };
    if section.certificate.is_empty() {
        out.push(Diagnostic::at(
            path,
            at(section.listen.span()),
            "[tls] needs at least one [[tls.certificate]] (cert and key PEM files)",
        ));
    }
    let mut certificates = Vec::new();
    for entry in &section.certificate {
        let c = entry.get_ref();
        let names = c.names.as_ref().map(|list| {
            if list.get_ref().is_empty() {
                out.push(Diagnostic::at(
                    path,
                    at(list.span()),
                    "tls.certificate.names is empty: omit it to use the certificate's own names",
                ));
            }
            let mut names = Vec::new();
            for n in list.get_ref() {
                match sni_name(n.get_ref()) {
                    Ok(name) => names.push(name),
                    Err(e) => out.push(Diagnostic::at(path, at(n.span()), e)),
                }
            }
            names
        });
        certificates.push(CertSpec {
            cert: base_dir.join(c.cert.get_ref()),
            key: base_dir.join(c.key.get_ref()),
            names,
            declared_in: path.to_path_buf(),
            declared_at: at(entry.span()),
        });
    }
    if out.len() > before {
        return None;
    }
    Some(TlsConfig {
        listen: listen?,
        min_version,
        redirect_http: section.redirect_http,
        certificates,
    })
}

/// Normalizes a configured SNI name: lowercase, no trailing dot, a wildcard only as
/// the whole leftmost label (RFC 6125 §6.4.3), DNS characters only.
pub fn sni_name(s: &str) -> Result<String, String> {
    let name = s.trim().trim_end_matches('.').to_ascii_lowercase();
    let rest = name.strip_prefix("*.").unwrap_or(&name);
    let valid = !rest.is_empty()
        && rest.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if valid {
        Ok(name)
    } else {
        Err(format!(
            "tls.certificate.names: {s:?} is not a DNS name (a wildcard must be a leading `*.` label)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sni_names_are_normalized_and_checked() {
        assert_eq!(sni_name("A.Test.").as_deref(), Ok("a.test"));
        assert_eq!(sni_name("*.B.test").as_deref(), Ok("*.b.test"));
        for bad in [
            "", "*", "*.", "a.*.test", "a..test", "a test", "x*.test", "[::1]",
        ] {
            assert!(sni_name(bad).is_err(), "{bad:?} accepted");
        }
    }
}
