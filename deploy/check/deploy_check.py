"""Offline checks of the deployment files (run by scripts/deploy-check, in its venv).

1. Renders each Kustomize base under deploy/k8s/ the way `kubectl apply -k` would.
   The bases are kept to plain `resources:` lists of local files, and this renderer
   refuses anything else (generators, patches, labels, remote bases...), so the
   rendered set is exactly what gets applied, not an approximation of it.
2. Validates every rendered object against the Kubernetes OpenAPI schemas in strict
   mode (unknown fields are errors) with kubernetes-validate, for the oldest
   Kubernetes the manifests support and the newest schemas it bundles. Its warnings
   (an unknown kind, say) count as failures.
3. Checks what a schema cannot: the hardening every container must have, and that the
   pieces agree with each other and with the binary (config path and mount, listen
   ports and container ports, probe ports and the admin listener, Service and PDB
   selectors, HPA target, grace period and drain).
4. Writes each ConfigMap's corsgate.toml and rules files to a temporary directory
   and runs `corsgate check` on them (the binary under test).
5. Lints deploy/Dockerfile with hadolint: any finding, down to style, fails.

Exit status 0 only if everything passed; every failure is listed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import shutil
import tempfile
import tomllib
from pathlib import Path

import yaml

# Oldest supported (the preStop `sleep` action is on by default from 1.30) and newest
# bundled by the pinned kubernetes-validate.
K8S_VERSIONS = ["1.30.0", "1.37.0"]

# corsgate's drain of in-flight requests after SIGTERM (server::Limits::drain_deadline,
# 30 s in today's binary; `[server] shutdown_timeout` once that lands, same default).
DRAIN_SECONDS = 30

KUSTOMIZATION_KEYS = {"apiVersion", "kind", "resources"}

failures: list[str] = []
passed = 0


def ok(what: str) -> None:
    global passed
    passed += 1
    print(f"  ok    {what}")


def fail(what: str) -> None:
    failures.append(what)
    print(f"  FAIL  {what}")


def expect(cond: bool, what: str) -> bool:
    (ok if cond else fail)(what)
    return cond


# ---------------------------------------------------------------- 1. render


def render_base(base: Path) -> tuple[str, list[dict]] | None:
    """The concatenated YAML `kubectl apply -k base` applies, and its objects."""
    kfile = base / "kustomization.yaml"
    k = yaml.safe_load(kfile.read_text())
    extra = set(k) - KUSTOMIZATION_KEYS
    if not expect(
        not extra,
        f"{kfile}: no Kustomize feature beyond resources: (found {sorted(extra)})",
    ):
        return None
    expect(
        k.get("apiVersion") == "kustomize.config.k8s.io/v1beta1"
        and k.get("kind") == "Kustomization",
        f"{kfile}: apiVersion/kind of a Kustomization",
    )
    resources = k.get("resources") or []
    docs: list[str] = []
    objects: list[dict] = []
    for r in resources:
        path = base / r
        if not expect(
            isinstance(r, str)
            and "://" not in r
            and "/" not in r
            and path.is_file(),
            f"{kfile}: resource {r!r} is a file in the base",
        ):
            return None
        text = path.read_text()
        for doc in yaml.safe_load_all(text):
            if doc is None:
                continue
            objects.append(doc)
            docs.append(yaml.safe_dump(doc, sort_keys=False))
    listed = set(resources) | {"kustomization.yaml"}
    orphans = sorted(p.name for p in base.glob("*.yaml") if p.name not in listed)
    expect(not orphans, f"{kfile}: every manifest in the base is listed (unlisted: {orphans})")
    ids = [(o.get("kind"), o.get("metadata", {}).get("name")) for o in objects]
    expect(len(ids) == len(set(ids)), f"{base}: no kind/name appears twice")
    return "---\n".join(docs), objects


# ---------------------------------------------------------------- 2. schemas


def validate_schemas(venv_bin: Path, rendered: list[Path]) -> None:
    for version in K8S_VERSIONS:
        proc = subprocess.run(
            [str(venv_bin / "kubernetes-validate"), "--strict", "-k", version, *map(str, rendered)],
            capture_output=True,
            text=True,
        )
        out = (proc.stdout + proc.stderr).strip()
        bad = [l for l in out.splitlines() if not l.startswith("INFO")]
        for line in out.splitlines():
            print(f"        {line}")
        expect(
            proc.returncode == 0 and not bad and "passed" in out,
            f"kubernetes-validate --strict -k {version}: every object valid, no warnings",
        )


# ---------------------------------------------------------------- 3. consistency


def port_of(addr: str) -> int:
    return int(addr.rsplit(":", 1)[1])


def host_of(addr: str) -> str:
    return addr.rsplit(":", 1)[0].strip("[]")


def named_ports(containers: list[dict]) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for c in containers for p in c.get("ports", []) if "name" in p}


def selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def check_container_hardening(where: str, c: dict) -> None:
    sc = c.get("securityContext", {})
    expect(sc.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation false")
    expect(sc.get("readOnlyRootFilesystem") is True, f"{where}: readOnlyRootFilesystem")
    expect(sc.get("capabilities", {}).get("drop") == ["ALL"], f"{where}: drops ALL capabilities")
    expect(sc.get("privileged") in (None, False), f"{where}: not privileged")
    res = c.get("resources", {})
    expect(
        all(k in res.get(kind, {}) for kind in ("requests", "limits") for k in ("cpu", "memory")),
        f"{where}: cpu and memory requests and limits",
    )
    image = c.get("image", "")
    expect(
        re.search(r":[\w][\w.-]*$", image.split("/")[-1]) is not None and not image.endswith(":latest"),
        f"{where}: image {image!r} has a pinned tag",
    )


def check_base(name: str, objects: list[dict], dockerfile: dict, cfg_dir: Path) -> list[tuple[str, Path]]:
    """Cross-checks one base; returns (label, file) pairs for `corsgate check`."""
    by_kind: dict[str, list[dict]] = {}
    for o in objects:
        by_kind.setdefault(o["kind"], []).append(o)
    configmaps = {o["metadata"]["name"]: o for o in by_kind.get("ConfigMap", [])}
    to_check: list[tuple[str, Path]] = []
    deployments = by_kind.get("Deployment", [])
    expect(bool(deployments), f"{name}: has a Deployment")

    for d in deployments:
        dn = f"{name}: Deployment/{d['metadata']['name']}"
        spec = d["spec"]
        pod = spec["template"]["spec"]
        labels = spec["template"]["metadata"].get("labels", {})
        expect(selects(spec["selector"]["matchLabels"], labels), f"{dn}: selector matches its pods")
        psc = pod.get("securityContext", {})
        expect(psc.get("runAsNonRoot") is True, f"{dn}: pod runAsNonRoot")
        expect(
            isinstance(psc.get("runAsUser"), int) and psc["runAsUser"] != 0,
            f"{dn}: pod runAsUser numeric, not root",
        )
        expect(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{dn}: seccomp RuntimeDefault")
        expect(pod.get("automountServiceAccountToken") is False, f"{dn}: no service account token")
        for c in pod["containers"]:
            check_container_hardening(f"{dn}/{c['name']}", c)

        gates = [c for c in pod["containers"] if c["name"] == "corsgate"]
        if not expect(len(gates) == 1, f"{dn}: one container named corsgate"):
            continue
        g = gates[0]
        gn = f"{dn}/corsgate"
        ports = named_ports([g])
        expect(psc.get("runAsUser") == dockerfile["uid"], f"{gn}: runAsUser is the image's USER {dockerfile['uid']}")
        expect(set(ports.values()) <= dockerfile["expose"], f"{gn}: container ports {sorted(ports.values())} are EXPOSEd")
        args = g.get("args", [])
        expect(args == dockerfile["cmd"], f"{gn}: args are the image's CMD {dockerfile['cmd']}")
        config_path = args[args.index("--config") + 1] if "--config" in args else ""
        config_dir, config_file = os.path.split(config_path)

        probes = {k: g.get(k, {}).get("httpGet", {}) for k in ("readinessProbe", "livenessProbe")}
        expect(probes["readinessProbe"].get("path") == "/readyz", f"{gn}: readiness probe on /readyz")
        expect(probes["livenessProbe"].get("path") == "/healthz", f"{gn}: liveness probe on /healthz")
        expect(
            all(p.get("port") == "admin" for p in probes.values()) and "admin" in ports,
            f"{gn}: probes on the named admin port",
        )
        sleep = g.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
        grace = pod.get("terminationGracePeriodSeconds", 30)
        expect(
            grace > sleep + DRAIN_SECONDS,
            f"{gn}: terminationGracePeriodSeconds {grace} > preStop {sleep}s + drain {DRAIN_SECONDS}s",
        )

        # The config directory: which volume is mounted there, and what it holds.
        mounts = [m for m in g.get("volumeMounts", []) if m["mountPath"] == config_dir]
        if not expect(len(mounts) == 1 and mounts[0].get("readOnly") is True, f"{gn}: {config_dir} mounted read-only"):
            continue
        vol = next((v for v in pod.get("volumes", []) if v["name"] == mounts[0]["name"]), {})
        cm_sources = [vol["configMap"]] if "configMap" in vol else [
            s["configMap"] for s in vol.get("projected", {}).get("sources", []) if "configMap" in s
        ]
        cm_names = [s["name"] for s in cm_sources]
        if not expect(
            len(cm_names) == 1 and cm_names[0] in configmaps,
            f"{gn}: {config_dir} holds a ConfigMap of this base ({cm_names})",
        ):
            continue
        data = configmaps[cm_names[0]].get("data", {})
        if not expect(config_file in data, f"{gn}: ConfigMap/{cm_names[0]} has {config_file}"):
            continue
        out = cfg_dir / name
        out.mkdir(parents=True, exist_ok=True)
        for key, text in data.items():
            (out / key).write_text(text)
        to_check.append((f"{name} {config_file}", out / config_file))
        to_check += [(f"{name} {k}", out / k) for k in data if k.endswith((".json", ".xml"))]

        toml = tomllib.loads(data[config_file])
        expect(port_of(toml["listen"]) == ports.get("http"), f"{gn}: listen {toml['listen']} is container port http")
        admin = toml.get("admin", {}).get("listen", "")
        expect(
            admin != "" and port_of(admin) == ports.get("admin") and host_of(admin) in ("0.0.0.0", "::"),
            f"{gn}: [admin] listen {admin!r} on the pod address and container port admin",
        )
        if "tls" in toml:
            expect(port_of(toml["tls"]["listen"]) == ports.get("https"), f"{gn}: [tls] listen is container port https")
        for key in ("cors_rules",):
            for site in toml.get("site", []):
                if key in site:
                    expect(site[key] in data, f"{gn}: site {site.get('name')} {key} {site[key]!r} is in the ConfigMap")
        if "cache" in toml:
            expect(
                mib(toml["cache"].get("max_bytes", "256MiB")) * 2 <= mib(g["resources"]["limits"]["memory"]),
                f"{gn}: [cache] max_bytes at most half the memory limit",
            )

    for s in by_kind.get("Service", []):
        sn = f"{name}: Service/{s['metadata']['name']}"
        sel = s["spec"].get("selector", {})
        pods = [d for d in deployments if selects(sel, d["spec"]["template"]["metadata"].get("labels", {}))]
        if not expect(bool(sel) and bool(pods), f"{sn}: selector matches a Deployment's pods"):
            continue
        ports = named_ports([c for d in pods for c in d["spec"]["template"]["spec"]["containers"]])
        for p in s["spec"]["ports"]:
            t = p.get("targetPort")
            expect(isinstance(t, str) and t in ports, f"{sn}: port {p['name']} targets named container port {t!r}")
        expect(9901 not in [ports.get(p.get("targetPort")) for p in s["spec"]["ports"]], f"{sn}: admin port not exposed")

    for h in by_kind.get("HorizontalPodAutoscaler", []):
        hn = f"{name}: HorizontalPodAutoscaler/{h['metadata']['name']}"
        ref = h["spec"]["scaleTargetRef"]
        target = [d for d in deployments if ref.get("kind") == "Deployment" and d["metadata"]["name"] == ref.get("name")]
        expect(bool(target), f"{hn}: targets a Deployment of this base")
        expect(h["spec"].get("minReplicas", 1) >= 2, f"{hn}: minReplicas >= 2")
        for d in target:
            expect(d["spec"].get("replicas", 1) >= h["spec"]["minReplicas"], f"{hn}: Deployment starts at minReplicas or more")
            containers = d["spec"]["template"]["spec"]["containers"]
            expect(all("cpu" in c.get("resources", {}).get("requests", {}) for c in containers), f"{hn}: every container requests cpu")
        expect(bool(by_kind.get("PodDisruptionBudget")), f"{hn}: an autoscaled base has a PodDisruptionBudget")

    for p in by_kind.get("PodDisruptionBudget", []):
        pn = f"{name}: PodDisruptionBudget/{p['metadata']['name']}"
        sel = p["spec"]["selector"]["matchLabels"]
        expect(
            any(selects(sel, d["spec"]["template"]["metadata"].get("labels", {})) for d in deployments),
            f"{pn}: selector matches a Deployment's pods",
        )
    return to_check


def mib(size: str) -> float:
    m = re.fullmatch(r"(\d+)\s*(MiB|Mi|GiB|Gi)", str(size))
    if not m:
        return float("nan")
    return int(m[1]) * (1024 if m[2].startswith("G") else 1)


def parse_dockerfile(path: Path) -> dict:
    text = re.sub(r"\\\n", " ", path.read_text())
    lines = [l.strip() for l in text.splitlines() if l.strip() and not l.lstrip().startswith("#")]
    final = lines[max(i for i, l in enumerate(lines) if l.upper().startswith("FROM ")) :]
    info = {"uid": None, "expose": set(), "cmd": None, "entrypoint": None}
    for l in final:
        word, _, rest = l.partition(" ")
        word = word.upper()
        if word == "USER":
            info["uid"] = int(rest.split(":")[0])
        elif word == "EXPOSE":
            info["expose"] |= {int(p.split("/")[0]) for p in rest.split()}
        elif word in ("CMD", "ENTRYPOINT"):
            info[word.lower()] = yaml.safe_load(rest)  # exec form is a JSON array
    return info


def check_dockerfile(path: Path, info: dict) -> None:
    expect(info["entrypoint"] == ["/usr/local/bin/corsgate"], f"{path}: ENTRYPOINT is the binary (exec form)")
    expect(isinstance(info["cmd"], list) and "--config" in info["cmd"], f"{path}: CMD names a --config")
    expect(isinstance(info["uid"], int) and info["uid"] != 0, f"{path}: final stage runs as a numeric non-root USER")
    expect({8080, 8443, 9901} <= info["expose"], f"{path}: EXPOSE 8080 8443 9901")


# ---------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", type=Path, required=True)
    ap.add_argument("--corsgate", type=Path, required=True, help="the corsgate binary")
    ap.add_argument("--venv-bin", type=Path, required=True)
    ap.add_argument(
        "--tls-dir",
        type=Path,
        help="tls.crt and tls.key standing in for the Secret a [tls] config names",
    )
    args = ap.parse_args()
    deploy = args.repo / "deploy"
    dockerfile_path = deploy / "Dockerfile"

    with tempfile.TemporaryDirectory(prefix="corsgate-deploy-check.") as tmp:
        tmp = Path(tmp)
        print("== Dockerfile")
        dockerfile = parse_dockerfile(dockerfile_path)
        check_dockerfile(dockerfile_path, dockerfile)
        proc = subprocess.run(
            [str(args.venv_bin / "hadolint"), "--no-color", "--failure-threshold", "style", str(dockerfile_path)],
            capture_output=True,
            text=True,
        )
        for line in (proc.stdout + proc.stderr).splitlines():
            print(f"        {line}")
        expect(proc.returncode == 0 and not proc.stdout.strip(), "hadolint: no findings at any level")
        expect((deploy / "Dockerfile.dockerignore").is_file(), "deploy/Dockerfile.dockerignore exists")

        print("== Kustomize bases")
        bases = sorted(p.parent for p in (deploy / "k8s").glob("*/kustomization.yaml"))
        expect([b.name for b in bases] == ["edge", "sidecar"], f"bases: {[b.name for b in bases]}")
        rendered: list[Path] = []
        to_check: list[tuple[str, Path]] = []
        for base in bases:
            r = render_base(base)
            if r is None:
                continue
            text, objects = r
            out = tmp / f"{base.name}.yaml"
            out.write_text(text)
            rendered.append(out)
            ok(f"{base.name}: rendered {len(objects)} objects: " + ", ".join(f"{o['kind']}/{o['metadata']['name']}" for o in objects))
            to_check += check_base(base.name, objects, dockerfile, tmp / "config")

        print("== Kubernetes schemas (strict)")
        if rendered:
            validate_schemas(args.venv_bin, rendered)

        print("== corsgate check")
        expect(len(to_check) >= 4, f"config files to check: {len(to_check)}")
        for label, path in to_check:
            # `corsgate check` reads the PEM files a [tls] block names; the Secret that
            # provides them in the cluster is stood in for by --tls-dir.
            if args.tls_dir and "[tls]" in path.read_text():
                (path.parent / "tls").mkdir(exist_ok=True)
                for name in ("tls.crt", "tls.key"):
                    shutil.copy(args.tls_dir / name, path.parent / "tls" / name)
            proc = subprocess.run([str(args.corsgate), "check", str(path)], capture_output=True, text=True)
            for line in (proc.stdout + proc.stderr).strip().splitlines():
                print(f"        {line}")
            expect(proc.returncode == 0, f"corsgate check {label}")

    print()
    print(f"deploy-check: {passed} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
