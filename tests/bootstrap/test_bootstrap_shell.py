"""The boot libraries, executed by bash against stand-ins for the cloud CLIs/APIs.

``lib.sh`` and ``cloud.sh`` are exactly what the documents write; only the programs
they call (``curl``, ``aws``, ``snap``, ``sleep``, ``logger``) are replaced by small
scripts on ``PATH`` that record their arguments and answer like the real services.
"""

from __future__ import annotations

import base64
import grp
import hashlib
import json
import os
import pwd
import stat
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from fleetform.bootstrap import (
    EtcdNodeInputs,
    SecretStore,
    cloud_library,
    common_library,
    secret_fetch_commands,
)
from fleetform.bootstrap.etcd import etcd_bootstrap_script
from fleetform.bootstrap.inputs import SecretFile

OWNER = f"{pwd.getpwuid(os.getuid()).pw_name}:{grp.getgrgid(os.getgid()).gr_name}"
SECRET_PEM = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIFakeFakeFake\n-----END EC PRIVATE KEY-----\n"
TOKEN = "ya29.metadata-access-token"


class Sandbox:
    """A directory holding lib.sh, a cloud.sh and stub programs, and a way to run bash in it."""

    def __init__(self, root: Path, cloud_sh: str) -> None:
        self.root = root
        self.bin = root / "bin"
        self.bin.mkdir()
        self.calls = root / "calls.jsonl"
        (root / "lib.sh").write_text(common_library())
        (root / "cloud.sh").write_text(cloud_sh)
        # Record every sleep instead of sleeping; logger must not reach the host's syslog.
        self.stub("sleep", 'echo "$1" >>"$SANDBOX/sleeps"')
        self.stub("logger", "exit 0")

    def stub(self, name: str, body: str) -> None:
        path = self.bin / name
        record = (
            'python3 -c \'import json, sys; print(json.dumps({"prog": sys.argv[1], "argv": sys.argv[2:]}))\' '
            f'{name} "$@" >>"$SANDBOX/calls.jsonl"\n'
        )
        path.write_text("#!/bin/bash\n" + record + body + "\n")
        path.chmod(0o755)

    def run(self, script: str, **env: str) -> subprocess.CompletedProcess[str]:
        full = f"set -euo pipefail\n. {self.root}/lib.sh\n. {self.root}/cloud.sh\n{script}\n"
        environment = {
            "PATH": f"{self.bin}:/usr/bin:/bin",
            "SANDBOX": str(self.root),
            "FF_RETRY_BASE_DELAY": "2",
            **env,
        }
        return subprocess.run(["bash", "-c", full], capture_output=True, text=True, timeout=30, env=environment)

    def recorded(self, prog: str | None = None) -> list[list[str]]:
        if not self.calls.exists():
            return []
        calls = [json.loads(line) for line in self.calls.read_text().splitlines()]
        return [c["argv"] for c in calls if prog is None or c["prog"] == prog]

    def sleeps(self) -> list[int]:
        path = self.root / "sleeps"
        return [int(x) for x in path.read_text().split()] if path.exists() else []


FAKE_CLOUD = """
ff_cloud_prepare() { :; }
# Fails until the counter reaches FAIL_TIMES, like a role whose IAM grant is still propagating.
ff_secret_read() {
  local n; n=$(cat "$SANDBOX/count" 2>/dev/null || echo 0); echo $((n + 1)) >"$SANDBOX/count"
  if [ "$n" -lt "${FAIL_TIMES:-0}" ]; then echo "AccessDenied" >&2; return 1; fi
  printf 'value-of-%s\\n' "$1"
}
"""


def test_fetch_secret_retries_with_backoff_then_writes_a_private_file(tmp_path: Path) -> None:
    box = Sandbox(tmp_path, FAKE_CLOUD)
    dest = tmp_path / "etc" / "pki" / "ca.key"
    result = box.run(f"ff_fetch_secret c1/pki/ca-key {dest} 0600 {OWNER}", FAIL_TIMES="3")
    assert result.returncode == 0, result.stderr
    assert dest.read_text() == "value-of-c1/pki/ca-key\n"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert box.sleeps() == [2, 4, 8]  # exponential backoff
    assert result.stderr.count("attempt") == 3
    assert sorted(p.name for p in dest.parent.iterdir()) == ["ca.key"]  # no temp file left


