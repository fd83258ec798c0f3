//! Preflight answers (spec §2, §2.3) in S3 mode byte for byte, and in enforce mode.

use http::{HeaderValue, StatusCode};

use super::super::{
    answer_preflight, CorsPolicy, LocalAnswer, Mode, PreflightInput, Resource, RuleSpec,
};
use super::{assert_headers, hv, policy, rule, rule_h};

const S3_VARY: &str = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";
const ENFORCE_VARY: &str = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";

const NO_ORIGIN_BODY: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>BadRequest</Code><Message>Insufficient information. Origin request header needed.</Message><RequestId>REQ1</RequestId><HostId>REQ1</HostId></Error>";
const BAD_METHOD_BODY: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>BadRequest</Code><Message>Invalid Access-Control-Request-Method: null</Message><RequestId>REQ1</RequestId><HostId>REQ1</HostId></Error>";

fn not_enabled_body(method: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessForbidden</Code><Message>CORSResponse: CORS is not enabled for this bucket.</Message><Method>{method}</Method><ResourceType>BUCKET</ResourceType><RequestId>REQ1</RequestId><HostId>REQ1</HostId></Error>")
}

fn not_allowed_body(method: &str, resource: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessForbidden</Code><Message>CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.</Message><Method>{method}</Method><ResourceType>{resource}</ResourceType><RequestId>REQ1</RequestId><HostId>REQ1</HostId></Error>")
}

fn input<'a>(
    origin: Option<&'a HeaderValue>,
    acrm: Option<&'a HeaderValue>,
    acrh: Option<&'a HeaderValue>,
) -> PreflightInput<'a> {
    PreflightInput {
        origin,
        request_method: acrm,
        request_headers: acrh,
        resource: Resource::Object,
        request_id: "REQ1",
    }
}

fn full_rule() -> RuleSpec {
    RuleSpec {
        id: Some("web".into()),
        allowed_origins: vec!["http://a.com".into()],
        allowed_methods: vec!["GET".into(), "PUT".into()],
        allowed_headers: vec!["*".into()],
        expose_headers: vec!["ETag".into(), "x-amz-meta-Foo".into()],
        max_age_seconds: Some(3000),
    }
}

fn check(a: &LocalAnswer, status: StatusCode, headers: &[(&str, &str)], body: &str, outcome: &str) {
    assert_eq!(a.status, status);
    assert_headers(&a.headers, headers);
    assert_eq!(a.body, body);
    assert_eq!(a.outcome.to_string(), outcome);
}

const XML: (&str, &str) = ("content-type", "application/xml");

#[test]
fn s3_no_origin_is_400_with_or_without_policy() {
    let p = policy(vec![rule(&["*"], &["GET"])]);
    let acrm = hv("GET");
    for pol in [Some(&p), None] {
        let a = answer_preflight(pol, Mode::S3, &input(None, Some(&acrm), None));
        check(
            &a,
            StatusCode::BAD_REQUEST,
            &[XML],
            NO_ORIGIN_BODY,
            "no-origin",
        );
    }
}

#[test]
fn s3_no_policy_is_403_bucket() {
    let (o, m) = (hv("http://a.com"), hv("PUT"));
    let a = answer_preflight(None, Mode::S3, &input(Some(&o), Some(&m), None));
    check(
        &a,
        StatusCode::FORBIDDEN,
        &[XML],
        &not_enabled_body("PUT"),
        "no-cors-config",
    );
    // No ACRM: <Method> is OPTIONS; ResourceType stays BUCKET for an object URL.
    let a = answer_preflight(None, Mode::S3, &input(Some(&o), None, None));
    check(
        &a,
        StatusCode::FORBIDDEN,
        &[XML],
        &not_enabled_body("OPTIONS"),
        "no-cors-config",
    );
}

#[test]
fn s3_missing_acrm_is_400() {
    let p = policy(vec![rule(&["*"], &["GET"])]);
    let o = hv("http://a.com");
    let empty = hv("");
    for acrm in [None, Some(&empty)] {
        let a = answer_preflight(Some(&p), Mode::S3, &input(Some(&o), acrm, None));
        check(
            &a,
            StatusCode::BAD_REQUEST,
            &[XML],
            BAD_METHOD_BODY,
            "bad-preflight",
        );
    }
}

