//! Hot reload, end to end. Under a bounded load loop the config file is replaced 20
//! times (write + rename, as editors and ConfigMaps do), half of them with invalid
//! files: no request fails, each valid file's rules apply as soon as `reload()` returns
//! and each invalid one leaves the last good rules and bumps the failure counter. Then
//! the directory watcher picks up a Kubernetes-style `..data` symlink swap on its own,
//! and SIGHUP reloads the real binary.
mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::ops::{preflight, scrape, sha256_hex, try_send, value, write_atomic, FileGateway};
use common::GatewayProcess;

/// Allowed by every valid version, so the load loop's preflights always succeed.
const ALWAYS: &str = "https://always.example";

/// A valid config whose rules also allow `https://v{version}.example`.
fn valid(version: usize) -> String {
    format!(
        r#"listen = "127.0.0.1:0"
[admin]
listen = "127.0.0.1:0"
[log]
access_log = false

[[site]]
name = "r"
default = true
upstream = "file:bucket"
[[site.cors]]
id = "v{version}"
allowed_origins = ["{ALWAYS}", "https://v{version}.example"]
allowed_methods = ["GET"]
"#
    )
}

/// Invalid configs of several kinds; each names `https://bad{n}.example` so a reload
/// that wrongly took it would show.
fn invalid(n: usize) -> String {
    let site = |rule: &str| {
        format!(
            "listen = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n\
             [[site]]\nname = \"r\"\ndefault = true\nupstream = \"file:bucket\"\n{rule}"
        )
    };
    match n % 5 {
        // TOML syntax.
        0 => format!("listen = \"127.0.0.1:0\"\n[[site]\nname = \"bad{n}\"\n"),
        // An unknown key.
        1 => site(&format!(
            "[[site.cors]]\nallowed_origins = [\"https://bad{n}.example\"]\n\
             allowed_methods = [\"GET\"]\nallowed_metods = [\"PUT\"]\n"
        )),
        // A method S3 refuses.
        2 => site(&format!(
            "[[site.cors]]\nallowed_origins = [\"https://bad{n}.example\"]\n\
             allowed_methods = [\"PATCH\"]\n"
        )),
        // An origin with two wildcards.
        3 => site(&format!(
            "[[site.cors]]\nallowed_origins = [\"https://*.bad{n}.*.example\"]\n\
             allowed_methods = [\"GET\"]\n"
        )),
        // An upstream folder that does not exist.
        _ => valid(n).replace("file:bucket", "file:missing-bucket"),
    }
}

fn setup_dir(dir: &Path) {
    std::fs::create_dir(dir.join("bucket")).unwrap();
    std::fs::write(dir.join("bucket/obj.txt"), "payload").unwrap();
}

