"""A control-plane replica waits for a quorum of etcd, not every member: run by bash with
a curl stand-in that answers like etcd's /health for the members listed as up."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from test_bootstrap_shell import FAKE_CLOUD, Sandbox

from fleetform.bootstrap.waits import etcd_quorum_wait_lines, kubeadm_preflight_arg

ENDPOINTS = [f"https://etcd-{i}.shop.fleet.example:2379" for i in range(3)]
# /health of the members in $UP (space separated indexes); the others refuse.
CURL_HEALTH = r"""
url="${@: -1}"
for i in $UP; do
  if [ "$url" = "https://etcd-$i.shop.fleet.example:2379/health" ]; then echo '{"health":"true","reason":""}'; exit 0; fi
done
exit 7
"""


def _script() -> str:
    lines = etcd_quorum_wait_lines(ENDPOINTS, "/ca.crt", "/c.crt", "/c.key")
    return "\n".join([*lines, f'printf "%s\\n" kubeadm init {kubeadm_preflight_arg()} >"$SANDBOX/kubeadm"'])


def _run(tmp_path: Path, up: str) -> tuple[subprocess.CompletedProcess[str], Sandbox]:
    box = Sandbox(tmp_path, FAKE_CLOUD)
    box.stub("curl", CURL_HEALTH)
    return box.run(_script(), UP=up, FF_WAIT_INTERVAL="5"), box


def test_two_of_three_members_are_enough_and_kubeadm_skips_the_version_check(tmp_path: Path) -> None:
    result, box = _run(tmp_path, "0 2")
    assert result.returncode == 0, result.stderr
    assert box.sleeps() == []
    assert (tmp_path / "kubeadm").read_text().split() == [
        "kubeadm", "init", "--ignore-preflight-errors=ExternalEtcdVersion"]


def test_every_member_up_keeps_every_preflight_check(tmp_path: Path) -> None:
    result, _ = _run(tmp_path, "0 1 2")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "kubeadm").read_text().split() == ["kubeadm", "init"]


def test_one_member_is_not_a_quorum(tmp_path: Path) -> None:
    box = Sandbox(tmp_path, FAKE_CLOUD)
    box.stub("curl", CURL_HEALTH)
    script = _script().replace("3600", "20")
    result = box.run(script, UP="1", FF_WAIT_INTERVAL="5")
    assert result.returncode == 1 and "a quorum (2 of 3) of etcd members: not ready after 20s" in result.stderr
    assert not (tmp_path / "kubeadm").exists()


def test_quorum_wait_passes_shellcheck(tmp_path: Path) -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (scripts/install-system-tools.sh)")
    script = tmp_path / "wait.sh"
    script.write_text("#!/bin/bash\nset -euo pipefail\n# shellcheck source=/dev/null\n. /usr/local/lib/fleetform/lib.sh\n"
                      + _script() + "\n")
    out = subprocess.run([shellcheck, "-S", "style", str(script)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout
