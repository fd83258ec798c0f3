//! No secret key, session token or web-identity token in any error or Debug output.
//! Every error variant is produced through a real code path fed with known secrets
//! (servers that echo them, files that hold them), then formatted both ways.
use std::collections::HashSet;
use std::mem::discriminant;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;

use super::{t0, ManualClock, StandIn};
use crate::credentials::chain::select;
use crate::credentials::container::Container;
use crate::credentials::imds::parse_json_credentials;
use crate::credentials::sts::parse_reply;
use crate::credentials::{ChainConfig, CredentialsError, CredentialsHandle, Env, StaticKeys};

const SECRET: &str = "SeCrEtwJalrXUtnFEMIK7MDENG";
const SESSION: &str = "SeSsIoNFwoGZXIvYXdzEBYaDH";
const WEB_TOKEN: &str = "WeBiDeyJhbGciOiJSUzI1NiIs";

fn assert_clean(what: &str, text: &str) {
    for secret in [SECRET, SESSION, WEB_TOKEN] {
        assert!(!text.contains(secret), "{what} leaks {secret}: {text}");
    }
}

async fn error_of(config: ChainConfig, env: Env) -> CredentialsError {
    match select(&config, &env).await {
        Err(e) => e,
        Ok(mut source) => source.fetch(&mut None, t0()).await.unwrap_err(),
    }
}

fn env(pairs: &[(&str, &str)]) -> Env {
    Env::from_pairs(
        pairs
            .iter()
            .copied()
            .chain([("AWS_EC2_METADATA_DISABLED", "true")]),
    )
}

#[tokio::test(start_paused = true)]
async fn nothing_secret_is_ever_printed() {
    let keys = StaticKeys {
        access_key_id: "AKIAVISIBLE".into(),
        secret_access_key: SECRET.into(),
        session_token: Some(SESSION.into()),
    };
    let config = ChainConfig {
        static_keys: Some(keys.clone()),
        profile: Some("p".into()),
    };
    let handle = CredentialsHandle::spawn(config.clone(), Env::default(), ManualClock::at(t0()));
    assert!(handle.wait_ready(Duration::from_secs(5)).await);
    let mut debug = vec![
        format!("{keys:?}"),
        format!("{config:?}"),
        format!(
            "{:?}",
            env(&[
                ("AWS_SECRET_ACCESS_KEY", SECRET),
                ("AWS_SESSION_TOKEN", SESSION)
            ])
        ),
        format!("{handle:?}"),
        format!("{:?}", handle.current().unwrap()),
        format!(
            "{:?}",
            Container::from_env(&env(&[
                ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/"),
                ("AWS_CONTAINER_AUTHORIZATION_TOKEN", WEB_TOKEN),
            ]))
        ),
    ];
    assert!(
        debug[0].contains("AKIAVISIBLE") && debug[0].contains("<redacted>"),
        "{}",
        debug[0]
    );

    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    std::fs::write(
        path("syntax"),
        format!("[default]\naws_secret_access_key {SECRET}\n"),
    )
    .unwrap();
    std::fs::write(
        path("half"),
        format!("[default]\naws_secret_access_key = {SECRET}\n"),
    )
    .unwrap();
    std::fs::write(path("token"), WEB_TOKEN).unwrap();

    let echo_token = StandIn::start(|req, _| {
        let token = req.form("WebIdentityToken").unwrap_or_default();
        (
            400,
            super::sts::sts_error(&format!("Bad{token}"), &format!("token {token} is invalid")),
        )
    })
    .await;
    let echo_auth = StandIn::start(|req, _| {
        let token = req.header("authorization").unwrap_or_default().to_owned();
        (
            403,
            format!(r#"{{"code":"Denied","message":"{token} refused"}}"#),
        )
    })
    .await;
    // Accepts and never answers: only the total timeout ends the call.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    // Accepts and hangs up at once: a transport error, with no port left to chance.
    let rude = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rude_url = format!("http://{}", rude.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((conn, _)) = rude.accept().await {
            drop(conn);
        }
    });

    let named = |p: &str| ChainConfig {
        static_keys: None,
        profile: Some(p.into()),
    };
    let sts_env = |url: &str| {
        env(&[
            ("AWS_WEB_IDENTITY_TOKEN_FILE", &path("token")),
            ("AWS_ROLE_ARN", "arn:aws:iam::1:role/r"),
            ("AWS_ENDPOINT_URL_STS", url),
        ])
    };
    let query_secret = format!("{}/creds?key={SECRET}", echo_auth.url());
    let mut errors = vec![
        error_of(ChainConfig::default(), env(&[])).await,
        error_of(
            ChainConfig {
                static_keys: Some(StaticKeys {
                    access_key_id: String::new(),
                    ..keys.clone()
                }),
                profile: None,
            },
            env(&[]),
        )
        .await,
        error_of(named("x"), env(&[("AWS_SHARED_CREDENTIALS_FILE", &path("half"))])).await,
        error_of(named("default"), env(&[("AWS_SHARED_CREDENTIALS_FILE", &path("half"))])).await,
        error_of(named("default"), env(&[("AWS_SHARED_CREDENTIALS_FILE", &path("syntax"))])).await,
        error_of(ChainConfig::default(), sts_env(&echo_token.url())).await,
        error_of(
            ChainConfig::default(),
            env(&[
                ("AWS_WEB_IDENTITY_TOKEN_FILE", &path("missing-token")),
                ("AWS_ROLE_ARN", "arn:aws:iam::1:role/r"),
            ]),
        )
        .await,
        error_of(
            ChainConfig::default(),
            env(&[
                ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &query_secret),
                ("AWS_CONTAINER_AUTHORIZATION_TOKEN", WEB_TOKEN),
            ]),
        )
        .await,
        error_of(ChainConfig::default(), sts_env(&silent_url)).await,
        error_of(ChainConfig::default(), sts_env(&rude_url)).await,
        parse_reply(
            StatusCode::OK,
            &format!("<R><AccessKeyId>A</AccessKeyId><SecretAccessKey>{SECRET}</SecretAccessKey></R>"),
            WEB_TOKEN,
        )
        .unwrap_err(),
        parse_reply(
            StatusCode::OK,
            &format!("<R><SecretAccessKey>{SECRET}</SecretAccessKey><SessionToken>{SESSION}</Oops>"),
            WEB_TOKEN,
        )
        .unwrap_err(),
        parse_json_credentials(
            "imds",
            &Bytes::from(format!(r#"{{"Code":"Success","AccessKeyId":"A","SecretAccessKey":"{SECRET}","Token":"{SESSION}"}}"#)),
        )
        .unwrap_err(),
        parse_json_credentials(
            "container",
            &Bytes::from(format!(r#"{{"AccessKeyId":"A","SecretAccessKey":"{SECRET}","Token":{{"t":"{SESSION}"}}}}"#)),
        )
        .unwrap_err(),
    ];
    // A server that echoes what it was sent really did get the secrets.
    assert!(echo_token.requests()[0].body.contains(WEB_TOKEN));
    assert_eq!(
        echo_auth.requests()[0].header("authorization"),
        Some(WEB_TOKEN)
    );

    let mut variants = HashSet::new();
    for e in errors.drain(..) {
        variants.insert(discriminant(&e));
        debug.push(format!("{e}"));
        debug.push(format!("{e:?}"));
    }
    for text in &debug {
        assert_clean("output", text);
    }
    assert_eq!(
        variants.len(),
        11,
        "every CredentialsError variant produced: {debug:#?}"
    );
    assert!(
        debug
            .iter()
            .any(|t| t.contains("no complete reply within 5s")),
        "{debug:#?}"
    );
}
