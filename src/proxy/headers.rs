//! Header surgery between client and upstream. Pure functions over `HeaderMap`.
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Hop-by-hop fields (RFC 9110 §7.6.1), plus the legacy `Proxy-Connection` and
/// `Keep-Alive` that old clients still send. They describe one connection and must not
/// be forwarded in either direction.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// Removes hop-by-hop fields, including every field named in `Connection`
/// (RFC 9110 §7.6.1: a sender lists there the options that apply to this hop only).
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove(header::UPGRADE);
}

/// Whether a response field is one of S3's or our CORS fields, which never pass
/// through: the engine decides them.
pub fn is_cors_request_field(name: &HeaderName) -> bool {
    name == header::ORIGIN || name.as_str().starts_with("access-control-request-")
}

/// What the upstream needs to know about the client.
pub struct Forwarding<'a> {
    /// `host[:port]` of the upstream, sent as Host.
    pub upstream_authority: &'a str,
    pub client_ip: std::net::IpAddr,
    /// "http" or "https": how the client reached us.
    pub proto: &'static str,
    /// The Host the client asked for, as routed.
    pub client_host: Option<&'a str>,
}

/// Turns the client's request headers into the upstream request's headers: hop-by-hop
/// and CORS request fields removed (the engine has answered for CORS; forwarding Origin
/// would let an upstream `Vary: Origin` split caches), Host set to the upstream, and the
/// X-Forwarded-* trio added.
pub fn to_upstream(headers: &mut HeaderMap, f: &Forwarding<'_>) {
    remove_hop_by_hop(headers);
    headers.remove(header::ORIGIN);
    headers.remove("access-control-request-method");
    headers.remove("access-control-request-headers");
    headers.remove("access-control-request-private-network");
    if let Ok(v) = HeaderValue::from_str(f.upstream_authority) {
        headers.insert(header::HOST, v);
    }
    let xff = HeaderName::from_static("x-forwarded-for");
    let ip = f.client_ip.to_string();
    let joined = match headers.get(&xff).and_then(|v| v.to_str().ok()) {
        Some(prev) if !prev.trim().is_empty() => format!("{prev}, {ip}"),
        _ => ip,
    };
    if let Ok(v) = HeaderValue::from_str(&joined) {
        headers.insert(xff, v);
    }
    headers.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static(f.proto),
    );
    match f.client_host.and_then(|h| HeaderValue::from_str(h).ok()) {
        Some(v) => {
            headers.insert(HeaderName::from_static("x-forwarded-host"), v);
        }
        None => {
            headers.remove("x-forwarded-host");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn names(h: &HeaderMap) -> Vec<String> {
        let mut v: Vec<String> = h.keys().map(|k| k.to_string()).collect();
        v.sort();
        v
    }

    #[test]
    fn hop_by_hop_and_connection_listed_names_go() {
        let mut h = map(&[
            ("connection", "keep-alive, X-Secret-Hop"),
            ("connection", "x-other"),
            ("keep-alive", "timeout=5"),
            ("x-secret-hop", "1"),
            ("x-other", "1"),
            ("te", "trailers"),
            ("trailer", "x-sum"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "h2c"),
            ("proxy-authorization", "Basic x"),
            ("proxy-connection", "keep-alive"),
            ("content-type", "text/plain"),
            ("etag", "\"1\""),
        ]);
        remove_hop_by_hop(&mut h);
        assert_eq!(names(&h), ["content-type", "etag"]);
    }

    #[test]
    fn upstream_request_headers() {
        let mut h = map(&[
            ("host", "assets.example.com"),
            ("origin", "https://app.example.com"),
            ("access-control-request-method", "DELETE"),
            ("access-control-request-headers", "x-a"),
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-host", "spoofed.example"),
            ("range", "bytes=0-1"),
            ("connection", "close"),
        ]);
        to_upstream(
            &mut h,
            &Forwarding {
                upstream_authority: "bucket.s3.eu-west-1.amazonaws.com",
                client_ip: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)),
                proto: "http",
                client_host: Some("assets.example.com"),
            },
        );
        assert_eq!(h["host"], "bucket.s3.eu-west-1.amazonaws.com");
        assert_eq!(h["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "assets.example.com");
        assert_eq!(h["range"], "bytes=0-1");
        assert_eq!(
            names(&h),
            [
                "host",
                "range",
                "x-forwarded-for",
                "x-forwarded-host",
                "x-forwarded-proto"
            ]
        );
    }

    #[test]
    fn spoofed_forwarded_host_is_dropped_without_client_host() {
        let mut h = map(&[("x-forwarded-host", "spoofed.example")]);
        to_upstream(
            &mut h,
            &Forwarding {
                upstream_authority: "u:9000",
                client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                proto: "https",
                client_host: None,
            },
        );
        assert!(h.get("x-forwarded-host").is_none());
        assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    }
}
