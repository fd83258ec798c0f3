//! The response cache end to end: a recording raw-TCP stand-in upstream behind the
//! in-process gateway, whose cache runs on a clock the test moves (RFC 9111 ages are wall
//! time). Every assertion is on what crossed the wire: the upstream's request count and
//! lines, and the exact response headers, with literal expected values. Also the
//! `--cache` flag of the real binary and one round trip against s3s-fs.
mod common;
#[path = "cache/support.rs"]
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::standin::{ok, Reply, StandIn};
use common::wire::{cors, send};
use common::{Gateway, GatewayProcess, S3Server};
use support::*;
use tokio::io::AsyncWriteExt;

const MAX_AGE_60: &str = "Cache-Control: max-age=60";

/// A stand-in answering every request with a 200 of `body` and `extra`, dated by `clock`.
fn always(clock: &Arc<ManualClock>, body: &'static str, extra: &'static [&'static str]) -> StandIn {
    let c = clock.clone();
    StandIn::start(move |_, _| Reply::Raw(ok_at(&c, body, extra)))
}

// ---------------------------------------------------------------------------------------
// Origin-neutral entries, CORS per hit

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_origin_gets_its_own_cors_headers_from_one_upstream_get() {
    let clock = ManualClock::new();
    let up = always(&clock, "hello", &[MAX_AGE_60, "ETag: \"e1\""]);
    let rig = Rig::start(up, clock, "").await;

    let a = rig.get("/obj.txt", &[("Origin", APP)]).await;
    expect(&a, 200, "hello", "MISS", app_granted());
    let b = rig.get("/obj.txt", &[("Origin", OTHER)]).await;
    expect(&b, 200, "hello", "HIT", star_granted());
    let none = rig.get("/obj.txt", &[]).await;
    expect(&none, 200, "hello", "HIT", no_origin());
    let a2 = rig.get("/obj.txt", &[("Origin", APP)]).await;
    expect(&a2, 200, "hello", "HIT", app_granted());

    assert_eq!(rig.lines(), ["GET /bkt/obj.txt HTTP/1.1"]);
    let fill = &rig.up.requests()[0];
    assert_eq!(fill.header("origin"), None, "{}", fill.head_text());
    assert_eq!(rig.cache().entry_count(), 1);
}

/// Spec §4.2 item 7 (the CloudFront trap): the first request has no Origin, like an
/// `<img>`; the stand-in answers like S3, with CORS headers only when asked with an
/// Origin. The later CORS request must still get ACAO.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trap_no_origin_first_then_cors_request_gets_acao() {
    let clock = ManualClock::new();
    let c = clock.clone();
    let up = StandIn::start(move |_, rec| {
        let mut extra = vec![MAX_AGE_60.to_owned()];
        if let Some(o) = rec.header("origin") {
            extra.push(format!("Access-Control-Allow-Origin: {o}"));
            extra.push("Vary: Origin".into());
        }
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        Reply::Raw(ok_at(&c, "pixels", &extra))
    });
    let rig = Rig::start(up, clock, "").await;

    let img = rig.get("/logo.png", &[]).await;
    expect(&img, 200, "pixels", "MISS", no_origin());
    let fetch = rig.get("/logo.png", &[("Origin", APP)]).await;
    expect(&fetch, 200, "pixels", "HIT", app_granted());
    let other = rig.get("/logo.png", &[("Origin", OTHER)]).await;
    expect(&other, 200, "pixels", "HIT", star_granted());
    assert_eq!(rig.upstream(), 1);
}

/// A hit reuses a finished head (see `cache/serve.rs`) only for a decoration that
/// writes the same bytes. Two origins of one wildcard rule (same rule, different ACAO)
/// and no Origin take turns: the first two fill the entry's kept heads, the third is
/// built each time, and every hit carries exactly its own CORS headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_heads_serve_only_identical_decorations() {
    let clock = ManualClock::new();
    let up = always(&clock, "shared", &[MAX_AGE_60]);
    let rules = r#"
[[site.cors]]
allowed_origins = ["http://*.app.test"]
allowed_methods = ["GET"]
expose_headers = ["ETag"]
"#;
    let rig = Rig::with(up, clock, "", rules, "").await;
    let granted = |origin: &str| {
        cors(&[
            ("access-control-allow-origin", origin),
            ("access-control-allow-credentials", "true"),
            ("access-control-allow-methods", "GET"),
            ("access-control-expose-headers", "ETag"),
            ("vary", "Origin"),
        ])
    };
    let (a, b) = ("http://a.app.test", "http://b.app.test");
    let first = rig.get("/obj.txt", &[("Origin", a)]).await;
    expect(&first, 200, "shared", "MISS", granted(a));
    for round in 0..3 {
        for origin in [Some(a), Some(b), None] {
            let headers: Vec<(&str, &str)> = origin.map(|o| ("Origin", o)).into_iter().collect();
            let r = rig.get("/obj.txt", &headers).await;
            let want = origin.map_or_else(no_origin, granted);
            assert_eq!(r.text(), "shared", "round {round}: {}", r.head);
            assert_eq!(xc(&r), "HIT", "round {round}: {}", r.head);
            assert_eq!(
                r.cors(),
                want,
                "round {round}, origin {origin:?}: {}",
                r.head
            );
            assert_eq!(r.header("age"), Some("0"), "{}", r.head);
        }
    }
    assert_eq!(rig.upstream(), 1);
}

/// A rule change applies to hits at once, kept heads or not: after a reload that
/// changes the matched rule's ExposeHeaders and MaxAgeSeconds, the next hit (on the
/// same entry, no purge) carries the new values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_changes_the_cors_headers_of_hits_at_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("bucket")).unwrap();
    std::fs::write(dir.path().join("bucket/app.js"), "js").unwrap();
    let config = |expose: &str, max_age: u32| {
        format!(
            "listen = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n\
             [[site]]\nname = \"s\"\ndefault = true\nupstream = \"file:{}\"\nmode = \"enforce\"\n\
             [[site.cors]]\nallowed_origins = [\"{APP}\"]\nallowed_methods = [\"GET\"]\n\
             expose_headers = [\"{expose}\"]\nmax_age_seconds = {max_age}\n\
             [site.cache]\ndefault_ttl = \"1h\"\n",
            dir.path().join("bucket").display()
        )
    };
    let path = dir.path().join("corsgate.toml");
    common::ops::write_atomic(&path, &config("ETag", 600));
    let gw = common::ops::FileGateway::start(&path, false).await;
    let get = || send(gw.addr, "GET", "/app.js", HOST, &[("Origin", APP)], b"");
    let granted = |expose: &str, max_age: &str| {
        cors(&[
            ("access-control-allow-origin", APP),
            ("access-control-allow-credentials", "true"),
            ("access-control-allow-methods", "GET"),
            ("access-control-expose-headers", expose),
            ("access-control-max-age", max_age),
            ("vary", "Origin"),
        ])
    };
    expect(&get().await, 200, "js", "MISS", granted("ETag", "600"));
    for _ in 0..2 {
        expect(&get().await, 200, "js", "HIT", granted("ETag", "600"));
    }
    common::ops::write_atomic(&path, &config("x-amz-version-id", 30));
    gw.reloader.reload().await.expect("reload");
    for _ in 0..2 {
        expect(
            &get().await,
            200,
            "js",
            "HIT",
            granted("x-amz-version-id", "30"),
        );
    }
    gw.stop().await;
}

