"""``fleetform upgrade plan`` on a fleet with holds and skips, and ``--against`` a synth
of the stack as last applied (the wave gate, offline)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_support import ROOT, fleetform, no_traceback

FIXTURE = ROOT / "tests" / "fixtures" / "upgrades" / "Pulumi.waves.yaml"


def variant(directory: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """The fixture with ``edit(upgrades)`` applied, as ``Pulumi.waves.yaml`` (same URNs)."""
    doc = yaml.safe_load(FIXTURE.read_text())
    edit(doc["config"]["fleetform:fleet"]["upgrades"])
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "Pulumi.waves.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_upgrade_plan_shows_each_cluster_with_holds_and_skips() -> None:
    out = fleetform("upgrade", "plan", "--file", str(FIXTURE))
    no_traceback(out)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "upgrade to 1.37.1 · current wave: staging (2 of 3)"
    rows = {line.split()[0]: line for line in lines if line.split() and line.split()[0] in
            ("dev-eu", "stg-eu", "prod-eu", "prod-us", "prod-ap", "lab")}
    assert rows["dev-eu"].split()[:6] == ["dev-eu", "1.36.3", "1.37.1", "1.36.3", "->", "1.37.1"]
    assert "done" in rows["dev-eu"]
    assert "rolling" in rows["stg-eu"] and "this `pulumi up` rolls it 1.36.3 -> 1.37.1 in place" in rows["stg-eu"]
    assert "pending" in rows["prod-eu"] and "the next edit (`current_wave: prod`)" in rows["prod-eu"]
    assert "held at 1.36.3" in rows["prod-us"] and "payments freeze until the quarter closes" in rows["prod-us"]
    assert "skipped" in rows["prod-ap"] and "sits out wave 'prod'" in rows["prod-ap"]
    assert "unassigned" in rows["lab"]
    assert ("next edit: `current_wave: prod` once wave 'staging' is applied and has soaked 2d (the gate refuses "
            "it earlier): rolls prod-eu to 1.37.1") in lines
    assert "warning: cluster 'lab' is in no wave of `upgrades`: it stays at 1.36.3" in lines


def test_upgrade_plan_json_gives_the_same() -> None:
    out = fleetform("upgrade", "plan", "--file", str(FIXTURE), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    up = data["upgrades"]
    assert (up["target"], up["current_wave"]) == ("1.37.1", "staging")
    by = {c["cluster"]: c for c in up["clusters"]}
    assert {n: c["status"] for n, c in by.items()} == {
        "dev-eu": "done", "stg-eu": "rolling", "prod-eu": "pending", "prod-us": "held", "prod-ap": "skipped",
        "lab": "unassigned"}
    assert by["prod-us"]["hold"] == {"version": "1.36.3", "reason": "payments freeze until the quarter closes",
                                     "until": "2099-01-31"}
    assert by["stg-eu"]["path"] == ["1.37.1"]
    assert data["versions"]["stg-eu"] == "1.37.1" and data["versions"]["prod-eu"] == "1.36.3"
    assert [w["required"] for w in up["waves"]] == [["dev-eu"], ["stg-eu"], ["prod-eu"]]


@pytest.fixture(scope="module")
def applied_canary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synth of the fixture as applied in wave canary, with dev-eu sitting it out."""
    def edit(up: dict[str, Any]) -> None:
        up["current_wave"] = "canary"
        up["exceptions"].append({"cluster": "dev-eu", "skip": "canary"})

    base = tmp_path_factory.mktemp("applied")
    out = base / "synth"
    result = fleetform("synth", "--file", str(variant(base / "stacks", edit)), "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def test_advancing_past_an_unapplied_wave_is_refused(applied_canary: Path, tmp_path: Path) -> None:
    # The fixture removes dev-eu's skip and advances to staging in one edit.
    out = fleetform("upgrade", "plan", "--file", str(FIXTURE), "--against", str(applied_canary))
    no_traceback(out)
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        f"{FIXTURE}: fleet.upgrades.current_wave: wave 'canary' has not been applied: dev-eu "
        "does not run 1.37.1 yet (the last `pulumi up` left dev-eu at 1.36.3); apply wave 'canary' before "
        "`current_wave: staging`"]


def test_skipping_a_wave_is_refused_and_staying_is_allowed(applied_canary: Path, tmp_path: Path) -> None:
    def to_prod(up: dict[str, Any]) -> None:
        up["current_wave"] = "prod"
        up["exceptions"].append({"cluster": "dev-eu", "skip": "canary"})

    out = fleetform("upgrade", "plan", "--file", str(variant(tmp_path / "a", to_prod)), "--against",
                    str(applied_canary))
    assert out.returncode == 2
    assert "fleet.upgrades.current_wave: `current_wave: prod` skips wave(s) 'staging': advance one wave at a " \
           "time (next: 'staging')" in out.stderr

    def stay(up: dict[str, Any]) -> None:
        up["current_wave"] = "canary"

    ok = fleetform("upgrade", "plan", "--file", str(variant(tmp_path / "b", stay)), "--against",
                   str(applied_canary), "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["against"] == str(applied_canary)


@pytest.mark.parametrize(("edit", "path", "message"), [
    (lambda up: up["waves"][2].update(selector={"env": "production"}), "fleet.upgrades.waves[2].selector",
     "selects no cluster (env=production)"),
    (lambda up: up["exceptions"][0]["hold"].pop("reason"), "fleet.upgrades.exceptions[0].hold.reason",
     "a hold needs a reason"),
    (lambda up: up["waves"][0].update(clusters=["dev-eu", "stg-eu"]), "fleet.upgrades.waves[1].selector",
     "cluster 'stg-eu' is already in wave 'canary'"),
])
def test_bad_upgrades_blocks_exit_2_with_a_location(tmp_path: Path, edit: Callable[[dict[str, Any]], None],
                                                    path: str, message: str) -> None:
    stack = variant(tmp_path, edit)
    for command in (("validate",), ("upgrade", "plan")):
        out = fleetform(*command, "--file", str(stack))
        no_traceback(out)
        assert out.returncode == 2
        assert any(line.startswith(f"{stack}: {path}: {message}") for line in out.stderr.splitlines()), out.stderr