async fn reload_counts(admin: std::net::SocketAddr) -> (f64, f64) {
    let s = scrape(admin).await;
    let c =
        |result| value(&s, "corsgate_config_reloads_total", &[("result", result)]).unwrap_or(-1.0);
    (c("ok"), c("failed"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_swaps_under_load_fail_no_request() {
    let dir = tempfile::tempdir().unwrap();
    setup_dir(dir.path());
    let path = dir.path().join("corsgate.toml");
    std::fs::write(&path, valid(0)).unwrap();
    // The watcher is off: this test drives reload() itself and counts its results.
    let gw = FileGateway::start(&path, false).await;
    let addr = gw.addr;

    // The load: four clients, each bounded by count and by time.
    const PER_CLIENT: usize = 2_000;
    let budget = Duration::from_secs(60);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut clients = Vec::new();
    for c in 0..4 {
        let (stop, done, failures, finished) = (
            stop.clone(),
            done.clone(),
            failures.clone(),
            finished.clone(),
        );
        clients.push(tokio::spawn(async move {
            let started = Instant::now();
            for i in 0..PER_CLIENT {
                if stop.load(Ordering::Relaxed) || started.elapsed() > budget {
                    break;
                }
                let r = if (i + c) % 2 == 0 {
                    try_send(addr, "GET", "/obj.txt", "r.test", &[]).await
                } else {
                    try_send(
                        addr,
                        "OPTIONS",
                        "/obj.txt",
                        "r.test",
                        &[("Origin", ALWAYS), ("Access-Control-Request-Method", "GET")],
                    )
                    .await
                };
                match r {
                    Ok(r) if r.status == 200 => {}
                    Ok(r) => failures.lock().unwrap().push(r.head),
                    Err(e) => failures.lock().unwrap().push(e),
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            finished.fetch_add(1, Ordering::Relaxed);
        }));
    }

    let mut last_good = 0;
    let (mut oks, mut fails) = (0.0, 0.0);
    for swap in 1..=20 {
        // Let some requests through between swaps, so every swap lands under load.
        let before = done.load(Ordering::Relaxed);
        let deadline = Instant::now() + Duration::from_secs(20);
        while done.load(Ordering::Relaxed) < before + 5 && finished.load(Ordering::Relaxed) < 4 {
            assert!(Instant::now() < deadline, "the load loop stalled");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if swap % 2 == 0 {
            write_atomic(&path, &valid(swap));
            let r = gw.reloader.reload().await.expect("a valid file reloads");
            assert!(r.restart_needed.is_empty(), "{:?}", r.restart_needed);
            assert_eq!(r.hash, sha256_hex(&valid(swap)));
            oks += 1.0;
            let new = format!("https://v{swap}.example");
            assert_eq!(preflight(addr, "r.test", &new).await, 200, "swap {swap}");
            let old = format!("https://v{last_good}.example");
            assert_eq!(preflight(addr, "r.test", &old).await, 403, "swap {swap}");
            last_good = swap;
        } else {
            write_atomic(&path, &invalid(swap));
            let err = gw.reloader.reload().await.expect_err("an invalid file");
            // Every error names the file and, where it has one, the line.
            match &err {
                corsgate::reload::ReloadError::Invalid(ds) => {
                    assert!(!ds.0.is_empty());
                    for d in &ds.0 {
                        assert!(d.file.ends_with("corsgate.toml"), "{d}");
                    }
                    assert!(ds.0.iter().any(|d| d.line.is_some()), "{err}");
                }
                other => panic!("swap {swap}: {other}"),
            }
            fails += 1.0;
            let kept = format!("https://v{last_good}.example");
            assert_eq!(preflight(addr, "r.test", &kept).await, 200, "swap {swap}");
            let bad = format!("https://bad{swap}.example");
            assert_eq!(preflight(addr, "r.test", &bad).await, 403, "swap {swap}");
        }
        assert_eq!(
            reload_counts(gw.admin).await,
            (oks, fails),
            "after swap {swap}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.expect("load client");
    }
    let failures = failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        &failures[..]
    );
    assert!(done.load(Ordering::Relaxed) > 0);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watcher_follows_a_configmap_symlink_swap() {
    // The layout kubelet writes: versioned directories, `..data` pointing at the
    // current one, and the file itself a symlink through `..data`.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup_dir(d);
    for (v, version) in [("v1", 1), ("v2", 2)] {
        std::fs::create_dir(d.join(v)).unwrap();
        std::fs::write(d.join(v).join("corsgate.toml"), valid(version)).unwrap();
    }
    std::os::unix::fs::symlink("v1", d.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/corsgate.toml", d.join("corsgate.toml")).unwrap();
    let path = d.join("corsgate.toml");
    let gw = FileGateway::start(&path, true).await;
    // Answered means `run` has started, and the watches are set before it serves.
    assert_eq!(
        preflight(gw.addr, "r.test", "https://v1.example").await,
        200
    );
    assert_eq!(
        preflight(gw.addr, "r.test", "https://v2.example").await,
        403
    );

    // The atomic swap: a new symlink renamed over `..data`.
    std::os::unix::fs::symlink("v2", d.join("..data_tmp")).unwrap();
    std::fs::rename(d.join("..data_tmp"), d.join("..data")).unwrap();

    let deadline = Instant::now() + Duration::from_secs(15);
    while preflight(gw.addr, "r.test", "https://v2.example").await != 200 {
        assert!(Instant::now() < deadline, "the watcher never reloaded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        preflight(gw.addr, "r.test", "https://v1.example").await,
        403
    );
    // Debounced into one reload, and unrelated events (our own reads) cause none.
    let (ok, failed) = reload_counts(gw.admin).await;
    assert_eq!((ok, failed), (1.0, 0.0));
    gw.stop().await;
}

#[test]
fn sighup_reloads_the_running_binary() {
    let dir = tempfile::tempdir().unwrap();
    setup_dir(dir.path());
    let path = dir.path().join("corsgate.toml");
    std::fs::write(&path, valid(1)).unwrap();
    let mut gw = GatewayProcess::spawn(&["--config", path.to_str().unwrap()]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    assert_eq!(
        rt.block_on(preflight(gw.addr, "r.test", "https://v2.example")),
        403
    );

    // The watcher may notice the new file before the signal does; either way the
    // SIGHUP must cause a reload of its own, which reads the new file.
    write_atomic(&path, &valid(2));
    let status = std::process::Command::new("kill")
        .args(["-HUP", &gw.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());

    let want_hash = sha256_hex(&valid(2));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let reloaded_by_signal = gw.log.lock().unwrap().iter().any(|line| {
            serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| {
                v["message"] == "config reloaded"
                    && v["trigger"] == "SIGHUP"
                    && v["hash"] == want_hash.as_str()
            })
        });
        if reloaded_by_signal {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no SIGHUP reload logged:\n{}",
            gw.log.lock().unwrap().join("\n")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        rt.block_on(preflight(gw.addr, "r.test", "https://v2.example")),
        200
    );
    assert!(
        gw.child.try_wait().unwrap().is_none(),
        "SIGHUP ended the process"
    );
}
