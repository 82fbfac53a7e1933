"""A fleet's micro-stacks (``stacks: per-cluster``) against its single stack.

For every example stack file, forced to ``stacks: per-cluster``, the fleet stack and
the cluster stacks together register exactly the single stack's resources: same URN
but for the stack part (the mapping `pulumi state move` relies on, docs/stacks.md),
type, name, inputs and options. Apart from that: the stack roots, the StackReference
(a read, never registered) and the upgrade gate (one per cluster stack, holding that
cluster's part). A cluster stack reads its fleet's stack file when it has no
configuration, and a missing fleet stack or output is named.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.upgrades import gate_inputs
from fleetform.cli.stacks import moves
from fleetform.engine.records import ProgramResult
from fleetform.engine.refusal import owner
from fleetform.engine.run import run_program
from fleetform.engine.stacks import evaluate_stacks, run_fleet_stacks, run_micro_stack
from fleetform.engine.synth import load_stack
from fleetform.plan import names
from fleetform.plan.fleet import plan_fleet
from fleetform.plan.load import load_config
from fleetform.plan.model import FleetPlan
from fleetform.plan.stacks import StackNotApplied, StackOutputMissing, cluster_stack
from fleetform.spec.errors import FleetError
from tests.engine.micro_stacks_support import compare

ROOT = Path(__file__).resolve().parents[2]
STACKS = ROOT / "stacks"
PROJECT = "fleetform"
GATE_TYPE = "pulumi-python:dynamic:Resource"


# prod with what its file does not exercise: a management cluster of the fleet (its
# registrations live in that cluster's stack) and a CA rotation in `prepare` (two
# generations of CAs cross the stack boundary).
HUB = "prod-hub"
# prod with a ClusterMesh across clouds: eu-core (AWS) and us-gcp (GCP), each in its own
# cluster stack, naming the other by planned addresses.
MESH = "prod-mesh"
MESH_MEMBERS = ("eu-core", "us-gcp")


def _hub(fleet: dict[str, Any]) -> None:
    fleet["management"] = {"cluster": "eu-core"}
    fleet.setdefault("identity", {}).setdefault("pki", {})["rotate"] = {"us-core": {"generation": 2,
                                                                                    "phase": "prepare"}}
    for c in fleet["clusters"]:
        if c["name"] == "us-core":
            c["api"] = {**c.get("api", {}), "public": True, "allowed_cidrs": ["203.0.113.0/24"]}
        elif c["name"] != "eu-core":
            c["gitops"] = False


def _config(env: str, stacks: str | None = None) -> dict[str, Any]:
    name = _env(env)
    config = copy.deepcopy(dict(yaml.safe_load((STACKS / f"Pulumi.{name}.yaml").read_text())["config"]))
    if env == HUB:
        _hub(config["fleetform:fleet"])
    if env == MESH:
        config["fleetform:fleet"]["mesh"] = {"clusters": list(MESH_MEMBERS)}
    if stacks is not None:
        config["fleetform:fleet"]["stacks"] = stacks
    return config


def _env(env: str) -> str:
    return "prod" if env in (HUB, MESH) else env


def _plan(env: str, config: dict[str, Any]) -> FleetPlan:
    spec = load_config(config["fleetform:fleet"], config.get("fleetform:base"), stack=_env(env),
                       label=f"stacks/Pulumi.{_env(env)}.yaml", stacks_dir=STACKS)
    return plan_fleet(spec)


@cache
def _single(env: str) -> ProgramResult:
    return run_program(ROOT, project=PROJECT, stack=_env(env), config=_config(env, "single"))


@cache
def _micro(env: str) -> tuple[FleetPlan, dict[str, ProgramResult]]:
    config = _config(env, "per-cluster")
    plan = _plan(env, config)
    return plan, run_fleet_stacks(ROOT, project=PROJECT, plan=plan, config=config)


@pytest.mark.parametrize("env", ["dev", "staging", "prod", HUB, MESH])
def test_micro_stacks_are_the_single_stack(env: str) -> None:
    plan, stacks = _micro(env)
    logical = list(dict.fromkeys(c.name for c in plan.clusters))
    assert list(stacks) == [plan.stack, *(cluster_stack(plan.stack, c) for c in logical)]
    assert compare(plan.stack, _single(env), stacks, names.upgrade_gate(plan.fleet)) == []


def test_mesh_members_need_no_peer_stack() -> None:
    """Each member's stack declares its own ClusterMesh load balancer on its planned
    addresses, and its Cilium values (in its bundle, compared input for input with the
    single stack above) name the peer by the peer's planned addresses: the only stack a
    member's stack reads is the fleet stack, and nothing of a peer is a dependency."""
    plan, stacks = _micro(MESH)
    for name in MESH_MEMBERS:
        stack_name = cluster_stack("prod", name)
        stack = stacks[stack_name]
        own = plan.cluster(name)
        assert own.cni.mesh is not None and own.cni.mesh.peers
        endpoints = [r for r in stack.resources if r.type == "fleetform:index:ClusterMeshEndpoint"]
        assert [e.name for e in endpoints] == [f"{own.key}-clustermesh"]
        for peer in own.cni.mesh.peers:
            peer_mesh = plan.cluster(peer.cluster).cni.mesh
            assert peer_mesh is not None and peer.ips == peer_mesh.ips
            assert not [r for r in stack.resources if owner(plan, r.name) == peer.cluster]
        # Outside its own resources it depends on the fleet stack's reference only.
        local = {r.urn for r in stack.resources}
        outside = {d for r in stack.resources for d in r.dependencies if d not in local}
        assert outside == {f"urn:pulumi:{stack_name}::{PROJECT}::fleetform:index:Fleet$pulumi:pulumi:StackReference::"
                           f"{plan.fleet}-fleet-stack"}
    # The fleet stack exports nothing of a member's load balancer: there is nothing to read.
    assert not [k for k in stacks["prod"].outputs if "mesh" in k and "ca" not in k]


