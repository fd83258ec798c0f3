//! Tests for `config/private.rs` through the real loader ([`crate::config::parse`]):
//! every refusal of the private-bucket rules (`access`, `allow_methods`, `[site.sign]`,
//! `[site.jwt]`) is checked for its line and message, several errors in one file must
//! all be reported, the valid shapes come out as the right runtime values, and the
//! effective `/config` JSON never shows a static key, session token or HS256 secret.
use std::path::Path;
use std::time::Duration;

use super::AccessKind;
use crate::access::jwt::JwtKeys;
use crate::access::MethodSet;
use crate::config::{parse, Config, Diagnostics};

const FILE: &str = "/cfg/corsgate.toml";

/// Lines 1-5 of every snippet; the site's `name` is on line 3 and `extra` starts at 6.
const HEAD: &str = "listen = \"127.0.0.1:0\"\n[[site]]\nname = \"s\"\ndefault = true\n\
                    upstream = \"http://127.0.0.1:9000/bucket\"\n";
const NAME_LINE: usize = 3;

const PUBLIC_GET: &str = "access = \"public\"\nallow_methods = [\"GET\"]\n"; // lines 6-7
const JWT_GET: &str = "access = \"jwt\"\nallow_methods = [\"GET\"]\n"; // lines 6-7
const ISS_AUD: &str = "issuer = \"https://idp.test\"\naudience = \"corsgate\"\n";
const LONG_SECRET: &str = "an-hs256-secret-of-at-least-32-bytes!!";

fn site(extra: &str) -> String {
    format!("{HEAD}{extra}")
}

fn errors_at(path: &Path, text: &str) -> Diagnostics {
    match parse(path, text) {
        Ok(_) => panic!("accepted, but should be refused:\n{text}"),
        Err(d) => d,
    }
}

fn errors(text: &str) -> Diagnostics {
    errors_at(Path::new(FILE), text)
}

fn valid_at(path: &Path, text: &str) -> Config {
    parse(path, text).unwrap_or_else(|e| panic!("refused:\n{e}\n---\n{text}"))
}

/// Asserts exactly one diagnostic, on `line`, whose message contains `fragment`, and
/// that it displays as `file:line:col: message`.
fn assert_one(ds: &Diagnostics, line: usize, fragment: &str, case: &str) {
    assert_eq!(ds.0.len(), 1, "{case}: want one error, got:\n{ds}");
    let d = &ds.0[0];
    assert_eq!(d.line, Some(line), "{case}: wrong line: {d}");
    assert!(
        d.message.contains(fragment),
        "{case}: {d:?} lacks {fragment:?}"
    );
    let col = d.column.expect("a located error has a column");
    assert_eq!(
        d.to_string(),
        format!("{FILE}:{line}:{col}: {}", d.message),
        "{case}"
    );
}

#[test]
fn each_invalid_snippet_is_refused_at_its_line() {
    let jwt_public = format!("{PUBLIC_GET}[site.jwt]\n{ISS_AUD}hs256_secret = \"{LONG_SECRET}\"\n");
    let jwt_alone = format!("[site.jwt]\n{ISS_AUD}hs256_secret = \"{LONG_SECRET}\"\n");
    let jwt_none = format!("{JWT_GET}[site.jwt]\n{ISS_AUD}");
    let jwt_two = format!(
        "{JWT_GET}[site.jwt]\n{ISS_AUD}hs256_secret = \"{LONG_SECRET}\"\n\
         jwks_url = \"https://idp.test/jwks.json\"\n"
    );
    let jwt_short = format!(
        "{JWT_GET}[site.jwt]\n{ISS_AUD}hs256_secret = \"0123456789abcdef0123456789abcde\"\n"
    );
    let presigned_sign = "access = \"presigned\"\nallow_methods = [\"GET\"]\n\
                          [site.sign]\nregion = \"us-east-1\"\n";
    let sign = |extra: &str| format!("{PUBLIC_GET}[site.sign]\nregion = \"us-east-1\"\n{extra}");
    let cases: Vec<(&str, String, usize, &str)> = vec![
        (
            "sign without access",
            "[site.sign]\nregion = \"us-east-1\"\n".into(),
            NAME_LINE,
            "must declare access",
        ),
        ("access without allow_methods", "access = \"public\"\n".into(), 6, "must list allow_methods"),
        (
            "allow_methods without access",
            "allow_methods = [\"GET\"]\n".into(),
            NAME_LINE,
            "allow_methods goes with access",
        ),
        ("jwt table without access", jwt_alone, NAME_LINE, "[site.jwt] goes with access"),
        (
            "unknown access value",
            "access = \"private\"\nallow_methods = [\"GET\"]\n".into(),
            6,
            "is not one of \"public\", \"jwt\", \"presigned\"",
        ),
        ("jwt without [site.jwt]", JWT_GET.into(), 6, "needs a [site.jwt] table"),
        ("[site.jwt] with access public", jwt_public, 8, "access is \"public\""),
        ("[site.jwt] without a key source", jwt_none, 8, "exactly one of"),
        ("[site.jwt] with two key sources", jwt_two, 8, "exactly one of"),
        ("31-byte HS256 secret", jwt_short, 8, "shorter than 32 bytes"),
        ("presigned that signs", presigned_sign.into(), 6, "remove [site.sign]"),
        ("access_key_id alone", sign("access_key_id = \"AKID\"\n"), 10, "go together"),
        ("secret_access_key alone", sign("secret_access_key = \"sk\"\n"), 10, "go together"),
        ("session_token alone", sign("session_token = \"tok\"\n"), 10, "session_token needs"),
        (
            "empty region",
            format!("{PUBLIC_GET}[site.sign]\nregion = \" \"\n"),
            9,
            "sign.region must not be empty",
        ),
        (
            "lower-case method",
            "access = \"public\"\nallow_methods = [\"GET\", \"get\"]\n".into(),
            7,
            "unknown method \"get\"",
        ),
        (
            "PATCH",
            "access = \"public\"\nallow_methods = [\"PATCH\"]\n".into(),
            7,
            "unknown method \"PATCH\"",
        ),
        (
            "empty method list",
            "access = \"public\"\nallow_methods = []\n".into(),
            7,
            "empty",
        ),
        (
            "empty issuer",
            format!("{JWT_GET}[site.jwt]\nissuer = \"\"\naudience = \"a\"\nhs256_secret = \"{LONG_SECRET}\"\n"),
            9,
            "jwt.issuer must not be empty",
        ),
    ];
    for (case, extra, line, fragment) in &cases {
        assert_one(&errors(&site(extra)), *line, fragment, case);
    }
}

