//! The CORS engine. Pure: std + `http` only, no I/O, no async.
//!
//! It owns S3's CORS semantics (../shared/spec/s3-cors-semantics.md): PutBucketCors
//! validation, rules compiled once at load, the first-full-match decision with its
//! reasons, and the exact headers and S3 error bodies that follow, in two modes.
//! The proxy hands it header values and applies what it returns; nothing here knows
//! about sockets, bodies or time.

mod model;
mod policy;
mod respond;
pub mod vary;

pub use model::{ErrorCode, Field, Location, RuleSpec, ValidationError};
pub use policy::{CorsPolicy, Decision, Failure};
pub use respond::{
    answer_preflight, check_actual, Actual, ActualInput, Decoration, LocalAnswer, Mode, Outcome,
    PreflightInput, Resource,
};
