//! A site's private-bucket settings, validated: who may use it (`access`,
//! `allow_methods`, `allow_listing`, `[site.jwt]`) and how its upstream requests are
//! signed (`[site.sign]`). The rules a file must follow are the point of this module: a
//! signing proxy without access control is an open door, so a site that signs must say
//! who may use it and for which methods, and there are no defaults to forget.
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::file::{JwtSection, SignSection, SiteSection};
use super::runtime::Collector;
use crate::access::jwt::{JwtConfig, JwtKeys};
use crate::access::MethodSet;
use crate::credentials::{ChainConfig, StaticKeys};

const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
const DEFAULT_JWKS_REFRESH: Duration = Duration::from_secs(300);

/// Who may use a site, and for what.
#[derive(Debug, Clone)]
pub struct SiteAccess {
    pub kind: AccessKind,
    /// Deny by default: nothing outside this set is forwarded (or signed).
    pub methods: MethodSet,
    /// Bucket-level listing requests are forwarded too (opt-in).
    pub allow_listing: bool,
}

#[derive(Debug, Clone)]
pub enum AccessKind {
    Public,
    Jwt(JwtConfig),
    /// The client's presigned query is the only auth; nothing is signed.
    Presigned,
}

impl AccessKind {
    pub fn parse(s: &str) -> Result<AccessKind, String> {
        match s {
            "public" => Ok(AccessKind::Public),
            "presigned" => Ok(AccessKind::Presigned),
            "jwt" => Err("access = \"jwt\" needs a [site.jwt] table".into()),
            other => Err(format!(
                "access {other:?} is not one of \"public\", \"jwt\", \"presigned\""
            )),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            AccessKind::Public => "public",
            AccessKind::Jwt(_) => "jwt",
            AccessKind::Presigned => "presigned",
        }
    }
}

/// How a site signs its upstream requests.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SignConfig {
    pub region: String,
    pub chain: ChainConfig,
}

/// The access and signing parts of one `[[site]]`; errors go to `c`.
pub(super) fn convert(
    c: &mut Collector<'_>,
    base_dir: &Path,
    s: &mut SiteSection,
    file_upstream: bool,
) -> (Option<SiteAccess>, Option<SignConfig>) {
    let sign = s.sign.take().map(|t| {
        if file_upstream {
            c.at(
                &t,
                "[site.sign] needs an HTTP(S) upstream; a file: bucket is never signed",
            );
        }
        sign_config(c, t.into_inner())
    });
    let jwt = s.jwt.take();
    let methods = s.allow_methods.take().map(|list| {
        let names: Vec<&str> = list
            .get_ref()
            .iter()
            .map(|n| n.get_ref().as_str())
            .collect();
        match MethodSet::parse(names) {
            Ok(m) => Some(m),
            Err(e) => {
                c.at(&list, e);
                None
            }
        }
    });
    let Some(access) = s.access.take() else {
        let why = if sign.is_some() {
            Some("a site that signs must declare access = \"public\", \"jwt\" or \"presigned\"; there is no default")
        } else if methods.is_some() {
            Some("allow_methods goes with access = \"public\", \"jwt\" or \"presigned\"")
        } else if jwt.is_some() {
            Some("[site.jwt] goes with access = \"jwt\"")
        } else {
            None
        };
        if let Some(why) = why {
            c.at(&s.name, why);
        }
        return (None, sign.flatten());
    };
    let kind = match (access.get_ref().as_str(), jwt) {
        ("jwt", Some(j)) => jwt_config(c, base_dir, j).map(AccessKind::Jwt),
        (other, Some(j)) => {
            c.at(
                &j,
                format!("[site.jwt] is set but access is {other:?}, not \"jwt\""),
            );
            None
        }
        (other, None) => AccessKind::parse(other).map_err(|e| c.at(&access, e)).ok(),
    };
    if matches!(kind, Some(AccessKind::Presigned)) && sign.is_some() {
        c.at(
            &access,
            "access = \"presigned\" forwards the client's own signature; remove [site.sign]",
        );
    }
    let Some(methods) = methods else {
        c.at(
            &access,
            "a site with access must list allow_methods, e.g. [\"GET\", \"HEAD\"]; there is no default",
        );
        return (None, None);
    };
    let site_access = kind.zip(methods).map(|(kind, methods)| SiteAccess {
        kind,
        methods,
        allow_listing: s.allow_listing,
    });
    (site_access, sign.flatten())
}

fn nonempty(c: &mut Collector<'_>, v: Spanned<String>, what: &str) -> Option<String> {
    if v.get_ref().trim().is_empty() {
        c.at(&v, format!("{what} must not be empty"));
        return None;
    }
    Some(v.into_inner())
}

