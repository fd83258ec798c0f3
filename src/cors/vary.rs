//! Merging tokens into a response's `Vary` (RFC 9110 §12.5.5; cache keys: RFC 9111
//! §4.1). Owns only Vary: it adds, never drops, so whatever the upstream varied on
//! still keys caches. Result is one normalised line, `A, B, C`, existing tokens first.

use http::header::VARY;
use http::{HeaderMap, HeaderValue};

/// Adds each token to the response's Vary unless already listed (case-insensitive,
/// across several Vary lines and comma lists); never drops what is there; `*` stays
/// `*`. Existing duplicates are folded, first spelling kept.
pub fn merge(headers: &mut HeaderMap, tokens: &[&str]) {
    if !headers.contains_key(VARY) {
        // The common case (our own answers, most upstream responses): nothing to fold.
        if let Ok(value) = HeaderValue::from_str(&tokens.join(", ")) {
            if !tokens.is_empty() {
                headers.insert(VARY, value);
            }
        }
        return;
    }
    let mut merged: Vec<&[u8]> = Vec::new();
    let mut star = false;
    for value in headers.get_all(VARY) {
        for token in value.as_bytes().split(|&b| b == b',') {
            let token = token.trim_ascii();
            // RFC 9110 §12.5.5: `*` already says "varies on everything".
            star |= token == b"*";
            push_unique(&mut merged, token);
        }
    }
    if star {
        headers.insert(VARY, HeaderValue::from_static("*"));
        return;
    }
    for token in tokens {
        push_unique(&mut merged, token.as_bytes());
    }
    if merged.is_empty() {
        return;
    }
    let line = merged.join(&b", "[..]);
    // Every part came from a valid HeaderValue or from our own static tokens, so this
    // cannot fail; if it somehow did, the existing Vary is left as it was.
    if let Ok(value) = HeaderValue::from_bytes(&line) {
        headers.insert(VARY, value);
    }
}

fn push_unique<'a>(list: &mut Vec<&'a [u8]>, token: &'a [u8]) {
    if !token.is_empty() && !list.iter().any(|t| t.eq_ignore_ascii_case(token)) {
        list.push(token);
    }
}

/// A fixed set of Vary tokens with its line pre-rendered, so the common case (no Vary
/// yet) inserts a static value instead of building one per response.
#[derive(Debug)]
pub struct VarySet {
    pub tokens: &'static [&'static str],
    /// `tokens` joined with ", ".
    pub line: &'static str,
}

impl VarySet {
    pub const NONE: VarySet = VarySet {
        tokens: &[],
        line: "",
    };

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// [`merge`] with a fast path for a response that has no Vary yet.
    pub fn apply(&self, headers: &mut HeaderMap) {
        if self.tokens.is_empty() {
            return;
        }
        if headers.contains_key(VARY) {
            merge(headers, self.tokens);
        } else {
            headers.insert(VARY, HeaderValue::from_static(self.line));
        }
    }
}