/// The reverse order: a stored response fetched for a CORS request never leaks its
/// CORS headers to a request without Origin (upstream ACAO is never stored).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_cors_headers_are_never_stored() {
    let clock = ManualClock::new();
    let up = always(
        &clock,
        "x",
        &[
            MAX_AGE_60,
            "Access-Control-Allow-Origin: http://evil.test",
            "Access-Control-Allow-Credentials: true",
            "Access-Control-Expose-Headers: X-Secret",
        ],
    );
    let rig = Rig::start(up, clock, "").await;
    let a = rig.get("/k", &[("Origin", APP)]).await;
    expect(&a, 200, "x", "MISS", app_granted());
    let none = rig.get("/k", &[]).await;
    expect(&none, 200, "x", "HIT", no_origin());
    let b = rig.get("/k", &[("Origin", OTHER)]).await;
    expect(&b, 200, "x", "HIT", star_granted());
    assert_eq!(rig.upstream(), 1);
}

/// A 304 that freshens an entry may carry upstream CORS fields too; the freshened entry
/// must not keep them (a hit adds ours without stripping).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_cors_headers_on_a_304_are_never_stored() {
    let clock = ManualClock::new();
    let c = clock.clone();
    let up = StandIn::start(move |i, _| {
        Reply::Raw(match i {
            0 => ok_at(&c, "v1", &[MAX_AGE_60, "ETag: \"v1\""]),
            _ => reply(
                &c,
                "304 Not Modified",
                &[
                    MAX_AGE_60,
                    "ETag: \"v1\"",
                    "Access-Control-Allow-Origin: http://evil.test",
                    "Access-Control-Expose-Headers: X-Secret",
                ],
                b"",
            ),
        })
    });
    let rig = Rig::start(up, clock.clone(), "").await;
    expect(&rig.get("/r", &[]).await, 200, "v1", "MISS", no_origin());
    clock.secs(61);
    let reval = rig.get("/r", &[("Origin", APP)]).await;
    expect(&reval, 200, "v1", "REVALIDATED", app_granted());
    assert_eq!(rig.upstream(), 2);
    let none = rig.get("/r", &[]).await;
    expect(&none, 200, "v1", "HIT", no_origin());
    let b = rig.get("/r", &[("Origin", OTHER)]).await;
    expect(&b, 200, "v1", "HIT", star_granted());
    assert_eq!(rig.upstream(), 2);
}

// ---------------------------------------------------------------------------------------
// Vary (RFC 9111 §4.1)

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_vary_accept_encoding_splits_entries() {
    let clock = ManualClock::new();
    let c = clock.clone();
    let up = StandIn::start(move |_, rec| {
        let body = format!("body-{}", rec.header("accept-encoding").unwrap_or_default());
        Reply::Raw(ok_at(&c, &body, &[MAX_AGE_60, "Vary: Accept-Encoding"]))
    });
    let rig = Rig::start(up, clock, "").await;
    let merged = app_granted_vary("Accept-Encoding, Origin");

    let gz = [("Origin", APP), ("Accept-Encoding", "gzip")];
    let br = [("Origin", APP), ("Accept-Encoding", "br")];
    expect(
        &rig.get("/v", &gz).await,
        200,
        "body-gzip",
        "MISS",
        merged.clone(),
    );
    expect(
        &rig.get("/v", &br).await,
        200,
        "body-br",
        "MISS",
        merged.clone(),
    );
    expect(
        &rig.get("/v", &gz).await,
        200,
        "body-gzip",
        "HIT",
        merged.clone(),
    );
    expect(
        &rig.get("/v", &br).await,
        200,
        "body-br",
        "HIT",
        merged.clone(),
    );
    let bare = rig.get("/v", &[("Accept-Encoding", "br")]).await;
    expect(
        &bare,
        200,
        "body-br",
        "HIT",
        cors(&[("vary", "Accept-Encoding, Origin")]),
    );

    assert_eq!(rig.upstream(), 2);
    let sent: Vec<Option<String>> = rig
        .up
        .requests()
        .iter()
        .map(|r| r.header("accept-encoding"))
        .collect();
    assert_eq!(sent, [Some("gzip".into()), Some("br".into())]);
    assert_eq!(rig.cache().entry_count(), 2);
}

