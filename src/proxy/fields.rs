//! The request fields the pipeline decides on (Host, Origin and the
//! Access-Control-Request-* pair), found in one pass over the request's fields. A
//! lookup per name would hash and probe four times, where most requests carry only a
//! handful of fields.
use http::header::{self, HeaderMap, HeaderValue};

use crate::cors::DuplicateHeader;

/// A field that may appear at most once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Single<'a> {
    Absent,
    One(&'a HeaderValue),
    Repeated,
}

impl<'a> Single<'a> {
    fn add(&mut self, value: &'a HeaderValue) {
        *self = match self {
            Single::Absent => Single::One(value),
            _ => Single::Repeated,
        };
    }

    /// The value, or `None` when absent, as [`crate::cors::single`] answers it.
    pub fn get(self) -> Result<Option<&'a HeaderValue>, DuplicateHeader> {
        match self {
            Single::Absent => Ok(None),
            Single::One(v) => Ok(Some(v)),
            Single::Repeated => Err(DuplicateHeader),
        }
    }
}

/// What one pass found.
#[derive(Debug)]
pub struct Fields<'a> {
    pub host: Single<'a>,
    pub origin: Single<'a>,
    pub request_method: Single<'a>,
    /// A list field: several lines are one list (see [`Fields::request_headers`]).
    request_headers: Single<'a>,
}

impl<'a> Fields<'a> {
    pub fn of(headers: &'a HeaderMap) -> Fields<'a> {
        let mut f = Fields {
            host: Single::Absent,
            origin: Single::Absent,
            request_method: Single::Absent,
            request_headers: Single::Absent,
        };
        for (name, value) in headers {
            if name == header::HOST {
                f.host.add(value);
            } else if name == header::ORIGIN {
                f.origin.add(value);
            } else if name == header::ACCESS_CONTROL_REQUEST_METHOD {
                f.request_method.add(value);
            } else if name == header::ACCESS_CONTROL_REQUEST_HEADERS {
                f.request_headers.add(value);
            }
        }
        f
    }

    /// Access-Control-Request-Headers as one value: a list sent on several lines,
    /// joined with `,` (RFC 9110 §5.3). `headers` is the map [`Fields::of`] read.
    pub fn request_headers(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        match self.request_headers {
            Single::Absent => None,
            Single::One(v) => Some(v.clone()),
            Single::Repeated => {
                let all: Vec<&[u8]> = headers
                    .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
                    .iter()
                    .map(HeaderValue::as_bytes)
                    .collect();
                HeaderValue::from_bytes(&all.join(&b","[..])).ok()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(fields: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in fields {
            h.append(*name, HeaderValue::from_static(value));
        }
        h
    }

    #[test]
    fn each_field_is_absent_one_or_repeated() {
        let h = map(&[
            ("host", "gw.test"),
            ("origin", "http://a.test"),
            ("origin", "http://b.test"),
            ("x-other", "1"),
        ]);
        let f = Fields::of(&h);
        assert_eq!(f.host.get(), Ok(Some(&HeaderValue::from_static("gw.test"))));
        assert_eq!(f.origin.get(), Err(DuplicateHeader));
        assert_eq!(f.request_method.get(), Ok(None));
        assert_eq!(f.request_headers(&h), None);
    }

    #[test]
    fn request_headers_on_several_lines_are_one_list() {
        let h = map(&[
            ("access-control-request-method", "PUT"),
            ("access-control-request-headers", "content-type"),
            ("x-between", "1"),
            (
                "access-control-request-headers",
                "x-amz-meta-a, x-amz-meta-b",
            ),
        ]);
        let f = Fields::of(&h);
        assert_eq!(
            f.request_method.get(),
            Ok(Some(&HeaderValue::from_static("PUT")))
        );
        assert_eq!(
            f.request_headers(&h),
            Some(HeaderValue::from_static(
                "content-type,x-amz-meta-a, x-amz-meta-b"
            ))
        );
        let one = map(&[("access-control-request-headers", "content-type")]);
        assert_eq!(
            Fields::of(&one).request_headers(&one),
            Some(HeaderValue::from_static("content-type"))
        );
    }
}
