"""The container runtime install and the restartable boot unit, run by bash against
stand-ins (curl serves release assets, systemctl records), and their files through
the real tools (``systemd-analyze verify``, TOML parsing)."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tarfile
import tomllib
from pathlib import Path

import pytest
from test_bootstrap_shell import FAKE_CLOUD, Sandbox

from fleetform.bootstrap.containerd import (
    CONTAINERD_SOCKET,
    RUNTIME_STAMP,
    RuntimePin,
    RuntimePins,
    containerd_config,
    containerd_release_url,
    containerd_unit,
    runc_release_url,
    runtime_install_lines,
)
from fleetform.bootstrap.units import BOOTSTRAP_DONE, bootstrap_unit, start_commands

CURL_ASSETS = r"""
out=""; prev=""
for a in "$@"; do [ "$prev" = "-o" ] && out=$a; prev=$a; done
case "${@: -1}" in
  *containerd-*.tar.gz) cp "$CONTAINERD_TARBALL" "$out" ;;
  */runc.amd64) cp "$RUNC_BINARY" "$out" ;;
  *) exit 22 ;;
esac
"""
# systemctl restart containerd: the daemon comes up and opens its socket.
SYSTEMCTL = r"""
if [ "$1" = restart ] && [ "$2" = containerd ]; then
  python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$SOCKET"
fi
"""


def _tarball(path: Path) -> bytes:
    with tarfile.open(path, "w:gz") as tar:
        for name in ("containerd", "containerd-shim-runc-v2", "ctr"):
            data = b"#!/bin/sh\necho containerd v2\n"
            info = tarfile.TarInfo(f"bin/{name}")
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return path.read_bytes()


class Node:
    """A sandbox whose absolute runtime paths live under ``root``."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        (tmp / "box").mkdir()
        self.box = Sandbox(tmp / "box", FAKE_CLOUD)
        self.box.stub("curl", CURL_ASSETS)
        self.box.stub("systemctl", SYSTEMCTL)
        self.root = tmp / "root"
        for d in ("usr/local/sbin", "usr/local/bin", "var/lib", "run/containerd"):
            (self.root / d).mkdir(parents=True)
        self.tarball = tmp / "containerd.tar.gz"
        self.runc = tmp / "runc.amd64"
        self.runc.write_bytes(b"#!/bin/sh\necho runc 1\n")
        digest = hashlib.sha256(_tarball(self.tarball)).hexdigest()
        self.pins = RuntimePins(
            RuntimePin("2.2.1", containerd_release_url("2.2.1"), digest),
            RuntimePin("1.3.4", runc_release_url("1.3.4"), hashlib.sha256(self.runc.read_bytes()).hexdigest()))

    def rooted(self, script: str) -> str:
        for prefix in ("/usr/local", "/var/lib/fleetform", "/run/fleetform", "/run/containerd"):
            script = script.replace(prefix, f"{self.root}{prefix}")
        return script

    def run(self, pins: RuntimePins) -> subprocess.CompletedProcess[str]:
        script = self.rooted("\n".join(runtime_install_lines(pins)))
        return self.box.run(script, CONTAINERD_TARBALL=str(self.tarball), RUNC_BINARY=str(self.runc),
                            SOCKET=f"{self.root}{CONTAINERD_SOCKET}", FF_WAIT_INTERVAL="1")


def test_runtime_install_verifies_unpacks_and_starts(tmp_path: Path) -> None:
    node = Node(tmp_path)
    result = node.run(node.pins)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (node.root / "usr/local/bin").iterdir()) == [
        "containerd", "containerd-shim-runc-v2", "ctr"]
    assert (node.root / "usr/local/sbin/runc").read_bytes() == node.runc.read_bytes()
    assert (node.root / RUNTIME_STAMP.lstrip("/")).read_text().strip() == "containerd=2.2.1 runc=1.3.4"
    assert ["enable", "containerd"] in node.box.recorded("systemctl")
    urls = [argv[-1] for argv in node.box.recorded("curl")]
    assert urls == [containerd_release_url("2.2.1"), runc_release_url("1.3.4")]


