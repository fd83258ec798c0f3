//! Private buckets: corsgate signs with SigV4 for an s3s-fs started with an access key
//! and secret, so every signature is really checked by the upstream; the client never
//! holds AWS credentials. Access control (public, JWT, presigned) and the operation
//! allow-list are asserted on what reached the bucket (its files on disk).
mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::presign::presign;
use common::wire::{send, RawResponse};
use common::{Gateway, S3Server};
use corsgate::credentials::Env;

const KEY_ID: &str = "AKIDCORSGATETEST";
const SECRET: &str = "s3cr3t/corsgate+test/key0123456789abcdef";
const HOST: &str = "gw.test";
const APP: &str = "http://app.test:3000";
const JWT_SECRET: &str = "an-hs256-secret-of-at-least-32-bytes!!";

fn creds_env() -> Env {
    Env::from_pairs([
        ("AWS_ACCESS_KEY_ID", KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ])
}

fn private_s3() -> S3Server {
    S3Server::start("private", Some((KEY_ID, SECRET)))
}

/// One site over the private bucket; `extra` adds access/sign/jwt lines.
fn config(s3: &S3Server, extra: &str) -> String {
    format!(
        "listen = \"127.0.0.1:0\"\n[[site]]\nname = \"private\"\ndefault = true\n\
         upstream = \"{}\"\n{extra}\n{}",
        s3.bucket_url(),
        common::RULES
    )
}

const SIGN_PUBLIC_RW: &str = "access = \"public\"\n\
    allow_methods = [\"GET\", \"HEAD\", \"PUT\", \"DELETE\"]\n\
    [site.sign]\nregion = \"us-east-1\"\n";

async fn gateway(toml: &str, env: Env) -> (Gateway, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = corsgate::config::parse(&dir.path().join("corsgate.toml"), toml)
        .unwrap_or_else(|e| panic!("config: {e}"));
    (Gateway::start_with_env(cfg, env).await, dir)
}

async fn req(
    gw: &Gateway,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> RawResponse {
    send(gw.addr, method, target, HOST, headers, body).await
}

fn stored(s3: &S3Server, key: &str) -> Option<Vec<u8>> {
    std::fs::read(s3.object_path(key)).ok()
}

#[tokio::test]
async fn unsigned_clients_get_through_signed_and_without_signing_the_bucket_refuses() {
    let s3 = private_s3();
    let (gw, _d) = gateway(&config(&s3, SIGN_PUBLIC_RW), creds_env()).await;
    let r = req(
        &gw,
        "PUT",
        "/note.txt",
        &[("content-type", "text/plain")],
        b"hello",
    )
    .await;
    assert_eq!(r.status, 200, "PUT: {}", r.text());
    assert_eq!(stored(&s3, "note.txt").as_deref(), Some(&b"hello"[..]));
    let r = req(&gw, "GET", "/note.txt", &[], b"").await;
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"hello"[..]),
        "{}",
        r.head
    );
    let r = req(&gw, "HEAD", "/note.txt", &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.header("content-length"), Some("5"));
    let r = req(&gw, "DELETE", "/note.txt", &[], b"").await;
    assert_eq!(r.status, 204, "DELETE: {}", r.text());
    assert_eq!(stored(&s3, "note.txt"), None);

    // The same bucket through a site that does not sign: s3s-fs refuses anonymous access.
    std::fs::write(s3.object_path("kept.txt"), b"x").unwrap();
    let (plain, _d2) = gateway(&config(&s3, ""), creds_env()).await;
    let r = req(&plain, "GET", "/kept.txt", &[], b"").await;
    assert_eq!(r.status, 403, "unsigned GET: {}", r.text());
    let r = req(&plain, "PUT", "/new.txt", &[], b"x").await;
    assert_eq!(r.status, 403, "unsigned PUT: {}", r.text());
    assert_eq!(stored(&s3, "new.txt"), None);
}

