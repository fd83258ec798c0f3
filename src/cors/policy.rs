//! STUB (to be replaced): compiled policy and the match decision.
use super::model::{RuleSpec, ValidationError};

/// A validated, compiled rule list. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct CorsPolicy {
    specs: Vec<RuleSpec>,
}

/// Why a rule did not match: the first condition that failed for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Origin,
    Method,
    /// The requested header at this byte range of the Access-Control-Request-Headers value.
    Header {
        start: usize,
        end: usize,
    },
}

/// Result of scanning the rules in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Index of the first rule that fully matched.
    Matched(usize),
    /// No rule matched; the rule that came closest and the condition it failed on
    /// (`None` when the policy has no rules).
    NoMatch(Option<(usize, Failure)>),
    /// Access-Control-Request-Headers over the bound (names or bytes): refused unread.
    TooManyHeaders,
}

impl CorsPolicy {
    /// Validates like S3's PutBucketCors (all errors, not the first) and compiles.
    pub fn compile(rules: &[RuleSpec]) -> Result<CorsPolicy, Vec<ValidationError>> {
        Ok(CorsPolicy {
            specs: rules.to_vec(),
        })
    }

    /// The rules as written, in order.
    pub fn rules(&self) -> &[RuleSpec] {
        &self.specs
    }

    /// First full match on origin + method + every requested header.
    pub fn evaluate(
        &self,
        _origin: &[u8],
        _method: &[u8],
        _request_headers: Option<&[u8]>,
    ) -> Decision {
        Decision::NoMatch(None)
    }
}
