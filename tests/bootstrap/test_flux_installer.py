"""The add-on installer (fleetform/bootstrap/flux.py), run for real under bash.

The script, ``lib.sh`` and the AWS ``cloud.sh`` are exactly what a control-plane replica
gets. Only what cannot run here is a stand-in on ``PATH``: ``kubectl`` (an API server
that keeps the applied objects and says what changed; ``kubectl kustomize`` is the real
one), ``curl`` (the release download: a tarball holding a stand-in ``flux``), the
``aws`` CLI (the cluster's bucket), ``sha256sum`` (which accepts that tarball as the
pinned release archive and checks everything else for real), ``sleep`` and ``logger``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from fleetform.bootstrap.document import LIB_DIR
from fleetform.bootstrap.flux import (
    BUCKET_SOURCE,
    CNI_SECRET_VALUES,
    CONFIG_DIR,
    FLUX_PORTS,
    INSTALLER,
    ROOT_KUSTOMIZATION,
    TOLERATIONS,
    UNIT_PATH,
    bucket_source,
    installer_files,
    installer_script,
    installer_start_lines,
    installer_unit,
)
from fleetform.bootstrap.inputs import AddonSource, SecretStore
from fleetform.bootstrap.shell import cloud_library, common_library
from fleetform.catalog.versions import FLUX_CLI_SHA256
from fleetform.plan.firewall import FLUX_ARTIFACT_PORT

API = "api.c1.fleet.acme.example"
SRC = AddonSource("aws", "acme-prod-c1-aws-eu-west-1-addons-x1", "eu-west-1", API)
MESH_SRC = AddonSource("aws", SRC.bucket, "eu-west-1", API, cni_secret_values="c1/cni-secret-values")

CNI_KUSTOMIZATION = {
    "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
    "metadata": {"name": "cni", "namespace": "flux-system"},
    "spec": {"interval": "10m", "path": "./cni", "prune": True, "sourceRef": {"kind": "Bucket", "name": BUCKET_SOURCE}},
}


def _deployment(name: str, ports: dict[str, int], args: list[str]) -> dict[str, Any]:
    """The shape of Flux's controller Deployments (``flux install --export``)."""
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "flux-system",
                     "labels": {"app.kubernetes.io/part-of": "flux", "control-plane": "controller"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}}, "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"serviceAccountName": name, "containers": [{
                "name": "manager", "image": f"ghcr.io/fluxcd/{name}:v1",
                "args": args,
                "env": [{"name": "RUNTIME_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
                "ports": [{"name": p, "containerPort": n, "protocol": "TCP"} for p, n in ports.items()],
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": "healthz"}},
            }]},
        }},
    }


FLUX_EXPORT = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "flux-system"}},
    *({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": crd}}
      for crd in ("buckets.source.toolkit.fluxcd.io", "kustomizations.kustomize.toolkit.fluxcd.io",
                  "helmreleases.helm.toolkit.fluxcd.io")),
    _deployment("source-controller", {"http": 9090, "http-prom": 8080, "healthz": 9440},
                ["--metrics-addr=:8080", "--health-addr=:9440", "--storage-addr=:9090",
                 "--storage-adv-addr=source-controller.$(RUNTIME_NAMESPACE).svc.cluster.local."]),
    _deployment("kustomize-controller", {"http-prom": 8080, "healthz": 9440},
                ["--metrics-addr=:8080", "--health-addr=:9440"]),
    _deployment("helm-controller", {"http-prom": 8080, "healthz": 9440},
                ["--metrics-addr=:8080", "--health-addr=:9440"]),
]