#[test]
fn sign_on_a_file_upstream_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("bucket")).unwrap();
    let text = "listen = \"127.0.0.1:0\"\n[[site]]\nname = \"f\"\ndefault = true\n\
                upstream = \"file:bucket\"\naccess = \"public\"\nallow_methods = [\"GET\"]\n\
                [site.sign]\nregion = \"us-east-1\"\n";
    let path = dir.path().join("corsgate.toml");
    let ds = errors_at(&path, text);
    assert_eq!(ds.0.len(), 1, "{ds}");
    assert_eq!(ds.0[0].line, Some(8), "{ds}");
    assert!(
        ds.0[0].message.contains("needs an HTTP(S) upstream"),
        "{ds}"
    );
}

#[test]
fn several_errors_in_one_file_are_all_reported() {
    let text = format!(
        "{HEAD}[site.sign]\nregion = \"us-east-1\"\n\
         [[site]]\nname = \"b\"\nhosts = [\"b.test\"]\nupstream = \"http://127.0.0.1:9000/b\"\n\
         access = \"public\"\nallow_methods = [\"get\"]\n\
         [site.sign]\nregion = \"\"\naccess_key_id = \"AKID\"\n\
         [[site]]\nname = \"c\"\nhosts = [\"c.test\"]\nupstream = \"http://127.0.0.1:9000/c\"\n\
         access = \"sometimes\"\n"
    );
    let ds = errors(&text);
    let got: Vec<(Option<usize>, &str)> =
        ds.0.iter().map(|d| (d.line, d.message.as_str())).collect();
    let want: [(usize, &str); 5] = [
        (NAME_LINE, "must declare access"),
        (13, "unknown method \"get\""),
        (15, "sign.region must not be empty"),
        (16, "go together"),
        (21, "is not one of"),
    ];
    for (line, fragment) in want {
        assert!(
            got.iter()
                .any(|(l, m)| *l == Some(line) && m.contains(fragment)),
            "missing {line}: {fragment:?} in\n{ds}"
        );
    }
    // Site c has no allow_methods either: that is reported too.
    assert!(
        got.iter()
            .any(|(l, m)| *l == Some(21) && m.contains("must list allow_methods")),
        "{ds}"
    );
    assert_eq!(ds.0.len(), 6, "{ds}");
}

#[test]
fn empty_issuer_and_empty_audience_are_both_reported() {
    let text = site(&format!(
        "{JWT_GET}[site.jwt]\nissuer = \"\"\naudience = \" \"\nhs256_secret = \"{LONG_SECRET}\"\n"
    ));
    let ds = errors(&text);
    let lines: Vec<Option<usize>> = ds.0.iter().map(|d| d.line).collect();
    assert_eq!(
        lines,
        [Some(9), Some(10)],
        "both empty fields, each at its line:\n{ds}"
    );
    assert!(
        ds.0[1].message.contains("jwt.audience must not be empty"),
        "{ds}"
    );
}

