//! TLS termination end to end, on loopback with certificates made in the test (rcgen):
//! SNI picks the certificate (exact, wildcard, none), ALPN picks h2 or HTTP/1.1 and
//! both serve a `file:` site, the minimum version holds, certificates reload in place
//! (and a bad replacement keeps the old ones), a silent TLS client is dropped at the
//! handshake timeout, and the plain listener's https redirect checks the Host.
mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use common::standin::{ok, Reply, StandIn};
use common::wire::{send, LIMIT};
use corsgate::app::App;
use corsgate::server::tls::CertStore;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore, SupportedProtocolVersion};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// A test CA and the leaf certificates it signs.
struct Pki {
    ca_der: CertificateDer<'static>,
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    fn new() -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        let ca = params.self_signed(&key).unwrap();
        Pki {
            ca_der: ca.der().clone(),
            ca_pem: ca.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// Writes a leaf for `names` as `dir/stem.crt` (leaf + CA chain) and `dir/stem.key`;
    /// returns the leaf's DER.
    fn leaf(&self, dir: &Path, stem: &str, names: &[&str]) -> CertificateDer<'static> {
        let params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        // A real chain: leaf first, then its issuer.
        let chain = format!("{}{}", cert.pem(), self.ca_pem);
        std::fs::write(dir.join(format!("{stem}.crt")), chain).unwrap();
        std::fs::write(dir.join(format!("{stem}.key")), key.serialize_pem()).unwrap();
        cert.der().clone()
    }

    fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca_der.clone()).unwrap();
        roots
    }
}

/// A folder with the site's files and the certificates, plus the gateway serving it.
struct Rig {
    dir: tempfile::TempDir,
    pki: Pki,
    a_der: CertificateDer<'static>,
    b_der: CertificateDer<'static>,
    gw: Running,
}

struct Running {
    plain: SocketAddr,
    tls: SocketAddr,
    certs: Arc<CertStore>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

async fn start(dir: &Path, toml: &str) -> Running {
    let cfg = corsgate::config::parse(&dir.join("corsgate.toml"), toml)
        .unwrap_or_else(|e| panic!("config: {e}"));
    let app = App::bind(cfg).await.expect("bind");
    let plain = app.local_addr().unwrap();
    let tls = app.tls_addr().expect("a TLS listener");
    let certs = app.certificates().expect("a certificate store");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run(async {
        let _ = rx.await;
    }));
    Running {
        plain,
        tls,
        certs,
        stop: Some(tx),
    }
}

/// `extra_tls` goes into `[tls]` (before the certificate tables); `extra_site` into
/// the site.
fn toml(extra_tls: &str, extra_site: &str) -> String {
    toml_with_timeout("10s", extra_tls, extra_site)
}

fn toml_with_timeout(header_timeout: &str, extra_tls: &str, extra_site: &str) -> String {
    format!(
        r#"listen = "127.0.0.1:0"
[server]
header_read_timeout = "{header_timeout}"

[tls]
listen = "127.0.0.1:0"
{extra_tls}

[[tls.certificate]]
cert = "a.crt"
key = "a.key"

[[tls.certificate]]
cert = "b.crt"
key = "b.key"

[[site]]
name = "files"
hosts = ["a.test", "*.b.test"]
{extra_site}
"#
    )
}

async fn rig_with(extra_tls: &str, upstream: Option<&str>) -> Rig {
    rig_full("10s", extra_tls, upstream).await
}

async fn rig_full(header_timeout: &str, extra_tls: &str, upstream: Option<&str>) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("site")).unwrap();
    std::fs::write(dir.path().join("site/hello.txt"), "hello over tls\n").unwrap();
    let pki = Pki::new();
    let a_der = pki.leaf(dir.path(), "a", &["a.test"]);
    let b_der = pki.leaf(dir.path(), "b", &["*.b.test"]);
    let site = format!("upstream = \"{}\"", upstream.unwrap_or("file:site"));
    let gw = start(
        dir.path(),
        &toml_with_timeout(header_timeout, extra_tls, &site),
    )
    .await;
    Rig {
        dir,
        pki,
        a_der,
        b_der,
        gw,
    }
}

