//! EC2 instance metadata, IMDSv2 only
//! (<https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instance-metadata-v2-how-it-works.html>):
//! a session token from `PUT /latest/api/token`, then the role name, then that role's
//! credentials as JSON. No IMDSv1 fallback: v1 is the SSRF-prone variant and
//! instances should require v2. Also owns the JSON credentials shape, which the
//! container endpoint shares.
use bytes::Bytes;
use http::{Method, Request, Uri};

use super::error::{server_text, CredentialsError};
use super::http::{bodiless, url_for_logs, HttpClient, Reply};
use super::time::parse_rfc3339;
use super::{Credentials, Env};

const PROVIDER: &str = "imds";
const DEFAULT_ENDPOINT: &str = "http://169.254.169.254";
const TOKEN_TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";
/// Six hours, the maximum; we fetch a new one at every refresh anyway.
const TOKEN_TTL: &str = "21600";
const CREDENTIALS_PATH: &str = "/latest/meta-data/iam/security-credentials/";

#[derive(Debug, Clone)]
pub(crate) struct Imds {
    endpoint: String,
}

impl Imds {
    pub fn from_env(env: &Env) -> Imds {
        let endpoint = env
            .get("AWS_EC2_METADATA_SERVICE_ENDPOINT")
            .unwrap_or(DEFAULT_ENDPOINT);
        Imds {
            endpoint: endpoint.trim().trim_end_matches('/').to_owned(),
        }
    }

    pub async fn fetch(&self, http: &HttpClient) -> Result<Credentials, CredentialsError> {
        let token = self
            .call(
                http,
                Method::PUT,
                "/latest/api/token",
                TOKEN_TTL_HEADER,
                TOKEN_TTL,
            )
            .await?;
        let token = String::from_utf8_lossy(&token.body).trim().to_owned();
        let roles = self
            .call(http, Method::GET, CREDENTIALS_PATH, TOKEN_HEADER, &token)
            .await?;
        let roles = String::from_utf8_lossy(&roles.body).into_owned();
        let role = roles
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .ok_or_else(|| CredentialsError::Reply {
                provider: PROVIDER,
                problem: "no IAM role attached to this instance".to_owned(),
            })?;
        // IAM role names are [\w+=,.@-]; anything else would change the path.
        if !role
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
        {
            return Err(CredentialsError::Reply {
                provider: PROVIDER,
                problem: format!(
                    "role name {:?} is not an IAM role name",
                    server_text(role, None)
                ),
            });
        }
        let path = format!("{CREDENTIALS_PATH}{role}");
        let creds = self
            .call(http, Method::GET, &path, TOKEN_HEADER, &token)
            .await?;
        parse_json_credentials(PROVIDER, &creds.body)
    }

    /// One request with one header; a non-2xx answer is an error naming the path.
    async fn call(
        &self,
        http: &HttpClient,
        method: Method,
        path: &str,
        header: &'static str,
        value: &str,
    ) -> Result<Reply, CredentialsError> {
        let url = format!("{}{path}", self.endpoint);
        let uri: Uri = url.parse().map_err(|e| CredentialsError::Config {
            provider: PROVIDER,
            problem: format!("AWS_EC2_METADATA_SERVICE_ENDPOINT is not a URL: {e}"),
        })?;
        let req = bodiless(
            PROVIDER,
            Request::builder()
                .method(method)
                .uri(uri.clone())
                .header(header, value),
        )?;
        let reply = http.send(PROVIDER, req).await?;
        if !reply.status.is_success() {
            let detail = match reply.status.as_u16() {
                404 if path == CREDENTIALS_PATH => ": no IAM role attached to this instance",
                401 => ": metadata token refused",
                403 if path.ends_with("/api/token") => ": IMDS is disabled on this instance",
                _ => "",
            };
            return Err(CredentialsError::Status {
                provider: PROVIDER,
                url: url_for_logs(&uri),
                status: reply.status.as_u16(),
                detail: detail.to_owned(),
            });
        }
        Ok(reply)
    }
}

/// `{Code?, AccessKeyId, SecretAccessKey, Token, Expiration}`, the shape IMDS and the
/// container endpoint share. No Debug: it holds the secret.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct JsonCredentials {
    code: Option<String>,
    message: Option<String>,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    token: Option<String>,
    expiration: Option<String>,
}

pub(crate) fn parse_json_credentials(
    provider: &'static str,
    body: &Bytes,
) -> Result<Credentials, CredentialsError> {
    let problem = |problem: String| CredentialsError::Reply { provider, problem };
    // Every field is an optional string, so serde_json's type errors ("invalid type:
    // string ..") can never quote a secret; only structure problems are reported.
    let json: JsonCredentials =
        serde_json::from_slice(body).map_err(|e| problem(format!("not credentials JSON: {e}")))?;
    if let Some(code) = json.code.as_deref().filter(|c| *c != "Success") {
        return Err(problem(format!(
            "Code {}: {}",
            server_text(code, None),
            server_text(json.message.as_deref().unwrap_or(""), None)
        )));
    }
    let need = |v: Option<String>, name: &str| {
        v.filter(|v| !v.is_empty())
            .ok_or_else(|| problem(format!("no {name} in the reply")))
    };
    let akid = need(json.access_key_id, "AccessKeyId")?;
    let secret = need(json.secret_access_key, "SecretAccessKey")?;
    let expiration = need(json.expiration, "Expiration")?;
    let expiry = parse_rfc3339(&expiration).map_err(|e| {
        problem(format!(
            "Expiration {:?}: {e}",
            server_text(&expiration, None)
        ))
    })?;
    Ok(Credentials::new(
        akid,
        secret,
        json.token.filter(|t| !t.is_empty()),
        Some(expiry),
        provider,
    ))
}
