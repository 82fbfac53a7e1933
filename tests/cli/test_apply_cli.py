"""``fleetform up | preview | destroy`` with a fake runner (what a user sees: prefixed
progress, the summary, exit codes, resume, located errors), the real runner without a
Pulumi CLI (exit 2, no traceback), and ``fleetform operator``'s files."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_support import ROOT, fleetform, no_traceback

from fleetform.cli import apply
from fleetform.cli.main import main
from fleetform.engine.automation import AutomationRunner
from fleetform.engine.runner import RunnerError
from tests.engine.fake_runner import FakeRunner

WAVES = ROOT / "tests" / "fixtures" / "upgrades" / "Pulumi.waves.yaml"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose `waves` fleet is deployed per cluster, as the current directory."""
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "stacks").mkdir()
    doc = yaml.safe_load(WAVES.read_text())
    doc["secretsprovider"] = "awskms://alias/fleetform-waves?region=eu-west-1"
    doc["config"]["fleetform:fleet"]["stacks"] = "per-cluster"
    (tmp_path / "stacks" / "Pulumi.waves.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _use(monkeypatch: pytest.MonkeyPatch, runner: FakeRunner) -> FakeRunner:
    monkeypatch.setattr(apply, "make_runner", lambda _root: runner)
    return runner


def test_up_applies_the_fleet_stack_then_the_clusters(project: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    runner = _use(monkeypatch, FakeRunner())
    assert main(["up", "--stack", "waves", "--yes", "--concurrency", "2"]) == 0
    out, err = capsys.readouterr()
    assert runner.events[:2] == [("start", "waves"), ("end", "waves")]
    assert "[waves.lab] up waves.lab" in out.splitlines()
    assert "[waves] succeeded: 2 create" in out.splitlines()
    assert err.splitlines()[0] == "up waves: 7 succeeded, 0 failed, 0 not started"
    assert not (project / ".fleetform" / "runs" / "waves.up.json").exists()


def test_a_failure_stops_the_run_exit_4_and_resume_finishes_it(project: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    _use(monkeypatch, FakeRunner(fail=["waves.prod-eu"]))
    assert main(["up", "--stack", "waves", "--yes", "--concurrency", "1"]) == 4
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "up waves: 3 succeeded, 1 failed, 3 not started"
    assert any(line.split()[:3] == ["failed", "waves.prod-eu", "waves.prod-eu:"] for line in err)
    assert any(line.split()[:3] == ["not", "started", "waves.lab"] for line in err)
    assert err[-1] == "run the same command with --resume to skip the stacks that succeeded"

    runner = _use(monkeypatch, FakeRunner(applied=["waves"]))
    assert main(["up", "--stack", "waves", "--yes", "--resume"]) == 0
    assert runner.started() == ["waves.prod-eu", "waves.prod-us", "waves.prod-ap", "waves.lab"]
    assert "3 skipped (--resume)" in capsys.readouterr().err.splitlines()[0]
    assert main(["up", "--stack", "waves", "--yes", "--resume"]) == 2  # finished: nothing to resume
    assert "no unfinished run to resume" in capsys.readouterr().err


def test_cluster_wave_and_fleet_errors_exit_2(project: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    runner = _use(monkeypatch, FakeRunner())
    assert main(["up", "--stack", "waves", "--cluster", "lba", "--yes"]) == 2
    assert capsys.readouterr().err.startswith("--cluster: lba: no such cluster (did you mean 'lab'?)")
    assert main(["preview", "--stack", "waves", "--wave", "nope"]) == 2
    assert "--wave: nope: no such wave" in capsys.readouterr().err
    assert main(["up", "--stack", "waves", "--cluster", "lab", "--yes"]) == 2
    assert ("stack 'waves' (read by waves.lab) has not been applied: run `fleetform up --stack waves` first, "
            "or add --with-fleet") in capsys.readouterr().err
    assert runner.started() == []
    # The cluster stack's own name selects it, even beside the settings file Pulumi wrote
    # when it created the stack; --with-fleet runs the fleet stack first.
    (project / "stacks" / "Pulumi.waves.lab.yaml").write_text("secretsprovider: awskms://alias/x\n"
                                                                "encryptedkey: AQICAH\n")
    assert main(["up", "--stack", "waves.lab", "--with-fleet", "--yes"]) == 0
    assert runner.started() == ["waves", "waves.lab"]


def test_up_asks_first_and_refuses_without_a_terminal(project: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    runner = _use(monkeypatch, FakeRunner(applied=["waves"]))
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False, raising=False)
    assert main(["destroy", "--stack", "waves", "--wave", "canary"]) == 2
    assert "confirm with --yes when not at a terminal" in capsys.readouterr().err
    assert runner.started() == []


def test_preview_of_a_new_fleet_is_not_a_failure(project: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    runner = _use(monkeypatch, FakeRunner())
    assert main(["preview", "--stack", "waves"]) == 0
    assert runner.started() == ["waves"]
    err = capsys.readouterr().err
    assert "reads waves, which has not been applied yet" in err


def test_without_a_pulumi_cli_the_real_runner_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RunnerError, match="`pulumi` is not on PATH"):
        AutomationRunner(ROOT)
    out = fleetform("preview", "--stack", "dev", env={"PATH": str(tmp_path)})
    no_traceback(out)
    assert out.returncode == 2
    assert out.stderr.startswith("fleetform preview: no Pulumi CLI: `pulumi` is not on PATH")


def test_operator_writes_a_stack_per_micro_stack_and_prunes_its_own_files(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = project / "deploy"
    out.mkdir()
    (out / "waves.gone.yaml").write_text("# Generated by `fleetform operator`: edit the stack file and generate "
                                         "again.\nkind: Stack\n")
    (out / "mine.yaml").write_text("kind: ConfigMap\n")
    args = ["operator", "--stack", "waves", "--out", str(out), "--repo", "git@github.com:acme/fleet.git"]
    assert main(args) == 0
    names = sorted(p.name for p in out.glob("*.yaml"))
    assert names == sorted(["mine.yaml", "waves.yaml", *(f"waves.{c}.yaml" for c in
                                                         ["dev-eu", "stg-eu", "prod-eu", "prod-us", "prod-ap", "lab"])])
    lab: dict[str, Any] = yaml.safe_load((out / "waves.lab.yaml").read_text())
    assert lab["spec"]["prerequisites"] == [{"name": "waves"}]
    assert lab["spec"]["secretsProvider"] == "awskms://alias/fleetform-waves?region=eu-west-1"
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main(args) == 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert main([*args[:-1], "not a url"]) == 2
    assert "--repo: not a url: not a git URL" in capsys.readouterr().err


def test_every_new_command_is_in_the_help() -> None:
    out = fleetform("--help")
    assert out.returncode == 0
    for command in ("up", "preview", "destroy", "operator"):
        assert f"    {command}" in out.stdout, command
    assert "4 a stack failed" in " ".join(out.stdout.split())
    assert os.environ.get("FLEETFORM_DEBUG") is None


def test_a_removed_clusters_stack_is_named_by_up_and_destroyed_by_name(
        project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    runner = _use(monkeypatch, FakeRunner(applied=["waves", "waves.gone"]))
    assert main(["preview", "--stack", "waves", "--cluster", "lab"]) == 0
    assert ("warning: stack 'waves.gone' exists but cluster 'gone' is no longer in the stack file: its resources "
            "keep running; remove them with `fleetform destroy --stack waves --cluster gone`") in capsys.readouterr().err
    assert main(["destroy", "--stack", "waves", "--cluster", "gone", "--yes"]) == 0
    assert runner.started() == ["waves.lab", "waves.gone"]
    assert "waves.gone" not in runner.applied
