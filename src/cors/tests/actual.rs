//! Actual requests (spec §3) in S3 mode, the enforce-mode gate, Vary per mode, and
//! stripping the upstream's Access-Control-* headers.

use http::{HeaderMap, HeaderValue, Method, StatusCode};

use super::super::{check_actual, Actual, ActualInput, CorsPolicy, Decoration, Mode, RuleSpec};
use super::{assert_headers, hv, policy, rule, rule_h};

const S3_VARY: &str = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";

fn input<'a>(origin: Option<&'a HeaderValue>, method: &'a Method) -> ActualInput<'a> {
    ActualInput {
        origin,
        method,
        request_method: None,
        request_headers: None,
        host: Some("bucket.example"),
        request_id: "REQ1",
    }
}

/// An upstream response: its own CORS headers (which must go) and a Vary to keep.
fn upstream() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("access-control-allow-origin", hv("http://evil.example"));
    h.insert("Access-Control-Expose-Headers", hv("x-secret"));
    h.insert("access-control-whatever", hv("1"));
    h.insert("x-access-control-note", hv("kept"));
    h.insert("content-type", hv("image/png"));
    h.append("vary", hv("Accept-Encoding"));
    h
}

const KEPT: [(&str, &str); 2] = [
    ("x-access-control-note", "kept"),
    ("content-type", "image/png"),
];

fn forward(a: Actual) -> Decoration {
    match a {
        Actual::Forward(d) => d,
        Actual::Refuse(r) => panic!("expected forward, got {} {:?}", r.status, r.body),
    }
}

/// Applies the decision to `upstream()` and checks the full header set and outcome.
fn decorated(d: &Decoration, extra: &[(&str, &str)], outcome: &str) {
    let mut h = upstream();
    d.clone().apply(&mut h);
    let mut want: Vec<(&str, &str)> = KEPT.to_vec();
    want.extend_from_slice(extra);
    assert_headers(&h, &want);
    assert_eq!(d.outcome().to_string(), outcome);
}

fn full_rule() -> RuleSpec {
    RuleSpec {
        id: None,
        allowed_origins: vec!["http://a.com".into()],
        allowed_methods: vec!["GET".into(), "HEAD".into()],
        allowed_headers: vec!["x-ok".into()],
        expose_headers: vec!["ETag".into()],
        max_age_seconds: Some(60),
    }
}

const FULL_S3: [(&str, &str); 5] = [
    ("access-control-allow-origin", "http://a.com"),
    ("access-control-allow-credentials", "true"),
    ("access-control-allow-methods", "GET, HEAD"),
    ("access-control-expose-headers", "ETag"),
    ("access-control-max-age", "60"),
];

