//! The validated runtime configuration, built from the file schema with `TryFrom` so
//! the proxy never sees the file format. Every problem found is collected, each with
//! file, line and column, before the load is refused.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::header::HeaderName;
use toml::Spanned;

use super::diag::{line_col, Diagnostic, Diagnostics};
use super::file::{CacheSection, FileConfig, RuleSection, SiteSection};
use super::private::{self, AccessKind, SignConfig, SiteAccess};
use super::s3_formats;
use super::targets::{parse_mode, HostPattern, UpstreamSpec};
use super::tls::{self, TlsConfig};
use crate::cache::{CacheConfig, SiteCache};
use crate::cors::{CorsPolicy, Field, Location, Mode, RuleSpec};

const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
const DEFAULT_DRAIN_DELAY: Duration = Duration::from_secs(5);
const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
const DEFAULT_H2_MAX_CONCURRENT_STREAMS: u32 = 256;
const DEFAULT_REQUEST_BODY_TIMEOUT: Duration = Duration::from_secs(60);

/// Everything a running gateway needs, immutable once built: a reload builds a new one.
#[derive(Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub workers: Option<usize>,
    pub header_read_timeout: Duration,
    pub max_header_bytes: usize,
    /// Connection and request limits beyond the two above (`[server]`).
    pub limits: ServerLimits,
    /// The https listener, if any.
    pub tls: Option<TlsConfig>,
    pub log: LogConfig,
    pub pool: PoolConfig,
    /// `Some` when any site caches.
    pub cache: Option<CacheConfig>,
    /// The admin listener's address, if any.
    pub admin: Option<SocketAddr>,
    pub sites: Vec<Arc<Site>>,
    pub shutdown: ShutdownConfig,
}

/// How a stop request (SIGTERM) is carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownConfig {
    /// Not ready but still accepting: endpoints are removed from a Kubernetes Service a
    /// few seconds after the pod is told to stop, and traffic keeps coming meanwhile.
    pub drain_delay: Duration,
    /// Then in-flight requests get this long before the process exits anyway.
    pub timeout: Duration,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig {
            drain_delay: DEFAULT_DRAIN_DELAY,
            timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        }
    }
}

/// Protections for the listeners; see `server::limits` for how each is enforced.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// A connection that moves no byte either way for this long is closed.
    pub idle_timeout: Duration,
    /// Open client connections across all listeners; more are refused, never queued.
    pub max_connections: usize,
    pub h2_max_concurrent_streams: u32,
    /// Longest wait for the next piece of a request body once the upstream asks for it.
    pub request_body_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            h2_max_concurrent_streams: DEFAULT_H2_MAX_CONCURRENT_STREAMS,
            request_body_timeout: DEFAULT_REQUEST_BODY_TIMEOUT,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Copy)]
pub struct LogConfig {
    pub format: LogFormat,
    pub access_log: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            access_log: true,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct PoolConfig {
    pub idle_timeout: Duration,
    pub max_idle_per_host: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            idle_timeout: Duration::from_secs(60),
            max_idle_per_host: 256,
        }
    }
}

/// One virtual host: which names it answers, where it forwards, and its CORS rules.
#[derive(Debug)]
pub struct Site {
    pub name: String,
    pub hosts: Vec<HostPattern>,
    pub default: bool,
    pub upstream: UpstreamSpec,
    pub mode: Mode,
    /// `None`: the site has no CORS configuration (S3: "CORS is not enabled").
    pub cors: Option<Arc<CorsPolicy>>,
    pub connect_timeout: Duration,
    pub first_byte_timeout: Duration,
    /// `Some` when this site's responses are cached.
    pub cache: Option<SiteCache>,
    /// Access control (required when the site signs).
    pub access: Option<SiteAccess>,
    /// SigV4 signing of upstream requests.
    pub sign: Option<SignConfig>,
}

#[cfg(test)]
impl Site {
    /// A `file:` site for routing tests: `hosts` parsed as in config, everything else
    /// defaulted.
    pub(crate) fn for_tests(name: &str, hosts: &[&str], default: bool) -> Arc<Site> {
        Arc::new(Site {
            name: name.into(),
            hosts: hosts
                .iter()
                .map(|h| HostPattern::parse(h).expect("test host"))
                .collect(),
            default,
            upstream: UpstreamSpec::File {
                root: ".".into(),
                writable: false,
            },
            mode: Mode::Enforce,
            cors: None,
            connect_timeout: Duration::from_secs(1),
            first_byte_timeout: Duration::from_secs(1),
            cache: None,
            access: None,
            sign: None,
        })
    }
}

