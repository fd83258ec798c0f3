//! `vary::merge`, `single` and `strip_access_control`: header surgery helpers.

use http::header::{ORIGIN, VARY};
use http::HeaderMap;

use super::super::{single, strip_access_control, vary, DuplicateHeader};
use super::{header_list, hv};

#[test]
fn merge_table() {
    // (existing Vary lines, tokens, expected lines)
    let cases: &[(&[&'static str], &[&str], &[&str])] = &[
        (&[], &["Origin"], &["Origin"]),
        (&[], &[], &[]),
        (&["Accept-Encoding"], &[], &["Accept-Encoding"]),
        (&["Accept-Encoding"], &["Origin"], &["Accept-Encoding, Origin"]),
        (&["origin"], &["Origin"], &["origin"]),
        (&["A", "B, c"], &["C", "Origin", "a"], &["A, B, c, Origin"]),
        (&["A,A , a"], &[], &["A"]),
        (&[" , ,A,"], &["Origin"], &["A, Origin"]),
        (&["*"], &["Origin"], &["*"]),
        (&["Accept, *"], &["Origin"], &["*"]),
        (&["Accept", "*"], &[], &["*"]),
        (
            &["Accept-Encoding"],
            &["Origin", "Access-Control-Request-Headers", "Access-Control-Request-Method", "origin"],
            &["Accept-Encoding, Origin, Access-Control-Request-Headers, Access-Control-Request-Method"],
        ),
    ];
    for &(existing, tokens, want) in cases {
        let mut h = HeaderMap::new();
        for v in existing {
            h.append(VARY, hv(v));
        }
        vary::merge(&mut h, tokens);
        let got: Vec<&str> = h
            .get_all(VARY)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(got, want, "{existing:?} + {tokens:?}");
    }
}

#[test]
fn single_value() {
    let mut h = HeaderMap::new();
    assert_eq!(single(&h, &ORIGIN), Ok(None));
    h.insert(ORIGIN, hv("http://a.com"));
    assert_eq!(single(&h, &ORIGIN), Ok(Some(&hv("http://a.com"))));
    h.append(ORIGIN, hv("http://b.com"));
    assert_eq!(single(&h, &ORIGIN), Err(DuplicateHeader));
}

#[test]
fn strip_removes_only_access_control() {
    let mut h = HeaderMap::new();
    h.append("access-control-allow-origin", hv("*"));
    h.append("access-control-allow-origin", hv("http://b"));
    h.insert("access-control-allow-private-network", hv("true"));
    h.insert("x-access-control-allow-origin", hv("kept"));
    h.insert("vary", hv("Origin"));
    strip_access_control(&mut h);
    let want = vec![
        ("vary".to_string(), "Origin".to_string()),
        (
            "x-access-control-allow-origin".to_string(),
            "kept".to_string(),
        ),
    ];
    assert_eq!(header_list(&h), want);
}
