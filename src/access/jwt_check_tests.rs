//! Jwt mode in [`check`]: Authorization parsing (missing, duplicate, non-Bearer),
//! verification in the pipeline order, and the `paths` / `methods` claims.
use http::{HeaderMap, HeaderValue, Method, Uri};
use jsonwebtoken::Algorithm;
use serde_json::json;

use super::test_support::*;
use super::*;

/// One case: method, target, Authorization values, then status, kind and reason
/// fragment (status 0: allowed).
type JwtCase = (
    Method,
    &'static str,
    Vec<String>,
    u16,
    &'static str,
    &'static str,
);

fn auth(values: &[&str]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for v in values {
        h.append(
            http::header::AUTHORIZATION,
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

#[tokio::test]
async fn jwt_mode_in_check() {
    let p = AccessPolicy {
        mode: AccessMode::Jwt(hs_verifier().await),
        methods: MethodSet::parse(["GET", "HEAD", "PUT"]).unwrap(),
        allow_listing: false,
    };
    let tok = |c| mint(Algorithm::HS256, None, &hs256(), &c);
    let good = tok(good_claims());
    let go = |m: Method, target: &str, h: &HeaderMap| {
        check(&p, &m, &target.parse::<Uri>().unwrap(), h, now())
    };

    let g = go(
        Method::GET,
        "/users/42/a.txt",
        &auth(&[&format!("Bearer {good}")]),
    )
    .unwrap();
    assert_eq!(
        (g.subject.as_deref(), g.presigned),
        (Some("user-42"), false)
    );
    assert!(go(Method::GET, "/k", &auth(&[&format!("bearer {good}")])).is_ok());
    assert!(go(Method::GET, "/k", &auth(&[&format!("BEARER  {good}")])).is_ok());
    // A presigned query with a JWT is judged by the JWT, and is not `presigned`.
    let q = "/k?X-Amz-Signature=abc&X-Amz-Credential=c";
    assert!(
        !go(Method::GET, q, &auth(&[&format!("Bearer {good}")]))
            .unwrap()
            .presigned
    );

    let expired = tok(with(good_claims(), |c| {
        c.insert("exp".into(), json!(secs(now()) - 100));
    }));
    let restricted = tok(with(good_claims(), |c| {
        c.insert("paths".into(), json!(["/users/42/", "/shared/"]));
        c.insert("methods".into(), json!(["GET"]));
    }));
    let nothing = tok(with(good_claims(), |c| {
        c.insert("paths".into(), json!([]));
    }));
    let cases: &[JwtCase] = &[
        (
            Method::GET,
            "/k",
            vec![],
            401,
            "no-token",
            "WWW-Authenticate: Bearer",
        ),
        (Method::GET, q, vec![], 401, "no-token", "Bearer"),
        (
            Method::GET,
            "/k",
            vec!["Basic dXNlcjpwYXNz".into()],
            401,
            "no-token",
            "not Bearer",
        ),
        (
            Method::GET,
            "/k",
            vec!["AWS4-HMAC-SHA256 Credential=x".into()],
            401,
            "no-token",
            "not Bearer",
        ),
        (
            Method::GET,
            "/k",
            vec![format!("Bearer {good}"), format!("Bearer {good}")],
            401,
            "bad-token",
            "more than one",
        ),
        (
            Method::GET,
            "/k",
            vec!["Bearer".into()],
            401,
            "bad-token",
            "one token",
        ),
        (
            Method::GET,
            "/k",
            vec![format!("Bearer {good} extra")],
            401,
            "bad-token",
            "one token",
        ),
        (
            Method::GET,
            "/k",
            vec![format!("Bearer {expired}")],
            401,
            "expired",
            "expired",
        ),
        (
            Method::GET,
            "/k",
            vec!["Bearer not.a.jwt".into()],
            401,
            "bad-token",
            "not a signed JWT",
        ),
        (
            Method::GET,
            "/users/42/x",
            vec![format!("Bearer {restricted}")],
            0,
            "",
            "",
        ),
        (
            Method::GET,
            "/shared/x",
            vec![format!("Bearer {restricted}")],
            0,
            "",
            "",
        ),
        (
            Method::GET,
            "/users/43/x",
            vec![format!("Bearer {restricted}")],
            403,
            "path-claim",
            "outside",
        ),
        (
            Method::GET,
            "/users/42",
            vec![format!("Bearer {restricted}")],
            403,
            "path-claim",
            "outside",
        ),
        (
            Method::GET,
            "/users/42/%2e%2e/43/x",
            vec![format!("Bearer {restricted}")],
            403,
            "path-claim",
            "outside",
        ),
        (
            Method::PUT,
            "/users/42/x",
            vec![format!("Bearer {restricted}")],
            403,
            "method-claim",
            "does not allow PUT",
        ),
        (
            Method::GET,
            "/k",
            vec![format!("Bearer {nothing}")],
            403,
            "path-claim",
            "outside",
        ),
        // The site's rules come first: a token cannot widen them.
        (
            Method::DELETE,
            "/users/42/x",
            vec![format!("Bearer {restricted}")],
            403,
            "method",
            "DELETE",
        ),
        (
            Method::GET,
            "/k?acl",
            vec![format!("Bearer {good}")],
            403,
            "operation",
            "acl",
        ),
    ];
    for (m, target, values, status, kind, fragment) in cases {
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let got = go(m.clone(), target, &auth(&refs));
        if *status == 0 {
            assert!(got.is_ok(), "{m} {target}: {got:?}");
            continue;
        }
        let d = got.expect_err(target);
        assert_eq!(
            (d.status.as_u16(), d.kind.as_str()),
            (*status, *kind),
            "{m} {target}: {d}"
        );
        assert!(d.reason.contains(fragment), "{m} {target}: {d}");
        for v in values.iter().filter(|v| v.len() > 20) {
            let cred = v.split_once(' ').map_or(v.as_str(), |(_, c)| c.trim());
            assert!(!d.reason.contains(cred), "reason quotes the credential");
        }
    }
}
