//! Which S3 operation a request is, from its method, path and query parameter names.
//!
//! S3 picks the operation from the method *and* the subresource parameters (`?acl`,
//! `?uploads`, `?delete` …), so allowing a method is not allowing an operation. This
//! module allow-lists parameter names per operation and refuses everything else by
//! name. Names are percent-decoded and then matched exactly, because S3's subresource
//! names are case-sensitive (`?ACL` is not the ACL subresource, but it is not on the
//! list either, so it is refused too); `x-amz-*` names are the exception, matched
//! case-insensitively as hoisted headers. Values are never judged. Pure: std + `http`.
use std::borrow::Cow;

use http::Method;
use percent_encoding::percent_decode_str;

use super::amz_headers;
use super::methods::MethodSet;

/// The object (and, opt-in, bucket) operations a site may forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    GetObject,
    HeadObject,
    PutObject,
    DeleteObject,
    CreateMultipartUpload,
    UploadPart,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListParts,
    /// ListObjects or ListObjectsV2 (`list-type=2`), with `allow_listing` only.
    ListObjects,
    /// HEAD on the bucket, with `allow_listing` only.
    HeadBucket,
}

/// SigV4 query-auth parameters (presigned URLs) as the SDKs write them: botocore,
/// the JS v3 presigner (adds `X-Amz-Content-Sha256`), SigV4a (`X-Amz-Region-Set`).
/// They are the client's own credentials, never an operation; matched ignoring case
/// like any `x-amz-*` name.
const QUERY_AUTH: [&str; 9] = [
    "x-amz-algorithm",
    "x-amz-credential",
    "x-amz-date",
    "x-amz-expires",
    "x-amz-signedheaders",
    "x-amz-signature",
    "x-amz-security-token",
    "x-amz-content-sha256",
    "x-amz-region-set",
];

/// Whether a decoded query parameter name is the client's own query auth, which the
/// pipeline strips before signing on Public and Jwt sites.
pub fn is_query_auth_param(name: &str) -> bool {
    QUERY_AUTH.iter().any(|a| a.eq_ignore_ascii_case(name))
}

const OVERRIDES: [&str; 6] = [
    "response-content-type",
    "response-content-disposition",
    "response-cache-control",
    "response-content-encoding",
    "response-content-language",
    "response-expires",
];

const LISTING: [&str; 9] = [
    "list-type",
    "prefix",
    "delimiter",
    "max-keys",
    "continuation-token",
    "start-after",
    "marker",
    "encoding-type",
    "fetch-owner",
];

/// ListParts' paging parameters (GET with `uploadId`).
const LIST_PARTS: [&str; 2] = ["max-parts", "part-number-marker"];

/// The decoded query parameter names, in order, empty pieces (`a&&b`, a trailing `&`)
/// skipped. S3 splits on `&` only.
pub fn param_names(query: Option<&str>) -> impl Iterator<Item = Cow<'_, str>> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let name = piece.split_once('=').map_or(piece, |(n, _)| n);
            percent_decode_str(name).decode_utf8_lossy()
        })
}

/// What the parameters ask for, once each name is sorted.
#[derive(Default)]
struct Params<'q> {
    overrides: Option<Cow<'q, str>>,
    version_id: bool,
    part_number: bool,
    uploads: bool,
    upload_id: bool,
    listing: Option<Cow<'q, str>>,
    list_parts: Option<Cow<'q, str>>,
}

