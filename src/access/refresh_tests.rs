//! JWKS refresh tests: a JWKS URL served by a stand-in hyper server on 127.0.0.1:0,
//! key rotation picked up by the refresh task, a failed refresh keeping the last good
//! keys, and a JWKS file re-read. The refresh period is driven with paused time
//! (`pause` + `advance`); the fetch itself then runs on real time (`resume`), since
//! paused time would auto-advance past the fetch timeout while a socket is pending.
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use jsonwebtoken::Algorithm;

use super::jwt::{JwtKeys, JwtVerifier, RefreshStats};
use super::test_support::*;

/// What the stand-in answers, changed by the test; and how often it was asked.
#[derive(Clone)]
struct StandIn {
    answer: Arc<Mutex<(u16, String)>>,
    hits: Arc<AtomicUsize>,
    url: String,
}

impl StandIn {
    async fn start(status: u16, body: String) -> StandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        let s = StandIn {
            answer: Arc::new(Mutex::new((status, body))),
            hits: Arc::new(AtomicUsize::new(0)),
            url,
        };
        let served = s.clone();
        tokio::spawn(async move {
            while let Ok((io, _)) = listener.accept().await {
                let served = served.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |_req| {
                        served.hits.fetch_add(1, Ordering::SeqCst);
                        let (status, body) = served.answer.lock().unwrap().clone();
                        async move {
                            Ok::<_, Infallible>(
                                http::Response::builder()
                                    .status(status)
                                    .body(Full::new(Bytes::from(body)))
                                    .unwrap(),
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(io), svc)
                        .await;
                });
            }
        });
        s
    }

    fn set(&self, status: u16, body: String) {
        *self.answer.lock().unwrap() = (status, body);
    }
}

/// Lets one refresh period pass on paused time, then waits (real time, bounded) for
/// the refresh attempt it triggers.
async fn one_period(v: &JwtVerifier, period: Duration) -> RefreshStats {
    let mut stats = v.refresh_stats();
    stats.borrow_and_update();
    tokio::time::pause();
    tokio::time::advance(period + Duration::from_secs(1)).await;
    tokio::time::resume();
    tokio::time::timeout(Duration::from_secs(10), stats.changed())
        .await
        .expect("a refresh attempt within 10 s")
        .unwrap();
    let s = *stats.borrow();
    s
}

#[tokio::test]
async fn jwks_url_rotation_and_failed_refresh() {
    let (old_key, old_jwk) = es256("old");
    let (new_key, new_jwk) = es256("new");
    let server = StandIn::start(200, jwks(&[&old_jwk])).await;
    let mut cfg = config(JwtKeys::JwksUrl(server.url.clone()));
    cfg.refresh = Duration::from_secs(300);
    let v = JwtVerifier::new(cfg).await.unwrap();
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
    let old_tok = mint(Algorithm::ES256, Some("old"), &old_key, &good_claims());
    let new_tok = mint(Algorithm::ES256, Some("new"), &new_key, &good_claims());
    assert!(v.verify(&old_tok, now()).is_ok());
    assert_eq!(
        v.verify(&new_tok, now()).unwrap_err().kind.as_str(),
        "unknown-key"
    );

    // Rotation: nothing changes before the period ends, then the new set is in force.
    server.set(200, jwks(&[&new_jwk]));
    assert_eq!(
        v.verify(&new_tok, now()).unwrap_err().kind.as_str(),
        "unknown-key"
    );
    let stats = one_period(&v, Duration::from_secs(300)).await;
    assert_eq!(
        stats,
        RefreshStats {
            attempts: 1,
            failures: 0
        }
    );
    assert_eq!(server.hits.load(Ordering::SeqCst), 2);
    assert!(v.verify(&new_tok, now()).is_ok());
    assert_eq!(
        v.verify(&old_tok, now()).unwrap_err().kind.as_str(),
        "unknown-key"
    );

    // A failing refresh (500, then a document with no usable key) keeps the last good keys.
    server.set(500, "oops".into());
    let stats = one_period(&v, Duration::from_secs(300)).await;
    assert_eq!(
        stats,
        RefreshStats {
            attempts: 2,
            failures: 1
        }
    );
    server.set(200, r#"{"keys": []}"#.into());
    let stats = one_period(&v, Duration::from_secs(300)).await;
    assert_eq!(
        stats,
        RefreshStats {
            attempts: 3,
            failures: 2
        }
    );
    assert!(v.verify(&new_tok, now()).is_ok());
    assert!(v.is_ready());

    // The task holds no strong reference: dropping the verifier frees it.
    let weak = Arc::downgrade(&v);
    drop(v);
    assert!(weak.upgrade().is_none());
}

#[tokio::test]
async fn jwks_url_setup_errors() {
    let server = StandIn::start(503, "down".into()).await;
    let err = JwtVerifier::new(config(JwtKeys::JwksUrl(server.url.clone())))
        .await
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(err.contains("503") && err.contains(&server.url), "{err}");
    // Plain http anywhere but loopback is refused before any connection.
    for url in [
        "http://jwks.example/keys",
        "ftp://127.0.0.1/jwks",
        "not a url",
    ] {
        let err = JwtVerifier::new(config(JwtKeys::JwksUrl(url.into())))
            .await
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(err.contains(url), "{err}");
        assert!(err.contains("https") || err.contains("URL"), "{err}");
    }
}

#[tokio::test]
async fn a_jwks_url_that_never_answers_times_out() {
    // Accepts connections and holds them, never answering.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((io, _)) = listener.accept().await {
            held.push(io);
        }
    });
    // Paused time auto-advances to the 5 s deadline once everything waits: the only
    // way this call can end is the timeout.
    tokio::time::pause();
    let err = JwtVerifier::new(config(JwtKeys::JwksUrl(url)))
        .await
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(err.contains("no answer within 5s"), "{err}");
}

#[tokio::test]
async fn jwks_file_is_re_read() {
    let (k1, jwk1) = es256("one");
    let (k2, jwk2) = es256("two");
    let (_dir, path) = jwks_file(&jwks(&[&jwk1]));
    let mut cfg = config(JwtKeys::JwksFile(path.clone()));
    cfg.refresh = Duration::from_secs(60);
    let v = JwtVerifier::new(cfg).await.unwrap();
    let t2 = mint(Algorithm::ES256, Some("two"), &k2, &good_claims());
    assert!(v.verify(&t2, now()).is_err());
    std::fs::write(&path, jwks(&[&jwk1, &jwk2])).unwrap();
    assert_eq!(one_period(&v, Duration::from_secs(60)).await.failures, 0);
    assert!(v.verify(&t2, now()).is_ok());
    assert!(v
        .verify(
            &mint(Algorithm::ES256, Some("one"), &k1, &good_claims()),
            now()
        )
        .is_ok());
    // A vanished file keeps the keys.
    std::fs::remove_file(&path).unwrap();
    assert_eq!(one_period(&v, Duration::from_secs(60)).await.failures, 1);
    assert!(v.verify(&t2, now()).is_ok());
}
