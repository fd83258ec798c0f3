//! Conditional requests (RFC 9110 §13) against one object's validators. Pure (std +
//! `http` + `httpdate`): the caller supplies the ETag and Last-Modified it computed from
//! file metadata; nothing here touches the file system.

use std::time::SystemTime;

use http::{header, HeaderMap, HeaderValue, Method};

/// What a client can compare against: the object's current validators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validators {
    /// The strong entity tag, with its quotes (`"…"`), as sent in `ETag`.
    pub etag: String,
    /// Whole seconds, as `Last-Modified` carries; `None` when the file time cannot be
    /// written as an HTTP date (before 1970 or after 9999), which disables date checks.
    pub last_modified: Option<SystemTime>,
}

/// The result of evaluating the precondition headers of a GET or HEAD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// No precondition stops the request.
    Proceed,
    /// 304: the client's copy is current.
    NotModified,
    /// 412, naming the header that failed (S3 reports it in `<Condition>`).
    Failed(&'static str),
}

/// Evaluates `If-Match`, `If-Unmodified-Since`, `If-None-Match` and `If-Modified-Since`
/// in the order of RFC 9110 §13.2.2, for an object that exists.
pub fn evaluate(method: &Method, headers: &HeaderMap, v: &Validators) -> Outcome {
    let safe = method == Method::GET || method == Method::HEAD;
    // Step 1 / 2: If-Match, else If-Unmodified-Since.
    if headers.contains_key(header::IF_MATCH) {
        let matched = match parse_tags(headers.get_all(header::IF_MATCH)) {
            Some(Tags::Any) => true, // §13.1.1: "*" is true for any current representation.
            Some(Tags::List(tags)) => tags.iter().any(|t| strong_eq(t, &v.etag)),
            // An unreadable condition must not be assumed true.
            None => false,
        };
        if !matched {
            return Outcome::Failed("If-Match");
        }
    } else if let (Some(since), Some(lm)) =
        (date(headers, header::IF_UNMODIFIED_SINCE), v.last_modified)
    {
        if lm > since {
            return Outcome::Failed("If-Unmodified-Since");
        }
    }
    // Step 3 / 4: If-None-Match, else If-Modified-Since (GET/HEAD only, §13.1.3).
    if headers.contains_key(header::IF_NONE_MATCH) {
        let matched = match parse_tags(headers.get_all(header::IF_NONE_MATCH)) {
            Some(Tags::Any) => true,
            // §13.1.2 uses the weak comparison.
            Some(Tags::List(tags)) => tags.iter().any(|t| t.opaque == opaque(&v.etag)),
            // Unreadable: treat as "no tag matched" and serve the object.
            None => false,
        };
        if matched {
            return if safe {
                Outcome::NotModified
            } else {
                Outcome::Failed("If-None-Match")
            };
        }
    } else if safe {
        if let (Some(since), Some(lm)) = (date(headers, header::IF_MODIFIED_SINCE), v.last_modified)
        {
            if lm <= since {
                return Outcome::NotModified;
            }
        }
    }
    Outcome::Proceed
}

/// RFC 9110 §13.1.5: whether a `Range` may be honoured. Absent `If-Range` → yes; an
/// entity tag must match strongly; a date must equal `Last-Modified` exactly; anything
/// else (weak tag, unreadable value) → no, and the full object is served.
pub fn if_range_holds(headers: &HeaderMap, v: &Validators) -> bool {
    let Some(value) = headers.get(header::IF_RANGE) else {
        return true;
    };
    let Ok(text) = value.to_str() else {
        return false;
    };
    let text = text.trim();
    if text.starts_with('"') || text.starts_with("W/") {
        return match parse_tag_list(text) {
            Some(Tags::List(tags)) if tags.len() == 1 => strong_eq(&tags[0], &v.etag),
            _ => false,
        };
    }
    match (httpdate::parse_http_date(text), v.last_modified) {
        (Ok(date), Some(lm)) => date == lm,
        _ => false,
    }
}

