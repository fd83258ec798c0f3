//! Tests for `cache::freshness`: table-driven, literal expectations, injected clock.
//!
//! The reference instant is T0 = "Sun, 06 Nov 1994 08:49:37 GMT" = 784111777 s after the
//! epoch (RFC 9110's example date); `at(n)` is T0 + n seconds.
#![allow(clippy::type_complexity)] // the case tables spell their row types out

use super::*;
use std::time::UNIX_EPOCH;

const T0: u64 = 784_111_777;
/// T0 as an HTTP date, and a few offsets from it, written out literally.
const D_T0: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
const D_T0_PLUS_10: &str = "Sun, 06 Nov 1994 08:49:47 GMT";
const D_T0_PLUS_100: &str = "Sun, 06 Nov 1994 08:51:17 GMT";
const D_T0_PLUS_3600: &str = "Sun, 06 Nov 1994 09:49:37 GMT";
const D_T0_PLUS_7200: &str = "Sun, 06 Nov 1994 10:49:37 GMT";

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0 + secs)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn hm(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("test header name"),
            HeaderValue::from_str(value).expect("test header value"),
        );
    }
    map
}

fn cc_lines(lines: &[&str]) -> HeaderMap {
    let pairs: Vec<(&str, &str)> = lines.iter().map(|l| ("cache-control", *l)).collect();
    hm(&pairs)
}

fn timing(request: u64, response: u64) -> Timing {
    Timing {
        request_time: at(request),
        response_time: at(response),
    }
}

// ------------------------------------------------------------------------------------------
// CacheControl::parse

#[test]
fn cache_control_parse_table() {
    let none = CacheControl::default();
    let cases: Vec<(&[&str], CacheControl)> = vec![
        (&[], none.clone()),
        (
            &["max-age=60"],
            CacheControl {
                max_age: Some(secs(60)),
                ..none.clone()
            },
        ),
        (
            &["MAX-AGE=60, No-Store"],
            CacheControl {
                max_age: Some(secs(60)),
                no_store: true,
                ..none.clone()
            },
        ),
        (
            // two field lines combine
            &["public", "s-maxage=300"],
            CacheControl {
                public: true,
                s_maxage: Some(secs(300)),
                ..none.clone()
            },
        ),
        (
            &["max-age=\"60\""],
            CacheControl {
                max_age: Some(secs(60)),
                ..none.clone()
            },
        ),
        (
            &["s-maxage=\"0\""],
            CacheControl {
                s_maxage: Some(secs(0)),
                ..none.clone()
            },
        ),
        (
            &["max-age=abc"],
            CacheControl {
                invalid_age: true,
                ..none.clone()
            },
        ),
        (
            &["max-age="],
            CacheControl {
                invalid_age: true,
                ..none.clone()
            },
        ),
        (
            &["max-age"],
            CacheControl {
                invalid_age: true,
                ..none.clone()
            },
        ),
        (
            &["max-age=-1"],
            CacheControl {
                invalid_age: true,
                ..none.clone()
            },
        ),
        (
            &["max-age=1.5"],
            CacheControl {
                invalid_age: true,
                ..none.clone()
            },
        ),
        (
            &["s-maxage=\"60"],
            CacheControl {
                invalid_age: true,
                ..none.clone()
            },
        ),
        (
            &["max-age=\"60\"x"],
            CacheControl {
                invalid_age: true,
                ..none.clone()
            },
        ),
        // duplicates: the most restrictive (smallest) value, whatever the order
        (
            &["max-age=60, max-age=30"],
            CacheControl {
                max_age: Some(secs(30)),
                ..none.clone()
            },
        ),
        (
            &["max-age=30", "max-age=60"],
            CacheControl {
                max_age: Some(secs(30)),
                ..none.clone()
            },
        ),
        // one good, one bad: the bad one makes it stale
        (
            &["max-age=60, max-age=x"],
            CacheControl {
                max_age: Some(secs(60)),
                invalid_age: true,
                ..none.clone()
            },
        ),
        // RFC 9111 §1.2.2: too large → 2^31
        (
            &["max-age=99999999999999999999999"],
            CacheControl {
                max_age: Some(secs(2_147_483_648)),
                ..none.clone()
            },
        ),
        (
            &["max-age=2147483647"],
            CacheControl {
                max_age: Some(secs(2_147_483_647)),
                ..none.clone()
            },
        ),
        // a comma inside a quoted argument does not split the list; qualified no-cache counts
        (
            &["no-cache=\"Set-Cookie, X-Foo\", max-age=10"],
            CacheControl {
                no_cache: true,
                max_age: Some(secs(10)),
                ..none.clone()
            },
        ),
        (
            &["private=\"X-Secret\""],
            CacheControl {
                private: true,
                ..none.clone()
            },
        ),
        (
            &["must-revalidate,proxy-revalidate"],
            CacheControl {
                must_revalidate: true,
                proxy_revalidate: true,
                ..none.clone()
            },
        ),
        // unknown directives (also with quoted arguments holding "=" and "\"") and empty members
        (
            &["foo=bar, , ,community=\"a=b \\\" ,c\", max-age=5,"],
            CacheControl {
                max_age: Some(secs(5)),
                ..none.clone()
            },
        ),
        (
            &["  max-age = 7  "],
            CacheControl {
                max_age: Some(secs(7)),
                ..none.clone()
            },
        ),
        (
            &["public, private"],
            CacheControl {
                public: true,
                private: true,
                ..none.clone()
            },
        ),
        (&["immutable, stale-while-revalidate=30"], none.clone()),
    ];
    for (lines, expected) in cases {
        assert_eq!(
            CacheControl::parse(&cc_lines(lines)),
            expected,
            "lines {lines:?}"
        );
    }
}