/// Keys the peers' bug trackers are full of SignatureDoesNotMatch on. Each is sent the
/// way a browser would (`encodeURIComponent` per segment, or raw where a browser keeps
/// it), PUT then GET through the proxy, and checked on disk under its decoded name.
#[tokio::test]
async fn awkward_keys_round_trip() {
    let s3 = private_s3();
    let (gw, _d) = gateway(&config(&s3, SIGN_PUBLIC_RW), creds_env()).await;
    let cases = [
        ("/with%20space.txt", "with space.txt"),
        ("/raw+plus.txt", "raw+plus.txt"),
        ("/enc%2Bplus.txt", "enc+plus.txt"),
        ("/dir%2Fslash.txt", "dir/slash.txt"),
        ("/colon:key.txt", "colon:key.txt"),
        ("/%C3%BCn%C3%AFc%C3%B8de-%E2%82%AC.txt", "ünïcøde-€.txt"),
        ("/dollar$equals=amp&.txt", "dollar$equals=amp&.txt"),
        ("/semi;comma,at@bang!.txt", "semi;comma,at@bang!.txt"),
        ("/quote'paren(star)*.txt", "quote'paren(star)*.txt"),
        ("/tilde~dash-under_dot.txt", "tilde~dash-under_dot.txt"),
        ("/nested/deeper/key.txt", "nested/deeper/key.txt"),
        ("/percent%25sign.txt", "percent%sign.txt"),
        ("/runs//of///slashes.txt", "runs//of///slashes.txt"),
    ];
    for (i, (target, key)) in cases.iter().enumerate() {
        let body = format!("object {i}");
        let r = req(&gw, "PUT", target, &[], body.as_bytes()).await;
        assert_eq!(r.status, 200, "PUT {target}: {}", r.text());
        assert_eq!(
            stored(&s3, key).as_deref(),
            Some(body.as_bytes()),
            "{target} stored as {key:?}"
        );
        let r = req(&gw, "GET", target, &[], b"").await;
        assert_eq!(r.status, 200, "GET {target}: {}", r.text());
        assert_eq!(r.body, body.as_bytes(), "GET {target}");
    }
}