def test_fetch_secret_fails_the_boot_loudly_when_the_secret_never_comes(tmp_path: Path) -> None:
    box = Sandbox(tmp_path, FAKE_CLOUD)
    dest = tmp_path / "pki" / "ca.key"
    result = box.run(f"ff_fetch_secret c1/pki/ca-key {dest} 0600 {OWNER}\necho after", FAIL_TIMES="1000")
    assert result.returncode == 1
    assert "FATAL: fetch secret c1/pki/ca-key: giving up after 10 attempts" in result.stderr
    assert "after" not in result.stdout  # nothing after a failed fetch runs
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []
    # Default schedule: about five minutes of waiting for IAM propagation, capped at 60s.
    assert box.sleeps() == [2, 4, 8, 16, 32, 60, 60, 60, 60]


def test_an_empty_secret_is_a_failed_fetch(tmp_path: Path) -> None:
    box = Sandbox(tmp_path, "ff_cloud_prepare() { :; }\nff_secret_read() { :; }\n")
    result = box.run(f"ff_fetch_secret s {tmp_path}/out 0600 {OWNER}", FF_RETRY_ATTEMPTS="2")
    assert result.returncode == 1 and "secret s is empty" in result.stderr


def test_secret_fetch_commands_quote_and_sort() -> None:
    lines = secret_fetch_commands(
        [SecretFile("b", "/etc/b.key"), SecretFile("arn:aws:secretsmanager:eu-west-1:1:secret:a", "/etc/a.key", "0640", "root:etcd")]
    )
    assert lines == [
        "ff_fetch_secret arn:aws:secretsmanager:eu-west-1:1:secret:a /etc/a.key 0640 root:etcd",
        "ff_fetch_secret b /etc/b.key 0600 root:root",
    ]
    with pytest.raises(ValueError, match="same path"):
        secret_fetch_commands([SecretFile("a", "/x"), SecretFile("b", "/x")])


def test_render_template_fills_validated_secrets(tmp_path: Path) -> None:
    box = Sandbox(tmp_path, FAKE_CLOUD)
    template = tmp_path / "kubeadm.yaml.tmpl"
    template.write_text("token: '{{fleetform:bootstrap-token}}'\nkey: '{{fleetform:secretbox-key}}'\n")
    token, key = tmp_path / "token", tmp_path / "key"
    token.write_text("abcdef.0123456789abcdef\n")
    key.write_text(base64.b64encode(bytes(range(32))).decode() + "\n")
    out = tmp_path / "kubeadm.yaml"
    ok = box.run(f"ff_render_template {template} {out} 0600 bootstrap-token={token} secretbox-key={key}")
    assert ok.returncode == 0, ok.stderr
    assert yaml.safe_load(out.read_text()) == {
        "token": "abcdef.0123456789abcdef",
        "key": base64.b64encode(bytes(range(32))).decode(),
    }
    assert stat.S_IMODE(out.stat().st_mode) == 0o600

    # Malformed secrets fail the boot with a clear message and write nothing.
    for bad_token, bad_key in (("not-a-token", key.read_text()), (token.read_text(), base64.b64encode(b"16 bytes only!!!").decode())):
        token.write_text(bad_token)
        key.write_text(bad_key)
        out.unlink(missing_ok=True)
        bad = box.run(f"ff_render_template {template} {out} 0600 bootstrap-token={token} secretbox-key={key}")
        assert bad.returncode != 0 and "is malformed" in bad.stderr
        assert not out.exists()

    # A placeholder left unfilled is an error too.
    token.write_text("abcdef.0123456789abcdef")
    partial = box.run(f"ff_render_template {template} {out} 0600 bootstrap-token={token}")
    assert partial.returncode != 0 and "unfilled placeholders" in partial.stderr


GCP_CURL = r"""
url="${@: -1}"
case "$url" in
  http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token)
    [[ " $* " == *" Metadata-Flavor: Google "* ]] || { echo "missing Metadata-Flavor" >&2; exit 22; }
    echo '{"access_token":"ya29.metadata-access-token","expires_in":3599,"token_type":"Bearer"}' ;;
  *)
    headers=$(cat)   # -H @- : the Authorization header arrives on stdin
    [[ "$headers" == "Authorization: Bearer ya29.metadata-access-token" ]] || { echo "bad auth: $headers" >&2; exit 22; }
    case "$url" in
      https://secretmanager.googleapis.com/v1/*:access)
        printf '{"name":"x","payload":{"data":"%s"}}' "$SECRET_B64" ;;
      *uploadType=media*)
        for a in "$@"; do case "$a" in @*) cp "${a#@}" "$SANDBOX/uploaded" ;; esac; done ;;
      *alt=media)
        out=""; prev=""
        for a in "$@"; do [ "$prev" = "-o" ] && out=$a; prev=$a; done
        echo "snapshot bytes" >"$out" ;;
      *) exit 22 ;;
    esac ;;
esac
"""