def test_registrations_live_with_the_management_cluster() -> None:
    _, stacks = _micro(HUB)
    where = {name for name, result in stacks.items()
             if any(r.type == "fleetform:index:Management" for r in result.resources)}
    assert where == {"prod.eu-core"}
    retiring = [r for r in stacks["prod.us-core"].resources if "-g1-" in r.name or r.name.endswith("-g1")]
    assert retiring == [], "the retiring CAs stay in the fleet stack"
    assert any("-g1-" in r.name for r in stacks["prod"].resources)


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_each_cluster_stack_holds_its_own_cluster_and_gate(env: str) -> None:
    plan, stacks = _micro(env)
    gate = names.upgrade_gate(plan.fleet)
    assert not [r for r in stacks[env].resources if r.name == gate], "the fleet stack has no upgrade gate"
    assert not any(r.type in ("fleetform:index:Cluster", "fleetform:index:ClusterName") for r in stacks[env].resources)
    for c in dict.fromkeys(c.name for c in plan.clusters):
        resources = stacks[cluster_stack(env, c)].resources
        others = {r.name for r in resources if owner(plan, r.name) not in (None, c)}
        assert others == set(), f"the stack of {c} holds another cluster's resources"
        incarnations = {r.name for r in resources if r.type == "fleetform:index:Cluster"}
        assert incarnations == {i.key for i in plan.clusters if i.name == c}
        (own,) = [r for r in resources if r.name == gate and r.type == GATE_TYPE]
        # Inputs without a value (the wave's start, set by the gate) are not sent.
        expected = {k: v for k, v in gate_inputs(plan, c).items() if v is not None}
        assert {k: v for k, v in own.inputs.items() if k != "__provider"} == expected
        assert set(expected["versions"]) <= {c}


def test_cluster_stack_reads_its_fleet_stack_file() -> None:
    """Under `pulumi up` a cluster stack has no configuration: the program reads
    stacks/Pulumi.<env>.yaml (here dev, whose file says `stacks: single`: the name is
    not one of its stacks, and the message says so)."""
    _, stacks = _micro("dev")
    fleet_outputs = stacks["dev"].stack_outputs()
    with pytest.raises(FleetError, match=r"stack 'dev.dev-aws' is not a stack of this fleet \(stacks: single: dev\)"):
        run_program(ROOT, project=PROJECT, stack="dev.dev-aws", config={},
                    stack_outputs={"dev": fleet_outputs}, seed_stack="dev")


def test_fleet_stack_not_applied_is_named() -> None:
    plan, _ = _micro("dev")
    with pytest.raises(StackNotApplied, match=r"stack 'dev' has no outputs: apply it first"):
        run_micro_stack(ROOT, project=PROJECT, plan=plan, stack="dev.dev-gcp",
                        config=_config("dev", "per-cluster"), fleet_outputs=None)