async fn rig() -> Rig {
    rig_with("", None).await
}

/// A client config trusting the test CA, with these versions and ALPN ids.
fn client(
    pki: &Pki,
    versions: &[&'static SupportedProtocolVersion],
    alpn: &[&[u8]],
) -> ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(pki.roots())
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    cfg
}

const BOTH: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

async fn connect(
    cfg: ClientConfig,
    addr: SocketAddr,
    sni: &str,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from(sni.to_owned()).unwrap();
    tokio::time::timeout(LIMIT, TlsConnector::from(Arc::new(cfg)).connect(name, tcp))
        .await
        .expect("handshake hung")
}

fn served_cert(s: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    s.get_ref().1.peer_certificates().expect("a certificate")[0].clone()
}

fn alpn(s: &TlsStream<TcpStream>) -> Option<Vec<u8>> {
    s.get_ref().1.alpn_protocol().map(<[u8]>::to_vec)
}

/// GET over an established TLS stream with whichever HTTP version ALPN chose.
async fn get(s: TlsStream<TcpStream>, host: &str, path: &str) -> (StatusCode, String) {
    let h2 = alpn(&s).as_deref() == Some(b"h2");
    let io = TokioIo::new(s);
    let resp = tokio::time::timeout(LIMIT, async {
        if h2 {
            let (mut send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .expect("h2 handshake");
            tokio::spawn(conn);
            let req = Request::get(format!("https://{host}{path}"))
                .body(Empty::<Bytes>::new())
                .unwrap();
            send.send_request(req).await.expect("h2 request")
        } else {
            let (mut send, conn) = hyper::client::conn::http1::handshake(io)
                .await
                .expect("h1 handshake");
            tokio::spawn(conn);
            let req = Request::get(path)
                .header("host", host)
                .body(Empty::<Bytes>::new())
                .unwrap();
            send.send_request(req).await.expect("h1 request")
        }
    })
    .await
    .expect("request hung");
    let status = resp.status();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn sni_picks_exact_and_wildcard_and_no_sni_gets_the_first() {
    let r = rig().await;
    let cfg = || client(&r.pki, BOTH, &[b"http/1.1"]);
    let a = connect(cfg(), r.gw.tls, "a.test").await.expect("a.test");
    assert_eq!(served_cert(&a), r.a_der);
    let b = connect(cfg(), r.gw.tls, "x.b.test")
        .await
        .expect("x.b.test");
    assert_eq!(served_cert(&b), r.b_der);
    assert_eq!(get(b, "x.b.test", "/hello.txt").await.0, StatusCode::OK);

    // No SNI at all: the first certificate, which the client accepts for a.test.
    let mut no_sni = cfg();
    no_sni.enable_sni = false;
    let s = connect(no_sni, r.gw.tls, "a.test").await.expect("no SNI");
    assert_eq!(served_cert(&s), r.a_der);

    // An unknown name also gets the first certificate (not a refused handshake): the
    // client then rejects it as not valid for that name.
    let err = connect(cfg(), r.gw.tls, "c.test").await.unwrap_err();
    let tls_err = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
        .unwrap_or_else(|| panic!("not a TLS error: {err}"));
    assert!(
        matches!(
            tls_err,
            rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                    | rustls::CertificateError::NotValidForNameContext { .. }
            )
        ),
        "{tls_err:?}"
    );
    assert_eq!(r.gw.certs.names(), vec![vec!["a.test"], vec!["*.b.test"]]);
}

#[tokio::test]
async fn alpn_chooses_h2_or_http1_and_both_serve() {
    let r = rig().await;
    for (offer, want) in [
        (&[&b"h2"[..], b"http/1.1"][..], &b"h2"[..]),
        (&[&b"h2"[..]][..], &b"h2"[..]),
        (&[&b"http/1.1"[..]][..], &b"http/1.1"[..]),
    ] {
        let s = connect(client(&r.pki, BOTH, offer), r.gw.tls, "a.test")
            .await
            .expect("handshake");
        assert_eq!(alpn(&s).as_deref(), Some(want));
        let (status, body) = get(s, "a.test", "/hello.txt").await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{:?}",
            String::from_utf8_lossy(want)
        );
        assert_eq!(body, "hello over tls\n");
    }
    // No ALPN at all: HTTP/1.1.
    let s = connect(client(&r.pki, BOTH, &[]), r.gw.tls, "a.test")
        .await
        .expect("handshake");
    assert_eq!(alpn(&s), None);
    assert_eq!(get(s, "a.test", "/hello.txt").await.0, StatusCode::OK);
    drop(r.dir);
}

