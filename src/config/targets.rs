//! What a site points at: the host names it answers (`HostPattern`) and the upstream it
//! forwards to (`UpstreamSpec`), parsed from config strings. Upstreams are only ever
//! built here, from config: never from anything a request names.
use std::path::{Path, PathBuf};

use http::uri::{Authority, Scheme};
use http::Uri;

use crate::cors::Mode;

/// A host name a site answers. Names are stored lowercase; a pattern without a port
/// matches any port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    Exact {
        name: String,
        port: Option<u16>,
    },
    /// `*.example.com`: `suffix` is `.example.com`; matches one or more labels before it.
    Wildcard {
        suffix: String,
        port: Option<u16>,
    },
}

impl HostPattern {
    pub fn parse(s: &str) -> Result<HostPattern, String> {
        let lower = s.trim().to_ascii_lowercase();
        let (name, port) = split_host_port(&lower).ok_or_else(|| format!("invalid host {s:?}"))?;
        if name.is_empty() {
            return Err(format!("invalid host {s:?}: empty name"));
        }
        if let Some(suffix) = name.strip_prefix('*') {
            if !suffix.starts_with('.') || suffix.len() < 2 || suffix[1..].contains('*') {
                return Err(format!(
                    "invalid host {s:?}: a wildcard must be a leading `*.` label"
                ));
            }
            return Ok(HostPattern::Wildcard {
                suffix: suffix.to_owned(),
                port,
            });
        }
        if name.contains('*') {
            return Err(format!(
                "invalid host {s:?}: a wildcard must be a leading `*.` label"
            ));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.[]:_".contains(&b))
        {
            return Err(format!("invalid host {s:?}"));
        }
        Ok(HostPattern::Exact {
            name: name.to_owned(),
            port,
        })
    }
}

/// Splits `host[:port]` (IPv6 literals in brackets). `None` if the port is not a number.
pub fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    let colon = if s.starts_with('[') {
        let close = s.find(']')?;
        match &s[close + 1..] {
            "" => return Some((s, None)),
            rest if rest.starts_with(':') => close + 1,
            _ => return None,
        }
    } else {
        match s.rfind(':') {
            None => return Some((s, None)),
            Some(i) => i,
        }
    };
    let port = s[colon + 1..].parse().ok()?;
    Some((&s[..colon], Some(port)))
}

/// Where a site's requests go. Only ever built from config: never from a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamSpec {
    /// An S3 endpoint, CloudFront distribution or S3-compatible store. A request for
    /// `/a/b.png` goes to `base_path` + `/a/b.png`.
    Http {
        scheme: Scheme,
        authority: Authority,
        /// Path prefix without a trailing slash (`/bucket` for path-style, or empty).
        base_path: String,
    },
    /// A local folder served like a bucket.
    File { root: PathBuf, writable: bool },
}

impl UpstreamSpec {
    /// Parses `http(s)://host[:port][/prefix]` or `file:PATH` (relative to `base_dir`).
    pub fn parse(s: &str, base_dir: &Path, writable: bool) -> Result<UpstreamSpec, String> {
        if let Some(path) = s.strip_prefix("file:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            let root = base_dir.join(path);
            if !root.is_dir() {
                return Err(format!(
                    "upstream {s:?}: {} is not a directory",
                    root.display()
                ));
            }
            return Ok(UpstreamSpec::File { root, writable });
        }
        if writable {
            return Err(
                "`writable` applies to file: upstreams only; an HTTP upstream decides for itself"
                    .into(),
            );
        }
        let uri: Uri = s.parse().map_err(|e| format!("upstream {s:?}: {e}"))?;
        let scheme = uri
            .scheme()
            .cloned()
            .ok_or_else(|| format!("upstream {s:?}: needs http://, https:// or file:"))?;
        if scheme != Scheme::HTTP && scheme != Scheme::HTTPS {
            return Err(format!(
                "upstream {s:?}: scheme must be http, https or file"
            ));
        }
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| format!("upstream {s:?}: no host"))?;
        if authority.as_str().contains('@') {
            return Err(format!(
                "upstream {s:?}: credentials in the URL are not accepted"
            ));
        }
        if uri.query().is_some() {
            return Err(format!("upstream {s:?}: a query string is not accepted"));
        }
        let base_path = uri.path().trim_end_matches('/').to_owned();
        Ok(UpstreamSpec::Http {
            scheme,
            authority,
            base_path,
        })
    }
}

pub(super) fn parse_mode(s: &str) -> Result<Mode, String> {
    match s {
        "s3" => Ok(Mode::S3),
        "enforce" => Ok(Mode::Enforce),
        other => Err(format!(
            "unknown mode {other:?}: expected \"enforce\" or \"s3\""
        )),
    }
}