/// One entity tag of a request header, borrowed from it.
#[derive(Debug, PartialEq, Eq)]
struct Tag<'a> {
    weak: bool,
    /// Between the quotes.
    opaque: &'a str,
}

#[derive(Debug, PartialEq, Eq)]
enum Tags<'a> {
    Any,
    List(Vec<Tag<'a>>),
}

/// §13.1.1: strong comparison: both strong and the same characters.
fn strong_eq(tag: &Tag<'_>, etag: &str) -> bool {
    !tag.weak && tag.opaque == opaque(etag)
}

fn opaque(etag: &str) -> &str {
    etag.trim_matches('"')
}

fn date(headers: &HeaderMap, name: header::HeaderName) -> Option<SystemTime> {
    // §13.1.3/§13.1.4: an invalid date, or a list of them, is ignored.
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return None;
    }
    httpdate::parse_http_date(first.to_str().ok()?.trim()).ok()
}

/// Joins every line of a header (a list may be split across lines, RFC 9110 §5.3) and
/// parses it. `None` when any line is not a valid list.
fn parse_tags<'a>(values: http::header::GetAll<'a, HeaderValue>) -> Option<Tags<'a>> {
    let mut all = Vec::new();
    for value in values {
        match parse_tag_list(value.to_str().ok()?)? {
            // "*" must stand alone (§13.1.1 grammar: "*" / #entity-tag).
            Tags::Any => return Some(Tags::Any),
            Tags::List(tags) => all.extend(tags),
        }
    }
    Some(Tags::List(all))
}