#[tokio::test]
async fn read_only_sites_never_sign_a_write_or_a_bucket_operation() {
    let s3 = private_s3();
    let ro = "access = \"public\"\nallow_methods = [\"GET\", \"HEAD\"]\n\
              [site.sign]\nregion = \"us-east-1\"\n";
    let (gw, _d) = gateway(&config(&s3, ro), creds_env()).await;
    std::fs::write(s3.object_path("a.txt"), b"a").unwrap();
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);
    let refused: [Case; 10] = [
        ("PUT", "/b.txt", &[]),
        ("DELETE", "/a.txt", &[]),
        ("POST", "/b.txt?uploads", &[]),
        ("POST", "/?delete", &[]),
        ("GET", "/", &[]),
        ("GET", "/?list-type=2", &[]),
        ("GET", "/a.txt?acl", &[]),
        ("GET", "/a.txt?%61cl", &[]),
        (
            "GET",
            "/a.txt",
            &[("x-amz-copy-source", "/other-bucket/secret")],
        ),
        ("PATCH", "/a.txt", &[]),
    ];
    for (method, target, headers) in refused {
        let r = req(&gw, method, target, headers, b"").await;
        assert_eq!(r.status, 403, "{method} {target} {headers:?}: {}", r.text());
    }
    assert_eq!(
        stored(&s3, "a.txt").as_deref(),
        Some(&b"a"[..]),
        "DELETE went through"
    );
    assert_eq!(stored(&s3, "b.txt"), None, "PUT went through");
    // A refusal the page can read: CORS headers for the allowed origin.
    let r = req(&gw, "PUT", "/b.txt", &[("origin", APP)], b"x").await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("access-control-allow-origin"), Some(APP));
    let r = req(&gw, "GET", "/a.txt", &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn aws_chunked_uploads_unsigned_chunks_are_stored_decoded_signed_chunks_refused() {
    let s3 = private_s3();
    let (gw, _d) = gateway(&config(&s3, SIGN_PUBLIC_RW), creds_env()).await;
    // Unsigned chunks with a CRC32 trailer, as current AWS SDKs send by default.
    let framed = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
    let r = req(
        &gw,
        "PUT",
        "/chunked.txt",
        &[
            ("content-encoding", "aws-chunked"),
            ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
            ("x-amz-decoded-content-length", "11"),
            ("x-amz-trailer", "x-amz-checksum-crc32"),
        ],
        framed,
    )
    .await;
    assert_eq!(r.status, 200, "unsigned-trailer PUT: {}", r.text());
    assert_eq!(
        stored(&s3, "chunked.txt").as_deref(),
        Some(&b"hello world"[..]),
        "the chunk framing must not end up in the object"
    );

    let r = req(
        &gw,
        "PUT",
        "/signed-chunks.txt",
        &[
            ("content-encoding", "aws-chunked"),
            ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
            ("x-amz-decoded-content-length", "5"),
        ],
        b"5;chunk-signature=00\r\nhello\r\n0;chunk-signature=00\r\n\r\n",
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("cannot be re-signed"), "{}", r.text());
    assert_eq!(stored(&s3, "signed-chunks.txt"), None);
}

#[tokio::test]
async fn no_credentials_means_503_and_not_ready() {
    let s3 = private_s3();
    let env = Env::from_pairs([
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("HOME", "/nonexistent"),
    ]);
    let (gw, _d) = gateway(&config(&s3, SIGN_PUBLIC_RW), env).await;
    std::fs::write(s3.object_path("a.txt"), b"a").unwrap();
    let r = req(&gw, "GET", "/a.txt", &[], b"").await;
    assert_eq!(r.status, 503, "{}", r.text());
}

#[tokio::test]
async fn presigned_urls_pass_through_byte_exact() {
    let s3 = private_s3();
    let access = "access = \"presigned\"\nallow_methods = [\"GET\", \"HEAD\", \"PUT\"]\n";
    let (gw, _d) = gateway(&config(&s3, access), Env::default()).await;
    let put = presign(&s3, "PUT", "up.txt", Duration::from_secs(300));
    let r = req(&gw, "PUT", &put, &[], b"presigned body").await;
    assert_eq!(r.status, 200, "presigned PUT: {}", r.text());
    assert_eq!(
        stored(&s3, "up.txt").as_deref(),
        Some(&b"presigned body"[..])
    );
    let get = presign(&s3, "GET", "up.txt", Duration::from_secs(300));
    let r = req(&gw, "GET", &get, &[("origin", APP)], b"").await;
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"presigned body"[..]),
        "{}",
        r.head
    );
    assert_eq!(r.header("access-control-allow-origin"), Some(APP));

    // Tampered (one hex digit of the signature changed): the upstream's own verdict.
    let at = get.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let flipped = if &get[at..at + 1] == "0" { "1" } else { "0" };
    let tampered = format!("{}{flipped}{}", &get[..at], &get[at + 1..]);
    let r = req(&gw, "GET", &tampered, &[], b"").await;
    assert_eq!(r.status, 403, "tampered: {}", r.text());
    // Not presigned at all: refused here, never sent.
    let r = req(&gw, "GET", "/up.txt", &[], b"").await;
    assert_eq!(r.status, 403, "{}", r.text());
    // A presigned DELETE is still outside the site's methods.
    let del = presign(&s3, "DELETE", "up.txt", Duration::from_secs(300));
    let r = req(&gw, "DELETE", &del, &[], b"").await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(stored(&s3, "up.txt").is_some());
}

