//! SigV4 presigned URLs for an s3s-fs bucket, made with aws-sigv4's query signing (the
//! same construction as every SDK's presigner), with the server's own keys.
use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{
    sign, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
    UriPathNormalizationMode,
};

use super::S3Server;

/// The path and query (`/key?X-Amz-...`) a client sends to the gateway for `key`; the
/// signature covers the bucket's own URL, which the gateway's upstream points at.
pub fn presign(s3: &S3Server, method: &str, key: &str, expires: Duration) -> String {
    let (key_id, secret) = s3.credentials.clone().expect("s3s-fs started with keys");
    let url = format!("{}/{key}", s3.bucket_url());
    let host = s3.addr.to_string();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(expires);
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    let identity =
        aws_credential_types::Credentials::new(key_id, secret, None, None, "test").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("s3")
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        method,
        url.as_str(),
        [("host", host.as_str())].into_iter(),
        SignableBody::UnsignedPayload,
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let query: Vec<String> = instructions
        .params()
        .iter()
        .map(|(k, v)| {
            let v = percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC);
            format!("{k}={v}")
        })
        .collect();
    format!("/{key}?{}", query.join("&"))
}
