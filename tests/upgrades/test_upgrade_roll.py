"""The in-place upgrade steps, rendered for a cluster and run for real under bash with
stand-ins for kubeadm, kubectl, systemctl and apt (tests/addons/upgrade_standins.py)."""

from __future__ import annotations

import itertools
import shutil
import subprocess
from pathlib import Path

import pytest
from upgrade_standins import FakeCluster, make_cluster

from fleetform.addons.upgrades import RollInputs, launcher, render_script

OLD, NEW = "1.36.3", "1.37.1"
REPLICAS = ["cp-0", "cp-1", "cp-2"]
POOLS = {"general": ["general-a", "general-b"], "gpu": ["gpu-a"]}
INPUTS = RollInputs("eu-core", NEW, "https://api.eu-core.fleet.example.com:6443",
                    ("https://etcd-0.eu-core.fleet.example.com:2379", "https://etcd-1.eu-core.fleet.example.com:2379"),
                    tuple(POOLS))


@pytest.fixture
def fake(tmp_path: Path) -> FakeCluster:
    return make_cluster(tmp_path, render_script(INPUTS), OLD, REPLICAS, POOLS)


def all_plans() -> list[list[str]]:
    return [REPLICAS, *POOLS.values()]


def controller(fake: FakeCluster, rounds: int = 20) -> list[str]:
    """The system-upgrade-controller with every Plan active at once (as it runs them):
    each round, each Plan's next node runs its prepare container (our gate); when that
    passes the node is drained and its upgrade container runs. A failed prepare is
    retried next round; a failed upgrade keeps the Plan on that node (concurrency 1).
    Returns the drained nodes in order."""
    pending = [list(p) for p in all_plans()]
    drained: list[str] = []
    for _ in range(rounds):
        for plan in pending:
            if not plan:
                continue
            node = plan[0]
            if fake.run("gate", node).returncode != 0:
                continue
            if node not in drained:
                drained.append(node)
            if fake.run("upgrade", node).returncode == 0:
                plan.pop(0)
        if not any(pending):
            break
    return drained


def kubeadm_calls(fake: FakeCluster) -> list[str]:
    return [line for line in fake.log() if " kubeadm " in line]


def test_rendered_script_and_launchers_pass_shellcheck(tmp_path: Path) -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (scripts/install-system-tools.sh)")
    script = tmp_path / "upgrade.sh"
    script.write_text(render_script(INPUTS))
    subprocess.run(["shellcheck", "-s", "bash", str(script)], check=True)
    for i, text in enumerate((launcher("gate", "control-plane"), launcher("upgrade", "worker", "gpu"))):
        path = tmp_path / f"launcher-{i}.sh"
        path.write_text(text)
        subprocess.run(["shellcheck", "-s", "sh", str(path)], check=True)


def test_control_plane_first_one_replica_at_a_time_then_pools_in_order(fake: FakeCluster) -> None:
    drained = controller(fake)
    assert drained == [*REPLICAS, "general-a", "general-b", "gpu-a"]
    calls = kubeadm_calls(fake)
    assert calls == [
        f"cp-0 kubeadm upgrade apply {NEW}",
        f"cp-1 kubeadm upgrade node {NEW}",
        f"cp-2 kubeadm upgrade node {NEW}",
        f"general-a kubeadm upgrade node {NEW}",
        f"general-b kubeadm upgrade node {NEW}",
        f"gpu-a kubeadm upgrade node {NEW}",
    ]
    log = fake.log()
    # Each replica's kubelet is back (restarted at the new version) before the next
    # replica's kubeadm runs: one replica down at a time.
    for a, b in itertools.pairwise(REPLICAS):
        assert log.index(f"{a} systemctl restart kubelet") < log.index(f"{b} kubeadm upgrade node {NEW}")
    # kubeadm is installed at the new version before it runs; the kubelet after it.
    assert log.index(f"cp-0 apt-get install kubeadm={NEW}-*") < log.index(f"cp-0 kubeadm upgrade apply {NEW}")
    assert log.index(f"cp-0 kubeadm upgrade apply {NEW}") < log.index(f"cp-0 apt-get install kubelet={NEW}-*")
    for node in [*REPLICAS, *POOLS["general"], *POOLS["gpu"]]:
        assert fake.read(node, "kubelet") == NEW
    assert fake.read("cp-2", "apiserver") == NEW
    # Workers get no kubectl; the control plane does.
    assert f"cp-1 apt-get install kubectl={NEW}-*" in log
    assert not any(line.startswith("gpu-a apt-get install kubectl") for line in log)


