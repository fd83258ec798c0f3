//! [`MethodSet`]: the HTTP methods a site forwards (and signs), as a bitset.
//!
//! Only the five methods S3 object operations use exist here; anything else (PATCH,
//! TRACE, CONNECT, extension methods) is never in a set, so it can never be allowed.
//! OPTIONS is absent on purpose: preflights are answered before access control.
//! Pure: std + `http`.
use std::fmt;

use http::Method;

/// The methods a set can hold, in display order, each with its bit.
const KNOWN: [(&str, u8); 5] = [
    ("GET", 1),
    ("HEAD", 1 << 1),
    ("PUT", 1 << 2),
    ("POST", 1 << 3),
    ("DELETE", 1 << 4),
];

/// GET HEAD PUT POST DELETE as a bitset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MethodSet(u8);

impl MethodSet {
    /// GET and HEAD: the default for a site that only serves objects.
    pub const READ_ONLY: MethodSet = MethodSet(1 | 1 << 1);

    /// Parses names as S3's `AllowedMethods` spells them: upper case, exactly (a
    /// lower-case `get` is a typo we report, not a method we guess). Duplicates are
    /// fine; an empty list is an error, since a site that forwards nothing is a
    /// configuration mistake rather than a policy.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<MethodSet, String> {
        let mut bits = 0;
        let mut any = false;
        for name in names {
            any = true;
            match KNOWN.iter().find(|(n, _)| *n == name) {
                Some((_, bit)) => bits |= bit,
                None => {
                    return Err(format!(
                        "unknown method {name:?}: expected GET, HEAD, PUT, POST or DELETE"
                    ))
                }
            }
        }
        if !any {
            return Err("the method list is empty: a site must forward at least one".into());
        }
        Ok(MethodSet(bits))
    }

    /// Whether `m` is in the set; methods outside the five never are.
    pub fn contains(&self, m: &Method) -> bool {
        KNOWN
            .iter()
            .any(|(n, bit)| self.0 & bit != 0 && *n == m.as_str())
    }
}

impl fmt::Display for MethodSet {
    /// "GET, HEAD": the form an `Allow`-style message or a log wants.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (name, bit) in KNOWN {
            if self.0 & bit != 0 {
                if !first {
                    f.write_str(", ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays_in_canonical_order() {
        let set = MethodSet::parse(["PUT", "GET", "GET", "DELETE"]).unwrap();
        assert_eq!(set.to_string(), "GET, PUT, DELETE");
        assert!(set.contains(&Method::PUT));
        assert!(!set.contains(&Method::HEAD));
        assert_eq!(MethodSet::READ_ONLY.to_string(), "GET, HEAD");
        assert_eq!(MethodSet::parse(["HEAD", "GET"]), Ok(MethodSet::READ_ONLY));
    }

    #[test]
    fn refuses_unknown_lower_case_and_empty() {
        for bad in [
            &["get"][..],
            &["OPTIONS"],
            &["PATCH"],
            &["GET", "TRACE"],
            &[""],
        ] {
            let err = MethodSet::parse(bad.iter().copied()).unwrap_err();
            assert!(err.contains("unknown method"), "{bad:?}: {err}");
        }
        let err = MethodSet::parse([]).unwrap_err();
        assert!(err.contains("empty"), "{err}");
    }

    #[test]
    fn never_contains_other_methods() {
        let all = MethodSet::parse(["GET", "HEAD", "PUT", "POST", "DELETE"]).unwrap();
        for m in ["PATCH", "TRACE", "CONNECT", "OPTIONS", "PROPFIND"] {
            let m = Method::from_bytes(m.as_bytes()).unwrap();
            assert!(!all.contains(&m), "{m}");
        }
    }
}
