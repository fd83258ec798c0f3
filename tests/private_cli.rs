//! Private buckets through the real `corsgate` binary: the one-site flags
//! (`--sign-region`, `--access`, `--allow-methods`) against an s3s-fs that checks
//! SigV4, clap's and the loader's refusals, `/readyz` while no credentials can be
//! found, and that secrets (static keys, session tokens, the HS256 secret, bearer
//! tokens, presigned signatures, cookies) never reach the logs even at `RUST_LOG=debug`.
//! Every child gets a cleared environment with `HOME` pointing at an empty directory,
//! so the developer's own AWS setup can never make a test pass.
mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::presign::presign;
use common::wire::{send, RawResponse};
use common::S3Server;

const KEY_ID: &str = "AKIDCORSGATECLI";
const SECRET: &str = "cli/s3cr3t+key/0123456789abcdefXYZ";
const ENV_TOKEN: &str = "EnvSessionToken-FwoGZXIvYXdzENV0123";
const FILE_TOKEN: &str = "FileSessionToken-IQoJb3JpZ2luFILE456";
const HS: &str = "hs256-log-test-secret-0123456789abcdef";
const COOKIE: &str = "CookieValue-7f3a9c";
const CLIENT_TOKEN: &str = "ClientAmzToken-55aa";
const LIMIT: Duration = Duration::from_secs(15);

/// `corsgate serve ARGS --log-format json` with exactly `env` (plus an empty `HOME`
/// and IMDS off); the stderr lines are collected until the process ends.
struct Proc {
    child: Child,
    addr: SocketAddr,
    admin: Option<SocketAddr>,
    log: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
    _home: tempfile::TempDir,
}

fn command(args: &[&str], env: &[(&str, &str)], home: &tempfile::TempDir) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_corsgate"));
    cmd.arg("serve")
        .args(args)
        .args(["--log-format", "json"])
        .env_clear()
        .env("HOME", home.path())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

fn spawn(args: &[&str], env: &[(&str, &str)]) -> Proc {
    let home = tempfile::tempdir().unwrap();
    let mut child = command(args, env, &home).spawn().expect("spawn corsgate");
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    let sink = log.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                if let Some(a) = v.get("addr").and_then(|a| a.as_str()) {
                    let admin = v.get("admin").and_then(|a| a.as_str()).map(str::to_owned);
                    let _ = tx.send((a.to_owned(), admin));
                }
            }
            sink.lock().unwrap().push(line);
        }
    });
    let Ok((addr, admin)) = rx.recv_timeout(LIMIT) else {
        stop(&mut child);
        panic!("no listening line:\n{}", log.lock().unwrap().join("\n"));
    };
    Proc {
        child,
        addr: addr.parse().expect("addr"),
        admin: admin.map(|a| a.parse().expect("admin addr")),
        log,
        reader: Some(reader),
        _home: home,
    }
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