/// A TOML file as read: the parsed schema plus what is needed to locate errors.
pub struct Source<'a> {
    pub file: FileConfig,
    pub path: &'a Path,
    pub text: &'a str,
}

/// Reads, parses and validates a TOML config file.
pub fn load(path: &Path) -> Result<Config, Diagnostics> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Diagnostics(vec![Diagnostic::whole(path, format!("cannot read: {e}"))]))?;
    parse(path, &text)
}

/// Parses and validates TOML text as if read from `path` (relative paths inside it
/// resolve against `path`'s directory).
pub fn parse(path: &Path, text: &str) -> Result<Config, Diagnostics> {
    let file: FileConfig =
        toml::from_str(text).map_err(|e| Diagnostics(vec![toml_diag(path, text, &e)]))?;
    Config::try_from(Source { file, path, text })
}

fn toml_diag(path: &Path, text: &str, e: &toml::de::Error) -> Diagnostic {
    let msg = e.message().trim().to_owned();
    match e.span() {
        Some(span) => Diagnostic::at_offset(path, text, span.start, msg),
        None => Diagnostic::whole(path, msg),
    }
}

/// Collects diagnostics while a config is converted.
pub(super) struct Collector<'a> {
    path: &'a Path,
    text: &'a str,
    pub(super) out: Vec<Diagnostic>,
}

impl Collector<'_> {
    pub(super) fn at<T>(&mut self, v: &Spanned<T>, msg: impl Into<String>) {
        self.at_offset(v.span().start, msg);
    }

    pub(super) fn at_offset(&mut self, offset: usize, msg: impl Into<String>) {
        self.out
            .push(Diagnostic::at_offset(self.path, self.text, offset, msg));
    }
}

impl TryFrom<Source<'_>> for Config {
    type Error = Diagnostics;

    fn try_from(src: Source<'_>) -> Result<Config, Diagnostics> {
        let base_dir = src.path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let mut c = Collector {
            path: src.path,
            text: src.text,
            out: Vec::new(),
        };
        let f = src.file;
        let listen = match f.listen.get_ref().parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(e) => {
                c.at(
                    &f.listen,
                    format!("listen: {e} (expected e.g. \"127.0.0.1:8080\")"),
                );
                None
            }
        };
        let mut log = LogConfig::default();
        if let Some(fmt) = &f.log.format {
            match fmt.get_ref().as_str() {
                "text" => log.format = LogFormat::Text,
                "json" => log.format = LogFormat::Json,
                other => c.at(
                    fmt,
                    format!("log.format: unknown {other:?}: expected \"text\" or \"json\""),
                ),
            }
        }
        if let Some(on) = f.log.access_log {
            log.access_log = on;
        }
        if let Some(w) = &f.server.workers {
            if *w.get_ref() == 0 {
                c.at(w, "server.workers must be at least 1");
            }
        }
        let mut pool = PoolConfig::default();
        if let Some(d) = f.upstream.pool_idle_timeout {
            pool.idle_timeout = d.0;
        }
        if let Some(n) = f.upstream.pool_max_idle_per_host {
            pool.max_idle_per_host = n;
        }
        let connect = f
            .upstream
            .connect_timeout
            .map_or(DEFAULT_CONNECT_TIMEOUT, |d| d.0);
        let first_byte = f
            .upstream
            .first_byte_timeout
            .map_or(DEFAULT_FIRST_BYTE_TIMEOUT, |d| d.0);

        if f.site.is_empty() {
            c.out.push(Diagnostic::at(
                src.path,
                (1, 1),
                "no [[site]]: at least one site is needed",
            ));
        }
        let mut sites = Vec::new();
        for s in f.site {
            if let Some(site) = convert_site(&mut c, &base_dir, s, connect, first_byte) {
                sites.push(Arc::new(site));
            }
        }
        check_site_set(&mut c, &sites);
        let cache = convert_cache(&mut c, f.cache, &sites);
        let admin = f
            .admin
            .listen
            .and_then(|a| match a.get_ref().parse::<SocketAddr>() {
                // Port 0 twice is two different ports the OS picks (tests do this).
                Ok(addr) if Some(addr) == listen && addr.port() != 0 => {
                    c.at(
                        &a,
                        "admin.listen must differ from the public listen address",
                    );
                    None
                }
                Ok(addr) => Some(addr),
                Err(e) => {
                    c.at(
                        &a,
                        format!("admin.listen: {e} (expected e.g. \"127.0.0.1:9901\")"),
                    );
                    None
                }
            });

        let limits = convert_limits(&mut c, &f.server);
        let tls = f
            .tls
            .and_then(|t| tls::convert(src.path, src.text, &base_dir, t, &mut c.out));
        if let (Some(t), Some(l)) = (&tls, listen) {
            // Port 0 (tests) binds two different ports, so only a fixed port can clash.
            if t.listen == l && l.port() != 0 {
                c.out.push(Diagnostic::whole(
                    src.path,
                    "tls.listen must differ from the plain listen address",
                ));
            }
        }

        match (listen, c.out.is_empty()) {
            (Some(listen), true) => Ok(Config {
                listen,
                workers: f.server.workers.map(|w| w.into_inner()),
                header_read_timeout: f
                    .server
                    .header_read_timeout
                    .map_or(DEFAULT_HEADER_READ_TIMEOUT, |d| d.0),
                max_header_bytes: f
                    .server
                    .max_header_bytes
                    .map_or(DEFAULT_MAX_HEADER_BYTES, |b| {
                        usize::try_from(b.0).unwrap_or(usize::MAX)
                    }),
                limits,
                tls,
                log,
                pool,
                cache,
                admin,
                sites,
                shutdown: ShutdownConfig {
                    drain_delay: f.server.drain_delay.map_or(DEFAULT_DRAIN_DELAY, |d| d.0),
                    timeout: f
                        .server
                        .shutdown_timeout
                        .map_or(DEFAULT_SHUTDOWN_TIMEOUT, |d| d.0),
                },
            }),
            _ => Err(Diagnostics(c.out)),
        }
    }
}

