//! Prometheus metrics: every name, label and bucket, and the one place a request is
//! counted ([`Metrics::record_request`], called by the pipeline once the response head
//! is decided). Nothing else in the crate builds a metric key.
//!
//! Each [`Metrics`] owns its own registry (`PrometheusBuilder::build_recorder`), never
//! the process-global `metrics` recorder, so several gateways in one process (the
//! in-process tests) count separately and a test reads exactly its own numbers. The
//! price is that the `metrics::counter!` macros are not used here; handles are
//! registered on the recorder directly.
//!
//! Label values come only from the config (site names, rule IDs) or from small fixed
//! sets (method class, status code, outcome, reason, error kind): never an Origin, a
//! Host or a path, which a client controls and could use to grow the registry without
//! bound.
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, OnceLock, RwLock};
use std::time::Duration;

use metrics::{
    Counter, Gauge, Histogram, Key, Label, Level, Metadata, Recorder, SharedString, Unit,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};

use crate::cache::{CacheStatus, ResponseCache};
use crate::cors::{CorsPolicy, Miss, Outcome};

/// Registration metadata; the Prometheus recorder ignores it, the trait requires it.
const META: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

pub const REQUESTS: &str = "corsgate_requests_total";
pub const CORS_DECISIONS: &str = "corsgate_cors_decisions_total";
pub const PREFLIGHTS: &str = "corsgate_preflights_total";
pub const CACHE_REQUESTS: &str = "corsgate_cache_requests_total";
pub const CACHE_BYTES: &str = "corsgate_cache_bytes";
pub const CACHE_ENTRIES: &str = "corsgate_cache_entries";
pub const CACHE_FILL_WAITERS: &str = "corsgate_cache_fill_waiters";
pub const CACHE_EVICTIONS: &str = "corsgate_cache_evictions_total";
pub const UPSTREAM_DURATION: &str = "corsgate_upstream_duration_seconds";
pub const UPSTREAM_ERRORS: &str = "corsgate_upstream_errors_total";
pub const ACCESS_DENIED: &str = "corsgate_access_denied_total";
pub const OPEN_CONNECTIONS: &str = "corsgate_open_connections";
pub const CONFIG_RELOADS: &str = "corsgate_config_reloads_total";
pub const CONFIG_INFO: &str = "corsgate_config_info";

/// Upstream latency buckets, seconds: S3 answers small GETs in tens of milliseconds and
/// a cold cross-region object in seconds; the top bucket matches the default
/// first-byte timeout.
const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The label for requests that matched no site (unknown Host, malformed request).
const NO_SITE: &str = "-";

/// What one request did, as the metrics see it.
#[derive(Debug, Default)]
pub struct RequestRecord<'a> {
    pub method: &'a str,
    /// Answered as a CORS preflight (always locally).
    pub preflight: bool,
    pub status: u16,
    /// `None` when the request never reached the CORS phase.
    pub cors: Option<&'a Outcome>,
    /// The site's rules, to name the closest rule of a miss by its ID.
    pub policy: Option<&'a CorsPolicy>,
    pub cache: Option<CacheStatus>,
    /// Time to the upstream's response head, when one came.
    pub upstream_latency: Option<Duration>,
    /// [`crate::upstream::http::UpstreamError::kind`] of a failed forward.
    pub upstream_error: Option<&'static str>,
    /// [`crate::access::DenyKind::as_str`] of a request access control refused.
    pub access_denied: Option<&'static str>,
}

/// The registry of one gateway and the handles recorded outside requests.
pub struct Metrics {
    recorder: PrometheusRecorder,
    open_connections: Gauge,
    reloads_ok: Counter,
    reloads_failed: Counter,
    /// The loaded config's fingerprint. Rendered by hand rather than as a gauge so the
    /// exposition holds exactly one `corsgate_config_info` series, never stale ones.
    config_hash: Mutex<Option<String>>,
    /// Handles of requests answered before routing picked a site.
    unrouted: SiteMetrics,
}

/// (preflight?, outcome, reason, rule index) of a CORS decision; outcome and reason as
/// indices into [`OUTCOMES`] and [`REASONS`], so a lookup hashes no string.
type DecisionKey = (bool, u8, u8, Option<usize>);

/// The maps below hold only label values from the config or from fixed sets (never
/// client bytes), so a fast unkeyed hash is safe; SipHash was a visible part of a
/// cache hit's cost.
type Handles<K, H> = RwLock<HashMap<K, H, foldhash::fast::FixedState>>;

