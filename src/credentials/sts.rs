//! Web identity (EKS IRSA): trade the projected service-account token for role
//! credentials with STS `AssumeRoleWithWebIdentity`
//! (<https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html>).
//! The call is unsigned (the token is the proof), a form POST with an XML reply. The
//! token file is read at every fetch because kubelet rotates it in place.
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{header, Method, Request, StatusCode, Uri};
use http_body_util::Full;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use quick_xml::events::Event;
use quick_xml::Reader;

use super::error::{server_text, CredentialsError};
use super::http::HttpClient;
use super::time::parse_rfc3339;
use super::{Credentials, Env};

const PROVIDER: &str = "web-identity";

/// `application/x-www-form-urlencoded` leaves only these unescaped (WHATWG URL §5.2).
const FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'*')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_');

#[derive(Debug, Clone)]
pub(crate) struct WebIdentity {
    token_file: PathBuf,
    role_arn: String,
    session_name: Option<String>,
    endpoint: String,
}

impl WebIdentity {
    /// Configured when both the token file and the role are set.
    pub fn from_env(env: &Env) -> Option<WebIdentity> {
        Some(WebIdentity {
            token_file: env.path("AWS_WEB_IDENTITY_TOKEN_FILE")?,
            role_arn: env.get("AWS_ROLE_ARN")?.trim().to_owned(),
            session_name: env
                .get("AWS_ROLE_SESSION_NAME")
                .map(|s| s.trim().to_owned()),
            endpoint: sts_endpoint(env),
        })
    }

    pub async fn fetch(
        &self,
        http: &HttpClient,
        now: SystemTime,
    ) -> Result<Credentials, CredentialsError> {
        let uri: Uri = self
            .endpoint
            .parse()
            .map_err(|e| CredentialsError::Config {
                provider: PROVIDER,
                problem: format!("STS endpoint {:?} is not a URL: {e}", self.endpoint),
            })?;
        let token = tokio::fs::read_to_string(&self.token_file)
            .await
            .map_err(|e| CredentialsError::File {
                provider: PROVIDER,
                what: "token file",
                path: self.token_file.display().to_string(),
                error: e.to_string(),
            })?;
        let token = token.trim();
        if token.is_empty() {
            return Err(CredentialsError::Config {
                provider: PROVIDER,
                problem: format!("token file {} is empty", self.token_file.display()),
            });
        }
        let session_name = self.session_name.clone().unwrap_or_else(|| {
            let secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
            format!("corsgate-{secs}")
        });
        let body = form(&[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", &self.role_arn),
            ("RoleSessionName", &session_name),
            ("WebIdentityToken", token),
        ]);
        let req = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "text/xml")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| CredentialsError::Config {
                provider: PROVIDER,
                problem: format!("cannot build the STS request: {e}"),
            })?;
        let reply = http.send(PROVIDER, req).await?;
        parse_reply(reply.status, &reply.text(), token)
    }
}

/// `AWS_ENDPOINT_URL_STS`, else `AWS_ENDPOINT_URL`, else the regional endpoint, else
/// the global one.
pub(crate) fn sts_endpoint(env: &Env) -> String {
    if let Some(url) = env
        .get("AWS_ENDPOINT_URL_STS")
        .or_else(|| env.get("AWS_ENDPOINT_URL"))
    {
        return url.trim().to_owned();
    }
    match env
        .get("AWS_REGION")
        .or_else(|| env.get("AWS_DEFAULT_REGION"))
    {
        Some(region) if region.starts_with("cn-") => {
            format!("https://sts.{}.amazonaws.com.cn", region.trim())
        }
        Some(region) => format!("https://sts.{}.amazonaws.com", region.trim()),
        None => "https://sts.amazonaws.com".to_owned(),
    }
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, FORM)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Turns STS's reply into credentials or a typed error. `token` is what we sent, cut
/// out of any server text that might echo it.
pub(crate) fn parse_reply(
    status: StatusCode,
    body: &str,
    token: &str,
) -> Result<Credentials, CredentialsError> {
    if !status.is_success() {
        let fields = xml_leaves(body, &["Code", "Message"]).unwrap_or_default();
        return match fields.get("Code") {
            Some(code) => Err(CredentialsError::Sts {
                status: status.as_u16(),
                code: server_text(code, Some(token)),
                message: server_text(
                    fields.get("Message").map_or("", String::as_str),
                    Some(token),
                ),
            }),
            None => Err(CredentialsError::Status {
                provider: PROVIDER,
                url: "STS".to_owned(),
                status: status.as_u16(),
                detail: String::new(),
            }),
        };
    }
    let problem = |problem: String| CredentialsError::Reply {
        provider: PROVIDER,
        problem,
    };
    let wanted = [
        "AccessKeyId",
        "SecretAccessKey",
        "SessionToken",
        "Expiration",
    ];
    let mut fields = xml_leaves(body, &wanted).map_err(problem)?;
    let mut take = |name: &str| {
        fields
            .remove(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                problem(format!(
                    "no <{name}> in the AssumeRoleWithWebIdentity reply"
                ))
            })
    };
    let (akid, secret, session) = (
        take("AccessKeyId")?,
        take("SecretAccessKey")?,
        take("SessionToken")?,
    );
    let expiration = take("Expiration")?;
    let expiry = parse_rfc3339(&expiration).map_err(|e| {
        problem(format!(
            "<Expiration> {:?}: {e}",
            server_text(&expiration, None)
        ))
    })?;
    Ok(Credentials::new(
        akid,
        secret,
        Some(session),
        Some(expiry),
        PROVIDER,
    ))
}

/// The text of the first element with each wanted local name, wherever it sits; STS
/// names are unique within a reply, so paths add nothing but brittleness. Errors give
/// a byte offset only (quick-xml's messages may quote content).
fn xml_leaves(xml: &str, wanted: &[&'static str]) -> Result<HashMap<&'static str, String>, String> {
    let mut reader = Reader::from_str(xml);
    let mut out = HashMap::new();
    let mut open: Option<(&'static str, String)> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|_| format!("malformed XML near byte {}", reader.error_position()))?;
        match event {
            Event::Start(e) => {
                let name = e.local_name();
                open = wanted
                    .iter()
                    .find(|w| **w == name.as_ref() && !out.contains_key(**w))
                    .map(|w| (*w, String::new()));
            }
            Event::Text(t) => {
                if let Some((_, s)) = &mut open {
                    s.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if let Some((_, s)) = &mut open {
                    s.push_str(&t);
                }
            }
            Event::GeneralRef(r) => {
                if let Some((_, s)) = &mut open {
                    let c = match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        _ => quick_xml::escape::resolve_predefined_entity(&r)
                            .ok_or("unknown XML entity")?
                            .to_owned(),
                    };
                    s.push_str(&c);
                }
            }
            Event::End(_) => {
                if let Some((name, s)) = open.take() {
                    out.insert(name, s.trim().to_owned());
                }
            }
            Event::Eof => return Ok(out),
            _ => {}
        }
    }
}