/// Classifies a request whose method is already in `methods`. `path` is the raw path;
/// the key is `path` minus its leading `/`, so only `/` is the bucket. The error
/// completes a sentence for the client and names the parameter it is about.
pub fn classify(
    method: &Method,
    path: &str,
    query: Option<&str>,
    methods: MethodSet,
    allow_listing: bool,
) -> Result<Operation, String> {
    let p = sort(method, query)?;
    if path == "/" {
        return bucket(method, &p, allow_listing);
    }
    if !path.starts_with('/') {
        return Err("the request target is not a path".into());
    }
    if let Some(name) = &p.listing {
        return Err(format!(
            "query parameter {} lists a bucket; it has no meaning on an object",
            shown(name)
        ));
    }
    let multipart = methods.contains(&Method::PUT) || methods.contains(&Method::POST);
    let only_plain = !p.version_id && !p.part_number && !p.uploads && p.overrides.is_none();
    let op = match *method {
        Method::GET | Method::HEAD if p.uploads => return Err(
            "query parameter \"uploads\" on GET lists multipart uploads, a bucket-level operation"
                .into(),
        ),
        Method::GET if p.upload_id => {
            if !multipart {
                return Err(multipart_off());
            }
            if !only_plain {
                return Err("ListParts (GET with uploadId) takes no object parameters".into());
            }
            Operation::ListParts
        }
        Method::HEAD if p.upload_id => {
            return Err("query parameter \"uploadId\" is not accepted on HEAD".into())
        }
        Method::GET | Method::HEAD => {
            if let Some(name) = &p.list_parts {
                return Err(format!(
                    "query parameter {} belongs to ListParts (GET with uploadId)",
                    shown(name)
                ));
            }
            if *method == Method::GET {
                Operation::GetObject
            } else {
                Operation::HeadObject
            }
        }
        _ if p.list_parts.is_some() || p.overrides.is_some() => {
            let name = p.list_parts.as_ref().or(p.overrides.as_ref());
            return Err(format!(
                "query parameter {} is only accepted on GET",
                shown(name.map_or("", |n| n))
            ));
        }
        _ if p.version_id => {
            // A versioned DELETE removes a version for good (no delete marker), and
            // the other methods take no versionId at all.
            return Err(format!(
                "query parameter \"versionId\" is only accepted on GET and HEAD, not {method}"
            ));
        }
        Method::PUT => match (p.upload_id, p.part_number, p.uploads) {
            (_, _, true) => return Err(uploads_not_post()),
            (true, true, false) => Operation::UploadPart,
            (false, false, false) => Operation::PutObject,
            (true, false, false) => {
                return Err("PUT with uploadId (UploadPart) also needs partNumber".into())
            }
            (false, true, false) => {
                return Err("PUT with partNumber (UploadPart) also needs uploadId".into())
            }
        },
        Method::POST => match (p.uploads, p.upload_id, p.part_number) {
            (_, _, true) => {
                return Err("query parameter \"partNumber\" is not accepted on POST".into())
            }
            (true, false, false) => Operation::CreateMultipartUpload,
            (false, true, false) => Operation::CompleteMultipartUpload,
            (true, true, false) => {
                return Err(
                    "POST takes either uploads (create) or uploadId (complete), not both".into(),
                )
            }
            (false, false, false) => {
                return Err(
                    "POST to an object is only a multipart upload (?uploads or ?uploadId)".into(),
                )
            }
        },
        Method::DELETE => {
            if p.uploads || p.part_number {
                let name = if p.uploads { "uploads" } else { "partNumber" };
                return Err(format!(
                    "query parameter \"{name}\" is not accepted on DELETE"
                ));
            }
            if p.upload_id {
                if !multipart {
                    return Err(multipart_off());
                }
                Operation::AbortMultipartUpload
            } else {
                Operation::DeleteObject
            }
        }
        _ => return Err(format!("method {method} names no object operation")),
    };
    Ok(op)
}

/// Sorts every name into [`Params`], refusing names no allowed operation takes.
fn sort<'q>(method: &Method, query: Option<&'q str>) -> Result<Params<'q>, String> {
    let mut p = Params::default();
    for name in param_names(query) {
        match &*name {
            "" => return Err("a query parameter has an empty name".into()),
            // The JS v3 SDK's operation hint (`x-id=GetObject`); S3 ignores it.
            "x-id" => {}
            "versionId" => p.version_id = true,
            "partNumber" => p.part_number = true,
            "uploads" => p.uploads = true,
            "uploadId" => p.upload_id = true,
            n if OVERRIDES.contains(&n) => p.overrides = Some(name),
            n if LISTING.contains(&n) => p.listing = Some(name),
            n if LIST_PARTS.contains(&n) => p.list_parts = Some(name),
            n if is_query_auth_param(n) => {}
            // Bytes, not a str slice: a multi-byte name must not panic here.
            n if n.len() >= 6 && n.as_bytes()[..6].eq_ignore_ascii_case(b"x-amz-") => {
                let lower = n.to_ascii_lowercase();
                if let Err(why) = amz_headers::judge(&lower, method) {
                    return Err(format!("query parameter {} is {why}", shown(n)));
                }
            }
            "Signature" | "AWSAccessKeyId" | "Expires" => {
                return Err(format!(
                    "query parameter {} is SigV2 query auth, which this site does not accept (use SigV4)",
                    shown(&name)
                ))
            }
            _ => {
                return Err(format!(
                    "query parameter {} selects an S3 operation this site does not forward",
                    shown(&name)
                ))
            }
        }
    }
    Ok(p)
}