/// One site's request handles, registered on first use and then found by a lookup on
/// a few small fields, instead of building and hashing a registry key with its label
/// strings (the hot path's largest cost after HTTP itself). Each config snapshot makes
/// its own for each site (rule IDs in labels may change on reload), and uses them with
/// its gateway's one [`Metrics`]: a handle counts in the registry that registered it.
pub struct SiteMetrics {
    site: String,
    handles: SiteHandles,
}

impl SiteMetrics {
    pub fn new(site: &str) -> SiteMetrics {
        SiteMetrics {
            site: site.to_owned(),
            handles: SiteHandles::default(),
        }
    }
}

/// One site's request handles, keyed by the fixed-set label values.
#[derive(Default)]
struct SiteHandles {
    /// (method class as an index into [`CLASSES`], status)
    requests: Handles<(u8, u16), Counter>,
    /// status
    preflights: Handles<u16, Counter>,
    decisions: Handles<DecisionKey, Counter>,
    /// By [`CacheStatus`] discriminant (a fieldless enum of four).
    cache: [OnceLock<Counter>; 4],
    /// error kind
    errors: Handles<&'static str, Counter>,
    /// deny kind
    denied: Handles<&'static str, Counter>,
    latency: OnceLock<Histogram>,
}

/// Increments the counter for `key`, registering it with `make` the first time.
fn bump<K: Hash + Eq>(map: &Handles<K, Counter>, key: K, make: impl FnOnce() -> Counter) {
    if let Some(c) = map.read().unwrap_or_else(|p| p.into_inner()).get(&key) {
        c.increment(1);
        return;
    }
    let made = make();
    map.write()
        .unwrap_or_else(|p| p.into_inner())
        .entry(key)
        .or_insert(made)
        .increment(1);
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(UPSTREAM_DURATION.into()), &LATENCY_BUCKETS)
            .map(PrometheusBuilder::build_recorder)
            // Only an empty bucket list fails, and ours is a non-empty constant.
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        describe(&recorder);
        let counter = |name: &'static str, labels: Vec<Label>| {
            recorder.register_counter(&Key::from_parts(name, labels), &META)
        };
        let reloads_ok = counter(CONFIG_RELOADS, vec![Label::new("result", "ok")]);
        let reloads_failed = counter(CONFIG_RELOADS, vec![Label::new("result", "failed")]);
        let open_connections = recorder.register_gauge(&Key::from_name(OPEN_CONNECTIONS), &META);
        // Present from the start, so a dashboard shows 0 rather than "no data".
        reloads_ok.increment(0);
        reloads_failed.increment(0);
        open_connections.increment(0.0);
        Metrics {
            recorder,
            open_connections,
            reloads_ok,
            reloads_failed,
            config_hash: Mutex::new(None),
            unrouted: SiteMetrics::new(NO_SITE),
        }
    }

    fn counter(&self, name: &'static str, labels: Vec<Label>) -> Counter {
        self.recorder
            .register_counter(&Key::from_parts(name, labels), &META)
    }

    /// Counts one request: the only place request metrics are recorded. `site` is
    /// `None` for a request answered before routing picked a site.
    pub fn record_request(&self, site: Option<&SiteMetrics>, r: &RequestRecord<'_>) {
        let site = site.unwrap_or(&self.unrouted);
        let h = &site.handles;
        let site = site.site.as_str();
        let class = class_code(r.method, r.preflight);
        let labels = |extra: Vec<Label>| {
            let mut l = vec![Label::new("site", site.to_owned())];
            l.extend(extra);
            l
        };
        bump(&h.requests, (class, r.status), || {
            let status = Label::new("status", r.status.to_string());
            let class = Label::new("method", CLASSES[usize::from(class)]);
            self.counter(REQUESTS, labels(vec![class, status]))
        });
        if r.preflight {
            bump(&h.preflights, r.status, || {
                self.counter(
                    PREFLIGHTS,
                    labels(vec![Label::new("status", r.status.to_string())]),
                )
            });
        }
        if let Some(outcome) = r.cors {
            let (name, reason, rule) = outcome_code(outcome);
            bump(&h.decisions, (r.preflight, name, reason, rule), || {
                let kind = if r.preflight { "preflight" } else { "actual" };
                let (name, reason, rule) = outcome_labels(outcome, r.policy);
                self.counter(
                    CORS_DECISIONS,
                    labels(vec![
                        Label::new("kind", kind),
                        Label::new("outcome", name),
                        Label::new("reason", reason),
                        Label::new("rule", rule),
                    ]),
                )
            });
        }
        if let Some(status) = r.cache {
            let slot = status as usize;
            let status = cache_label(status);
            h.cache[slot]
                .get_or_init(|| {
                    self.counter(CACHE_REQUESTS, labels(vec![Label::new("status", status)]))
                })
                .increment(1);
        }
        if let Some(kind) = r.access_denied {
            bump(&h.denied, kind, || {
                self.counter(ACCESS_DENIED, labels(vec![Label::new("kind", kind)]))
            });
        }
        if let Some(kind) = r.upstream_error {
            bump(&h.errors, kind, || {
                self.counter(UPSTREAM_ERRORS, labels(vec![Label::new("kind", kind)]))
            });
        } else if let Some(latency) = r.upstream_latency {
            h.latency
                .get_or_init(|| {
                    let key = Key::from_parts(UPSTREAM_DURATION, labels(Vec::new()));
                    self.recorder.register_histogram(&key, &META)
                })
                .record(latency.as_secs_f64());
        }
    }

    /// One more open connection on the public listener, until the guard is dropped.
    pub fn connection_opened(&self) -> ConnectionGuard {
        self.open_connections.increment(1.0);
        ConnectionGuard(self.open_connections.clone())
    }

    /// Counts a finished reload attempt (the config was swapped when `ok`).
    pub fn reload_finished(&self, ok: bool) {
        if ok {
            self.reloads_ok.increment(1);
        } else {
            self.reloads_failed.increment(1);
        }
    }

    /// Records the fingerprint of the config in force (see `reload::fingerprint`).
    pub fn set_config_hash(&self, hash: &str) {
        *self.config_hash.lock().unwrap_or_else(|p| p.into_inner()) = Some(hash.to_owned());
    }

    pub fn config_hash(&self) -> Option<String> {
        self.config_hash
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Folds recorded histogram samples into their buckets. Without it, samples pile up
    /// between scrapes (a gateway nobody scrapes would grow); the app runs it every
    /// few seconds.
    pub fn run_upkeep(&self) {
        self.recorder.handle().run_upkeep();
    }

    /// The Prometheus text exposition; cache gauges are read now, at scrape time.
    pub fn render(&self, cache: Option<&ResponseCache>) -> String {
        if let Some(cache) = cache {
            let gauge =
                |name: &'static str| self.recorder.register_gauge(&Key::from_name(name), &META);
            gauge(CACHE_BYTES).set(cache.weighted_size() as f64);
            gauge(CACHE_ENTRIES).set(cache.entry_count() as f64);
            gauge(CACHE_FILL_WAITERS).set(cache.fill_waiters() as f64);
            self.recorder
                .register_counter(&Key::from_name(CACHE_EVICTIONS), &META)
                .absolute(cache.evictions());
        }
        let mut out = self.recorder.handle().render();
        if let Some(hash) = self.config_hash() {
            // The hash is lowercase hex: nothing in it needs escaping.
            out.push_str(&format!(
                "# HELP {CONFIG_INFO} The config in force; hash is its fingerprint (SHA-256).\n\
                 # TYPE {CONFIG_INFO} gauge\n\
                 {CONFIG_INFO}{{hash=\"{hash}\"}} 1\n"
            ));
        }
        out
    }
}

