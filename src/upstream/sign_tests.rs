use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use http::{Method, Request};

fn creds(token: Option<&str>) -> Credentials {
    Credentials::new(
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        token.map(str::to_owned),
        None,
        "test",
    )
}

fn parts(method: Method, uri: &str, headers: &[(&str, &str)]) -> Parts {
    let mut b = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap().into_parts().0
}

/// 2013-05-24T00:00:00Z, the time of AWS's published examples.
fn example_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_369_353_600)
}

fn spec() -> SigningSpec {
    SigningSpec {
        region: "us-east-1".into(),
    }
}

/// AWS's "GET Object" example from the S3 SigV4 header-auth documentation
/// (sig-v4-header-based-auth.html): the expected signature is theirs, not ours.
#[test]
fn reproduces_aws_published_get_object_example() {
    let mut p = parts(
        Method::GET,
        "https://examplebucket.s3.amazonaws.com/test.txt",
        &[
            ("host", "examplebucket.s3.amazonaws.com"),
            ("range", "bytes=0-9"),
            (
                "x-amz-content-sha256",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
        ],
    );
    sign_request(&mut p, &spec(), &creds(None), example_time()).unwrap();
    assert_eq!(
        p.headers["authorization"],
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
         SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
         Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    );
    assert_eq!(p.headers["x-amz-date"], "20130524T000000Z");
    assert!(p.headers["authorization"].is_sensitive());
}

#[test]
fn canonical_paths_are_what_s3_computes() {
    let cases = [
        ("/plain/key.txt", "/plain/key.txt"),
        ("/a b", "/a%20b"),
        ("/a%20b", "/a%20b"),
        ("/a+b", "/a%2Bb"),
        ("/a%2Bb", "/a%2Bb"),
        ("/a%2Fb", "/a/b"),
        ("/a%2fb", "/a/b"),
        ("/a:b", "/a%3Ab"),
        ("/a%3ab", "/a%3Ab"),
        ("/$=&@,;!'()*", "/%24%3D%26%40%2C%3B%21%27%28%29%2A"),
        ("/ünï/€", "/%C3%BCn%C3%AF/%E2%82%AC"),
        ("/%e2%82%ac", "/%E2%82%AC"),
        ("//x//y", "//x//y"),
        ("/~-._", "/~-._"),
        ("/100%25", "/100%25"),
        ("/q?", "/q%3F"),
    ];
    for (raw, want) in cases {
        assert_eq!(canonical_path(raw).unwrap(), want, "path {raw:?}");
    }
    assert!(matches!(canonical_path("/plain"), Ok(Cow::Borrowed(_))));
    assert_eq!(
        canonical_path("/%ff%fe"),
        Err(SignError::BadRequest("the object key is not valid UTF-8"))
    );
}

#[test]
fn query_auth_is_stripped_and_the_rest_kept_byte_for_byte() {
    let cases = [
        ("versionId=a%2Bb", "versionId=a%2Bb"),
        (
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=x&X-Amz-Date=d&X-Amz-Expires=60\
             &X-Amz-SignedHeaders=host&X-Amz-Signature=abc&response-content-type=a%2Fb",
            "response-content-type=a%2Fb",
        ),
        ("X-Amz-Security-Token=t&x=1", "x=1"),
        ("X%2DAmz%2DSignature=abc&x=1", "x=1"),
        ("AWSAccessKeyId=k&Signature=s&Expires=1", ""),
        (
            "x-amz-signature=lowercase-is-not-auth",
            "x-amz-signature=lowercase-is-not-auth",
        ),
    ];
    for (q, want) in cases {
        assert_eq!(strip_query_auth(q), want, "query {q:?}");
    }
}

#[test]
fn payload_modes() {
    let hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let ok = [
        (None, Payload::Unsigned),
        (Some("UNSIGNED-PAYLOAD"), Payload::Unsigned),
        (
            Some("STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
            Payload::UnsignedTrailer,
        ),
        (Some(hash), Payload::Sha256(hash.into())),
    ];
    for (v, want) in ok {
        let mut h = HeaderMap::new();
        if let Some(v) = v {
            h.insert(X_AMZ_CONTENT_SHA256, HeaderValue::from_static(v));
        }
        assert_eq!(Payload::of(&h).unwrap(), want, "{v:?}");
    }
    for bad in [
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
        "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
        "abc",
    ] {
        let mut h = HeaderMap::new();
        h.insert(X_AMZ_CONTENT_SHA256, HeaderValue::from_static(bad));
        assert!(
            matches!(Payload::of(&h), Err(SignError::BadRequest(_))),
            "{bad}"
        );
    }
}

#[test]
fn the_clients_auth_is_replaced_by_ours() {
    let mut p = parts(
        Method::PUT,
        "http://127.0.0.1:9000/bucket/a%20b+c?X-Amz-Signature=client&partNumber=1",
        &[
            ("host", "127.0.0.1:9000"),
            ("authorization", "Bearer client-jwt"),
            ("x-amz-security-token", "client-token"),
            ("x-amz-date", "19990101T000000Z"),
            ("x-amz-meta-note", "kept"),
            ("content-length", "5"),
        ],
    );
    sign_request(&mut p, &spec(), &creds(Some("session")), example_time()).unwrap();
    assert_eq!(
        p.uri.to_string(),
        "http://127.0.0.1:9000/bucket/a%20b%2Bc?partNumber=1"
    );
    let auth = p.headers["authorization"].to_str().unwrap();
    assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/"));
    assert!(
        auth.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-meta-note;x-amz-security-token,"),
        "{auth}"
    );
    assert_eq!(p.headers["x-amz-security-token"], "session");
    assert!(p.headers["x-amz-security-token"].is_sensitive());
    assert_eq!(p.headers["x-amz-date"], "20130524T000000Z");
    assert_eq!(p.headers["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
    assert_eq!(p.headers.get_all("authorization").iter().count(), 1);
    assert_eq!(p.headers["content-length"], "5");
}

#[test]
fn unsigned_trailer_uploads_keep_their_framing_headers() {
    let mut p = parts(
        Method::PUT,
        "http://127.0.0.1:9000/bucket/k",
        &[
            ("host", "127.0.0.1:9000"),
            ("content-encoding", "aws-chunked"),
            ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
            ("x-amz-decoded-content-length", "5"),
            ("x-amz-trailer", "x-amz-checksum-crc32"),
        ],
    );
    sign_request(&mut p, &spec(), &creds(None), example_time()).unwrap();
    assert_eq!(
        p.headers["x-amz-content-sha256"],
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    );
    assert_eq!(p.headers["content-encoding"], "aws-chunked");
    let auth = p.headers["authorization"].to_str().unwrap();
    assert!(
        auth.contains("x-amz-decoded-content-length;x-amz-trailer"),
        "{auth}"
    );
}
