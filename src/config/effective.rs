//! The effective config as JSON, for the admin listener's `/config`: what is in force
//! after defaults, relative paths and restart-only settings are applied, written in
//! the file's own units (`"30s"`, `"256MiB"`) so a value can be pasted back.
//!
//! Secrets never leave through here. Every value that can hold one goes through
//! [`redact_url`] or [`secret`]: userinfo in an upstream URL (which the loader refuses
//! anyway), static signing keys, session tokens and HS256 secrets.
use serde_json::{json, Value};

use super::private::{AccessKind, SiteAccess};
use super::runtime::{Config, Site};
use super::targets::{HostPattern, UpstreamSpec};
use super::units::{ByteSize, HumanDuration};
use crate::access::jwt::JwtKeys;
use crate::cors::Mode;

/// What a redacted value is replaced by.
pub const REDACTED: &str = "REDACTED";

/// A secret's stand-in: says that a value is set without showing it.
pub fn secret<T>(value: Option<T>) -> Value {
    match value {
        Some(_) => Value::String(REDACTED.into()),
        None => Value::Null,
    }
}

/// The URL with any `user:password@` replaced by `REDACTED@`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{REDACTED}{}", &rest[at..]),
        None => url.to_owned(),
    }
}

fn duration(d: std::time::Duration) -> Value {
    Value::String(HumanDuration(d).to_string())
}

fn bytes(n: u64) -> Value {
    Value::String(ByteSize(n).to_string())
}

/// The whole config as a JSON document.
pub fn to_json(c: &Config) -> Value {
    json!({
        "listen": c.listen.to_string(),
        "admin": { "listen": c.admin.map(|a| a.to_string()) },
        "server": {
            "workers": c.workers,
            "header_read_timeout": duration(c.header_read_timeout),
            "max_header_bytes": bytes(c.max_header_bytes as u64),
            "drain_delay": duration(c.shutdown.drain_delay),
            "shutdown_timeout": duration(c.shutdown.timeout),
        },
        "log": {
            "format": match c.log.format {
                super::LogFormat::Text => "text",
                super::LogFormat::Json => "json",
            },
            "access_log": c.log.access_log,
        },
        "upstream": {
            "pool_idle_timeout": duration(c.pool.idle_timeout),
            "pool_max_idle_per_host": c.pool.max_idle_per_host,
        },
        "cache": c.cache.as_ref().map(|k| json!({
            "max_bytes": bytes(k.max_bytes),
            "max_object_bytes": bytes(k.max_object_bytes),
            "status_header": k.status_header.as_str(),
        })),
        "site": c.sites.iter().map(|s| site(s)).collect::<Vec<_>>(),
    })
}

fn site(s: &Site) -> Value {
    let (upstream, writable) = match &s.upstream {
        UpstreamSpec::Http {
            scheme,
            authority,
            base_path,
        } => (
            redact_url(&format!("{scheme}://{authority}{base_path}")),
            None,
        ),
        UpstreamSpec::File { root, writable } => {
            (format!("file:{}", root.display()), Some(*writable))
        }
    };
    let rules = s.cors.as_ref().map(|p| {
        p.rules()
            .iter()
            .map(|r| {
                json!({
                    "id": r.id,
                    "allowed_origins": r.allowed_origins,
                    "allowed_methods": r.allowed_methods,
                    "allowed_headers": r.allowed_headers,
                    "expose_headers": r.expose_headers,
                    "max_age_seconds": r.max_age_seconds,
                })
            })
            .collect::<Vec<_>>()
    });
    json!({
        "name": s.name,
        "hosts": s.hosts.iter().map(host).collect::<Vec<_>>(),
        "default": s.default,
        "upstream": upstream,
        "writable": writable,
        "mode": match s.mode {
            Mode::Enforce => "enforce",
            Mode::S3 => "s3",
        },
        "connect_timeout": duration(s.connect_timeout),
        "first_byte_timeout": duration(s.first_byte_timeout),
        "cache": s.cache.map(|k| json!({
            "default_ttl": k.default_ttl.map(duration),
            "credentialed": k.credentialed,
        })),
        // `null`: the site has no CORS configuration (S3: "CORS is not enabled").
        "cors": rules,
        "access": s.access.as_ref().map(access),
        "allow_methods": s.access.as_ref().map(|a| a.methods.to_string()),
        "allow_listing": s.access.as_ref().map(|a| a.allow_listing),
        "sign": s.sign.as_ref().map(|k| json!({
            "region": k.region,
            "profile": k.chain.profile,
            "access_key_id": secret(k.chain.static_keys.as_ref()),
            "secret_access_key": secret(k.chain.static_keys.as_ref()),
            "session_token": secret(k.chain.static_keys.as_ref().and_then(|k| k.session_token.as_ref())),
        })),
    })
}

fn access(a: &SiteAccess) -> Value {
    match &a.kind {
        AccessKind::Jwt(j) => json!({
            "kind": "jwt",
            "issuer": j.issuer,
            "audience": j.audience,
            "keys": match &j.keys {
                JwtKeys::Hs256(k) => json!({ "hs256_secret": secret(Some(k)) }),
                JwtKeys::JwksFile(p) => json!({ "jwks_file": p.display().to_string() }),
                JwtKeys::JwksUrl(u) => json!({ "jwks_url": redact_url(u) }),
            },
            "leeway": duration(j.leeway),
            "jwks_refresh": duration(j.refresh),
        }),
        other => json!({ "kind": other.name() }),
    }
}

fn host(h: &HostPattern) -> String {
    let (name, port) = match h {
        HostPattern::Exact { name, port } => (name.clone(), port),
        HostPattern::Wildcard { suffix, port } => (format!("*{suffix}"), port),
    };
    match port {
        Some(p) => format!("{name}:{p}"),
        None => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn userinfo_is_redacted() {
        assert_eq!(
            redact_url("https://AKIA:secret@bucket.s3.amazonaws.com/x@y"),
            "https://REDACTED@bucket.s3.amazonaws.com/x@y"
        );
        assert_eq!(
            redact_url("http://127.0.0.1:9000/b@c"),
            "http://127.0.0.1:9000/b@c"
        );
        assert_eq!(secret(Some("k")), Value::String("REDACTED".into()));
        assert_eq!(secret::<&str>(None), Value::Null);
    }

    #[test]
    fn effective_config_has_defaults_and_rules() {
        let text = r#"
listen = "127.0.0.1:8080"
[server]
drain_delay = "2s"
[[site]]
name = "a"
hosts = ["*.example.com", "cdn.test:8443"]
upstream = "https://bucket.s3.eu-west-1.amazonaws.com/prefix/"
[site.cache]
[[site.cors]]
id = "web"
allowed_origins = ["https://app.example.com"]
allowed_methods = ["GET"]
"#;
        let c = crate::config::parse(Path::new("/tmp/x.toml"), text).expect("valid");
        let v = to_json(&c);
        assert_eq!(v["server"]["drain_delay"], "2s");
        assert_eq!(v["server"]["shutdown_timeout"], "30s");
        assert_eq!(v["cache"]["max_bytes"], "256MiB");
        let s = &v["site"][0];
        assert_eq!(
            s["upstream"],
            "https://bucket.s3.eu-west-1.amazonaws.com/prefix"
        );
        assert_eq!(s["hosts"], json!(["*.example.com", "cdn.test:8443"]));
        assert_eq!(s["mode"], "enforce");
        assert_eq!(s["cors"][0]["id"], "web");
        assert_eq!(s["cors"][0]["allowed_methods"], json!(["GET"]));
        assert_eq!(s["first_byte_timeout"], "30s");
    }
}