impl Proc {
    /// Kills the process and returns every line it wrote to stderr.
    fn kill(mut self) -> Vec<String> {
        stop(&mut self.child);
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// Runs the binary expecting it to refuse and exit; its stderr. Killed after 5 s.
fn refused(args: &[&str]) -> String {
    let home = tempfile::tempdir().unwrap();
    let mut child = command(args, &[], &home).spawn().expect("spawn corsgate");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(5) {
            stop(&mut child);
            panic!("{args:?} was not refused: still running after 5 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success(), "{args:?} exited 0:\n{err}");
    err
}

fn keys_env(token: Option<&'static str>) -> Vec<(&'static str, &'static str)> {
    let mut env = vec![
        ("AWS_ACCESS_KEY_ID", KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
    ];
    env.extend(token.map(|t| ("AWS_SESSION_TOKEN", t)));
    env
}

fn s3() -> S3Server {
    S3Server::start("bucket", Some((KEY_ID, SECRET)))
}

async fn get(addr: SocketAddr, host: &str, target: &str, headers: &[(&str, &str)]) -> RawResponse {
    send(addr, "GET", target, host, headers, b"").await
}

/// A command line split on spaces (no argument here contains one).
fn argv(line: &str) -> Vec<&str> {
    line.split(' ').collect()
}

#[track_caller]
fn assert_body(r: &RawResponse, status: u16, body: &str) {
    assert_eq!((r.status, r.text().as_str()), (status, body), "{}", r.head);
}

#[tokio::test]
async fn quick_start_signs_reads_and_writes_only_when_allowed() {
    let s3 = s3();
    std::fs::write(s3.object_path("hello.txt"), b"hello from disk").unwrap();
    let base = format!(
        "--listen 127.0.0.1:0 --upstream {} --sign-region us-east-1 --access public",
        s3.bucket_url()
    );
    let env = keys_env(Some(ENV_TOKEN));
    let gw = spawn(&argv(&base), &env);
    assert_body(
        &get(gw.addr, "gw.test", "/hello.txt", &[]).await,
        200,
        "hello from disk",
    );
    let r = send(gw.addr, "PUT", "/new.txt", "gw.test", &[], b"written").await;
    assert_eq!(r.status, 403, "read-only by default: {}", r.text());
    assert!(
        !s3.object_path("new.txt").exists(),
        "the PUT reached the bucket"
    );
    drop(gw);

    let gw = spawn(&argv(&format!("{base} --allow-methods GET,HEAD,PUT")), &env);
    let r = send(gw.addr, "PUT", "/new.txt", "gw.test", &[], b"written").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        std::fs::read(s3.object_path("new.txt")).unwrap(),
        b"written"
    );
    let r = send(gw.addr, "DELETE", "/new.txt", "gw.test", &[], b"").await;
    assert_eq!(r.status, 403, "DELETE is not in GET,HEAD,PUT: {}", r.text());
    assert!(s3.object_path("new.txt").exists());
}

#[test]
fn flag_combinations_that_cannot_work_are_refused() {
    let one = "--listen 127.0.0.1:0 --upstream http://127.0.0.1:9/bucket";
    let cases = [
        ("--sign-region us-east-1", "--access"),
        ("--allow-methods GET", "--access"),
        (
            "--access presigned --sign-region x",
            "presigned forwards the client's own signature",
        ),
        ("--access presigned --sign-region x", "drop --sign-region"),
        (
            "--access public --allow-methods GET,PATCH",
            "unknown method \"PATCH\"",
        ),
    ];
    for (flags, fragment) in cases {
        let err = refused(&argv(&format!("{one} {flags}")));
        assert!(
            err.contains(fragment),
            "{flags}: {fragment:?} not in:\n{err}"
        );
    }
}

/// `--sign-region ""` is a region nobody can sign for; the file loader refuses an empty
/// `sign.region`, and the flag must not quietly turn signing off instead.
#[test]
fn an_empty_sign_region_is_refused() {
    let mut args = argv("--listen 127.0.0.1:0 --upstream http://127.0.0.1:9/b --access public");
    args.extend(["--sign-region", ""]);
    let err = refused(&args);
    assert!(err.contains("region"), "{err}");
}

#[tokio::test]
async fn not_ready_without_credentials_ready_with_them() {
    let s3 = s3();
    std::fs::write(s3.object_path("a.txt"), b"aaa").unwrap();
    let line = format!(
        "--listen 127.0.0.1:0 --admin 127.0.0.1:0 --upstream {} --sign-region us-east-1 \
         --access public",
        s3.bucket_url()
    );
    let gw = spawn(&argv(&line), &[]);
    let admin = gw.admin.expect("admin address announced");
    let r = get(admin, "localhost", "/readyz", &[]).await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.text().contains("credentials"), "{}", r.text());
    let r = get(gw.addr, "gw.test", "/a.txt", &[]).await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert_ne!(r.body, b"aaa");
    let r = get(admin, "localhost", "/readyz", &[]).await;
    assert_eq!(r.status, 503, "still not ready: {}", r.text());
    drop(gw);

    let gw = spawn(&argv(&line), &keys_env(None));
    let admin = gw.admin.expect("admin address announced");
    let start = Instant::now();
    loop {
        let r = get(admin, "localhost", "/readyz", &[]).await;
        if r.status == 200 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "never ready: {}",
            r.text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_body(&get(gw.addr, "gw.test", "/a.txt", &[]).await, 200, "aaa");
}

fn jwt(secret: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "iss": "https://idp.test", "aud": "corsgate", "sub": "u1", "exp": now + 600,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn secrets_never_reach_the_logs() {
    let s3 = s3();
    let paths = [
        "/signed.txt",
        "/head.txt",
        "/jwt.txt",
        "/presigned.txt",
        "/cookie.txt",
    ];
    for p in paths {
        std::fs::write(s3.object_path(&p[1..]), &p[1..]).unwrap();
    }
    let url = s3.bucket_url();
    let toml = format!(
        "listen = \"127.0.0.1:0\"\n\
         [[site]]\nname = \"signed\"\nhosts = [\"signed.test\"]\nupstream = \"{url}\"\n\
         access = \"public\"\nallow_methods = [\"GET\", \"HEAD\"]\n\
         [site.sign]\nregion = \"us-east-1\"\naccess_key_id = \"{KEY_ID}\"\n\
         secret_access_key = \"{SECRET}\"\nsession_token = \"{FILE_TOKEN}\"\n\
         [[site]]\nname = \"jwt\"\nhosts = [\"jwt.test\"]\nupstream = \"{url}\"\n\
         access = \"jwt\"\nallow_methods = [\"GET\"]\n[site.sign]\nregion = \"us-east-1\"\n\
         [site.jwt]\nissuer = \"https://idp.test\"\naudience = \"corsgate\"\n\
         hs256_secret = \"{HS}\"\n\
         [[site]]\nname = \"presigned\"\nhosts = [\"presigned.test\"]\nupstream = \"{url}\"\n\
         access = \"presigned\"\nallow_methods = [\"GET\"]\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("corsgate.toml");
    std::fs::write(&cfg, toml).unwrap();
    let mut env = keys_env(Some(ENV_TOKEN));
    env.push(("RUST_LOG", "debug"));
    let gw = spawn(&["--config", cfg.to_str().unwrap()], &env);
    let a = gw.addr;

    // The static keys (with FILE_TOKEN) sign for "signed", the env's (ENV_TOKEN) for "jwt".
    assert_body(
        &get(a, "signed.test", "/signed.txt", &[]).await,
        200,
        "signed.txt",
    );
    let r = send(a, "HEAD", "/head.txt", "signed.test", &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.head);
    let (good, bad) = (jwt(HS), jwt("another-secret-0123456789abcdef-0123456789"));
    let auth = format!("Bearer {good}");
    let r = get(a, "jwt.test", "/jwt.txt", &[("authorization", &auth)]).await;
    assert_body(&r, 200, "jwt.txt");
    let auth = format!("Bearer {bad}");
    let r = get(
        a,
        "jwt.test",
        "/jwt-denied.txt",
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.text());
    let target = presign(&s3, "GET", "presigned.txt", Duration::from_secs(300));
    let sig = target.split("X-Amz-Signature=").nth(1).unwrap();
    let sig = sig.split('&').next().unwrap();
    assert_eq!(sig.len(), 64, "{target}");
    assert_body(
        &get(a, "presigned.test", &target, &[]).await,
        200,
        "presigned.txt",
    );
    let cookie = format!("session={COOKIE}");
    let hdrs = [
        ("cookie", cookie.as_str()),
        ("x-amz-security-token", CLIENT_TOKEN),
    ];
    let r = get(a, "signed.test", "/cookie.txt", &hdrs).await;
    assert_body(&r, 200, "cookie.txt");

    // Access lines are written when a body ends: wait (bounded) for all six.
    let start = Instant::now();
    loop {
        let seen = logged_paths(&gw.log.lock().unwrap());
        if paths
            .iter()
            .chain(&["/jwt-denied.txt"])
            .all(|p| seen.contains(*p))
        {
            break;
        }
        assert!(
            start.elapsed() < LIMIT,
            "access lines missing: saw {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let all = gw.kill().join("\n");
    assert!(
        all.contains("\"level\":\"DEBUG\""),
        "RUST_LOG=debug had no effect:\n{all}"
    );
    // Both credential sources were fetched and logged (the lines a leak would be in).
    for source in ["\"source\":\"static\"", "\"source\":\"environment\""] {
        assert!(
            all.contains(source),
            "no credentials line with {source}:\n{all}"
        );
    }
    let secrets = [
        ("secret access key", SECRET),
        ("env session token", ENV_TOKEN),
        ("file session token", FILE_TOKEN),
        ("HS256 secret", HS),
        ("valid JWT", &good),
        ("invalid JWT", &bad),
        ("valid JWT's signature", good.rsplit('.').next().unwrap()),
        ("invalid JWT's signature", bad.rsplit('.').next().unwrap()),
        ("presigned signature", sig),
        ("cookie", COOKIE),
        ("client security token", CLIENT_TOKEN),
    ];
    for (what, s) in secrets {
        assert!(!all.contains(s), "the {what} {s:?} is in the log:\n{all}");
    }
}

/// The `path` of every access-log line (target `corsgate::access`).
fn logged_paths(lines: &[String]) -> BTreeSet<String> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "corsgate::access")
        .filter_map(|v| v["path"].as_str().map(str::to_owned))
        .collect()
}