def test_gcp_library_reads_secret_manager_with_the_metadata_token(tmp_path: Path) -> None:
    box = Sandbox(tmp_path, cloud_library(SecretStore("gcp", "europe-west1", "fleet-prod-1")))
    box.stub("curl", GCP_CURL)
    dest = tmp_path / "pki" / "ca.key"
    env = {"SECRET_B64": base64.b64encode(SECRET_PEM.encode()).decode()}
    result = box.run(f"ff_cloud_prepare\nff_fetch_secret c1-ca-key {dest} 0600 {OWNER}", **env)
    assert result.returncode == 0, result.stderr
    assert dest.read_text() == SECRET_PEM
    urls = [argv[-1] for argv in box.recorded("curl")]
    assert urls == [
        "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token",
        "https://secretmanager.googleapis.com/v1/projects/fleet-prod-1/secrets/c1-ca-key/versions/latest:access",
    ]
    # The token never appears on a command line.
    assert all(TOKEN not in arg for argv in box.recorded() for arg in argv)

    # Full resource names and pinned versions pass through.
    box.calls.unlink()
    pinned = box.run(f"ff_fetch_secret projects/other/secrets/s/versions/3 {dest} 0600 {OWNER}", **env)
    assert pinned.returncode == 0, pinned.stderr
    assert box.recorded("curl")[-1][-1] == "https://secretmanager.googleapis.com/v1/projects/other/secrets/s/versions/3:access"


def test_gcp_library_puts_and_gets_objects(tmp_path: Path) -> None:
    box = Sandbox(tmp_path, cloud_library(SecretStore("gcp", "europe-west1", "fleet-prod-1")))
    box.stub("curl", GCP_CURL)
    snapshot = tmp_path / "snapshot.db"
    snapshot.write_text("db")
    put = box.run(f"ff_object_put {snapshot} fleet-backups etcd/c1/20260101T000000Z-etcd-0.db")
    assert put.returncode == 0, put.stderr
    assert (tmp_path / "uploaded").read_text() == "db"
    upload = box.recorded("curl")[-1]
    assert upload[-1] == (
        "https://storage.googleapis.com/upload/storage/v1/b/fleet-backups/o"
        "?uploadType=media&name=etcd%2Fc1%2F20260101T000000Z-etcd-0.db"
    )
    assert f"@{snapshot}" in upload
    got = tmp_path / "restore.db"
    get = box.run(f"ff_object_get fleet-backups etcd/c1/x.db {got}")
    assert get.returncode == 0, get.stderr
    assert got.read_text() == "snapshot bytes\n"
    assert box.recorded("curl")[-1][-1] == "https://storage.googleapis.com/storage/v1/b/fleet-backups/o/etcd%2Fc1%2Fx.db?alt=media"


AWS_CLI = r"""
case "$1 $2" in
  "secretsmanager get-secret-value") printf '%s\n' "$SECRET" ;;
  "s3 cp") : ;;
  *) exit 2 ;;
esac
"""


