//! End-to-end tests of [`FileBucket::handle`] over a temporary folder.

use std::{
    convert::Infallible,
    future::Future,
    path::Path,
    task::Poll,
    time::{Duration, UNIX_EPOCH},
};

use bytes::Bytes;
use futures_util::{stream, StreamExt as _};
use http::{header, HeaderMap, Method, Request, StatusCode, Uri};
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody};

use super::*;

/// 2024-01-02T03:04:05Z, set on fixtures so Last-Modified is a literal.
const MTIME: u64 = 1_704_164_645;
const MTIME_HTTP: &str = "Tue, 02 Jan 2024 03:04:05 GMT";

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(&name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_else(|| panic!("no {name} in {:?}", self.headers))
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
}

fn fixture(writable: bool) -> (tempfile::TempDir, FileBucket) {
    let dir = tempfile::tempdir().unwrap();
    let bucket = FileBucket::new(dir.path().to_path_buf(), writable).unwrap();
    (dir, bucket)
}

/// Writes `path` (creating folders) with a fixed mtime.
fn write(root: &Path, path: &str, content: &[u8]) {
    let p = root.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, content).unwrap();
    let f = std::fs::File::options().write(true).open(&p).unwrap();
    f.set_modified(UNIX_EPOCH + Duration::from_secs(MTIME))
        .unwrap();
}

fn request(method: Method, uri: &str) -> Request<Full<Bytes>> {
    // `Uri::from_static`-style parsing would reject some hostile paths we want to send,
    // so they go through `from_maybe_shared`, which accepts what a lenient client sends.
    let uri = Uri::from_maybe_shared(Bytes::copy_from_slice(uri.as_bytes())).unwrap();
    Request::builder()
        .method(method)
        .uri(uri)
        .body(Full::new(Bytes::new()))
        .unwrap()
}

fn with(mut req: Request<Full<Bytes>>, name: &str, value: &str) -> Request<Full<Bytes>> {
    req.headers_mut().append(
        header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
        value.parse().unwrap(),
    );
    req
}

async fn send<B>(bucket: &FileBucket, req: Request<B>) -> Reply
where
    B: http_body::Body<Data = Bytes> + Send + Unpin,
    B::Error: Into<BoxError>,
{
    let response = bucket.handle(req).await;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

async fn get(bucket: &FileBucket, uri: &str) -> Reply {
    send(bucket, request(Method::GET, uri)).await
}

fn error_xml(code: &str, message: &str, key: Option<&str>) -> String {
    let key = key.map(|k| format!("<Key>{k}</Key>")).unwrap_or_default();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
         <Message>{message}</Message>{key}</Error>"
    )
}

fn assert_error(r: &Reply, status: u16, code: &str) {
    assert_eq!(r.status.as_u16(), status, "{}", r.text());
    assert_eq!(r.header(header::CONTENT_TYPE), "application/xml");
    assert!(
        r.text().contains(&format!("<Code>{code}</Code>")),
        "{}",
        r.text()
    );
}

fn etag_of(root: &Path, path: &str) -> String {
    let meta = std::fs::metadata(root.join(path)).unwrap();
    validators(&meta).etag
}

/// Every entry below `root`, relative, sorted.
fn tree(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            out.push(path.strip_prefix(root).unwrap().display().to_string());
            if path.is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

// ---- GET / HEAD ----------------------------------------------------------------------

#[tokio::test]
async fn get_serves_file_with_headers() {
    let (dir, bucket) = fixture(false);
    write(dir.path(), "docs/hello.txt", b"hello world");
    let r = get(&bucket, "/docs/hello.txt").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, "hello world");
    assert_eq!(r.header(header::CONTENT_LENGTH), "11");
    assert_eq!(r.header(header::CONTENT_TYPE), "text/plain");
    assert_eq!(r.header(header::ACCEPT_RANGES), "bytes");
    assert_eq!(r.header(header::LAST_MODIFIED), MTIME_HTTP);
    let etag = r.header(header::ETAG);
    assert_eq!(etag, etag_of(dir.path(), "docs/hello.txt"));
    // Strong, quoted, and made of size (0xb) then the mtime in nanoseconds.
    let mtime_ns = format!("{:x}", u128::from(MTIME) * 1_000_000_000);
    assert!(
        etag.starts_with(&format!("\"b-{mtime_ns}-")) && etag.ends_with('"'),
        "{etag}"
    );
}

