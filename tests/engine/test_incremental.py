"""Micro-stack input digests: they change exactly when what a cluster stack reads changes."""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fleetform.engine import incremental, reuse
from fleetform.engine.records import Resource
from fleetform.plan.fleet import plan_fleet
from fleetform.plan.load import load_config

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from plan_scale import fleet_config  # noqa: E402


def digests(fleet: dict[str, Any], outputs: dict[str, Any] | None = None) -> dict[str, str]:
    plan = plan_fleet(load_config(fleet, None, stack="bench", label="bench", stacks_dir=ROOT / "stacks"))
    program = incremental.program_digest(ROOT)
    settings = incremental.fleet_settings(fleet)
    out = {}
    for entry in fleet["clusters"]:
        plans = [c.to_json() for c in plan.clusters if c.name == entry["name"]]
        out[f"bench.{entry['name']}"] = incremental.stack_digest(
            stack=f"bench.{entry['name']}", program=program, settings=settings, cluster=[entry, *plans],
            fleet_outputs=(outputs or {}).get(entry["name"], {}))
    return out


def test_one_changed_cluster_changes_only_its_digest(tmp_path: Path) -> None:
    fleet = fleet_config(4)["fleetform:fleet"]
    before = digests(fleet)
    assert digests(fleet) == before and len(set(before.values())) == 4
    fleet["clusters"][2]["workers"] = [{"name": "general", "size": "large", "min": 2, "max": 5}]
    after = digests(fleet)
    assert incremental.stale(after, before) == ["bench.c002-aws"]
    fleet["clusters"].append(fleet_config(5)["fleetform:fleet"]["clusters"][4])
    assert incremental.stale(digests(fleet), after) == ["bench.c004-aws"]
    fleet["domain"] = "other.example"  # fleet-level: every stack
    assert incremental.stale(digests(fleet), after) == [*sorted(after), "bench.c004-aws"]
    incremental.write_digests(tmp_path, before)
    assert incremental.read_digests(tmp_path) == before


def test_fleet_outputs_a_stack_reads_are_inputs() -> None:
    fleet = fleet_config(2)["fleetform:fleet"]
    before = digests(fleet, {"c000-aws": {"ca": "A"}, "c001-gcp": {"ca": "B"}})
    after = digests(fleet, {"c000-aws": {"ca": "A2"}, "c001-gcp": {"ca": "B"}})
    assert incremental.stale(after, before) == ["bench.c000-aws"]


def test_a_previous_synth_without_digests_or_of_another_schema_is_all_stale(tmp_path: Path) -> None:
    assert incremental.read_digests(tmp_path) == {}
    (tmp_path / incremental.INPUTS_FILE).write_text('{"schema": 0, "stacks": {"a": "x"}}')
    assert incremental.read_digests(tmp_path) == {}
    assert incremental.stale({"a": "x"}, {}) == ["a"]


def test_program_digest_covers_the_source() -> None:
    files = [p.relative_to(ROOT).as_posix() for p in incremental._files(ROOT)]
    assert "__main__.py" in files and "components/fleet.py" in files and "fleetform/engine/run.py" in files
    assert "policies/rules/base.py" in files and not any("__pycache__" in f for f in files)


# ---------------------------------------------------------------- re-planning with reuse

def _outcome(fleet: dict[str, Any], reuse_dir: Path | None) -> reuse.Outcome:
    fleet = {**fleet, "stacks": "per-cluster"}
    spec = load_config(fleet, None, stack="bench", label="bench", stacks_dir=ROOT / "stacks")
    return reuse.plan_stacks(ROOT, project="fleetform", plan=plan_fleet(spec), spec=spec,
                             config={"fleetform:fleet": fleet}, reuse=reuse_dir, workers=1)


def _write(directory: Path, outcome: reuse.Outcome) -> dict[str, str]:
    files = reuse.write(outcome)
    for rel, text in files.items():
        (directory / rel).parent.mkdir(parents=True, exist_ok=True)
        (directory / rel).write_text(text, encoding="utf-8")
    return files