# kubectl: an API server keeping every applied object (by kind/namespace/name) in
# $SANDBOX/api/, answering "serverside-applied" or "unchanged" and logging real changes.
KUBECTL = r'''
import json, os, subprocess, sys
import yaml
box = os.environ["SANDBOX"]
args = sys.argv[1:]
def fail_now():
    # FAIL_MATCH: fail the first FAIL_TIMES calls whose arguments contain it.
    match = os.environ.get("FAIL_MATCH")
    if not match or not any(match in a for a in args):
        return False
    path = os.path.join(box, "failures")
    n = int(open(path).read()) if os.path.exists(path) else 0
    open(path, "w").write(str(n + 1))
    return n < int(os.environ.get("FAIL_TIMES", "0"))
if fail_now():
    print("error: the server is currently unable to handle the request", file=sys.stderr)
    sys.exit(1)
if args[:1] == ["kustomize"]:
    sys.exit(subprocess.run([os.environ["REAL_KUBECTL"], *args]).returncode)
if args[:1] == ["apply"]:
    assert "--server-side" in args and "--field-manager=fleetform-boot" in args, args
    src = args[args.index("-f") + 1]
    text = sys.stdin.read() if src == "-" else open(src).read()
    for obj in yaml.safe_load_all(text):
        if not obj:
            continue
        key = "_".join([obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]])
        path = os.path.join(box, "api", key + ".json")
        new = json.dumps(obj, sort_keys=True)
        old = open(path).read() if os.path.exists(path) else None
        if old == new:
            print(f"{obj['kind']}/{obj['metadata']['name']} unchanged")
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "w").write(new)
        with open(os.path.join(box, "changes"), "a") as log:
            log.write(key + "\n")
        print(f"{obj['kind']}/{obj['metadata']['name']} serverside-applied")
    sys.exit(0)
if "create" in args and "secret" in args:
    assert "--dry-run=client" in args
    name = args[args.index("generic") + 1]
    source = next(a for a in args if a.startswith("--from-file=")).split("=", 2)
    print(yaml.safe_dump({"apiVersion": "v1", "kind": "Secret",
                          "metadata": {"name": name, "namespace": args[args.index("-n") + 1]},
                          "stringData": {source[1]: open(source[2]).read()}}))
    sys.exit(0)
if args[:1] in (["wait"], ["get"]) or "wait" in args:
    sys.exit(0)
print("unexpected kubectl call", args, file=sys.stderr)
sys.exit(3)
'''

# sha256sum -c: real digests, except that the stand-in release archive counts as the
# pinned one (it is what `curl` serves for the release URL).
SHA256SUM = r'''
import hashlib, os, sys
assert sys.argv[1:] == ["-c", "--quiet", "-"], sys.argv
fake, pinned = os.environ["RELEASE_FAKE_SHA256"], os.environ["RELEASE_PINNED_SHA256"]
ok = True
for line in sys.stdin.read().splitlines():
    digest, path = line.split("  ", 1)
    real = hashlib.sha256(open(path, "rb").read()).hexdigest()
    if not (real == digest or (real == fake and digest == pinned)):
        print(f"{path}: FAILED", file=sys.stderr)
        ok = False
sys.exit(0 if ok else 1)
'''


def _flux_tarball(path: Path) -> str:
    export = yaml.safe_dump_all(FLUX_EXPORT, sort_keys=False)
    flux = f"#!/bin/bash\ncat <<'EOF'\n{export}EOF\n".encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("flux")
        info.size, info.mode = len(flux), 0o755
        tar.addfile(info, io.BytesIO(flux))
    path.write_bytes(buf.getvalue())
    return hashlib.sha256(buf.getvalue()).hexdigest()


