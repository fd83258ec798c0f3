//! Logs never carry credentials: Authorization, Cookie, X-Amz-Security-Token values and
//! presigned-query signatures, credentials and tokens stay out of what the real binary
//! writes, while the access line still says what happened.
mod common;

use std::time::{Duration, Instant};

use common::wire::exchange;
use common::GatewayProcess;

const SECRETS: [&str; 6] = [
    "SECRET-AUTH-123",
    "SECRET-COOKIE-456",
    "SECRET-TOKEN-789",
    "AKIASECRETCRED",
    "SECRETSIG0123",
    "SECRETQTOKEN",
];

#[test]
fn credentials_never_reach_the_log() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("obj.txt"), b"hello").unwrap();
    let upstream = format!("file:{}", dir.path().display());
    let gw = GatewayProcess::spawn(&["--listen", "127.0.0.1:0", "--upstream", &upstream]);
    let host = gw.addr.to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let raw = format!(
        "GET /obj.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIASECRETCRED%2F20261128&X-Amz-Signature=SECRETSIG0123&X-Amz-Security-Token=SECRETQTOKEN HTTP/1.1\r\n\
         Host: {host}\r\n\
         Authorization: Bearer SECRET-AUTH-123\r\n\
         Cookie: session=SECRET-COOKIE-456\r\n\
         X-Amz-Security-Token: SECRET-TOKEN-789\r\n\
         Connection: close\r\n\r\n"
    );
    let resp = rt.block_on(exchange(gw.addr, raw.as_bytes()));
    assert_eq!(resp.status, 200, "{}", resp.head);
    let id = resp.header("x-request-id").expect("request id").to_owned();

    // The access line is written when the body ends; poll for it with a bound.
    let deadline = Instant::now() + Duration::from_secs(10);
    let line = loop {
        let found = gw
            .log
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.contains(&id))
            .cloned();
        if let Some(l) = found {
            break l;
        }
        assert!(Instant::now() < deadline, "no access line for {id}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let v: serde_json::Value = serde_json::from_str(&line).expect("json log line");
    assert_eq!(v["path"], "/obj.txt", "{line}");
    assert_eq!(
        v["query"],
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED&X-Amz-Security-Token=REDACTED",
        "{line}"
    );
    assert_eq!(v["status"], 200, "{line}");
    let all = gw.log.lock().unwrap().join("\n");
    for s in SECRETS {
        assert!(!all.contains(s), "{s} leaked into the log:\n{all}");
    }
}
