//! The container credentials endpoint (ECS task roles, EKS Pod Identity): one GET,
//! optionally with an `Authorization` token, answered with JSON. Plain-http full URIs
//! are accepted only for loopback and the ECS/EKS link-local agents, as in the SDKs,
//! so an environment variable cannot send the token to an arbitrary host in clear.
use std::net::IpAddr;
use std::path::PathBuf;

use http::{header, HeaderValue, Method, Request, Uri};

use super::error::{server_text, CredentialsError};
use super::http::{bodiless, url_for_logs, HttpClient};
use super::imds::parse_json_credentials;
use super::{Credentials, Env};

const PROVIDER: &str = "container";
const ECS_AGENT: &str = "http://169.254.170.2";

#[derive(Debug, Clone)]
pub(crate) struct Container {
    url: String,
    token_file: Option<PathBuf>,
    /// The token itself, from the environment; excluded from Debug output.
    token: Option<TokenText>,
}

#[derive(Clone)]
struct TokenText(String);

impl std::fmt::Debug for TokenText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Container {
    /// Configured when either URI variable is set; the relative one wins, as in the
    /// SDKs.
    pub fn from_env(env: &Env) -> Option<Container> {
        let url = match env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
            Some(rel) => format!("{ECS_AGENT}{}", rel.trim()),
            None => env
                .get("AWS_CONTAINER_CREDENTIALS_FULL_URI")?
                .trim()
                .to_owned(),
        };
        Some(Container {
            url,
            token_file: env.path("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
            token: env
                .get("AWS_CONTAINER_AUTHORIZATION_TOKEN")
                .map(|t| TokenText(t.trim().to_owned())),
        })
    }

    pub async fn fetch(&self, http: &HttpClient) -> Result<Credentials, CredentialsError> {
        let uri = checked_uri(&self.url)?;
        let token = match (&self.token_file, &self.token) {
            (Some(path), _) => Some(
                tokio::fs::read_to_string(path)
                    .await
                    .map_err(|e| CredentialsError::File {
                        provider: PROVIDER,
                        what: "authorization token file",
                        path: path.display().to_string(),
                        error: e.to_string(),
                    })?
                    .trim()
                    .to_owned(),
            ),
            (None, Some(t)) => Some(t.0.clone()),
            (None, None) => None,
        };
        let mut req = Request::builder()
            .method(Method::GET)
            .uri(uri.clone())
            .header(header::ACCEPT, "application/json");
        if let Some(token) = &token {
            let value = HeaderValue::from_str(token).map_err(|_| CredentialsError::Config {
                provider: PROVIDER,
                problem: "the authorization token is not a valid header value".to_owned(),
            })?;
            req = req.header(header::AUTHORIZATION, value);
        }
        let req = bodiless(PROVIDER, req)?;
        let reply = http.send(PROVIDER, req).await?;
        if !reply.status.is_success() {
            return Err(CredentialsError::Status {
                provider: PROVIDER,
                url: url_for_logs(&uri),
                status: reply.status.as_u16(),
                detail: error_detail(&reply.text(), token.as_deref()),
            });
        }
        parse_json_credentials(PROVIDER, &reply.body)
    }
}

/// The endpoint as a URI, refused unless https or a host the SDKs trust over http.
fn checked_uri(url: &str) -> Result<Uri, CredentialsError> {
    let bad = |problem: String| CredentialsError::Config {
        provider: PROVIDER,
        problem,
    };
    let uri: Uri = url
        .parse()
        .map_err(|e| bad(format!("endpoint is not a URL: {e}")))?;
    let host = uri.host().unwrap_or("");
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") if http_allowed(host) => Ok(uri),
        Some("http") => Err(bad(format!(
            "plain http only to loopback or the ECS/EKS agent, not {host}"
        ))),
        _ => Err(bad("endpoint must be http or https".to_owned())),
    }
}

fn http_allowed(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<IpAddr>() {
        Ok(ip) if ip.is_loopback() => true,
        Ok(ip) => ["169.254.170.2", "169.254.170.23", "fd00:ec2::23"]
            .iter()
            .any(|agent| agent.parse() == Ok(ip)),
        Err(_) => false,
    }
}

/// `": code: message"` when the agent sent its JSON error shape.
fn error_detail(body: &str, token: Option<&str>) -> String {
    #[derive(serde::Deserialize)]
    struct AgentError {
        #[serde(alias = "Code")]
        code: Option<String>,
        #[serde(alias = "Message")]
        message: Option<String>,
    }
    match serde_json::from_str::<AgentError>(body) {
        Ok(AgentError { code, message }) if code.is_some() || message.is_some() => format!(
            ": {}: {}",
            server_text(code.as_deref().unwrap_or("-"), token),
            server_text(message.as_deref().unwrap_or(""), token)
        ),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_only_to_trusted_hosts() {
        for ok in [
            "http://127.0.0.1:8080/creds",
            "http://127.1.2.3/x",
            "http://[::1]:9/x",
            "http://localhost/x",
            "http://169.254.170.2/v2/credentials/abc",
            "http://169.254.170.23/v1/credentials",
            "http://[fd00:ec2::23]/v1/credentials",
            "https://creds.example.com/x",
        ] {
            assert!(checked_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1/x",
            "http://creds.example.com/x",
            "ftp://127.0.0.1/x",
            "not a url",
        ] {
            assert!(checked_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn relative_uri_wins_and_goes_to_the_ecs_agent() {
        let env = Env::from_pairs([
            (
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "/v2/credentials/id",
            ),
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/x"),
        ]);
        let c = Container::from_env(&env).expect("configured");
        assert_eq!(c.url, "http://169.254.170.2/v2/credentials/id");
    }
}
