//! The deployment files (deploy/): `scripts/deploy-check` renders the Kustomize bases,
//! validates them against the Kubernetes schemas in strict mode, cross-checks them
//! with the Dockerfile, runs this build's `corsgate check` on the configs the
//! ConfigMaps carry, and lints the Dockerfile with hadolint. Its tools come from PyPI
//! into a venv it manages; if they cannot be installed the test fails, it never skips.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A throwaway certificate standing in for the corsgate-tls Secret, so the edge
/// config's `[tls]` block passes `corsgate check` offline.
fn stand_in_secret() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["assets.example.com".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::write(dir.path().join("tls.crt"), cert.pem()).unwrap();
    std::fs::write(dir.path().join("tls.key"), key.serialize_pem()).unwrap();
    dir
}

/// Runs scripts/deploy-check on the deploy/ of `tree` with this build's binary.
fn deploy_check(tree: &Path) -> (bool, String) {
    let secret = stand_in_secret();
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new("bash")
        .arg(repo().join("scripts/deploy-check"))
        .arg("--corsgate")
        .arg(env!("CARGO_BIN_EXE_corsgate"))
        .arg("--repo")
        .arg(tree)
        .arg("--tls-dir")
        .arg(secret.path())
        .output()
        .expect("running scripts/deploy-check");
    let out = format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&stdout),
        String::from_utf8_lossy(&stderr)
    );
    (status.success(), out)
}

#[test]
fn deployment_files_pass_every_check() {
    let (ok, out) = deploy_check(&repo());
    assert!(ok, "scripts/deploy-check failed:\n{out}");
    // The run really covered each part (not an empty pass).
    for part in [
        "hadolint: no findings",
        "edge: rendered",
        "sidecar: rendered",
        "kubernetes-validate --strict -k 1.30.0",
        "kubernetes-validate --strict -k 1.37.0",
        "corsgate check edge corsgate.toml",
        "corsgate check edge cors.json",
        "corsgate check sidecar corsgate.toml",
        "corsgate check sidecar cors.json",
        ", 0 failed",
    ] {
        assert!(out.contains(part), "no {part:?} in the output:\n{out}");
    }
}

/// The checks bite: a copy of deploy/ with one mistake of each kind fails, and each
/// mistake is named.
#[test]
fn deploy_check_catches_broken_files() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("deploy"), &tmp.path().join("deploy"));
    let edit = |rel: &str, from: &str, to: &str| {
        let path = tmp.path().join("deploy").join(rel);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{rel} has no {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    };
    // A field the Kubernetes API does not have.
    edit(
        "k8s/edge/deployment.yaml",
        "      maxSurge: 1\n",
        "      maxSurge: 1\n      maxSurgee: 1\n",
    );
    // A config key corsgate does not know.
    edit(
        "k8s/sidecar/configmap.yaml",
        "    access_log = true\n",
        "    access_log = true\n    acess_log = true\n",
    );
    // A floating base image.
    edit(
        "Dockerfile",
        "FROM rust:1-bookworm AS build",
        "FROM rust:latest AS build",
    );
    // A probe on the wrong port.
    edit(
        "k8s/sidecar/deployment.yaml",
        "              path: /healthz\n              port: admin",
        "              path: /healthz\n              port: http",
    );

    let (ok, out) = deploy_check(tmp.path());
    assert!(!ok, "deploy-check passed a broken deploy/:\n{out}");
    for failure in [
        "'maxSurgee' was unexpected",
        "FAIL  kubernetes-validate --strict -k 1.37.0",
        "FAIL  corsgate check sidecar corsgate.toml",
        "acess_log",
        "DL3007",
        "FAIL  hadolint",
        "FAIL  sidecar: Deployment/frontend/corsgate: probes on the named admin port",
    ] {
        assert!(
            out.contains(failure),
            "no {failure:?} in the output:\n{out}"
        );
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