def test_missing_fleet_output_is_named_with_its_stack() -> None:
    plan, stacks = _micro("dev")
    outputs = dict(stacks["dev"].stack_outputs())
    del outputs["cluster_keys:dev-gcp"]
    with pytest.raises(StackOutputMissing, match=r"stack 'dev' has no output 'cluster_keys:dev-gcp'"):
        run_micro_stack(ROOT, project=PROJECT, plan=plan, stack="dev.dev-gcp",
                        config=_config("dev", "per-cluster"), fleet_outputs=outputs)


def test_fleet_stack_outputs_keep_keys_secret() -> None:
    _, stacks = _micro("dev")
    fleet = stacks["dev"]
    assert {"cluster_keys:dev-aws", "cluster_keys:dev-gcp"} <= set(fleet.secret_output_names)
    assert fleet.outputs["cluster_keys:dev-aws"] == "[secret]"
    assert "cluster_identity:dev-aws" not in fleet.secret_output_names
    assert fleet.stack_outputs()["cluster_keys:dev-aws"].secret


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_state_moves_cover_each_cluster_stack(env: str) -> None:
    """`fleetform stacks --moves`: each URN exists in the single stack, and the moved
    subtrees are exactly the cluster stack's resources but for what its first `pulumi
    up` creates (the Fleet component, the upgrade gate) and the providers `pulumi state
    move` copies."""
    plan, stacks = _micro(env)
    single = {r.urn for r in _single(env).resources}
    gate = names.upgrade_gate(plan.fleet)
    for stack, urns in moves(plan, stacks).items():
        assert urns and set(urns) <= single
        resources = stacks[stack].resources
        local = {u.replace(f"urn:pulumi:{env}::", f"urn:pulumi:{stack}::", 1) for u in urns}
        parent = {r.urn: r.parent for r in resources}
        rest = {r.name for r in resources if not _under(r.urn, local, parent)}
        copied = {r.name for r in resources if r.type.startswith("pulumi:providers:")
                  and not _under(r.urn, local, parent)}
        assert rest - copied == {plan.fleet, gate, f"fleetform-{stack}"}


def _under(urn: str | None, roots: set[str], parent: dict[str, str | None]) -> bool:
    while urn is not None:
        if urn in roots:
            return True
        urn = parent.get(urn)
    return False


def test_cluster_stack_without_config_reads_the_stack_file(tmp_path: Path) -> None:
    """`pulumi up --stack dev.dev-aws` in a project whose stacks/Pulumi.dev.yaml says
    `stacks: per-cluster`: no configuration, and the same resources as the offline run
    that hands the program the stack file's configuration."""
    (tmp_path / "stacks").mkdir()
    (tmp_path / "__main__.py").write_text((ROOT / "__main__.py").read_text())
    (tmp_path / "stacks" / "fleet.yaml").write_text((STACKS / "fleet.yaml").read_text())
    doc = yaml.safe_load((STACKS / "Pulumi.dev.yaml").read_text())
    doc["config"]["fleetform:fleet"]["stacks"] = "per-cluster"
    (tmp_path / "stacks" / "Pulumi.dev.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    _, stacks = _micro("dev")
    result = run_program(tmp_path, project=PROJECT, stack="dev.dev-aws", config={},
                         stack_outputs={"dev": stacks["dev"].stack_outputs()}, seed_stack="dev")
    assert [r.to_json() for r in result.resources] == [r.to_json() for r in stacks["dev.dev-aws"].resources]


def test_evaluate_stacks_runs_a_stack_file_elsewhere(tmp_path: Path) -> None:
    """A per-cluster stack file outside stacks/ (`--file`): the same micro-stacks."""
    doc = yaml.safe_load((STACKS / "Pulumi.staging.yaml").read_text())
    doc["config"]["fleetform:fleet"]["stacks"] = "per-cluster"
    (tmp_path / "fleet.yaml").write_text((STACKS / "fleet.yaml").read_text())
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    results = evaluate_stacks(load_stack(None, str(path)), clusters=["stg-us"])
    _, stacks = _micro("staging")
    assert list(results) == ["staging", "staging.stg-us"]
    for name, result in results.items():
        assert [r.to_json() for r in result.resources] == [r.to_json() for r in stacks[name].resources]