fn token(claims: serde_json::Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn jwt_sites_check_the_token_before_signing() {
    let s3 = private_s3();
    let access = format!(
        "access = \"jwt\"\nallow_methods = [\"GET\", \"HEAD\", \"PUT\"]\n\
         [site.sign]\nregion = \"us-east-1\"\n\
         [site.jwt]\nissuer = \"https://idp.test\"\naudience = \"corsgate\"\n\
         hs256_secret = \"{JWT_SECRET}\"\n"
    );
    let (gw, _d) = gateway(&config(&s3, &access), creds_env()).await;
    std::fs::create_dir_all(s3.object_path("users/42")).unwrap();
    std::fs::write(s3.object_path("users/42/a.txt"), b"mine").unwrap();
    std::fs::write(s3.object_path("users/7/b.txt"), b"theirs").ok();
    let now = unix_now();
    let claims = |extra: serde_json::Value| {
        let mut c = serde_json::json!({
            "iss": "https://idp.test", "aud": "corsgate", "sub": "user-42",
            "exp": now + 600, "nbf": now - 10,
        });
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        c
    };
    let valid = token(
        claims(serde_json::json!({"paths": ["/users/42/"], "methods": ["GET", "HEAD"]})),
        JWT_SECRET,
    );
    let bearer = |t: &str| format!("Bearer {t}");
    let ok = bearer(&valid);
    let r = req(
        &gw,
        "GET",
        "/users/42/a.txt",
        &[("authorization", &ok)],
        b"",
    )
    .await;
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"mine"[..]),
        "{}",
        r.text()
    );

    let cases: Vec<(String, &str, &str, u16)> = vec![
        (String::new(), "GET", "/users/42/a.txt", 401),
        (
            bearer(&token(
                claims(serde_json::json!({"exp": now - 3600})),
                JWT_SECRET,
            )),
            "GET",
            "/users/42/a.txt",
            401,
        ),
        (
            bearer(&token(
                claims(serde_json::json!({"aud": "someone-else"})),
                JWT_SECRET,
            )),
            "GET",
            "/users/42/a.txt",
            401,
        ),
        (
            bearer(&token(
                claims(serde_json::json!({})),
                "another-secret-of-at-least-32-bytes!!",
            )),
            "GET",
            "/users/42/a.txt",
            401,
        ),
        (ok.clone(), "GET", "/users/7/b.txt", 403),
        (ok.clone(), "PUT", "/users/42/a.txt", 403),
    ];
    for (auth, method, target, want) in &cases {
        let mut headers = vec![("origin", APP)];
        if !auth.is_empty() {
            headers.push(("authorization", auth.as_str()));
        }
        let r = req(&gw, method, target, &headers, b"x").await;
        assert_eq!(
            r.status,
            *want,
            "{method} {target} auth={auth:.20}: {}",
            r.text()
        );
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some(APP),
            "the page can read the {want}"
        );
        assert!(!r.text().contains(auth.trim_start_matches("Bearer ")) || auth.is_empty());
    }
    assert_eq!(stored(&s3, "users/42/a.txt").as_deref(), Some(&b"mine"[..]));
    // RFC 6750 §3: a 401 says how to authenticate.
    let r = req(&gw, "GET", "/users/42/a.txt", &[], b"").await;
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    let r = req(
        &gw,
        "GET",
        "/users/42/a.txt",
        &[("authorization", "Bearer x.y.z")],
        b"",
    )
    .await;
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer error=\"invalid_token\"")
    );

    // Preflights pass without any token.
    let r = req(
        &gw,
        "OPTIONS",
        "/users/42/a.txt",
        &[
            ("origin", APP),
            ("access-control-request-method", "PUT"),
            ("access-control-request-headers", "authorization"),
        ],
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("authorization")
    );
}

/// The Python that has boto3; `scripts/s3-client-venv` makes its venv when needed, so
/// this test sets up what it uses (and fails, never skips, when it cannot).
fn boto3_python() -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/s3-client-venv");
    let out = std::process::Command::new(script)
        .output()
        .expect("run scripts/s3-client-venv");
    assert!(
        out.status.success(),
        "scripts/s3-client-venv failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_multipart_upload_through_the_signing_proxy() {
    let s3 = private_s3();
    // The site is the whole endpoint here (boto3 puts the bucket in the path), so the
    // multipart subresources ride on keys under /private/.
    let toml = format!(
        "listen = \"127.0.0.1:0\"\n[[site]]\nname = \"endpoint\"\ndefault = true\n\
         upstream = \"http://{}\"\naccess = \"public\"\n\
         allow_methods = [\"GET\", \"HEAD\", \"PUT\", \"POST\"]\n\
         [site.sign]\nregion = \"us-east-1\"\n",
        s3.addr
    );
    let (gw, _d) = gateway(&toml, creds_env()).await;
    let python = boto3_python();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/s3client/multipart.py");
    let endpoint = gw.url("");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .args([script, &endpoint, "private", "big/upload.bin"])
            .output()
            .expect("run boto3")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "boto3 multipart through the proxy failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("boto3 report is JSON");
    assert_eq!(report["parts"], 3);
    assert_eq!(report["got_bytes"], 11 * 1024 * 1024);
    assert_eq!(report["sent_sha256"], report["got_sha256"], "{report}");
    // And the bucket's own file is the assembled object, not parts or framing.
    let on_disk = std::fs::read(s3.object_path("big/upload.bin")).unwrap();
    use sha2::Digest;
    let disk_sha = format!("{:x}", sha2::Sha256::digest(&on_disk));
    assert_eq!(report["sent_sha256"], disk_sha.as_str());
}