/// Decrements the open-connections gauge when the connection task ends, however it ends.
pub struct ConnectionGuard(Gauge);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// The method classes, in [`class_code`] order.
const CLASSES: [&str; 4] = ["read", "write", "preflight", "other"];

/// `read` (GET, HEAD), `write` (PUT, POST, DELETE, PATCH), `preflight`, or `other`.
pub fn method_class(method: &str, preflight: bool) -> &'static str {
    CLASSES[usize::from(class_code(method, preflight))]
}

fn class_code(method: &str, preflight: bool) -> u8 {
    if preflight {
        return 2;
    }
    match method {
        "GET" | "HEAD" => 0,
        "PUT" | "POST" | "DELETE" | "PATCH" => 1,
        _ => 3,
    }
}

fn cache_label(s: CacheStatus) -> &'static str {
    match s {
        CacheStatus::Hit => "hit",
        CacheStatus::Miss => "miss",
        CacheStatus::Revalidated => "revalidated",
        CacheStatus::Bypass => "bypass",
    }
}

/// The `outcome` and `reason` label values, in [`outcome_code`] order.
const OUTCOMES: [&str; 7] = [
    "allowed",
    "denied",
    "no-match",
    "no-origin",
    "same-origin",
    "no-cors-config",
    "bad-preflight",
];
const REASONS: [&str; 5] = ["", "origin", "method", "header", "too-many-headers"];

