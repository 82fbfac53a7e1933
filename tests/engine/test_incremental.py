"""Micro-stack input digests: they change exactly when what a cluster stack reads changes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from fleetform.engine import incremental
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