fn sign_config(c: &mut Collector<'_>, t: SignSection) -> Option<SignConfig> {
    let region = nonempty(c, t.region, "sign.region");
    let static_keys = match (t.access_key_id, t.secret_access_key) {
        (Some(id), Some(secret)) => Some(StaticKeys {
            access_key_id: id.into_inner(),
            secret_access_key: secret.into_inner(),
            session_token: t.session_token.map(Spanned::into_inner),
        }),
        (None, None) => {
            if let Some(tok) = &t.session_token {
                c.at(
                    tok,
                    "sign.session_token needs access_key_id and secret_access_key",
                );
            }
            None
        }
        (Some(v), None) | (None, Some(v)) => {
            c.at(
                &v,
                "sign.access_key_id and sign.secret_access_key go together",
            );
            None
        }
    };
    Some(SignConfig {
        region: region?,
        chain: ChainConfig {
            static_keys,
            profile: t.profile.map(Spanned::into_inner),
        },
    })
}

fn jwt_config(c: &mut Collector<'_>, base_dir: &Path, t: Spanned<JwtSection>) -> Option<JwtConfig> {
    let span_of = t.span();
    let t = t.into_inner();
    let mut sources = Vec::new();
    if let Some(v) = t.hs256_secret {
        sources.push(Some(JwtKeys::Hs256(v.into_inner().into_bytes())));
    }
    if let Some(v) = t.hs256_secret_file {
        let path = base_dir.join(v.get_ref());
        // Read at load, so a reload picks up a rotated secret.
        sources.push(match std::fs::read(&path) {
            Ok(bytes) => Some(JwtKeys::Hs256(trim_newline(bytes))),
            Err(e) => {
                c.at(&v, format!("jwt.hs256_secret_file {}: {e}", path.display()));
                None
            }
        });
    }
    if let Some(v) = t.jwks_file {
        sources.push(Some(JwtKeys::JwksFile(base_dir.join(v.get_ref()))));
    }
    if let Some(v) = t.jwks_url {
        if !(v.get_ref().starts_with("https://") || v.get_ref().starts_with("http://")) {
            c.at(&v, "jwt.jwks_url must be an http(s) URL");
        }
        sources.push(Some(JwtKeys::JwksUrl(v.into_inner())));
    }
    // Every problem is reported before the table is refused, not just the first.
    let issuer = nonempty(c, t.issuer, "jwt.issuer");
    let audience = nonempty(c, t.audience, "jwt.audience");
    if sources.len() != 1 {
        c.at_offset(
            span_of.start,
            "[site.jwt] needs exactly one of hs256_secret, hs256_secret_file, jwks_file, jwks_url",
        );
        return None;
    }
    let keys = sources.pop().flatten()?;
    if matches!(&keys, JwtKeys::Hs256(k) if k.len() < 32) {
        c.at_offset(
            span_of.start,
            "the HS256 secret is shorter than 32 bytes (RFC 7518 §3.2 wants at least 256 bits)",
        );
        return None;
    }
    Some(JwtConfig {
        keys,
        issuer: issuer?,
        audience: audience?,
        leeway: t.leeway.map_or(DEFAULT_LEEWAY, |d| d.0),
        refresh: t.jwks_refresh.map_or(DEFAULT_JWKS_REFRESH, |d| d.0),
    })
}

fn trim_newline(mut b: Vec<u8>) -> Vec<u8> {
    while matches!(b.last(), Some(b'\n' | b'\r')) {
        b.pop();
    }
    b
}

/// The one-site mode's `--access`, `--allow-methods` and `--sign-region`.
pub(super) fn one_site(
    access: Option<AccessKind>,
    methods: Option<&[String]>,
    sign_region: Option<String>,
    file_upstream: bool,
) -> Result<(Option<SiteAccess>, Option<SignConfig>), String> {
    let Some(kind) = access else {
        return match sign_region {
            Some(_) => Err("--sign-region needs --access public".into()),
            None => Ok((None, None)),
        };
    };
    if sign_region.is_some() && matches!(kind, AccessKind::Presigned) {
        return Err(
            "--access presigned forwards the client's own signature; drop --sign-region".into(),
        );
    }
    if sign_region.is_some() && file_upstream {
        return Err("--sign-region needs an HTTP(S) upstream".into());
    }
    let methods = match methods {
        Some(m) => MethodSet::parse(m.iter().map(String::as_str))?,
        None => MethodSet::READ_ONLY,
    };
    if sign_region.as_deref().is_some_and(|r| r.trim().is_empty()) {
        return Err("--sign-region must name a region, e.g. eu-west-1".into());
    }
    let sign = sign_region.map(|region| SignConfig {
        region,
        chain: ChainConfig::default(),
    });
    Ok((
        Some(SiteAccess {
            kind,
            methods,
            allow_listing: false,
        }),
        sign,
    ))
}

#[cfg(test)]
#[path = "private_tests.rs"]
mod tests;