def test_workers_wait_for_the_control_plane_and_earlier_pools(fake: FakeCluster) -> None:
    gate = fake.run("gate", "general-a")
    assert gate.returncode != 0
    assert "the control plane is not at 1.37.1 yet" in gate.stderr
    # Control plane done; pool gpu still waits for pool general.
    for r in REPLICAS:
        assert fake.run("upgrade", r).returncode == 0
    gate = fake.run("gate", "gpu-a")
    assert gate.returncode != 0
    assert "pool general is not at 1.37.1 yet: pool gpu waits for it" in gate.stderr
    assert fake.run("gate", "general-a").returncode == 0
    assert not [c for c in kubeadm_calls(fake) if c.startswith(("general", "gpu"))]


def test_a_failing_health_gate_stops_the_roll(fake: FakeCluster) -> None:
    (fake.node("cp-1") / "stays_not_ready").write_text("")
    drained = controller(fake, rounds=5)
    # cp-1 came back NotReady: its Job fails, cp-2 is never drained, no worker either.
    assert drained == ["cp-0", "cp-1"]
    assert [c.split()[0] for c in kubeadm_calls(fake)] == ["cp-0", "cp-1"]
    result = fake.run("upgrade", "cp-1")
    assert result.returncode != 0
    assert "health gate: cp-1 is not Ready at 1.37.1 after the upgrade; the roll stops here" in result.stderr
    assert fake.read("cp-2", "kubelet") == OLD
    assert fake.read("general-a", "kubelet") == OLD


def test_an_unhealthy_etcd_or_api_stops_before_anything_changes(fake: FakeCluster) -> None:
    (fake.root / "etcd_unhealthy").write_text("")
    result = fake.run("upgrade", "cp-0")
    assert result.returncode != 0
    assert "etcd is not healthy: the control plane is not touched" in result.stderr
    (fake.root / "etcd_unhealthy").unlink()
    (fake.root / "api_down").write_text("")
    assert "the API server is not ready" in fake.run("gate", "cp-0").stderr
    assert fake.log() == []


def test_a_rerun_after_a_failure_resumes(fake: FakeCluster) -> None:
    (fake.node("cp-1") / "stays_not_ready").write_text("")
    controller(fake, rounds=3)
    before = fake.log()
    # The operator fixes the node; the controller retries the same Job.
    (fake.node("cp-1") / "stays_not_ready").unlink()
    (fake.node("cp-1") / "ready").write_text("True")
    assert controller(fake) == [*REPLICAS, "general-a", "general-b", "gpu-a"]
    after = fake.log()[len(before):]
    # Nothing done before is done again: cp-0 is skipped, cp-1 only re-checks its gate.
    assert not [line for line in after if line.startswith(("cp-0 ", "cp-1 "))]
    assert [c.split()[0] for c in kubeadm_calls(fake)] == [*REPLICAS, "general-a", "general-b", "gpu-a"]
    # A completed roll run again changes nothing.
    done = fake.log()
    controller(fake)
    assert fake.log() == done


def test_the_control_plane_never_jumps_two_minors(tmp_path: Path) -> None:
    fake = make_cluster(tmp_path, render_script(INPUTS), "1.35.6", REPLICAS, POOLS)
    result = fake.run("upgrade", "cp-0")
    assert result.returncode != 0
    assert "1.35.6 -> 1.37.1 jumps more than one minor" in result.stderr
    assert fake.log() == []