/// An object first stored without Vary, then refetched with `Vary: Accept-Encoding`:
/// the old entry must not shadow the variants (a response without Vary is stored under
/// the bare primary key, which lookups try first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_that_starts_to_vary_is_served_per_variant() {
    let clock = ManualClock::new();
    let c = clock.clone();
    let up = StandIn::start(move |i, rec| {
        Reply::Raw(if i == 0 {
            ok_at(&c, "plain", &[MAX_AGE_60])
        } else {
            let body = format!("body-{}", rec.header("accept-encoding").unwrap_or_default());
            ok_at(&c, &body, &[MAX_AGE_60, "Vary: Accept-Encoding"])
        })
    });
    let rig = Rig::start(up, clock.clone(), "").await;
    let gz = [("Accept-Encoding", "gzip")];
    let br = [("Accept-Encoding", "br")];
    let varied = || cors(&[("vary", "Accept-Encoding, Origin")]);

    expect(&rig.get("/t", &gz).await, 200, "plain", "MISS", no_origin());
    expect(&rig.get("/t", &br).await, 200, "plain", "HIT", no_origin());
    clock.secs(61);
    expect(
        &rig.get("/t", &gz).await,
        200,
        "body-gzip",
        "MISS",
        varied(),
    );
    expect(&rig.get("/t", &gz).await, 200, "body-gzip", "HIT", varied());
    expect(&rig.get("/t", &br).await, 200, "body-br", "MISS", varied());
    expect(&rig.get("/t", &br).await, 200, "body-br", "HIT", varied());
    expect(&rig.get("/t", &gz).await, 200, "body-gzip", "HIT", varied());

    assert_eq!(rig.upstream(), 3);
    assert_eq!(rig.cache().entry_count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_vary_origin_does_not_split_per_origin() {
    let clock = ManualClock::new();
    let up = always(&clock, "same", &[MAX_AGE_60, "Vary: Origin"]);
    let rig = Rig::start(up, clock, "").await;
    expect(
        &rig.get("/o", &[("Origin", APP)]).await,
        200,
        "same",
        "MISS",
        app_granted(),
    );
    expect(
        &rig.get("/o", &[("Origin", OTHER)]).await,
        200,
        "same",
        "HIT",
        star_granted(),
    );
    expect(
        &rig.get("/o", &[("Origin", "http://third.test")]).await,
        200,
        "same",
        "HIT",
        star_granted(),
    );
    expect(&rig.get("/o", &[]).await, 200, "same", "HIT", no_origin());
    assert_eq!(rig.upstream(), 1);
    assert_eq!(rig.cache().entry_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vary_star_is_never_stored() {
    let clock = ManualClock::new();
    let up = always(&clock, "star", &[MAX_AGE_60, "Vary: *"]);
    let rig = Rig::start(up, clock, "").await;
    for _ in 0..3 {
        let r = rig.get("/s", &[("Origin", APP)]).await;
        expect(&r, 200, "star", "MISS", app_granted_vary("*"));
    }
    assert_eq!(rig.upstream(), 3);
    assert_eq!(rig.cache().entry_count(), 0);
}

// ---------------------------------------------------------------------------------------
// Freshness, expiry, revalidation (RFC 9111 §4.2, §4.3) on the injected clock

/// `max-age=60`: fresh at +59 s, revalidated with the ETag at +61 s and answered 304,
/// fresh again after, `Age` equal to the clock's elapsed seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_age_expiry_revalidates_with_etag_and_304_freshens() {
    let clock = ManualClock::new();
    let c = clock.clone();
    let up = StandIn::start(move |i, _| {
        Reply::Raw(match i {
            0 => ok_at(&c, "v1", &[MAX_AGE_60, "ETag: \"v1\""]),
            _ => reply(&c, "304 Not Modified", &[MAX_AGE_60, "ETag: \"v1\""], b""),
        })
    });
    let rig = Rig::start(up, clock.clone(), "").await;
    let o = [("Origin", APP)];

    let miss = rig.get("/f", &o).await;
    expect(&miss, 200, "v1", "MISS", app_granted());
    assert_eq!(miss.header("age"), Some("0"));

    clock.secs(59);
    let hit = rig.get("/f", &o).await;
    expect(&hit, 200, "v1", "HIT", app_granted());
    assert_eq!(hit.header("age"), Some("59"));
    assert_eq!(hit.header("etag"), Some("\"v1\""));
    assert_eq!(rig.upstream(), 1);

    clock.secs(2); // +61 s: stale
    let reval = rig.get("/f", &o).await;
    expect(&reval, 200, "v1", "REVALIDATED", app_granted());
    assert_eq!(reval.header("age"), Some("0"));
    assert_eq!(rig.upstream(), 2);
    let cond = &rig.up.requests()[1];
    assert_eq!(cond.request_line(), "GET /bkt/f HTTP/1.1");
    assert_eq!(cond.header("if-none-match").as_deref(), Some("\"v1\""));

    clock.secs(30);
    let again = rig.get("/f", &o).await;
    expect(&again, 200, "v1", "HIT", app_granted());
    assert_eq!(again.header("age"), Some("30"));
    assert_eq!(rig.upstream(), 2);
}

/// A revalidation answered 200 with a new representation replaces the entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revalidation_answered_200_replaces_the_entry() {
    let clock = ManualClock::new();
    let c = clock.clone();
    let up = StandIn::start(move |i, _| {
        Reply::Raw(match i {
            0 => ok_at(&c, "old", &[MAX_AGE_60, "ETag: \"1\""]),
            _ => ok_at(&c, "new body", &[MAX_AGE_60, "ETag: \"2\""]),
        })
    });
    let rig = Rig::start(up, clock.clone(), "").await;
    expect(&rig.get("/r", &[]).await, 200, "old", "MISS", no_origin());
    clock.secs(61);
    let fresh = rig.get("/r", &[]).await;
    expect(&fresh, 200, "new body", "MISS", no_origin());
    assert_eq!(fresh.header("etag"), Some("\"2\""));
    assert_eq!(
        rig.up.requests()[1].header("if-none-match").as_deref(),
        Some("\"1\"")
    );
    clock.secs(10);
    let hit = rig.get("/r", &[]).await;
    expect(&hit, 200, "new body", "HIT", no_origin());
    assert_eq!(hit.header("etag"), Some("\"2\""));
    assert_eq!(hit.header("age"), Some("10"));
    assert_eq!(rig.upstream(), 2);
    assert_eq!(rig.cache().entry_count(), 1);
}

/// An upstream `Age` counts toward the stored response's age (§4.2.3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_age_counts_toward_expiry() {
    let clock = ManualClock::new();
    let up = always(&clock, "aged", &[MAX_AGE_60, "Age: 5", "ETag: \"a\""]);
    let rig = Rig::start(up, clock.clone(), "").await;
    let miss = rig.get("/a", &[]).await;
    assert_eq!((xc(&miss), miss.header("age")), ("MISS", Some("5")));
    clock.secs(54);
    let hit = rig.get("/a", &[]).await;
    assert_eq!((xc(&hit), hit.header("age")), ("HIT", Some("59")));
    clock.secs(1); // 5 + 55 = 60 = max-age: stale
    let stale = rig.get("/a", &[]).await;
    assert_ne!(xc(&stale), "HIT", "{}", stale.head);
    assert_eq!(rig.upstream(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expires_sets_the_lifetime() {
    let clock = ManualClock::new();
    let c = clock.clone();
    let up = StandIn::start(move |i, _| {
        let expires = format!("Expires: {}", c.http_date_in(30));
        Reply::Raw(match i {
            0 => ok_at(
                &c,
                "exp",
                &[&expires, "Last-Modified: Mon, 01 Jan 2024 00:00:00 GMT"],
            ),
            _ => reply(&c, "304 Not Modified", &[&expires], b""),
        })
    });
    let rig = Rig::start(up, clock.clone(), "").await;
    expect(&rig.get("/e", &[]).await, 200, "exp", "MISS", no_origin());
    clock.secs(29);
    let hit = rig.get("/e", &[]).await;
    expect(&hit, 200, "exp", "HIT", no_origin());
    assert_eq!(hit.header("age"), Some("29"));
    clock.secs(2);
    let reval = rig.get("/e", &[]).await;
    expect(&reval, 200, "exp", "REVALIDATED", no_origin());
    assert_eq!(rig.upstream(), 2);
    assert_eq!(
        rig.up.requests()[1].header("if-modified-since").as_deref(),
        Some("Mon, 01 Jan 2024 00:00:00 GMT")
    );
    clock.secs(29);
    expect(&rig.get("/e", &[]).await, 200, "exp", "HIT", no_origin());
    assert_eq!(rig.upstream(), 2);
}

/// A shared cache uses `s-maxage` over `max-age` (§5.2.2.10).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s_maxage_overrides_max_age() {
    let clock = ManualClock::new();
    let up = always(
        &clock,
        "shared",
        &["Cache-Control: max-age=10, s-maxage=100", "ETag: \"s\""],
    );
    let rig = Rig::start(up, clock.clone(), "").await;
    expect(
        &rig.get("/s", &[]).await,
        200,
        "shared",
        "MISS",
        no_origin(),
    );
    clock.secs(50);
    let hit = rig.get("/s", &[]).await;
    expect(&hit, 200, "shared", "HIT", no_origin());
    assert_eq!(hit.header("age"), Some("50"));
    clock.secs(49);
    expect(&rig.get("/s", &[]).await, 200, "shared", "HIT", no_origin());
    clock.secs(2);
    let stale = rig.get("/s", &[]).await;
    assert_ne!(xc(&stale), "HIT", "{}", stale.head);
    assert_eq!(rig.upstream(), 2);
}

/// `no-cache`: stored, but every reuse is a conditional request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_cache_revalidates_every_time() {
    let clock = ManualClock::new();
    let c = clock.clone();
    let cc = "Cache-Control: no-cache, max-age=600";
    let up = StandIn::start(move |i, _| {
        Reply::Raw(match i {
            0 => ok_at(&c, "nc", &[cc, "ETag: \"nc\""]),
            _ => reply(&c, "304 Not Modified", &[cc, "ETag: \"nc\""], b""),
        })
    });
    let rig = Rig::start(up, clock, "").await;
    expect(
        &rig.get("/n", &[("Origin", APP)]).await,
        200,
        "nc",
        "MISS",
        app_granted(),
    );
    for n in 2..=4 {
        let r = rig.get("/n", &[("Origin", APP)]).await;
        expect(&r, 200, "nc", "REVALIDATED", app_granted());
        assert_eq!(rig.upstream(), n);
        let last = rig.up.requests().pop().unwrap();
        assert_eq!(last.header("if-none-match").as_deref(), Some("\"nc\""));
    }
}

/// A validator without freshness information: fresh for the site's `default_ttl`, then
/// revalidated; without `default_ttl` it is not stored at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_ttl_applies_to_validated_responses_without_freshness() {
    let clock = ManualClock::new();
    let c = clock.clone();
    let up = StandIn::start(move |_, rec| {
        Reply::Raw(if rec.header("if-none-match").is_some() {
            reply(&c, "304 Not Modified", &["ETag: \"d\""], b"")
        } else {
            ok_at(&c, "ttl", &["ETag: \"d\""])
        })
    });
    let rig = Rig::start(up, clock.clone(), "default_ttl = \"30s\"").await;
    expect(&rig.get("/d", &[]).await, 200, "ttl", "MISS", no_origin());
    clock.secs(29);
    let hit = rig.get("/d", &[]).await;
    expect(&hit, 200, "ttl", "HIT", no_origin());
    assert_eq!(hit.header("age"), Some("29"));
    clock.secs(2);
    expect(
        &rig.get("/d", &[]).await,
        200,
        "ttl",
        "REVALIDATED",
        no_origin(),
    );
    assert_eq!(
        rig.up.requests()[1].header("if-none-match").as_deref(),
        Some("\"d\"")
    );
    clock.secs(29);
    expect(&rig.get("/d", &[]).await, 200, "ttl", "HIT", no_origin());
    assert_eq!(rig.upstream(), 2);

    // The same response on a site without default_ttl: never stored.
    let clock = ManualClock::new();
    let plain = always(&clock, "ttl", &["ETag: \"d\""]);
    let rig = Rig::start(plain, clock, "").await;
    expect(&rig.get("/d", &[]).await, 200, "ttl", "MISS", no_origin());
    expect(&rig.get("/d", &[]).await, 200, "ttl", "MISS", no_origin());
    assert_eq!(rig.upstream(), 2);
    assert_eq!(rig.cache().entry_count(), 0);
}