/// (outcome, reason) of a CORS outcome as indices into [`OUTCOMES`] and [`REASONS`],
/// and the rule index: what tells two outcomes' label sets apart without building the
/// rule's label string.
fn outcome_code(o: &Outcome) -> (u8, u8, Option<usize>) {
    let miss = |m: &Miss| match m {
        Miss::Origin => (1, None),
        Miss::Method { rule } => (2, Some(*rule)),
        Miss::Header { rule } => (3, Some(*rule)),
        Miss::TooManyHeaders => (4, None),
    };
    match o {
        Outcome::Matched { rule, .. } => (0, 0, Some(*rule)),
        Outcome::Denied(m) => {
            let (reason, rule) = miss(m);
            (1, reason, rule)
        }
        Outcome::NoMatch(m) => {
            let (reason, rule) = miss(m);
            (2, reason, rule)
        }
        Outcome::NoOrigin => (3, 0, None),
        Outcome::SameOrigin => (4, 0, None),
        Outcome::NoCorsConfig => (5, 0, None),
        Outcome::BadPreflight => (6, 0, None),
    }
}

/// The fixed-set parts of [`outcome_labels`], plus the rule index.
fn outcome_key(o: &Outcome) -> (&'static str, &'static str, Option<usize>) {
    let (outcome, reason, rule) = outcome_code(o);
    (
        OUTCOMES[usize::from(outcome)],
        REASONS[usize::from(reason)],
        rule,
    )
}

/// `(outcome, reason, rule)` labels of a CORS outcome. `rule` is the matched rule, or
/// for a method/header miss the closest one, named by its configured ID or `#index`.
pub fn outcome_labels(
    o: &Outcome,
    policy: Option<&CorsPolicy>,
) -> (&'static str, &'static str, String) {
    let (name, reason, rule) = outcome_key(o);
    let label = match (o, rule) {
        (Outcome::Matched { id: Some(id), .. }, _) => id.to_string(),
        (_, Some(index)) => policy
            .and_then(|p| p.rule_id(index))
            .map_or_else(|| format!("#{index}"), |id| id.to_string()),
        (_, None) => String::new(),
    };
    (name, reason, label)
}

