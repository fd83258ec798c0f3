//! S3-style error answers of the `file:` backend: status, S3 error code, and the XML body
//! S3 would send (`<Error><Code>…</Code><Message>…</Message><Key>…</Key></Error>`).
//! No logging: an I/O failure is reported to the client in the message and the caller
//! decides what else to do with the response.

use std::{fmt::Write as _, io};

use http::{header, HeaderName, HeaderValue, Response, StatusCode};

use crate::upstream::{empty, full, Body};

/// One error answer, built up and then rendered with [`S3Error::into_response`].
#[derive(Debug)]
pub(super) struct S3Error {
    status: StatusCode,
    code: &'static str,
    message: String,
    key: Option<String>,
    /// Extra elements S3 adds for some codes (`Condition`, `ActualObjectSize`, …).
    details: Vec<(&'static str, String)>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl S3Error {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        S3Error {
            status,
            code,
            message: message.into(),
            key: None,
            details: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub(super) fn no_such_key() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        )
    }

    pub(super) fn access_denied(message: &str) -> Self {
        Self::new(StatusCode::FORBIDDEN, "AccessDenied", message)
    }

    pub(super) fn invalid_uri() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidURI",
            "Couldn't parse the specified URI.",
        )
    }

    pub(super) fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
        )
        // RFC 9110 §15.5.6: a 405 lists what is allowed.
        .header(
            header::ALLOW,
            HeaderValue::from_static("GET, HEAD, PUT, DELETE"),
        )
    }

    /// A write S3 would understand but a folder does not (copies, ACLs, tags,
    /// multipart parts).
    pub(super) fn not_implemented() -> Self {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "A header or query you provided implies functionality that is not implemented by the file: backend.",
        )
    }

    pub(super) fn precondition_failed(condition: &'static str) -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
        )
        .detail("Condition", condition)
    }

    pub(super) fn invalid_range(size: u64, requested: &str) -> Self {
        // RFC 9110 §15.5.17: a 416 says the current length.
        let content_range = HeaderValue::try_from(format!("bytes */{size}"))
            .unwrap_or_else(|_| HeaderValue::from_static("bytes */*"));
        Self::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "InvalidRange",
            "The requested range is not satisfiable",
        )
        .detail("RangeRequested", requested)
        .detail("ActualObjectSize", size.to_string())
        .header(header::CONTENT_RANGE, content_range)
    }

    pub(super) fn incomplete_body(err: &dyn std::error::Error) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "IncompleteBody",
            format!("The request body ended with an error: {err}"),
        )
    }

    pub(super) fn internal(err: &io::Error) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            format!("We encountered an internal error: {err}"),
        )
    }

    /// Maps a file system error met while *reading* a key.
    pub(super) fn from_read(err: &io::Error) -> Self {
        use io::ErrorKind::*;
        match err.kind() {
            // `a/b` where `a` is a file, or a name longer than the file system allows:
            // no such object can exist.
            NotFound | NotADirectory | InvalidFilename => Self::no_such_key(),
            PermissionDenied => Self::access_denied("The file: backend may not read this key."),
            _ => Self::internal(err),
        }
    }

    /// Maps a file system error met while *writing* a key.
    pub(super) fn from_write(err: &io::Error) -> Self {
        use io::ErrorKind::*;
        match err.kind() {
            NotADirectory | IsADirectory => Self::conflict(),
            InvalidFilename => Self::new(
                StatusCode::BAD_REQUEST,
                "KeyTooLongError",
                "Your key is too long",
            ),
            PermissionDenied | ReadOnlyFilesystem => {
                Self::access_denied("The file: backend may not write this key.")
            }
            _ => Self::internal(err),
        }
    }

    /// A key a folder cannot hold next to an existing one: `a/b` when `a` is an object,
    /// or `a` when objects live under `a/`. S3 would accept both.
    pub(super) fn conflict() -> Self {
        Self::access_denied(
            "The file: backend cannot store this key: a prefix of it is an object, or objects exist below it.",
        )
    }

    pub(super) fn with_key(mut self, key: &str) -> Self {
        self.key = Some(key.to_owned());
        self
    }

    fn detail(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.details.push((name, value.into()));
        self
    }

    fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The XML body S3 would send.
    pub(super) fn to_xml(&self) -> String {
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>");
        element(&mut xml, "Code", self.code);
        element(&mut xml, "Message", &self.message);
        if let Some(key) = &self.key {
            element(&mut xml, "Key", key);
        }
        for (name, value) in &self.details {
            element(&mut xml, name, value);
        }
        xml.push_str("</Error>");
        xml
    }

    /// The response; a HEAD answer carries the status and headers but no body, as S3's.
    pub(super) fn into_response(self, head: bool) -> Response<Body> {
        let body = if head { empty() } else { full(self.to_xml()) };
        let mut response = Response::new(body);
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        if !head {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/xml"),
            );
        }
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        response
    }
}

fn element(out: &mut String, name: &str, text: &str) {
    let _ = write!(out, "<{name}>");
    escape_into(out, text);
    let _ = write!(out, "</{name}>");
}

/// XML-escapes element text (quotes need no escaping outside attributes). Characters XML 1.0 cannot carry at all (most C0 controls, even
/// as references) become U+FFFD, so a hostile key cannot make the body ill-formed.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\t' | '\n' | '\r' => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_such_key_xml() {
        assert_eq!(
            S3Error::no_such_key().with_key("a<&>\"'b").to_xml(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>\
             <Message>The specified key does not exist.</Message>\
             <Key>a&lt;&amp;&gt;\"'b</Key></Error>"
        );
    }

    #[test]
    fn control_characters_never_reach_the_xml() {
        let xml = S3Error::invalid_uri().with_key("a\0b\u{1}c\td").to_xml();
        assert!(xml.contains("<Key>a\u{FFFD}b\u{FFFD}c&#9;d</Key>"), "{xml}");
    }

    #[test]
    fn invalid_range_details_and_header() {
        let e = S3Error::invalid_range(10, "bytes=20-");
        assert_eq!(e.status, StatusCode::RANGE_NOT_SATISFIABLE);
        assert!(e
            .to_xml()
            .ends_with("<RangeRequested>bytes=20-</RangeRequested><ActualObjectSize>10</ActualObjectSize></Error>"));
        let r = e.into_response(false);
        assert_eq!(r.headers()[header::CONTENT_RANGE], "bytes */10");
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/xml");
    }
}