#[test]
fn s3_refusals_are_403_with_method_and_resource() {
    let p = policy(vec![rule_h(&["http://a.com"], &["GET"], &["x-ok"])]);
    let a_com = hv("http://a.com");
    let b_com = hv("http://b.com");
    // (origin, ACRM, ACRH, resource, <Method>, <ResourceType>, outcome)
    let (get, put, patch, lower) = (hv("GET"), hv("PUT"), hv("PATCH"), hv("get"));
    let (bad_h, ok_h) = (hv("x-ok,x-bad"), hv("x-ok"));
    let cases = [
        (
            &b_com,
            &get,
            None,
            Resource::Object,
            "GET",
            "OBJECT",
            "deny:origin",
        ),
        (
            &b_com,
            &get,
            None,
            Resource::Bucket,
            "GET",
            "BUCKET",
            "deny:origin",
        ),
        (
            &a_com,
            &put,
            Some(&ok_h),
            Resource::Object,
            "PUT",
            "OBJECT",
            "deny:method(rule#0)",
        ),
        // spec §5 open #2: unknown ACRM → evaluated, no rule → 403 (not 400).
        (
            &a_com,
            &patch,
            None,
            Resource::Object,
            "PATCH",
            "OBJECT",
            "deny:method(rule#0)",
        ),
        (
            &a_com,
            &lower,
            None,
            Resource::Bucket,
            "get",
            "BUCKET",
            "deny:method(rule#0)",
        ),
        (
            &a_com,
            &get,
            Some(&bad_h),
            Resource::Object,
            "GET",
            "OBJECT",
            "deny:header(rule#0)",
        ),
    ];
    for (origin, acrm, acrh, resource, method, rtype, outcome) in cases {
        let mut i = input(Some(origin), Some(acrm), acrh);
        i.resource = resource;
        let a = answer_preflight(Some(&p), Mode::S3, &i);
        check(
            &a,
            StatusCode::FORBIDDEN,
            &[XML],
            &not_allowed_body(method, rtype),
            outcome,
        );
    }
}

#[test]
fn s3_method_is_xml_escaped() {
    let p = policy(vec![rule(&["*"], &["GET"])]);
    let (o, m) = (hv("http://a.com"), hv("<x>&\"'"));
    let a = answer_preflight(Some(&p), Mode::S3, &input(Some(&o), Some(&m), None));
    let want = not_allowed_body("&lt;x&gt;&amp;\"'", "OBJECT");
    check(
        &a,
        StatusCode::FORBIDDEN,
        &[XML],
        &want,
        "deny:method(rule#0)",
    );
    let mut i = input(Some(&o), Some(&m), None);
    i.request_id = "<id>";
    let a = answer_preflight(None, Mode::S3, &i);
    assert!(a
        .body
        .ends_with("<RequestId>&lt;id&gt;</RequestId><HostId>&lt;id&gt;</HostId></Error>"));
    // obs-text in ACRM becomes U+FFFD, never invalid UTF-8 or a panic.
    let m = HeaderValue::from_bytes(b"P\xffT").unwrap();
    let a = answer_preflight(Some(&p), Mode::S3, &input(Some(&o), Some(&m), None));
    assert_eq!(a.body, not_allowed_body("P\u{fffd}T", "OBJECT"));
}

#[test]
fn s3_too_many_headers_looks_like_not_allowed() {
    let p = policy(vec![rule_h(&["*"], &["GET"], &["*"])]);
    let (o, m) = (hv("http://a.com"), hv("GET"));
    let many = HeaderValue::from_str(&vec!["x"; 65].join(",")).unwrap();
    let a = answer_preflight(Some(&p), Mode::S3, &input(Some(&o), Some(&m), Some(&many)));
    check(
        &a,
        StatusCode::FORBIDDEN,
        &[XML],
        &not_allowed_body("GET", "OBJECT"),
        "deny:too-many-headers",
    );
}

#[test]
fn s3_success_headers() {
    let p = policy(vec![full_rule()]);
    let (o, m, h) = (
        hv("http://a.com"),
        hv("PUT"),
        hv("Content-Type,, X-Amz-Date"),
    );
    let a = answer_preflight(Some(&p), Mode::S3, &input(Some(&o), Some(&m), Some(&h)));
    let want = [
        ("access-control-allow-origin", "http://a.com"),
        ("access-control-allow-credentials", "true"),
        ("access-control-allow-methods", "GET, PUT"),
        ("access-control-allow-headers", "content-type, x-amz-date"),
        ("access-control-expose-headers", "ETag, x-amz-meta-Foo"),
        ("access-control-max-age", "3000"),
        ("vary", S3_VARY),
    ];
    check(&a, StatusCode::OK, &want, "", "rule#0(web)");
}