// ---------------------------------------------------------------------------------------
// Coalescing: concurrent misses share one fetch; a client leaving fails nobody else

fn slow_head(len: usize) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\n{MAX_AGE_60}\r\nContent-Length: {len}\r\n\r\n").into_bytes()
}

/// The body of [`Reply::Trickle`] with `n` bytes.
fn trickled(n: usize) -> String {
    "y".repeat(n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_misses_make_one_upstream_request() {
    let clock = ManualClock::new();
    // The body takes ~1 s to arrive, so all 100 requests overlap the one fetch.
    let up = StandIn::always(Reply::Trickle {
        head: slow_head(2000),
        chunk: 100,
        interval: Duration::from_millis(50),
        max_chunks: 20,
    });
    let rig = Rig::start(up, clock, "").await;
    let addr = rig.gw.addr;
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            tokio::spawn(async move {
                let origin = if i % 2 == 0 { APP } else { OTHER };
                send(addr, "GET", "/slow", HOST, &[("Origin", origin)], b"").await
            })
        })
        .collect();
    let want = trickled(2000);
    for (i, t) in tasks.into_iter().enumerate() {
        let r = t.await.unwrap();
        assert_eq!(r.status, 200, "request {i}: {}", r.head);
        assert_eq!(r.text(), want, "request {i}");
        let granted = if i % 2 == 0 {
            app_granted()
        } else {
            star_granted()
        };
        assert_eq!(r.cors(), granted, "request {i}: {}", r.head);
        assert!(["MISS", "HIT"].contains(&xc(&r)), "{}", r.head);
    }
    assert_eq!(rig.upstream(), 1, "{:?}", rig.lines());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_leaving_never_fails_the_others() {
    let clock = ManualClock::new();
    let up = StandIn::always(Reply::Trickle {
        head: slow_head(2000),
        chunk: 100,
        interval: Duration::from_millis(50),
        max_chunks: 20,
    });
    let rig = Rig::start(up, clock, "").await;
    let mut first = tokio::net::TcpStream::connect(rig.gw.addr).await.unwrap();
    first
        .write_all(b"GET /slow HTTP/1.1\r\nHost: gw.test\r\nOrigin: http://app.test:3000\r\n\r\n")
        .await
        .unwrap();
    assert!(
        until(Duration::from_secs(5), || rig.upstream() == 1).await,
        "the fill never reached the upstream"
    );
    let addr = rig.gw.addr;
    let second =
        tokio::spawn(
            async move { send(addr, "GET", "/slow", HOST, &[("Origin", OTHER)], b"").await },
        );
    // Both clients wait on the one fill before the first leaves.
    assert!(
        until(Duration::from_secs(10), || rig.cache().fill_waiters() == 2).await,
        "the second request never joined the fill"
    );
    drop(first); // the client that started the fill leaves mid-way
    let r = second.await.unwrap();
    expect(&r, 200, &trickled(2000), "MISS", star_granted());
    assert_eq!(rig.upstream(), 1);
    assert_eq!(rig.up.peer_gone(), 0, "the shared fetch was cut");
    expect(
        &rig.get("/slow", &[]).await,
        200,
        &trickled(2000),
        "HIT",
        no_origin(),
    );
    assert_eq!(rig.upstream(), 1);
}

/// The converse: when the only client leaves, the fetch is abandoned (the upstream sees
/// its connection go) and nothing partial is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_client_leaving_abandons_the_fill() {
    let clock = ManualClock::new();
    let c = clock.clone();
    let up = StandIn::start(move |i, _| match i {
        0 => Reply::Trickle {
            head: slow_head(100_000),
            chunk: 100,
            interval: Duration::from_millis(50),
            max_chunks: 1000,
        },
        _ => Reply::Raw(ok_at(&c, "whole", &[MAX_AGE_60])),
    });
    let rig = Rig::start(up, clock, "").await;
    let mut only = tokio::net::TcpStream::connect(rig.gw.addr).await.unwrap();
    only.write_all(b"GET /big HTTP/1.1\r\nHost: gw.test\r\n\r\n")
        .await
        .unwrap();
    assert!(until(Duration::from_secs(5), || rig.upstream() == 1).await);
    drop(only);
    assert!(
        until(Duration::from_secs(10), || rig.up.peer_gone() >= 1).await,
        "the upstream fetch went on with nobody waiting"
    );
    assert_eq!(rig.cache().entry_count(), 0);
    expect(
        &rig.get("/big", &[]).await,
        200,
        "whole",
        "MISS",
        no_origin(),
    );
    assert_eq!(rig.upstream(), 2);
}

