//! The `x-amz-*` request header allow-list.
//!
//! S3 reads many `x-amz-*` headers as instructions (copy this object, grant that
//! account, lock, use this KMS key). Behind a signing proxy each would run with the
//! proxy's credentials, so only headers that describe the client's own upload or
//! download, or only narrow what a request may do, pass; everything else is refused
//! by name. Pure: judges names only, never values, and never edits headers.
//!
//! Judgements (S3 API reference, "Common Request Headers" and each operation's page):
//! - allowed: `x-amz-meta-*` (user metadata), `x-amz-content-sha256`, `x-amz-date`,
//!   `x-amz-security-token` (the client's own auth; the pipeline strips them before
//!   signing), `x-amz-decoded-content-length` and `x-amz-trailer` (aws-chunked
//!   uploads), `x-amz-sdk-checksum-algorithm`, `x-amz-checksum-*`,
//!   `x-amz-checksum-mode`, `x-amz-storage-class`, SSE-C
//!   (`x-amz-server-side-encryption-customer-*`: the client brings its own key, the
//!   proxy lends nothing), `x-amz-expected-bucket-owner`, `x-amz-request-payer`,
//!   `x-amz-user-agent`, `x-amz-if-*` (preconditions such as
//!   `x-amz-if-match-last-modified-time`: a condition can only make a request fail),
//!   and `x-amz-tagging` on PUT/POST (the uploads that take it).
//! - refused with a reason: copies, ACLs and grants, website redirects, object lock
//!   and governance bypass, and SSE-S3/SSE-KMS choices. Encryption stays the bucket's
//!   default: a client naming a KMS key would have the proxy's role use (and pay for)
//!   any key it may use, or encrypt objects with a key the site's readers cannot use.
use http::Method;

/// Why `name` (lower case) may not be sent, or `Ok` when it may. `name` need not start
/// with `x-amz-`: other headers are not this list's business and pass. The reason
/// completes "header NAME is ..." (or "query parameter NAME is ...": presigned URLs
/// carry hoisted headers in the query, judged by the same list).
pub fn judge(name: &str, method: &Method) -> Result<(), &'static str> {
    let Some(rest) = name.strip_prefix("x-amz-") else {
        return Ok(());
    };
    if let Some(why) = refused(rest) {
        return Err(why);
    }
    if allowed(rest, method) {
        return Ok(());
    }
    if rest == "tagging" {
        return Err("only accepted on PUT and POST (uploads)");
    }
    Err("not allowed on this site")
}

/// The explicitly refused families, with the reason a client (or its operator) needs.
fn refused(rest: &str) -> Option<&'static str> {
    // SSE-C first: its names share the `server-side-encryption` prefix.
    if rest.starts_with("server-side-encryption-customer-") {
        return None;
    }
    Some(if rest.starts_with("copy-source") {
        "refused: a copy would read another object with the proxy's credentials"
    } else if rest == "acl" || rest.starts_with("grant-") {
        "refused: access grants are the bucket owner's, not a client's"
    } else if rest == "website-redirect-location" {
        "refused: a redirect would turn the bucket's website into an open redirector"
    } else if rest == "bypass-governance-retention" || rest.starts_with("object-lock-") {
        "refused: object lock and retention are the bucket owner's"
    } else if rest.starts_with("server-side-encryption") {
        "refused: encryption is the bucket's default; a client-chosen key would be used with the proxy's credentials"
    } else {
        return None;
    })
}

fn allowed(rest: &str, method: &Method) -> bool {
    const EXACT: [&str; 11] = [
        "content-sha256",
        "date",
        "security-token",
        "decoded-content-length",
        "trailer",
        "sdk-checksum-algorithm",
        "checksum-mode",
        "storage-class",
        "expected-bucket-owner",
        "request-payer",
        "user-agent",
    ];
    const PREFIXES: [&str; 4] = [
        "meta-",
        "checksum-",
        "server-side-encryption-customer-",
        "if-",
    ];
    EXACT.contains(&rest)
        || PREFIXES.iter().any(|p| rest.starts_with(p))
        || (rest == "tagging" && (method == Method::PUT || method == Method::POST))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list() {
        for name in [
            "x-amz-meta-owner",
            "x-amz-content-sha256",
            "x-amz-date",
            "x-amz-security-token",
            "x-amz-decoded-content-length",
            "x-amz-trailer",
            "x-amz-sdk-checksum-algorithm",
            "x-amz-checksum-crc32",
            "x-amz-checksum-sha256",
            "x-amz-checksum-mode",
            "x-amz-storage-class",
            "x-amz-server-side-encryption-customer-algorithm",
            "x-amz-server-side-encryption-customer-key",
            "x-amz-server-side-encryption-customer-key-md5",
            "x-amz-expected-bucket-owner",
            "x-amz-request-payer",
            "x-amz-user-agent",
            "x-amz-if-match-last-modified-time",
            "content-type",
            "authorization",
        ] {
            assert_eq!(judge(name, &Method::PUT), Ok(()), "{name}");
        }
        assert_eq!(judge("x-amz-tagging", &Method::PUT), Ok(()));
        assert_eq!(judge("x-amz-tagging", &Method::POST), Ok(()));
        let err = judge("x-amz-tagging", &Method::GET).unwrap_err();
        assert!(err.contains("only accepted on PUT and POST"), "{err}");
    }

    #[test]
    fn refused_with_reasons() {
        for (name, fragment) in [
            ("x-amz-copy-source", "a copy would read another object"),
            (
                "x-amz-copy-source-range",
                "a copy would read another object",
            ),
            (
                "x-amz-copy-source-if-match",
                "a copy would read another object",
            ),
            ("x-amz-acl", "access grants"),
            ("x-amz-grant-read", "access grants"),
            ("x-amz-grant-full-control", "access grants"),
            ("x-amz-website-redirect-location", "open redirector"),
            ("x-amz-bypass-governance-retention", "object lock"),
            ("x-amz-object-lock-mode", "object lock"),
            ("x-amz-object-lock-legal-hold", "object lock"),
            (
                "x-amz-server-side-encryption",
                "encryption is the bucket's default",
            ),
            (
                "x-amz-server-side-encryption-aws-kms-key-id",
                "encryption is the bucket's default",
            ),
            (
                "x-amz-server-side-encryption-context",
                "encryption is the bucket's default",
            ),
            ("x-amz-metadata-directive", "not allowed on this site"),
            ("x-amz-mfa", "not allowed on this site"),
            ("x-amz-write-offset-bytes", "not allowed on this site"),
            ("x-amz-", "not allowed on this site"),
        ] {
            let err = judge(name, &Method::PUT).unwrap_err();
            assert!(err.contains(fragment), "{name}: {err}");
        }
    }
}