#[test]
fn s3_actual() {
    let p = policy(vec![full_rule(), rule(&["*"], &["POST"])]);
    let (a_com, b_com) = (hv("http://a.com"), hv("http://b.com"));
    let (put, bad_h, ok_h) = (hv("PUT"), hv("x-nope"), hv("X-Ok"));
    let no_vary = [("vary", "Accept-Encoding")];
    let s3_vary = [(
        "vary",
        "Accept-Encoding, Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
    )];
    let mut full: Vec<(&str, &str)> = FULL_S3.to_vec();
    full.extend_from_slice(&s3_vary);

    // 1. No Origin: nothing added, no Vary; upstream CORS headers still stripped.
    let d = forward(check_actual(Some(&p), Mode::S3, &input(None, &Method::GET)));
    decorated(&d, &no_vary, "no-origin");
    // 2. No configuration.
    let d = forward(check_actual(
        None,
        Mode::S3,
        &input(Some(&a_com), &Method::GET),
    ));
    decorated(&d, &no_vary, "no-cors-config");
    // 4. Match: ACAO, ACAC, ACAM, ACEH, ACMA, Vary; no ACAH without ACRH.
    let d = forward(check_actual(
        Some(&p),
        Mode::S3,
        &input(Some(&a_com), &Method::GET),
    ));
    decorated(&d, &full, "rule#0");
    // 7. HEAD matched against HEAD; POST against the `*` rule.
    let d = forward(check_actual(
        Some(&p),
        Mode::S3,
        &input(Some(&a_com), &Method::HEAD),
    ));
    decorated(&d, &full, "rule#0");
    let d = forward(check_actual(
        Some(&p),
        Mode::S3,
        &input(Some(&b_com), &Method::POST),
    ));
    let star = [
        ("access-control-allow-origin", "*"),
        ("access-control-allow-methods", "POST"),
        s3_vary[0],
    ];
    decorated(&d, &star, "rule#1");
    // 5. No match: unchanged, no Vary. Rule 1 got further (origin ok) than rule 0.
    let d = forward(check_actual(
        Some(&p),
        Mode::S3,
        &input(Some(&b_com), &Method::GET),
    ));
    decorated(&d, &no_vary, "no-match:method(rule#1)");
    let c_com = hv("http://c.com");
    let d = forward(check_actual(
        Some(&p),
        Mode::S3,
        &input(Some(&c_com), &Method::PUT),
    ));
    decorated(&d, &no_vary, "no-match:method(rule#1)");
    // 3. A GET carrying ACRM PUT is judged as PUT: no headers.
    let mut i = input(Some(&a_com), &Method::GET);
    i.request_method = Some(&put);
    let d = forward(check_actual(Some(&p), Mode::S3, &i));
    decorated(&d, &no_vary, "no-match:method(rule#0)");
    // 3. A disallowed ACRH: no headers.
    let mut i = input(Some(&a_com), &Method::GET);
    i.request_headers = Some(&bad_h);
    let d = forward(check_actual(Some(&p), Mode::S3, &i));
    decorated(&d, &no_vary, "no-match:header(rule#0)");
    // spec §5 open #6: an allowed ACRH is echoed as ACAH.
    let mut i = input(Some(&a_com), &Method::GET);
    i.request_headers = Some(&ok_h);
    let d = forward(check_actual(Some(&p), Mode::S3, &i));
    let mut with_acah = full.clone();
    with_acah.push(("access-control-allow-headers", "x-ok"));
    decorated(&d, &with_acah, "rule#0");
}

#[test]
fn s3_actual_decorates_any_status_and_sets_exact_vary() {
    // A bare 404 NoSuchKey response (spec §3 item 6): decoration does not look at status.
    let p = policy(vec![rule(&["*"], &["GET"])]);
    let o = hv("http://a.com");
    let d = forward(check_actual(
        Some(&p),
        Mode::S3,
        &input(Some(&o), &Method::GET),
    ));
    let mut h = HeaderMap::new();
    h.insert("content-type", hv("application/xml"));
    d.apply(&mut h);
    assert_headers(
        &h,
        &[
            ("content-type", "application/xml"),
            ("access-control-allow-origin", "*"),
            ("access-control-allow-methods", "GET"),
            ("vary", S3_VARY),
        ],
    );
}

fn refused(a: Actual, body: &str, outcome: &str) {
    match a {
        Actual::Refuse(r) => {
            assert_eq!(r.status, StatusCode::FORBIDDEN);
            assert_headers(
                &r.headers,
                &[
                    ("content-type", "text/plain; charset=utf-8"),
                    ("vary", "Origin"),
                ],
            );
            assert_eq!(r.body, body);
            assert_eq!(r.outcome.to_string(), outcome);
        }
        Actual::Forward(d) => panic!("expected refusal, got {}", d.outcome()),
    }
}

