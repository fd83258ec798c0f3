//! Table-driven tests of [`check`]'s last two rules: the `x-amz-*` header allow-list
//! and the Public and Presigned modes (Jwt mode is in `jwt_check_tests`), plus the
//! stable labels of [`DenyKind`].
use http::{HeaderMap, Method, Uri};

use super::test_support::{headers, now, policy, run, Case, Want::*, ALL, READ};
use super::*;

#[test]
fn amz_headers_are_allow_listed() {
    let p = policy(AccessMode::Public, ALL, false);
    let h = |headers, want| Case {
        method: "PUT",
        target: "/k",
        headers,
        want,
    };
    run(
        &p,
        &[
            h(
                &[("x-amz-copy-source", "/other/key")],
                Deny(
                    403,
                    "header",
                    "a copy would read another object with the proxy's credentials",
                ),
            ),
            h(
                &[("X-Amz-Copy-Source", "/other/key")],
                Deny(403, "header", "header x-amz-copy-source is refused"),
            ),
            h(
                &[("x-amz-copy-source-range", "bytes=0-1")],
                Deny(403, "header", "x-amz-copy-source-range"),
            ),
            h(
                &[("x-amz-acl", "public-read")],
                Deny(403, "header", "x-amz-acl"),
            ),
            h(
                &[("x-amz-grant-read", "id=1")],
                Deny(403, "header", "x-amz-grant-read"),
            ),
            h(
                &[("x-amz-website-redirect-location", "/x")],
                Deny(403, "header", "open redirector"),
            ),
            h(
                &[("x-amz-object-lock-mode", "COMPLIANCE")],
                Deny(403, "header", "object lock"),
            ),
            h(
                &[("x-amz-bypass-governance-retention", "true")],
                Deny(403, "header", "object lock"),
            ),
            h(
                &[("x-amz-server-side-encryption", "aws:kms")],
                Deny(403, "header", "bucket's default"),
            ),
            h(
                &[("x-amz-server-side-encryption-aws-kms-key-id", "k")],
                Deny(403, "header", "bucket's default"),
            ),
            h(
                &[("x-amz-unknown", "1")],
                Deny(
                    403,
                    "header",
                    "header x-amz-unknown is not allowed on this site",
                ),
            ),
            h(
                &[
                    ("x-amz-meta-owner", "me"),
                    ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
                    ("x-amz-date", "20240101T000000Z"),
                    ("x-amz-security-token", "t"),
                    ("x-amz-checksum-crc32", "AAAAAA=="),
                    ("x-amz-sdk-checksum-algorithm", "CRC32"),
                    ("x-amz-storage-class", "STANDARD_IA"),
                    ("x-amz-server-side-encryption-customer-algorithm", "AES256"),
                    ("x-amz-tagging", "a=b"),
                    ("x-amz-expected-bucket-owner", "1"),
                    ("content-type", "text/plain"),
                ],
                Allow(Operation::PutObject),
            ),
        ],
    );
    // The header rule comes after the operation rule.
    run(
        &p,
        &[Case {
            method: "GET",
            target: "/k?acl",
            headers: &[("x-amz-acl", "private")],
            want: Deny(403, "operation", "acl"),
        }],
    );
    // Tagging is an upload header.
    run(
        &p,
        &[Case {
            method: "GET",
            target: "/k",
            headers: &[("x-amz-tagging", "a=b")],
            want: Deny(403, "header", "only accepted on PUT and POST"),
        }],
    );
}

const PRESIGNED_Q: &str = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20240101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20240101T000000Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature=abcd";

