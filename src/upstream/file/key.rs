//! Object keys for the `file:` backend: the raw request path turned into a key and a
//! relative path that cannot leave the bucket folder. Pure (std + `percent-encoding`):
//! no file system access here; symlinks are the caller's job.

use std::path::{Component, PathBuf};

use percent_encoding::percent_decode_str;

/// Prefix of the temporary files a PUT writes before its atomic rename. Keys with a
/// segment starting with it are refused so a half-written upload is never served,
/// replaced or deleted through the gateway.
pub(super) const TEMP_PREFIX: &str = ".corsgate-tmp-";

/// A key that maps onto a path below the bucket folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ObjectKey {
    /// The decoded key, as S3 would name it (for error bodies).
    pub(super) key: String,
    /// `key` as a relative path: only normal components, at least one.
    pub(super) rel: PathBuf,
}

/// Why a request path does not name an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum KeyError {
    /// `/` itself: the bucket, not an object (S3 would list it).
    Bucket,
    /// Percent-decoding gave bytes that are not UTF-8.
    NotUtf8,
    /// A key S3 accepts but a folder cannot hold safely: `.`/`..`/empty segments, NUL,
    /// backslash. Carries the decoded key for the error body.
    Unsafe(String),
    /// Names one of our temporary upload files.
    Reserved(String),
}

/// Turns the path of a request URI (as the client sent it, still percent-encoded) into
/// an object key. Decoding happens *before* the segment checks, so `%2e%2e` and `%2f`
/// cannot smuggle a `..` segment past them.
pub(super) fn parse(raw_path: &str) -> Result<ObjectKey, KeyError> {
    let encoded = raw_path.strip_prefix('/').unwrap_or(raw_path);
    if encoded.is_empty() {
        return Err(KeyError::Bucket);
    }
    let key = percent_decode_str(encoded)
        .decode_utf8()
        .map_err(|_| KeyError::NotUtf8)?
        .into_owned();
    // NUL cannot be in a file name; a backslash is a separator on Windows and too
    // confusing to allow anywhere.
    if key.contains(['\0', '\\']) {
        return Err(KeyError::Unsafe(key));
    }
    let mut rel = PathBuf::new();
    for segment in key.split('/') {
        // Empty segments come from `a//b`, a leading `/` (`//etc/passwd`) or a trailing
        // one (S3 "folder" markers); a file system collapses or rejects all of them.
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(KeyError::Unsafe(key));
        }
        rel.push(segment);
    }
    if key.split('/').any(|s| s.starts_with(TEMP_PREFIX)) {
        return Err(KeyError::Reserved(key));
    }
    // Belt and braces: whatever the platform's path rules, only plain names may remain
    // (no root, prefix such as `C:`, or parent component).
    if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(KeyError::Unsafe(key));
    }
    Ok(ObjectKey { key, rel })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> (String, PathBuf) {
        let k = parse(raw).unwrap_or_else(|e| panic!("{raw}: {e:?}"));
        (k.key, k.rel)
    }

    #[test]
    fn plain_and_nested_keys() {
        assert_eq!(ok("/a.txt"), ("a.txt".into(), PathBuf::from("a.txt")));
        assert_eq!(
            ok("/a/b/c.txt"),
            ("a/b/c.txt".into(), PathBuf::from("a/b/c.txt"))
        );
    }

    #[test]
    fn percent_decoding_spaces_and_unicode() {
        assert_eq!(
            ok("/a%20b/%C3%A9.txt"),
            ("a b/é.txt".into(), PathBuf::from("a b/é.txt"))
        );
        // `+` is not a space in a path.
        assert_eq!(ok("/a+b").0, "a+b");
        // Dots inside a name are fine.
        assert_eq!(ok("/..a/b..").0, "..a/b..");
        assert_eq!(ok("/.hidden").0, ".hidden");
    }

    #[test]
    fn bucket_root() {
        assert_eq!(parse("/"), Err(KeyError::Bucket));
        assert_eq!(parse(""), Err(KeyError::Bucket));
    }

    #[test]
    fn invalid_utf8() {
        assert_eq!(parse("/%ff"), Err(KeyError::NotUtf8));
        assert_eq!(parse("/a%C3"), Err(KeyError::NotUtf8));
    }

    #[test]
    fn traversal_and_odd_segments_refused() {
        let cases = [
            ("/../x", "../x"),
            ("/%2e%2e/x", "../x"),
            ("/a/%2E%2E/b", "a/../b"),
            ("/a%2f..%2fb", "a/../b"),
            ("/a/./b", "a/./b"),
            ("/.", "."),
            ("//etc/passwd", "/etc/passwd"),
            ("/%2fetc/passwd", "/etc/passwd"),
            ("/a//b", "a//b"),
            ("/a/", "a/"),
            ("/a\\..\\b", "a\\..\\b"),
            ("/a%5cb", "a\\b"),
            ("/a%00b", "a\0b"),
        ];
        for (raw, key) in cases {
            assert_eq!(parse(raw), Err(KeyError::Unsafe(key.into())), "{raw}");
        }
    }

    #[test]
    fn temp_names_reserved() {
        assert_eq!(
            parse("/d/.corsgate-tmp-1-2"),
            Err(KeyError::Reserved("d/.corsgate-tmp-1-2".into()))
        );
        assert_eq!(
            parse("/.corsgate-tmp-x/y"),
            Err(KeyError::Reserved(".corsgate-tmp-x/y".into()))
        );
    }
}
