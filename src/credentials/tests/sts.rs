//! Web identity against an STS stand-in: the request it gets, the reply parsed, STS
//! errors typed, token rotation, and refresh ahead of expiry through the manual clock.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};

use super::{eventually, minutes, next_tick, t0, ManualClock, StandIn};
use crate::credentials::sts::{parse_reply, sts_endpoint};
use crate::credentials::{ChainConfig, CredentialsError, CredentialsHandle, Env};

const ROLE: &str = "arn:aws:iam::123456789012:role/corsgate";

pub(in crate::credentials::tests) fn sts_ok(akid: &str, expiration: &str) -> String {
    format!(
        r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:ns:sa</SubjectFromWebIdentityToken>
    <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/corsgate/s</Arn><AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser>
    <Credentials>
      <AccessKeyId>{akid}</AccessKeyId>
      <SecretAccessKey>secret-of-{akid}</SecretAccessKey>
      <SessionToken>session-of-{akid}&amp;more</SessionToken>
      <Expiration>{expiration}</Expiration>
    </Credentials>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>"#
    )
}

pub(in crate::credentials::tests) fn sts_error(code: &str, message: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
         <Code>{code}</Code><Message>{message}</Message></Error><RequestId>r-2</RequestId></ErrorResponse>"
    )
}

fn web_identity_env(sts: &StandIn, token_file: &std::path::Path, extra: &[(&str, &str)]) -> Env {
    let base = [
        (
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            token_file.display().to_string(),
        ),
        ("AWS_ROLE_ARN", ROLE.to_owned()),
        ("AWS_ENDPOINT_URL_STS", sts.url()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
    ];
    Env::from_pairs(
        base.into_iter()
            .chain(extra.iter().map(|(k, v)| (*k, v.to_string()))),
    )
}

#[tokio::test]
async fn assume_role_with_web_identity_request_and_reply() {
    let sts = StandIn::start(|_, _| (200, sts_ok("ASIAONE", "2026-12-01T20:00:00Z"))).await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "eyJ.token+one/=\n").unwrap();
    let clock = ManualClock::at(t0());
    let handle = CredentialsHandle::spawn(
        ChainConfig::default(),
        web_identity_env(&sts, &token_file, &[]),
        clock,
    );
    assert!(handle.wait_ready(Duration::from_secs(10)).await);

    let got = sts.requests();
    assert_eq!(got.len(), 1);
    let req = &got[0];
    assert_eq!(req.method, Method::POST);
    assert_eq!(
        req.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(req.header("authorization"), None, "the call is unsigned");
    assert_eq!(
        req.form("Action").as_deref(),
        Some("AssumeRoleWithWebIdentity")
    );
    assert_eq!(req.form("Version").as_deref(), Some("2011-06-15"));
    assert_eq!(req.form("RoleArn").as_deref(), Some(ROLE));
    assert_eq!(
        req.form("WebIdentityToken").as_deref(),
        Some("eyJ.token+one/=")
    );
    assert_eq!(
        req.form("RoleSessionName").as_deref(),
        Some("corsgate-1796151600")
    );

    let creds = handle.current().expect("credentials");
    assert_eq!(creds.access_key_id(), "ASIAONE");
    assert_eq!(creds.secret_access_key(), "secret-of-ASIAONE");
    assert_eq!(creds.session_token(), Some("session-of-ASIAONE&more"));
    assert_eq!(creds.expiry(), Some(t0() + minutes(60)));
    assert_eq!(handle.source(), Some("web-identity"));
}

#[tokio::test]
async fn session_name_from_env() {
    let sts = StandIn::start(|_, _| (200, sts_ok("ASIAONE", "2026-12-01T20:00:00Z"))).await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "tok").unwrap();
    let env = web_identity_env(
        &sts,
        &token_file,
        &[("AWS_ROLE_SESSION_NAME", "my-session")],
    );
    let handle = CredentialsHandle::spawn(ChainConfig::default(), env, ManualClock::at(t0()));
    assert!(handle.wait_ready(Duration::from_secs(10)).await);
    assert_eq!(
        sts.requests()[0].form("RoleSessionName").as_deref(),
        Some("my-session")
    );
}

