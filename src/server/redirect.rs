//! The plain listener's job when `[tls] redirect_http = true`: answer every request
//! with 308 to the same path and query on https (308 keeps the method and body,
//! RFC 9110 §15.4.9). It never serves content and never forwards.
//!
//! The redirect target's host comes from the request, so it is checked first: only a
//! host some site lists by name, or one a served certificate covers when only the
//! default site would take it, is redirected to; anything else gets 421 like the
//! proxy's unknown host. Without that check, a default site would turn the gateway
//! into an open redirector for whatever Host a client (or a cache in front) sends.
use std::sync::Arc;

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};

use super::tls::CertStore;
use crate::config::split_host_port;
use crate::proxy::route::Router;
use crate::proxy::Shared;
use crate::upstream::{full, Body};

/// Everything a redirect needs: the current sites, the certificates, the https port.
pub struct Redirect {
    /// Read per request, so a config reload changes which hosts are redirected.
    shared: Arc<Shared>,
    certificates: Arc<CertStore>,
    /// Left out of `Location` when it is 443.
    https_port: u16,
}

impl Redirect {
    pub fn new(shared: Arc<Shared>, certificates: Arc<CertStore>, https_port: u16) -> Redirect {
        Redirect {
            shared,
            certificates,
            https_port,
        }
    }

    /// The answer to one request on the plain listener.
    pub fn answer<B>(&self, req: &Request<B>) -> Response<Body> {
        let host = match request_host(req) {
            Ok(h) => h,
            Err(why) => return plain(StatusCode::BAD_REQUEST, why),
        };
        let target = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
        let gw = self.shared.current.load();
        match location(
            gw.router(),
            |name| self.certificates.covers(name),
            host,
            target,
            self.https_port,
        ) {
            Ok(loc) => match HeaderValue::from_str(&loc) {
                Ok(v) => {
                    let mut resp = plain(StatusCode::PERMANENT_REDIRECT, "moved to https");
                    resp.headers_mut().insert(header::LOCATION, v);
                    resp
                }
                Err(_) => plain(StatusCode::BAD_REQUEST, "invalid request target"),
            },
            Err(StatusCode::MISDIRECTED_REQUEST) => {
                plain(StatusCode::MISDIRECTED_REQUEST, "unknown host")
            }
            Err(status) => plain(status, "invalid Host"),
        }
    }
}

/// The https URL for `host` and `target`, or the status refusing it. `covers` says
/// whether a served certificate lists a name.
fn location(
    router: &Router,
    covers: impl Fn(&str) -> bool,
    host: &str,
    target: &str,
    https_port: u16,
) -> Result<String, StatusCode> {
    let lower = host.to_ascii_lowercase();
    let (name, _) = split_host_port(&lower).ok_or(StatusCode::BAD_REQUEST)?;
    let name = name.strip_suffix('.').unwrap_or(name);
    let plausible = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._[]:".contains(&b))
        // A colon belongs only inside an IPv6 literal.
        && (!name.contains(':') || (name.starts_with('[') && name.ends_with(']')));
    if !plausible {
        return Err(StatusCode::BAD_REQUEST);
    }
    let known =
        router.lookup(name).is_some() || (router.route(Some(name)).is_some() && covers(name));
    if !known {
        return Err(StatusCode::MISDIRECTED_REQUEST);
    }
    // An origin-form target always starts with `/`; `*` (OPTIONS) has no https twin
    // path, so it goes to the root.
    let target = if target.starts_with('/') { target } else { "/" };
    Ok(if https_port == 443 {
        format!("https://{name}{target}")
    } else {
        format!("https://{name}:{https_port}{target}")
    })
}

/// The request's host: the URI authority (absolute-form or h2 `:authority`), else the
/// single `Host` header.
fn request_host<B>(req: &Request<B>) -> Result<&str, &'static str> {
    if let Some(a) = req.uri().authority() {
        return Ok(a.as_str());
    }
    let mut hosts = req.headers().get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (Some(h), None) => h
            .to_str()
            .ok()
            .filter(|h| !h.is_empty())
            .ok_or("invalid Host header"),
        (None, _) => Err("missing Host header"),
        (Some(_), Some(_)) => Err("more than one Host header"),
    }
}

fn plain(status: StatusCode, reason: &str) -> Response<Body> {
    let mut resp = Response::new(full(format!("{reason}\n")));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Site;

    fn site(hosts: &[&str], default: bool) -> Arc<Site> {
        Site::for_tests(hosts.first().copied().unwrap_or("default"), hosts, default)
    }

    #[test]
    fn known_hosts_redirect_with_the_https_port() {
        let router = Router::new(&[site(&["a.test", "*.w.test"], false)]);
        let none = |_: &str| false;
        assert_eq!(
            location(&router, none, "A.test:8080", "/a?b", 8443).as_deref(),
            Ok("https://a.test:8443/a?b")
        );
        assert_eq!(
            location(&router, none, "x.w.test", "/", 443).as_deref(),
            Ok("https://x.w.test/")
        );
        assert_eq!(
            location(&router, none, "evil.test", "/", 443),
            Err(StatusCode::MISDIRECTED_REQUEST)
        );
        for bad in ["a.test:x", "a test", "a.test@evil", "a:b"] {
            assert_eq!(
                location(&router, none, bad, "/", 443),
                Err(StatusCode::BAD_REQUEST),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_default_site_redirects_only_certificate_names() {
        let router = Router::new(&[site(&[], true)]);
        let covers = |n: &str| n == "cdn.test";
        assert_eq!(
            location(&router, covers, "cdn.test", "/x", 443).as_deref(),
            Ok("https://cdn.test/x")
        );
        assert_eq!(
            location(&router, covers, "evil.test", "/x", 443),
            Err(StatusCode::MISDIRECTED_REQUEST)
        );
    }
}
