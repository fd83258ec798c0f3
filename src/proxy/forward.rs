//! Phase 7: sending a request to the site's upstream. Shared by the direct path and the
//! cache's fill task, which is why it takes owned pieces (`Arc<Gateway>`) it can move.
use std::sync::Arc;

use http::header;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, Uri, Version};

use super::private::Signer;
use super::{headers, Backend, ConnInfo, Gateway};
use crate::access::{AccessMode, AccessPolicy};
use crate::upstream::http::UpstreamError;
use crate::upstream::sign;
use crate::upstream::Body;

/// Where a request goes: one site of one config snapshot, and who asked.
#[derive(Clone, Copy)]
pub struct Target<'a> {
    pub gw: &'a Arc<Gateway>,
    pub site: usize,
    pub conn: ConnInfo,
    /// The Host the client asked for (sent as X-Forwarded-Host).
    pub host: Option<&'a str>,
}

impl Target<'_> {
    /// Forwards `req`; the response body still streams.
    pub async fn forward(&self, req: Request<Body>) -> Result<Response<Body>, UpstreamError> {
        match &self.gw.backends[self.site] {
            Backend::File(bucket) => Ok(bucket.handle(req).await),
            Backend::Http {
                client,
                scheme,
                authority,
                base_path,
            } => {
                let mut req =
                    upstream_request(req, self.conn, self.host, scheme, authority, base_path)?;
                let private = &self.gw.private[self.site];
                if let Some(AccessPolicy {
                    mode: AccessMode::Jwt(_),
                    ..
                }) = &private.access
                {
                    // The client's bearer token is for us, never for the bucket.
                    req.headers_mut().remove(header::AUTHORIZATION);
                }
                if let Some(signer) = &private.signer {
                    req = sign(req, signer)?;
                }
                let mut resp = client.send(req).await?;
                headers::remove_hop_by_hop(resp.headers_mut());
                Ok(resp)
            }
        }
    }
}

/// Phase 6: signs the finished upstream request with the site's current credentials.
fn sign(req: Request<Body>, signer: &Signer) -> Result<Request<Body>, UpstreamError> {
    let creds = signer
        .credentials
        .current()
        .ok_or(UpstreamError::NoCredentials)?;
    let (mut parts, body) = req.into_parts();
    let now = signer.clock.now();
    sign::sign_request(&mut parts, &signer.spec, &creds, now).map_err(|e| match e {
        sign::SignError::BadRequest(why) => UpstreamError::Unsignable(why),
        sign::SignError::Failed(why) => UpstreamError::Failed(why),
    })?;
    Ok(Request::from_parts(parts, body))
}

/// Rewrites a client request into the upstream request: absolute URI on the configured
/// upstream (never on anything the client named), path and query byte for byte.
fn upstream_request(
    req: Request<Body>,
    conn: ConnInfo,
    client_host: Option<&str>,
    scheme: &Scheme,
    authority: &Authority,
    base_path: &str,
) -> Result<Request<Body>, UpstreamError> {
    let (mut parts, body) = req.into_parts();
    let pq = parts.uri.path_and_query().map_or("/", PathAndQuery::as_str);
    let target = if base_path.is_empty() {
        PathAndQuery::try_from(pq)
    } else {
        PathAndQuery::try_from(format!("{base_path}{pq}"))
    }
    .map_err(|_| UpstreamError::BadTarget)?;
    parts.uri = Uri::builder()
        .scheme(scheme.clone())
        .authority(authority.clone())
        .path_and_query(target)
        .build()
        .map_err(|_| UpstreamError::BadTarget)?;
    // The client may have spoken HTTP/2; the pooled connection decides the version.
    parts.version = Version::HTTP_11;
    headers::to_upstream(
        &mut parts.headers,
        &headers::Forwarding {
            upstream_authority: authority.as_str(),
            client_ip: conn.peer.ip(),
            proto: conn.proto,
            client_host,
        },
    );
    Ok(Request::from_parts(parts, body))
}
