//! The decision: origin patterns (§2.1), header matching (§2.2), methods, first full
//! match wins (§2 step 5), the closest-rule report, ACRH limits, and `explain`.

use super::super::{header_names, Decision, Failure, RuleVerdict};
use super::{policy, rule, rule_h};

#[test]
fn origin_patterns() {
    // (AllowedOrigin, Origin, matches)
    let cases: &[(&str, &[u8], bool)] = &[
        ("start*end", b"startend", true),
        ("start*end", b"start12end", true),
        ("start*end", b"0start12end", false),
        ("start*end", b"start12end0", false),
        ("start*end", b"starten", false),
        ("prefix*", b"prefix", true),
        ("prefix*", b"prefix.suffix", true),
        ("prefix*", b"prefi", false),
        ("*suffix", b"foo.suffix.get", false),
        ("*suffix", b"foo.suffix", true),
        ("*suffix", b"suffix", true),
        ("aa*aa", b"aaa", false),
        ("aa*aa", b"aaaa", true),
        (
            "http://*.allowedorigin.com",
            b"http://.allowedorigin.com",
            true,
        ),
        (
            "http://*.allowedorigin.com",
            b"http://a.b.allowedorigin.com",
            true,
        ),
        (
            "http://*.allowedorigin.com",
            b"https://a.allowedorigin.com",
            false,
        ),
        ("http://*.origin.com", b"http://test.origin.com/", false),
        ("https://localhost:4200", b"http://localhost:4200", false),
        ("https://localhost:4200", b"https://localhost:4200", true),
        (
            "http://www.example.com",
            b"http://www.example.com:80",
            false,
        ),
        ("http://www.example.com", b"http://www.example.com/", false),
        // spec §5 open #1: byte comparison, so capitals never match a browser origin.
        ("http://WWW.example.com", b"http://www.example.com", false),
        ("http://*.EXAMPLE.com", b"http://a.example.com", false),
        ("*", b"whatever", true),
        ("*", b"localhost:4566", true),
        ("*", b"null", true),
        ("*", b"", true),
        ("", b"", true),
        ("", b"http://a.com", false),
        ("null", b"null", true),
        ("http://*", b"http://\xff.com", true),
    ];
    for &(pattern, origin, want) in cases {
        let p = policy(vec![rule(&[pattern], &["GET"])]);
        let got = p.evaluate(origin, b"GET", None);
        let expected = if want {
            Decision::Matched(0)
        } else {
            Decision::NoMatch(Some((0, Failure::Origin)))
        };
        assert_eq!(
            got,
            expected,
            "{pattern:?} vs {:?}",
            String::from_utf8_lossy(origin)
        );
    }
}

#[test]
fn exact_and_wildcard_origins_share_rules() {
    let p = policy(vec![
        rule(&["http://a.com", "http://b.com"], &["PUT"]),
        rule(&["http://*.com", "http://a.com"], &["GET"]),
        rule(&["http://a.com", "http://a.com"], &["DELETE"]),
    ]);
    assert_eq!(
        p.evaluate(b"http://a.com", b"PUT", None),
        Decision::Matched(0)
    );
    assert_eq!(
        p.evaluate(b"http://b.com", b"GET", None),
        Decision::Matched(1)
    );
    assert_eq!(
        p.evaluate(b"http://a.com", b"GET", None),
        Decision::Matched(1)
    );
    assert_eq!(
        p.evaluate(b"http://a.com", b"DELETE", None),
        Decision::Matched(2)
    );
    assert_eq!(
        p.evaluate(b"http://c.org", b"GET", None),
        Decision::NoMatch(Some((0, Failure::Origin)))
    );
}

