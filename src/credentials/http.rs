//! The HTTP client the credential sources share: hyper-util's client over hyper-rustls
//! (as in `upstream::http`), with a short connect timeout, a bound on the whole
//! exchange, and a cap on the reply size, because these calls sit between us and
//! being able to sign at all, and a hung metadata endpoint must not stall the refresh.
use std::error::Error as _;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::error::CredentialsError;

pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
pub(crate) const TOTAL_TIMEOUT: Duration = Duration::from_secs(5);
/// Credential replies are well under 4 KiB; anything this big is not one.
const MAX_REPLY: usize = 64 * 1024;

/// Finishes a bodiless request (the container endpoint's GET, IMDS's calls).
pub(crate) fn bodiless(
    provider: &'static str,
    builder: http::request::Builder,
) -> Result<Request<Full<Bytes>>, CredentialsError> {
    builder
        .body(Full::new(Bytes::new()))
        .map_err(|e| CredentialsError::Config {
            provider,
            problem: format!("cannot build the request: {e}"),
        })
}

pub(crate) struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[derive(Clone)]
pub(crate) struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl HttpClient {
    pub fn new() -> Result<HttpClient, CredentialsError> {
        install_crypto_provider();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .try_with_platform_verifier()
            .map_err(|e| CredentialsError::Config {
                provider: "chain",
                problem: format!("no TLS trust roots for credential endpoints: {e}"),
            })?
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            // Calls come minutes apart; an idle connection would only go stale.
            .pool_idle_timeout(Duration::from_secs(30))
            .build(https);
        Ok(HttpClient { client })
    }

    /// Sends `req` and reads the whole reply, within [`TOTAL_TIMEOUT`].
    pub async fn send(
        &self,
        provider: &'static str,
        req: Request<Full<Bytes>>,
    ) -> Result<Reply, CredentialsError> {
        let url = url_for_logs(req.uri());
        let exchange = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| CredentialsError::Http {
                    provider,
                    url: url.clone(),
                    detail: chain_text(&e),
                })?;
            let status = resp.status();
            let body = Limited::new(resp.into_body(), MAX_REPLY)
                .collect()
                .await
                .map_err(|e| CredentialsError::Http {
                    provider,
                    url: url.clone(),
                    detail: format!("reading the reply: {e}"),
                })?
                .to_bytes();
            Ok(Reply { status, body })
        };
        match tokio::time::timeout(TOTAL_TIMEOUT, exchange).await {
            Ok(result) => result,
            Err(_) => Err(CredentialsError::Timeout {
                provider,
                url,
                limit: TOTAL_TIMEOUT,
            }),
        }
    }
}

/// Scheme, authority and path: a query string could carry a credential.
pub(crate) fn url_for_logs(uri: &http::Uri) -> String {
    let mut s = String::new();
    if let Some(scheme) = uri.scheme_str() {
        s.push_str(scheme);
        s.push_str("://");
    }
    if let Some(authority) = uri.authority() {
        s.push_str(authority.host());
        if let Some(port) = authority.port_u16() {
            s.push_str(&format!(":{port}"));
        }
    }
    s.push_str(uri.path());
    s
}

fn chain_text(e: &hyper_util::client::legacy::Error) -> String {
    let mut detail = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        src = s.source();
    }
    detail
}

/// rustls needs exactly one process-wide provider before a connector is built; the
/// app installs it too, but this module must work on its own (tests, other binaries).
fn install_crypto_provider() {
    #[cfg(feature = "tls-ring")]
    let _ = rustls::crypto::ring::default_provider().install_default();
    #[cfg(all(feature = "tls-aws-lc", not(feature = "tls-ring")))]
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