#[tokio::test]
async fn content_types() {
    let (dir, bucket) = fixture(false);
    for (name, ct) in [
        ("a.json", "application/json"),
        ("a.html", "text/html"),
        ("a.png", "image/png"),
        ("a.js", "text/javascript"),
        ("noext", "application/octet-stream"),
        ("a.unknownext", "application/octet-stream"),
    ] {
        write(dir.path(), name, b"x");
        let r = get(&bucket, &format!("/{name}")).await;
        assert_eq!(r.header(header::CONTENT_TYPE), ct, "{name}");
    }
}

#[tokio::test]
async fn head_has_headers_and_no_body() {
    let (dir, bucket) = fixture(false);
    write(dir.path(), "a.txt", b"0123456789");
    let r = send(&bucket, request(Method::HEAD, "/a.txt")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, "");
    assert_eq!(r.header(header::CONTENT_LENGTH), "10");
    assert_eq!(r.header(header::CONTENT_TYPE), "text/plain");
    assert_eq!(r.header(header::LAST_MODIFIED), MTIME_HTTP);
    assert_eq!(r.header(header::ETAG), etag_of(dir.path(), "a.txt"));

    let r = send(&bucket, request(Method::HEAD, "/missing")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body, "");
}

#[tokio::test]
async fn large_file_streams_in_chunks() {
    let (dir, bucket) = fixture(false);
    let content: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    write(dir.path(), "big.bin", &content);
    let response = bucket.handle(request(Method::GET, "/big.bin")).await;
    let mut body = response.into_body();
    let mut frames = 0;
    let mut got = Vec::new();
    while let Some(frame) = body.frame().await {
        let data = frame.unwrap().into_data().unwrap();
        assert!(data.len() <= CHUNK);
        got.extend_from_slice(&data);
        frames += 1;
    }
    assert!(frames >= 5, "{frames} frames");
    assert_eq!(got, content);
}

#[tokio::test]
async fn missing_key_is_no_such_key() {
    let (_dir, bucket) = fixture(false);
    let r = get(&bucket, "/nope/a%26b.txt").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.header(header::CONTENT_TYPE), "application/xml");
    assert_eq!(
        r.text(),
        error_xml(
            "NoSuchKey",
            "The specified key does not exist.",
            Some("nope/a&amp;b.txt")
        )
    );
}

#[tokio::test]
async fn directory_is_not_an_object() {
    let (dir, bucket) = fixture(false);
    write(dir.path(), "d/x.txt", b"x");
    assert_error(&get(&bucket, "/d").await, 404, "NoSuchKey");
    // A path through a file is not a folder.
    assert_error(&get(&bucket, "/d/x.txt/y").await, 404, "NoSuchKey");
}

#[tokio::test]
async fn bucket_root_is_access_denied() {
    let (_dir, bucket) = fixture(false);
    let r = get(&bucket, "/").await;
    assert_eq!(
        r.text(),
        error_xml(
            "AccessDenied",
            "The file: backend does not list or manage the bucket itself.",
            None
        )
    );
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // The query string does not change that, nor does it matter for objects.
    assert_error(&get(&bucket, "/?list-type=2").await, 403, "AccessDenied");
}

#[tokio::test]
async fn query_string_is_ignored() {
    let (dir, bucket) = fixture(false);
    write(dir.path(), "a.txt", b"abc");
    let r = get(&bucket, "/a.txt?versionId=1&x-id=GetObject").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, "abc");
}

#[tokio::test]
async fn percent_encoded_keys() {
    let (dir, bucket) = fixture(true);
    write(dir.path(), "a b/é.txt", b"accent");
    let r = get(&bucket, "/a%20b/%C3%A9.txt").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, "accent");

    let put = Request::builder()
        .method(Method::PUT)
        .uri("/x%20y/%E2%82%AC%2B.txt")
        .body(Full::new(Bytes::from_static(b"euro")))
        .unwrap();
    assert_eq!(send(&bucket, put).await.status, StatusCode::OK);
    assert_eq!(
        std::fs::read(dir.path().join("x y/€+.txt")).unwrap(),
        b"euro"
    );

    assert_error(&get(&bucket, "/%ff").await, 400, "InvalidURI");
    assert_eq!(
        get(&bucket, "/%ff").await.text(),
        error_xml("InvalidURI", "Couldn't parse the specified URI.", None)
    );
}

