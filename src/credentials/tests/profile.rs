//! The INI parser and shared-files profiles: default and named profiles, `[profile x]`
//! in the config file, comments, the missing-profile error, and rotated keys picked up
//! from a rewritten file.
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::{eventually, next_tick, t0, ManualClock};
use crate::credentials::chain::select;
use crate::credentials::profile::parse_ini;
use crate::credentials::{ChainConfig, CredentialsError, CredentialsHandle, Env};

#[test]
fn ini_dialect() {
    let text = "\
# comment
; another
[default]
aws_access_key_id = AKIA1 ; inline comment
Aws_Secret_Access_Key=se#cret
s3 =
  max_concurrent_requests = 20
[profile   spaced   name]  # after the header
region = eu-west-1
";
    let sections = parse_ini(text).unwrap();
    assert_eq!(sections.len(), 2);
    assert_eq!(sections[0].name, "default");
    let p = &sections[0].props;
    assert_eq!(p["aws_access_key_id"], "AKIA1");
    assert_eq!(
        p["aws_secret_access_key"], "se#cret",
        "# without space is data"
    );
    assert_eq!(p["s3"], "");
    assert!(
        !p.contains_key("max_concurrent_requests"),
        "sub-property leaked"
    );
    assert_eq!(sections[1].name, "profile spaced name");
    assert_eq!(sections[1].props["region"], "eu-west-1");
}

#[test]
fn ini_errors_give_the_line() {
    let table: &[(&str, usize, &str)] = &[
        ("[default\nx=1\n", 1, "without `]`"),
        ("key = v\n", 1, "before any [section]"),
        ("[a]\n\njust-a-secret-value\n", 3, "expected"),
        ("[a]\n= v\n", 2, "without a key"),
        ("[]\n", 1, "empty section"),
        ("[a] junk\n", 1, "after `]`"),
    ];
    for (text, line, problem) in table {
        let (got_line, got) = parse_ini(text).unwrap_err();
        assert_eq!(got_line, *line, "{text:?}");
        assert!(got.contains(problem), "{text:?}: {got}");
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

fn files_env(dir: &Path, extra: &[(&str, &str)]) -> Env {
    let pairs = [
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.join("credentials").display().to_string(),
        ),
        ("AWS_CONFIG_FILE", dir.join("config").display().to_string()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
    ];
    Env::from_pairs(
        pairs
            .into_iter()
            .chain(extra.iter().map(|(k, v)| (*k, v.to_string()))),
    )
}

async fn key_of(config: ChainConfig, env: Env) -> Result<(String, Option<String>), String> {
    let mut source = select(&config, &env).await.map_err(|e| e.to_string())?;
    assert_eq!(source.name(), "profile");
    let c = source
        .fetch(&mut None, t0())
        .await
        .map_err(|e| e.to_string())?;
    Ok((
        c.access_key_id().to_owned(),
        c.session_token().map(str::to_owned),
    ))
}

#[tokio::test]
async fn profiles_from_both_files() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("credentials"),
        "[default]\naws_access_key_id=AKIADEFAULT\naws_secret_access_key=d\n\
         [dev]\naws_access_key_id = AKIADEV\naws_secret_access_key = v\naws_session_token = tok\n\
         [both]\naws_access_key_id = AKIAFROMCREDS\n",
    );
    write(
        &dir.path().join("config"),
        "[default]\nregion = eu-west-1\n\
         [profile ops]\naws_access_key_id = AKIAOPS\naws_secret_access_key = o\n\
         [ops2]\naws_access_key_id = AKIANOTPROFILE\naws_secret_access_key = x\n\
         [profile both]\naws_access_key_id = AKIAFROMCONFIG\naws_secret_access_key = b\n\
         [profile assumed]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = default\n",
    );
    let named = |p: &str| ChainConfig {
        static_keys: None,
        profile: Some(p.into()),
    };
    let env = files_env(dir.path(), &[]);
    assert_eq!(
        key_of(ChainConfig::default(), env.clone()).await,
        Ok(("AKIADEFAULT".into(), None))
    );
    assert_eq!(
        key_of(
            ChainConfig::default(),
            files_env(dir.path(), &[("AWS_PROFILE", "dev")])
        )
        .await,
        Ok(("AKIADEV".into(), Some("tok".into())))
    );
    // The config's profile beats AWS_PROFILE.
    assert_eq!(
        key_of(
            named("ops"),
            files_env(dir.path(), &[("AWS_PROFILE", "dev")])
        )
        .await,
        Ok(("AKIAOPS".into(), None))
    );
    assert_eq!(
        key_of(named("both"), env.clone()).await,
        Ok(("AKIAFROMCREDS".into(), None))
    );

    // `[ops2]` in the config file is not a profile section.
    let err = key_of(named("ops2"), env.clone()).await.unwrap_err();
    let creds = dir.path().join("credentials").display().to_string();
    let config = dir.path().join("config").display().to_string();
    assert_eq!(
        err,
        format!("profile `ops2` not found (read: {config}, {creds})")
    );
    let err = key_of(named("assumed"), env.clone()).await.unwrap_err();
    assert!(
        err.contains("`role_arn`") && err.contains("not support"),
        "{err}"
    );

    // A missing file is named as missing.
    let err = key_of(named("x"), files_env(&dir.path().join("nothing"), &[]))
        .await
        .unwrap_err();
    assert!(
        err.contains("profile `x` not found") && err.contains("(missing)"),
        "{err}"
    );
}

#[tokio::test]
async fn default_files_under_home() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".aws")).unwrap();
    write(
        &dir.path().join(".aws/config"),
        "[profile home]\naws_access_key_id = AKIAHOME\naws_secret_access_key = h\n",
    );
    let env = Env::from_pairs([
        ("HOME", dir.path().display().to_string().as_str()),
        ("AWS_PROFILE", "home"),
    ]);
    assert_eq!(
        key_of(ChainConfig::default(), env).await,
        Ok(("AKIAHOME".into(), None))
    );
}

#[tokio::test(start_paused = true)]
async fn rewritten_profile_file_is_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("credentials");
    write(
        &file,
        "[default]\naws_access_key_id = AKIAOLD\naws_secret_access_key = old\n",
    );
    let handle = CredentialsHandle::spawn(
        ChainConfig::default(),
        files_env(dir.path(), &[]),
        ManualClock::at(t0()),
    );
    assert!(handle.wait_ready(Duration::from_secs(5)).await);
    assert_eq!(handle.current().unwrap().access_key_id(), "AKIAOLD");

    // Same length on purpose, so only the mtime says it changed.
    write(
        &file,
        "[default]\naws_access_key_id = AKIANEW\naws_secret_access_key = new\n",
    );
    let later = SystemTime::now() + Duration::from_secs(30);
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(later)
        .unwrap();
    next_tick().await;
    eventually("the new key", || {
        handle
            .current()
            .is_some_and(|c| c.access_key_id() == "AKIANEW")
    })
    .await;
    assert_eq!(handle.current().unwrap().secret_access_key(), "new");

    // A broken rewrite keeps the keys we have.
    write(&file, "[default]\naws_access_key_id AKIABROKEN\n");
    next_tick().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(handle.current().unwrap().access_key_id(), "AKIANEW");
    assert!(handle.is_ready());
}

#[tokio::test]
async fn unreadable_default_profile_falls_through() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("credentials"), "[default]\nregion = x\n");
    let env = files_env(dir.path(), &[]);
    assert!(matches!(
        select(&ChainConfig::default(), &env).await,
        Err(CredentialsError::NotConfigured)
    ));
}
