//! Single-`*` wildcard patterns, as S3 uses them for AllowedOrigin and AllowedHeader
//! (spec §2.1, §2.2). Owns only the matching of one value against one pattern; which
//! patterns a rule has, and in which order rules are tried, is `policy.rs`'s job.
//! Matching never allocates.

/// One compiled pattern. Validation (`validate.rs`) guarantees at most one `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pattern {
    /// `*` alone: matches every value, including non-URLs such as `whatever` (spec §2.1).
    Any,
    /// No `*`: byte-for-byte equality.
    Exact(Box<[u8]>),
    /// `prefix*suffix`: the `*` matches any run, including the empty run and `.`, `/`,
    /// `:`; anchored at both ends, so a value needs at least `prefix + suffix` bytes
    /// (LocalStack's "at least one character" is the divergence we do not copy).
    Wild {
        prefix: Box<[u8]>,
        suffix: Box<[u8]>,
    },
}

impl Pattern {
    /// Compiles a pattern. If a second `*` slipped through, it is taken literally as
    /// part of the suffix (validation rejects such patterns before we get here).
    pub(crate) fn parse(raw: &[u8]) -> Pattern {
        if raw == b"*" {
            return Pattern::Any;
        }
        match raw.iter().position(|&b| b == b'*') {
            None => Pattern::Exact(raw.into()),
            Some(star) => Pattern::Wild {
                prefix: raw[..star].into(),
                suffix: raw[star + 1..].into(),
            },
        }
    }

    /// Compiles a header-name pattern: lowercased once here, so matching only has to
    /// fold the request side.
    pub(crate) fn parse_lowercase(raw: &[u8]) -> Pattern {
        Pattern::parse(&raw.to_ascii_lowercase())
    }

    /// Case-sensitive byte match (origins; spec §5 open #1: we assume S3 compares
    /// origins byte for byte, as every clone does).
    pub(crate) fn matches(&self, value: &[u8]) -> bool {
        self.matches_with(value, |a, b| a == b)
    }

    /// ASCII case-insensitive match (header names, spec §2.2). `self` is lowercase.
    pub(crate) fn matches_ignore_case(&self, value: &[u8]) -> bool {
        self.matches_with(value, <[u8]>::eq_ignore_ascii_case)
    }

    fn matches_with(&self, value: &[u8], eq: impl Fn(&[u8], &[u8]) -> bool) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Exact(lit) => eq(lit, value),
            Pattern::Wild { prefix, suffix } => {
                value.len() >= prefix.len() + suffix.len()
                    && eq(prefix, &value[..prefix.len()])
                    && eq(suffix, &value[value.len() - suffix.len()..])
            }
        }
    }
}
