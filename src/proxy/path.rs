//! Request-target checks. Pure.
//!
//! The bucket key is the bytes the client sent, so paths are forwarded unchanged; but a
//! `.` or `..` segment, raw or percent-encoded, is refused: any URL library or server
//! between us and the bucket that collapses dot segments would let a path-style site
//! (`http://host/bucket`) escape into another bucket.
use percent_encoding::percent_decode_str;

/// Why a request target was refused (all 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("request target must be an absolute path")]
    NotAbsolute,
    #[error("path has a dot segment")]
    DotSegment,
}

/// Checks a request path (without query). Segments are judged after percent-decoding,
/// with `%2F` and `\` both counted as separators, since some servers split on them.
pub fn check(path: &str) -> Result<(), PathError> {
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let has_dot_segment = |bytes: &[u8]| {
        bytes
            .split(|b| *b == b'/' || *b == b'\\')
            .any(|seg| seg == b"." || seg == b"..")
    };
    // Without a '%' nothing needs decoding: judge the raw bytes, allocation-free.
    let dot = if path.contains('%') {
        has_dot_segment(&percent_decode_str(path).collect::<Vec<u8>>())
    } else {
        has_dot_segment(path.as_bytes())
    };
    if dot {
        return Err(PathError::DotSegment);
    }
    Ok(())
}

/// Whether a path names an object (a non-empty key) or the bucket root.
pub fn names_object(path: &str) -> bool {
    path.len() > 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_are_refused_in_every_spelling() {
        let bad = [
            "/..",
            "/../x",
            "/a/../b",
            "/a/./b",
            "/.",
            "/a/..",
            "/%2e%2e/x",
            "/%2E%2E/x",
            "/.%2e/x",
            "/%2e./x",
            "/%2e/x",
            "/a%2f..%2fb",
            "/a%2F..%2Fb",
            "/a\\..\\b",
            "/a%5c..%5cb",
        ];
        for p in bad {
            assert_eq!(check(p), Err(PathError::DotSegment), "{p}");
        }
    }

    #[test]
    fn ordinary_keys_pass() {
        let good = [
            "/",
            "/a",
            "/a/b.png",
            "/.hidden",
            "/a..b",
            "/...",
            "/a/.../b",
            "/%2e%2e%2e",
            "/a%20b",
            "//a//b",
        ];
        for p in good {
            assert_eq!(check(p), Ok(()), "{p}");
        }
    }

    #[test]
    fn non_absolute_targets_are_refused() {
        assert_eq!(check("*"), Err(PathError::NotAbsolute));
        assert_eq!(check(""), Err(PathError::NotAbsolute));
    }
}
