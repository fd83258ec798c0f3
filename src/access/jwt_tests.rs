//! JWT tests of [`JwtVerifier::verify`]: HS256, ES256 and RS256 from JWKS files, time
//! against the injected clock, iss/aud, wrong keys, tampering, `alg: none`, alg
//! confusion, and setup errors.
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::json;

use super::jwt::{JwtKeys, JwtSetupError, JwtVerifier};
use super::test_support::*;
use super::*;

fn denied(r: Result<jwt::Claims, Denied>) -> (u16, &'static str, String) {
    let d = r.expect_err("want denied");
    (d.status.as_u16(), d.kind.as_str(), d.reason)
}

#[tokio::test]
async fn hs256_time_issuer_audience() {
    let v = hs_verifier().await;
    assert!(v.is_ready());
    let t = |c| mint(Algorithm::HS256, None, &hs256(), &c);
    let ok = v.verify(&t(good_claims()), now()).unwrap();
    assert_eq!(ok.sub.as_deref(), Some("user-42"));
    assert_eq!((ok.paths, ok.methods), (None, None));

    let n = secs(now());
    // exp: within the 30 s leeway passes, beyond it fails; driven by the injected now.
    let exp = |e: u64| {
        t(with(good_claims(), |c| {
            c.insert("exp".into(), json!(e));
        }))
    };
    assert!(v.verify(&exp(n - 29), now()).is_ok());
    assert_eq!(denied(v.verify(&exp(n - 31), now())).1, "expired");
    let tok = exp(n + 100);
    assert!(v.verify(&tok, now()).is_ok());
    let later = now() + Duration::from_secs(131);
    let (status, kind, reason) = denied(v.verify(&tok, later));
    assert_eq!((status, kind), (401, "expired"));
    assert!(reason.contains("expired"));

    let nbf = |b: u64| {
        t(with(good_claims(), |c| {
            c.insert("nbf".into(), json!(b));
        }))
    };
    assert!(v.verify(&nbf(n + 29), now()).is_ok());
    assert_eq!(denied(v.verify(&nbf(n + 31), now())).1, "not-yet-valid");

    let no_exp = t(with(good_claims(), |c| {
        c.remove("exp");
    }));
    let (_, kind, reason) = denied(v.verify(&no_exp, now()));
    assert_eq!(kind, "bad-token");
    assert!(reason.contains("exp"), "{reason}");

    let aud = |a| {
        t(with(good_claims(), |c| {
            c.insert("aud".into(), a);
        }))
    };
    assert!(v.verify(&aud(json!(["other", AUDIENCE])), now()).is_ok());
    assert_eq!(denied(v.verify(&aud(json!("other")), now())).1, "audience");
    assert_eq!(
        denied(v.verify(&aud(json!(["a", "b"])), now())).1,
        "audience"
    );
    let no_aud = t(with(good_claims(), |c| {
        c.remove("aud");
    }));
    assert!(denied(v.verify(&no_aud, now())).2.contains("aud"));

    let iss = t(with(good_claims(), |c| {
        c.insert("iss".into(), json!("https://evil.test"));
    }));
    assert_eq!(denied(v.verify(&iss, now())).1, "issuer");
    let no_iss = t(with(good_claims(), |c| {
        c.remove("iss");
    }));
    assert!(denied(v.verify(&no_iss, now())).2.contains("iss"));

    // A restricting claim of the wrong type makes the token bad, not unrestricted.
    let paths = t(with(good_claims(), |c| {
        c.insert("paths".into(), json!("/a/"));
    }));
    assert_eq!(denied(v.verify(&paths, now())).1, "bad-token");
}

