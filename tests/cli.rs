//! The real `corsgate` binary's command line: version, help, `check` on good and bad
//! files (every error as FILE:LINE:COL: reason), `serve` refusing a bad config, and the
//! demo config served from a temporary copy on a free port.
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::wire::{cors, send};
use common::GatewayProcess;

fn corsgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_corsgate"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run corsgate")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

#[test]
fn version() {
    let out = corsgate(&["--version"]);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "corsgate 0.1.0\n");
}

#[test]
fn help_mentions_examples() {
    let out = corsgate(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for want in [
        "Examples:",
        "corsgate check config/corsgate.toml",
        "corsgate serve --config /etc/corsgate.toml",
        "--upstream",
    ] {
        assert!(help.contains(want), "help lacks {want:?}:\n{help}");
    }
}

#[test]
fn check_accepts_the_shipped_config() {
    let out = corsgate(&["check", "config/corsgate.toml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "config/corsgate.toml: ok (1 site(s))\n");
    let out = corsgate(&["check", "config/cors-example.json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "config/cors-example.json: ok (2 CORS rule(s))\n"
    );
}

/// Four errors on known lines; every one is reported, not just the first.
const BAD_TOML: &str = r#"listen = "127.0.0.1:0"

[[site]]
name = "a"
default = true
upstream = "ftp://bucket.example"
mode = "strict"

[[site.cors]]
allowed_origins = ["http://*.a.*.test"]
allowed_methods = ["GET", "put"]
"#;

fn assert_every_error(stderr: &str, file: &Path) {
    let f = file.display();
    let lines: Vec<&str> = stderr.lines().collect();
    let has = |prefix: String, fragment: &str| {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&prefix) && l.contains(fragment)),
            "no line `{prefix}…{fragment}…` in:\n{stderr}"
        )
    };
    has(format!("{f}:6:12: "), "ftp://bucket.example");
    has(format!("{f}:7:8: "), "strict");
    has(
        format!("{f}:10:20: "),
        r#"AllowedOrigin "http://*.a.*.test" can not have more than one wildcard."#,
    );
    has(
        format!("{f}:11:27: "),
        "Found unsupported HTTP method in CORS config. Unsupported method is put",
    );
}

#[test]
fn check_reports_every_toml_error_with_position() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "bad.toml", BAD_TOML);
    let out = corsgate(&["check", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert_every_error(&stderr, &file);
    assert!(
        stderr.contains(&format!("{}: 4 error(s)", file.display())),
        "{stderr}"
    );
}

#[test]
fn check_reports_xml_unknown_element_position() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "cors.xml",
        "<CORSConfiguration>\n  <CORSRule>\n    <AllowedOrigin>*</AllowedOrigin>\n    \
         <AllowedMethod>GET</AllowedMethod>\n    <MaxAge>600</MaxAge>\n  </CORSRule>\n\
         </CORSConfiguration>\n",
    );
    let out = corsgate(&["check", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    let want = format!(
        "{}:5:5: unknown element <MaxAge> in <CORSRule> (did you mean <MaxAgeSeconds>? \
         \"MaxAge\" is the CloudFormation spelling)",
        file.display()
    );
    assert!(
        stderr.lines().any(|l| l == want),
        "want {want}\nin:\n{stderr}"
    );
}

#[test]
fn check_reports_json_exposed_headers_position() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "cors.json",
        "{\n  \"CORSRules\": [\n    {\n      \"AllowedOrigins\": [\"*\"],\n      \
         \"AllowedMethods\": [\"GET\"],\n      \"ExposedHeaders\": [\"ETag\"]\n    }\n  ]\n}\n",
    );
    let out = corsgate(&["check", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    let want = format!(
        "{}:6:7: unknown key \"ExposedHeaders\" in rule 1 (\"ExposedHeaders\" is the \
         CloudFormation spelling; S3 uses \"ExposeHeaders\")",
        file.display()
    );
    assert!(
        stderr.lines().any(|l| l == want),
        "want {want}\nin:\n{stderr}"
    );
}

#[test]
fn serve_refuses_an_invalid_config() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "bad.toml", BAD_TOML);
    let out = corsgate(&["serve", "--config", file.to_str().unwrap()]);
    assert!(!out.status.success());
    assert_every_error(&text(&out.stderr), &file);
}

#[test]
fn demo_config_serves_preflight_and_get() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let demo = std::fs::read_to_string(manifest.join("config/corsgate.toml")).unwrap();
    let bucket = manifest.join("config/demo-bucket");
    let patched = demo
        .replace("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1:0\"")
        .replace("listen = \"127.0.0.1:9901\"", "listen = \"127.0.0.1:0\"")
        .replace(
            "upstream = \"file:demo-bucket\"",
            &format!("upstream = \"file:{}\"", bucket.display()),
        );
    assert!(
        !patched.contains("listen = \"127.0.0.1:8080\"")
            && !patched.contains("listen = \"127.0.0.1:9901\""),
        "demo listen lines moved"
    );
    assert!(
        patched.contains(&bucket.display().to_string()),
        "demo upstream line moved"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "corsgate.toml", &patched);
    let gw = GatewayProcess::spawn(&["--config", file.to_str().unwrap()]);
    let host = gw.addr.to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pre = rt.block_on(send(
        gw.addr,
        "OPTIONS",
        "/hello.txt",
        &host,
        &[
            ("Origin", "http://localhost:5173"),
            ("Access-Control-Request-Method", "PUT"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
        b"",
    ));
    assert_eq!(pre.status, 200, "{}", pre.head);
    assert_eq!(
        pre.cors(),
        cors(&[
            ("access-control-allow-origin", "http://localhost:5173"),
            ("access-control-allow-credentials", "true"),
            ("access-control-allow-methods", "GET, HEAD, PUT"),
            ("access-control-allow-headers", "content-type"),
            (
                "access-control-expose-headers",
                "ETag, Content-Length, Content-Range, x-amz-request-id"
            ),
            ("access-control-max-age", "600"),
            (
                "vary",
                "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
            ),
        ]),
        "{}",
        pre.head
    );
    let get = rt.block_on(send(
        gw.addr,
        "GET",
        "/hello.txt",
        &host,
        &[("Origin", "http://localhost:5173")],
        b"",
    ));
    assert_eq!(get.status, 200, "{}", get.head);
    assert_eq!(get.text(), "Hello from corsgate's demo bucket.\n");
    assert_eq!(
        get.header("access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    assert_eq!(get.header("vary"), Some("Origin"));
}