#[tokio::test]
async fn forwarded_proto_is_https_on_the_tls_listener() {
    let up = StandIn::always(Reply::Raw(ok("fine", &[])));
    let r = rig_with("", Some(&up.url("/bkt"))).await;
    let s = connect(client(&r.pki, BOTH, &[b"h2"]), r.gw.tls, "a.test")
        .await
        .unwrap();
    assert_eq!(get(s, "a.test", "/k").await.0, StatusCode::OK);
    let plain = send(r.gw.plain, "GET", "/k", "a.test", &[], b"").await;
    assert_eq!(plain.status, 200);
    let seen = up.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0].header("x-forwarded-proto").as_deref(),
        Some("https")
    );
    assert_eq!(seen[1].header("x-forwarded-proto").as_deref(), Some("http"));
}

#[tokio::test]
async fn versions_tls13_client_works_and_min_13_refuses_a_tls12_client() {
    let r = rig().await;
    let only13: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];
    let only12: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];
    let s = connect(client(&r.pki, only13, &[]), r.gw.tls, "a.test")
        .await
        .expect("TLS 1.3");
    assert_eq!(
        s.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    let s = connect(client(&r.pki, only12, &[]), r.gw.tls, "a.test")
        .await
        .expect("TLS 1.2 is the default minimum");
    assert_eq!(
        s.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    assert_eq!(get(s, "a.test", "/hello.txt").await.0, StatusCode::OK);

    let strict = rig_with("min_version = \"1.3\"", None).await;
    assert!(
        connect(client(&strict.pki, only12, &[]), strict.gw.tls, "a.test")
            .await
            .is_err(),
        "a TLS 1.2-only client must be refused"
    );
    connect(client(&strict.pki, only13, &[]), strict.gw.tls, "a.test")
        .await
        .expect("TLS 1.3 still works");
}

#[tokio::test]
async fn reload_serves_a_replaced_certificate_and_keeps_the_old_on_a_bad_file() {
    let r = rig().await;
    let cfg = || client(&r.pki, BOTH, &[]);
    let before = connect(cfg(), r.gw.tls, "a.test").await.unwrap();
    assert_eq!(served_cert(&before), r.a_der);

    // Renewal: new files at the same paths, then reload.
    let renewed = r.pki.leaf(r.dir.path(), "a", &["a.test", "www.a.test"]);
    assert_ne!(renewed, r.a_der);
    r.gw.certs.reload().expect("reload");
    let after = connect(cfg(), r.gw.tls, "a.test").await.unwrap();
    assert_eq!(served_cert(&after), renewed);
    let www = connect(cfg(), r.gw.tls, "www.a.test").await.unwrap();
    assert_eq!(served_cert(&www), renewed, "names follow the new SANs");
    // The connection opened before the reload still works on its old certificate.
    assert_eq!(get(before, "a.test", "/hello.txt").await.0, StatusCode::OK);

    // A broken replacement: reload fails, naming the config entry, and nothing changes.
    std::fs::write(r.dir.path().join("a.crt"), "not a certificate\n").unwrap();
    let err = r.gw.certs.reload().expect_err("a bad PEM must fail");
    let text = err.to_string();
    assert!(text.contains("corsgate.toml:"), "{text}");
    assert!(text.contains("a.crt"), "{text}");
    let still = connect(cfg(), r.gw.tls, "a.test").await.unwrap();
    assert_eq!(served_cert(&still), renewed);

    // A key that belongs to another certificate is refused too.
    r.pki.leaf(r.dir.path(), "a", &["a.test"]);
    std::fs::copy(r.dir.path().join("b.key"), r.dir.path().join("a.key")).unwrap();
    assert!(r.gw.certs.reload().is_err(), "mismatched key accepted");
    let still = connect(cfg(), r.gw.tls, "a.test").await.unwrap();
    assert_eq!(served_cert(&still), renewed);
    let b = connect(cfg(), r.gw.tls, "y.b.test").await.unwrap();
    assert_eq!(served_cert(&b), r.b_der);
}

#[tokio::test]
async fn a_silent_tls_client_is_dropped_at_the_handshake_timeout() {
    let r = rig_full("300ms", "", None).await;
    let mut s = TcpStream::connect(r.gw.tls).await.unwrap();
    // header_read_timeout is 300 ms; the bound is only against a hang.
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(LIMIT, s.read(&mut buf))
        .await
        .expect("the server must close a silent TLS connection");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}

#[tokio::test]
async fn bad_certificate_config_is_reported_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("site")).unwrap();
    let pki = Pki::new();
    pki.leaf(dir.path(), "a", &["a.test"]);
    // b.crt is missing.
    let text = toml("", "upstream = \"file:site\"");
    let line = text
        .lines()
        .position(|l| l.contains("b.crt"))
        .expect("b.crt line");
    let cfg = corsgate::config::parse(&dir.path().join("corsgate.toml"), &text).unwrap();
    let err = CertStore::load(cfg.tls.as_ref().unwrap()).unwrap_err();
    assert_eq!(err.0.len(), 1, "{err}");
    // 1-based: the `[[tls.certificate]]` header (line) or its first key (line + 1).
    assert!(
        matches!(err.0[0].line, Some(l) if l == line || l == line + 1),
        "{err}"
    );
    assert!(err.0[0].message.contains("b.crt"), "{err}");
    match App::bind(cfg).await {
        Ok(_) => panic!("bound with a missing certificate"),
        Err(e) => assert!(e.to_string().contains("b.crt"), "{e}"),
    }

    let bad = [
        ("min_version = \"1.1\"", "tls.min_version"),
        ("bogus = 1", "bogus"),
    ];
    for (extra, want) in bad {
        let err = corsgate::config::parse(
            &dir.path().join("corsgate.toml"),
            &toml(extra, "upstream = \"file:site\""),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains(want), "{extra}: {err}");
    }
}