#[test]
fn enforce_gate() {
    let p = policy(vec![full_rule()]);
    let pol: Option<&CorsPolicy> = Some(&p);
    let (a_com, c_com, same, null) = (
        hv("http://a.com"),
        hv("https://c.com"),
        hv("https://Bucket.Example"),
        hv("null"),
    );
    let vary_only = [("vary", "Accept-Encoding, Origin")];
    let mut full: Vec<(&str, &str)> = FULL_S3.to_vec();
    full.extend_from_slice(&vary_only);

    // No Origin: forwarded; with a policy every response gets Vary: Origin.
    let d = forward(check_actual(pol, Mode::Enforce, &input(None, &Method::GET)));
    decorated(&d, &vary_only, "no-origin");
    // Same-origin, no rule for it: forwarded, Vary: Origin.
    let d = forward(check_actual(
        pol,
        Mode::Enforce,
        &input(Some(&same), &Method::DELETE),
    ));
    decorated(&d, &vary_only, "same-origin");
    // Cross-origin, matched: decorated; Vary is only Origin in enforce mode.
    let d = forward(check_actual(
        pol,
        Mode::Enforce,
        &input(Some(&a_com), &Method::GET),
    ));
    decorated(&d, &full, "rule#0");
    // Cross-origin, refused on origin / on method.
    let a = check_actual(pol, Mode::Enforce, &input(Some(&c_com), &Method::GET));
    refused(
        a,
        "CORS request refused: origin not allowed\n",
        "deny:origin",
    );
    let a = check_actual(pol, Mode::Enforce, &input(Some(&null), &Method::GET));
    refused(
        a,
        "CORS request refused: origin not allowed\n",
        "deny:origin",
    );
    let a = check_actual(pol, Mode::Enforce, &input(Some(&a_com), &Method::DELETE));
    refused(
        a,
        "CORS request refused: method DELETE not allowed\n",
        "deny:method(rule#0)",
    );
    // Host with a different port is cross-origin (no default-port folding).
    let mut i = input(Some(&c_com), &Method::GET);
    i.host = Some("c.com:443");
    let a = check_actual(pol, Mode::Enforce, &i);
    refused(
        a,
        "CORS request refused: origin not allowed\n",
        "deny:origin",
    );
    // No Host: never same-origin.
    let mut i = input(Some(&same), &Method::GET);
    i.host = None;
    let a = check_actual(pol, Mode::Enforce, &i);
    refused(
        a,
        "CORS request refused: origin not allowed\n",
        "deny:origin",
    );
}

#[test]
fn enforce_same_origin_with_a_matching_rule_is_decorated() {
    let p = policy(vec![rule(&["https://bucket.example"], &["GET"])]);
    let o = hv("https://bucket.example");
    let d = forward(check_actual(
        Some(&p),
        Mode::Enforce,
        &input(Some(&o), &Method::GET),
    ));
    let want = [
        ("access-control-allow-origin", "https://bucket.example"),
        ("access-control-allow-credentials", "true"),
        ("access-control-allow-methods", "GET"),
        ("vary", "Accept-Encoding, Origin"),
    ];
    decorated(&d, &want, "rule#0");
}

#[test]
fn enforce_ignores_acrm_and_acrh_on_actual_requests() {
    let p = policy(vec![
        rule(&["http://a.com"], &["GET"]),
        rule(&["http://a.com"], &["DELETE", "PUT"]),
    ]);
    let o = hv("http://a.com");
    let (get, put, h) = (hv("GET"), hv("PUT"), hv("x-not-allowed"));
    let vary = [("vary", "Accept-Encoding, Origin")];
    // A DELETE dressed as GET is judged as DELETE: rule 1, not rule 0.
    let mut i = input(Some(&o), &Method::DELETE);
    i.request_method = Some(&get);
    let d = forward(check_actual(Some(&p), Mode::Enforce, &i));
    assert_eq!(d.outcome().to_string(), "rule#1");
    // A GET carrying ACRM PUT and a disallowed ACRH is judged on GET alone.
    let mut i = input(Some(&o), &Method::GET);
    i.request_method = Some(&put);
    i.request_headers = Some(&h);
    let d = forward(check_actual(Some(&p), Mode::Enforce, &i));
    let want = [
        ("access-control-allow-origin", "http://a.com"),
        ("access-control-allow-credentials", "true"),
        ("access-control-allow-methods", "GET"),
        vary[0],
    ];
    decorated(&d, &want, "rule#0");
    // Smuggling the other way: a PATCH with ACRM GET against a GET-only policy.
    let q = policy(vec![rule(&["http://a.com"], &["GET"])]);
    let mut i = input(Some(&o), &Method::PATCH);
    i.request_method = Some(&get);
    let a = check_actual(Some(&q), Mode::Enforce, &i);
    refused(
        a,
        "CORS request refused: method PATCH not allowed\n",
        "deny:method(rule#0)",
    );
}

#[test]
fn enforce_without_policy() {
    let (o, same) = (hv("http://a.com"), hv("http://bucket.example"));
    let no_vary = [("vary", "Accept-Encoding")];
    let d = forward(check_actual(
        None,
        Mode::Enforce,
        &input(None, &Method::GET),
    ));
    decorated(&d, &no_vary, "no-origin");
    let d = forward(check_actual(
        None,
        Mode::Enforce,
        &input(Some(&same), &Method::PUT),
    ));
    decorated(&d, &no_vary, "same-origin");
    let a = check_actual(None, Mode::Enforce, &input(Some(&o), &Method::GET));
    refused(a, "CORS is not enabled for this site\n", "no-cors-config");
}

