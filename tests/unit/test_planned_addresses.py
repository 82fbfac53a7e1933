"""Every address the plan fixes in a cluster's subnets is one the cloud accepts and no
other planned address takes: etcd members, control-plane replicas, the API's internal
load balancer (GCP) and a ClusterMesh member's API load balancer (one per zone subnet on
AWS, one on GCP), over the example stacks with every cluster meshed and over generated
fleets."""

from __future__ import annotations

import copy
import dataclasses
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given

from fleetform.plan.fleet import plan_fleet
from fleetform.plan.ipam import address_problems, fixed_addresses
from fleetform.plan.load import load_config
from fleetform.plan.model import ClusterPlan, FleetPlan

from .helpers import plan_dict
from .test_properties import SETTINGS, fleets

ROOT = Path(__file__).resolve().parents[2]
STACKS = ROOT / "stacks"
TMP = Path(tempfile.gettempdir())


def meshed(fleet: dict[str, Any], names: list[str], *, explicit_ids: bool = False) -> dict[str, Any]:
    """``fleet`` with every cluster on Cilium and all of them in one mesh (``explicit_ids``:
    cluster ids by position, for slots above 254 that derive none)."""
    fleet = copy.deepcopy(fleet)
    for i, c in enumerate(fleet["clusters"]):
        c["cni"] = {"plugin": "cilium", **({"cilium": {"cluster_id": i + 1}} if explicit_ids else {})}
    fleet["mesh"] = {"clusters": names}
    return fleet


def example_plan(env: str) -> FleetPlan:
    config = yaml.safe_load((STACKS / f"Pulumi.{env}.yaml").read_text())["config"]
    fleet = config["fleetform:fleet"]
    fleet = meshed(fleet, [c["name"] for c in fleet["clusters"]])
    return plan_fleet(load_config(fleet, config.get("fleetform:base"), stack=env,
                                  label=f"stacks/Pulumi.{env}.yaml", stacks_dir=STACKS))


def check(c: ClusterPlan) -> None:
    assert address_problems(c) == [], c.key
    if not c.serving:
        assert c.cni.mesh is None  # a migration target joins the mesh at cutover
        return
    assert c.cni.mesh is not None, c.key
    zones = [z for z, _ in c.cni.mesh.lb_ips]
    assert zones == (list(c.zones) if c.cloud == "aws" else [c.zones[0]])
    mesh = {ip for what, _, ip in fixed_addresses(c) if what.startswith("clustermesh")}
    assert mesh == set(c.cni.mesh.ips) and len(mesh) == len(zones)


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_example_stacks_with_a_mesh_plan_no_colliding_address(env: str) -> None:
    plan = example_plan(env)
    for c in plan.clusters:
        check(c)
    # Peers dial the serving incarnation's planned addresses.
    for c in plan.clusters:
        for peer in c.cni.mesh.peers if c.cni.mesh is not None else ():
            serving = plan.cluster(peer.cluster).cni.mesh
            assert serving is not None and peer.ips == serving.ips


@SETTINGS
@given(fleet=fleets(indexed=True, min_size=2, max_size=5))
def test_generated_meshes_plan_no_colliding_address(fleet: dict[str, Any]) -> None:
    plan = plan_dict(meshed(fleet, [c["name"] for c in fleet["clusters"]], explicit_ids=True), TMP)
    for c in plan.clusters:
        check(c)


def test_a_collision_is_reported() -> None:
    """The check above is not vacuous: a replica moved onto the mesh address is caught."""
    c = next(c for c in example_plan("prod").clusters if c.cloud == "aws")
    assert c.cni.mesh is not None
    zone, ip = c.cni.mesh.lb_ips[0]
    replica = next(r for r in c.control_plane.replicas if r.zone == zone)
    moved = dataclasses.replace(c, control_plane=dataclasses.replace(
        c.control_plane, replicas=(dataclasses.replace(replica, ip=ip),)))
    assert address_problems(moved) == [f"{c.key}: clustermesh load balancer ({zone}) {ip} is also {replica.name}'s"]