// ---- Safety --------------------------------------------------------------------------

#[tokio::test]
async fn traversal_attempts_are_refused() {
    let outer = tempfile::tempdir().unwrap();
    std::fs::write(outer.path().join("secret"), b"secret").unwrap();
    let root = outer.path().join("bucket");
    std::fs::create_dir_all(root.join("a")).unwrap();
    std::fs::write(root.join("a/secret"), b"not this either").unwrap();
    let bucket = FileBucket::new(root, true).unwrap();

    for (uri, key) in [
        ("/../secret", "../secret"),
        ("/%2e%2e/secret", "../secret"),
        ("/a/%2E%2E/%2e%2e/secret", "a/../../secret"),
        ("/a%2f..%2f..%2fsecret", "a/../../secret"),
        ("/a/./secret", "a/./secret"),
        ("//etc/passwd", "/etc/passwd"),
        ("/%2Fetc/passwd", "/etc/passwd"),
        ("/a//secret", "a//secret"),
        ("/a%5c..%5csecret", "a\\..\\secret"),
        ("/a/secret%00.txt", "a/secret\u{FFFD}.txt"),
    ] {
        for method in [Method::GET, Method::HEAD, Method::PUT, Method::DELETE] {
            let r = send(&bucket, request(method.clone(), uri)).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{method} {uri}");
            if method != Method::HEAD {
                assert_eq!(
                    r.text(),
                    error_xml("InvalidURI", "Couldn't parse the specified URI.", Some(key)),
                    "{method} {uri}"
                );
            }
        }
    }
    // Nothing was written or removed anywhere.
    assert_eq!(
        std::fs::read(outer.path().join("secret")).unwrap(),
        b"secret"
    );
    assert_eq!(
        tree(outer.path()),
        ["bucket", "bucket/a", "bucket/a/secret", "secret"]
    );
}

#[tokio::test]
async fn raw_backslash_in_path_is_refused() {
    let (dir, bucket) = fixture(false);
    write(dir.path(), "a/b", b"x");
    // `http` accepts a raw backslash in a path (clients such as curl send it as is).
    let uri = Uri::from_maybe_shared(Bytes::from_static(b"/a\\b")).unwrap();
    let req = Request::builder()
        .uri(uri)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let r = send(&bucket, req).await;
    assert_error(&r, 400, "InvalidURI");
    assert!(r.text().contains("<Key>a\\b</Key>"), "{}", r.text());
}

#[cfg(unix)]
#[tokio::test]
async fn symlinks_out_of_the_root_are_refused() {
    use std::os::unix::fs::symlink;
    let outer = tempfile::tempdir().unwrap();
    std::fs::write(outer.path().join("secret"), b"secret").unwrap();
    std::fs::create_dir(outer.path().join("outdir")).unwrap();
    std::fs::write(outer.path().join("outdir/f"), b"out").unwrap();
    let root = outer.path().join("bucket");
    std::fs::create_dir(&root).unwrap();
    symlink(outer.path().join("secret"), root.join("link")).unwrap();
    symlink("../outdir", root.join("dirlink")).unwrap();
    std::fs::write(root.join("inside.txt"), b"inside").unwrap();
    symlink("inside.txt", root.join("alias.txt")).unwrap();
    let bucket = FileBucket::new(root.clone(), true).unwrap();

    assert_error(&get(&bucket, "/link").await, 403, "AccessDenied");
    assert_error(&get(&bucket, "/dirlink/f").await, 403, "AccessDenied");
    // Writes through an outside link are refused and create nothing out there.
    let put = Request::builder()
        .method(Method::PUT)
        .uri("/dirlink/new/x")
        .body(Full::new(Bytes::from_static(b"x")))
        .unwrap();
    assert_error(&send(&bucket, put).await, 403, "AccessDenied");
    assert_error(
        &send(&bucket, request(Method::DELETE, "/dirlink/f")).await,
        403,
        "AccessDenied",
    );
    assert_eq!(
        std::fs::read(outer.path().join("outdir/f")).unwrap(),
        b"out"
    );
    assert!(!outer.path().join("outdir/new").exists());

    // A link inside the tree to a file inside it is followed.
    let r = get(&bucket, "/alias.txt").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, "inside");

    // Deleting a link removes the link, never what it points at.
    let r = send(&bucket, request(Method::DELETE, "/link")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(!root.join("link").exists());
    assert_eq!(
        std::fs::read(outer.path().join("secret")).unwrap(),
        b"secret"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn fifo_is_not_served() {
    // A FIFO would block an open(2) forever; it must be answered 404 without opening.
    let (dir, bucket) = fixture(false);
    let status = std::process::Command::new("mkfifo")
        .arg(dir.path().join("pipe"))
        .status();
    if !status.is_ok_and(|s| s.success()) {
        return; // no mkfifo here; nothing to test
    }
    assert_error(&get(&bucket, "/pipe").await, 404, "NoSuchKey");
}

#[tokio::test]
async fn temp_files_are_never_served() {
    let (dir, bucket) = fixture(true);
    write(dir.path(), ".corsgate-tmp-1-2-3", b"partial");
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let r = send(&bucket, request(method.clone(), "/.corsgate-tmp-1-2-3")).await;
        assert_error(&r, 403, "AccessDenied");
    }
    assert!(dir.path().join(".corsgate-tmp-1-2-3").exists());
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(".corsgate-tmp-1-2-3", dir.path().join("peek")).unwrap();
        assert_error(&get(&bucket, "/peek").await, 404, "NoSuchKey");
    }
}

