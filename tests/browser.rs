//! The browser tier: what a real browser makes of corsgate's answers.
//!
//! One test starts s3s-fs (a real S3-compatible server), the real `corsgate` binary
//! twice in front of it (one `--mode enforce`, one `--mode s3`, same rules file), and
//! two page servers of its own, `http://127.0.0.1:P1` (the allowed page origin) and
//! `http://localhost:P2` (an origin only the `*` rule matches). Then one Node process
//! (tests/browser/cdp.mjs, standard library only) launches Debian's headless
//! `chromium` once and, over the DevTools protocol, runs every case in a fresh browser
//! context: open a page origin, `fetch()` the gateway from it, and report what the page
//! saw (status, readable headers, body, or the TypeError) and what DevTools saw (each
//! request, preflights, statuses, response headers, Chromium's `corsError`).
//! Each case then checks that report, the bucket on disk and the gateways' JSON
//! access logs. All failures are listed together, each with the case name, what was
//! expected and what Chromium reported.
//!
//! Needs: s3s-fs (`$S3S_FS`, see tests/common), `chromium` (`$CHROMIUM`, default
//! /usr/bin/chromium) and `node` (`$NODE`, default on PATH). A missing one is a setup
//! failure, never a skip. Run alone: `cargo test --test browser -- --nocapture`
//! prints a line per case.

mod common;
#[path = "browser/support.rs"]
mod support;

use std::time::{Duration, Instant};

use common::{GatewayProcess, S3Server};
use serde_json::{json, Value};
use support::{access_log, http, logged, page_server, run_browser, Seen};

const SHARED: &str = "shared object\n";
const ORIGINAL: &str = "original content\n";
const TRAP: &str = "cacheable object\n";
/// Requested once per gateway after the browser run; no case touches it.
const LOG_BARRIER: &str = "/log-barrier";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Enforce,
    S3,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::S3 => "s3",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Which page origin a case runs on.
#[derive(Debug, Clone, Copy)]
enum Page {
    /// `http://127.0.0.1:P1`: rule 1 (GET, HEAD, PUT, DELETE; credentials; ETag exposed).
    Allowed,
    /// `http://localhost:P2`: only rule 2 (`*`, GET).
    Other,
}

/// What a check can look at besides the browser's report.
struct World<'a> {
    s3: &'a S3Server,
    /// Parsed access-log entries per mode ([`Mode::index`]).
    logs: [Vec<Value>; 2],
}

impl World<'_> {
    fn on_disk(&self, path: &str) -> Option<String> {
        std::fs::read_to_string(self.s3.object_path(path.trim_start_matches('/'))).ok()
    }

    fn log(&self, mode: Mode) -> &[Value] {
        &self.logs[mode.index()]
    }
}

type Check = Box<dyn Fn(&Seen, &World) -> Result<(), String>>;

struct Case {
    name: String,
    mode: Mode,
    page: Page,
    /// Body of an async function run in the page; `gw` and the case's consts in scope.
    script: String,
    check: Check,
}

/// `Err(format!(...))` unless `cond`.
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

fn case(
    mode: Mode,
    name: &str,
    page: Page,
    consts: &[(&str, &str)],
    body: &str,
    check: impl Fn(&Seen, &World) -> Result<(), String> + 'static,
) -> Case {
    let mut script = String::new();
    for (n, v) in consts {
        script.push_str(&format!("const {n} = {};\n", json!(v)));
    }
    script.push_str(body);
    Case {
        name: format!("{}/{name}", mode.name()),
        mode,
        page,
        script,
        check: Box::new(check),
    }
}

/// A `probe()` result the page could read (the fetch resolved).
fn readable(p: &Value, what: &str) -> Result<(), String> {
    ensure!(
        p["ok"] == json!(true),
        "{what}: expected the page to read the response, but fetch() rejected: {}",
        p["error"]
    );
    Ok(())
}

fn status(p: &Value, what: &str, want: u16) -> Result<(), String> {
    readable(p, what)?;
    ensure!(
        p["status"] == json!(want),
        "{what}: expected status {want} readable from JavaScript, got {}",
        p["status"]
    );
    Ok(())
}

