"""Fixtures of the CLI tests: every slow command (a program run) starts once per session,
all of them at the start and side by side, and each test waits for the ones it reads."""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def fleetform(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None,
              **kwargs: object) -> subprocess.CompletedProcess[str]:
    """The real entry point, as a user runs it (never a TTY here)."""
    base = {k: v for k, v in os.environ.items() if k not in ("FLEETFORM_DEBUG", "FLEETFORM_STACK",
                                                             "FLEETFORM_FILE", "FLEETFORM_OUTPUTS")}
    return subprocess.run([sys.executable, "-m", "fleetform", *args], cwd=cwd, env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=900, **kwargs)  # type: ignore[call-overload]


def no_traceback(out: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in out.stderr and "Traceback" not in out.stdout, out.stderr


def copy_dev_stack(directory: Path, edit: object) -> Path:
    """stacks/Pulumi.dev.yaml (and its base) copied to `directory`/stacks, `edit(config)`
    applied; named Pulumi.dev.yaml so its URNs are the dev stack's."""
    stacks = directory / "stacks"
    stacks.mkdir(parents=True)
    shutil.copy(ROOT / "stacks" / "fleet.yaml", stacks / "fleet.yaml")
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())
    edit(doc["config"]["fleetform:fleet"])  # type: ignore[operator]
    path = stacks / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _three_etcd_members(fleet: dict) -> None:  # type: ignore[type-arg]
    fleet["clusters"][0]["etcd"] = {"members": 3}


def _one_more_cluster(fleet: dict) -> None:  # type: ignore[type-arg]
    fleet["clusters"].append({"name": "dev-aws2", "cloud": "aws", "region": "us-east-2",
                              "profiles": ["edge", "single"], "network": {"index": 9}})


def _bigger_etcd(fleet: dict) -> None:  # type: ignore[type-arg]
    fleet["clusters"][0]["etcd"] = {"size": "large"}


def _without_dev_gcp(fleet: dict) -> None:  # type: ignore[type-arg]
    fleet["clusters"] = [c for c in fleet["clusters"] if c["name"] != "dev-gcp"]


@dataclass
class Runs:
    """The session's slow commands; `get(name)` waits for one."""

    root: Path
    jobs: dict[str, concurrent.futures.Future[subprocess.CompletedProcess[str]]]
    old_stack: Path
    new_stack: Path
    dropped_stack: Path

    def get(self, name: str) -> subprocess.CompletedProcess[str]:
        out = self.jobs[name].result()
        assert out.returncode in (0, 3), f"{name}: exit {out.returncode}\n{out.stderr}"
        return out

    def dir(self, name: str) -> Path:
        self.get(name)
        return self.root / name


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    root = tmp_path_factory.mktemp("cli")
    # OLD: dev with 3 etcd members on dev-aws; NEW: dev (1 member) plus a cluster.
    old_stack = copy_dev_stack(root / "old-stack", _three_etcd_members)
    new_stack = copy_dev_stack(root / "new-stack", _one_more_cluster)
    dropped_stack = copy_dev_stack(root / "dropped-stack", _without_dev_gcp)
    commands = {
        "dev-a": ["synth", "--stack", "dev", "--out", str(root / "dev-a")],
        "dev-b": ["synth", "--stack", "dev", "--out", str(root / "dev-b")],
        "prod": ["synth", "--stack", "prod", "--out", str(root / "prod")],
        "old": ["synth", "--file", str(old_stack), "--out", str(root / "old")],
        "new": ["synth", "--file", str(new_stack), "--out", str(root / "new")],
        "plan-dev-json": ["plan", "--stack", "dev", "--json"],
        "plan-dev": ["plan", "--stack", "dev", "--tree"],
        "plan-dev-aws-json": ["plan", "--stack", "dev", "--json", "--cluster", "dev-aws"],
        "graph-dev-dot": ["graph", "--stack", "dev", "--format", "dot", "--no-resources"],
    }
    # Two cores: three at a time keeps both busy while one process starts up.
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=3)
    jobs = {name: pool.submit(fleetform, *args) for name, args in commands.items()}

    def after(synth: str, *args: str) -> concurrent.futures.Future[subprocess.CompletedProcess[str]]:
        return pool.submit(lambda: (jobs[synth].result(), fleetform(*args))[1])

    # The first run: plan prod at two terminal widths; the html graph with its counts.
    for width in ("80", "120"):
        jobs[f"plan-prod-{width}"] = pool.submit(fleetform, "plan", "--stack", "prod", env={"COLUMNS": width})
    jobs["graph-prod-html"] = pool.submit(fleetform, "graph", "--stack", "prod", "--format", "html")
    # diff as `pulumi up` sees it: a frozen member's new size, a new cluster, a removed one.
    bigger_etcd = copy_dev_stack(root / "bigger-etcd", _bigger_etcd)
    jobs["diff-bigger-etcd"] = after("dev-a", "diff", "--against", str(root / "dev-a"), "--file", str(bigger_etcd))
    jobs["diff-added"] = after("dev-a", "diff", "--against", str(root / "dev-a"), "--file", str(new_stack))
    jobs["diff-dropped"] = after("dev-a", "diff", "--against", str(root / "dev-a"), "--file", str(dropped_stack))
    jobs["against"] = after("old", "diff", "--against", str(root / "old"), "--file", str(new_stack), "--json")
    # plan --against: etcd members 3 -> 1 (not strict); a cluster dropped (strict); no removal.
    jobs["plan-against-members"] = after("old", "plan", "--file", str(new_stack), "--against", str(root / "old"),
                                         "--json")
    jobs["plan-against-dropped"] = after("dev-a", "plan", "--file", str(dropped_stack), "--against",
                                         str(root / "dev-a"), "--strict")
    jobs["plan-against-same"] = after("dev-a", "plan", "--stack", "dev", "--against", str(root / "dev-a"),
                                      "--strict", "--json")
    yield Runs(root, jobs, old_stack, new_stack, dropped_stack)
    pool.shutdown(wait=True, cancel_futures=True)