/// Access control runs before the cache: a stored answer is never handed to a request
/// that access control refuses, and fills are signed like any forward.
#[tokio::test]
async fn a_cache_hit_never_skips_access_control() {
    let s3 = private_s3();
    let toml = format!(
        "listen = \"127.0.0.1:0\"\n[cache]\nmax_bytes = \"4MiB\"\n\
         [[site]]\nname = \"private\"\ndefault = true\nupstream = \"{}\"\n\
         access = \"jwt\"\nallow_methods = [\"GET\", \"HEAD\", \"PUT\"]\n\
         [site.cache]\ncredentialed = true\n\
         [site.sign]\nregion = \"us-east-1\"\n\
         [site.jwt]\nissuer = \"https://idp.test\"\naudience = \"corsgate\"\n\
         hs256_secret = \"{JWT_SECRET}\"\n",
        s3.bucket_url()
    );
    let (gw, _d) = gateway(&toml, creds_env()).await;
    let now = unix_now();
    let mine = format!(
        "Bearer {}",
        token(
            serde_json::json!({"iss": "https://idp.test", "aud": "corsgate",
                "exp": now + 600, "paths": ["/users/42/"]}),
            JWT_SECRET
        )
    );
    let other = format!(
        "Bearer {}",
        token(
            serde_json::json!({"iss": "https://idp.test", "aud": "corsgate",
                "exp": now + 600, "paths": ["/users/7/"]}),
            JWT_SECRET
        )
    );
    let path = "/users/42/a.txt";
    // Stored with a Cache-Control that lets a shared cache keep an answer to an
    // Authorization-bearing request (RFC 9111 §3.5).
    let put = req(
        &gw,
        "PUT",
        path,
        &[
            ("authorization", &mine),
            ("cache-control", "public, max-age=600"),
        ],
        b"cached",
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.text());
    let first = req(&gw, "GET", path, &[("authorization", &mine)], b"").await;
    assert_eq!(
        (first.status, first.header("x-cache")),
        (200, Some("MISS")),
        "{}",
        first.head
    );
    let hit = req(&gw, "GET", path, &[("authorization", &mine)], b"").await;
    assert_eq!(
        (hit.status, hit.header("x-cache")),
        (200, Some("HIT")),
        "{}",
        hit.head
    );
    assert_eq!(hit.body, b"cached");
    let anonymous = req(&gw, "GET", path, &[], b"").await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.head);
    assert_eq!(anonymous.header("x-cache"), None);
    assert!(!anonymous.body.starts_with(b"cached"));
    let wrong_claim = req(&gw, "GET", path, &[("authorization", &other)], b"").await;
    assert_eq!(wrong_claim.status, 403, "{}", wrong_claim.head);
    assert_eq!(wrong_claim.header("x-cache"), None);
}

/// The documented example stays valid and means what its comments say.
#[test]
fn the_example_private_config_loads() {
    use corsgate::config::private::AccessKind;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/private-bucket.toml");
    let cfg = corsgate::config::load(std::path::Path::new(path)).unwrap_or_else(|e| panic!("{e}"));
    let summary: Vec<(&str, &str, Option<&str>, String)> = cfg
        .sites
        .iter()
        .map(|s| {
            let a = s
                .access
                .as_ref()
                .expect("every example site declares access");
            (
                s.name.as_str(),
                a.kind.name(),
                s.sign.as_ref().map(|k| k.region.as_str()),
                a.methods.to_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "assets",
                "public",
                Some("eu-west-1"),
                "GET, HEAD".to_owned()
            ),
            (
                "uploads",
                "jwt",
                Some("eu-west-1"),
                "GET, HEAD, PUT, POST, DELETE".to_owned()
            ),
            ("shared-links", "presigned", None, "GET, HEAD".to_owned()),
        ]
    );
    assert!(
        matches!(&cfg.sites[1].access.as_ref().unwrap().kind, AccessKind::Jwt(j) if j.audience == "files")
    );
}