class Node:
    """A control-plane replica's file system for the installer, with stand-ins on PATH."""

    def __init__(self, root: Path, src: AddonSource) -> None:
        if shutil.which("kubectl") is None:
            pytest.skip("kubectl (with its built-in kustomize) is not installed; scripts/install-system-tools.sh")
        self.root, self.src = root, src
        self.bin = root / "bin"
        self.bin.mkdir()
        self.calls = root / "calls.jsonl"
        (root / "lib").mkdir()
        (root / "lib" / "lib.sh").write_text(common_library())
        (root / "lib" / "cloud.sh").write_text(cloud_library(SecretStore("aws", "eu-west-1")))
        for f in installer_files(src):
            target = root / "fs" / f.path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(f.content.replace(LIB_DIR + "/lib.sh", str(root / "lib" / "lib.sh"))
                              .replace(LIB_DIR + "/cloud.sh", str(root / "lib" / "cloud.sh")))
        self.script = root / "fs" / INSTALLER.lstrip("/")
        self.fake_sha = _flux_tarball(root / "release.tar.gz")
        (root / "corrupt.tar.gz").write_bytes(b"not the release")
        bucket = root / "bucket" / src.bucket
        (bucket / "flux").mkdir(parents=True)
        (bucket / "flux" / "cni.yaml").write_text(yaml.safe_dump(CNI_KUSTOMIZATION))
        self.stub("sleep", 'echo "$1" >>"$SANDBOX/sleeps"')
        self.stub("logger", "exit 0")
        self.stub("kubectl", 'exec python3 "$SANDBOX/kubectl.py" "$@"')
        (root / "kubectl.py").write_text(KUBECTL)
        self.stub("sha256sum", 'exec python3 "$SANDBOX/sha256sum.py" "$@"')
        (root / "sha256sum.py").write_text(SHA256SUM)
        # curl -fsSL --max-time N -o FILE URL: the first CORRUPT downloads are damaged.
        self.stub("curl", """out=${@: -2:1}
n=$(cat "$SANDBOX/downloads" 2>/dev/null || echo 0); echo $((n + 1)) >"$SANDBOX/downloads"
if [ "$n" -lt "${CORRUPT:-0}" ]; then cp "$SANDBOX/corrupt.tar.gz" "$out"; else cp "$SANDBOX/release.tar.gz" "$out"; fi""")
        # aws s3 cp s3://BUCKET/KEY DEST (the machine identity's read of the bucket).
        self.stub("aws", """[ "$1 $2" = "s3 cp" ] || exit 2
src=${@: -2:1}; dest=${@: -1}
cp "$SANDBOX/bucket/${src#s3://}" "$dest" """)
        self.stub("secret-store", "exit 0")

    def stub(self, name: str, body: str) -> None:
        record = ('python3 -c \'import json, sys; print(json.dumps({"prog": sys.argv[1], "argv": sys.argv[2:]}))\' '
                  f'{name} "$@" >>"$SANDBOX/calls.jsonl"\n')
        path = self.bin / name
        path.write_text("#!/bin/bash\n" + record + body + "\n")
        path.chmod(0o755)

    def run(self, **env: str) -> subprocess.CompletedProcess[str]:
        environment = {
            "PATH": f"{self.bin}:/usr/bin:/bin",
            "SANDBOX": str(self.root),
            "REAL_KUBECTL": str(shutil.which("kubectl")),
            "RELEASE_FAKE_SHA256": self.fake_sha,
            "RELEASE_PINNED_SHA256": FLUX_CLI_SHA256["amd64"],
            "FF_CONFIG": str(self.root / "fs" / CONFIG_DIR.lstrip("/")),
            "FF_FLUX_HOME": str(self.root / "flux-home"),
            "FF_STATE": str(self.root / "state"),
            "FF_AWS": str(self.bin / "aws"),
            "FF_RETRY_ATTEMPTS": "4",
            "KUBECONFIG": str(self.root / "admin.conf"),
            **env,
        }
        return subprocess.run(["bash", str(self.script)], capture_output=True, text=True, timeout=60,
                              env=environment)

    def recorded(self, prog: str) -> list[list[str]]:
        calls = [json.loads(line) for line in self.calls.read_text().splitlines()] if self.calls.exists() else []
        return [c["argv"] for c in calls if c["prog"] == prog]

    def kubectl_steps(self) -> list[str]:
        """Each kubectl call as one line, in order (applies name their file's objects)."""
        out = []
        for argv in self.recorded("kubectl"):
            if argv[0] == "apply":
                src = argv[argv.index("-f") + 1]
                out.append("apply " + ("-" if src == "-" else Path(src).name))
            else:
                out.append(" ".join(a for a in argv if not a.startswith("--timeout")))
        return out

    def changes(self) -> list[str]:
        path = self.root / "changes"
        return path.read_text().split() if path.exists() else []

    def api(self) -> dict[str, Any]:
        return {p.stem: json.loads(p.read_text()) for p in sorted((self.root / "api").glob("*.json"))}

    def sleeps(self) -> list[str]:
        path = self.root / "sleeps"
        return path.read_text().split() if path.exists() else []