#[test]
fn cache_control_ignores_other_headers_and_survives_non_utf8() {
    let headers = hm(&[("expires", "max-age=60"), ("pragma", "no-cache")]);
    assert_eq!(CacheControl::parse(&headers), CacheControl::default());

    let mut headers = HeaderMap::new();
    headers.append(
        CACHE_CONTROL,
        HeaderValue::from_bytes(b"max-age=60, x=\"\xff\", no-store").expect("obs-text is legal"),
    );
    let cc = CacheControl::parse(&headers);
    assert_eq!(cc.max_age, Some(secs(60)));
    assert!(cc.no_store);
}

// ------------------------------------------------------------------------------------------
// storable

#[test]
fn storable_table() {
    use NotStorable::*;
    let get = |cred: bool, allow: bool| RequestFacts {
        method: http::Method::GET,
        credentialed: cred,
        allow_credentialed: allow,
    };
    let anon = get(false, false);
    let ttl = Some(secs(60));
    let ok = StatusCode::OK;
    #[rustfmt::skip]
    let cases: Vec<(&str, RequestFacts, StatusCode, &[(&str, &str)], Option<Duration>, Result<(), NotStorable>)> = vec![
        ("plain max-age", anon.clone(), ok, &[("cache-control", "max-age=60")], None, Ok(())),
        ("HEAD", RequestFacts { method: http::Method::HEAD, ..anon.clone() }, ok, &[("cache-control", "max-age=60")], None, Err(Method)),
        ("POST beats no-store", RequestFacts { method: http::Method::POST, ..anon.clone() }, ok, &[("cache-control", "no-store")], None, Err(Method)),
        ("206", anon.clone(), StatusCode::PARTIAL_CONTENT, &[("cache-control", "max-age=60")], None, Err(Status)),
        ("304", anon.clone(), StatusCode::NOT_MODIFIED, &[("cache-control", "max-age=60")], None, Err(Status)),
        ("404", anon.clone(), StatusCode::NOT_FOUND, &[("cache-control", "max-age=60")], None, Err(Status)),
        ("no-store", anon.clone(), ok, &[("cache-control", "max-age=60, no-store")], None, Err(NoStore)),
        ("No-Store on 2nd line", anon.clone(), ok, &[("cache-control", "max-age=60"), ("cache-control", "No-Store")], None, Err(NoStore)),
        ("private", anon.clone(), ok, &[("cache-control", "private, max-age=60")], None, Err(Private)),
        ("public+private", anon.clone(), ok, &[("cache-control", "public, private, max-age=60")], None, Err(Private)),
        ("set-cookie", anon.clone(), ok, &[("cache-control", "max-age=60"), ("set-cookie", "a=b")], None, Err(SetCookie)),
        ("vary *", anon.clone(), ok, &[("cache-control", "max-age=60"), ("vary", "*")], None, Err(VaryStar)),
        ("vary list with *", anon.clone(), ok, &[("cache-control", "max-age=60"), ("vary", "Origin"), ("vary", "Accept-Encoding, *")], None, Err(VaryStar)),
        ("vary origin", anon.clone(), ok, &[("cache-control", "max-age=60"), ("vary", "Origin")], None, Ok(())),
        ("cred, no opt-in, public", get(true, false), ok, &[("cache-control", "public, max-age=60")], None, Err(Authorization)),
        ("cred, opt-in, max-age only", get(true, true), ok, &[("cache-control", "max-age=60")], None, Err(Authorization)),
        ("cred, opt-in, public", get(true, true), ok, &[("cache-control", "public, max-age=60")], None, Ok(())),
        ("cred, opt-in, s-maxage", get(true, true), ok, &[("cache-control", "s-maxage=60")], None, Ok(())),
        ("cred, opt-in, must-revalidate", get(true, true), ok, &[("cache-control", "must-revalidate, max-age=60")], None, Ok(())),
        ("cred, opt-in, public, no freshness", get(true, true), ok, &[("cache-control", "public")], None, Err(NoFreshness)),
        ("anon, opt-in irrelevant", get(false, true), ok, &[("cache-control", "max-age=60")], None, Ok(())),
        ("nothing", anon.clone(), ok, &[], None, Err(NoFreshness)),
        ("nothing, ttl", anon.clone(), ok, &[], ttl, Err(NoFreshness)),
        ("etag, no ttl", anon.clone(), ok, &[("etag", "\"v1\"")], None, Err(NoFreshness)),
        ("etag + ttl", anon.clone(), ok, &[("etag", "\"v1\"")], ttl, Ok(())),
        ("last-modified + ttl", anon.clone(), ok, &[("last-modified", D_T0)], ttl, Ok(())),
        ("public only, etag + ttl", anon.clone(), ok, &[("cache-control", "public"), ("etag", "\"v1\"")], ttl, Ok(())),
        ("expires", anon.clone(), ok, &[("expires", D_T0_PLUS_3600)], None, Ok(())),
        ("expires 0 (stored stale)", anon.clone(), ok, &[("expires", "0")], None, Ok(())),
        ("invalid max-age (stored stale)", anon.clone(), ok, &[("cache-control", "max-age=abc")], None, Ok(())),
        ("no-cache + max-age", anon.clone(), ok, &[("cache-control", "no-cache, max-age=60")], None, Ok(())),
    ];
    for (name, req, status, headers, default_ttl, expected) in cases {
        assert_eq!(
            storable(&req, status, &hm(headers), default_ttl),
            expected,
            "case {name}"
        );
    }
}

