"""`fleetform operator`'s Pulumi Kubernetes Operator objects: every one valid against the
operator's Stack CRD (../shared/ref), one Stack per micro-stack, prerequisites acyclic
with the fleet stack first, the same bytes for the same input, and located errors for
bad options."""

from __future__ import annotations

import dataclasses
from functools import cache
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from fleetform.engine.operator import Source, render, stack_objects
from fleetform.engine.runner import secrets_provider
from fleetform.plan.fleet import plan_fleet
from fleetform.plan.load import load_stack_file
from fleetform.plan.model import FleetPlan
from fleetform.plan.stacks import stack_layout
from fleetform.spec.errors import FleetError
from tests.addons.schemas import REF, undeclared

ROOT = Path(__file__).resolve().parents[2]

CRD = REF / "crds" / "pulumi-kubernetes-operator" / "pulumi.com_stacks.yaml"
SOURCE = Source(repo="https://github.com/acme/fleet.git", branch="main", path="infra", namespace="pulumi",
                service_account="pulumi")


@cache
def stack_schema() -> dict[str, Any]:
    if not CRD.is_file():
        pytest.skip(f"reference data missing: {CRD} (clone the repo beside shared/)")
    crd = yaml.safe_load(CRD.read_text())
    (v1,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    assert v1["served"] and v1["storage"]
    schema: dict[str, Any] = v1["schema"]["openAPIV3Schema"]
    return schema


def _plan(env: str, stacks: str) -> FleetPlan:
    return dataclasses.replace(plan_fleet(load_stack_file(ROOT / "stacks" / f"Pulumi.{env}.yaml")),
                               stacks=stacks)  # type: ignore[arg-type]


def _objects(env: str, stacks: str, source: Source = SOURCE) -> list[dict[str, Any]]:
    return stack_objects(stack_layout(_plan(env, stacks)), source, secrets_provider(ROOT, env))


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
@pytest.mark.parametrize("stacks", ["single", "per-cluster"])
def test_every_object_validates_against_the_stack_crd(env: str, stacks: str) -> None:
    schema = stack_schema()
    for obj in _objects(env, stacks):
        jsonschema.validate(obj, schema)
        extra = [p for p in undeclared(schema, obj) if not p.startswith(".metadata.")]
        assert extra == [], f"{obj['metadata']['name']}: fields the CRD does not declare: {extra}"
        assert (obj["apiVersion"], obj["kind"]) == ("pulumi.com/v1", "Stack")
        assert obj["spec"]["destroyOnFinalize"] is False


def test_one_stack_per_micro_stack_with_the_fleet_stack_first_and_acyclic() -> None:
    plan = _plan("prod", "per-cluster")
    objects = _objects("prod", "per-cluster")
    assert [o["spec"]["stack"] for o in objects] == [s.name for s in stack_layout(plan)]
    names = {o["metadata"]["name"] for o in objects}
    graph = {o["metadata"]["name"]: {p["name"] for p in o["spec"].get("prerequisites", [])} for o in objects}
    assert all(deps <= names for deps in graph.values())  # every prerequisite is one of the objects
    order = list(TopologicalSorter(graph).static_order())  # raises CycleError on a cycle
    assert order[0] == "prod" and graph["prod"] == set()
    assert all(graph[n] == {"prod"} for n in names - {"prod"})
    # Same program, same KMS key for every micro-stack.
    assert {o["spec"]["secretsProvider"] for o in objects} == {"awskms://alias/fleetform-prod?region=eu-west-1"}
    assert {(o["spec"]["projectRepo"], o["spec"]["branch"], o["spec"]["repoDir"]) for o in objects} == {
        ("https://github.com/acme/fleet.git", "main", "infra")}


def test_the_same_input_gives_the_same_bytes() -> None:
    assert render(_objects("prod", "per-cluster")) == render(_objects("prod", "per-cluster"))
    files = render(_objects("prod", "per-cluster"))
    assert "prod.yaml" in files and all(yaml.safe_load(t)["kind"] == "Stack" for t in files.values())


def test_organization_and_backend() -> None:
    source = dataclasses.replace(SOURCE, organization="acme", backend="s3://acme-pulumi-state",
                                 token_secret="pulumi-api")
    (obj,) = _objects("dev", "single", source)
    assert obj["spec"]["stack"] == "acme/dev" and obj["spec"]["backend"] == "s3://acme-pulumi-state"
    assert obj["spec"]["envRefs"] == {"PULUMI_ACCESS_TOKEN": {"type": "Secret", "secret": {
        "name": "pulumi-api", "key": "accessToken"}}}
    jsonschema.validate(obj, stack_schema())


def test_bad_options_are_located() -> None:
    bad = Source(repo="github.com/acme", branch="a b", path="../up", namespace="Pulumi_NS",
                 service_account="Bad Name", organization="-x", token_secret="A_B")
    with pytest.raises(FleetError) as exc:
        _objects("dev", "single", bad)
    assert [p.file for p in exc.value.problems] == ["--repo", "--branch", "--path", "--namespace",
                                                    "--service-account", "--token-secret", "--org"]


def test_a_stack_name_that_is_no_kubernetes_name_is_refused() -> None:
    plan = dataclasses.replace(_plan("dev", "single"), stack="Dev_EU")
    with pytest.raises(FleetError, match="is not a Kubernetes object name"):
        stack_objects(stack_layout(plan), SOURCE, None)
