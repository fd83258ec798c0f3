//! PutBucketCors validation: spec §1.1 and §1.3, exact codes, messages and locations.

use super::super::{CorsPolicy, ErrorCode, Field, Location, RuleSpec};
use super::rule;

const MALFORMED: &str =
    "The XML you provided was not well-formed or did not validate against our published schema";

fn at(rule: usize, field: Field, item: Option<usize>) -> Location {
    Location {
        rule: Some(rule),
        field: Some(field),
        item,
    }
}

fn errors(rules: &[RuleSpec]) -> Vec<(Location, ErrorCode, String)> {
    match CorsPolicy::compile(rules) {
        Ok(_) => Vec::new(),
        Err(errs) => errs
            .into_iter()
            .map(|e| (e.at, e.code, e.message))
            .collect(),
    }
}

fn with(f: impl FnOnce(&mut RuleSpec)) -> RuleSpec {
    let mut r = rule(&["http://a.com"], &["GET"]);
    f(&mut r);
    r
}

#[test]
fn validation_table() {
    use ErrorCode::{InvalidRequest as IR, MalformedXml as MX};
    let doc = Location::default();
    type Expected = Vec<(Location, ErrorCode, &'static str)>;
    let cases: Vec<(&str, Vec<RuleSpec>, Expected)> = vec![
        ("no rules", vec![], vec![(doc, MX, MALFORMED)]),
        ("100 rules", vec![rule(&["*"], &["GET"]); 100], vec![]),
        (
            "101 rules",
            vec![rule(&["*"], &["GET"]); 101],
            vec![(
                doc,
                IR,
                "The number of CORS rules should not exceed allowed limit of 100 rules.",
            )],
        ),
        (
            "no AllowedOrigin",
            vec![rule(&[], &["GET"])],
            vec![(at(0, Field::AllowedOrigin, None), MX, MALFORMED)],
        ),
        (
            "no AllowedMethod",
            vec![rule(&["*"], &[])],
            vec![(at(0, Field::AllowedMethod, None), MX, MALFORMED)],
        ),
        (
            "empty CORSRule",
            vec![RuleSpec::default()],
            vec![
                (at(0, Field::AllowedOrigin, None), MX, MALFORMED),
                (at(0, Field::AllowedMethod, None), MX, MALFORMED),
            ],
        ),
        (
            "MYMETHOD",
            vec![rule(&["*"], &["GET", "MYMETHOD"])],
            vec![(
                at(0, Field::AllowedMethod, Some(1)),
                IR,
                "Found unsupported HTTP method in CORS config. Unsupported method is MYMETHOD",
            )],
        ),
        (
            "lowercase put",
            vec![rule(&["*"], &["put"])],
            vec![(
                at(0, Field::AllowedMethod, Some(0)),
                IR,
                "Found unsupported HTTP method in CORS config. Unsupported method is put",
            )],
        ),
        (
            "OPTIONS, PATCH, *",
            vec![rule(&["*"], &["OPTIONS", "PATCH", "*"])],
            vec![
                (
                    at(0, Field::AllowedMethod, Some(0)),
                    IR,
                    "Found unsupported HTTP method in CORS config. Unsupported method is OPTIONS",
                ),
                (
                    at(0, Field::AllowedMethod, Some(1)),
                    IR,
                    "Found unsupported HTTP method in CORS config. Unsupported method is PATCH",
                ),
                (
                    at(0, Field::AllowedMethod, Some(2)),
                    IR,
                    "Found unsupported HTTP method in CORS config. Unsupported method is *",
                ),
            ],
        ),
        (
            "empty method",
            vec![rule(&["*"], &[""])],
            vec![(
                at(0, Field::AllowedMethod, Some(0)),
                IR,
                "Found unsupported HTTP method in CORS config. Unsupported method is ",
            )],
        ),
        (
            "two wildcards in AllowedOrigin",
            vec![rule(&["http://a.com", "*example*.com"], &["GET"])],
            vec![(
                at(0, Field::AllowedOrigin, Some(1)),
                IR,
                "AllowedOrigin \"*example*.com\" can not have more than one wildcard.",
            )],
        ),
        (
            "two wildcards in AllowedHeader",
            vec![with(|r| r.allowed_headers = vec!["x-*-*".into()])],
            vec![(
                at(0, Field::AllowedHeader, Some(0)),
                IR,
                "AllowedHeader \"x-*-*\" can not have more than one wildcard.",
            )],
        ),
        (
            "wildcard ExposeHeader",
            vec![with(|r| r.expose_headers = vec!["ETag".into(), "*".into()])],
            vec![(
                at(0, Field::ExposeHeader, Some(1)),
                IR,
                "ExposeHeader \"*\" contains wildcard. We currently do not support wildcard for ExposeHeader.",
            )],
        ),
        (
            "list inside one ExposeHeader",
            vec![with(|r| r.expose_headers = vec!["ETag, Date".into()])],
            vec![(
                at(0, Field::ExposeHeader, Some(0)),
                IR,
                "ExposeHeader \"ETag, Date\" contains invalid character.",
            )],
        ),
        (
            "empty ExposeHeader",
            vec![with(|r| r.expose_headers = vec!["".into()])],
            vec![(
                at(0, Field::ExposeHeader, Some(0)),
                IR,
                "ExposeHeader \"\" contains invalid character.",
            )],
        ),
        (
            "CRLF in ExposeHeader",
            vec![with(|r| r.expose_headers = vec!["ETag\r\nSet-Cookie: a=b".into()])],
            vec![(
                at(0, Field::ExposeHeader, Some(0)),
                IR,
                "ExposeHeader \"ETag\\r\\nSet-Cookie: a=b\" contains invalid character.",
            )],
        ),
        (
            "CRLF in AllowedOrigin",
            vec![rule(&["http://a.com\r\nX: y"], &["GET"])],
            vec![(
                at(0, Field::AllowedOrigin, Some(0)),
                IR,
                "AllowedOrigin \"http://a.com\\r\\nX: y\" contains invalid character.",
            )],
        ),
        (
            "LF and NUL in AllowedHeader",
            vec![with(|r| r.allowed_headers = vec!["ok".into(), "x\nfoo\0".into()])],
            vec![(
                at(0, Field::AllowedHeader, Some(1)),
                IR,
                "AllowedHeader \"x\\nfoo\\0\" contains invalid character.",
            )],
        ),
        (
            "ID of 256 characters",
            vec![with(|r| r.id = Some("é".repeat(256)))],
            vec![(
                at(0, Field::Id, None),
                IR,
                "ID length should not exceed allowed limit of 255",
            )],
        ),
        (
            "ID of 255 characters (multi-byte)",
            vec![with(|r| r.id = Some("é".repeat(255)))],
            vec![],
        ),
        (
            "negative MaxAgeSeconds",
            vec![with(|r| r.max_age_seconds = Some(-1))],
            vec![(
                at(0, Field::MaxAgeSeconds, None),
                IR,
                "MaxAgeSeconds -1 is not valid. It must be a non-negative integer.",
            )],
        ),
        ("MaxAgeSeconds 0", vec![with(|r| r.max_age_seconds = Some(0))], vec![]),
        (
            "empty origin, underscore expose, x-amz-* header are fine",
            vec![with(|r| {
                r.allowed_origins = vec!["".into()];
                r.expose_headers = vec!["x_y".into(), "ETag".into()];
                r.allowed_headers = vec!["x-amz-*".into(), "*".into(), "".into()];
            })],
            vec![],
        ),
        (
            "all errors of all rules, in order",
            vec![
                rule(&["*"], &["GET"]),
                rule(&["a*b*c"], &["FOO"]),
                with(|r| {
                    r.allowed_origins.clear();
                    r.max_age_seconds = Some(-5);
                }),
            ],
            vec![
                (
                    at(1, Field::AllowedOrigin, Some(0)),
                    IR,
                    "AllowedOrigin \"a*b*c\" can not have more than one wildcard.",
                ),
                (
                    at(1, Field::AllowedMethod, Some(0)),
                    IR,
                    "Found unsupported HTTP method in CORS config. Unsupported method is FOO",
                ),
                (at(2, Field::AllowedOrigin, None), MX, MALFORMED),
                (
                    at(2, Field::MaxAgeSeconds, None),
                    IR,
                    "MaxAgeSeconds -5 is not valid. It must be a non-negative integer.",
                ),
            ],
        ),
    ];
    for (name, rules, want) in cases {
        let want: Vec<(Location, ErrorCode, String)> = want
            .into_iter()
            .map(|(l, c, m)| (l, c, m.to_string()))
            .collect();
        assert_eq!(errors(&rules), want, "case: {name}");
    }
}

#[test]
fn codes_render_as_s3_spells_them() {
    assert_eq!(ErrorCode::MalformedXml.as_str(), "MalformedXML");
    assert_eq!(ErrorCode::InvalidRequest.as_str(), "InvalidRequest");
    let e = &CorsPolicy::compile(&[]).unwrap_err()[0];
    assert_eq!(
        e.to_string(),
        "MalformedXML: The XML you provided was not well-formed or did not validate against our published schema"
    );
}

#[test]
fn rules_come_back_verbatim() {
    let r = RuleSpec {
        id: Some("Keep Me".into()),
        allowed_origins: vec!["http://test.com:80".into(), "".into()],
        allowed_methods: vec!["PUT".into(), "GET".into()],
        allowed_headers: vec!["x-AMZ-server-SIDE-encryption".into()],
        expose_headers: vec!["ETag".into()],
        max_age_seconds: Some(10),
    };
    let p = CorsPolicy::compile(std::slice::from_ref(&r)).unwrap();
    assert_eq!(p.rules(), &[r]);
    assert_eq!(p.rule_id(0).map(|s| &**s), Some("Keep Me"));
    assert_eq!(p.rule_id(1), None);
}