#[test]
fn not_storable_display() {
    use NotStorable::*;
    let cases = [
        (Method, "method"),
        (Status, "status"),
        (NoStore, "no-store"),
        (Private, "private"),
        (SetCookie, "set-cookie"),
        (VaryStar, "vary-star"),
        (Authorization, "authorization"),
        (NoFreshness, "no-freshness"),
    ];
    for (reason, text) in cases {
        assert_eq!(reason.to_string(), text);
        assert_eq!(reason.as_str(), text);
    }
}

// ------------------------------------------------------------------------------------------
// freshness_lifetime

#[test]
fn freshness_lifetime_table() {
    let ttl = Some(secs(120));
    // response received at T0+100 (matters only when Date is missing or invalid)
    let response_time = at(100);
    #[rustfmt::skip]
    let cases: Vec<(&str, &[(&str, &str)], Option<Duration>, Option<Duration>)> = vec![
        ("s-maxage wins", &[("cache-control", "max-age=60, s-maxage=300")], None, Some(secs(300))),
        ("s-maxage wins, smaller", &[("cache-control", "s-maxage=5"), ("cache-control", "max-age=60")], None, Some(secs(5))),
        ("max-age", &[("cache-control", "max-age=60")], None, Some(secs(60))),
        ("max-age=0", &[("cache-control", "max-age=0")], None, Some(secs(0))),
        ("max-age beats Expires", &[("cache-control", "max-age=60"), ("date", D_T0), ("expires", D_T0_PLUS_3600)], None, Some(secs(60))),
        ("max-age beats ttl", &[("cache-control", "max-age=60"), ("etag", "\"v1\"")], ttl, Some(secs(60))),
        ("Expires - Date", &[("date", D_T0), ("expires", D_T0_PLUS_3600)], None, Some(secs(3600))),
        ("Expires - Date, Date in the RFC 850 form", &[("date", "Sunday, 06-Nov-94 08:49:37 GMT"), ("expires", D_T0_PLUS_3600)], None, Some(secs(3600))),
        ("Expires - Date, Date in the asctime form", &[("date", "Sun Nov  6 08:49:37 1994"), ("expires", D_T0_PLUS_3600)], None, Some(secs(3600))),
        ("Expires without Date → response_time", &[("expires", D_T0_PLUS_3600)], None, Some(secs(3500))),
        ("Expires with invalid Date → response_time", &[("date", "yesterday"), ("expires", D_T0_PLUS_3600)], None, Some(secs(3500))),
        ("Expires \"0\"", &[("date", D_T0), ("expires", "0")], None, Some(secs(0))),
        ("Expires \"0\" beats ttl", &[("expires", "0"), ("etag", "\"v1\"")], ttl, Some(secs(0))),
        ("Expires before Date", &[("date", D_T0_PLUS_100), ("expires", D_T0)], None, Some(secs(0))),
        ("two Expires → earliest", &[("date", D_T0), ("expires", D_T0_PLUS_7200), ("expires", D_T0_PLUS_3600)], None, Some(secs(3600))),
        ("two Expires, one invalid", &[("date", D_T0), ("expires", D_T0_PLUS_3600), ("expires", "never")], None, Some(secs(0))),
        ("invalid max-age beats Expires", &[("cache-control", "max-age=abc"), ("date", D_T0), ("expires", D_T0_PLUS_3600)], None, Some(secs(0))),
        ("invalid s-maxage beats max-age", &[("cache-control", "max-age=60, s-maxage=\"\"")], None, Some(secs(0))),
        ("etag + ttl", &[("etag", "\"v1\"")], ttl, Some(secs(120))),
        ("last-modified + ttl", &[("last-modified", D_T0)], ttl, Some(secs(120))),
        ("etag, no ttl", &[("etag", "\"v1\"")], None, None),
        ("ttl, no validator", &[("date", D_T0)], ttl, None),
        ("nothing", &[], None, None),
        ("no-cache does not change the lifetime", &[("cache-control", "no-cache, max-age=60")], None, Some(secs(60))),
    ];
    for (name, headers, default_ttl, expected) in cases {
        assert_eq!(
            freshness_lifetime(&hm(headers), response_time, default_ttl),
            expected,
            "case {name}"
        );
    }
}

