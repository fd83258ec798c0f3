//! The order of the chain: with several sources configured at once, the first one
//! configured wins, and lower ones are never called.
use std::time::Duration;

use super::{t0, ManualClock, StandIn};
use crate::credentials::chain::select;
use crate::credentials::{ChainConfig, CredentialsError, CredentialsHandle, Env, StaticKeys};

fn static_config() -> ChainConfig {
    ChainConfig {
        static_keys: Some(StaticKeys {
            access_key_id: "AKIASTATIC".into(),
            secret_access_key: "static-secret".into(),
            session_token: None,
        }),
        profile: None,
    }
}

#[tokio::test]
async fn first_configured_source_wins() {
    let with_default = tempfile::tempdir().unwrap();
    std::fs::create_dir(with_default.path().join(".aws")).unwrap();
    std::fs::write(
        with_default.path().join(".aws/credentials"),
        "[default]\naws_access_key_id = AKIAPROFILE\naws_secret_access_key = p\n",
    )
    .unwrap();
    let without = tempfile::tempdir().unwrap();
    let home_with = with_default.path().display().to_string();
    let home_without = without.path().display().to_string();

    let env_keys = [
        ("AWS_ACCESS_KEY_ID", "AKIAENV"),
        ("AWS_SECRET_ACCESS_KEY", "e"),
    ];
    let web = [
        ("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent/token"),
        ("AWS_ROLE_ARN", "arn:aws:iam::1:role/r"),
        ("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9"),
    ];
    let container = [("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/c")];
    let imds_endpoint = [("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9")];
    let off = [("AWS_EC2_METADATA_DISABLED", "true")];
    let all: Vec<(&str, &str)> = [&env_keys[..], &web, &container, &off].concat();
    let named = ChainConfig {
        static_keys: None,
        profile: Some("nowhere".into()),
    };

    type Row<'a> = (
        &'a str,
        ChainConfig,
        &'a str,
        Vec<(&'a str, &'a str)>,
        Result<&'a str, ()>,
    );
    let table: Vec<Row> = vec![
        (
            "static beats all",
            static_config(),
            &home_with,
            all.clone(),
            Ok("static"),
        ),
        (
            "env beats profile",
            ChainConfig::default(),
            &home_with,
            all.clone(),
            Ok("environment"),
        ),
        (
            "default profile with keys beats web identity",
            ChainConfig::default(),
            &home_with,
            [&web[..], &container, &off].concat(),
            Ok("profile"),
        ),
        (
            "a named profile is configured even if missing",
            named.clone(),
            &home_without,
            [&web[..], &off].concat(),
            Ok("profile"),
        ),
        (
            "AWS_PROFILE names a profile",
            ChainConfig::default(),
            &home_without,
            [&web[..], &off, &[("AWS_PROFILE", "p")]].concat(),
            Ok("profile"),
        ),
        (
            "no default profile: web identity beats container",
            ChainConfig::default(),
            &home_without,
            [&web[..], &container, &off].concat(),
            Ok("web-identity"),
        ),
        (
            "role without token file is not web identity",
            ChainConfig::default(),
            &home_without,
            [&web[1..], &container, &off].concat(),
            Ok("container"),
        ),
        (
            "half the env keys are not the env source",
            ChainConfig::default(),
            &home_without,
            [&env_keys[..1], &container, &imds_endpoint].concat(),
            Ok("container"),
        ),
        (
            "IMDS is the fallback",
            ChainConfig::default(),
            &home_without,
            imds_endpoint.to_vec(),
            Ok("imds"),
        ),
        (
            "IMDS disabled: nothing configured",
            ChainConfig::default(),
            &home_without,
            off.to_vec(),
            Err(()),
        ),
    ];
    for (what, config, home, pairs, want) in table {
        let env = Env::from_pairs(pairs.into_iter().chain([("HOME", home)]));
        let got = select(&config, &env).await.map(|s| s.name());
        match want {
            Ok(name) => assert_eq!(got.ok(), Some(name), "{what}"),
            Err(()) => assert!(
                matches!(got, Err(CredentialsError::NotConfigured)),
                "{what}: {:?}",
                got.ok()
            ),
        }
    }
}

