//! Test-only helpers shared by the access tests: keys (HS256 secret, ES256 from rcgen,
//! the committed RSA test key), JWKS documents, token minting, a fixed clock, and the
//! table harness for [`check`] cases.
//! Nothing here runs outside `cargo test`.
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use super::jwt::{JwtConfig, JwtKeys, JwtVerifier};
use super::{check, AccessMode, AccessPolicy, MethodSet, Operation};

pub const SECRET: &[u8] = b"an-hs256-test-secret-of-32-bytes!!";
pub const ISSUER: &str = "https://issuer.test";
pub const AUDIENCE: &str = "corsgate-test";

pub const RSA_PRIVATE_PEM: &str = include_str!("testdata/rsa_private.pem");
pub const RSA_PUBLIC_PEM: &str = include_str!("testdata/rsa_public.pem");
pub const RSA_JWKS: &str = include_str!("testdata/rsa_jwks.json");

/// The injected "now" of every test.
pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

pub fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Claims that pass: right iss and aud, ten minutes left.
pub fn good_claims() -> Value {
    json!({ "iss": ISSUER, "aud": AUDIENCE, "sub": "user-42", "exp": secs(now()) + 600 })
}

/// RFC 4648 §5 base64url without padding (no base64 crate in the tree).
pub fn b64url(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

pub fn hs256() -> EncodingKey {
    EncodingKey::from_secret(SECRET).unwrap()
}

/// Signs `claims` with `alg` and `key`, naming `kid` when given.
pub fn mint(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    encode(&header, claims, key).unwrap()
}

/// A fresh ES256 key pair: the signing key and its public JWK.
pub fn es256(kid: &str) -> (EncodingKey, Value) {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let signing = EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap();
    // ring's raw public key is the uncompressed point 0x04 || X || Y.
    let raw = pair.public_key_raw();
    assert_eq!((raw.len(), raw[0]), (65, 4));
    let jwk = json!({
        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
        "x": b64url(&raw[1..33]), "y": b64url(&raw[33..65]),
    });
    (signing, jwk)
}

pub fn jwks(keys: &[&Value]) -> String {
    json!({ "keys": keys }).to_string()
}

pub fn rsa() -> EncodingKey {
    EncodingKey::from_rsa_pem(RSA_PRIVATE_PEM.as_bytes()).unwrap()
}

pub fn config(keys: JwtKeys) -> JwtConfig {
    JwtConfig::new(keys, ISSUER, AUDIENCE)
}

pub async fn hs_verifier() -> Arc<JwtVerifier> {
    JwtVerifier::new(config(JwtKeys::Hs256(SECRET.to_vec())))
        .await
        .unwrap()
}

/// A JWKS file in a temp dir that lives as long as the returned guard.
pub fn jwks_file(body: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, body).unwrap();
    (dir, path)
}

pub enum Want {
    Allow(Operation),
    Deny(u16, &'static str, &'static str),
}

pub struct Case {
    pub method: &'static str,
    pub target: &'static str,
    pub headers: &'static [(&'static str, &'static str)],
    pub want: Want,
}

pub const fn case(method: &'static str, target: &'static str, want: Want) -> Case {
    Case {
        method,
        target,
        headers: &[],
        want,
    }
}

pub fn policy(mode: AccessMode, methods: &[&str], allow_listing: bool) -> AccessPolicy {
    AccessPolicy {
        mode,
        methods: MethodSet::parse(methods.iter().copied()).unwrap(),
        allow_listing,
    }
}

pub fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (n, v) in pairs {
        h.append(
            HeaderName::from_bytes(n.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

pub fn run(policy: &AccessPolicy, cases: &[Case]) {
    for c in cases {
        let method = Method::from_bytes(c.method.as_bytes()).unwrap();
        let uri: Uri = c.target.parse().unwrap();
        let got = check(policy, &method, &uri, &headers(c.headers), now());
        let label = format!("{} {} {:?}", c.method, c.target, c.headers);
        match (&c.want, got) {
            (Want::Allow(op), Ok(g)) => assert_eq!(g.operation, *op, "{label}"),
            (Want::Deny(status, kind, fragment), Err(d)) => {
                assert_eq!(d.status.as_u16(), *status, "{label}: {d}");
                assert_eq!(d.kind.as_str(), *kind, "{label}: {d}");
                assert!(d.reason.contains(fragment), "{label}: {d}");
            }
            (Want::Allow(_), Err(d)) => panic!("{label}: want allowed, got {d}"),
            (Want::Deny(..), Ok(g)) => panic!("{label}: want denied, got {g:?}"),
        }
    }
}

pub const READ: &[&str] = &["GET", "HEAD"];
pub const ALL: &[&str] = &["GET", "HEAD", "PUT", "POST", "DELETE"];

/// `claims` with `f` applied.
pub fn with(
    claims: serde_json::Value,
    f: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) -> serde_json::Value {
    let mut c = claims;
    f(c.as_object_mut().unwrap());
    c
}

#[test]
fn b64url_matches_rfc4648_vectors() {
    for (raw, enc) in [
        ("", ""),
        ("f", "Zg"),
        ("fo", "Zm8"),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg"),
        ("fooba", "Zm9vYmE"),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(b64url(raw.as_bytes()), enc);
    }
    assert_eq!(b64url(&[0xfb, 0xff]), "-_8");
}