/// HELP lines, so a scrape explains itself.
fn describe(r: &PrometheusRecorder) {
    let c = |name: &'static str, unit: Option<Unit>, help: &'static str| {
        r.describe_counter(name.into(), unit, SharedString::const_str(help));
    };
    c(
        REQUESTS,
        None,
        "Requests answered, by site, method class (read, write, preflight, other) and status.",
    );
    c(CORS_DECISIONS, None, "CORS decisions, by site, kind (preflight, actual), outcome, deny or no-match reason, and rule (ID or #index).");
    c(
        PREFLIGHTS,
        None,
        "Preflights answered locally, by site and status.",
    );
    c(
        CACHE_REQUESTS,
        None,
        "Cache lookups, by site and status (hit, miss, revalidated, bypass).",
    );
    c(
        CACHE_EVICTIONS,
        None,
        "Cache entries evicted to stay within cache.max_bytes.",
    );
    c(
        UPSTREAM_ERRORS,
        None,
        "Forwards that got no upstream response, by site and kind.",
    );
    c(
        ACCESS_DENIED,
        None,
        "Requests refused by a private site's access control, by site and kind (no-token, expired, method, operation, header, ...).",
    );
    c(
        CONFIG_RELOADS,
        None,
        "Config reloads, by result (ok, failed).",
    );
    let g = |name: &'static str, unit: Option<Unit>, help: &'static str| {
        r.describe_gauge(name.into(), unit, SharedString::const_str(help));
    };
    g(
        CACHE_BYTES,
        Some(Unit::Bytes),
        "Bytes held by the response cache.",
    );
    g(CACHE_ENTRIES, None, "Entries held by the response cache.");
    g(
        CACHE_FILL_WAITERS,
        None,
        "Requests waiting on a shared upstream fill (coalesced misses).",
    );
    g(
        OPEN_CONNECTIONS,
        None,
        "Open client connections on the public listener.",
    );
    r.describe_histogram(
        UPSTREAM_DURATION.into(),
        Some(Unit::Seconds),
        SharedString::const_str(
            "Time from forwarding a request to the upstream's response head, by site.",
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_classes() {
        assert_eq!(method_class("GET", false), "read");
        assert_eq!(method_class("HEAD", false), "read");
        assert_eq!(method_class("DELETE", false), "write");
        assert_eq!(method_class("OPTIONS", false), "other");
        assert_eq!(method_class("OPTIONS", true), "preflight");
        assert_eq!(method_class("BREW", false), "other");
    }

    #[test]
    fn outcomes_label_without_request_data() {
        let id: std::sync::Arc<str> = "web".into();
        assert_eq!(
            outcome_labels(
                &Outcome::Matched {
                    rule: 2,
                    id: Some(id)
                },
                None
            ),
            ("allowed", "", "web".to_owned())
        );
        assert_eq!(
            outcome_labels(&Outcome::Matched { rule: 2, id: None }, None),
            ("allowed", "", "#2".to_owned())
        );
        assert_eq!(
            outcome_labels(&Outcome::Denied(Miss::Origin), None),
            ("denied", "origin", String::new())
        );
        assert_eq!(
            outcome_labels(&Outcome::NoMatch(Miss::Header { rule: 1 }), None),
            ("no-match", "header", "#1".to_owned())
        );
    }

    /// The map key of a decision must tell apart exactly the outcomes whose labels
    /// differ: equal keys would count two series as one, unequal keys for one label
    /// set would only waste a handle.
    #[test]
    fn decision_codes_match_labels_one_to_one() {
        let misses = [
            Miss::Origin,
            Miss::Method { rule: 0 },
            Miss::Method { rule: 1 },
            Miss::Header { rule: 0 },
            Miss::TooManyHeaders,
        ];
        let mut all = vec![
            Outcome::Matched { rule: 0, id: None },
            Outcome::Matched { rule: 1, id: None },
            Outcome::NoOrigin,
            Outcome::SameOrigin,
            Outcome::NoCorsConfig,
            Outcome::BadPreflight,
        ];
        all.extend(misses.iter().map(|m| Outcome::Denied(*m)));
        all.extend(misses.iter().map(|m| Outcome::NoMatch(*m)));
        for a in &all {
            for b in &all {
                assert_eq!(
                    outcome_code(a) == outcome_code(b),
                    outcome_labels(a, None) == outcome_labels(b, None),
                    "{a} vs {b}"
                );
            }
        }
        assert_eq!(
            outcome_labels(&Outcome::NoMatch(Miss::TooManyHeaders), None),
            ("no-match", "too-many-headers", String::new())
        );
        assert_eq!(
            outcome_labels(&Outcome::NoCorsConfig, None),
            ("no-cors-config", "", String::new())
        );
    }

    #[tokio::test]
    async fn a_request_renders_as_prometheus_text() {
        let m = Metrics::new();
        let site = SiteMetrics::new("s");
        m.record_request(
            Some(&site),
            &RequestRecord {
                method: "GET",
                status: 200,
                cors: Some(&Outcome::NoOrigin),
                upstream_latency: Some(Duration::from_millis(20)),
                ..RequestRecord::default()
            },
        );
        m.set_config_hash("abc");
        let text = m.render(None);
        assert!(
            text.contains(r#"corsgate_requests_total{site="s",method="read",status="200"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"corsgate_upstream_duration_seconds_bucket{site="s",le="0.025"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"corsgate_config_info{hash="abc"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"corsgate_config_reloads_total{result="failed"} 0"#),
            "{text}"
        );
    }

    /// Handles live per config snapshot: after a reload renames a rule, the new
    /// snapshot's requests count under the new ID, not the handle of the old one.
    #[tokio::test]
    async fn a_new_snapshot_labels_rules_by_their_new_ids() {
        let m = Metrics::new();
        let matched = |id: &str| Outcome::Matched {
            rule: 0,
            id: Some(id.into()),
        };
        for (snapshot, id) in [
            (SiteMetrics::new("s"), "old"),
            (SiteMetrics::new("s"), "new"),
        ] {
            let outcome = matched(id);
            m.record_request(
                Some(&snapshot),
                &RequestRecord {
                    method: "GET",
                    status: 200,
                    cors: Some(&outcome),
                    ..RequestRecord::default()
                },
            );
        }
        let text = m.render(None);
        for id in ["old", "new"] {
            let line = format!(
                r#"corsgate_cors_decisions_total{{site="s",kind="actual",outcome="allowed",reason="",rule="{id}"}} 1"#
            );
            assert!(text.contains(&line), "{line} missing from:\n{text}");
        }
    }

    #[tokio::test]
    async fn access_denials_are_counted_by_kind() {
        let m = Metrics::new();
        let site = SiteMetrics::new("private");
        for kind in ["method", "method", "no-token"] {
            m.record_request(
                Some(&site),
                &RequestRecord {
                    method: "PUT",
                    status: 403,
                    access_denied: Some(kind),
                    ..RequestRecord::default()
                },
            );
        }
        let text = m.render(None);
        for line in [
            r#"corsgate_access_denied_total{site="private",kind="method"} 2"#,
            r#"corsgate_access_denied_total{site="private",kind="no-token"} 1"#,
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }
}
