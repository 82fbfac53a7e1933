"""The real program on the prod stack keeps every promise: zero violations, offline and
through the CrossGuard pack, and every rule actually had something to look at."""

from __future__ import annotations

import collections
import dataclasses
from typing import Any

import pytest
from policy_helpers import ROOT, Record, _options, _struct, prod_released, servicer
from pulumi.runtime.proto import analyzer_pb2

from fleetform.engine.policy import evaluate, exit_code, subjects
from fleetform.engine.records import ProgramResult
from policies import rules


def test_prod_has_no_violations_offline(prod_result: ProgramResult) -> None:
    from fleetform.engine.policy import released
    from fleetform.plan.fleet import plan_fleet
    from fleetform.plan.load import load_stack_file

    plan = plan_fleet(load_stack_file(ROOT / "stacks" / "Pulumi.prod.yaml"))
    # edge-fra is moving: its target's etcd copy (phase prepare) is not protected yet...
    assert released(plan) == {"edge-fra-gcp-europe-west3"}
    found = evaluate(prod_result.resources, outputs=prod_result.outputs, decommissioning=released(plan))
    assert found == []  # not even an advisory "could not be checked"
    assert exit_code(found) == 0
    # ...and without saying so, the rule catches exactly those disks.
    caught = evaluate(prod_result.resources, only=["protected-etcd-data-and-root-ca"])
    assert caught and all("edge-fra-gcp-europe-west3-etcd-" in v.urn for v in caught)


def test_every_rule_has_something_to_check_in_prod(prod: list[Record]) -> None:
    """No rule passes vacuously: each one meets the resources it is about. (Prod has six
    clusters and seven incarnations: edge-fra's GCP target of its move stands next to it.)"""
    subs = subjects(prod)
    machines = collections.Counter(
        (s.type, rules.machine_role(s.type, s.inputs, s.options)) for s in subs if s.type in rules.MACHINES)
    assert machines == {
        (rules.AWS_INSTANCE, "etcd"): 13, (rules.AWS_INSTANCE, "control_plane"): 9,
        (rules.AWS_LAUNCH_TEMPLATE, "worker"): 4,
        (rules.GCP_INSTANCE, "etcd"): 12, (rules.GCP_INSTANCE, "control_plane"): 12,
        (rules.GCP_TEMPLATE, "worker"): 4,
    }
    views = [rules.api_server_view(s.type, s.inputs, s.options) for s in subs]
    # Replica 0 of each of the seven incarnations holds the ClusterConfiguration; 14 replicas join.
    assert sum(v is not None and v.flags is not None for v in views) == 7
    assert sum(v is not None and v.flags is None for v in views) == 14
    etcd_configs = [rules._etcd_config(rules.boot_files(s.type, s.inputs)) for s in subs
                    if s.type in rules.MACHINES and rules.machine_role(s.type, s.inputs, s.options) == "etcd"]
    assert len(etcd_configs) == 25 and all(c is not None and c[0] == "/etc/etcd/etcd.conf.yml"
                                           for c in etcd_configs)
    aws, _ = rules._planes(subs, "aws")
    gcp, _ = rules._planes(subs, "gcp")
    assert len(aws.etcd) == 3 and all(len(aws.only_control_plane(k)) == 1 for k in aws.etcd)
    assert len(gcp.etcd) == 4 and all(len(gcp.only_control_plane(k)) == 1 for k in gcp.etcd)
    into_etcd = [s for s in subs if s.type == rules.AWS_SG_INGRESS
                 and any(s.inputs["securityGroupId"] in g for g in aws.etcd.values())]
    assert sorted(s.inputs["fromPort"] for s in into_etcd) == [2379] * 3 + [2380] * 3
    assert len(rules._etcd_disks(subs)) == 25


def test_prod_has_no_violations_through_the_pack(prod: list[Record]) -> None:
    """Every resource through pulumi-policy's Analyze, the whole stack through AnalyzeStack:
    what `pulumi preview --policy-pack policies` would report is nothing at all."""
    server = servicer(sorted(prod_released()))  # what the pack reads from prod's config
    diagnostics: list[str] = []
    for r in prod:
        response = server.Analyze(analyzer_pb2.AnalyzeRequest(
            type=r["type"], properties=_struct(r["inputs"]), urn=r["urn"], name=r["name"],
            options=_options(r)), None)
        diagnostics += [f"{r['name']}: {d.policyName}: {d.message}" for d in response.diagnostics]
    stack = server.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=[
        analyzer_pb2.AnalyzerResource(
            type=r["type"], properties=_struct(r["inputs"]), urn=r["urn"], name=r["name"],
            options=_options(r), parent=r.get("parent") or "", dependencies=r["dependencies"],
            propertyDependencies={}) for r in prod]), None)
    diagnostics += [f"{d.urn}: {d.policyName}: {d.message}" for d in stack.diagnostics]
    assert diagnostics == []


def test_a_rule_that_breaks_fails_closed(prod: list[Record], monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in a rule must not pass a resource silently, nor crash `fleetform plan`."""
    index = next(n for n, r in enumerate(rules.RULES) if r.name == "imdsv2-required")

    def broken(type_: str, inputs: Any, options: rules.Options) -> list[str]:
        raise KeyError("metadataOptions")

    patched = list(rules.RULES)
    patched[index] = dataclasses.replace(patched[index], resource_check=broken)
    monkeypatch.setattr(rules, "RULES", patched)
    vm = next(r for r in prod if r["type"] == rules.AWS_INSTANCE)
    (v,) = evaluate([vm], only=["imdsv2-required"])
    assert v.mandatory and "the rule failed on this resource (KeyError" in v.message
    assert exit_code([v]) == 3
