"""`fleetform stacks`: the fleet's Pulumi stacks, and the state moves into per-cluster stacks."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from cli_support import ROOT, fleetform, no_traceback


def _per_cluster(tmp_path: Path, env: str) -> Path:
    doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{env}.yaml").read_text())
    doc["config"]["fleetform:fleet"]["stacks"] = "per-cluster"
    (tmp_path / "fleet.yaml").write_text((ROOT / "stacks" / "fleet.yaml").read_text())
    path = tmp_path / f"Pulumi.{env}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_single_stack_is_one_line() -> None:
    out = fleetform("stacks", "--stack", "dev")
    no_traceback(out)
    assert out.returncode == 0
    assert out.stdout == "dev  the whole fleet\n"


def test_per_cluster_lists_the_fleet_stack_first(tmp_path: Path) -> None:
    out = fleetform("stacks", "--file", str(_per_cluster(tmp_path, "staging")), "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [
        {"name": "staging", "env": "staging", "scope": "fleet", "cluster": None, "prerequisites": []},
        {"name": "staging.stg-eu", "env": "staging", "scope": "cluster", "cluster": "stg-eu",
         "prerequisites": ["staging"]},
        {"name": "staging.stg-us", "env": "staging", "scope": "cluster", "cluster": "stg-us",
         "prerequisites": ["staging"]},
    ]


def test_moves_print_one_state_move_per_cluster_stack() -> None:
    out = fleetform("stacks", "--stack", "staging", "--moves")
    no_traceback(out)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "pulumi stack init staging.stg-eu" in lines
    assert "pulumi state move --source staging --dest staging.stg-eu --yes \\" in lines
    assert ("  'urn:pulumi:staging::fleetform::fleetform:index:Fleet$fleetform:index:ClusterName::stg-eu'"
            in lines)
    assert not any("ClusterIdentity" in line or "upgrades" in line for line in lines)