/// `"*" / #entity-tag` where `entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE`. The opaque
/// part may itself contain commas, so the list is scanned, not split.
fn parse_tag_list(text: &str) -> Option<Tags<'_>> {
    let trimmed = text.trim_matches([' ', '\t']);
    if trimmed == "*" {
        return Some(Tags::Any);
    }
    let mut tags = Vec::new();
    let mut rest = trimmed;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            break;
        }
        let (weak, quoted) = match rest.strip_prefix("W/") {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let inner = quoted.strip_prefix('"')?;
        let end = inner.find('"')?;
        tags.push(Tag {
            weak,
            opaque: &inner[..end],
        });
        rest = &inner[end + 1..];
        // After a tag only a separator or the end may follow.
        let next = rest.trim_start_matches([' ', '\t']);
        if !(next.is_empty() || next.starts_with(',')) {
            return None;
        }
    }
    if tags.is_empty() {
        return None;
    }
    Some(Tags::List(tags))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    // 2024-01-02T03:04:05Z
    const LM: u64 = 1_704_164_645;
    const LM_HTTP: &str = "Tue, 02 Jan 2024 03:04:05 GMT";
    const EARLIER: &str = "Tue, 02 Jan 2024 03:04:04 GMT";
    const LATER: &str = "Tue, 02 Jan 2024 03:04:06 GMT";

    fn v() -> Validators {
        Validators {
            etag: "\"abc\"".into(),
            last_modified: Some(UNIX_EPOCH + Duration::from_secs(LM)),
        }
    }

    fn h(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, val) in pairs {
            m.append(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(val).unwrap(),
            );
        }
        m
    }

    fn get(pairs: &[(&str, &str)]) -> Outcome {
        evaluate(&Method::GET, &h(pairs), &v())
    }

    #[test]
    fn no_conditions() {
        assert_eq!(get(&[]), Outcome::Proceed);
    }

    #[test]
    fn if_match() {
        assert_eq!(get(&[("if-match", "\"abc\"")]), Outcome::Proceed);
        assert_eq!(get(&[("if-match", "*")]), Outcome::Proceed);
        assert_eq!(get(&[("if-match", "\"x\", \"abc\"")]), Outcome::Proceed);
        assert_eq!(
            get(&[("if-match", "\"x\""), ("if-match", "\"abc\"")]),
            Outcome::Proceed
        );
        assert_eq!(get(&[("if-match", "\"x\"")]), Outcome::Failed("If-Match"));
        // Strong comparison: a weak tag never matches.
        assert_eq!(
            get(&[("if-match", "W/\"abc\"")]),
            Outcome::Failed("If-Match")
        );
        assert_eq!(get(&[("if-match", "abc")]), Outcome::Failed("If-Match"));
    }

    #[test]
    fn if_unmodified_since() {
        assert_eq!(get(&[("if-unmodified-since", LM_HTTP)]), Outcome::Proceed);
        assert_eq!(get(&[("if-unmodified-since", LATER)]), Outcome::Proceed);
        assert_eq!(
            get(&[("if-unmodified-since", EARLIER)]),
            Outcome::Failed("If-Unmodified-Since")
        );
        // Ignored when If-Match is present (§13.2.2 step 2), or invalid.
        assert_eq!(
            get(&[("if-match", "\"abc\""), ("if-unmodified-since", EARLIER)]),
            Outcome::Proceed
        );
        assert_eq!(
            get(&[("if-unmodified-since", "yesterday")]),
            Outcome::Proceed
        );
    }

    #[test]
    fn if_none_match() {
        assert_eq!(get(&[("if-none-match", "\"abc\"")]), Outcome::NotModified);
        // Weak comparison.
        assert_eq!(get(&[("if-none-match", "W/\"abc\"")]), Outcome::NotModified);
        assert_eq!(get(&[("if-none-match", "*")]), Outcome::NotModified);
        assert_eq!(get(&[("if-none-match", "\"x\"")]), Outcome::Proceed);
        assert_eq!(
            evaluate(&Method::HEAD, &h(&[("if-none-match", "\"abc\"")]), &v()),
            Outcome::NotModified
        );
        assert_eq!(
            evaluate(&Method::PUT, &h(&[("if-none-match", "*")]), &v()),
            Outcome::Failed("If-None-Match")
        );
    }

    #[test]
    fn if_modified_since() {
        assert_eq!(get(&[("if-modified-since", LM_HTTP)]), Outcome::NotModified);
        assert_eq!(get(&[("if-modified-since", LATER)]), Outcome::NotModified);
        assert_eq!(get(&[("if-modified-since", EARLIER)]), Outcome::Proceed);
        assert_eq!(get(&[("if-modified-since", "garbage")]), Outcome::Proceed);
        // Ignored when If-None-Match is present (§13.1.3).
        assert_eq!(
            get(&[("if-none-match", "\"x\""), ("if-modified-since", LATER)]),
            Outcome::Proceed
        );
        // Only for GET and HEAD.
        assert_eq!(
            evaluate(&Method::PUT, &h(&[("if-modified-since", LATER)]), &v()),
            Outcome::Proceed
        );
    }

    #[test]
    fn if_match_before_if_none_match() {
        assert_eq!(
            get(&[("if-match", "\"x\""), ("if-none-match", "\"abc\"")]),
            Outcome::Failed("If-Match")
        );
    }

    #[test]
    fn if_range() {
        assert!(if_range_holds(&h(&[]), &v()));
        assert!(if_range_holds(&h(&[("if-range", "\"abc\"")]), &v()));
        assert!(if_range_holds(&h(&[("if-range", LM_HTTP)]), &v()));
        assert!(!if_range_holds(&h(&[("if-range", "\"x\"")]), &v()));
        assert!(!if_range_holds(&h(&[("if-range", "W/\"abc\"")]), &v()));
        assert!(!if_range_holds(&h(&[("if-range", LATER)]), &v()));
        assert!(!if_range_holds(&h(&[("if-range", "nonsense")]), &v()));
    }

    #[test]
    fn tag_list_grammar() {
        assert_eq!(
            parse_tag_list("\"a,b\" , W/\"c\""),
            Some(Tags::List(vec![
                Tag {
                    weak: false,
                    opaque: "a,b"
                },
                Tag {
                    weak: true,
                    opaque: "c"
                },
            ]))
        );
        assert_eq!(parse_tag_list(" * "), Some(Tags::Any));
        assert_eq!(parse_tag_list("\"a\" junk"), None);
        assert_eq!(parse_tag_list("\"unterminated"), None);
        assert_eq!(parse_tag_list(""), None);
        assert_eq!(parse_tag_list(", ,"), None);
    }
}
