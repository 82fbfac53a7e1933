"""The micro-stack layout: names, scopes and order derived from the plan."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from fleetform.plan.fleet import plan_fleet
from fleetform.plan.load import load_stack_file, program_config, resolve_stack
from fleetform.plan.stacks import cluster_stack, parse_stack, resolve, stack_layout
from fleetform.spec.errors import FleetError

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


# ---------------------------------------------------------------- which stack the program runs


def _stacks_dir(tmp_path: Path, stacks: str | None, *, in_base: bool = False) -> Path:
    fleet: dict[str, object] = {"clusters": []}
    base: dict[str, object] = {"fleet": {}}
    if stacks is not None:
        (base["fleet"] if in_base else fleet)["stacks"] = stacks  # type: ignore[index]
    (tmp_path / "fleet.yaml").write_text(yaml.safe_dump(base))
    (tmp_path / "Pulumi.prod.yaml").write_text(yaml.safe_dump(
        {"config": {"fleetform:base": "fleet.yaml", "fleetform:fleet": fleet}}))
    return tmp_path


def test_a_cluster_stack_without_config_reads_its_fleet_stack_file(tmp_path: Path) -> None:
    stacks_dir = _stacks_dir(tmp_path, "per-cluster")
    # What `pulumi stack init prod.eu` writes: secrets settings, no fleet configuration.
    (tmp_path / "Pulumi.prod.eu.yaml").write_text("encryptionsalt: v1:abc\n")
    assert program_config("prod.eu", None, None, stacks_dir) == (
        "prod", {"clusters": [], "stacks": "per-cluster"}, "fleet.yaml")


@pytest.mark.parametrize(("stacks", "in_base", "env"), [
    ("per-cluster", False, "prod"), ("per-cluster", True, "prod"), ("single", False, "prod.eu"), (None, False, "prod.eu"),
])
def test_a_configured_dotted_stack_is_a_cluster_stack_only_when_split(
        tmp_path: Path, stacks: str | None, in_base: bool, env: str) -> None:
    stacks_dir = _stacks_dir(tmp_path, stacks, in_base=in_base)
    fleet = {"clusters": [], **({"stacks": stacks} if stacks and not in_base else {})}
    assert program_config("prod.eu", fleet, "fleet.yaml", stacks_dir)[0] == env


def test_a_stack_without_any_configuration_is_named(tmp_path: Path) -> None:
    with pytest.raises(FleetError, match=r"stacks/Pulumi.prod.yaml: config.fleetform:fleet: required: stack 'prod'"):
        program_config("prod", None, None, _stacks_dir(tmp_path, None))


def test_an_unknown_stack_of_the_fleet_is_the_stack_files_error() -> None:
    plan = dataclasses.replace(_plan("staging"), stacks="per-cluster")
    with pytest.raises(FleetError, match=r"fleet.stacks: stack 'staging.nope' is not a stack of this fleet "
                                         r"\(stacks: per-cluster: staging, staging.stg-eu, staging.stg-us\)"):
        resolve_stack(plan, "staging.nope")
