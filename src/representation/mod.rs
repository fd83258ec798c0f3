//! Serving a stored representation (RFC 9110 §13-14): preconditions and byte ranges,
//! shared by the `file:` backend and the response cache. Pure: std + `http` + `httpdate`.

pub mod conditional;
pub mod range;
