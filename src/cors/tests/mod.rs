//! Table-driven tests for the CORS engine, one file per concern. Expected values are
//! written out from the spec (../shared/spec/s3-cors-semantics.md), never computed by
//! the code under test.

mod actual;
mod matching;
mod preflight;
mod validate;
mod vary;

use http::{HeaderMap, HeaderValue};

use super::{CorsPolicy, RuleSpec};

/// A rule with origins and methods only.
pub(super) fn rule(origins: &[&str], methods: &[&str]) -> RuleSpec {
    RuleSpec {
        allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
        allowed_methods: methods.iter().map(|s| s.to_string()).collect(),
        ..RuleSpec::default()
    }
}

/// A rule with origins, methods and allowed headers.
pub(super) fn rule_h(origins: &[&str], methods: &[&str], headers: &[&str]) -> RuleSpec {
    RuleSpec {
        allowed_headers: headers.iter().map(|s| s.to_string()).collect(),
        ..rule(origins, methods)
    }
}

pub(super) fn policy(rules: Vec<RuleSpec>) -> CorsPolicy {
    match CorsPolicy::compile(&rules) {
        Ok(p) => p,
        Err(e) => panic!("test policy must compile: {e:?}"),
    }
}

pub(super) fn hv(s: &'static str) -> HeaderValue {
    HeaderValue::from_static(s)
}

/// Every header as (name, value) text, sorted, so a test can state the exact set.
pub(super) fn header_list(map: &HeaderMap) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = map
        .iter()
        .map(|(k, v)| {
            let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
            (k.as_str().to_string(), value)
        })
        .collect();
    out.sort();
    out
}

/// Asserts the exact header set (order-insensitive across names).
pub(super) fn assert_headers(map: &HeaderMap, expected: &[(&str, &str)]) {
    let mut want: Vec<(String, String)> = expected
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    want.sort();
    assert_eq!(header_list(map), want);
}
