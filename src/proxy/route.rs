//! Host → site routing. Pure: a table built once per config, then lookups.
//!
//! A request's host comes from the URI authority when the client sent an
//! absolute-form target or HTTP/2 `:authority` (RFC 9112 §3.2.2: the Host header is
//! then ignored), else from `Host`. An unknown host gets 421 and never reaches any
//! upstream: upstreams come only from config, never from what a client names.
use std::collections::HashMap;
use std::sync::Arc;

use crate::config::{split_host_port, HostPattern, Site};

/// Lookup table from host names to sites.
#[derive(Debug)]
pub struct Router {
    /// Exact names, lowercase, each with its port-specific and any-port entries. Read
    /// only after it is built from config, so a fast hash is safe (nothing a client
    /// sends can grow a bucket).
    exact: HashMap<String, Vec<(Option<u16>, usize)>, foldhash::fast::RandomState>,
    /// `*.suffix` patterns in config order; longest suffix is tried first.
    wildcards: Vec<(String, Option<u16>, usize)>,
    default: Option<usize>,
}

impl Router {
    pub fn new(sites: &[Arc<Site>]) -> Router {
        let mut exact: HashMap<String, Vec<(Option<u16>, usize)>, _> = HashMap::default();
        let mut wildcards = Vec::new();
        for (i, site) in sites.iter().enumerate() {
            for h in &site.hosts {
                match h {
                    HostPattern::Exact { name, port } => {
                        exact.entry(name.clone()).or_default().push((*port, i))
                    }
                    HostPattern::Wildcard { suffix, port } => {
                        wildcards.push((suffix.clone(), *port, i))
                    }
                }
            }
        }
        // A port-specific entry beats an any-port one for the same name.
        for v in exact.values_mut() {
            v.sort_by_key(|(port, _)| port.is_none());
        }
        wildcards
            .sort_by_key(|(suffix, port, _)| (std::cmp::Reverse(suffix.len()), port.is_none()));
        Router {
            exact,
            wildcards,
            default: sites.iter().position(|s| s.default),
        }
    }

    /// The index of the site for a request host (`name[:port]`, any case); `None`
    /// means 421. A request with no host at all can only reach the default site.
    pub fn route(&self, host: Option<&str>) -> Option<usize> {
        match host {
            // One-site mode lists no host: every request goes to the default.
            Some(h) if !(self.exact.is_empty() && self.wildcards.is_empty()) => {
                self.lookup(h).or(self.default)
            }
            _ => self.default,
        }
    }

    /// The site that lists `host` itself (exact, then wildcard), without falling back
    /// to the default site.
    pub fn lookup(&self, host: &str) -> Option<usize> {
        let (name, port) = split_host_port(host)?;
        let name = name.strip_suffix('.').unwrap_or(name);
        let lower;
        let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            lower = name.to_ascii_lowercase();
            lower.as_str()
        } else {
            name
        };
        let port_ok = |p: &Option<u16>| p.is_none() || *p == port;
        if let Some(entries) = self.exact.get(name) {
            if let Some((_, i)) = entries.iter().find(|(p, _)| port_ok(p)) {
                return Some(*i);
            }
        }
        self.wildcards
            .iter()
            .find(|(suffix, p, _)| {
                name.len() > suffix.len() && name.ends_with(suffix.as_str()) && port_ok(p)
            })
            .map(|(_, _, i)| *i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(name: &str, hosts: &[&str], default: bool) -> Arc<Site> {
        Site::for_tests(name, hosts, default)
    }

    const NAMES: [&str; 4] = ["a", "b", "w", "ww"];

    fn name(r: &Router, host: Option<&str>) -> Option<&'static str> {
        r.route(host).map(|i| NAMES[i])
    }

    #[test]
    fn routes_by_host_case_insensitively_and_by_port() {
        let r = Router::new(&[
            site("a", &["assets.example.com"], false),
            site("b", &["Assets.Example.com:8443"], false),
            site("w", &["*.cdn.example.com"], false),
            site("ww", &["*.eu.cdn.example.com"], false),
        ]);
        let cases: &[(Option<&str>, Option<&str>)] = &[
            (Some("assets.example.com"), Some("a")),
            (Some("ASSETS.example.COM:80"), Some("a")),
            (Some("assets.example.com:8443"), Some("b")),
            (Some("assets.example.com."), Some("a")),
            (Some("x.cdn.example.com"), Some("w")),
            (Some("a.b.cdn.example.com:1"), Some("w")),
            (Some("x.eu.cdn.example.com"), Some("ww")),
            (Some("cdn.example.com"), None),
            (Some(".cdn.example.com"), None),
            (Some("evil.com"), None),
            (Some("assets.example.com.evil.com"), None),
            (Some("assets.example.com:notaport"), None),
            (None, None),
        ];
        for (host, want) in cases {
            assert_eq!(name(&r, *host), *want, "host {host:?}");
        }
    }

    #[test]
    fn default_site_takes_unknown_hosts_and_missing_host() {
        let r = Router::new(&[site("a", &["a.test"], false), site("b", &[], true)]);
        assert_eq!(name(&r, Some("a.test")), Some("a"));
        assert_eq!(name(&r, Some("other.test")), Some("b"));
        assert_eq!(name(&r, None), Some("b"));
    }

    #[test]
    fn ipv6_literal_hosts() {
        let r = Router::new(&[site("a", &["[::1]"], false)]);
        assert_eq!(name(&r, Some("[::1]:8080")), Some("a"));
        assert_eq!(name(&r, Some("[::2]:8080")), None);
    }
}