#[test]
fn header_matching() {
    // (AllowedHeaders, ACRH, expected decision for a single `*`/GET rule)
    let hdr = |start, end| Decision::NoMatch(Some((0, Failure::Header { start, end })));
    let cases: &[(&[&str], &[u8], Decision)] = &[
        (
            &["content-type", "expires"],
            b"content-type,,expires",
            Decision::Matched(0),
        ),
        (
            &["content-type", "expires"],
            b" content-type , expires ",
            Decision::Matched(0),
        ),
        (&["Content-Type"], b"CONTENT-TYPE", Decision::Matched(0)),
        (
            &["x-AMZ-server-SIDE-encryption"],
            b"x-amz-server-side-encryption",
            Decision::Matched(0),
        ),
        (
            &["x-amz-*"],
            b"x-amz-date, X-Amz-Meta-Foo",
            Decision::Matched(0),
        ),
        (&["x-amz-*"], b"x-amz-", Decision::Matched(0)),
        (&["x-amz-*"], b"x-amzdate", hdr(0, 9)),
        (
            &["amz-*", "x-amz-*"],
            b"amz-sdk-request,x-amz-date",
            Decision::Matched(0),
        ),
        (&["*"], b"anything, At-All", Decision::Matched(0)),
        (&["*-id"], b"x-request-id", Decision::Matched(0)),
        (&["*-id"], b"x-request-idx", hdr(0, 13)),
        // No AllowedHeaders: any non-empty ACRH fails (AWS snapshot).
        (&[], b"x-foo", hdr(0, 5)),
        (&[], b"", Decision::Matched(0)),
        (&[], b" , ,", Decision::Matched(0)),
        // Safelisted headers get no exemption ([SC]).
        (&["x-foo"], b"content-type", hdr(0, 12)),
        // The range points at the first failing name, trimmed.
        (&["x-ok"], b"x-ok, x-bad ,x-worse", hdr(6, 11)),
        (&["x-ok"], b"x-ok,\tx-bad", hdr(6, 11)),
    ];
    for &(allowed, acrh, want) in cases {
        let p = policy(vec![rule_h(&["*"], &["GET"], allowed)]);
        let got = p.evaluate(b"http://a.com", b"GET", Some(acrh));
        assert_eq!(
            got,
            want,
            "{allowed:?} vs {:?}",
            String::from_utf8_lossy(acrh)
        );
    }
}

#[test]
fn methods_are_exact() {
    let p = policy(vec![rule(&["*"], &["GET", "POST"])]);
    let cases: &[(&[u8], bool)] = &[
        (b"GET", true),
        (b"POST", true),
        (b"get", false),
        // GET does not imply HEAD (spec §3 item 7).
        (b"HEAD", false),
        (b"PUT", false),
        (b"PATCH", false),
        (b"OPTIONS", false),
        (b"", false),
        (b"GET ", false),
    ];
    for &(m, want) in cases {
        let expected = if want {
            Decision::Matched(0)
        } else {
            Decision::NoMatch(Some((0, Failure::Method)))
        };
        assert_eq!(p.evaluate(b"x", m, None), expected, "{m:?}");
    }
}

#[test]
fn first_full_match_wins_and_closest_is_reported() {
    let p = policy(vec![
        rule(&["http://a.com"], &["PUT"]),
        rule(&["http://a.com"], &["GET"]),
        rule_h(&["http://a.com"], &["GET"], &["x-foo"]),
        rule_h(&["*"], &["GET"], &["*"]),
    ]);
    // Rule 0 fails on method, rule 1 on the header: rule 2 wins.
    assert_eq!(
        p.evaluate(b"http://a.com", b"GET", Some(b"x-foo")),
        Decision::Matched(2)
    );
    // Without ACRH rule 1 is the first full match.
    assert_eq!(
        p.evaluate(b"http://a.com", b"GET", None),
        Decision::Matched(1)
    );
    assert_eq!(
        p.evaluate(b"http://a.com", b"PUT", Some(b"")),
        Decision::Matched(0)
    );
    // Rule 3 takes what the specific rules refuse.
    assert_eq!(
        p.evaluate(b"http://b.com", b"GET", Some(b"x-bar")),
        Decision::Matched(3)
    );

    let p = policy(vec![
        rule(&["http://b.com"], &["GET"]),
        rule(&["http://a.com"], &["PUT"]),
        rule(&["http://a.com"], &["DELETE"]),
        rule_h(&["http://a.com"], &["GET"], &["x-foo"]),
        rule(&["http://a.com"], &["GET"]),
    ]);
    // Every rule fails on origin: the first one is reported.
    assert_eq!(
        p.evaluate(b"http://c.com", b"GET", None),
        Decision::NoMatch(Some((0, Failure::Origin)))
    );
    // Method beats origin; ties go to the earlier rule.
    assert_eq!(
        p.evaluate(b"http://a.com", b"HEAD", None),
        Decision::NoMatch(Some((1, Failure::Method)))
    );
    // Header beats method.
    assert_eq!(
        p.evaluate(b"http://a.com", b"GET", Some(b"x-foo, x-bar")),
        Decision::NoMatch(Some((3, Failure::Header { start: 7, end: 12 })))
    );
}