#[test]
fn rule_ids_show_in_outcomes() {
    let mut r = rule_h(&["*"], &["GET"], &["*"]);
    r.id = Some("line\nbreak".into());
    let p = policy(vec![rule(&["http://x"], &["GET"]), r]);
    let o = hv("http://a.com");
    let d = forward(check_actual(
        Some(&p),
        Mode::S3,
        &input(Some(&o), &Method::GET),
    ));
    assert_eq!(d.outcome().to_string(), "rule#1(line\\nbreak)");
    assert!(d.is_granted());
}

/// `writes_same` is what lets the cache reuse a finished head: it must say yes only
/// when `add` would write the same bytes, whatever produced the two decisions.
#[test]
fn writes_same_only_for_byte_identical_decorations() {
    let wild = |expose: &str, max_age| RuleSpec {
        id: Some("w".into()),
        allowed_origins: vec!["http://*.app.test".into()],
        allowed_methods: vec!["GET".into()],
        allowed_headers: vec![],
        expose_headers: vec![expose.into()],
        max_age_seconds: Some(max_age),
    };
    let p = policy(vec![wild("ETag", 60), rule(&["*"], &["GET"])]);
    let changed = policy(vec![wild("x-amz-version-id", 60), rule(&["*"], &["GET"])]);
    let older = policy(vec![wild("ETag", 30), rule(&["*"], &["GET"])]);
    let renamed = policy(vec![
        RuleSpec {
            id: Some("renamed".into()),
            ..wild("ETag", 60)
        },
        rule(&["*"], &["GET"]),
    ]);
    let (a, b, x, y) = (
        hv("http://a.app.test"),
        hv("http://b.app.test"),
        hv("http://x.test"),
        hv("http://y.test"),
    );
    let decide = |p: &CorsPolicy, mode, origin: Option<&HeaderValue>| {
        forward(check_actual(Some(p), mode, &input(origin, &Method::GET)))
    };
    let enforce = |p: &CorsPolicy, origin| decide(p, Mode::Enforce, origin);
    let same = |l: &Decoration, r: &Decoration| (l.writes_same(r), r.writes_same(l));

    // The same inputs, decided twice.
    assert_eq!(
        same(&enforce(&p, Some(&a)), &enforce(&p, Some(&a))),
        (true, true)
    );
    assert_eq!(same(&enforce(&p, None), &enforce(&p, None)), (true, true));
    // One rule, two origins: different ACAO.
    assert_eq!(
        same(&enforce(&p, Some(&a)), &enforce(&p, Some(&b))),
        (false, false)
    );
    // Two origins answered `*` by the same rule write the same fields.
    assert_eq!(
        same(&enforce(&p, Some(&x)), &enforce(&p, Some(&y))),
        (true, true)
    );
    // Granted against not granted, and `*` against an echoed origin.
    assert_eq!(
        same(&enforce(&p, Some(&a)), &enforce(&p, None)),
        (false, false)
    );
    assert_eq!(
        same(&enforce(&p, Some(&a)), &enforce(&p, Some(&x))),
        (false, false)
    );
    // A rule change: other ExposeHeaders, other MaxAgeSeconds.
    assert_eq!(
        same(&enforce(&p, Some(&a)), &enforce(&changed, Some(&a))),
        (false, false)
    );
    assert_eq!(
        same(&enforce(&p, Some(&a)), &enforce(&older, Some(&a))),
        (false, false)
    );
    // Only the rule's ID changed: the log outcome differs, the headers do not.
    let (l, r) = (enforce(&p, Some(&a)), enforce(&renamed, Some(&a)));
    assert_ne!(l.outcome(), r.outcome());
    assert_eq!(same(&l, &r), (true, true));
    // The modes' Vary sets differ even where nothing else is written.
    assert_eq!(
        same(&decide(&p, Mode::S3, None), &enforce(&p, None)),
        (false, false)
    );
    assert_eq!(
        same(
            &decide(&p, Mode::S3, Some(&a)),
            &decide(&p, Mode::S3, Some(&a))
        ),
        (true, true)
    );
}
