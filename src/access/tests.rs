//! Table-driven tests of [`check`]'s first two rules: methods (deny by default) and
//! operations (object requests only, query parameter names allow-listed, multipart
//! when uploads are allowed, listing opt-in). Each refusal asserts its status, kind and
//! a fragment of its reason, so a case passing for the wrong reason fails.
use super::test_support::{case, policy, run, Want::*, ALL, READ};
use super::*;

#[test]
fn methods_are_deny_by_default() {
    let p = policy(AccessMode::Public, READ, false);
    run(
        &p,
        &[
            case("GET", "/k", Allow(Operation::GetObject)),
            case("HEAD", "/k", Allow(Operation::HeadObject)),
            case(
                "PUT",
                "/k",
                Deny(403, "method", "method PUT is not allowed on this site"),
            ),
            case("POST", "/k?uploads", Deny(403, "method", "method POST")),
            case("DELETE", "/k", Deny(403, "method", "(allowed: GET, HEAD)")),
            case("PATCH", "/k", Deny(403, "method", "PATCH")),
            case("TRACE", "/k", Deny(403, "method", "TRACE")),
            case("CONNECT", "/k", Deny(403, "method", "CONNECT")),
            case("PROPFIND", "/k", Deny(403, "method", "PROPFIND")),
            // Method first: a wrong method on a bad operation is a method refusal.
            case("PUT", "/k?uploads", Deny(403, "method", "PUT")),
        ],
    );
    let all = policy(AccessMode::Public, ALL, false);
    run(&all, &[case("PATCH", "/k", Deny(403, "method", "PATCH"))]);
}

#[test]
fn only_object_operations() {
    let p = policy(AccessMode::Public, ALL, false);
    run(
        &p,
        &[
            case("GET", "/", Deny(403, "operation", "bucket-level requests")),
            case(
                "GET",
                "/?list-type=2",
                Deny(403, "operation", "bucket-level"),
            ),
            case("HEAD", "/", Deny(403, "operation", "bucket-level")),
            // `//` runs and odd encodings still name a key: S3's business.
            case("GET", "//", Allow(Operation::GetObject)),
            case("GET", "/%2F", Allow(Operation::GetObject)),
            case(
                "GET",
                "/k?acl",
                Deny(403, "operation", "\"acl\" selects an S3 operation"),
            ),
            case("GET", "/k?acl=", Deny(403, "operation", "\"acl\"")),
            case("GET", "/k?acl&x", Deny(403, "operation", "\"acl\"")),
            case("GET", "/k?%61cl", Deny(403, "operation", "\"acl\"")),
            case("GET", "/k?ACL", Deny(403, "operation", "\"ACL\"")),
            case(
                "GET",
                "/k?versionId=1&acl",
                Deny(403, "operation", "\"acl\""),
            ),
            case("POST", "/k?delete", Deny(403, "operation", "\"delete\"")),
            case("POST", "/k?restore", Deny(403, "operation", "\"restore\"")),
            case(
                "POST",
                "/k?select&select-type=2",
                Deny(403, "operation", "\"select\""),
            ),
            case("GET", "/k?torrent", Deny(403, "operation", "\"torrent\"")),
            case("PUT", "/k?tagging", Deny(403, "operation", "\"tagging\"")),
            case(
                "PUT",
                "/k?retention",
                Deny(403, "operation", "\"retention\""),
            ),
            case(
                "PUT",
                "/k?legal-hold",
                Deny(403, "operation", "\"legal-hold\""),
            ),
            case(
                "GET",
                "/k?attributes",
                Deny(403, "operation", "\"attributes\""),
            ),
            case("PUT", "/k?policy", Deny(403, "operation", "\"policy\"")),
            case("PUT", "/k?cors", Deny(403, "operation", "\"cors\"")),
            case(
                "GET",
                "/k?list-type=2",
                Deny(403, "operation", "lists a bucket"),
            ),
            case(
                "GET",
                "/k?uploads",
                Deny(403, "operation", "bucket-level operation"),
            ),
            case("GET", "/k?=x", Deny(403, "operation", "empty name")),
            case(
                "GET",
                "/k?Signature=s&AWSAccessKeyId=a&Expires=1",
                Deny(403, "operation", "SigV2"),
            ),
            // Duplicates and empty pieces are fine.
            case(
                "GET",
                "/k?versionId=1&versionId=2&&",
                Allow(Operation::GetObject),
            ),
            case(
                "GET",
                "/k?response-content-type=text/plain&response-expires=0",
                Allow(Operation::GetObject),
            ),
            case(
                "HEAD",
                "/k?partNumber=2&versionId=v",
                Allow(Operation::HeadObject),
            ),
            case("GET", "/k?x-id=GetObject", Allow(Operation::GetObject)),
            case(
                "PUT",
                "/k?response-content-type=x",
                Deny(403, "operation", "only accepted on GET"),
            ),
            case(
                "DELETE",
                "/k?versionId=1",
                Deny(
                    403,
                    "operation",
                    "\"versionId\" is only accepted on GET and HEAD",
                ),
            ),
            case("PUT", "/k?versionId=1", Deny(403, "operation", "versionId")),
            case(
                "POST",
                "/k",
                Deny(403, "operation", "only a multipart upload"),
            ),
            // x-amz-* in the query are hoisted headers, judged like headers.
            case(
                "PUT",
                "/k?x-amz-acl=public-read",
                Deny(403, "operation", "access grants"),
            ),
            case(
                "PUT",
                "/k?X-Amz-Copy-Source=b/k",
                Deny(403, "operation", "a copy would read"),
            ),
            case(
                "PUT",
                "/k?X-Amz-Checksum-Sha256=abc",
                Allow(Operation::PutObject),
            ),
            case(
                "PUT",
                "/k?x-amz-foo=1",
                Deny(
                    403,
                    "operation",
                    "\"x-amz-foo\" is not allowed on this site",
                ),
            ),
        ],
    );
}

