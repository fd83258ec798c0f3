//! The container endpoint and IMDSv2 against stand-ins that check the authorization
//! and session-token headers themselves and refuse requests without them.
use std::time::Duration;

use http::Method;

use super::{eventually, minutes, next_tick, t0, ManualClock, StandIn};
use crate::credentials::{ChainConfig, CredentialsHandle, Env};

fn creds_json(akid: &str, expiration: &str) -> String {
    format!(
        r#"{{"Code":"Success","LastUpdated":"2026-12-01T18:00:00Z","Type":"AWS-HMAC",
            "AccessKeyId":"{akid}","SecretAccessKey":"secret-of-{akid}",
            "Token":"token-of-{akid}","Expiration":"{expiration}"}}"#
    )
}

/// Answers only when `Authorization` is the content of `token_file` right now.
async fn container_standin(token_file: std::path::PathBuf) -> StandIn {
    StandIn::start(move |req, i| {
        let want = std::fs::read_to_string(&token_file).unwrap();
        if req.header("authorization") != Some(want.trim()) {
            return (
                401,
                r#"{"code":"AccessDenied","message":"bad token"}"#.into(),
            );
        }
        let akid = format!("ASIACONT{i}");
        (200, creds_json(&akid, "2026-12-01T20:00:00Z"))
    })
    .await
}

#[tokio::test(start_paused = true)]
async fn container_sends_the_token_from_the_file_and_rereads_it() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("eks-pod-identity-token");
    std::fs::write(&token_file, "pod-token-1\n").unwrap();
    let agent = container_standin(token_file.clone()).await;
    let env = Env::from_pairs([
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("{}/v1/credentials?id=7", agent.url()),
        ),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            token_file.display().to_string(),
        ),
        // The file wins over the variable.
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "env-token".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]);
    let clock = ManualClock::at(t0());
    let handle = CredentialsHandle::spawn(ChainConfig::default(), env, clock.clone());
    assert!(handle.wait_ready(Duration::from_secs(10)).await);
    let got = agent.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].method, Method::GET);
    assert_eq!(got[0].target, "/v1/credentials?id=7");
    assert_eq!(got[0].header("authorization"), Some("pod-token-1"));
    let creds = handle.current().unwrap();
    assert_eq!(creds.access_key_id(), "ASIACONT0");
    assert_eq!(creds.session_token(), Some("token-of-ASIACONT0"));
    assert_eq!(handle.source(), Some("container"));

    std::fs::write(&token_file, "pod-token-2\n").unwrap();
    clock.set(t0() + minutes(57));
    next_tick().await;
    eventually("the refresh with the new token", || {
        handle
            .current()
            .is_some_and(|c| c.access_key_id() == "ASIACONT1")
    })
    .await;
    assert_eq!(
        agent.requests()[1].header("authorization"),
        Some("pod-token-2")
    );
}

#[tokio::test]
async fn container_token_from_env_and_agent_errors() {
    let agent = StandIn::start(|req, _| match req.header("authorization") {
        Some("env-token") => (200, creds_json("ASIAENVTOK", "2026-12-01T20:00:00Z")),
        _ => (403, r#"{"code":"AccessDenied","message":"no"}"#.into()),
    })
    .await;
    let env = |token: &str| {
        Env::from_pairs([
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", agent.url() + "/creds"),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", token.to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ])
    };
    let handle = CredentialsHandle::spawn(
        ChainConfig::default(),
        env("env-token"),
        ManualClock::at(t0()),
    );
    assert!(handle.wait_ready(Duration::from_secs(10)).await);
    assert_eq!(handle.current().unwrap().access_key_id(), "ASIAENVTOK");

    let mut source = crate::credentials::chain::select(&ChainConfig::default(), &env("wrong"))
        .await
        .unwrap();
    let err = source.fetch(&mut None, t0()).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("container") && text.contains("403") && text.contains("AccessDenied"),
        "{text}"
    );
    assert_eq!(
        agent.requests().last().unwrap().header("authorization"),
        Some("wrong")
    );
}

/// IMDSv2: refuses everything but the token PUT unless the session token is sent.
async fn imds_standin(credentials: String) -> StandIn {
    StandIn::start(move |req, _| {
        let path = req.target.as_str();
        if req.method == Method::PUT && path == "/latest/api/token" {
            return match req.header("x-aws-ec2-metadata-token-ttl-seconds") {
                Some("21600") => (200, "imds-session-token".into()),
                _ => (400, String::new()),
            };
        }
        if req.method != Method::GET
            || req.header("x-aws-ec2-metadata-token") != Some("imds-session-token")
        {
            return (401, String::new());
        }
        match path {
            "/latest/meta-data/iam/security-credentials/" => (200, "corsgate-role\nother\n".into()),
            "/latest/meta-data/iam/security-credentials/corsgate-role" => {
                (200, credentials.clone())
            }
            _ => (404, String::new()),
        }
    })
    .await
}

#[tokio::test]
async fn imds_v2_token_then_role_then_credentials() {
    let imds = imds_standin(creds_json("ASIAIMDS", "2026-12-01T20:00:00Z")).await;
    // Nothing else configured: IMDS is the fallback.
    let env = Env::from_pairs([("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url() + "/")]);
    let handle = CredentialsHandle::spawn(ChainConfig::default(), env, ManualClock::at(t0()));
    assert!(handle.wait_ready(Duration::from_secs(10)).await);
    let got = imds.requests();
    let seen: Vec<(Method, &str)> = got
        .iter()
        .map(|r| (r.method.clone(), r.target.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            (Method::PUT, "/latest/api/token"),
            (Method::GET, "/latest/meta-data/iam/security-credentials/"),
            (
                Method::GET,
                "/latest/meta-data/iam/security-credentials/corsgate-role"
            ),
        ]
    );
    assert!(got[1..]
        .iter()
        .all(|r| r.header("x-aws-ec2-metadata-token") == Some("imds-session-token")));
    let creds = handle.current().unwrap();
    assert_eq!(creds.access_key_id(), "ASIAIMDS");
    assert_eq!(creds.secret_access_key(), "secret-of-ASIAIMDS");
    assert_eq!(creds.expiry(), Some(t0() + minutes(60)));
    assert_eq!(handle.source(), Some("imds"));
}

#[tokio::test]
async fn imds_failures_are_typed() {
    let not_success =
        r#"{"Code":"AssumeRoleUnauthorizedAccess","Message":"denied","LastUpdated":"x"}"#;
    let imds = imds_standin(not_success.to_owned()).await;
    let env = Env::from_pairs([("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url())]);
    let mut source = crate::credentials::chain::select(&ChainConfig::default(), &env)
        .await
        .unwrap();
    assert_eq!(source.name(), "imds");
    let err = source.fetch(&mut None, t0()).await.unwrap_err().to_string();
    assert!(
        err.contains("imds") && err.contains("AssumeRoleUnauthorizedAccess"),
        "{err}"
    );

    // A metadata service that refuses the token PUT (IMDS turned off on the instance).
    let off = StandIn::start(|_, _| (403, String::new())).await;
    let env = Env::from_pairs([("AWS_EC2_METADATA_SERVICE_ENDPOINT", off.url())]);
    let mut source = crate::credentials::chain::select(&ChainConfig::default(), &env)
        .await
        .unwrap();
    let err = source.fetch(&mut None, t0()).await.unwrap_err().to_string();
    assert!(err.contains("403") && err.contains("disabled"), "{err}");
    assert_eq!(off.count(), 1, "no GET after a refused token PUT");
}