#[tokio::test]
async fn other_methods_are_not_allowed() {
    let (dir, bucket) = fixture(true);
    write(dir.path(), "a.txt", b"x");
    for method in ["POST", "PATCH", "OPTIONS", "TRACE", "PROPFIND"] {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let r = send(&bucket, request(method.clone(), "/a.txt")).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(r.header(header::ALLOW), "GET, HEAD, PUT, DELETE");
        assert_eq!(
            r.text(),
            error_xml(
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
                Some("a.txt")
            )
        );
    }
}

// ---- Conditional requests ------------------------------------------------------------

#[tokio::test]
async fn if_none_match_and_if_modified_since_give_304() {
    let (dir, bucket) = fixture(false);
    write(dir.path(), "a.txt", b"abc");
    let etag = etag_of(dir.path(), "a.txt");

    for (name, value) in [
        ("if-none-match", etag.as_str()),
        ("if-none-match", "*"),
        ("if-modified-since", MTIME_HTTP),
    ] {
        for method in [Method::GET, Method::HEAD] {
            let r = send(
                &bucket,
                with(request(method.clone(), "/a.txt"), name, value),
            )
            .await;
            assert_eq!(r.status, StatusCode::NOT_MODIFIED, "{method} {name}");
            assert_eq!(r.body, "");
            assert_eq!(r.header(header::ETAG), etag);
            assert_eq!(r.header(header::LAST_MODIFIED), MTIME_HTTP);
            assert!(r.headers.get(header::CONTENT_LENGTH).is_none());
        }
    }
    // A different tag, or an older date, serves the object.
    let r = send(
        &bucket,
        with(request(Method::GET, "/a.txt"), "if-none-match", "\"other\""),
    )
    .await;
    assert_eq!((r.status, r.text()), (StatusCode::OK, "abc"));
    let r = send(
        &bucket,
        with(
            request(Method::GET, "/a.txt"),
            "if-modified-since",
            "Mon, 01 Jan 2024 00:00:00 GMT",
        ),
    )
    .await;
    assert_eq!((r.status, r.text()), (StatusCode::OK, "abc"));
    // If-None-Match wins over If-Modified-Since.
    let req = with(
        with(request(Method::GET, "/a.txt"), "if-none-match", "\"other\""),
        "if-modified-since",
        MTIME_HTTP,
    );
    assert_eq!(send(&bucket, req).await.status, StatusCode::OK);
}