#[test]
fn request_header_limits() {
    let p = policy(vec![rule_h(&["*"], &["GET"], &["*"])]);
    let names = |n: usize| {
        (0..n)
            .map(|i| format!("h{i}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let at_limit = names(64);
    assert_eq!(
        p.evaluate(b"o", b"GET", Some(at_limit.as_bytes())),
        Decision::Matched(0)
    );
    // Empty items do not count.
    let with_empties = format!("{at_limit},,, ,");
    assert_eq!(
        p.evaluate(b"o", b"GET", Some(with_empties.as_bytes())),
        Decision::Matched(0)
    );
    let over = names(65);
    assert_eq!(
        p.evaluate(b"o", b"GET", Some(over.as_bytes())),
        Decision::TooManyHeaders
    );
    let big = vec![b'a'; 8 * 1024];
    assert_eq!(p.evaluate(b"o", b"GET", Some(&big)), Decision::Matched(0));
    let bigger = vec![b'a'; 8 * 1024 + 1];
    assert_eq!(
        p.evaluate(b"o", b"GET", Some(&bigger)),
        Decision::TooManyHeaders
    );
    // The limit is checked before anything else, even with a non-matching origin.
    let q = policy(vec![rule(&["http://a.com"], &["GET"])]);
    assert_eq!(
        q.evaluate(b"o", b"GET", Some(over.as_bytes())),
        Decision::TooManyHeaders
    );
}

#[test]
fn header_name_ranges() {
    type Ranges = &'static [(usize, usize)];
    let cases: &[(&[u8], Ranges)] = &[
        (b"", &[]),
        (b",", &[]),
        (b"a", &[(0, 1)]),
        (b"a,b", &[(0, 1), (2, 3)]),
        (b" a , ,b ", &[(1, 2), (6, 7)]),
        (b"content-type,,expires", &[(0, 12), (14, 21)]),
        (b"a,", &[(0, 1)]),
    ];
    for &(acrh, want) in cases {
        assert_eq!(header_names(acrh).collect::<Vec<_>>(), want, "{acrh:?}");
    }
}

#[test]
fn explain_gives_every_rule() {
    let mut r2 = rule_h(&["http://a.com"], &["GET"], &["x-foo"]);
    r2.id = Some("uploads".into());
    let p = policy(vec![
        rule(&["http://b.com"], &["GET"]),
        rule(&["http://a.com"], &["PUT"]),
        r2,
    ]);
    let got = p.explain(b"http://a.com", b"GET", Some(b"x-foo,x-bar"));
    let want = vec![
        RuleVerdict {
            rule: 0,
            id: None,
            failure: Some(Failure::Origin),
        },
        RuleVerdict {
            rule: 1,
            id: None,
            failure: Some(Failure::Method),
        },
        RuleVerdict {
            rule: 2,
            id: Some("uploads".into()),
            failure: Some(Failure::Header { start: 6, end: 11 }),
        },
    ];
    assert_eq!(got, want);
    let got = p.explain(b"http://a.com", b"GET", Some(b"X-Foo"));
    assert_eq!(got[2].failure, None);
}
