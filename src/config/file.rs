//! The TOML file schema, exactly as users write it. `deny_unknown_fields` everywhere so
//! a typo is an error with a line, not a silently ignored key. Nothing here is
//! validated beyond types: `runtime.rs` turns it into the runtime `Config`.
use serde::Deserialize;
use toml::Spanned;

use super::units::{ByteSize, HumanDuration};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Address of the public listener, e.g. "127.0.0.1:8080".
    pub listen: Spanned<String>,
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub log: LogSection,
    #[serde(default)]
    pub upstream: UpstreamSection,
    /// The response cache, shared by the sites that turn it on.
    pub cache: Option<CacheSection>,
    #[serde(default)]
    pub admin: AdminSection,
    /// TLS termination: a second, https listener (see `config/tls.rs`).
    pub tls: Option<TlsSection>,
    #[serde(default)]
    pub site: Vec<SiteSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// Address of the https listener, e.g. "0.0.0.0:8443".
    pub listen: Spanned<String>,
    /// "1.2" (default) or "1.3".
    pub min_version: Option<Spanned<String>>,
    /// The plain `listen` answers 308 to https instead of serving.
    #[serde(default)]
    pub redirect_http: bool,
    /// Served certificates; the first is the one for clients without (known) SNI.
    #[serde(default)]
    pub certificate: Vec<Spanned<CertificateSection>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateSection {
    /// PEM chain, leaf first (relative to this file's directory).
    pub cert: Spanned<String>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Spanned<String>,
    /// SNI names this certificate answers; default: its SAN DNS names.
    pub names: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSection {
    /// Address of the admin listener (health, purge); never the public one.
    pub listen: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSection {
    /// Bound on everything stored, e.g. "256MiB".
    pub max_bytes: Option<ByteSize>,
    /// Larger objects stream through uncached, e.g. "8MiB".
    pub max_object_bytes: Option<ByteSize>,
    /// Response header saying HIT, MISS, REVALIDATED or BYPASS; default "X-Cache".
    pub status_header: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteCacheSection {
    /// On by default once the table is present.
    pub enabled: Option<bool>,
    /// Freshness for responses with a validator but no Cache-Control/Expires.
    pub default_ttl: Option<HumanDuration>,
    /// Also store responses to requests that carried Authorization, a cookie or a
    /// presigned query (only when the response allows shared caching).
    #[serde(default)]
    pub credentialed: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Runtime worker threads; default one per core.
    pub workers: Option<Spanned<usize>>,
    /// Time allowed for a client to send its request head (slowloris guard).
    pub header_read_timeout: Option<HumanDuration>,
    /// Largest request head accepted before answering 431.
    pub max_header_bytes: Option<ByteSize>,
    /// After SIGTERM: how long to keep accepting while `/readyz` says 503 (the load
    /// balancer needs a few seconds to stop sending); default "5s".
    pub drain_delay: Option<HumanDuration>,
    /// Then: how long in-flight requests may still run before the process exits;
    /// default "30s".
    pub shutdown_timeout: Option<HumanDuration>,
    /// A connection that moves no byte either way for this long is closed.
    pub idle_timeout: Option<HumanDuration>,
    /// Open client connections across all listeners; the excess is refused at once.
    pub max_connections: Option<Spanned<usize>>,
    /// HTTP/2 streams one connection may have in flight.
    pub h2_max_concurrent_streams: Option<Spanned<u32>>,
    /// Longest gap in a request body upload before the request is given up (408).
    pub request_body_timeout: Option<HumanDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// "text" or "json".
    pub format: Option<Spanned<String>>,
    /// One line per request; on by default.
    pub access_log: Option<bool>,
}

/// Defaults shared by every HTTP upstream; a site may override the timeouts.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSection {
    pub connect_timeout: Option<HumanDuration>,
    pub first_byte_timeout: Option<HumanDuration>,
    pub pool_idle_timeout: Option<HumanDuration>,
    pub pool_max_idle_per_host: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteSection {
    pub name: Spanned<String>,
    /// Host names this site answers; `*.example.com` wildcards; a name without a port
    /// matches any port.
    #[serde(default)]
    pub hosts: Vec<Spanned<String>>,
    /// Answers requests whose Host matches no site.
    #[serde(default)]
    pub default: bool,
    /// `https://bucket.s3.region.amazonaws.com`, `http://127.0.0.1:9000/bucket`, or
    /// `file:PATH` (relative to this file's directory).
    pub upstream: Spanned<String>,
    /// `file:` upstreams only: accept PUT and DELETE.
    #[serde(default)]
    pub writable: bool,
    /// "enforce" (default) or "s3".
    pub mode: Option<Spanned<String>>,
    /// A CORS rules file in any of S3's formats (relative to this file's directory).
    pub cors_rules: Option<Spanned<String>>,
    /// The same rules written inline.
    pub cors: Option<Vec<Spanned<RuleSection>>>,
    pub connect_timeout: Option<HumanDuration>,
    pub first_byte_timeout: Option<HumanDuration>,
    /// Response caching for this site (needs nothing else; `[cache]` sets the bounds).
    pub cache: Option<SiteCacheSection>,
    /// Who may use the site: "public", "jwt" or "presigned". Required when the site
    /// signs; there is no default.
    pub access: Option<Spanned<String>>,
    /// The only methods ever forwarded (S3 names, case-sensitive). Required with `access`.
    pub allow_methods: Option<Spanned<Vec<Spanned<String>>>>,
    /// With `access`: also forward bucket-level listing requests (GET/HEAD on `/`).
    #[serde(default)]
    pub allow_listing: bool,
    /// Sign upstream requests with SigV4 (private buckets).
    pub sign: Option<Spanned<SignSection>>,
    /// Bearer-token checks for `access = "jwt"`.
    pub jwt: Option<Spanned<JwtSection>>,
}

/// `[site.sign]`: SigV4 for a private bucket. Credentials come from the chain
/// (environment, profile, web identity, container, IMDS) unless keys are written here.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignSection {
    pub region: Spanned<String>,
    /// A profile of the shared credentials/config files (default: AWS_PROFILE, then
    /// "default").
    pub profile: Option<Spanned<String>>,
    /// Static keys (discouraged: prefer the environment or a role). Never shown.
    pub access_key_id: Option<Spanned<String>>,
    pub secret_access_key: Option<Spanned<String>>,
    pub session_token: Option<Spanned<String>>,
}

/// `[site.jwt]`: how bearer tokens are verified. Exactly one key source.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSection {
    pub issuer: Spanned<String>,
    pub audience: Spanned<String>,
    /// HS256 shared secret, inline (discouraged) or from a file.
    pub hs256_secret: Option<Spanned<String>>,
    pub hs256_secret_file: Option<Spanned<String>>,
    /// RS256/ES256 public keys as a JWKS, from a file or a URL; re-read periodically.
    pub jwks_file: Option<Spanned<String>>,
    pub jwks_url: Option<Spanned<String>>,
    /// Clock skew allowed on exp/nbf; default "30s".
    pub leeway: Option<HumanDuration>,
    /// How often a JWKS file or URL is re-read; default "5m".
    pub jwks_refresh: Option<HumanDuration>,
}

/// One CORS rule in TOML: S3's CORSRule with snake_case keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSection {
    pub id: Option<Spanned<String>>,
    pub allowed_origins: Option<Spanned<Vec<Spanned<String>>>>,
    pub allowed_methods: Option<Spanned<Vec<Spanned<String>>>>,
    pub allowed_headers: Option<Spanned<Vec<Spanned<String>>>>,
    pub expose_headers: Option<Spanned<Vec<Spanned<String>>>>,
    pub max_age_seconds: Option<Spanned<i64>>,
}