// ---------------------------------------------------------------------------------------
// Size bounds

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byte_cap_holds_under_many_distinct_keys() {
    let clock = ManualClock::new();
    let c = clock.clone();
    let up = StandIn::start(move |_, _| {
        Reply::Raw(reply(
            &c,
            "200 OK",
            &["Cache-Control: max-age=600"],
            &[b'k'; 1024],
        ))
    });
    let top = "[cache]\nmax_bytes = \"64KiB\"\nmax_object_bytes = \"8KiB\"\n";
    let rig = Rig::with(up, clock, top, RULES, "").await;
    for i in 0..200 {
        let r = rig.get(&format!("/o/{i}"), &[]).await;
        assert_eq!(r.status, 200, "{}", r.head);
        assert_eq!(r.body.len(), 1024);
        assert_eq!(xc(&r), "MISS");
    }
    let size = rig.cache().weighted_size();
    let count = rig.cache().entry_count();
    assert!(size <= 64 * 1024, "{size} bytes held over a 64 KiB cap");
    assert!(count > 0 && count < 200, "{count} entries");
    assert_eq!(rig.upstream(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_over_max_object_bytes_streams_through() {
    let clock = ManualClock::new();
    let c = clock.clone();
    let up = StandIn::start(move |_, rec| {
        Reply::Raw(if rec.request_line().contains("/chunked") {
            chunked(&[MAX_AGE_60], 10_000, 1000)
        } else {
            reply(&c, "200 OK", &[MAX_AGE_60], &[b'L'; 10_000])
        })
    });
    let top = "[cache]\nmax_bytes = \"64KiB\"\nmax_object_bytes = \"4KiB\"\n";
    let rig = Rig::with(up, clock, top, RULES, "").await;
    for path in ["/large", "/chunked"] {
        let byte = if path == "/large" { b'L' } else { b'c' };
        for n in 1..=2 {
            let r = rig.get(path, &[("Origin", APP)]).await;
            assert_eq!(r.status, 200, "{}", r.head);
            assert_eq!(r.body, vec![byte; 10_000], "{path}");
            assert_eq!(xc(&r), "MISS", "{}", r.head);
            assert_eq!(r.cors(), app_granted(), "{}", r.head);
            let seen = rig.lines().iter().filter(|l| l.contains(path)).count();
            assert_eq!(seen, n, "{path}: {:?}", rig.lines());
        }
    }
    assert_eq!(rig.cache().entry_count(), 0);
}

// ---------------------------------------------------------------------------------------
// Ranges, preconditions and HEAD answered from a stored GET

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_conditional_and_head_are_answered_from_cache_with_cors() {
    let clock = ManualClock::new();
    let up = always(
        &clock,
        "0123456789abcdef",
        &[
            MAX_AGE_60,
            "ETag: \"r1\"",
            "Content-Type: application/octet-stream",
        ],
    );
    let rig = Rig::start(up, clock, "").await;
    let o = ("Origin", APP);

    // A range on a miss: the fill asks for the whole object.
    let first = rig.get("/r.bin", &[o, ("Range", "bytes=0-3")]).await;
    expect(&first, 206, "0123", "MISS", app_granted());
    assert_eq!(first.header("content-range"), Some("bytes 0-3/16"));
    assert_eq!(first.header("content-length"), Some("4"));
    let fill = &rig.up.requests()[0];
    assert_eq!(fill.header("range"), None, "{}", fill.head_text());

    let tail = rig.get("/r.bin", &[o, ("Range", "bytes=-4")]).await;
    expect(&tail, 206, "cdef", "HIT", app_granted());
    assert_eq!(tail.header("content-range"), Some("bytes 12-15/16"));

    let star = rig
        .get("/r.bin", &[("Origin", OTHER), ("Range", "bytes=4-5")])
        .await;
    expect(&star, 206, "45", "HIT", star_granted());

    let nm = rig.get("/r.bin", &[o, ("If-None-Match", "\"r1\"")]).await;
    expect(&nm, 304, "", "HIT", app_granted());
    assert_eq!(nm.header("etag"), Some("\"r1\""));

    let nm_star = rig
        .get("/r.bin", &[("Origin", OTHER), ("If-None-Match", "\"r1\"")])
        .await;
    expect(&nm_star, 304, "", "HIT", star_granted());

    let changed = rig
        .get("/r.bin", &[o, ("If-None-Match", "\"other\"")])
        .await;
    expect(&changed, 200, "0123456789abcdef", "HIT", app_granted());

    let unsat = rig.get("/r.bin", &[o, ("Range", "bytes=100-200")]).await;
    assert_eq!(unsat.status, 416, "{}", unsat.head);
    assert_eq!(unsat.header("content-range"), Some("bytes */16"));
    assert_eq!(unsat.cors(), app_granted());

    let head = rig.req("HEAD", "/r.bin", &[o]).await;
    expect(&head, 200, "", "HIT", app_granted());
    assert_eq!(head.header("content-length"), Some("16"));
    assert_eq!(head.header("etag"), Some("\"r1\""));

    assert_eq!(rig.lines(), ["GET /bkt/r.bin HTTP/1.1"]);
}

/// HEAD from an entry filled by a chunked (length-less) GET must not claim length 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_from_chunked_entry_does_not_claim_zero_length() {
    let clock = ManualClock::new();
    let up = StandIn::always(Reply::Raw(chunked(&[MAX_AGE_60], 3000, 1000)));
    let rig = Rig::start(up, clock, "").await;
    let get = rig.get("/c", &[]).await;
    assert_eq!((get.status, get.body.len(), xc(&get)), (200, 3000, "MISS"));
    let head = rig.req("HEAD", "/c", &[]).await;
    assert_eq!((head.status, xc(&head)), (200, "HIT"), "{}", head.head);
    let len = head.header("content-length");
    assert!(
        len.is_none() || len == Some("3000"),
        "HEAD says Content-Length {len:?} for a 3000-byte object:\n{}",
        head.head
    );
    assert_eq!(rig.lines(), ["GET /bkt/c HTTP/1.1"]);
}

// ---------------------------------------------------------------------------------------
// Random origins never grow the cache

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_random_origins_keep_one_entry() {
    let clock = ManualClock::new();
    let up = always(&clock, "shared-object", &["Cache-Control: max-age=3600"]);
    let rig = Rig::start(up, clock, "").await;
    let started = Instant::now();
    let addr = rig.gw.addr;
    let misses = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..4u64)
        .map(|t| {
            let misses = misses.clone();
            tokio::spawn(async move {
                let mut conn = KeepAlive::connect(addr).await;
                // xorshift64: a different pseudo-random origin per request.
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (t + 1);
                for _ in 0..2500 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let origin = format!("https://{x:016x}.rand.test");
                    let r = conn.get("/hot.js", &[("Origin", &origin)]).await;
                    assert_eq!(r.status, 200, "{}", r.head);
                    assert_eq!(r.body, b"shared-object");
                    assert_eq!(r.cors(), star_granted(), "{}", r.head);
                    match xc(&r) {
                        "HIT" => {}
                        "MISS" => {
                            misses.fetch_add(1, Ordering::SeqCst);
                        }
                        other => panic!("X-Cache {other}"),
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(120), t)
            .await
            .expect("10,000 requests took over 120 s")
            .unwrap();
    }
    eprintln!("10,000 requests in {:?}", started.elapsed());
    assert_eq!(rig.upstream(), 1);
    assert_eq!(rig.cache().entry_count(), 1);
    assert!(misses.load(Ordering::SeqCst) >= 1);
}

// ---------------------------------------------------------------------------------------
// Never stored

/// Client credentials (Authorization, Cookie, a presigned query) go around the cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentialed_requests_bypass_the_cache() {
    let clock = ManualClock::new();
    let up = always(&clock, "secret", &["Cache-Control: max-age=60, public"]);
    let rig = Rig::start(up, clock, "").await;
    let presigned = "/p?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20300101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=abcdef";
    let cases: [(&str, &[(&str, &str)]); 3] = [
        (
            "/p",
            &[(
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=AK/x, Signature=00",
            )],
        ),
        ("/p", &[("Cookie", "session=1")]),
        (presigned, &[]),
    ];
    let mut n = 0;
    for (target, headers) in cases {
        for _ in 0..2 {
            let r = rig.get(target, headers).await;
            expect(&r, 200, "secret", "BYPASS", no_origin());
            n += 1;
            assert_eq!(rig.upstream(), n, "{target} {headers:?}");
        }
    }
    let last_auth = &rig.up.requests()[0];
    assert!(
        last_auth.header("authorization").is_some(),
        "{}",
        last_auth.head_text()
    );
    assert_eq!(rig.cache().entry_count(), 0);
    // An anonymous request afterwards is a miss: nothing was stored for it.
    expect(
        &rig.get("/p", &[]).await,
        200,
        "secret",
        "MISS",
        no_origin(),
    );
}

/// With `credentialed = true`, a response to a credentialed request is stored only when
/// it allows shared caching (RFC 9111 §3.5: `s-maxage`, `public`, `must-revalidate`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentialed_site_stores_only_responses_that_allow_it() {
    let clock = ManualClock::new();
    let c = clock.clone();
    let up = StandIn::start(move |_, rec| {
        let line = rec.request_line();
        let cc = if line.contains("/smax") {
            "Cache-Control: s-maxage=60"
        } else if line.contains("/public") {
            "Cache-Control: public, max-age=60"
        } else {
            MAX_AGE_60
        };
        Reply::Raw(ok_at(&c, "doc", &[cc]))
    });
    let rig = Rig::start(up, clock, "credentialed = true").await;
    let auth = [(
        "Authorization",
        "AWS4-HMAC-SHA256 Credential=AK/x, Signature=00",
    )];
    let presigned = "/smax?X-Amz-Signature=abc";
    expect(
        &rig.get("/smax", &auth).await,
        200,
        "doc",
        "MISS",
        no_origin(),
    );
    expect(
        &rig.get("/smax", &auth).await,
        200,
        "doc",
        "HIT",
        no_origin(),
    );
    expect(
        &rig.get("/public", &[("Cookie", "a=b")]).await,
        200,
        "doc",
        "MISS",
        no_origin(),
    );
    expect(
        &rig.get("/public", &[("Cookie", "a=b")]).await,
        200,
        "doc",
        "HIT",
        no_origin(),
    );
    expect(
        &rig.get(presigned, &[]).await,
        200,
        "doc",
        "MISS",
        no_origin(),
    );
    expect(
        &rig.get(presigned, &[]).await,
        200,
        "doc",
        "HIT",
        no_origin(),
    );
    assert_eq!(rig.upstream(), 3);
    // Plain max-age does not allow storing a credentialed response.
    expect(
        &rig.get("/plain", &auth).await,
        200,
        "doc",
        "MISS",
        no_origin(),
    );
    expect(
        &rig.get("/plain", &auth).await,
        200,
        "doc",
        "MISS",
        no_origin(),
    );
    assert_eq!(rig.upstream(), 5);
    assert_eq!(rig.cache().entry_count(), 3);
}

/// The fill for a credentialed request on a `credentialed = true` site must carry the
/// client's credentials: the upstream (a private bucket) answers only with them, and the
/// site opted in to sharing what it answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentialed_fill_carries_the_clients_credentials() {
    let clock = ManualClock::new();
    let c = clock.clone();
    let up = StandIn::start(move |_, rec| {
        Reply::Raw(
            if rec.header("authorization").is_some() || rec.header("cookie").is_some() {
                ok_at(&c, "private doc", &["Cache-Control: s-maxage=60"])
            } else {
                reply(&c, "403 Forbidden", &[], b"AccessDenied")
            },
        )
    });
    let rig = Rig::start(up, clock, "credentialed = true").await;
    let auth = "AWS4-HMAC-SHA256 Credential=AK/x, Signature=00";
    let r = rig.get("/doc", &[("Authorization", auth)]).await;
    let fill = &rig.up.requests()[0];
    assert_eq!(
        fill.header("authorization").as_deref(),
        Some(auth),
        "fill request:\n{}",
        fill.head_text()
    );
    expect(&r, 200, "private doc", "MISS", no_origin());
    let r = rig.get("/doc2", &[("Cookie", "session=1")]).await;
    expect(&r, 200, "private doc", "MISS", no_origin());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_cookie_no_store_and_private_are_never_stored() {
    let clock = ManualClock::new();
    let c = clock.clone();
    let up = StandIn::start(move |_, rec| {
        let line = rec.request_line();
        let extra: &[&str] = if line.contains("/cookie") {
            &[MAX_AGE_60, "Set-Cookie: s=1"]
        } else if line.contains("/nostore") {
            &["Cache-Control: no-store, max-age=60"]
        } else {
            &["Cache-Control: private, max-age=60"]
        };
        Reply::Raw(ok_at(&c, "u", extra))
    });
    let rig = Rig::start(up, clock, "default_ttl = \"60s\"").await;
    let mut n = 0;
    for path in ["/cookie", "/nostore", "/private"] {
        for _ in 0..2 {
            let r = rig.get(path, &[("Origin", APP)]).await;
            expect(&r, 200, "u", "MISS", app_granted());
            n += 1;
            assert_eq!(rig.upstream(), n, "{path}");
            if path == "/cookie" {
                assert_eq!(r.header("set-cookie"), Some("s=1"));
            }
        }
    }
    assert_eq!(rig.cache().entry_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_dying_mid_body_leaves_no_entry() {
    let clock = ManualClock::new();
    let c = clock.clone();
    let up = StandIn::start(move |i, _| match i {
        0 => Reply::Truncated {
            head: slow_head(1000),
            send: 300,
            reset: false,
        },
        _ => Reply::Raw(reply(&c, "200 OK", &[MAX_AGE_60], &[b'z'; 1000])),
    });
    let rig = Rig::start(up, clock, "").await;
    let broken = rig.get("/t", &[("Origin", APP)]).await;
    assert_eq!(broken.status, 502, "{}", broken.head);
    assert_eq!(broken.cors(), app_granted());
    assert_eq!(rig.cache().entry_count(), 0);
    let whole = rig.get("/t", &[("Origin", APP)]).await;
    assert_eq!(
        (whole.status, whole.body.len(), xc(&whole)),
        (200, 1000, "MISS")
    );
    assert_eq!(rig.upstream(), 2);
    let hit = rig.get("/t", &[]).await;
    assert_eq!((hit.status, hit.body.len(), xc(&hit)), (200, 1000, "HIT"));
    assert_eq!(rig.upstream(), 2);
}

// ---------------------------------------------------------------------------------------
// Place in the pipeline

/// The cache sits after the enforce gate: a cached object is still refused to an origin
/// no rule allows, and the refusal costs the upstream nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enforce_gate_refuses_before_the_cache() {
    let clock = ManualClock::new();
    let up = always(&clock, "gated", &[MAX_AGE_60]);
    let rig = Rig::with(up, clock, "", APP_ONLY, "").await;
    expect(
        &rig.get("/g", &[("Origin", APP)]).await,
        200,
        "gated",
        "MISS",
        app_granted(),
    );
    let evil = rig.get("/g", &[("Origin", "https://evil.test")]).await;
    assert_eq!(evil.status, 403, "{}", evil.head);
    assert!(!evil.text().contains("gated"), "{}", evil.text());
    assert_eq!(evil.header("x-cache"), None, "{}", evil.head);
    assert_eq!(evil.header("access-control-allow-origin"), None);
    assert_eq!(rig.upstream(), 1);
    expect(
        &rig.get("/g", &[("Origin", APP)]).await,
        200,
        "gated",
        "HIT",
        app_granted(),
    );
    assert_eq!(rig.upstream(), 1);
}

/// RFC 9111 §4.4: a successful unsafe request invalidates its target (every query);
/// a failed one and other paths are left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsafe_methods_invalidate_their_target() {
    let clock = ManualClock::new();
    let c = clock.clone();
    let denied = Arc::new(AtomicUsize::new(0));
    let d = denied.clone();
    let up = StandIn::start(move |_, rec| {
        let line = rec.request_line();
        Reply::Raw(if line.starts_with("GET") {
            ok_at(&c, "obj", &["Cache-Control: max-age=600"])
        } else if d.load(Ordering::SeqCst) > 0 {
            reply(&c, "403 Forbidden", &[], b"AccessDenied")
        } else if line.starts_with("DELETE") {
            reply(&c, "204 No Content", &[], b"")
        } else {
            reply(&c, "200 OK", &["ETag: \"new\""], b"")
        })
    });
    let rig = Rig::start(up, clock, "").await;
    let o = [("Origin", APP)];
    for t in ["/k", "/k?v=1", "/other"] {
        expect(&rig.get(t, &o).await, 200, "obj", "MISS", app_granted());
    }
    expect(&rig.get("/k", &o).await, 200, "obj", "HIT", app_granted());
    let put = send(rig.gw.addr, "PUT", "/k", HOST, &o, b"new").await;
    assert_eq!(put.status, 200, "{}", put.head);
    assert_eq!(put.header("x-cache"), Some("BYPASS"));
    expect(&rig.get("/k", &o).await, 200, "obj", "MISS", app_granted());
    expect(
        &rig.get("/k?v=1", &o).await,
        200,
        "obj",
        "MISS",
        app_granted(),
    );
    expect(
        &rig.get("/other", &o).await,
        200,
        "obj",
        "HIT",
        app_granted(),
    );

    let del = rig.req("DELETE", "/other", &o).await;
    assert_eq!(del.status, 204, "{}", del.head);
    expect(
        &rig.get("/other", &o).await,
        200,
        "obj",
        "MISS",
        app_granted(),
    );

    // A refused PUT changes nothing upstream: the entry stays.
    denied.store(1, Ordering::SeqCst);
    let refused = send(rig.gw.addr, "PUT", "/k", HOST, &o, b"x").await;
    assert_eq!(refused.status, 403, "{}", refused.head);
    expect(&rig.get("/k", &o).await, 200, "obj", "HIT", app_granted());
    assert_eq!(
        rig.lines(),
        [
            "GET /bkt/k HTTP/1.1",
            "GET /bkt/k?v=1 HTTP/1.1",
            "GET /bkt/other HTTP/1.1",
            "PUT /bkt/k HTTP/1.1",
            "GET /bkt/k HTTP/1.1",
            "GET /bkt/k?v=1 HTTP/1.1",
            "DELETE /bkt/other HTTP/1.1",
            "GET /bkt/other HTTP/1.1",
            "PUT /bkt/k HTTP/1.1",
        ]
    );
}

/// Headers outside the key never reach the upstream on a fill, so they cannot change
/// what is stored (unkeyed-header poisoning); `x-amz-*` ones send the request around.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unkeyed_headers_never_reach_a_fill() {
    let clock = ManualClock::new();
    let c = clock.clone();
    let up = StandIn::start(move |_, rec| {
        // An upstream that would be poisoned by any of them.
        let poisoned = rec.head_text().to_ascii_lowercase().contains("evil.test")
            || rec.head_text().contains("/admin");
        let body = if poisoned { "POISONED" } else { "clean" };
        Reply::Raw(ok_at(&c, body, &[MAX_AGE_60]))
    });
    let rig = Rig::start(up, clock, "").await;
    let hostile = [
        ("Origin", APP),
        ("X-Forwarded-Host", "evil.test"),
        ("X-Forwarded-Server", "evil.test"),
        ("X-Original-URL", "/admin"),
        ("X-Rewrite-URL", "/admin"),
        ("X-Host", "evil.test"),
        ("Forwarded", "host=evil.test"),
    ];
    expect(
        &rig.get("/p", &hostile).await,
        200,
        "clean",
        "MISS",
        app_granted(),
    );
    let fill = rig.up.requests()[0].head_text();
    assert!(!fill.to_ascii_lowercase().contains("evil.test"), "{fill}");
    assert!(!fill.contains("/admin"), "{fill}");
    assert_eq!(
        rig.up.requests()[0].header("x-forwarded-host"),
        None,
        "{fill}"
    );
    expect(
        &rig.get("/p", &[("Origin", APP)]).await,
        200,
        "clean",
        "HIT",
        app_granted(),
    );

    // x-amz-* request headers can change S3's answer: around the cache, as sent.
    let amz = rig.get("/p", &[("X-Amz-Meta-X", "1")]).await;
    assert_eq!(xc(&amz), "BYPASS", "{}", amz.head);
    assert_eq!(rig.upstream(), 2);
    assert_eq!(
        rig.up.requests()[1].header("x-amz-meta-x").as_deref(),
        Some("1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_header_name_is_configurable_and_disabled_sites_skip_the_cache() {
    let clock = ManualClock::new();
    let up = always(&clock, "named", &[MAX_AGE_60]);
    let top = "[cache]\nstatus_header = \"X-Edge-Cache\"\n";
    let rig = Rig::with(up, clock, top, RULES, "").await;
    let a = rig.get("/n", &[]).await;
    let b = rig.get("/n", &[]).await;
    assert_eq!(a.header("x-edge-cache"), Some("MISS"), "{}", a.head);
    assert_eq!(b.header("x-edge-cache"), Some("HIT"), "{}", b.head);
    assert_eq!(b.header("x-cache"), None);
    assert_eq!(rig.upstream(), 1);

    let clock = ManualClock::new();
    let up = always(&clock, "off", &[MAX_AGE_60]);
    let dir = tempfile::tempdir().unwrap();
    let text = toml(&up.url("/bkt"), "", RULES, "enabled = false");
    let cfg = corsgate::config::parse(&dir.path().join("corsgate.toml"), &text).unwrap();
    let gw = Gateway::start_with_clock(cfg, clock).await;
    for _ in 0..2 {
        let r = send(gw.addr, "GET", "/n", HOST, &[], b"").await;
        assert_eq!((r.status, r.text().as_str()), (200, "off"));
        assert_eq!(r.header("x-cache"), None, "{}", r.head);
    }
    assert_eq!(up.request_count(), 2);
}

// ---------------------------------------------------------------------------------------
// The real binary and a real S3-compatible server

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_cache_flag_turns_the_cache_on() {
    let up = StandIn::always(Reply::Raw(ok("cli", &[MAX_AGE_60])));
    let url = up.url("/bkt");
    let gw = tokio::task::spawn_blocking(move || {
        GatewayProcess::spawn(&[
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &url,
            "--cache",
            "256MiB",
        ])
    })
    .await
    .unwrap();
    let a = send(gw.addr, "GET", "/c.txt", HOST, &[], b"").await;
    assert_eq!(
        (a.status, a.text().as_str(), xc(&a)),
        (200, "cli", "MISS"),
        "{}",
        a.head
    );
    let b = send(gw.addr, "GET", "/c.txt", HOST, &[], b"").await;
    assert_eq!(
        (b.status, b.text().as_str(), xc(&b)),
        (200, "cli", "HIT"),
        "{}",
        b.head
    );
    assert_eq!(up.request_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3s_fs_object_put_with_cache_control_is_served_from_cache() {
    let s3 = S3Server::start("bkt", None);
    let dir = tempfile::tempdir().unwrap();
    let text = toml(&s3.bucket_url(), "", RULES, "");
    let gw = Gateway::from_toml(dir.path(), &text).await;
    let o = ("Origin", APP);
    let put = send(
        gw.addr,
        "PUT",
        "/notes/c.txt",
        HOST,
        &[
            o,
            ("Content-Type", "text/plain"),
            ("Cache-Control", "max-age=300"),
        ],
        b"cached on s3s-fs",
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.head);
    assert_eq!(put.header("x-cache"), Some("BYPASS"));
    let first = send(gw.addr, "GET", "/notes/c.txt", HOST, &[o], b"").await;
    expect(&first, 200, "cached on s3s-fs", "MISS", app_granted());
    assert_eq!(
        first.header("cache-control"),
        Some("max-age=300"),
        "{}",
        first.head
    );
    let second = send(gw.addr, "GET", "/notes/c.txt", HOST, &[o], b"").await;
    expect(&second, 200, "cached on s3s-fs", "HIT", app_granted());
    // Proof the second came from the cache: the object is gone on disk, yet served.
    std::fs::remove_file(s3.object_path("notes/c.txt")).unwrap();
    let third = send(gw.addr, "GET", "/notes/c.txt", HOST, &[o], b"").await;
    expect(&third, 200, "cached on s3s-fs", "HIT", app_granted());
}

// ---------------------------------------------------------------------------------------
// Races and edge cases

/// A write that completes while a fill of the old object is still in flight: the next
/// GET must not be served the old object the late fill brings back (read-after-write
/// through the gateway).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_during_an_inflight_fill_is_not_undone_by_it() {
    let clock = ManualClock::new();
    let c = clock.clone();
    let gets = AtomicUsize::new(0);
    let up = StandIn::start(move |_, rec| {
        let line = rec.request_line();
        if line.starts_with("PUT") {
            return Reply::Raw(reply(&c, "200 OK", &["ETag: \"new\""], b""));
        }
        if gets.fetch_add(1, Ordering::SeqCst) == 0 {
            // The old object, slowly: ~1 s. The stand-in closes the connection after a
            // trickle, so it says so (RFC 9112 §9.6); otherwise the next fill could take
            // the closing connection from the pool and fail (a stale keep-alive race).
            Reply::Trickle {
                head: b"HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nContent-Length: 2000\r\n\
                        Connection: close\r\n\r\n"
                    .to_vec(),
                chunk: 100,
                interval: Duration::from_millis(50),
                max_chunks: 20,
            }
        } else {
            Reply::Raw(ok_at(&c, "new", &["Cache-Control: max-age=600"]))
        }
    });
    let rig = Rig::start(up, clock, "").await;
    let addr = rig.gw.addr;
    let o = [("Origin", APP)];
    let old = tokio::spawn(async move { send(addr, "GET", "/k", HOST, &o, b"").await });
    assert!(until(Duration::from_secs(5), || rig.upstream() == 1).await);
    let put = send(addr, "PUT", "/k", HOST, &o, b"new").await;
    assert_eq!(put.status, 200, "{}", put.head);
    let old = old.await.unwrap();
    assert_eq!((old.status, old.body.len()), (200, 2000), "{}", old.head);
    let after = rig.get("/k", &o).await;
    expect(&after, 200, "new", "MISS", app_granted());
}

/// A response that varies on a header fills do not forward (RFC 9111 §4.1): each
/// client must get the variant for its own request, at one upstream request each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vary_on_an_unforwarded_header_serves_the_clients_variant() {
    let clock = ManualClock::new();
    let c = clock.clone();
    let up = StandIn::start(move |_, rec| {
        let body = format!("for-{}", rec.header("x-custom").unwrap_or_default());
        Reply::Raw(ok_at(&c, &body, &[MAX_AGE_60, "Vary: X-Custom"]))
    });
    let rig = Rig::start(up, clock, "").await;
    // The first request cannot know the Vary: its shared fill (without X-Custom) teaches
    // it, and a second fill carrying X-Custom (now in the key) answers and is stored.
    let r = rig.get("/x", &[("X-Custom", "a")]).await;
    assert_eq!((r.status, r.text().as_str()), (200, "for-a"), "{}", r.head);
    assert_eq!(rig.upstream(), 2, "{:?}", rig.lines());
    assert_eq!(
        rig.up.requests()[1].header("x-custom"),
        Some("a".to_string())
    );
    // From then on this client's variant is a hit, and another variant is its own entry.
    let r = rig.get("/x", &[("X-Custom", "a")]).await;
    assert_eq!(
        (r.status, r.text().as_str(), r.header("x-cache")),
        (200, "for-a", Some("HIT")),
        "{}",
        r.head
    );
    assert_eq!(rig.upstream(), 2);
    let r = rig.get("/x", &[("X-Custom", "b")]).await;
    assert_eq!((r.status, r.text().as_str()), (200, "for-b"), "{}", r.head);
    assert_eq!(rig.upstream(), 3, "{:?}", rig.lines());
}

/// HEAD on a stale entry revalidates with a GET (never a HEAD upstream) and sends no body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_on_a_stale_entry_revalidates_with_get() {
    let clock = ManualClock::new();
    let c = clock.clone();
    let up = StandIn::start(move |i, _| {
        Reply::Raw(match i {
            0 => ok_at(&c, "headed", &[MAX_AGE_60, "ETag: \"h\""]),
            _ => reply(&c, "304 Not Modified", &[MAX_AGE_60, "ETag: \"h\""], b""),
        })
    });
    let rig = Rig::start(up, clock.clone(), "").await;
    expect(
        &rig.get("/h", &[("Origin", APP)]).await,
        200,
        "headed",
        "MISS",
        app_granted(),
    );
    clock.secs(61);
    let head = rig.req("HEAD", "/h", &[("Origin", APP)]).await;
    expect(&head, 200, "", "REVALIDATED", app_granted());
    assert_eq!(head.header("content-length"), Some("6"));
    assert_eq!(rig.lines(), ["GET /bkt/h HTTP/1.1", "GET /bkt/h HTTP/1.1"]);
    assert_eq!(
        rig.up.requests()[1].header("if-none-match").as_deref(),
        Some("\"h\"")
    );
}

/// A stand-in holding a 10,000-byte object with ETag "big" and `cache_control`, that
/// honours `Range: bytes=A-B` and `If-None-Match` like S3.
fn big_object_upstream(clock: &Arc<ManualClock>, cache_control: &'static str) -> StandIn {
    let c = clock.clone();
    StandIn::start(move |_, rec| {
        let body: Vec<u8> = (0..10_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let tags = [cache_control, "ETag: \"big\""];
        if rec.header("if-none-match").as_deref() == Some("\"big\"") {
            return Reply::Raw(reply(&c, "304 Not Modified", &tags, b""));
        }
        if let Some(r) = rec.header("range") {
            let (a, b) = r.trim_start_matches("bytes=").split_once('-').unwrap();
            let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
            let cr = format!("Content-Range: bytes {a}-{b}/10000");
            return Reply::Raw(reply(
                &c,
                "206 Partial Content",
                &[tags[0], tags[1], &cr],
                &body[a..=b],
            ));
        }
        Reply::Raw(reply(&c, "200 OK", &tags, &body))
    })
}

const SMALL_CAP: &str = "[cache]\nmax_bytes = \"64KiB\"\nmax_object_bytes = \"4KiB\"\n";

/// A range request on a miss for an object too large to cache (a video seek) must
/// still get its range, not the whole object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_miss_on_an_object_over_the_cap_gets_its_range() {
    let clock = ManualClock::new();
    let up = big_object_upstream(&clock, MAX_AGE_60);
    let rig = Rig::with(up, clock, SMALL_CAP, RULES, "").await;
    let r = rig
        .get("/video", &[("Origin", APP), ("Range", "bytes=9000-9099")])
        .await;
    assert_eq!(
        (r.status, r.body.len()),
        (206, 100),
        "upstream saw:\n{}\nclient got:\n{}",
        rig.up.requests()[0].head_text(),
        r.head
    );
    assert_eq!(r.header("content-range"), Some("bytes 9000-9099/10000"));
    assert_eq!(r.cors(), app_granted());
}

/// A conditional request on a miss for an object too large to cache, from a client
/// that holds the current version, must get 304, not the whole object again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_miss_on_an_object_over_the_cap_gets_304() {
    let clock = ManualClock::new();
    let up = big_object_upstream(&clock, MAX_AGE_60);
    let rig = Rig::with(up, clock, SMALL_CAP, RULES, "").await;
    let r = rig
        .get("/video", &[("Origin", APP), ("If-None-Match", "\"big\"")])
        .await;
    assert_eq!(
        (r.status, r.body.len()),
        (304, 0),
        "upstream saw:\n{}\nclient got:\n{}",
        rig.up.requests()[0].head_text(),
        r.head
    );
    assert_eq!(r.cors(), app_granted());
}

/// The common S3 case: an object with a validator but no Cache-Control, on a site
/// without `default_ttl`, is not storable. Range and conditional requests for it must
/// keep their meaning (206, 304), as they would without the cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_and_conditional_requests_for_uncacheable_objects_keep_their_meaning() {
    let clock = ManualClock::new();
    let up = big_object_upstream(&clock, "Last-Modified: Mon, 01 Jan 2024 00:00:00 GMT");
    let rig = Rig::start(up, clock, "").await;
    let range = rig
        .get("/plain", &[("Origin", APP), ("Range", "bytes=0-9")])
        .await;
    assert_eq!(
        (range.status, range.body.len()),
        (206, 10),
        "upstream saw:\n{}\nclient got:\n{}",
        rig.up.requests()[0].head_text(),
        range.head
    );
    assert_eq!(range.text(), "abcdefghij");
    assert_eq!(range.cors(), app_granted());
    let cond = rig
        .get("/plain", &[("Origin", APP), ("If-None-Match", "\"big\"")])
        .await;
    assert_eq!((cond.status, cond.body.len()), (304, 0), "{}", cond.head);
    assert_eq!(cond.cors(), app_granted());
}