// ------------------------------------------------------------------------------------------
// current_age

#[test]
fn current_age_worked_examples() {
    // (name, headers, request_time, response_time, now, expected current_age) — times as T0+n.
    #[rustfmt::skip]
    let cases: Vec<(&str, &[(&str, &str)], u64, u64, u64, u64)> = vec![
        // Date 10 s before response_time, Age: 5, response_delay 2 s, resident 30 s:
        // apparent_age = 10 - 0 = 10; corrected_age_value = 5 + 2 = 7;
        // corrected_initial_age = max(10, 7) = 10; resident_time = 40 - 10 = 30;
        // current_age = 10 + 30 = 40.
        ("worked example", &[("date", D_T0), ("age", "5")], 8, 10, 40, 40),
        // Same, Age: 20 → corrected_age_value = 22 > apparent 10 → 22 + 30 = 52.
        ("Age dominates", &[("date", D_T0), ("age", "20")], 8, 10, 40, 52),
        // No Date, no Age: only response_delay 2 + resident 30.
        ("no Date, no Age", &[], 8, 10, 40, 32),
        // Date after response_time (origin clock ahead): apparent_age 0 → 0 + 2 + 30.
        ("Date in the future", &[("date", D_T0_PLUS_100)], 8, 10, 40, 32),
        ("invalid Date", &[("date", "yesterday"), ("age", "5")], 8, 10, 40, 37),
        ("invalid Age (negative)", &[("age", "-5")], 10, 10, 40, 30),
        ("invalid Age (text)", &[("age", "abc")], 10, 10, 40, 30),
        ("invalid Age (fraction)", &[("age", "1.5")], 10, 10, 40, 30),
        ("Age list → first member", &[("age", "7, 100")], 10, 10, 40, 37),
        ("Age lines → first line", &[("age", "7"), ("age", "100")], 10, 10, 40, 37),
        ("huge Age capped at 2^31", &[("age", "99999999999999999999")], 10, 10, 10, 2_147_483_648),
        // Clock going backwards never panics: now before response_time → resident 0;
        // request_time after response_time → response_delay 0.
        ("now before response_time", &[("age", "5")], 8, 10, 0, 7),
        ("request after response", &[("age", "5")], 20, 10, 40, 35),
        ("resident time only", &[("date", D_T0_PLUS_10)], 10, 10, 3610, 3600),
    ];
    for (name, headers, request, response, now, expected) in cases {
        assert_eq!(
            current_age(&hm(headers), timing(request, response), at(now)),
            secs(expected),
            "case {name}"
        );
    }
}