def test_aws_library_uses_secrets_manager_s3_and_installs_the_cli(tmp_path: Path) -> None:
    box = Sandbox(tmp_path, cloud_library(SecretStore("aws", "eu-west-1")))
    aws = tmp_path / "snap-bin-aws"
    # `snap install` creates the CLI, as the real snap does.
    box.stub("snap", f'if [ "$1" = install ]; then cp "$SANDBOX/bin/aws-impl" {aws}; fi')
    box.stub("aws-impl", AWS_CLI)
    dest = tmp_path / "etcd" / "server.key"
    env = {"FF_AWS": str(aws), "SECRET": SECRET_PEM.strip()}
    script = (
        f"ff_cloud_prepare\nff_fetch_secret c1/etcd/etcd-0/server-key {dest} 0600 {OWNER}\n"
        f"ff_object_put {dest} fleet-backups etcd/c1/s.db\nff_object_get fleet-backups etcd/c1/s.db {tmp_path}/r.db"
    )
    result = box.run(script, **env)
    assert result.returncode == 0, result.stderr
    assert box.recorded("snap") == [["wait", "system", "seed.loaded"], ["install", "aws-cli", "--classic"]]
    assert dest.read_text() == SECRET_PEM
    assert box.recorded("aws-impl") == [
        ["secretsmanager", "get-secret-value", "--region", "eu-west-1", "--secret-id", "c1/etcd/etcd-0/server-key",
         "--query", "SecretString", "--output", "text"],
        ["s3", "cp", "--only-show-errors", "--region", "eu-west-1", str(dest), "s3://fleet-backups/etcd/c1/s.db"],
        ["s3", "cp", "--only-show-errors", "--region", "eu-west-1", "s3://fleet-backups/etcd/c1/s.db", f"{tmp_path}/r.db"],
    ]
    # Already installed: no second snap install.
    again = box.run("ff_cloud_prepare", **env)
    assert again.returncode == 0 and len(box.recorded("snap")) == 2


def test_wait_gives_up_after_its_deadline(tmp_path: Path) -> None:
    box = Sandbox(tmp_path, FAKE_CLOUD)
    result = box.run("ff_wait 'API server' 20 false", FF_WAIT_INTERVAL="5")
    assert result.returncode == 1 and "FATAL: API server: not ready after 20s" in result.stderr
    assert box.sleeps() == [5, 5, 5, 5]


def _etcd_install_block(script: str, bin_dir: Path) -> str:
    lines = script.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("# etcd ") and "release tarball" in line)
    end = next(i for i in range(start, len(lines)) if lines[i] == "esac")
    return "\n".join(lines[start : end + 1]).replace("/usr/local/bin", str(bin_dir))


CURL_RELEASE = r"""
out=""; prev=""
for a in "$@"; do [ "$prev" = "-o" ] && out=$a; prev=$a; done
case "${@: -1}" in
  */SHA256SUMS) printf '%s' "$SUMS" >"$out" ;;
  *.tar.gz) cp "$TARBALL" "$out" ;;
  *) exit 22 ;;
esac
"""


@pytest.mark.parametrize(
    ("pinned", "sums_entry", "ok"),
    [("right", None, True), ("wrong", None, False), (None, "right", True), (None, "missing", False), (None, "wrong", False)],
)
def test_etcd_install_checks_the_tarball_before_unpacking(
    tmp_path: Path,
    etcd_inputs: Callable[..., EtcdNodeInputs],
    pinned: str | None,
    sums_entry: str | None,
    ok: bool,
) -> None:
    release = tmp_path / "release" / "etcd-v3.6.5-linux-amd64"
    release.mkdir(parents=True)
    for name in ("etcd", "etcdctl", "etcdutl"):
        (release / name).write_text("#!/bin/sh\necho 'etcd Version: 3.6.5'\n")
    tarball = tmp_path / "etcd.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(release, arcname=release.name)
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    wrong = hashlib.sha256(b"tampered").hexdigest()
    sha = {"right": digest, "wrong": wrong, None: None}[pinned]
    sums = {
        "right": f"{wrong}  etcd-v3.6.5-linux-arm64.tar.gz\n{digest}  etcd-v3.6.5-linux-amd64.tar.gz\n",
        "wrong": f"{wrong}  etcd-v3.6.5-linux-amd64.tar.gz\n",
        "missing": f"{digest}  etcd-v3.6.5-darwin-amd64.zip\n",
        None: "",
    }[sums_entry]

    (tmp_path / "box").mkdir()
    box = Sandbox(tmp_path / "box", FAKE_CLOUD)
    box.stub("curl", CURL_RELEASE)
    installed = tmp_path / "usr-local-bin"
    installed.mkdir()
    script = etcd_bootstrap_script(replace(etcd_inputs("etcd-0"), sha256=sha))
    result = box.run(_etcd_install_block(script, installed), TARBALL=str(tarball), SUMS=sums)
    if ok:
        assert result.returncode == 0, result.stderr
        assert sorted(p.name for p in installed.iterdir()) == ["etcd", "etcdctl", "etcdutl"]
    else:
        assert result.returncode == 1
        assert "sha256 mismatch" in result.stderr or "lists no etcd-v3.6.5-linux-amd64.tar.gz" in result.stderr
        assert list(installed.iterdir()) == []  # nothing unpacked or installed