#[test]
fn s3_success_star_rule() {
    // `*` → ACAO `*`, no ACAC; no ACRH → no ACAH; nothing configured → no ACEH/ACMA.
    let p = policy(vec![rule(&["*"], &["PUT", "GET", "HEAD"])]);
    let (o, m) = (hv("whatever"), hv("HEAD"));
    let want = [
        ("access-control-allow-origin", "*"),
        ("access-control-allow-methods", "PUT, GET, HEAD"),
        ("vary", S3_VARY),
    ];
    let a = answer_preflight(Some(&p), Mode::S3, &input(Some(&o), Some(&m), None));
    check(&a, StatusCode::OK, &want, "", "rule#0");
    // An ACRH that is present but has no names behaves as absent: no ACAH.
    let h = hv(" , ");
    let a = answer_preflight(Some(&p), Mode::S3, &input(Some(&o), Some(&m), Some(&h)));
    check(&a, StatusCode::OK, &want, "", "rule#0");
}

#[test]
fn s3_success_variants() {
    // spec §5 open #3: `*` next to specific origins still answers `*`.
    let p = policy(vec![rule(&["http://a.com", "*"], &["GET"])]);
    let (o, m) = (hv("http://a.com"), hv("GET"));
    let a = answer_preflight(Some(&p), Mode::S3, &input(Some(&o), Some(&m), None));
    assert_eq!(a.headers["access-control-allow-origin"], "*");
    assert!(!a.headers.contains_key("access-control-allow-credentials"));

    // spec §5 open #5: MaxAgeSeconds 0 is sent as `0`.
    let mut r = rule(&["http://*"], &["GET"]);
    r.max_age_seconds = Some(0);
    let p = policy(vec![r]);
    // The Origin is echoed byte for byte, even non-UTF-8 (cloned, never re-parsed).
    let o = HeaderValue::from_bytes(b"http://\xe4.example").unwrap();
    let a = answer_preflight(Some(&p), Mode::S3, &input(Some(&o), Some(&m), None));
    assert_eq!(a.headers["access-control-max-age"], "0");
    assert_eq!(
        a.headers["access-control-allow-origin"].as_bytes(),
        b"http://\xe4.example"
    );
    assert_eq!(a.headers["access-control-allow-credentials"], "true");

    // ACAH is an echo even under `*`, and keeps request order and duplicates.
    let p = policy(vec![rule_h(&["*"], &["GET"], &["*"])]);
    let h = hv("X-B, x-a,X-B");
    let a = answer_preflight(Some(&p), Mode::S3, &input(Some(&o), Some(&m), Some(&h)));
    assert_eq!(a.headers["access-control-allow-headers"], "x-b, x-a, x-b");
    // Non-UTF-8 header names are echoed lowercased without panicking.
    let h = HeaderValue::from_bytes(b"X-\xffA").unwrap();
    let a = answer_preflight(Some(&p), Mode::S3, &input(Some(&o), Some(&m), Some(&h)));
    assert_eq!(
        a.headers["access-control-allow-headers"].as_bytes(),
        b"x-\xffa"
    );
}

fn text(status: StatusCode, body: &str, outcome: &str, a: &LocalAnswer) {
    let headers = [
        ("content-type", "text/plain; charset=utf-8"),
        ("vary", ENFORCE_VARY),
    ];
    check(a, status, &headers, body, outcome);
}

#[test]
fn enforce_success_has_enforce_vary() {
    let p = policy(vec![full_rule()]);
    let (o, m, h) = (hv("http://a.com"), hv("GET"), hv("x-amz-date"));
    let a = answer_preflight(
        Some(&p),
        Mode::Enforce,
        &input(Some(&o), Some(&m), Some(&h)),
    );
    let want = [
        ("access-control-allow-origin", "http://a.com"),
        ("access-control-allow-credentials", "true"),
        ("access-control-allow-methods", "GET, PUT"),
        ("access-control-allow-headers", "x-amz-date"),
        ("access-control-expose-headers", "ETag, x-amz-meta-Foo"),
        ("access-control-max-age", "3000"),
        ("vary", ENFORCE_VARY),
    ];
    check(&a, StatusCode::OK, &want, "", "rule#0(web)");
}