#[test]
fn multipart_flow_needs_put_or_post() {
    let rw = policy(
        AccessMode::Public,
        &["GET", "HEAD", "PUT", "POST", "DELETE"],
        false,
    );
    run(
        &rw,
        &[
            case(
                "POST",
                "/k?uploads",
                Allow(Operation::CreateMultipartUpload),
            ),
            case(
                "PUT",
                "/k?partNumber=1&uploadId=x",
                Allow(Operation::UploadPart),
            ),
            case(
                "POST",
                "/k?uploadId=x",
                Allow(Operation::CompleteMultipartUpload),
            ),
            case(
                "DELETE",
                "/k?uploadId=x",
                Allow(Operation::AbortMultipartUpload),
            ),
            case(
                "GET",
                "/k?uploadId=x&part-number-marker=3",
                Allow(Operation::ListParts),
            ),
            case(
                "PUT",
                "/k?uploads",
                Deny(403, "operation", "only accepted on POST"),
            ),
            case(
                "PUT",
                "/k?uploadId=x",
                Deny(403, "operation", "needs partNumber"),
            ),
            case(
                "PUT",
                "/k?partNumber=1",
                Deny(403, "operation", "needs uploadId"),
            ),
            case(
                "POST",
                "/k?uploads&uploadId=x",
                Deny(403, "operation", "not both"),
            ),
            case(
                "HEAD",
                "/k?uploadId=x",
                Deny(403, "operation", "not accepted on HEAD"),
            ),
            case(
                "GET",
                "/k?max-parts=2",
                Deny(403, "operation", "belongs to ListParts"),
            ),
            case(
                "DELETE",
                "/k?partNumber=1",
                Deny(403, "operation", "not accepted on DELETE"),
            ),
        ],
    );
    // A site that may read and delete but not upload cannot touch uploads either.
    let rd = policy(AccessMode::Public, &["GET", "HEAD", "DELETE"], false);
    run(
        &rd,
        &[
            case(
                "GET",
                "/k?uploadId=x",
                Deny(403, "operation", "need PUT or POST"),
            ),
            case(
                "DELETE",
                "/k?uploadId=x",
                Deny(403, "operation", "need PUT or POST"),
            ),
            case("DELETE", "/k", Allow(Operation::DeleteObject)),
        ],
    );
}

#[test]
fn listing_is_opt_in_and_read_only() {
    let p = policy(AccessMode::Public, ALL, true);
    run(
        &p,
        &[
            case("GET", "/", Allow(Operation::ListObjects)),
            case(
                "GET",
                "/?list-type=2&prefix=a%2F&delimiter=%2F&max-keys=10&continuation-token=t&start-after=a&fetch-owner=true&encoding-type=url",
                Allow(Operation::ListObjects),
            ),
            case("GET", "/?marker=m", Allow(Operation::ListObjects)),
            case("HEAD", "/", Allow(Operation::HeadBucket)),
            case("HEAD", "/?prefix=a", Deny(403, "operation", "no listing parameters")),
            case("GET", "/?uploads", Deny(403, "operation", "\"uploads\" is not accepted on the bucket")),
            case("GET", "/?versions", Deny(403, "operation", "\"versions\"")),
            case("GET", "/?acl", Deny(403, "operation", "\"acl\"")),
            case("GET", "/?versionId=1", Deny(403, "operation", "versionId")),
            case("PUT", "/", Deny(403, "operation", "only GET and HEAD may address the bucket")),
            case("POST", "/?delete", Deny(403, "operation", "\"delete\"")),
            case("DELETE", "/", Deny(403, "operation", "only GET and HEAD")),
        ],
    );
}