def test_installer_scripts_pass_shellcheck(tmp_path: Path) -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed; scripts/install-system-tools.sh")
    for i, src in enumerate((SRC, MESH_SRC, AddonSource("gcp", "p-c1-gcp-europe-west1-addons", "europe-west1", API))):
        path = tmp_path / f"install-{i}.sh"
        path.write_text(installer_script(src))
        result = subprocess.run(["shellcheck", "-s", "bash", "-x", "-e", "SC1091", str(path)],
                                capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout


def test_the_cni_comes_first_then_the_rest_of_the_bundle(tmp_path: Path) -> None:
    node = Node(tmp_path, SRC)
    result = node.run()
    assert result.returncode == 0, result.stderr
    steps = node.kubectl_steps()
    assert steps == [
        "get --raw=/readyz",
        f"kustomize {node.root / 'fs' / CONFIG_DIR.lstrip('/') / 'flux'}",
        "apply flux.yaml",
        "wait --for=condition=Established crd/buckets.source.toolkit.fluxcd.io "
        "crd/kustomizations.kustomize.toolkit.fluxcd.io crd/helmreleases.helm.toolkit.fluxcd.io",
        "apply source.yaml",
        "apply cni.yaml",
        "-n flux-system wait kustomization/cni --for=condition=Ready",
        "apply root.yaml",
    ]
    # The CNI's Kustomization is the bundle's own object, read with the machine's identity.
    assert node.recorded("aws")[0][-2:] == [f"s3://{SRC.bucket}/flux/cni.yaml", str(tmp_path / "state" / "cni.yaml")]
    api = node.api()
    assert api["Kustomization_flux-system_cni"] == CNI_KUSTOMIZATION
    assert api[f"Bucket_flux-system_{BUCKET_SOURCE}"] == bucket_source(SRC)
    assert api[f"Bucket_flux-system_{BUCKET_SOURCE}"]["spec"] == {
        "bucketName": SRC.bucket, "endpoint": "s3.eu-west-1.amazonaws.com", "provider": "aws",
        "region": "eu-west-1", "interval": "1m", "timeout": "120s"}
    root = api[f"Kustomization_flux-system_{ROOT_KUSTOMIZATION}"]
    assert root["spec"]["path"] == "./flux" and root["spec"]["prune"] is True
    # The pinned CLI was downloaded once and installed.
    assert (tmp_path / "flux-home" / "2.8.8" / "flux").exists()
    assert len(node.recorded("curl")) == 1


def test_flux_runs_on_the_host_network_of_control_plane_nodes_without_port_clashes(tmp_path: Path) -> None:
    node = Node(tmp_path, SRC)
    assert node.run().returncode == 0
    api = node.api()
    used: dict[int, str] = {}
    for name, ports in FLUX_PORTS.items():
        pod = api[f"Deployment_flux-system_{name}"]["spec"]["template"]["spec"]
        assert pod["hostNetwork"] is True and pod["dnsPolicy"] == "Default"
        assert pod["nodeSelector"] == {"node-role.kubernetes.io/control-plane": ""}
        assert pod["tolerations"] == [dict(t) for t in TOLERATIONS]
        manager = pod["containers"][0]
        assert {p["name"]: p["containerPort"] for p in manager["ports"]} == ports
        env = {e["name"]: e.get("value") for e in manager["env"]}
        assert env["KUBERNETES_SERVICE_HOST"] == API and env["KUBERNETES_SERVICE_PORT"] == "6443"
        # Appended flags override the defaults (the last one wins): own ports only.
        flags = {}
        for a in manager["args"]:
            k, _, v = a.partition("=")
            flags[k] = v
        assert flags["--metrics-addr"] == f":{ports['http-prom']}" and flags["--health-addr"] == f":{ports['healthz']}"
        for port in ports.values():
            assert port not in used, (name, port, used.get(port))
            used[port] = name
    source = api["Deployment_flux-system_source-controller"]["spec"]["template"]["spec"]["containers"][0]
    assert f"--storage-adv-addr=$(HOST_IP):{FLUX_ARTIFACT_PORT}" == source["args"][-1]
    assert {"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}} in source["env"]


def test_a_rerun_changes_nothing(tmp_path: Path) -> None:
    node = Node(tmp_path, MESH_SRC)
    secret = tmp_path / "cni-values.yaml"
    secret.write_text("tls:\n  ca:\n    cert: Q0VSVA==\n")
    store = f'cat {secret}'
    node.stub("aws", f"""case "$1 $2" in
  "s3 cp") src=${{@: -2:1}}; cp "$SANDBOX/bucket/${{src#s3://}}" "${{@: -1}}" ;;
  "secretsmanager get-secret-value") {store} ;;
  *) exit 2 ;;
esac""")
    assert node.run().returncode == 0
    first, api = node.changes(), node.api()
    assert f"Secret_flux-system_{CNI_SECRET_VALUES}" in first
    assert api[f"Secret_flux-system_{CNI_SECRET_VALUES}"]["stringData"]["values.yaml"] == secret.read_text()
    downloads = len(node.recorded("curl"))
    again = node.run()
    assert again.returncode == 0, again.stderr
    assert node.changes() == first  # no object changed on the second run
    assert node.api() == api
    assert len(node.recorded("curl")) == downloads  # the verified CLI is kept
    assert again.stdout.count("serverside-applied") == 0 and "unchanged" in again.stdout


def test_a_failed_step_is_retried_not_skipped(tmp_path: Path) -> None:
    node = Node(tmp_path, SRC)
    result = node.run(FAIL_MATCH="source.yaml", FAIL_TIMES="2")
    assert result.returncode == 0, result.stderr
    steps = node.kubectl_steps()
    applies = [s for s in steps if s.startswith("apply")]
    # Two failed attempts, then the Bucket; only then the CNI and the rest.
    assert applies == ["apply flux.yaml", "apply source.yaml", "apply source.yaml", "apply source.yaml",
                       "apply cni.yaml", "apply root.yaml"]
    assert node.sleeps() == ["2", "4"]
    assert "the Bucket source: attempt 2 failed" in result.stderr


def test_a_corrupt_download_is_refused_and_fetched_again(tmp_path: Path) -> None:
    node = Node(tmp_path, SRC)
    result = node.run(CORRUPT="1")
    assert result.returncode == 0, result.stderr
    assert len(node.recorded("curl")) == 2
    assert "download or checksum check failed" in result.stderr
    assert (tmp_path / "flux-home" / "2.8.8" / "flux").exists()


def test_a_step_that_keeps_failing_fails_the_unit_for_systemd_to_restart(tmp_path: Path) -> None:
    node = Node(tmp_path, SRC)
    result = node.run(FAIL_MATCH="kustomization/cni", FAIL_TIMES="99")
    assert result.returncode != 0
    assert "the CNI: giving up after 4 attempts" in result.stderr
    # Nothing after the CNI was applied: the root Kustomization waits for a working CNI.
    assert "apply root.yaml" not in node.kubectl_steps()
    unit = installer_unit()
    assert "Restart=on-failure" in unit and "StartLimitIntervalSec=0" in unit and f"ExecStart=/bin/bash {INSTALLER}" in unit


def test_the_unit_is_handed_over_at_the_end_of_the_first_replica_boot() -> None:
    files = {f.path: f for f in installer_files(SRC)}
    assert set(files) >= {INSTALLER, UNIT_PATH}
    assert files[INSTALLER].permissions == "0700"
    assert installer_start_lines()[-1] == "systemctl enable --now --no-block fleetform-addons.service"
    # Nothing secret travels in the files: the mesh values come from the secret store.
    mesh = "\n".join(f.content for f in installer_files(MESH_SRC))
    assert "c1/cni-secret-values" in mesh and "PRIVATE KEY" not in mesh
    assert os.path.basename(UNIT_PATH) == "fleetform-addons.service"


# ---------------------------------------------------------------- provider IDs at boot

METADATA_CURL = r"""
url=${@: -1}
case "$url" in
  */latest/api/token) printf 'imds-token' ;;
  */meta-data/placement/availability-zone) grep -q 'X-aws-ec2-metadata-token: imds-token' /dev/stdin && printf 'eu-west-1b' ;;
  */meta-data/instance-id) grep -q 'X-aws-ec2-metadata-token: imds-token' /dev/stdin && printf 'i-0123456789abcdef0' ;;
  */project/project-id) printf 'acme-fleet' ;;
  */instance/zone) printf 'projects/123456/zones/europe-west1-c' ;;
  */instance/name) printf 'c1-gcp-europe-west1-workers-general-x1z9' ;;
  *) exit 22 ;;
esac
"""


@pytest.mark.parametrize(("store", "expected"), [
    (SecretStore("aws", "eu-west-1"), "aws:///eu-west-1b/i-0123456789abcdef0"),
    (SecretStore("gcp", "europe-west1", "acme-fleet"), "gce://acme-fleet/europe-west1-c/c1-gcp-europe-west1-workers-general-x1z9"),
])
def test_the_kubelet_gets_the_provider_id_the_cloud_controller_manager_expects(
        tmp_path: Path, store: SecretStore, expected: str) -> None:
    (tmp_path / "bin").mkdir()
    curl = tmp_path / "bin" / "curl"
    curl.write_text("#!/bin/bash\n" + METADATA_CURL)
    curl.chmod(0o755)
    (tmp_path / "lib.sh").write_text(common_library())
    (tmp_path / "cloud.sh").write_text(cloud_library(store))
    template = tmp_path / "kubeadm.yaml.tmpl"
    template.write_text("providerID: {{fleetform:provider-id}}\n")
    script = (f"set -euo pipefail\n. {tmp_path}/lib.sh\n. {tmp_path}/cloud.sh\n"
              f"ff_write_provider_id {tmp_path}/provider-id\n"
              f"ff_render_template {template} {tmp_path}/kubeadm.yaml 0600 provider-id={tmp_path}/provider-id\n")
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin"}
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30, env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "kubeadm.yaml").read_text() == f"providerID: {expected}\n"
    # A malformed ID (metadata service answering garbage) fails the boot instead.
    (tmp_path / "provider-id").write_text("aws:///not an id\n")
    bad = subprocess.run(["bash", "-c", f"set -euo pipefail\n. {tmp_path}/lib.sh\n"
                          f"ff_render_template {template} {tmp_path}/kubeadm.yaml 0600 provider-id={tmp_path}/provider-id"],
                         capture_output=True, text=True, timeout=30, env=env)
    assert bad.returncode != 0 and "provider-id" in bad.stderr


def test_the_installer_and_the_bundle_agree_on_names() -> None:
    from fleetform.addons import cni, model
    from fleetform.bootstrap import flux

    assert (flux.BUCKET_SOURCE, flux.BUNDLE_FLUX_DIR, flux.FLUX_NAMESPACE, flux.CNI_SECRET_VALUES) == (
        model.BUCKET_SOURCE, model.FLUX_DIR, model.FLUX_NAMESPACE, model.CNI_SECRET_VALUES)
    assert SRC.cni_kustomization == cni.NAME and SRC.cni_object == f"{model.FLUX_DIR}/{cni.NAME}.yaml"
