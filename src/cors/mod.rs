//! The CORS engine. Pure: std + `http` only, no I/O, no async.
//!
//! It owns S3's CORS semantics (../shared/spec/s3-cors-semantics.md): PutBucketCors
//! validation, rules compiled once at load, the first-full-match decision with its
//! reasons, and the exact headers and S3 error bodies that follow, in two modes.
//! The proxy hands it header values and applies what it returns; nothing here knows
//! about sockets, bodies or time.
//!
//! Layout: `model` (rule shapes) → `validate` (PutBucketCors errors) → `pattern`
//! (single-`*` matching) → `policy` (compile, evaluate, explain) → `render` (success
//! headers, [`Decoration`], [`Outcome`]) → `respond` (per-mode answers) with
//! `s3_error` (XML bodies) and `vary` (Vary merging).

mod model;
mod pattern;
mod policy;
mod render;
mod respond;
pub mod s3_error;
mod validate;
pub mod vary;

#[cfg(test)]
mod tests;

pub use model::{ErrorCode, Field, Location, RuleSpec, ValidationError};
pub use policy::{
    header_names, CorsPolicy, Decision, Failure, RuleVerdict, MAX_REQUEST_HEADERS_BYTES,
    MAX_REQUEST_HEADER_NAMES,
};
pub use render::{strip_access_control, Decoration, Miss, Outcome};
pub use respond::{
    answer_preflight, check_actual, single, Actual, ActualInput, DuplicateHeader, LocalAnswer,
    Mode, PreflightInput, Resource,
};
pub use validate::{validate, MAX_ID_CHARS, MAX_RULES, METHODS};
