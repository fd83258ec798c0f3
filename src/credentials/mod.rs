//! AWS credentials for upstream signing, resolved and refreshed in the background
//! (never on the request path).