#[tokio::test]
async fn if_match_and_if_unmodified_since_give_412() {
    let (dir, bucket) = fixture(false);
    write(dir.path(), "a.txt", b"abc");
    let etag = etag_of(dir.path(), "a.txt");

    let r = send(
        &bucket,
        with(request(Method::GET, "/a.txt"), "if-match", "\"other\""),
    )
    .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(
        r.text(),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>PreconditionFailed</Code>\
         <Message>At least one of the pre-conditions you specified did not hold</Message>\
         <Key>a.txt</Key><Condition>If-Match</Condition></Error>"
    );
    let r = send(
        &bucket,
        with(
            request(Method::GET, "/a.txt"),
            "if-unmodified-since",
            "Mon, 01 Jan 2024 00:00:00 GMT",
        ),
    )
    .await;
    assert_error(&r, 412, "PreconditionFailed");
    assert!(r
        .text()
        .contains("<Condition>If-Unmodified-Since</Condition>"));

    for (name, value) in [
        ("if-match", etag.as_str()),
        ("if-match", "*"),
        ("if-unmodified-since", MTIME_HTTP),
    ] {
        let r = send(&bucket, with(request(Method::GET, "/a.txt"), name, value)).await;
        assert_eq!((r.status, r.text()), (StatusCode::OK, "abc"), "{name}");
    }
    // If-Match: * on a missing object: there is nothing to match, so 404 first.
    let r = send(
        &bucket,
        with(request(Method::GET, "/missing"), "if-match", "*"),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

// ---- Ranges --------------------------------------------------------------------------

async fn ranged(bucket: &FileBucket, range: &str) -> Reply {
    send(bucket, with(request(Method::GET, "/r.txt"), "range", range)).await
}

#[tokio::test]
async fn byte_ranges() {
    let (dir, bucket) = fixture(false);
    write(dir.path(), "r.txt", b"0123456789");
    for (range, body, content_range) in [
        ("bytes=2-5", "2345", "bytes 2-5/10"),
        ("bytes=7-", "789", "bytes 7-9/10"),
        ("bytes=-3", "789", "bytes 7-9/10"),
        ("bytes=8-100", "89", "bytes 8-9/10"),
        ("bytes=-50", "0123456789", "bytes 0-9/10"),
        ("bytes=0-0", "0", "bytes 0-0/10"),
    ] {
        let r = ranged(&bucket, range).await;
        assert_eq!(r.status, StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(r.text(), body, "{range}");
        assert_eq!(r.header(header::CONTENT_RANGE), content_range, "{range}");
        assert_eq!(r.header(header::CONTENT_LENGTH), body.len().to_string());
        assert_eq!(r.header(header::CONTENT_TYPE), "text/plain");
        assert_eq!(r.header(header::ETAG), etag_of(dir.path(), "r.txt"));
    }
    // HEAD reports the part like S3 does.
    let r = send(
        &bucket,
        with(request(Method::HEAD, "/r.txt"), "range", "bytes=2-5"),
    )
    .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.header(header::CONTENT_LENGTH), "4");
    assert_eq!(r.body, "");
}

#[tokio::test]
async fn large_range_streams_the_slice() {
    let (dir, bucket) = fixture(false);
    let content: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    write(dir.path(), "r.txt", &content);
    let r = ranged(&bucket, "bytes=70000-150000").await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.header(header::CONTENT_RANGE), "bytes 70000-150000/200000");
    assert_eq!(&r.body[..], &content[70_000..=150_000]);
}

#[tokio::test]
async fn unsatisfiable_range_is_416() {
    let (dir, bucket) = fixture(false);
    write(dir.path(), "r.txt", b"0123456789");
    let r = ranged(&bucket, "bytes=10-").await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.header(header::CONTENT_RANGE), "bytes */10");
    assert_eq!(
        r.text(),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InvalidRange</Code>\
         <Message>The requested range is not satisfiable</Message><Key>r.txt</Key>\
         <RangeRequested>bytes=10-</RangeRequested><ActualObjectSize>10</ActualObjectSize></Error>"
    );
    assert_error(&ranged(&bucket, "bytes=-0").await, 416, "InvalidRange");

    write(dir.path(), "r.txt", b"");
    let r = ranged(&bucket, "bytes=0-").await;
    assert_error(&r, 416, "InvalidRange");
    assert_eq!(r.header(header::CONTENT_RANGE), "bytes */0");
}

#[tokio::test]
async fn multi_and_malformed_ranges_serve_everything() {
    let (dir, bucket) = fixture(false);
    write(dir.path(), "r.txt", b"0123456789");
    for range in [
        "bytes=0-1,5-6",
        "bytes=5-2",
        "bytes=x-y",
        "items=0-1",
        "bytes",
    ] {
        let r = ranged(&bucket, range).await;
        assert_eq!(r.status, StatusCode::OK, "{range}");
        assert_eq!(r.text(), "0123456789", "{range}");
        assert!(r.headers.get(header::CONTENT_RANGE).is_none());
        assert_eq!(r.header(header::CONTENT_LENGTH), "10");
    }
}