#[test]
fn current_age_keeps_subsecond_precision() {
    let t = Timing {
        request_time: at(0),
        response_time: at(0) + Duration::from_millis(250),
    };
    let age = current_age(&HeaderMap::new(), t, at(1));
    assert_eq!(age, Duration::from_millis(1000));
    assert_eq!(age_header_value(age), HeaderValue::from_static("1"));
}

// ------------------------------------------------------------------------------------------
// is_fresh

#[test]
fn is_fresh_boundaries() {
    let ttl = Some(secs(30));
    // (name, headers, request, response, now, default_ttl, fresh?) — times as T0+n.
    #[rustfmt::skip]
    let cases: Vec<(&str, &[(&str, &str)], u64, u64, u64, Option<Duration>, bool)> = vec![
        ("max-age 60, age 59", &[("cache-control", "max-age=60")], 0, 0, 59, None, true),
        ("max-age 60, age 60 (== lifetime → stale)", &[("cache-control", "max-age=60")], 0, 0, 60, None, false),
        ("max-age 60, age 61", &[("cache-control", "max-age=60")], 0, 0, 61, None, false),
        ("Age 50 + resident 9 = 59", &[("cache-control", "max-age=60"), ("age", "50")], 0, 0, 9, None, true),
        ("Age 50 + resident 10 = 60", &[("cache-control", "max-age=60"), ("age", "50")], 0, 0, 10, None, false),
        ("max-age=0", &[("cache-control", "max-age=0")], 0, 0, 0, None, false),
        ("s-maxage 10 despite max-age 60", &[("cache-control", "max-age=60, s-maxage=10")], 0, 0, 10, None, false),
        ("no-cache", &[("cache-control", "no-cache, max-age=60")], 0, 0, 0, None, false),
        ("NO-CACHE on another line", &[("cache-control", "max-age=60"), ("cache-control", "NO-CACHE")], 0, 0, 0, None, false),
        ("no lifetime", &[], 0, 0, 0, ttl, false),
        ("ttl + etag, age 29", &[("etag", "\"v1\"")], 0, 0, 29, ttl, true),
        ("ttl + etag, age 30", &[("etag", "\"v1\"")], 0, 0, 30, ttl, false),
        ("Expires \"0\"", &[("expires", "0")], 0, 0, 0, None, false),
        ("invalid max-age", &[("cache-control", "max-age=soon")], 0, 0, 0, None, false),
        // Date T0, Expires T0+3600, response at T0+10 (apparent age 10):
        // now T0+3599 → age 10 + 3589 = 3599 < 3600 → fresh; now T0+3600 → 3600 → stale.
        ("Expires, age 3599", &[("date", D_T0), ("expires", D_T0_PLUS_3600)], 10, 10, 3599, None, true),
        ("Expires, age 3600", &[("date", D_T0), ("expires", D_T0_PLUS_3600)], 10, 10, 3600, None, false),
        ("clock backwards, still fresh", &[("cache-control", "max-age=60")], 10, 10, 0, None, true),
    ];
    for (name, headers, request, response, now, default_ttl, expected) in cases {
        assert_eq!(
            is_fresh(
                &hm(headers),
                timing(request, response),
                at(now),
                default_ttl
            ),
            expected,
            "case {name}"
        );
    }
}

