//! STUB (to be replaced): merging Vary tokens (RFC 9110 §12.5.5).
use http::HeaderMap;

/// Adds each token to the response's Vary unless already listed (case-insensitive);
/// never drops what is there; `*` stays `*`.
pub fn merge(_headers: &mut HeaderMap, _tokens: &[&str]) {}