fn convert_site(
    c: &mut Collector<'_>,
    base_dir: &Path,
    mut s: SiteSection,
    connect: Duration,
    first_byte: Duration,
) -> Option<Site> {
    let before = c.out.len();
    let mut hosts = Vec::new();
    for h in &s.hosts {
        match HostPattern::parse(h.get_ref()) {
            Ok(p) => hosts.push(p),
            Err(e) => c.at(h, e),
        }
    }
    if hosts.is_empty() && !s.default {
        c.at(
            &s.name,
            format!(
                "site {:?} lists no hosts and is not the default: nothing would reach it",
                s.name.get_ref()
            ),
        );
    }
    let upstream = match UpstreamSpec::parse(s.upstream.get_ref(), base_dir, s.writable) {
        Ok(u) => Some(u),
        Err(e) => {
            c.at(&s.upstream, e);
            None
        }
    };
    let mode = match &s.mode {
        None => Mode::Enforce,
        Some(m) => parse_mode(m.get_ref()).unwrap_or_else(|e| {
            c.at(m, e);
            Mode::Enforce
        }),
    };
    let cors = match (&s.cors_rules, s.cors.take()) {
        (Some(file), Some(inline)) => {
            c.at(
                file,
                "use either cors_rules (a file) or inline [[site.cors]] rules, not both",
            );
            let _ = inline;
            None
        }
        (Some(file), None) => {
            let path = base_dir.join(file.get_ref());
            match load_rules_file(&path) {
                Ok(p) => Some(Arc::new(p)),
                Err(ds) => {
                    c.at(
                        file,
                        format!("CORS rules file {} is invalid:", path.display()),
                    );
                    c.out.extend(ds.0);
                    None
                }
            }
        }
        (None, Some(inline)) => compile_inline(c, &inline).map(Arc::new),
        (None, None) => None,
    };
    let file_upstream = matches!(upstream, Some(UpstreamSpec::File { .. }));
    let (access, sign) = private::convert(c, base_dir, &mut s, file_upstream);
    if c.out.len() > before {
        return None;
    }
    Some(Site {
        name: s.name.into_inner(),
        hosts,
        default: s.default,
        upstream: upstream?,
        mode,
        cors,
        connect_timeout: s.connect_timeout.map_or(connect, |d| d.0),
        first_byte_timeout: s.first_byte_timeout.map_or(first_byte, |d| d.0),
        cache: s
            .cache
            .filter(|c| c.enabled.unwrap_or(true))
            .map(|c| SiteCache {
                default_ttl: c.default_ttl.map(|d| d.0),
                credentialed: c.credentialed,
            }),
        access,
        sign,
    })
}

