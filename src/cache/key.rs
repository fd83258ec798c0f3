//! Cache keys (RFC 9111 §4.1). Pure.
//!
//! The primary key is site + path + query; GET and HEAD share it (a HEAD is answered
//! from a GET entry). The secondary key holds the request's values for the headers the
//! stored response's `Vary` names, minus `Origin` and `Access-Control-Request-*`:
//! corsgate never forwards those upstream, so a response cannot depend on them, and an
//! upstream that says `Vary: Origin` anyway must not split the cache per origin. CORS
//! headers are computed per request on every hit, so entries are origin-neutral.
use http::header::{HeaderMap, HeaderName, VARY};

/// The Vary names a stored response keys on, or `Err` for `Vary: *` (never stored).
pub fn vary_names(response: &HeaderMap) -> Result<Vec<HeaderName>, VaryStar> {
    let mut names: Vec<HeaderName> = Vec::new();
    for value in response.get_all(VARY) {
        let Ok(text) = value.to_str() else { continue };
        for token in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            if token == "*" {
                return Err(VaryStar);
            }
            let Ok(name) = HeaderName::from_bytes(token.as_bytes()) else {
                continue;
            };
            if is_cors_request_header(&name) || names.contains(&name) {
                continue;
            }
            names.push(name);
        }
    }
    names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    Ok(names)
}

/// `Vary: *`: the response varies on things outside the request headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VaryStar;

fn is_cors_request_header(name: &HeaderName) -> bool {
    name == http::header::ORIGIN || name.as_str().starts_with("access-control-request-")
}

/// The primary key: site, then the request target exactly as sent.
pub fn primary(site: &str, path_and_query: &str) -> String {
    let mut k = String::with_capacity(site.len() + path_and_query.len() + 1);
    k.push_str(site);
    k.push('\0');
    k.push_str(path_and_query);
    k
}

/// The full key: primary plus the request's values for `names`, each normalised
/// (lines joined with ", ", surrounding whitespace trimmed); an absent header and an
/// empty one differ.
pub fn full(primary: &str, names: &[HeaderName], request: &HeaderMap) -> String {
    let mut k = String::from(primary);
    for name in names {
        k.push('\0');
        k.push_str(name.as_str());
        let mut values = request.get_all(name).iter().peekable();
        if values.peek().is_none() {
            k.push('!');
            continue;
        }
        k.push('=');
        for (i, v) in values.enumerate() {
            if i > 0 {
                k.push_str(", ");
            }
            k.push_str(&String::from_utf8_lossy(v.as_bytes()).replace('\0', ""));
        }
    }
    k
}

/// The site and the path-and-query a full key was made from, for purges.
pub fn parts(key: &str) -> Option<(&str, &str)> {
    let mut it = key.split('\0');
    Some((it.next()?, it.next()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn vary_drops_cors_request_names_and_sorts() {
        let h = headers(&[
            ("vary", "Origin, Accept-Encoding"),
            (
                "vary",
                "access-control-request-method, Accept, accept-encoding",
            ),
        ]);
        let names = vary_names(&h).unwrap();
        let names: Vec<&str> = names.iter().map(HeaderName::as_str).collect();
        assert_eq!(names, ["accept", "accept-encoding"]);
    }

    #[test]
    fn vary_star_is_refused() {
        assert_eq!(
            vary_names(&headers(&[("vary", "Accept, *")])),
            Err(VaryStar)
        );
        assert_eq!(vary_names(&headers(&[])).unwrap(), Vec::<HeaderName>::new());
    }

    #[test]
    fn full_key_separates_values_and_absence() {
        let p = primary("s", "/a?x=1");
        let ae = [HeaderName::from_static("accept-encoding")];
        let gzip = full(&p, &ae, &headers(&[("accept-encoding", "gzip")]));
        let br = full(&p, &ae, &headers(&[("accept-encoding", "br")]));
        let none = full(&p, &ae, &headers(&[]));
        let empty = full(&p, &ae, &headers(&[("accept-encoding", "")]));
        assert_eq!(gzip, "s\0/a?x=1\0accept-encoding=gzip");
        assert_eq!(none, "s\0/a?x=1\0accept-encoding!");
        assert_eq!(empty, "s\0/a?x=1\0accept-encoding=");
        assert_ne!(gzip, br);
        // Origin is never part of a key, whatever the request carries.
        let with_origin = full(&p, &[], &headers(&[("origin", "https://a.test")]));
        assert_eq!(with_origin, "s\0/a?x=1");
    }

    #[test]
    fn parts_recover_site_and_target() {
        let k = full(
            &primary("site", "/img/a.png?v=2"),
            &[HeaderName::from_static("accept")],
            &headers(&[]),
        );
        assert_eq!(parts(&k), Some(("site", "/img/a.png?v=2")));
        assert_eq!(parts(&primary("s", "/")), Some(("s", "/")));
        assert_eq!(parts("no-separator"), None);
    }
}