// ------------------------------------------------------------------------------------------
// may_serve_stale_on_error

#[test]
fn may_serve_stale_on_error_table() {
    #[rustfmt::skip]
    let cases: Vec<(&[&str], bool)> = vec![
        (&[], true),
        (&["max-age=60"], true),
        (&["public, max-age=60"], true),
        (&["max-age=60", "immutable"], true),
        (&["must-revalidate"], false),
        (&["max-age=60", "MUST-REVALIDATE"], false),
        (&["proxy-revalidate, max-age=60"], false),
        (&["s-maxage=60"], false),
        (&["s-maxage=0, public"], false),
        (&["no-cache"], false),
        (&["no-cache=\"set-cookie\""], false),
        (&["no-store"], false),
        (&["max-age=abc"], false),
    ];
    for (lines, expected) in cases {
        assert_eq!(
            may_serve_stale_on_error(&cc_lines(lines)),
            expected,
            "lines {lines:?}"
        );
    }
}

// ------------------------------------------------------------------------------------------
// age_header_value

#[test]
fn age_header_value_table() {
    let cases = [
        (Duration::ZERO, "0"),
        (Duration::from_millis(999), "0"),
        (Duration::from_millis(59_999), "59"),
        // Either side of each digit-count step in the first-hour table, and past it.
        (secs(9), "9"),
        (secs(10), "10"),
        (secs(99), "99"),
        (secs(100), "100"),
        (secs(999), "999"),
        (secs(1000), "1000"),
        (secs(3599), "3599"),
        (secs(3600), "3600"),
        (secs(2_147_483_648), "2147483648"),
        (secs(2_147_483_649), "2147483648"),
        (Duration::MAX, "2147483648"),
    ];
    for (age, expected) in cases {
        assert_eq!(
            age_header_value(age),
            HeaderValue::from_static(expected),
            "age {age:?}"
        );
    }
}

#[test]
fn age_header_value_matches_http_formatting_through_and_past_the_first_hour() {
    for n in 0..4000u64 {
        assert_eq!(age_header_value(secs(n)), HeaderValue::from(n), "age {n}");
    }
}

// ------------------------------------------------------------------------------------------
// merge_304

