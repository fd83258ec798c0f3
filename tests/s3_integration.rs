//! The gateway in front of a real S3-compatible server (s3s-fs, path-style), in both
//! CORS modes, with a two-rule policy. Every expected header value is written out from
//! the spec (shared/spec/s3-cors-semantics.md §2.3, §3) and the enforce-mode deviations
//! (§4.2 items 7-8, §5), never computed by the code under test.
mod common;

use common::standin::{ok, Reply, StandIn};
use common::wire::{cors, send, RawResponse};
use common::{Gateway, S3Server};

const APP: &str = "http://app.test:3000";
const HOST: &str = "gw.test";

use common::RULES;

fn site(name: &str, hosts: &str, default: bool, upstream: &str, mode: &str) -> String {
    format!(
        "\n[[site]]\nname = \"{name}\"\nhosts = [{hosts}]\ndefault = {default}\n\
         upstream = \"{upstream}\"\nmode = \"{mode}\"\n{RULES}"
    )
}

fn one_site(upstream: &str, mode: &str) -> String {
    format!(
        "listen = \"127.0.0.1:0\"\n{}",
        site("s3", "", true, upstream, mode)
    )
}

/// The Vary a matched actual response carries: enforce adds only Origin; s3 mode sends
/// S3's fixed triple (spec §2.3).
fn actual_vary(mode: &str) -> &'static str {
    match mode {
        "enforce" => "Origin",
        _ => "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
    }
}

/// Rule 1 granted to `http://app.test:3000` on an actual request.
fn app_granted(mode: &str) -> Vec<(String, String)> {
    cors(&[
        ("access-control-allow-origin", "http://app.test:3000"),
        ("access-control-allow-credentials", "true"),
        ("access-control-allow-methods", "GET, HEAD, PUT, DELETE"),
        ("access-control-expose-headers", "ETag"),
        ("access-control-max-age", "600"),
        ("vary", actual_vary(mode)),
    ])
}

/// Rule 2 granted to any other origin's GET: `*`, no credentials, nothing exposed.
fn star_granted(mode: &str) -> Vec<(String, String)> {
    cors(&[
        ("access-control-allow-origin", "*"),
        ("access-control-allow-methods", "GET"),
        ("vary", actual_vary(mode)),
    ])
}

async fn start(mode: &str) -> (S3Server, Gateway, tempfile::TempDir) {
    let s3 = S3Server::start("bkt", None);
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::from_toml(dir.path(), &one_site(&s3.bucket_url(), mode)).await;
    (s3, gw, dir)
}

fn assert_cors(r: &RawResponse, want: Vec<(String, String)>, what: &str) {
    assert_eq!(r.cors(), want, "{what}; response head:\n{}", r.head);
}