#[tokio::test]
async fn the_plain_listener_redirects_known_hosts_to_https() {
    let r = rig_with("redirect_http = true", None).await;
    let port = r.gw.tls.port();
    let resp = send(r.gw.plain, "GET", "/a?b", "a.test", &[], b"").await;
    assert_eq!(resp.status, 308, "{}", resp.head);
    let want = format!("https://a.test:{port}/a?b");
    assert_eq!(resp.header("location"), Some(want.as_str()));
    let resp = send(r.gw.plain, "PUT", "/up", "X.B.test:80", &[], b"data").await;
    assert_eq!(resp.status, 308);
    let want = format!("https://x.b.test:{port}/up");
    assert_eq!(resp.header("location"), Some(want.as_str()));
    let resp = send(r.gw.plain, "GET", "/a", "evil.test", &[], b"").await;
    assert_eq!(resp.status, 421, "{}", resp.head);
    assert_eq!(resp.header("location"), None);
    // The https side serves as usual.
    let s = connect(client(&r.pki, BOTH, &[b"h2"]), r.gw.tls, "a.test")
        .await
        .unwrap();
    assert_eq!(get(s, "a.test", "/hello.txt").await.0, StatusCode::OK);
}

#[test]
fn check_reads_the_certificates_too() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("site")).unwrap();
    let pki = Pki::new();
    pki.leaf(dir.path(), "a", &["a.test"]);
    pki.leaf(dir.path(), "b", &["*.b.test"]);
    let config = dir.path().join("corsgate.toml");
    std::fs::write(&config, toml("", "upstream = \"file:site\"")).unwrap();
    let check = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_corsgate"))
            .arg("check")
            .arg(&config)
            .output()
            .expect("run corsgate check")
    };
    let out = check();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    std::fs::write(dir.path().join("b.key"), "-----BEGIN PRIVATE KEY-----\n").unwrap();
    let out = check();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("corsgate.toml:") && stderr.contains("b.key"),
        "{stderr}"
    );
}
