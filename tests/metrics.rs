//! `/metrics` and `/config` on the admin listener, end to end: a known sequence of
//! requests (an allowed and a denied preflight, a cache MISS then HIT, an upstream
//! connect error, an unknown host), then a scrape parsed with `prometheus-parse` and
//! checked series by series. Each gateway owns its registry, so the numbers are exactly
//! this test's.
mod common;

use std::time::{Duration, Instant};

use common::ops::{preflight, scrape, sha256_hex, value, FileGateway};
use common::standin::{ok, Reply, StandIn};
use common::wire::{self, send};

const APP: &str = "https://app.example";
const EVIL: &str = "https://evil.example";

fn config(upstream: &str, down: &str) -> String {
    format!(
        r#"listen = "127.0.0.1:0"
[admin]
listen = "127.0.0.1:0"
[log]
access_log = false

[[site]]
name = "metered"
hosts = ["m.test"]
upstream = "{upstream}"
[site.cache]
[[site.cors]]
id = "web"
allowed_origins = ["{APP}"]
allowed_methods = ["GET"]

[[site]]
name = "down"
hosts = ["down.test"]
upstream = "{down}"
connect_timeout = "5s"
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_sequence_shows_up_in_the_scrape() {
    let up = StandIn::always(Reply::Raw(ok("hello", &["Cache-Control: max-age=600"])));
    // Bound then closed: connecting there is refused.
    let down = format!("http://127.0.0.1:{}", common::free_port());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corsgate.toml");
    let text = config(&up.url("/bkt"), &down);
    std::fs::write(&path, &text).unwrap();
    let gw = FileGateway::start(&path, false).await;

    assert_eq!(preflight(gw.addr, "m.test", APP).await, 200);
    assert_eq!(preflight(gw.addr, "m.test", EVIL).await, 403);
    let miss = send(gw.addr, "GET", "/obj.txt", "m.test", &[], b"").await;
    assert_eq!(miss.header("x-cache"), Some("MISS"), "{}", miss.head);
    let hit = send(gw.addr, "GET", "/obj.txt", "m.test", &[], b"").await;
    assert_eq!(hit.header("x-cache"), Some("HIT"), "{}", hit.head);
    assert_eq!(hit.text(), "hello");
    let err = send(gw.addr, "GET", "/x", "down.test", &[], b"").await;
    assert_eq!(err.status, 502, "{}", err.head);
    let unknown = send(gw.addr, "GET", "/x", "nobody.test", &[], b"").await;
    assert_eq!(unknown.status, 421);
    gw.reloader
        .reload()
        .await
        .expect("reload of an unchanged file");

    let s = scrape(gw.admin).await;
    let req = |site, method, status| {
        value(
            &s,
            "corsgate_requests_total",
            &[("site", site), ("method", method), ("status", status)],
        )
    };
    assert_eq!(req("metered", "preflight", "200"), Some(1.0));
    assert_eq!(req("metered", "preflight", "403"), Some(1.0));
    assert_eq!(req("metered", "read", "200"), Some(2.0));
    assert_eq!(req("down", "read", "502"), Some(1.0));
    assert_eq!(req("-", "read", "421"), Some(1.0));

    let cors = |kind, outcome, reason, rule| {
        value(
            &s,
            "corsgate_cors_decisions_total",
            &[
                ("site", "metered"),
                ("kind", kind),
                ("outcome", outcome),
                ("reason", reason),
                ("rule", rule),
            ],
        )
    };
    assert_eq!(cors("preflight", "allowed", "", "web"), Some(1.0));
    assert_eq!(cors("preflight", "denied", "origin", ""), Some(1.0));
    assert_eq!(cors("actual", "no-origin", "", ""), Some(2.0));

    let pf = |status| {
        value(
            &s,
            "corsgate_preflights_total",
            &[("site", "metered"), ("status", status)],
        )
    };
    assert_eq!(pf("200"), Some(1.0));
    assert_eq!(pf("403"), Some(1.0));

    let cache = |status| {
        value(
            &s,
            "corsgate_cache_requests_total",
            &[("site", "metered"), ("status", status)],
        )
    };
    assert_eq!(cache("miss"), Some(1.0));
    assert_eq!(cache("hit"), Some(1.0));
    assert_eq!(cache("revalidated"), None);
    assert_eq!(value(&s, "corsgate_cache_entries", &[]), Some(1.0));
    assert!(value(&s, "corsgate_cache_bytes", &[]).is_some_and(|b| b > 5.0));
    assert_eq!(value(&s, "corsgate_cache_evictions_total", &[]), Some(0.0));
    // Nothing is being fetched once both answers are in.
    assert_eq!(value(&s, "corsgate_cache_fill_waiters", &[]), Some(0.0));

    assert_eq!(
        value(
            &s,
            "corsgate_upstream_errors_total",
            &[("site", "down"), ("kind", "connect")]
        ),
        Some(1.0)
    );
    // Only the MISS went upstream: the HIT and the preflights did not.
    assert_eq!(
        value(
            &s,
            "corsgate_upstream_duration_seconds_count",
            &[("site", "metered")]
        ),
        Some(1.0)
    );
    let hist = s
        .samples
        .iter()
        .find(|x| x.metric == "corsgate_upstream_duration_seconds")
        .expect("the latency histogram");
    match &hist.value {
        prometheus_parse::Value::Histogram(buckets) => {
            let inf = buckets.iter().find(|b| b.less_than.is_infinite());
            assert_eq!(inf.map(|b| b.count), Some(1.0), "{buckets:?}");
            assert!(buckets.len() > 5, "{buckets:?}");
        }
        other => panic!("not a histogram: {other:?}"),
    }

    assert_eq!(
        value(&s, "corsgate_config_reloads_total", &[("result", "ok")]),
        Some(1.0)
    );
    assert_eq!(
        value(&s, "corsgate_config_reloads_total", &[("result", "failed")]),
        Some(0.0)
    );
    let hash = sha256_hex(&text);
    assert_eq!(
        value(&s, "corsgate_config_info", &[("hash", hash.as_str())]),
        Some(1.0)
    );

    // Nothing a client sent became a label (bounded cardinality).
    for sample in &s.samples {
        for v in sample.labels.values() {
            for client_data in ["example", "/obj", "/x", "nobody", "m.test"] {
                assert!(!v.contains(client_data), "{} has {v:?}", sample.metric);
            }
        }
    }
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_connections_follow_keep_alive_connections() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corsgate.toml");
    let down = format!("http://127.0.0.1:{}", common::free_port());
    std::fs::write(&path, config(&down, &down)).unwrap();
    let gw = FileGateway::start(&path, false).await;
    let open = |s: &prometheus_parse::Scrape| value(s, "corsgate_open_connections", &[]);
    assert_eq!(open(&scrape(gw.admin).await), Some(0.0));

    // A preflight on a connection kept open: the gauge counts it until it closes.
    let mut conn = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let raw = format!(
        "OPTIONS /a HTTP/1.1\r\nHost: m.test\r\nOrigin: {APP}\r\n\
         Access-Control-Request-Method: GET\r\n\r\n"
    );
    tokio::io::AsyncWriteExt::write_all(&mut conn, raw.as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    let r = wire::read_response(&mut conn, &mut buf, false)
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(open(&scrape(gw.admin).await), Some(1.0));
    drop(conn);
    // The server notices the close asynchronously: poll, bounded.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if open(&scrape(gw.admin).await) == Some(0.0) {
            break;
        }
        assert!(Instant::now() < deadline, "the gauge never went back to 0");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_endpoint_shows_the_effective_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corsgate.toml");
    let down = format!("http://127.0.0.1:{}/bucket", common::free_port());
    let text = config(&down, &down);
    std::fs::write(&path, &text).unwrap();
    let gw = FileGateway::start(&path, false).await;
    let r = send(gw.admin, "GET", "/config", "admin", &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON");
    assert_eq!(v["hash"], sha256_hex(&text));
    assert_eq!(v["server"]["drain_delay"], "5s");
    assert_eq!(v["server"]["shutdown_timeout"], "30s");
    assert_eq!(v["log"]["access_log"], false);
    let site = &v["site"][0];
    assert_eq!(site["name"], "metered");
    assert_eq!(site["hosts"][0], "m.test");
    assert_eq!(site["upstream"], down.as_str());
    assert_eq!(site["mode"], "enforce");
    assert_eq!(site["cors"][0]["id"], "web");
    assert_eq!(site["cors"][0]["allowed_origins"][0], APP);
    assert_eq!(v["site"][1]["connect_timeout"], "5s");
    assert_eq!(v["site"][1]["cors"], serde_json::Value::Null);
    assert!(v["cache"]["max_bytes"].is_string());

    // Readiness: a loaded config and no stop requested.
    let ready = send(gw.admin, "GET", "/readyz", "admin", &[], b"").await;
    assert_eq!(ready.status, 200);
    gw.stop().await;
}