#[tokio::test]
async fn if_range() {
    let (dir, bucket) = fixture(false);
    write(dir.path(), "r.txt", b"0123456789");
    let etag = etag_of(dir.path(), "r.txt");
    let req = |if_range: &str| {
        with(
            with(request(Method::GET, "/r.txt"), "range", "bytes=0-1"),
            "if-range",
            if_range,
        )
    };
    for (if_range, status, body) in [
        (etag.as_str(), 206, "01"),
        (MTIME_HTTP, 206, "01"),
        ("\"stale\"", 200, "0123456789"),
        ("Mon, 01 Jan 2024 00:00:00 GMT", 200, "0123456789"),
        ("W/\"whatever\"", 200, "0123456789"),
    ] {
        let r = send(&bucket, req(if_range)).await;
        assert_eq!(r.status.as_u16(), status, "{if_range}");
        assert_eq!(r.text(), body, "{if_range}");
    }
    // A stale If-Range turns even an unsatisfiable range into a full answer.
    let r = send(
        &bucket,
        with(
            with(request(Method::GET, "/r.txt"), "range", "bytes=50-"),
            "if-range",
            "\"stale\"",
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
}

// ---- PUT / DELETE --------------------------------------------------------------------

fn chunked_body(
    chunks: Vec<Result<Bytes, std::io::Error>>,
) -> StreamBody<impl futures_util::Stream<Item = Result<Frame<Bytes>, std::io::Error>> + Unpin> {
    StreamBody::new(stream::iter(chunks.into_iter().map(|c| c.map(Frame::data))))
}

#[tokio::test]
async fn put_then_get_round_trip() {
    let (dir, bucket) = fixture(true);
    let chunks: Vec<Bytes> = (0..40u8).map(|i| Bytes::from(vec![i; 10_000])).collect();
    let expected: Vec<u8> = chunks.iter().flat_map(|c| c.to_vec()).collect();
    let req = Request::builder()
        .method(Method::PUT)
        .uri("/deep/er/obj.bin")
        .body(chunked_body(chunks.into_iter().map(Ok).collect()))
        .unwrap();
    let r = send(&bucket, req).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.body, "");
    let put_etag = r.header(header::ETAG).to_owned();
    assert_eq!(put_etag, etag_of(dir.path(), "deep/er/obj.bin"));

    let r = get(&bucket, "/deep/er/obj.bin").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body.len(), 400_000);
    assert_eq!(&r.body[..], &expected[..]);
    assert_eq!(r.header(header::ETAG), put_etag);
    assert_eq!(r.header(header::CONTENT_LENGTH), "400000");
    // Nothing but the object and its folders.
    assert_eq!(tree(dir.path()), ["deep", "deep/er", "deep/er/obj.bin"]);

    // Overwrite: new content, new tag.
    let req = Request::builder()
        .method(Method::PUT)
        .uri("/deep/er/obj.bin")
        .body(Full::new(Bytes::from_static(b"short")))
        .unwrap();
    let r = send(&bucket, req).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_ne!(r.header(header::ETAG), put_etag);
    assert_eq!(get(&bucket, "/deep/er/obj.bin").await.body, "short");
}

#[tokio::test]
async fn put_empty_object() {
    let (dir, bucket) = fixture(true);
    let r = send(&bucket, request(Method::PUT, "/empty")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(std::fs::read(dir.path().join("empty")).unwrap(), b"");
    let r = get(&bucket, "/empty").await;
    assert_eq!(
        (r.status, r.header(header::CONTENT_LENGTH)),
        (StatusCode::OK, "0")
    );
}

#[tokio::test]
async fn read_only_bucket_refuses_writes() {
    let (dir, bucket) = fixture(false);
    write(dir.path(), "a.txt", b"keep");
    let put = Request::builder()
        .method(Method::PUT)
        .uri("/a.txt")
        .body(Full::new(Bytes::from_static(b"new")))
        .unwrap();
    let r = send(&bucket, put).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.text(),
        error_xml(
            "AccessDenied",
            "This file: bucket is read-only.",
            Some("a.txt")
        )
    );
    assert_error(
        &send(&bucket, request(Method::DELETE, "/a.txt")).await,
        403,
        "AccessDenied",
    );
    assert_eq!(std::fs::read(dir.path().join("a.txt")).unwrap(), b"keep");
    assert_eq!(tree(dir.path()), ["a.txt"]);
}