#[test]
fn enforce_refusals() {
    let p = policy(vec![
        rule(&["http://b.com"], &["GET"]),
        rule_h(&["http://a.com"], &["GET"], &["x-ok"]),
    ]);
    let pol = Some(&p);
    let (a_com, b_com, c_com) = (hv("http://a.com"), hv("http://b.com"), hv("http://c.com"));
    let (get, put) = (hv("GET"), hv("PUT"));
    let long = HeaderValue::from_str(&"M".repeat(65)).unwrap();
    let (bad, spaced, ok) = (hv("x-ok, X-Foo"), hv("x-ok, x foo"), hv("x-ok"));
    let many = HeaderValue::from_str(&vec!["x"; 65].join(",")).unwrap();
    type H<'a> = Option<&'a HeaderValue>;
    type Case<'a> = (
        Option<&'a CorsPolicy>,
        H<'a>,
        H<'a>,
        H<'a>,
        StatusCode,
        &'a str,
        &'a str,
    );
    let cases: Vec<Case<'_>> = vec![
        (
            pol,
            Some(&c_com),
            Some(&get),
            None,
            StatusCode::FORBIDDEN,
            "CORS preflight refused: origin not allowed\n",
            "deny:origin",
        ),
        (
            pol,
            Some(&a_com),
            Some(&put),
            None,
            StatusCode::FORBIDDEN,
            "CORS preflight refused: method PUT not allowed\n",
            "deny:method(rule#1)",
        ),
        (
            pol,
            Some(&a_com),
            Some(&long),
            None,
            StatusCode::FORBIDDEN,
            "CORS preflight refused: method not allowed\n",
            "deny:method(rule#1)",
        ),
        (
            pol,
            Some(&a_com),
            Some(&get),
            Some(&bad),
            StatusCode::FORBIDDEN,
            "CORS preflight refused: request header x-foo not allowed\n",
            "deny:header(rule#1)",
        ),
        (
            pol,
            Some(&a_com),
            Some(&get),
            Some(&spaced),
            StatusCode::FORBIDDEN,
            "CORS preflight refused: request header not allowed\n",
            "deny:header(rule#1)",
        ),
        // rule 0 has no AllowedHeaders: any ACRH fails it.
        (
            pol,
            Some(&b_com),
            Some(&get),
            Some(&ok),
            StatusCode::FORBIDDEN,
            "CORS preflight refused: request header x-ok not allowed\n",
            "deny:header(rule#0)",
        ),
        (
            pol,
            Some(&a_com),
            Some(&get),
            Some(&many),
            StatusCode::BAD_REQUEST,
            "CORS preflight refused: too many request headers\n",
            "deny:too-many-headers",
        ),
        (
            None,
            Some(&a_com),
            Some(&get),
            None,
            StatusCode::FORBIDDEN,
            "CORS is not enabled for this site\n",
            "no-cors-config",
        ),
        (
            pol,
            None,
            Some(&get),
            None,
            StatusCode::BAD_REQUEST,
            "CORS preflight refused: Origin header missing\n",
            "no-origin",
        ),
        (
            pol,
            Some(&a_com),
            None,
            None,
            StatusCode::BAD_REQUEST,
            "CORS preflight refused: Access-Control-Request-Method header missing\n",
            "bad-preflight",
        ),
    ];
    for (pol, origin, acrm, acrh, status, body, outcome) in cases {
        let a = answer_preflight(pol, Mode::Enforce, &input(origin, acrm, acrh));
        text(status, body, outcome, &a);
    }
}

#[test]
fn request_controlled_bytes_never_panic() {
    let p = policy(vec![
        rule_h(&["*"], &["GET"], &["*"]),
        rule(&["http://a.com"], &["PUT"]),
    ]);
    let weird: Vec<HeaderValue> = [
        &b""[..],
        b" ",
        b",",
        b"\xff\xfe",
        b"\t",
        b"a\tb",
        b"<&>",
        b"GET",
        b"x,\xff,,",
    ]
    .iter()
    .map(|b| HeaderValue::from_bytes(b).unwrap())
    .collect();
    for mode in [Mode::S3, Mode::Enforce] {
        for o in &weird {
            for m in &weird {
                for h in &weird {
                    for pol in [Some(&p), None] {
                        let a = answer_preflight(pol, mode, &input(Some(o), Some(m), Some(h)));
                        assert!(a.body.len() < 2048);
                        assert!(!a.body.contains('\r'));
                    }
                }
            }
        }
    }
}