#[test]
fn merge_304_updates_metadata_and_keeps_body_headers() {
    let mut stored = hm(&[
        ("content-length", "1234"),
        ("content-encoding", "gzip"),
        ("content-type", "text/plain"),
        ("etag", "\"v1\""),
        ("cache-control", "max-age=60"),
        ("cache-control", "public"),
        ("date", D_T0),
        ("expires", D_T0_PLUS_3600),
        ("last-modified", D_T0),
        ("age", "30"),
        ("x-amz-meta-owner", "alice"),
        ("vary", "Origin"),
        ("vary", "Accept-Encoding"),
    ]);
    let not_modified = hm(&[
        ("etag", "\"v2\""),
        ("cache-control", "max-age=120"),
        ("date", D_T0_PLUS_3600),
        ("expires", D_T0_PLUS_7200),
        ("last-modified", D_T0_PLUS_10),
        ("vary", "Origin"),
        ("x-amz-request-id", "REQ2"),
        // body-bound: never taken
        ("content-length", "0"),
        ("content-encoding", "br"),
        ("content-range", "bytes 0-0/1234"),
        // hop-by-hop, and a field nominated by Connection
        ("connection", "close, X-Hop"),
        ("x-hop", "1"),
        ("keep-alive", "timeout=5"),
        ("transfer-encoding", "chunked"),
        ("proxy-connection", "keep-alive"),
    ]);
    merge_304(&mut stored, &not_modified);
    let expected = hm(&[
        ("content-length", "1234"),
        ("content-encoding", "gzip"),
        ("content-type", "text/plain"),
        ("etag", "\"v2\""),
        ("cache-control", "max-age=120"),
        ("date", D_T0_PLUS_3600),
        ("expires", D_T0_PLUS_7200),
        ("last-modified", D_T0_PLUS_10),
        ("x-amz-meta-owner", "alice"),
        ("vary", "Origin"),
        ("x-amz-request-id", "REQ2"),
    ]);
    assert_eq!(stored, expected);
}

#[test]
fn merge_304_age_and_date_describe_the_new_exchange() {
    // 304 with Age and Content-Type: both taken (Age replaces the stored one).
    let mut stored = hm(&[
        ("content-type", "text/plain"),
        ("date", D_T0),
        ("age", "30"),
        ("cache-control", "max-age=60"),
    ]);
    merge_304(
        &mut stored,
        &hm(&[
            ("age", "3"),
            ("content-type", "text/markdown"),
            ("date", D_T0_PLUS_100),
        ]),
    );
    assert_eq!(
        stored,
        hm(&[
            ("content-type", "text/markdown"),
            ("date", D_T0_PLUS_100),
            ("age", "3"),
            ("cache-control", "max-age=60"),
        ])
    );

    // 304 without Date or Age: both dropped from the stored entry, the rest untouched.
    let mut stored = hm(&[("date", D_T0), ("age", "30"), ("expires", D_T0_PLUS_3600)]);
    merge_304(&mut stored, &hm(&[("etag", "\"v1\"")]));
    assert_eq!(
        stored,
        hm(&[("expires", D_T0_PLUS_3600), ("etag", "\"v1\"")])
    );
}

#[test]
fn merge_304_then_fresh_again_with_new_timing() {
    // Stored at T0 with max-age=60; stale by T0+100. Revalidated at T0+100..T0+101 with a 304
    // that has no Date: the entry's age restarts from the new exchange.
    let mut stored = hm(&[
        ("date", D_T0),
        ("age", "5"),
        ("cache-control", "max-age=60"),
    ]);
    assert!(!is_fresh(&stored, timing(0, 0), at(100), None));
    merge_304(&mut stored, &hm(&[("cache-control", "max-age=60")]));
    let renewed = timing(100, 101);
    // age at T0+131 = response_delay 1 + resident 30 = 31 < 60
    assert_eq!(current_age(&stored, renewed, at(131)), secs(31));
    assert!(is_fresh(&stored, renewed, at(131), None));
    assert!(!is_fresh(&stored, renewed, at(160), None));
}