#[tokio::test]
async fn failing_body_leaves_nothing_behind() {
    let (dir, bucket) = fixture(true);
    write(dir.path(), "keep.txt", b"old");
    for key in ["/new/dir/obj", "/keep.txt"] {
        let body = chunked_body(vec![
            Ok(Bytes::from(vec![b'x'; 100_000])),
            Ok(Bytes::from(vec![b'y'; 100_000])),
            Err(std::io::Error::other("client went away")),
        ]);
        let req = Request::builder()
            .method(Method::PUT)
            .uri(key)
            .body(body)
            .unwrap();
        let r = send(&bucket, req).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{key}");
        assert!(
            r.text().contains(
                "<Code>IncompleteBody</Code><Message>The request body ended with an error: client went away</Message>"
            ),
            "{}",
            r.text()
        );
    }
    // The old object is intact; no temp file anywhere (the new folders may remain).
    assert_eq!(std::fs::read(dir.path().join("keep.txt")).unwrap(), b"old");
    assert_eq!(tree(dir.path()), ["keep.txt", "new", "new/dir"]);
}

#[test]
fn dropped_upload_removes_its_temp_file() {
    // A body that never finishes: the handler future is dropped mid-upload, as hyper
    // does when the client disconnects.
    let (dir, bucket) = fixture(true);
    let body = StreamBody::new(
        stream::iter([Ok::<_, Infallible>(Frame::data(Bytes::from_static(
            b"part",
        )))])
        .chain(stream::pending()),
    );
    let req = Request::builder()
        .method(Method::PUT)
        .uri("/obj")
        .body(body)
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut fut = Box::pin(bucket.handle(req));
        // Poll by hand until the temporary file exists, then drop the future. The
        // overall timeout only guards against a hang; nothing here waits on the clock.
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let poll = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await;
                assert!(poll.is_pending());
                if tree(dir.path()).iter().any(|n| n.starts_with(TEMP_PREFIX)) {
                    break;
                }
                tokio::task::yield_now().await;
            }
        })
        .await
        .unwrap();
        drop(fut);
    });
    // The file can be seen before the blocking task that created it has handed it
    // over; then that task, not the dropped future, removes it. Dropping the runtime
    // waits for blocking tasks, so both orders are settled here.
    drop(rt);
    assert_eq!(tree(dir.path()), Vec::<String>::new());
}

#[tokio::test]
async fn put_under_an_object_or_over_a_folder_is_refused() {
    let (dir, bucket) = fixture(true);
    write(dir.path(), "a", b"file");
    write(dir.path(), "d/x", b"x");
    for key in ["/a/b", "/a/b/c", "/d"] {
        let req = Request::builder()
            .method(Method::PUT)
            .uri(key)
            .body(Full::new(Bytes::from_static(b"new")))
            .unwrap();
        assert_error(&send(&bucket, req).await, 403, "AccessDenied");
    }
    assert_eq!(tree(dir.path()), ["a", "d", "d/x"]);
}

