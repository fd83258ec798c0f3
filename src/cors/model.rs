//! S3's CORSRule model as stored by PutBucketCors: verbatim strings, order kept.
//! Validation lives in `validate.rs`; this file only holds the shapes shared with
//! the format parsers in `config`.

/// One CORSRule as S3 stores it (API_CORSRule). Strings are kept verbatim: no
/// trimming, no case folding, no normalisation of origins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleSpec {
    pub id: Option<String>,
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age_seconds: Option<i64>,
}

/// A rule field, named as in S3's XML (singular element names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Id,
    AllowedOrigin,
    AllowedMethod,
    AllowedHeader,
    ExposeHeader,
    MaxAgeSeconds,
}

/// Where a validation error sits in a rule list, so a format parser can map it back
/// to a line and column of the file the user wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    /// Index of the rule, `None` for document-level errors (e.g. no rules at all).
    pub rule: Option<usize>,
    pub field: Option<Field>,
    /// Index of the value inside a repeated field.
    pub item: Option<usize>,
}

/// S3's error codes for a rejected PutBucketCors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    MalformedXml,
    InvalidRequest,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedXml => "MalformedXML",
            ErrorCode::InvalidRequest => "InvalidRequest",
        }
    }
}

/// A PutBucketCors validation failure, with S3's code and message wording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub at: Location,
    pub code: ErrorCode,
    pub message: String,
}

impl std::fmt::Display for ValidationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for ValidationError {}