/// `[server]` limits beyond the head timeout and size, with their defaults.
fn convert_limits(c: &mut Collector<'_>, s: &super::file::ServerSection) -> ServerLimits {
    let mut limits = ServerLimits::default();
    if let Some(d) = s.idle_timeout {
        limits.idle_timeout = d.0;
    }
    if let Some(d) = s.request_body_timeout {
        limits.request_body_timeout = d.0;
    }
    if limits.idle_timeout.is_zero() || limits.request_body_timeout.is_zero() {
        c.out.push(Diagnostic::whole(
            c.path,
            "server.idle_timeout and server.request_body_timeout must be more than 0",
        ));
    }
    if let Some(n) = &s.max_connections {
        match *n.get_ref() {
            0 => c.at(n, "server.max_connections must be at least 1"),
            v => limits.max_connections = v,
        }
    }
    if let Some(n) = &s.h2_max_concurrent_streams {
        match *n.get_ref() {
            0 => c.at(n, "server.h2_max_concurrent_streams must be at least 1"),
            v => limits.h2_max_concurrent_streams = v,
        }
    }
    limits
}

/// The process-wide cache bounds: from `[cache]`, or defaults when only sites ask.
fn convert_cache(
    c: &mut Collector<'_>,
    section: Option<CacheSection>,
    sites: &[Arc<Site>],
) -> Option<CacheConfig> {
    if section.is_none() && sites.iter().all(|s| s.cache.is_none()) {
        return None;
    }
    let mut cfg = CacheConfig::default();
    let section = section.unwrap_or_default();
    if let Some(b) = section.max_bytes {
        cfg.max_bytes = b.0;
    }
    match section.max_object_bytes {
        Some(b) => cfg.max_object_bytes = b.0,
        // A small cache lowers the default per-object cap with it, as `--cache` does.
        None => cfg.max_object_bytes = cfg.max_object_bytes.min(cfg.max_bytes),
    }
    if cfg.max_object_bytes > u64::from(u32::MAX) / 2 || cfg.max_object_bytes > cfg.max_bytes {
        c.out.push(Diagnostic::whole(
            c.path,
            "cache.max_object_bytes must be at most cache.max_bytes and under 2GiB",
        ));
    }
    if let Some(name) = section.status_header {
        match HeaderName::from_bytes(name.get_ref().as_bytes()) {
            Ok(n) => cfg.status_header = n,
            Err(_) => c.at(&name, "cache.status_header is not a valid header name"),
        }
    }
    Some(cfg)
}

/// Names must be unique, at most one default, and no host may belong to two sites.
fn check_site_set(c: &mut Collector<'_>, sites: &[Arc<Site>]) {
    let path = c.path;
    for (i, a) in sites.iter().enumerate() {
        for b in &sites[..i] {
            if a.name == b.name {
                c.out.push(Diagnostic::whole(
                    path,
                    format!("two sites are named {:?}", a.name),
                ));
            }
            if a.default && b.default {
                c.out.push(Diagnostic::whole(
                    path,
                    format!("sites {:?} and {:?} are both the default", b.name, a.name),
                ));
            }
            if let Some(h) = a.hosts.iter().find(|h| b.hosts.contains(h)) {
                c.out.push(Diagnostic::whole(
                    path,
                    format!(
                        "host {h:?} is listed by sites {:?} and {:?}",
                        b.name, a.name
                    ),
                ));
            }
        }
    }
}

/// Loads a CORS rules file in any of S3's formats, validated like PutBucketCors.
pub fn load_rules_file(path: &Path) -> Result<CorsPolicy, Diagnostics> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Diagnostics(vec![Diagnostic::whole(path, format!("cannot read: {e}"))]))?;
    rules_from_text(path, &text)
}

/// Parses and validates rules in any of S3's formats; `path` only labels errors.
pub fn rules_from_text(path: &Path, text: &str) -> Result<CorsPolicy, Diagnostics> {
    let parsed = s3_formats::parse(text).map_err(|errs| {
        Diagnostics(
            errs.into_iter()
                .map(|e| Diagnostic::at(path, (e.line, e.column), e.message))
                .collect(),
        )
    })?;
    CorsPolicy::compile(&parsed.rules).map_err(|errs| {
        Diagnostics(
            errs.into_iter()
                .map(|e| Diagnostic::at(path, parsed.position(e.at), e.to_string()))
                .collect(),
        )
    })
}

fn strings(v: &Option<Spanned<Vec<Spanned<String>>>>) -> Vec<String> {
    v.as_ref()
        .map(|l| l.get_ref().iter().map(|s| s.get_ref().clone()).collect())
        .unwrap_or_default()
}

