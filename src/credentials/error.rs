//! Why credentials could not be had. Every variant names the source and what failed;
//! none may carry a secret key, session token or web-identity token: values come
//! only from names, paths, status codes and server messages passed through
//! [`server_text`], which redacts the token we sent and bounds the length.
use std::time::Duration;

/// Why resolving or refreshing credentials failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    #[error(
        "no credentials configured (static keys, AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY, \
         a profile, AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN or a container endpoint) \
         and IMDS is disabled by AWS_EC2_METADATA_DISABLED"
    )]
    NotConfigured,
    /// Something in the config or environment cannot be used as given.
    #[error("{provider}: {problem}")]
    Config {
        provider: &'static str,
        problem: String,
    },
    #[error("profile `{profile}` not found (read: {files})")]
    ProfileNotFound { profile: String, files: String },
    #[error("profile `{profile}`: {problem} (read: {files})")]
    ProfileUnusable {
        profile: String,
        problem: String,
        files: String,
    },
    /// The line's text is left out on purpose: it may be a mistyped secret.
    #[error("profile: {file}:{line}: {problem}")]
    ProfileSyntax {
        file: String,
        line: usize,
        problem: &'static str,
    },
    #[error("{provider}: cannot read {what} {path}: {error}")]
    File {
        provider: &'static str,
        what: &'static str,
        path: String,
        error: String,
    },
    #[error("{provider}: {url}: {detail}")]
    Http {
        provider: &'static str,
        url: String,
        detail: String,
    },
    #[error("{provider}: {url}: no complete reply within {limit:?}")]
    Timeout {
        provider: &'static str,
        url: String,
        limit: Duration,
    },
    #[error("{provider}: {url} answered {status}{detail}")]
    Status {
        provider: &'static str,
        url: String,
        status: u16,
        /// Empty, or ": " and the server's own code and message.
        detail: String,
    },
    #[error(
        "web-identity: STS refused AssumeRoleWithWebIdentity (HTTP {status}): {code}: {message}"
    )]
    Sts {
        status: u16,
        code: String,
        message: String,
    },
    #[error("{provider}: unusable reply: {problem}")]
    Reply {
        provider: &'static str,
        problem: String,
    },
}

impl CredentialsError {
    /// The source this error is about, as [`super::CredentialsHandle::source`] names it.
    pub fn provider(&self) -> &'static str {
        match self {
            CredentialsError::NotConfigured => "chain",
            CredentialsError::ProfileNotFound { .. }
            | CredentialsError::ProfileUnusable { .. }
            | CredentialsError::ProfileSyntax { .. } => "profile",
            CredentialsError::Sts { .. } => "web-identity",
            CredentialsError::Config { provider, .. }
            | CredentialsError::File { provider, .. }
            | CredentialsError::Http { provider, .. }
            | CredentialsError::Timeout { provider, .. }
            | CredentialsError::Status { provider, .. }
            | CredentialsError::Reply { provider, .. } => provider,
        }
    }
}

/// Longest piece of server-supplied text kept in an error.
const SERVER_TEXT_MAX: usize = 300;

/// Server text made safe to log: the token we sent is cut out (a server might echo
/// it), control characters become spaces, and the length is bounded.
pub(crate) fn server_text(text: &str, sent_secret: Option<&str>) -> String {
    let mut text = text.trim().to_owned();
    if let Some(secret) = sent_secret.filter(|s| !s.is_empty()) {
        text = text.replace(secret, "<redacted>");
    }
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(SERVER_TEXT_MAX)
        .collect();
    if text.chars().count() > SERVER_TEXT_MAX {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_text_redacts_bounds_and_flattens() {
        let long = "x".repeat(1000);
        assert_eq!(
            server_text(&long, None).chars().count(),
            SERVER_TEXT_MAX + 1
        );
        assert_eq!(
            server_text("bad token eyJtok\r\nen", Some("eyJtok")),
            "bad token <redacted>  en"
        );
    }
}