#[tokio::test]
async fn delete() {
    let (dir, bucket) = fixture(true);
    write(dir.path(), "d/x.txt", b"x");
    let r = send(&bucket, request(Method::DELETE, "/d/x.txt")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.body, "");
    assert!(!dir.path().join("d/x.txt").exists());
    assert_error(&get(&bucket, "/d/x.txt").await, 404, "NoSuchKey");
    // Again, and keys that never existed (even under a file): still 204, as S3.
    for key in ["/d/x.txt", "/never", "/no/such/dir", "/d/x.txt/deeper"] {
        let r = send(&bucket, request(Method::DELETE, key)).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{key}");
    }
    // A folder is not an object: 204, and the folder stays.
    let r = send(&bucket, request(Method::DELETE, "/d")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(dir.path().join("d").is_dir());
}

fn put_req(uri: &str, body: &'static [u8]) -> Request<Full<Bytes>> {
    Request::builder()
        .method(Method::PUT)
        .uri(uri)
        .body(Full::new(Bytes::from_static(body)))
        .unwrap()
}

#[tokio::test]
async fn conditional_put() {
    let (dir, bucket) = fixture(true);
    // If-None-Match: * creates only.
    let r = send(
        &bucket,
        with(put_req("/c.txt", b"first"), "if-none-match", "*"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header(header::ETAG), etag_of(dir.path(), "c.txt"));
    let r = send(
        &bucket,
        with(put_req("/c.txt", b"second"), "if-none-match", "*"),
    )
    .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    assert!(r.text().contains("<Condition>If-None-Match</Condition>"));
    assert_eq!(std::fs::read(dir.path().join("c.txt")).unwrap(), b"first");

    // If-Match replaces only the version the client saw.
    let etag = etag_of(dir.path(), "c.txt");
    let r = send(
        &bucket,
        with(put_req("/c.txt", b"x"), "if-match", "\"stale\""),
    )
    .await;
    assert_error(&r, 412, "PreconditionFailed");
    let r = send(
        &bucket,
        with(put_req("/c.txt", b"third"), "if-match", &etag),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(std::fs::read(dir.path().join("c.txt")).unwrap(), b"third");
    // ... and a missing object has no version to match, as S3: 404.
    let r = send(
        &bucket,
        with(put_req("/missing/m.txt", b"x"), "if-match", "*"),
    )
    .await;
    assert_error(&r, 404, "NoSuchKey");
    // No folder was created for the refused write, and no temp file remains.
    assert_eq!(tree(dir.path()), ["c.txt"]);
}

#[tokio::test]
async fn write_subresources_are_not_implemented() {
    let (dir, bucket) = fixture(true);
    write(dir.path(), "a.txt", b"keep");
    let refused = [
        put_req("/a.txt?acl", b"<AccessControlPolicy/>"),
        put_req("/a.txt?tagging", b"<Tagging/>"),
        put_req("/a.txt?partNumber=1&uploadId=abc", b"part"),
        with(put_req("/a.txt", b""), "x-amz-copy-source", "/bucket/b.txt"),
        request(Method::DELETE, "/a.txt?tagging"),
        request(Method::DELETE, "/a.txt?uploadId=abc"),
    ];
    for req in refused {
        let what = format!("{} {}", req.method(), req.uri());
        let r = send(&bucket, req).await;
        assert_eq!(r.status, StatusCode::NOT_IMPLEMENTED, "{what}");
        assert_eq!(
            r.text(),
            error_xml(
                "NotImplemented",
                "A header or query you provided implies functionality that is not \
                 implemented by the file: backend.",
                Some("a.txt")
            )
        );
    }
    assert_eq!(std::fs::read(dir.path().join("a.txt")).unwrap(), b"keep");

    // Presigned-URL parameters and the SDKs' x-id are not sub-resources.
    let r = send(
        &bucket,
        put_req(
            "/a.txt?x-id=PutObject&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00",
            b"new",
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(std::fs::read(dir.path().join("a.txt")).unwrap(), b"new");
    let r = send(&bucket, request(Method::DELETE, "/a.txt?x-id=DeleteObject")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(tree(dir.path()), Vec::<String>::new());
}

#[test]
fn write_subresource_names() {
    assert_eq!(write_subresource(None), None);
    assert_eq!(write_subresource(Some("")), None);
    assert_eq!(write_subresource(Some("x-id=PutObject&X-Amz-Date=1")), None);
    assert_eq!(write_subresource(Some("acl")), Some("acl"));
    assert_eq!(write_subresource(Some("x-id=a&&tagging=")), Some("tagging"));
    assert_eq!(
        write_subresource(Some("uploadId=1&partNumber=2")),
        Some("uploadId")
    );
}

#[test]
fn handle_future_is_send_for_unsync_bodies() {
    // The gateway's own `Body` is Send but not Sync, like hyper's `Incoming`; the
    // proxy spawns these futures on a multi-threaded runtime.
    fn assert_send<T: Send>(_: T) {}
    let (_dir, bucket) = fixture(false);
    let req = Request::builder()
        .uri("/x")
        .body(crate::upstream::empty())
        .unwrap();
    assert_send(bucket.handle(req));
}