fn compile_inline(c: &mut Collector<'_>, rules: &[Spanned<RuleSection>]) -> Option<CorsPolicy> {
    let specs: Vec<RuleSpec> = rules
        .iter()
        .map(|r| {
            let r = r.get_ref();
            RuleSpec {
                id: r.id.as_ref().map(|s| s.get_ref().clone()),
                allowed_origins: strings(&r.allowed_origins),
                allowed_methods: strings(&r.allowed_methods),
                allowed_headers: strings(&r.allowed_headers),
                expose_headers: strings(&r.expose_headers),
                max_age_seconds: r.max_age_seconds.as_ref().map(|m| *m.get_ref()),
            }
        })
        .collect();
    match CorsPolicy::compile(&specs) {
        Ok(p) => Some(p),
        Err(errs) => {
            for e in errs {
                let offset = inline_offset(rules, e.at);
                let pos = offset.map_or((1, 1), |o| line_col(c.text, o));
                c.out.push(Diagnostic::at(c.path, pos, e.to_string()));
            }
            None
        }
    }
}

/// Byte offset of the TOML value a validation error names, or of its rule.
fn inline_offset(rules: &[Spanned<RuleSection>], at: Location) -> Option<usize> {
    let rule = rules.get(at.rule?)?;
    let r = rule.get_ref();
    let list = match at.field {
        Some(Field::AllowedOrigin) => &r.allowed_origins,
        Some(Field::AllowedMethod) => &r.allowed_methods,
        Some(Field::AllowedHeader) => &r.allowed_headers,
        Some(Field::ExposeHeader) => &r.expose_headers,
        Some(Field::Id) => {
            return Some(r.id.as_ref().map_or(rule.span().start, |s| s.span().start))
        }
        Some(Field::MaxAgeSeconds) => {
            return Some(
                r.max_age_seconds
                    .as_ref()
                    .map_or(rule.span().start, |s| s.span().start),
            )
        }
        None => return Some(rule.span().start),
    };
    let Some(list) = list else {
        return Some(rule.span().start);
    };
    Some(match at.item.and_then(|i| list.get_ref().get(i)) {
        Some(item) => item.span().start,
        None => list.span().start,
    })
}

/// The quick-start one-site config: any Host, no TOML file.
pub struct OneSite {
    pub listen: SocketAddr,
    pub upstream: String,
    pub cors_rules: Option<PathBuf>,
    pub mode: Mode,
    pub writable: bool,
    /// `--cache SIZE`: cache responses, bounded to this many bytes.
    pub cache_bytes: Option<u64>,
    /// `--admin ADDR`: the admin listener.
    pub admin: Option<SocketAddr>,
    /// `--sign-region REGION`: sign with the credential chain.
    pub sign_region: Option<String>,
    /// `--access public|presigned`.
    pub access: Option<AccessKind>,
    /// `--allow-methods GET,HEAD,...` (default GET,HEAD with `--access`).
    pub allow_methods: Option<Vec<String>>,
}

impl TryFrom<OneSite> for Config {
    type Error = Diagnostics;

    fn try_from(o: OneSite) -> Result<Config, Diagnostics> {
        let arg = Path::new("--upstream");
        let upstream = UpstreamSpec::parse(&o.upstream, Path::new("."), o.writable)
            .map_err(|e| Diagnostics(vec![Diagnostic::whole(arg, e)]))?;
        let cors = match &o.cors_rules {
            Some(p) => Some(Arc::new(load_rules_file(p)?)),
            None => None,
        };
        let (access, sign) = private::one_site(
            o.access,
            o.allow_methods.as_deref(),
            o.sign_region,
            matches!(upstream, UpstreamSpec::File { .. }),
        )
        .map_err(|e| Diagnostics(vec![Diagnostic::whole(Path::new("--access"), e)]))?;
        Ok(Config {
            listen: o.listen,
            workers: None,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            limits: ServerLimits::default(),
            tls: None,
            log: LogConfig::default(),
            pool: PoolConfig::default(),
            admin: o.admin,
            cache: o.cache_bytes.map(|max_bytes| {
                let d = CacheConfig::default();
                CacheConfig {
                    max_bytes,
                    max_object_bytes: d.max_object_bytes.min(max_bytes),
                    ..d
                }
            }),
            sites: vec![Arc::new(Site {
                name: "default".into(),
                hosts: Vec::new(),
                default: true,
                upstream,
                mode: o.mode,
                cors,
                connect_timeout: DEFAULT_CONNECT_TIMEOUT,
                first_byte_timeout: DEFAULT_FIRST_BYTE_TIMEOUT,
                cache: o.cache_bytes.map(|_| SiteCache::default()),
                access,
                sign,
            })],
            shutdown: ShutdownConfig::default(),
        })
    }
}