fn bucket(method: &Method, p: &Params<'_>, allow_listing: bool) -> Result<Operation, String> {
    if !allow_listing {
        return Err("bucket-level requests (listing) are not allowed on this site".into());
    }
    let object_param = p
        .overrides
        .as_deref()
        .or(p.list_parts.as_deref())
        .or(if p.version_id {
            Some("versionId")
        } else if p.part_number {
            Some("partNumber")
        } else if p.uploads {
            Some("uploads")
        } else if p.upload_id {
            Some("uploadId")
        } else {
            None
        });
    if let Some(name) = object_param {
        return Err(format!(
            "query parameter {} is not accepted on the bucket (only listing is)",
            shown(name)
        ));
    }
    match *method {
        Method::GET => Ok(Operation::ListObjects),
        Method::HEAD if p.listing.is_none() => Ok(Operation::HeadBucket),
        Method::HEAD => Err("HEAD on the bucket takes no listing parameters".into()),
        _ => Err(format!(
            "only GET and HEAD may address the bucket, not {method}"
        )),
    }
}

fn multipart_off() -> String {
    "multipart uploads (uploadId) need PUT or POST allowed on this site".into()
}

fn uploads_not_post() -> String {
    "query parameter \"uploads\" (CreateMultipartUpload) is only accepted on POST".into()
}

/// A client-chosen name, quoted and escaped, and cut short, for a reason string.
pub(crate) fn shown(name: &str) -> String {
    const MAX: usize = 64;
    match name.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}…", &name[..cut]),
        None => format!("{name:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_decoded_and_empty_pieces_skipped() {
        let names: Vec<_> = param_names(Some("%61cl&&x=1&=v&a%3Db=2&uploads&"))
            .map(|n| n.into_owned())
            .collect();
        assert_eq!(names, ["acl", "x", "", "a=b", "uploads"]);
        assert_eq!(param_names(None).count(), 0);
        assert_eq!(param_names(Some("")).count(), 0);
    }

    #[test]
    fn shown_escapes_and_truncates() {
        assert_eq!(shown("a\nb"), "\"a\\nb\"");
        assert!(shown(&"x".repeat(500)).len() < 80);
    }

    #[test]
    fn operations_are_named() {
        let rw = MethodSet::parse(["GET", "HEAD", "PUT", "POST", "DELETE"]).unwrap();
        for (method, path, query, op) in [
            (Method::GET, "/k", None, Operation::GetObject),
            (
                Method::HEAD,
                "/k",
                Some("versionId=3"),
                Operation::HeadObject,
            ),
            (
                Method::PUT,
                "/k",
                Some("x-id=PutObject"),
                Operation::PutObject,
            ),
            (Method::DELETE, "/k", None, Operation::DeleteObject),
            (
                Method::POST,
                "/k",
                Some("uploads"),
                Operation::CreateMultipartUpload,
            ),
            (
                Method::PUT,
                "/k",
                Some("partNumber=1&uploadId=u"),
                Operation::UploadPart,
            ),
            (
                Method::POST,
                "/k",
                Some("uploadId=u"),
                Operation::CompleteMultipartUpload,
            ),
            (
                Method::DELETE,
                "/k",
                Some("uploadId=u"),
                Operation::AbortMultipartUpload,
            ),
            (
                Method::GET,
                "/k",
                Some("uploadId=u&max-parts=5"),
                Operation::ListParts,
            ),
            (
                Method::GET,
                "/",
                Some("list-type=2&prefix=a/"),
                Operation::ListObjects,
            ),
            (Method::HEAD, "/", None, Operation::HeadBucket),
        ] {
            assert_eq!(
                classify(&method, path, query, rw, true),
                Ok(op),
                "{method} {path}?{query:?}"
            );
        }
    }
}