async fn crud_round_trip(mode: &str) {
    let (s3, gw, _dir) = start(mode).await;
    let o = [("Origin", APP)];
    let disk = s3.object_path("notes/a.txt");

    let put = send(
        gw.addr,
        "PUT",
        "/notes/a.txt",
        HOST,
        &[("Origin", APP), ("Content-Type", "text/plain")],
        b"version one",
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.head);
    assert_cors(&put, app_granted(mode), "PUT");
    assert_eq!(std::fs::read(&disk).unwrap(), b"version one");

    let get = send(gw.addr, "GET", "/notes/a.txt", HOST, &o, b"").await;
    assert_eq!(get.status, 200, "{}", get.head);
    assert_eq!(get.body, b"version one");
    assert_cors(&get, app_granted(mode), "GET");

    let head = send(gw.addr, "HEAD", "/notes/a.txt", HOST, &o, b"").await;
    assert_eq!(head.status, 200, "{}", head.head);
    assert_eq!(head.header("content-length"), Some("11"));
    assert_cors(&head, app_granted(mode), "HEAD");

    let put2 = send(
        gw.addr,
        "PUT",
        "/notes/a.txt",
        HOST,
        &o,
        b"version two, longer",
    )
    .await;
    assert_eq!(put2.status, 200, "{}", put2.head);
    assert_eq!(std::fs::read(&disk).unwrap(), b"version two, longer");

    let del = send(gw.addr, "DELETE", "/notes/a.txt", HOST, &o, b"").await;
    assert_eq!(del.status, 204, "{}", del.head);
    assert_cors(&del, app_granted(mode), "DELETE");
    assert!(!disk.exists(), "DELETE through the gateway left {disk:?}");

    let gone = send(gw.addr, "GET", "/notes/a.txt", HOST, &o, b"").await;
    assert_eq!(gone.status, 404, "{}", gone.head);
    assert!(
        gone.text().contains("<Code>NoSuchKey</Code>"),
        "{}",
        gone.text()
    );
    assert_cors(&gone, app_granted(mode), "404 NoSuchKey");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crud_round_trip_enforce() {
    crud_round_trip("enforce").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crud_round_trip_s3() {
    crud_round_trip("s3").await;
}

async fn cors_on_200_206_404(mode: &str) {
    let (s3, gw, _dir) = start(mode).await;
    std::fs::write(s3.object_path("hello.txt"), b"hello world\n").unwrap();
    let o = [("Origin", APP)];

    let full = send(gw.addr, "GET", "/hello.txt", HOST, &o, b"").await;
    assert_eq!(full.status, 200, "{}", full.head);
    assert_eq!(full.body, b"hello world\n");
    assert_cors(&full, app_granted(mode), "200");

    let part = send(
        gw.addr,
        "GET",
        "/hello.txt",
        HOST,
        &[("Origin", APP), ("Range", "bytes=0-4")],
        b"",
    )
    .await;
    assert_eq!(part.status, 206, "{}", part.head);
    assert_eq!(part.body, b"hello");
    assert_eq!(part.header("content-range"), Some("bytes 0-4/12"));
    assert_cors(&part, app_granted(mode), "206");

    let missing = send(gw.addr, "GET", "/nope.txt", HOST, &o, b"").await;
    assert_eq!(missing.status, 404, "{}", missing.head);
    assert!(missing.text().contains("NoSuchKey"), "{}", missing.text());
    assert_cors(&missing, app_granted(mode), "404");

    // Another origin falls through rule 1 to rule 2 (`*`, GET only).
    let other = [("Origin", "http://other.test")];
    let star = send(gw.addr, "GET", "/hello.txt", HOST, &other, b"").await;
    assert_eq!(star.status, 200, "{}", star.head);
    assert_cors(&star, star_granted(mode), "rule 2 on 200");
    let star404 = send(gw.addr, "GET", "/nope.txt", HOST, &other, b"").await;
    assert_eq!(star404.status, 404);
    assert_cors(&star404, star_granted(mode), "rule 2 on 404");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_headers_on_200_206_404_enforce() {
    cors_on_200_206_404("enforce").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_headers_on_200_206_404_s3() {
    cors_on_200_206_404("s3").await;
}

/// s3s-fs ignores If-None-Match (it answers 200), so a real 304 comes from the
/// gateway's `file:` backend here, and from a stand-in below.
async fn not_modified_file_backend(mode: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("bucket")).unwrap();
    std::fs::write(dir.path().join("bucket/hello.txt"), b"hello world\n").unwrap();
    let toml = one_site("file:bucket", mode);
    let gw = Gateway::from_toml(dir.path(), &toml).await;
    let first = send(gw.addr, "GET", "/hello.txt", HOST, &[("Origin", APP)], b"").await;
    assert_eq!(first.status, 200, "{}", first.head);
    let etag = first.header("etag").expect("etag").to_owned();
    let again = send(
        gw.addr,
        "GET",
        "/hello.txt",
        HOST,
        &[("Origin", APP), ("If-None-Match", &etag)],
        b"",
    )
    .await;
    assert_eq!(again.status, 304, "{}", again.head);
    assert_cors(&again, app_granted(mode), "304 from file: backend");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_modified_carries_cors_enforce() {
    not_modified_file_backend("enforce").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_modified_carries_cors_s3() {
    not_modified_file_backend("s3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_304_is_decorated() {
    let up = StandIn::always(Reply::Raw(
        b"HTTP/1.1 304 Not Modified\r\nETag: \"abc\"\r\n\r\n".to_vec(),
    ));
    for mode in ["enforce", "s3"] {
        let dir = tempfile::tempdir().unwrap();
        let gw = Gateway::from_toml(dir.path(), &one_site(&up.url("/bkt"), mode)).await;
        let r = send(
            gw.addr,
            "GET",
            "/k",
            HOST,
            &[("Origin", APP), ("If-None-Match", "\"abc\"")],
            b"",
        )
        .await;
        assert_eq!(r.status, 304, "{}", r.head);
        assert_eq!(r.header("etag"), Some("\"abc\""));
        assert_cors(&r, app_granted(mode), mode);
    }
}

async fn preflight_is_local(mode: &str) {
    let s3 = S3Server::start("bkt", None);
    let counted = StandIn::always(Reply::Raw(ok("should not be reached", &[])));
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "listen = \"127.0.0.1:0\"\n{}{}",
        site("s3", "", true, &s3.bucket_url(), mode),
        site(
            "counted",
            "\"counted.test\"",
            false,
            &counted.url("/bkt"),
            mode
        ),
    );
    let gw = Gateway::from_toml(dir.path(), &toml).await;
    let preflight_vary = match mode {
        "enforce" => "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
        _ => "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
    };
    let want = cors(&[
        ("access-control-allow-origin", "http://app.test:3000"),
        ("access-control-allow-credentials", "true"),
        ("access-control-allow-methods", "GET, HEAD, PUT, DELETE"),
        (
            "access-control-allow-headers",
            "content-type, x-amz-meta-color",
        ),
        ("access-control-expose-headers", "ETag"),
        ("access-control-max-age", "600"),
        ("vary", preflight_vary),
    ]);
    let headers = [
        ("Origin", APP),
        ("Access-Control-Request-Method", "PUT"),
        (
            "Access-Control-Request-Headers",
            "content-type,x-amz-meta-color",
        ),
    ];
    // s3s-fs has no CORS at all: forwarded, this OPTIONS would get its 501.
    for host in [HOST, "counted.test"] {
        let r = send(gw.addr, "OPTIONS", "/hello.txt", host, &headers, b"").await;
        assert_eq!(r.status, 200, "{host}: {}", r.head);
        assert_eq!(r.header("content-length"), Some("0"), "{}", r.head);
        assert!(r.body.is_empty());
        assert_cors(&r, want.clone(), host);
    }
    assert_eq!(counted.connections(), 0, "a preflight reached the upstream");
    assert_eq!(counted.request_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_answered_locally_enforce() {
    preflight_is_local("enforce").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_answered_locally_s3() {
    preflight_is_local("s3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enforce_refuses_disallowed_delete_and_object_survives() {
    let (s3, gw, _dir) = start("enforce").await;
    let disk = s3.object_path("keep.txt");
    std::fs::write(&disk, b"precious").unwrap();
    let r = send(
        gw.addr,
        "DELETE",
        "/keep.txt",
        HOST,
        &[("Origin", "http://evil.test")],
        b"",
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.head);
    assert_cors(&r, cors(&[("vary", "Origin")]), "enforce refusal");
    assert_eq!(std::fs::read(&disk).unwrap(), b"precious");
    let get = send(gw.addr, "GET", "/keep.txt", HOST, &[], b"").await;
    assert_eq!(get.status, 200, "{}", get.head);
    assert_eq!(get.body, b"precious");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_mode_never_blocks_but_adds_no_cors_headers() {
    let (s3, gw, _dir) = start("s3").await;
    let disk = s3.object_path("doomed.txt");
    std::fs::write(&disk, b"bye").unwrap();
    let r = send(
        gw.addr,
        "DELETE",
        "/doomed.txt",
        HOST,
        &[("Origin", "http://evil.test")],
        b"",
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.head);
    assert_cors(&r, vec![], "s3 mode, no rule matched");
    assert!(
        !disk.exists(),
        "S3 never blocks: the DELETE must have happened"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vary_origin_on_every_enforce_response_none_in_s3_mode_without_origin() {
    for (mode, want) in [("enforce", cors(&[("vary", "Origin")])), ("s3", Vec::new())] {
        let (s3, gw, _dir) = start(mode).await;
        std::fs::write(s3.object_path("v.txt"), b"v").unwrap();
        let cases: [(&str, &str, &[u8], u16); 5] = [
            ("GET", "/v.txt", b"", 200),
            ("HEAD", "/v.txt", b"", 200),
            ("GET", "/missing.txt", b"", 404),
            ("PUT", "/w.txt", b"w", 200),
            ("DELETE", "/w.txt", b"", 204),
        ];
        for (method, path, body, status) in cases {
            let r = send(gw.addr, method, path, HOST, &[], body).await;
            assert_eq!(r.status, status, "{mode} {method} {path}: {}", r.head);
            assert_cors(&r, want.clone(), &format!("{mode} {method} {path}"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_access_control_headers_are_replaced_and_vary_merged() {
    let up = StandIn::always(Reply::Raw(ok(
        "hi",
        &[
            "Access-Control-Allow-Origin: *",
            "Access-Control-Allow-Methods: POST",
            "Access-Control-Expose-Headers: x-secret",
            "Access-Control-Allow-Credentials: false",
            "Vary: Accept-Encoding",
        ],
    )));
    let merged = [
        ("enforce", "Accept-Encoding, Origin"),
        (
            "s3",
            "Accept-Encoding, Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
        ),
    ];
    for (mode, vary) in merged {
        let dir = tempfile::tempdir().unwrap();
        let gw = Gateway::from_toml(dir.path(), &one_site(&up.url("/bkt"), mode)).await;
        let r = send(gw.addr, "GET", "/k", HOST, &[("Origin", APP)], b"").await;
        assert_eq!(r.status, 200, "{}", r.head);
        let want = cors(&[
            ("access-control-allow-origin", "http://app.test:3000"),
            ("access-control-allow-credentials", "true"),
            ("access-control-allow-methods", "GET, HEAD, PUT, DELETE"),
            ("access-control-expose-headers", "ETag"),
            ("access-control-max-age", "600"),
            ("vary", vary),
        ]);
        assert_cors(&r, want, mode);

        // Without an Origin nothing of the upstream's CORS leaks through either.
        let bare = send(gw.addr, "GET", "/k", HOST, &[], b"").await;
        let bare_vary = if mode == "enforce" {
            "Accept-Encoding, Origin"
        } else {
            "Accept-Encoding"
        };
        assert_cors(&bare, cors(&[("vary", bare_vary)]), mode);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_vary_already_naming_origin_is_not_duplicated() {
    let up = StandIn::always(Reply::Raw(ok(
        "hi",
        &["Vary: origin", "Vary: Accept-Encoding, ORIGIN"],
    )));
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::from_toml(dir.path(), &one_site(&up.url("/bkt"), "enforce")).await;
    let r = send(gw.addr, "GET", "/k", HOST, &[("Origin", APP)], b"").await;
    assert_eq!(r.status, 200, "{}", r.head);
    // One line; the first spelling kept; nothing listed twice.
    assert_eq!(r.all("vary"), ["origin, Accept-Encoding"], "{}", r.head);
}