#[tokio::test]
async fn wrong_key_tampering_alg_none_and_confusion() {
    let v = hs_verifier().await;
    let other = EncodingKey::from_secret(b"another-secret-of-at-least-32-bytes").unwrap();
    let tok = mint(Algorithm::HS256, None, &other, &good_claims());
    let (status, kind, reason) = denied(v.verify(&tok, now()));
    assert_eq!((status, kind), (401, "bad-token"));
    assert!(reason.contains("signature"), "{reason}");

    // Tampered payload: the original signature over a new body.
    let good = mint(Algorithm::HS256, None, &hs256(), &good_claims());
    let parts: Vec<&str> = good.split('.').collect();
    let evil = b64url(
        with(good_claims(), |c| {
            c.insert("sub".into(), json!("admin"));
        })
        .to_string()
        .as_bytes(),
    );
    let tampered = format!("{}.{}.{}", parts[0], evil, parts[2]);
    assert!(denied(v.verify(&tampered, now())).2.contains("signature"));

    // alg: none, with and without a signature part.
    let none = b64url(br#"{"alg":"none","typ":"JWT"}"#);
    let body = b64url(good_claims().to_string().as_bytes());
    for t in [
        format!("{none}.{body}."),
        format!("{none}.{body}.{}", parts[2]),
    ] {
        let (status, kind, _) = denied(v.verify(&t, now()));
        assert_eq!((status, kind), (401, "bad-token"), "{t}");
    }
    // An RS256 token on an HS256 site.
    let rs = mint(Algorithm::RS256, None, &rsa(), &good_claims());
    assert!(denied(v.verify(&rs, now())).2.contains("RS256"));
    for junk in ["", "a.b", "a.b.c", "not a token"] {
        assert_eq!(denied(v.verify(junk, now())).1, "bad-token", "{junk:?}");
    }

    // Alg confusion: HS256 "signed" with the RSA public key as the secret, sent to a
    // site that trusts that RSA key.
    let (_dir, path) = jwks_file(RSA_JWKS);
    let rsa_site = JwtVerifier::new(config(JwtKeys::JwksFile(path)))
        .await
        .unwrap();
    assert!(rsa_site.verify(&rs, now()).is_ok());
    let confused_key = EncodingKey::from_secret(RSA_PUBLIC_PEM.as_bytes()).unwrap();
    for kid in [None, Some("rsa-1")] {
        let confused = mint(Algorithm::HS256, kid, &confused_key, &good_claims());
        let (status, kind, reason) = denied(rsa_site.verify(&confused, now()));
        assert_eq!((status, kind), (401, "bad-token"), "{kid:?}");
        assert!(reason.contains("HS256"), "{reason}");
        assert!(
            !reason.contains(&confused),
            "a reason never quotes the token"
        );
    }
}

#[tokio::test]
async fn es256_and_rs256_from_a_jwks_file() {
    let (k1, jwk1) = es256("ec-1");
    let (k2, jwk2) = es256("ec-2");
    let rsa_jwk: serde_json::Value =
        serde_json::from_str::<serde_json::Value>(RSA_JWKS).unwrap()["keys"][0].clone();
    // Keys this verifier must skip, without failing the set.
    let oct = json!({"kty": "oct", "k": b64url(SECRET), "kid": "oct"});
    let enc = with(jwk2.clone(), |c| {
        c.insert("use".into(), json!("enc"));
        c.insert("kid".into(), json!("enc"));
    });
    let weird = json!({"kty": "XYZ", "kid": "weird"});
    let (_dir, path) = jwks_file(&jwks(&[&jwk1, &jwk2, &rsa_jwk, &oct, &enc, &weird]));
    let v = JwtVerifier::new(config(JwtKeys::JwksFile(path)))
        .await
        .unwrap();

    assert!(v
        .verify(
            &mint(Algorithm::ES256, Some("ec-1"), &k1, &good_claims()),
            now()
        )
        .is_ok());
    assert!(v
        .verify(
            &mint(Algorithm::ES256, Some("ec-2"), &k2, &good_claims()),
            now()
        )
        .is_ok());
    assert!(v
        .verify(
            &mint(Algorithm::RS256, Some("rsa-1"), &rsa(), &good_claims()),
            now()
        )
        .is_ok());
    // Signed by key 1, claiming key 2.
    let swapped = mint(Algorithm::ES256, Some("ec-2"), &k1, &good_claims());
    assert!(denied(v.verify(&swapped, now())).2.contains("signature"));
    assert_eq!(
        denied(v.verify(
            &mint(Algorithm::ES256, Some("nope"), &k1, &good_claims()),
            now()
        ))
        .1,
        "unknown-key"
    );
    // Several keys and no kid: ambiguous.
    assert!(
        denied(v.verify(&mint(Algorithm::ES256, None, &k1, &good_claims()), now()))
            .2
            .contains("no kid")
    );
    // The skipped oct key cannot be used, whatever the token says.
    let oct_tok = mint(Algorithm::HS256, Some("oct"), &hs256(), &good_claims());
    assert_eq!(denied(v.verify(&oct_tok, now())).1, "unknown-key");
    // The wrong alg for a named key.
    assert!(denied(v.verify(
        &mint(Algorithm::RS384, Some("rsa-1"), &rsa(), &good_claims()),
        now()
    ))
    .2
    .contains("RS384"));

    // One key and no kid: that key.
    let (_dir1, path1) = jwks_file(&jwks(&[&jwk1]));
    let single = JwtVerifier::new(config(JwtKeys::JwksFile(path1)))
        .await
        .unwrap();
    assert!(single
        .verify(&mint(Algorithm::ES256, None, &k1, &good_claims()), now())
        .is_ok());
    assert!(single
        .verify(&mint(Algorithm::ES256, None, &k2, &good_claims()), now())
        .is_err());
}

#[tokio::test]
async fn setup_errors_say_why() {
    let err = |r: Result<_, JwtSetupError>| {
        r.map(|_: std::sync::Arc<JwtVerifier>| ())
            .unwrap_err()
            .to_string()
    };
    assert!(
        err(JwtVerifier::new(config(JwtKeys::Hs256(b"short".to_vec()))).await).contains("32 bytes")
    );
    let e = err(JwtVerifier::new(config(JwtKeys::JwksFile("/nonexistent/jwks.json".into()))).await);
    assert!(
        e.contains("cannot read") && e.contains("/nonexistent/jwks.json"),
        "{e}"
    );
    let (_d, path) = jwks_file(r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#);
    assert!(err(JwtVerifier::new(config(JwtKeys::JwksFile(path))).await)
        .contains("no usable signing key"));
    let (_d2, path) = jwks_file("not json");
    assert!(err(JwtVerifier::new(config(JwtKeys::JwksFile(path))).await).contains("not a JWKS"));
    let mut c = config(JwtKeys::Hs256(SECRET.to_vec()));
    c.audience.clear();
    assert!(err(JwtVerifier::new(c).await).contains("audience"));
}