#[test]
fn a_signing_public_site_is_loaded() {
    let text = site(
        "access = \"public\"\nallow_methods = [\"PUT\", \"GET\", \"HEAD\", \"GET\"]\n\
         allow_listing = true\n[site.sign]\nregion = \"eu-west-1\"\nprofile = \"ops\"\n",
    );
    let c = valid_at(Path::new(FILE), &text);
    let s = &c.sites[0];
    let a = s.access.as_ref().expect("access");
    assert!(matches!(a.kind, AccessKind::Public), "{:?}", a.kind);
    assert_eq!(a.methods, MethodSet::parse(["GET", "HEAD", "PUT"]).unwrap());
    assert_eq!(a.methods.to_string(), "GET, HEAD, PUT");
    assert!(a.allow_listing);
    let sign = s.sign.as_ref().expect("sign");
    assert_eq!(sign.region, "eu-west-1");
    assert_eq!(sign.chain.profile.as_deref(), Some("ops"));
    assert!(sign.chain.static_keys.is_none());
}

#[test]
fn a_presigned_site_is_loaded_without_signing() {
    let text = site("access = \"presigned\"\nallow_methods = [\"GET\", \"PUT\"]\n");
    let c = valid_at(Path::new(FILE), &text);
    let s = &c.sites[0];
    let a = s.access.as_ref().expect("access");
    assert!(matches!(a.kind, AccessKind::Presigned), "{:?}", a.kind);
    assert_eq!(a.methods.to_string(), "GET, PUT");
    assert!(!a.allow_listing, "listing is opt-in");
    assert!(s.sign.is_none());
}

#[test]
fn hs256_secret_file_is_read_relative_to_the_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    std::fs::write(
        dir.path().join("secrets/jwt.key"),
        format!("{LONG_SECRET}\r\n"),
    )
    .unwrap();
    let text = site(&format!(
        "{JWT_GET}[site.sign]\nregion = \"us-east-1\"\n\
         [site.jwt]\n{ISS_AUD}hs256_secret_file = \"secrets/jwt.key\"\nleeway = \"5s\"\n"
    ));
    let c = valid_at(&dir.path().join("corsgate.toml"), &text);
    let s = &c.sites[0];
    let a = s.access.as_ref().expect("access");
    let AccessKind::Jwt(j) = &a.kind else {
        panic!("not jwt: {:?}", a.kind)
    };
    match &j.keys {
        JwtKeys::Hs256(k) => assert_eq!(k.as_slice(), LONG_SECRET.as_bytes(), "newline trimmed"),
        other => panic!("keys: {other:?}"),
    }
    assert_eq!(j.issuer, "https://idp.test");
    assert_eq!(j.audience, "corsgate");
    assert_eq!(j.leeway, Duration::from_secs(5));
    assert_eq!(j.refresh, Duration::from_secs(300));
    assert_eq!(
        s.sign.as_ref().map(|k| k.region.as_str()),
        Some("us-east-1")
    );

    // The same file from another directory does not resolve.
    let ds = errors(&text);
    assert_one(
        &ds,
        13,
        "jwt.hs256_secret_file /cfg/secrets/jwt.key",
        "missing file",
    );
}

#[test]
fn a_plain_site_has_no_access_and_no_signing() {
    let c = valid_at(Path::new(FILE), &site(""));
    assert!(c.sites[0].access.is_none());
    assert!(c.sites[0].sign.is_none());
}

#[test]
fn effective_config_redacts_every_secret() {
    const KEY_ID: &str = "AKIDEFFECTIVECONFIG1";
    const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY";
    const TOKEN: &str = "FwoGZXIvYXdzEXAMPLESESSIONTOKENvalue";
    const HS: &str = "hs256-secret-for-the-effective-config-test";
    let text = format!(
        "{HEAD}{PUBLIC_GET}[site.sign]\nregion = \"us-east-1\"\n\
         access_key_id = \"{KEY_ID}\"\nsecret_access_key = \"{SECRET_KEY}\"\n\
         session_token = \"{TOKEN}\"\n\
         [[site]]\nname = \"j\"\nhosts = [\"j.test\"]\nupstream = \"http://127.0.0.1:9000/j\"\n\
         {JWT_GET}[site.jwt]\n{ISS_AUD}hs256_secret = \"{HS}\"\n"
    );
    let c = valid_at(Path::new(FILE), &text);
    let v = crate::config::effective::to_json(&c);
    let dump = serde_json::to_string(&v).unwrap();
    for secret in [SECRET_KEY, TOKEN, HS] {
        assert!(!dump.contains(secret), "{secret:?} in /config: {dump}");
    }
    let sign = &v["site"][0]["sign"];
    assert_eq!(sign["region"], "us-east-1");
    assert_eq!(sign["secret_access_key"], "REDACTED", "{sign}");
    assert_eq!(sign["session_token"], "REDACTED", "{sign}");
    assert_eq!(sign["access_key_id"], "REDACTED", "{sign}");
    assert_eq!(v["site"][0]["access"]["kind"], "public");
    assert_eq!(v["site"][0]["allow_methods"], "GET");
    let jwt = &v["site"][1]["access"];
    assert_eq!(jwt["kind"], "jwt");
    assert_eq!(jwt["issuer"], "https://idp.test");
    assert_eq!(jwt["keys"]["hs256_secret"], "REDACTED", "{jwt}");
    assert!(v["site"][1]["sign"].is_null());
}