def test_records_round_trip_every_field() -> None:
    r = Resource(urn="urn:pulumi:s::p::t::n", type="t", name="n", parent="urn:pulumi:s::p::pulumi:pulumi:Stack::s",
                 provider="urn:pulumi:s::p::pulumi:providers:aws::a::id", dependencies=("u1", "u2"),
                 inputs={"a": [1, {"b": None}], "c": 1.5}, custom=True, protect=True, ignore_changes=("x",),
                 aliases=("urn:old",), delete_before_replace=True, replace_on_changes=("a",),
                 property_dependencies={"a": ("u1",), "c": ()})
    assert Resource.from_full_json(json.loads(json.dumps(r.to_full_json()))) == r


def test_only_changed_stacks_run_and_the_result_is_a_full_re_plan(tmp_path: Path) -> None:
    fleet = fleet_config(3)["fleetform:fleet"]
    first = _outcome(fleet, None)
    assert first.ran == ["bench", "bench.c000-aws", "bench.c001-gcp", "bench.c002-aws"]
    previous = _write(tmp_path, first)
    assert "[secret]" in previous["reuse/bench.json"] and "PRIVATE KEY" not in previous["reuse/bench.json"]
    same = _outcome(fleet, tmp_path)
    assert same.ran == [] and reuse.write(same) == previous

    edits: list[tuple[str, Callable[[dict[str, Any]], None], list[str]]] = [
        ("pool size", lambda f: f["clusters"][1].update(
            workers=[{"name": "general", "size": "large", "min": 2, "max": 5}]), ["bench.c001-gcp"]),
        ("kubernetes version", lambda f: f["clusters"][2].update(kubernetes_version="1.36"),
         ["bench", "bench.c002-aws"]),
        ("a new cluster", lambda f: f["clusters"].append(fleet_config(4)["fleetform:fleet"]["clusters"][3]),
         ["bench", "bench.c003-gcp"]),
        ("a fleet-level setting", lambda f: f.update(domain="other.bench.example"), None),
        ("a tenant", lambda f: f.update(
            identity={"oidc": {"issuer_url": "https://login.bench.example", "client_id": "fleetform"}},
            tenants=[{"name": "team-a", "group": "team-a", "clusters": ["c001-gcp"]}]),
         None),
    ]
    for what, edit, expected in edits:
        changed = copy.deepcopy(fleet)
        edit(changed)
        incremental_run = _outcome(changed, tmp_path)
        full = _outcome(changed, None)
        if expected is not None:
            assert incremental_run.ran == expected, what
        else:
            assert incremental_run.ran == full.ran, what
        assert reuse.write(incremental_run) == reuse.write(full), what


def test_the_management_clusters_stack_reads_every_cluster(tmp_path: Path) -> None:
    fleet = {**fleet_config(3)["fleetform:fleet"], "management": {"cluster": "c000-aws"}}
    for entry in fleet["clusters"]:
        entry["api"] = {"public": True, "allowed_cidrs": ["198.51.100.0/24"]}
    _write(tmp_path, _outcome(fleet, None))
    fleet["clusters"][1]["workers"] = [{"name": "general", "size": "large", "min": 2, "max": 5}]
    changed = _outcome(fleet, tmp_path)
    assert changed.ran == ["bench.c000-aws", "bench.c001-gcp"]
    assert reuse.write(changed) == reuse.write(_outcome(fleet, None))


def test_a_stale_absent_or_other_schema_directory_re_plans_everything(tmp_path: Path) -> None:
    fleet = fleet_config(2)["fleetform:fleet"]
    everything = ["bench", "bench.c000-aws", "bench.c001-gcp"]
    assert _outcome(fleet, tmp_path / "absent").ran == everything
    _write(tmp_path, _outcome(fleet, None))
    inputs = tmp_path / incremental.INPUTS_FILE
    inputs.write_text(inputs.read_text().replace('"schema": 1', '"schema": 0'))
    assert _outcome(fleet, tmp_path).ran == everything
    (tmp_path / reuse.REUSE_DIR / "bench.c000-aws.json").write_text("{}")  # unreadable: that stack runs
    _write(tmp_path, _outcome(fleet, None))
    (tmp_path / reuse.REUSE_DIR / "bench.c000-aws.json").write_text("{}")
    assert _outcome(fleet, tmp_path).ran == ["bench.c000-aws"]


def test_a_program_change_re_plans_everything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fleet = fleet_config(2)["fleetform:fleet"]
    _write(tmp_path, _outcome(fleet, None))
    monkeypatch.setattr(incremental, "program_digest", lambda root: "another program")
    assert _outcome(fleet, tmp_path).ran == ["bench", "bench.c000-aws", "bench.c001-gcp"]
