"""The micro-stack layout: names, scopes and order derived from the plan."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from fleetform.plan.fleet import plan_fleet
from fleetform.plan.load import load_stack_file
from fleetform.plan.stacks import cluster_stack, parse_stack, resolve, stack_layout

STACKS = Path(__file__).resolve().parents[2] / "stacks"


def _plan(env: str):  # type: ignore[no-untyped-def]
    return plan_fleet(load_stack_file(STACKS / f"Pulumi.{env}.yaml"))


def test_single_is_one_stack_named_after_the_file() -> None:
    plan = dataclasses.replace(_plan("dev"), stacks="single")
    (only,) = stack_layout(plan)
    assert (only.name, only.scope, only.cluster, only.prerequisites) == ("dev", "all", None, ())


def test_per_cluster_has_the_fleet_stack_first_and_one_stack_per_logical_cluster() -> None:
    plan = dataclasses.replace(_plan("prod"), stacks="per-cluster")
    layout = stack_layout(plan)
    assert layout[0].name == "prod" and layout[0].scope == "fleet"
    names = sorted(dict.fromkeys(c.name for c in plan.clusters))
    assert sorted(s.cluster for s in layout[1:]) == names
    for s in layout[1:]:
        assert s.name == f"prod.{s.cluster}" and s.prerequisites == ("prod",)
    assert resolve(plan, f"prod.{names[0]}").cluster == names[0]
    with pytest.raises(KeyError):
        resolve(plan, "prod.nope")


def test_stack_names_round_trip() -> None:
    assert parse_stack("prod") == ("prod", None)
    assert parse_stack(cluster_stack("prod", "eu-1")) == ("prod", "eu-1")
    assert parse_stack("team.prod.eu-1") == ("team.prod", "eu-1")
    with pytest.raises(ValueError):
        cluster_stack("p" * 60, "c" * 41)