fn body(p: &Value, what: &str, want: &str) -> Result<(), String> {
    ensure!(
        p["body"] == json!(want),
        "{what}: expected body {want:?}, got {}",
        p["body"]
    );
    Ok(())
}

/// The fetch rejected (a TypeError) and Chromium blamed `cors_error` on the request.
fn blocked(seen: &Seen, p: &Value, what: &str, cors_error: &str) -> Result<(), String> {
    ensure!(
        p["ok"] == json!(false)
            && p["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("TypeError")),
        "{what}: expected fetch() to reject with a TypeError (CORS block), but the page read {}",
        p
    );
    let reasons: Vec<&str> = seen
        .network
        .iter()
        .filter_map(|r| r.cors_error.as_deref())
        .collect();
    ensure!(
        reasons.contains(&cors_error),
        "{what}: expected Chromium's CORS error {cors_error}, got {reasons:?}"
    );
    Ok(())
}

fn preflights(seen: &Seen, want: usize) -> Result<(), String> {
    let n = seen.preflights().count();
    ensure!(
        n == want,
        "expected {want} preflight(s) in DevTools, saw {n}"
    );
    Ok(())
}

/// Exactly one preflight, answered with `status`.
fn one_preflight(seen: &Seen, status: u16) -> Result<&support::Req, String> {
    preflights(seen, 1)?;
    let p = seen.preflights().next().unwrap();
    ensure!(
        p.status == Some(status),
        "expected the preflight to be answered {status}, got {:?}",
        p.status
    );
    Ok(p)
}

/// DevTools' record of the first `method` request (not a preflight).
fn actual<'s>(seen: &'s Seen, method: &str) -> Result<&'s support::Req, String> {
    seen.actual(method)
        .next()
        .ok_or_else(|| format!("expected a {method} request in DevTools, saw none"))
}

fn vary_has_origin(r: &support::Req) -> bool {
    r.header("vary").is_some_and(|v| {
        v.split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("origin"))
    })
}

