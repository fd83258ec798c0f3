//! PutBucketCors validation (spec §1.1, §1.3): every error in a rule list, each with
//! S3's code, S3's wording where it is known, and the most precise [`Location`] we can
//! give. Pure checks over [`RuleSpec`]; compiling is `policy.rs`'s job, and it runs only
//! once this returns no errors.
//!
//! Beyond S3, values that would end up in (or be compared with) response headers must
//! not contain control characters, so a rule can never smuggle CR/LF into a response.

use super::model::{ErrorCode, Field, Location, RuleSpec, ValidationError};

/// At most this many rules per configuration [elements].
pub const MAX_RULES: usize = 100;
/// At most this many characters in a rule ID [rule].
pub const MAX_ID_CHARS: usize = 255;
/// The five methods S3 accepts in AllowedMethod, case-sensitive.
pub const METHODS: [&str; 5] = ["GET", "PUT", "HEAD", "POST", "DELETE"];

const MALFORMED: &str =
    "The XML you provided was not well-formed or did not validate against our published schema";

/// Validates a whole rule list; an empty result means it compiles.
pub fn validate(rules: &[RuleSpec]) -> Vec<ValidationError> {
    let mut errs = Vec::new();
    if rules.is_empty() {
        errs.push(err(
            Location::default(),
            ErrorCode::MalformedXml,
            MALFORMED.into(),
        ));
    }
    if rules.len() > MAX_RULES {
        // spec §1.3 inferred ([SC], MinIO): InvalidRequest, not LocalStack's MalformedXML.
        let msg = "The number of CORS rules should not exceed allowed limit of 100 rules.";
        errs.push(err(
            Location::default(),
            ErrorCode::InvalidRequest,
            msg.into(),
        ));
    }
    for (i, rule) in rules.iter().enumerate() {
        validate_rule(i, rule, &mut errs);
    }
    errs
}

fn validate_rule(i: usize, rule: &RuleSpec, errs: &mut Vec<ValidationError>) {
    let at = |field, item| Location {
        rule: Some(i),
        field: Some(field),
        item,
    };
    if let Some(id) = &rule.id {
        // spec §5 open #4: S3's code and wording are unknown; we borrow the wording S3
        // uses for over-long lifecycle rule IDs.
        if id.chars().count() > MAX_ID_CHARS {
            let msg = "ID length should not exceed allowed limit of 255";
            errs.push(err(
                at(Field::Id, None),
                ErrorCode::InvalidRequest,
                msg.into(),
            ));
        }
    }
    if rule.allowed_origins.is_empty() {
        errs.push(err(
            at(Field::AllowedOrigin, None),
            ErrorCode::MalformedXml,
            MALFORMED.into(),
        ));
    }
    if rule.allowed_methods.is_empty() {
        errs.push(err(
            at(Field::AllowedMethod, None),
            ErrorCode::MalformedXml,
            MALFORMED.into(),
        ));
    }
    for (j, origin) in rule.allowed_origins.iter().enumerate() {
        let loc = at(Field::AllowedOrigin, Some(j));
        check_one_wildcard("AllowedOrigin", origin, loc, errs);
        check_no_controls("AllowedOrigin", origin, loc, errs);
    }
    for (j, method) in rule.allowed_methods.iter().enumerate() {
        if !METHODS.contains(&method.as_str()) {
            // AWS snapshot: name appended, no quotes. An empty method ends in "is ".
            let msg = format!(
                "Found unsupported HTTP method in CORS config. Unsupported method is {method}"
            );
            errs.push(err(
                at(Field::AllowedMethod, Some(j)),
                ErrorCode::InvalidRequest,
                msg,
            ));
        }
    }
    for (j, header) in rule.allowed_headers.iter().enumerate() {
        let loc = at(Field::AllowedHeader, Some(j));
        // spec §1.3 inferred: same wording as the AllowedOrigin snapshot.
        check_one_wildcard("AllowedHeader", header, loc, errs);
        check_no_controls("AllowedHeader", header, loc, errs);
    }
    for (j, header) in rule.expose_headers.iter().enumerate() {
        let loc = at(Field::ExposeHeader, Some(j));
        if header.contains('*') {
            // spec §1.3 inferred: the old S3 sentence, prefixed with the value the way the
            // other wildcard messages quote it.
            let msg = format!(
                "ExposeHeader \"{}\" contains wildcard. We currently do not support wildcard for ExposeHeader.",
                header.escape_debug()
            );
            errs.push(err(loc, ErrorCode::InvalidRequest, msg));
        } else if !is_token(header) {
            // spec §1.1 inferred: S3 reportedly rejects anything but letters, digits and
            // `-`. We accept any RFC 9110 §5.6.2 token (so `x_y` passes) and reject the
            // rest, including "" and "ETag, Date" (a list inside one value), because the
            // value is rendered verbatim into Access-Control-Expose-Headers.
            let msg = format!(
                "ExposeHeader \"{}\" contains invalid character.",
                header.escape_debug()
            );
            errs.push(err(loc, ErrorCode::InvalidRequest, msg));
        }
    }
    if let Some(age) = rule.max_age_seconds {
        // spec §5 open #4: code and wording unknown; this is our choice.
        if age < 0 {
            let msg =
                format!("MaxAgeSeconds {age} is not valid. It must be a non-negative integer.");
            errs.push(err(
                at(Field::MaxAgeSeconds, None),
                ErrorCode::InvalidRequest,
                msg,
            ));
        }
    }
}

fn check_one_wildcard(field: &str, value: &str, at: Location, errs: &mut Vec<ValidationError>) {
    if value.matches('*').count() > 1 {
        let msg = format!(
            "{field} \"{}\" can not have more than one wildcard.",
            value.escape_debug()
        );
        errs.push(err(at, ErrorCode::InvalidRequest, msg));
    }
}

/// Not an S3 rule: control characters (CR, LF, NUL, DEL, …) can never be part of a
/// header value a browser sends, and must never reach a response header.
fn check_no_controls(field: &str, value: &str, at: Location, errs: &mut Vec<ValidationError>) {
    if value.chars().any(|c| c.is_ascii_control()) {
        let msg = format!(
            "{field} \"{}\" contains invalid character.",
            value.escape_debug()
        );
        errs.push(err(at, ErrorCode::InvalidRequest, msg));
    }
}

/// RFC 9110 §5.6.2 `token`: one or more tchar.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn err(at: Location, code: ErrorCode, message: String) -> ValidationError {
    ValidationError { at, code, message }
}