#[test]
fn sts_error_xml_is_a_typed_error() {
    let body = sts_error(
        "InvalidIdentityToken",
        "Couldn't retrieve verification key from your identity provider",
    );
    let err = parse_reply(StatusCode::BAD_REQUEST, &body, "tok").unwrap_err();
    assert_eq!(
        err,
        CredentialsError::Sts {
            status: 400,
            code: "InvalidIdentityToken".into(),
            message: "Couldn't retrieve verification key from your identity provider".into(),
        }
    );
    // Not XML at all: the status is all there is to say.
    let err = parse_reply(StatusCode::BAD_GATEWAY, "<html>oops", "tok").unwrap_err();
    assert!(
        matches!(err, CredentialsError::Status { status: 502, .. }),
        "{err:?}"
    );
    // A 200 without credentials is not success.
    let err = parse_reply(
        StatusCode::OK,
        "<AssumeRoleWithWebIdentityResponse/>",
        "tok",
    )
    .unwrap_err();
    assert!(err.to_string().contains("no <AccessKeyId>"), "{err}");
    let err = parse_reply(StatusCode::OK, &sts_ok("A", "tomorrow"), "tok").unwrap_err();
    assert!(err.to_string().contains("Expiration"), "{err}");
}

#[test]
fn sts_endpoint_precedence() {
    let table: &[(&[(&str, &str)], &str)] = &[
        (
            &[
                ("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:1"),
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:2"),
                ("AWS_REGION", "eu-west-1"),
            ],
            "http://127.0.0.1:1",
        ),
        (
            &[
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:2"),
                ("AWS_REGION", "eu-west-1"),
            ],
            "http://127.0.0.1:2",
        ),
        (
            &[
                ("AWS_REGION", "eu-west-1"),
                ("AWS_DEFAULT_REGION", "us-east-2"),
            ],
            "https://sts.eu-west-1.amazonaws.com",
        ),
        (
            &[("AWS_DEFAULT_REGION", "us-east-2")],
            "https://sts.us-east-2.amazonaws.com",
        ),
        (
            &[("AWS_REGION", "cn-north-1")],
            "https://sts.cn-north-1.amazonaws.com.cn",
        ),
        (&[], "https://sts.amazonaws.com"),
    ];
    for (pairs, want) in table {
        assert_eq!(sts_endpoint(&Env::from_pairs(pairs.iter().copied())), *want);
    }
}

/// The whole refresh story on one timeline: refreshed ahead of expiry with the
/// rotated token; then a failing STS, whose old credentials are kept until they
/// expire, retried with backoff.
#[tokio::test(start_paused = true)]
async fn refresh_ahead_of_expiry_with_rotated_token_then_failures() {
    let failing = Arc::new(AtomicBool::new(false));
    let fail = Arc::clone(&failing);
    let sts = StandIn::start(move |_, i| {
        if fail.load(Ordering::SeqCst) {
            return (400, sts_error("ExpiredTokenException", "Token expired"));
        }
        match i {
            0 => (200, sts_ok("ASIAONE", "2026-12-01T20:00:00Z")),
            _ => (200, sts_ok("ASIATWO", "2026-12-01T21:00:00Z")),
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "token-1").unwrap();
    let clock = ManualClock::at(t0());
    let handle = CredentialsHandle::spawn(
        ChainConfig::default(),
        web_identity_env(&sts, &token_file, &[]),
        clock.clone(),
    );
    assert!(handle.wait_ready(Duration::from_secs(10)).await);
    assert_eq!(handle.current().unwrap().access_key_id(), "ASIAONE");

    // 54 minutes in, 6 left: not yet due, however often the task wakes.
    clock.set(t0() + minutes(54));
    for _ in 0..3 {
        next_tick().await;
    }
    // Lets any (wrong) fetch finish: paused time only moves once all I/O is idle.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(sts.count(), 1, "refreshed too early");

    // Kubelet rotates the token; 4 minutes left is inside REFRESH_AHEAD.
    std::fs::write(&token_file, "token-2").unwrap();
    clock.set(t0() + minutes(56));
    next_tick().await;
    eventually("the second STS call", || {
        handle.current().map(|c| c.access_key_id().to_owned()) == Some("ASIATWO".into())
    })
    .await;
    let got = sts.requests();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].form("WebIdentityToken").as_deref(), Some("token-2"));

    // STS starts failing 4 minutes before the new keys expire (21:00).
    failing.store(true, Ordering::SeqCst);
    clock.set(t0() + minutes(116));
    next_tick().await;
    eventually("a failed refresh", || sts.count() >= 3).await;
    assert_eq!(handle.current().unwrap().access_key_id(), "ASIATWO");
    assert!(handle.is_ready());
    // Retried after RETRY_FIRST, well before the next regular check.
    tokio::time::advance(Duration::from_millis(1100)).await;
    eventually("a retry", || sts.count() >= 4).await;
    assert_eq!(handle.current().unwrap().access_key_id(), "ASIATWO");

    clock.set(t0() + minutes(120));
    assert!(handle.current().is_none(), "expired credentials handed out");
    assert!(!handle.is_ready());
    assert_eq!(handle.source(), Some("web-identity"));
}