fn cases(mode: Mode, allowed: &str) -> Vec<Case> {
    let m = mode.name();
    let key = |k: &str| format!("/{m}-{k}");
    let allowed = allowed.to_owned();
    let mut out = Vec::new();

    // --- simple and credentialed GETs --------------------------------------------
    let a = allowed.clone();
    out.push(case(
        mode,
        "simple-get-allowed-origin",
        Page::Allowed,
        &[("key", "/shared.txt")],
        "return await probe(gw + key);",
        move |seen, _| {
            let p = &seen.page;
            status(p, "GET", 200)?;
            body(p, "GET", SHARED)?;
            preflights(seen, 0)?;
            let r = actual(seen, "GET")?;
            ensure!(
                r.header("access-control-allow-origin") == Some(a.as_str()),
                "expected Access-Control-Allow-Origin: {a} (rule 1 echoes the origin), got {:?}",
                r.header("access-control-allow-origin")
            );
            ensure!(
                vary_has_origin(r),
                "expected Vary to list Origin, got {:?}",
                r.header("vary")
            );
            Ok(())
        },
    ));
    out.push(case(
        mode,
        "simple-get-other-origin",
        Page::Other,
        &[("key", "/shared.txt")],
        "return await probe(gw + key);",
        |seen, _| {
            status(&seen.page, "GET", 200)?;
            body(&seen.page, "GET", SHARED)?;
            let r = actual(seen, "GET")?;
            ensure!(
                r.header("access-control-allow-origin") == Some("*"),
                "expected Access-Control-Allow-Origin: * (rule 2), got {:?}",
                r.header("access-control-allow-origin")
            );
            Ok(())
        },
    ));
    let a = allowed.clone();
    out.push(case(
        mode,
        "credentialed-get-allowed-origin",
        Page::Allowed,
        &[("key", "/shared.txt")],
        "return await probe(gw + key, { credentials: 'include' });",
        move |seen, _| {
            let p = &seen.page;
            status(p, "credentialed GET", 200)?;
            body(p, "credentialed GET", SHARED)?;
            let r = actual(seen, "GET")?;
            ensure!(
                r.header("access-control-allow-origin") == Some(a.as_str())
                    && r.header("access-control-allow-credentials") == Some("true"),
                "expected ACAO {a} with Access-Control-Allow-Credentials: true, \
                 got ACAO {:?} ACAC {:?}",
                r.header("access-control-allow-origin"),
                r.header("access-control-allow-credentials")
            );
            Ok(())
        },
    ));
    out.push(case(
        mode,
        "credentialed-get-other-origin-fails-on-wildcard",
        Page::Other,
        &[("key", "/shared.txt")],
        "return await probe(gw + key, { credentials: 'include' });",
        |seen, _| {
            // Correct behaviour: the `*` rule answers ACAO `*`, which Fetch forbids with
            // credentials.
            blocked(
                seen,
                &seen.page,
                "credentialed GET under the * rule",
                "WildcardOriginNotAllowed",
            )
        },
    ));

    // --- preflighted writes ---------------------------------------------------------
    let k = key("put.json");
    out.push(case(
        mode,
        "preflighted-put-json",
        Page::Allowed,
        &[("key", &k.clone())],
        "return await probe(gw + key, { method: 'PUT', \
         headers: { 'content-type': 'application/json' }, \
         body: JSON.stringify({ from: 'browser' }) });",
        move |seen, w| {
            status(&seen.page, "PUT", 200)?;
            let pf = one_preflight(seen, 200)?;
            ensure!(
                pf.request_headers.get("access-control-request-method") == Some(&json!("PUT")),
                "expected the preflight to ask for PUT, it sent {:?}",
                pf.request_headers
            );
            let disk = w.on_disk(&k);
            ensure!(
                disk.as_deref() == Some(r#"{"from":"browser"}"#),
                "expected the PUT body in the bucket, found {disk:?}"
            );
            Ok(())
        },
    ));
    let k = key("meta.txt");
    out.push(case(
        mode,
        "preflighted-put-x-amz-meta",
        Page::Allowed,
        &[("key", &k.clone())],
        "const put = await probe(gw + key, { method: 'PUT', body: 'with metadata', \
           headers: { 'content-type': 'text/plain', 'x-amz-meta-owner': 'alice' } });\n\
         const get = await probe(gw + key, {}, ['x-amz-meta-owner']);\n\
         return { put, get };",
        |seen, _| {
            status(&seen.page["put"], "PUT with x-amz-meta-owner", 200)?;
            let pf = one_preflight(seen, 200)?;
            let acrh = pf.request_headers.get("access-control-request-headers");
            ensure!(
                acrh.and_then(Value::as_str)
                    .is_some_and(|h| h.contains("x-amz-meta-owner")),
                "expected the preflight to ask for x-amz-meta-owner, it sent ACRH {acrh:?}"
            );
            let get = &seen.page["get"];
            status(get, "GET after PUT", 200)?;
            body(get, "GET after PUT", "with metadata")?;
            let r = actual(seen, "GET")?;
            ensure!(
                r.header("x-amz-meta-owner") == Some("alice"),
                "expected the stored metadata x-amz-meta-owner: alice on the GET, got {:?}",
                r.header("x-amz-meta-owner")
            );
            ensure!(
                get["headers"]["x-amz-meta-owner"].is_null(),
                "x-amz-meta-owner is not exposed, yet JavaScript read {}",
                get["headers"]["x-amz-meta-owner"]
            );
            Ok(())
        },
    ));
    let k = key("delete-me.txt");
    out.push(case(
        mode,
        "preflighted-delete-allowed-origin",
        Page::Allowed,
        &[("key", &k.clone())],
        "return await probe(gw + key, { method: 'DELETE' });",
        move |seen, w| {
            status(&seen.page, "DELETE", 204)?;
            one_preflight(seen, 200)?;
            ensure!(
                w.on_disk(&k).is_none(),
                "expected {k} deleted from the bucket, it is still there"
            );
            Ok(())
        },
    ));
    out.push(case(
        mode,
        "header-not-allowed",
        Page::Allowed,
        &[("key", "/shared.txt")],
        "return await probe(gw + key, { headers: { 'x-custom': '1' } });",
        |seen, _| {
            one_preflight(seen, 403)?;
            blocked(
                seen,
                &seen.page,
                "GET with x-custom",
                "PreflightMissingAllowOriginHeader",
            )
        },
    ));
    let k = key("keep-put.txt");
    out.push(case(
        mode,
        "method-not-allowed-put-other-origin",
        Page::Other,
        &[("key", &k.clone())],
        "return await probe(gw + key, { method: 'PUT', body: 'overwritten' });",
        move |seen, w| {
            one_preflight(seen, 403)?;
            blocked(
                seen,
                &seen.page,
                "PUT from the other origin",
                "PreflightMissingAllowOriginHeader",
            )?;
            let disk = w.on_disk(&k);
            ensure!(
                disk.as_deref() == Some(ORIGINAL),
                "expected {k} unchanged, found {disk:?}"
            );
            let puts = logged(w.log(mode), "PUT", &k).len();
            ensure!(
                puts == 0,
                "expected no PUT to reach the gateway, its log has {puts}"
            );
            Ok(())
        },
    ));

    // --- what JavaScript may read -----------------------------------------------------
    out.push(case(
        mode,
        "etag-exposed-request-id-not",
        Page::Allowed,
        &[("key", "/shared.txt")],
        "return await probe(gw + key, {}, ['etag', 'x-request-id', 'last-modified']);",
        |seen, _| {
            let p = &seen.page;
            status(p, "GET", 200)?;
            let r = actual(seen, "GET")?;
            let etag = r.header("etag");
            ensure!(
                etag.is_some() && p["headers"]["etag"].as_str() == etag,
                "expected JavaScript to read ETag {etag:?} (exposed), it read {}",
                p["headers"]["etag"]
            );
            ensure!(
                r.header("x-request-id").is_some(),
                "expected the response to carry x-request-id (corsgate adds it), it did not"
            );
            ensure!(
                p["headers"]["x-request-id"].is_null(),
                "x-request-id is neither safelisted nor exposed, yet JavaScript read {}",
                p["headers"]["x-request-id"]
            );
            // Safelisted response header: readable without ExposeHeaders.
            ensure!(
                p["headers"]["last-modified"].is_string(),
                "expected JavaScript to read the safelisted Last-Modified, it read {}",
                p["headers"]["last-modified"]
            );
            Ok(())
        },
    ));
    let k = key("missing.txt");
    let a = allowed.clone();
    out.push(case(
        mode,
        "404-readable-allowed-origin",
        Page::Allowed,
        &[("key", &k.clone())],
        "return await probe(gw + key);",
        move |seen, _| {
            status(&seen.page, "GET of a missing key", 404)?;
            ensure!(
                seen.page["body"]
                    .as_str()
                    .is_some_and(|b| b.contains("NoSuchKey")),
                "expected the S3 error body (NoSuchKey) readable, got {}",
                seen.page["body"]
            );
            let r = actual(seen, "GET")?;
            ensure!(
                r.header("access-control-allow-origin") == Some(a.as_str()),
                "expected the 404 to carry ACAO {a}, got {:?}",
                r.header("access-control-allow-origin")
            );
            Ok(())
        },
    ));
    out.push(case(
        mode,
        "404-readable-other-origin",
        Page::Other,
        &[("key", &k.clone())],
        "return await probe(gw + key);",
        |seen, _| status(&seen.page, "GET of a missing key", 404),
    ));
    out.push(case(
        mode,
        "head-allowed-origin",
        Page::Allowed,
        &[("key", "/shared.txt")],
        "return await probe(gw + key, { method: 'HEAD' }, ['etag']);",
        |seen, _| {
            status(&seen.page, "HEAD", 200)?;
            body(&seen.page, "HEAD", "")?;
            preflights(seen, 0)?;
            ensure!(
                seen.page["headers"]["etag"].is_string(),
                "expected ETag readable on HEAD, got {}",
                seen.page["headers"]["etag"]
            );
            Ok(())
        },
    ));
    out.push(case(
        mode,
        "range-get-allowed-origin",
        Page::Allowed,
        &[("key", "/shared.txt")],
        "return await probe(gw + key, { headers: { range: 'bytes=0-5' } }, ['content-range']);",
        |seen, _| {
            // A single `bytes=N-M` range is CORS-safelisted: no preflight, even though
            // the rules do not allow a Range header. Content-Range is not in
            // ExposeHeaders, so JavaScript cannot read it (a trap for video players
            // and range readers: expose it if you need it).
            status(&seen.page, "Range GET", 206)?;
            body(&seen.page, "Range GET", "shared")?;
            preflights(seen, 0)?;
            let r = actual(seen, "GET")?;
            ensure!(
                r.header("content-range").is_some()
                    && seen.page["headers"]["content-range"].is_null(),
                "expected Content-Range on the wire ({:?}) but hidden from JavaScript ({})",
                r.header("content-range"),
                seen.page["headers"]["content-range"]
            );
            Ok(())
        },
    ));
    let k = key("roundtrip.txt");
    out.push(case(
        mode,
        "put-then-get-roundtrip",
        Page::Allowed,
        &[("key", &k.clone())],
        "const put = await probe(gw + key, { method: 'PUT', body: 'written from the browser', \
           headers: { 'content-type': 'text/plain' } });\n\
         const get = await probe(gw + key);\n\
         return { put, get };",
        move |seen, w| {
            status(&seen.page["put"], "PUT", 200)?;
            status(&seen.page["get"], "GET", 200)?;
            body(&seen.page["get"], "GET", "written from the browser")?;
            let disk = w.on_disk(&k);
            ensure!(
                disk.as_deref() == Some("written from the browser"),
                "expected the body in the bucket, found {disk:?}"
            );
            Ok(())
        },
    ));

    // --- preflight cache ------------------------------------------------------------------
    let k = key("maxage.json");
    out.push(case(
        mode,
        "max-age-second-put-sends-no-preflight",
        Page::Allowed,
        &[("key", &k.clone())],
        "const init = (n) => ({ method: 'PUT', headers: { 'content-type': 'application/json' }, \
           body: JSON.stringify({ n }) });\n\
         const first = await probe(gw + key, init(1));\n\
         const second = await probe(gw + key, init(2));\n\
         return { first, second };",
        move |seen, w| {
            status(&seen.page["first"], "first PUT", 200)?;
            status(&seen.page["second"], "second PUT", 200)?;
            let pf = one_preflight(seen, 200)?;
            ensure!(
                pf.header("access-control-max-age") == Some("600"),
                "expected Access-Control-Max-Age: 600 on the preflight, got {:?}",
                pf.header("access-control-max-age")
            );
            let options = logged(w.log(mode), "OPTIONS", &k).len();
            let puts = logged(w.log(mode), "PUT", &k).len();
            ensure!(
                options == 1 && puts == 2,
                "expected the gateway to log 1 OPTIONS and 2 PUTs for {k}, \
                 it logged {options} and {puts}"
            );
            Ok(())
        },
    ));

    // --- the browser-cache trap -----------------------------------------------------------
    let k = key("trap.txt");
    out.push(case(
        mode,
        "cache-trap-no-cors-then-cors",
        Page::Allowed,
        &[("key", &k.clone())],
        "const first = await noCors(gw + key);\n\
         const second = await probe(gw + key);\n\
         return { first, second };",
        move |seen, w| {
            let first = actual(seen, "GET")?;
            ensure!(
                first.header("cache-control") == Some("max-age=600"),
                "precondition: expected the first response cacheable \
                 (Cache-Control: max-age=600), got {:?}",
                first.header("cache-control")
            );
            ensure!(
                seen.page["first"]["type"] == json!("opaque"),
                "precondition: expected the no-cors fetch to give an opaque response, got {}",
                seen.page["first"]
            );
            let gets = logged(w.log(mode), "GET", &k).len();
            match mode {
                Mode::Enforce => {
                    let second = &seen.page["second"];
                    status(second, "CORS GET after a no-cors GET", 200)?;
                    body(second, "CORS GET after a no-cors GET", TRAP)?;
                    ensure!(
                        vary_has_origin(first),
                        "expected Vary: Origin on the response to the Origin-less request, \
                         got {:?}",
                        first.header("vary")
                    );
                    ensure!(
                        gets == 2,
                        "expected the CORS GET to reach the gateway again (2 GETs), \
                         log has {gets}"
                    );
                }
                Mode::S3 => {
                    // S3 adds no Vary when there is no Origin, so Chromium reuses the
                    // cached response, which has no CORS headers.
                    ensure!(
                        first.header("vary").is_none(),
                        "expected no Vary on S3's answer to an Origin-less GET, got {:?}",
                        first.header("vary")
                    );
                    let what = "CORS GET after a no-cors GET";
                    blocked(seen, &seen.page["second"], what, "MissingAllowOriginHeader")?;
                    ensure!(
                        gets == 1,
                        "expected the CORS GET served from the browser cache \
                         (1 GET at the gateway), log has {gets}"
                    );
                }
            }
            Ok(())
        },
    ));

    // --- a disallowed origin's destructive requests --------------------------------------
    let k = key("keep-delete.txt");
    out.push(case(
        mode,
        "delete-other-origin-preflight-refused",
        Page::Other,
        &[("key", &k.clone())],
        "return await probe(gw + key, { method: 'DELETE' });",
        move |seen, w| {
            one_preflight(seen, 403)?;
            blocked(
                seen,
                &seen.page,
                "DELETE from the other origin",
                "PreflightMissingAllowOriginHeader",
            )?;
            let dels = logged(w.log(mode), "DELETE", &k).len();
            ensure!(
                dels == 0,
                "expected the DELETE never sent, the gateway logged {dels}"
            );
            ensure!(
                w.on_disk(&k).is_some(),
                "expected {k} still in the bucket, it is gone"
            );
            Ok(())
        },
    ));
    // A DELETE is always preflighted, so the browser itself stops it. A simple request
    // is not: `POST /?delete` (S3 DeleteObjects) with a text/plain body goes out with no
    // preflight. (Real S3 also wants Content-MD5 there; s3s-fs does not, and HTML-form
    // POST uploads are simple requests on real S3 too.)
    let k = key("post-victim.txt");
    let victim = k[1..].to_owned();
    out.push(case(
        mode,
        "simple-post-delete-objects-other-origin",
        Page::Other,
        &[("victim", &victim)],
        "const body = '<Delete><Object><Key>' + victim + '</Key></Object></Delete>';\n\
         return await probe(gw + '/?delete', { method: 'POST', \
           headers: { 'content-type': 'text/plain' }, body });",
        move |seen, w| {
            preflights(seen, 0)?;
            let what = "simple POST ?delete from the other origin";
            blocked(seen, &seen.page, what, "MissingAllowOriginHeader")?;
            let statuses: Vec<u64> = logged(w.log(mode), "POST", "/")
                .iter()
                .filter_map(|v| v["status"].as_u64())
                .collect();
            match mode {
                Mode::Enforce => {
                    ensure!(
                        w.on_disk(&k).is_some(),
                        "expected {k} still in the bucket, it is gone: the cross-origin \
                         DeleteObjects reached the upstream (gateway logged POST / -> {statuses:?})"
                    );
                    ensure!(
                        statuses == [403],
                        "expected the gateway to refuse the POST itself (one 403), \
                         it logged POST / -> {statuses:?}"
                    );
                }
                Mode::S3 => {
                    // S3 never blocks: the request runs, the page just cannot read it.
                    ensure!(
                        statuses == [200],
                        "expected s3 mode to forward the POST (one 200), \
                         it logged POST / -> {statuses:?}"
                    );
                    ensure!(
                        w.on_disk(&k).is_none(),
                        "expected s3 mode to let DeleteObjects remove {k}, it is still there"
                    );
                }
            }
            Ok(())
        },
    ));

    out
}

#[test]
fn chromium_sees_the_right_cors_answers() {
    let started = Instant::now();
    let s3 = S3Server::start("browser", None);
    let put = |key: &str, data: &str| std::fs::write(s3.object_path(key), data).unwrap();
    put("shared.txt", SHARED);
    for m in [Mode::Enforce, Mode::S3] {
        for k in [
            "delete-me.txt",
            "keep-put.txt",
            "keep-delete.txt",
            "post-victim.txt",
        ] {
            put(&format!("{}-{k}", m.name()), ORIGINAL);
        }
    }

    let page1 = page_server();
    let page2 = page_server();
    let allowed = format!("http://127.0.0.1:{}", page1.port());
    let other = format!("http://localhost:{}", page2.port());

    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("cors.json");
    let rules_json = json!({ "CORSRules": [
        {
            "ID": "app",
            "AllowedOrigins": [allowed],
            "AllowedMethods": ["GET", "HEAD", "PUT", "DELETE"],
            "AllowedHeaders": ["content-type", "authorization", "x-amz-meta-*"],
            "ExposeHeaders": ["ETag"],
            "MaxAgeSeconds": 600
        },
        { "ID": "public-read", "AllowedOrigins": ["*"], "AllowedMethods": ["GET"] }
    ]});
    std::fs::write(&rules, rules_json.to_string()).unwrap();
    let bucket_url = s3.bucket_url();
    let spawn = |mode: Mode| {
        GatewayProcess::spawn(&[
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &bucket_url,
            "--cors-rules",
            rules.to_str().unwrap(),
            "--mode",
            mode.name(),
        ])
    };
    let gateways = [spawn(Mode::Enforce), spawn(Mode::S3)];

    // The cache-trap objects go in through the gateway with Cache-Control, which s3s-fs
    // stores and returns (checked here, so the trap case tests caching, not setup).
    for m in [Mode::Enforce, Mode::S3] {
        let gw = gateways[m.index()].addr;
        let path = format!("/{}-trap.txt", m.name());
        let headers = [
            ("Cache-Control", "max-age=600"),
            ("Content-Type", "text/plain"),
        ];
        let r = http(gw, "PUT", &path, &headers, TRAP.as_bytes());
        assert_eq!(
            r.status,
            200,
            "seeding {path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        // HEAD, so the trap case's GET count at the gateway is the browser's alone.
        let r = http(gw, "HEAD", &path, &[], b"");
        assert_eq!(
            r.header("cache-control"),
            Some("max-age=600"),
            "setup: s3s-fs did not keep Cache-Control on {path}"
        );
    }

    let mut all = cases(Mode::Enforce, &allowed);
    all.extend(cases(Mode::S3, &allowed));
    let gw_url = |m: Mode| format!("http://{}", gateways[m.index()].addr);
    let spec = json!({
        "chromium": support::chromium_binary(),
        "gateways": [gw_url(Mode::Enforce), gw_url(Mode::S3)],
        "timeout_ms": 20000,
        "cases": all.iter().map(|c| json!({
            "name": c.name,
            "page": match c.page {
                Page::Allowed => format!("{allowed}/"),
                Page::Other => format!("{other}/"),
            },
            "gateway": gw_url(c.mode),
            "script": c.script,
        })).collect::<Vec<_>>(),
    });
    let setup = started.elapsed();
    let seen = run_browser(dir.path(), &spec, Duration::from_secs(240));
    let browser = started.elapsed() - setup;
    // Access-log lines are written as response bodies end, and reach us through a pipe.
    // A barrier request sent after the browser is done marks when every earlier line
    // is in: each gateway process writes its log in order.
    for gw in &gateways {
        http(gw.addr, "HEAD", LOG_BARRIER, &[], b"");
        let deadline = Instant::now() + Duration::from_secs(30);
        while logged(&access_log(&gw.log), "HEAD", LOG_BARRIER).is_empty() {
            assert!(
                Instant::now() < deadline,
                "the barrier never reached the access log"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let world = World {
        s3: &s3,
        logs: [access_log(&gateways[0].log), access_log(&gateways[1].log)],
    };

    assert_eq!(
        seen.len(),
        all.len(),
        "the runner reported a different number of cases"
    );
    let mut failures = Vec::new();
    for (c, s) in all.iter().zip(&seen) {
        assert_eq!(c.name, s.name, "runner reports out of order");
        let verdict = match &s.error {
            Some(e) => Err(format!("the runner failed: {e}")),
            None => (c.check)(s, &world),
        };
        match verdict {
            Ok(()) => println!("ok   {}", c.name),
            Err(why) => {
                println!("FAIL {}: {why}", c.name);
                failures.push(format!(
                    "case {}: {why}\n    Chromium reported: {}",
                    c.name,
                    s.describe()
                ));
            }
        }
    }
    println!(
        "{} case(s) in {:.1?} (setup {:.1?}, browser {:.1?})",
        all.len(),
        started.elapsed(),
        setup,
        browser
    );
    assert!(
        failures.is_empty(),
        "{} of {} browser case(s) failed:\n\n{}",
        failures.len(),
        all.len(),
        failures.join("\n\n")
    );
}
