//! STUB (to be replaced): S3's three CORS formats, detected from the content.
use crate::cors::{Location, RuleSpec};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RulesFormat {
    /// `<CORSConfiguration>` as PutBucketCors takes it.
    Xml,
    /// `{"CORSRules": [...]}` as `aws s3api put-bucket-cors` takes it.
    CorsRulesJson,
    /// The S3 console's bare JSON array of rules.
    ConsoleJson,
}

/// Rules read from a document, with enough position data to point at any value.
#[derive(Debug, Clone)]
pub struct ParsedRules {
    pub format: RulesFormat,
    pub rules: Vec<RuleSpec>,
}

impl ParsedRules {
    /// 1-based (line, column) of the value `at` names; falls back to the field, then
    /// the rule, then the document start.
    pub fn position(&self, _at: Location) -> (usize, usize) {
        (1, 1)
    }
}

/// A document that could not be read as any of the three formats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Detects the format from the content and parses it. Returns every error found.
pub fn parse(_text: &str) -> Result<ParsedRules, Vec<SyntaxError>> {
    Err(vec![])
}