def test_a_restarted_boot_does_not_download_again(tmp_path: Path) -> None:
    node = Node(tmp_path)
    assert node.run(node.pins).returncode == 0
    (node.root / CONTAINERD_SOCKET.lstrip("/")).unlink()
    assert node.run(node.pins).returncode == 0
    assert len(node.box.recorded("curl")) == 2  # the first run's two downloads only


@pytest.mark.parametrize("tampered", ["containerd", "runc"])
def test_a_digest_mismatch_fails_before_anything_is_installed(tmp_path: Path, tampered: str) -> None:
    node = Node(tmp_path)
    wrong = hashlib.sha256(b"tampered").hexdigest()
    c, r = node.pins.containerd, node.pins.runc
    pins = RuntimePins(RuntimePin(c.version, c.url, wrong), r) if tampered == "containerd" else \
        RuntimePins(c, RuntimePin(r.version, r.url, wrong))
    result = node.run(pins)
    assert result.returncode == 1 and "sha256 mismatch" in result.stderr
    assert list((node.root / "usr/local/bin").iterdir()) == []
    assert list((node.root / "usr/local/sbin").iterdir()) == []
    assert not (node.root / RUNTIME_STAMP.lstrip("/")).exists()
    assert ["restart", "containerd"] not in node.box.recorded("systemctl")


def test_runtime_install_passes_shellcheck(tmp_path: Path) -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (scripts/install-system-tools.sh)")
    node = Node(tmp_path)
    script = tmp_path / "runtime.sh"
    script.write_text("#!/bin/bash\nset -euo pipefail\n# shellcheck source=/dev/null\n. /usr/local/lib/fleetform/lib.sh\n"
                      + "\n".join(runtime_install_lines(node.pins)) + "\n")
    out = subprocess.run([shellcheck, "-x", "-S", "style", str(script)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout


def test_containerd_config_is_version_3_with_the_systemd_cgroup_driver() -> None:
    config = tomllib.loads(containerd_config())
    assert config["version"] == 3
    runc = config["plugins"]["io.containerd.cri.v1.runtime"]["containerd"]["runtimes"]["runc"]
    assert runc["runtime_type"] == "io.containerd.runc.v2"
    assert runc["options"] == {"BinaryName": "/usr/local/sbin/runc", "SystemdCgroup": True}


def _verify(unit_dir: Path, name: str) -> subprocess.CompletedProcess[str]:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (scripts/install-system-tools.sh)")
    return subprocess.run([analyze, "verify", "--man=no", str(unit_dir / name)], capture_output=True, text=True,
                          timeout=60)


def test_units_pass_systemd_analyze(tmp_path: Path) -> None:
    (tmp_path / "fleetform-bootstrap.service").write_text(bootstrap_unit("/usr/local/lib/fleetform/bootstrap.sh", "etcd member etcd-0 of cluster shop"))
    out = _verify(tmp_path, "fleetform-bootstrap.service")
    assert out.returncode == 0 and out.stderr == "", out.stderr
    (tmp_path / "containerd.service").write_text(containerd_unit())
    out = _verify(tmp_path, "containerd.service")
    # The binary is installed at boot, not on this machine: the only complaint allowed.
    assert [line for line in out.stderr.splitlines() if "/usr/local/bin/containerd is not executable" not in line] == []


def test_bootstrap_unit_retries_forever_and_runs_once_done() -> None:
    unit = bootstrap_unit("/usr/local/lib/fleetform/bootstrap.sh", "worker of cluster shop")
    lines = set(unit.splitlines())
    assert {"Restart=on-failure", "StartLimitIntervalSec=0", "Type=oneshot",
            f"ConditionPathExists=!{BOOTSTRAP_DONE}", f"ExecStartPost=/usr/bin/touch {BOOTSTRAP_DONE}"} <= lines
    assert start_commands()[-1] == ["systemctl", "enable", "--now", "--no-block", "fleetform-bootstrap.service"]
    with pytest.raises(ValueError):
        bootstrap_unit("/x.sh", "two\nlines")