/// End to end: with web identity, a container endpoint and IMDS all configured,
/// only STS is called; with the container endpoint and IMDS, only the container.
#[tokio::test]
async fn lower_sources_are_never_called() {
    let sts =
        StandIn::start(|_, _| (200, super::sts::sts_ok("ASIAWEB", "2026-12-01T20:00:00Z"))).await;
    let agent = StandIn::start(|_, _| (500, String::new())).await;
    let imds = StandIn::start(|_, _| (500, String::new())).await;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "t").unwrap();
    let env = Env::from_pairs([
        ("HOME", dir.path().display().to_string()),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token.display().to_string()),
        ("AWS_ROLE_ARN", "arn:aws:iam::1:role/r".into()),
        ("AWS_ENDPOINT_URL_STS", sts.url()),
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", agent.url()),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url()),
    ]);
    let handle = CredentialsHandle::spawn(ChainConfig::default(), env, ManualClock::at(t0()));
    assert!(handle.wait_ready(Duration::from_secs(10)).await);
    assert_eq!(handle.source(), Some("web-identity"));
    assert_eq!((sts.count(), agent.count(), imds.count()), (1, 0, 0));
    drop(handle);

    // The container endpoint fails: the chain reports it instead of moving on to IMDS.
    let env = Env::from_pairs([
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", agent.url()),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url()),
    ]);
    let handle = CredentialsHandle::spawn(ChainConfig::default(), env, ManualClock::at(t0()));
    super::eventually("a container call", || agent.count() >= 1).await;
    assert!(!handle.is_ready());
    assert_eq!(handle.source(), None);
    assert_eq!(imds.count(), 0);
}

#[tokio::test]
async fn static_and_environment_keys() {
    let handle = CredentialsHandle::spawn(static_config(), Env::default(), ManualClock::at(t0()));
    assert!(handle.wait_ready(Duration::from_secs(5)).await);
    let c = handle.current().unwrap();
    assert_eq!(
        (c.access_key_id(), c.secret_access_key()),
        ("AKIASTATIC", "static-secret")
    );
    assert_eq!(c.expiry(), None);
    assert_eq!(handle.source(), Some("static"));

    let env = Env::from_pairs([
        ("AWS_ACCESS_KEY_ID", "AKIAENV"),
        ("AWS_SECRET_ACCESS_KEY", "env-secret"),
        ("AWS_SESSION_TOKEN", "env-session"),
    ]);
    let handle = CredentialsHandle::spawn(ChainConfig::default(), env, ManualClock::at(t0()));
    assert!(handle.wait_ready(Duration::from_secs(5)).await);
    let c = handle.current().unwrap();
    assert_eq!(c.access_key_id(), "AKIAENV");
    assert_eq!(c.session_token(), Some("env-session"));
    assert_eq!(handle.source(), Some("environment"));
    // Keys without expiry stay valid whatever the clock says.
    assert!(handle.is_ready());

    let empty = ChainConfig {
        static_keys: Some(StaticKeys {
            access_key_id: String::new(),
            secret_access_key: "s".into(),
            session_token: None,
        }),
        profile: None,
    };
    assert!(matches!(
        select(&empty, &Env::default()).await,
        Err(CredentialsError::Config {
            provider: "static",
            ..
        })
    ));
}

#[tokio::test(start_paused = true)]
async fn the_task_ends_with_the_last_handle() {
    let tasks = || {
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
    };
    let before = tasks();
    let handle = CredentialsHandle::spawn(static_config(), Env::default(), ManualClock::at(t0()));
    assert!(handle.wait_ready(Duration::from_secs(5)).await);
    assert_eq!(tasks(), before + 1);
    let weak = std::sync::Arc::downgrade(&handle.shared);
    let clone = handle.clone();
    drop(handle);
    super::next_tick().await;
    assert_eq!(tasks(), before + 1, "ended while a clone was alive");
    drop(clone);
    super::eventually("the task to end", || tasks() == before).await;
    assert!(weak.upgrade().is_none(), "the task kept the state alive");
}