#[test]
fn presigned_mode_requires_a_signature() {
    let p = policy(AccessMode::Presigned, &["GET", "HEAD", "PUT"], false);
    let uri = |s: &str| -> Uri { s.parse().unwrap() };
    let get = |target: &str| check(&p, &Method::GET, &uri(target), &HeaderMap::new(), now());
    let g = get(&format!("/k?{PRESIGNED_Q}")).unwrap();
    assert!(g.presigned);
    assert_eq!(g.subject, None);
    // JS v3 (X-Amz-Content-Sha256, x-id) and session tokens.
    let g = get(&format!("/k?{PRESIGNED_Q}&X-Amz-Content-Sha256=UNSIGNED-PAYLOAD&X-Amz-Security-Token=t&x-id=GetObject")).unwrap();
    assert!(g.presigned);
    for (target, kind, fragment) in [
        ("/k", "not-presigned", "X-Amz-Signature is missing"),
        (
            "/k?X-Amz-Credential=a&X-Amz-Date=d",
            "not-presigned",
            "presigned URLs",
        ),
        // Decoded and exact: a lower-case lookalike is not SigV4's parameter.
        (
            "/k?x-amz-signature=abcd",
            "not-presigned",
            "X-Amz-Signature",
        ),
        (
            "/k?Signature=s&AWSAccessKeyId=a&Expires=1",
            "operation",
            "SigV2",
        ),
        ("/k?X-Amz-Signature=abcd&acl", "operation", "\"acl\""),
    ] {
        let d = get(target).unwrap_err();
        assert_eq!(
            (d.status.as_u16(), d.kind.as_str()),
            (403, kind),
            "{target}: {d}"
        );
        assert!(d.reason.contains(fragment), "{target}: {d}");
    }
    // Percent-encoded name, decoded before matching.
    assert!(get("/k?X-Amz-%53ignature=abcd").unwrap().presigned);
    // The rules before the mode still apply.
    let d = check(
        &p,
        &Method::DELETE,
        &uri(&format!("/k?{PRESIGNED_Q}")),
        &HeaderMap::new(),
        now(),
    )
    .unwrap_err();
    assert_eq!(d.kind, DenyKind::Method);
    let d = check(
        &p,
        &Method::PUT,
        &uri(&format!("/k?{PRESIGNED_Q}")),
        &headers(&[("x-amz-acl", "public-read")]),
        now(),
    )
    .unwrap_err();
    assert_eq!(d.kind, DenyKind::Header);
}

#[test]
fn a_presigned_query_on_a_public_site_is_just_a_request() {
    let p = policy(AccessMode::Public, READ, false);
    let uri: Uri = format!("/k?{PRESIGNED_Q}").parse().unwrap();
    let g = check(&p, &Method::GET, &uri, &HeaderMap::new(), now()).unwrap();
    assert!(!g.presigned);
    assert!(is_presigned(uri.query()));
}

#[test]
fn is_presigned_looks_at_decoded_exact_names() {
    assert!(is_presigned(Some("X-Amz-Signature=a")));
    assert!(is_presigned(Some("a=1&X-Amz-Credential=c")));
    assert!(is_presigned(Some("X-Amz-%43redential=c")));
    assert!(!is_presigned(Some("x-amz-signature=a")));
    assert!(!is_presigned(Some("Signature=a")));
    assert!(!is_presigned(Some("")));
    assert!(!is_presigned(None));
    assert!(is_query_auth_param("X-Amz-Date") && is_query_auth_param("x-amz-security-token"));
    assert!(!is_query_auth_param("x-amz-acl"));
}

#[test]
fn deny_kinds_have_stable_labels_and_statuses() {
    assert_eq!(DenyKind::NoToken.as_str(), "no-token");
    assert_eq!(DenyKind::JwksUnavailable.as_str(), "jwks-unavailable");
    assert_eq!(DenyKind::Expired.status().as_u16(), 401);
    assert_eq!(DenyKind::Operation.status().as_u16(), 403);
    let d = Denied::new(DenyKind::NoToken, "x");
    assert_eq!(d.www_authenticate().unwrap(), "Bearer");
    let d = Denied::new(DenyKind::Expired, "x");
    assert_eq!(
        d.www_authenticate().unwrap(),
        "Bearer error=\"invalid_token\""
    );
    assert!(Denied::new(DenyKind::Header, "x")
        .www_authenticate()
        .is_none());
}
