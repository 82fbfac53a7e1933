"""The shape of the graph: parents, component type tokens, unique and stable names."""

from __future__ import annotations

import re

from planes_support import COMPONENT_PREFIX, STACK_TYPE, StackRun

from fleetform.plan.firewall import egress_rules
from fleetform.plan.model import ClusterPlan

_PASCAL = re.compile(r"^[A-Z][A-Za-z0-9]*$")


def test_every_resource_but_providers_and_the_stack_has_a_recorded_parent(stack: StackRun) -> None:
    stacks = [r for r in stack.resources if r.type == STACK_TYPE]
    assert len(stacks) == 1
    orphans = [r.urn for r in stack.resources
               if r.type != STACK_TYPE and not r.type.startswith("pulumi:providers:") and not r.parent]
    assert orphans == []
    dangling = [r.urn for r in stack.resources if r.parent and r.parent not in stack.by_urn]
    assert dangling == []
    # Only the Fleet hangs directly off the Stack; everything else sits in a component.
    top = [r.type for r in stack.resources if r.parent == stacks[0].urn]
    assert top == [COMPONENT_PREFIX + "Fleet"]
    for r in stack.resources:
        if r.type.startswith(("aws:", "gcp:", "tls:", "random:", "kubernetes:")):
            component = stack.component_of(r)
            assert component is not None, f"{r.urn} is not inside a fleetform component"


def test_components_use_fleetform_index_type_tokens(stack: StackRun) -> None:
    components = [r for r in stack.resources if not r.custom and r.type != STACK_TYPE]
    assert components, "no components recorded"
    for r in components:
        package, module, name = r.type.split(":")
        assert (package, module) == ("fleetform", "index"), r.urn
        assert _PASCAL.match(name), r.urn
    # Every cluster has the planes of the design, named from its incarnation key.
    for plan in stack.plan.clusters:
        cluster = stack.cluster(plan)
        planes = {(r.type.removeprefix(COMPONENT_PREFIX), r.name) for r in stack.children(cluster.urn)
                  if r.type.startswith(COMPONENT_PREFIX)}
        expected = {("Network", f"{plan.key}-network"), ("EtcdDataPlane", f"{plan.key}-etcd"),
                    ("ControlPlane", f"{plan.key}-control-plane")}
        expected |= {("WorkerPlane", f"{plan.key}-workers-{pool.name}") for pool in plan.workers}
        assert expected <= planes, f"{plan.key}: missing planes {sorted(expected - planes)}"


def test_urns_and_names_are_unique(stack: StackRun) -> None:
    urns = [r.urn for r in stack.resources]
    assert len(urns) == len(set(urns))
    typed_names = [(r.type, r.name) for r in stack.resources]
    assert len(typed_names) == len(set(typed_names))


def test_child_names_are_derived_from_their_parent(stack: StackRun) -> None:
    """``f"{name}-etcd-0"``: a child's name starts with its component's name. Clusters,
    the Fleet's children, are named by their incarnation key (itself a stable key and
    unique in the stack) so that their URNs do not depend on the fleet's name; likewise a
    ``ClusterName`` (what belongs to a cluster's name, whichever incarnation serves it)
    by the cluster's name."""
    for r in stack.resources:
        parent = stack.by_urn.get(r.parent or "")
        if parent is None or parent.type == STACK_TYPE:
            continue
        if r.type == COMPONENT_PREFIX + "Cluster":
            assert r.name in {c.key for c in stack.plan.clusters}, r.urn
            continue
        if r.type == COMPONENT_PREFIX + "ClusterName":
            assert r.name in {c.name for c in stack.plan.clusters}, r.urn
            continue
        assert r.name.startswith(parent.name + "-"), f"{r.name!r} is not derived from {parent.name!r}"


def _stable_tokens(plan: ClusterPlan) -> list[str]:
    """Name parts that contain digits but are stable keys, not list positions."""
    tokens = {plan.key, plan.region, *plan.zones}
    tokens |= {m.name for m in plan.etcd.members} | {r.name for r in plan.control_plane.replicas}
    for rule in plan.firewall:
        lo, hi = rule.ports
        tokens |= {f"{rule.protocol}-{lo}", f"{rule.protocol}-{lo}-{hi}"}
        if rule.source_is_cidr:
            tokens.add(re.sub(r"[^a-z0-9]+", "-", rule.source).strip("-"))
    for egress in egress_rules(plan.network.node_cidr, plan.network.pod_cidr):  # ports are rule content
        lo, hi = egress.ports
        tokens |= {f"{egress.protocol}-{lo}", f"{egress.protocol}-{lo}-{hi}"}
    return sorted(tokens, key=len, reverse=True)


def test_no_name_carries_a_list_position(stack: StackRun) -> None:
    """Digits in a name come only from stable keys: regions and zones, member and replica
    names (etcd-0, cp-0 are names the plan gives, not positions), ports and CIDRs."""
    for r in stack.resources:
        cluster = stack.cluster_of(r)
        name = r.name
        if cluster is not None:
            plan = next(p for p in stack.plan.clusters if p.key == cluster.name)
            for token in _stable_tokens(plan):
                name = name.replace(token, "K")
        numeric = [part for part in name.split("-") if part.isdigit()]
        assert numeric == [], f"{r.urn}: positional-looking part(s) {numeric} in {r.name!r}"


def test_member_names_match_the_plan(stack: StackRun) -> None:
    for plan in stack.plan.clusters:
        inside = stack.in_cluster(plan)
        members = {m.group(1) for r in inside if (m := re.search(r"-etcd-(etcd-\d+)(?:-|$)", r.name))}
        replicas = {m.group(1) for r in inside if (m := re.search(r"-control-plane-(cp-\d+)(?:-|$)", r.name))}
        assert members == {m.name for m in plan.etcd.members}
        assert replicas == {r.name for r in plan.control_plane.replicas}


def test_reordering_clusters_keeps_every_urn(prod: StackRun, prod_reordered: StackRun) -> None:
    assert [c.name for c in prod_reordered.plan.clusters] == [c.name for c in reversed(prod.plan.clusters)]
    before, after = set(prod.by_urn), set(prod_reordered.by_urn)
    assert sorted(after - before) == [] and sorted(before - after) == []
    # Not only the same URNs: every cluster's resources are the same, inputs included, so
    # `pulumi up` after a reorder touches no cluster.
    changed = [u for u in before if prod.cluster_of(prod.by_urn[u]) is not None
               and prod.by_urn[u].to_json() != prod_reordered.by_urn[u].to_json()]
    assert changed == []


def test_reordering_clusters_changes_no_fleet_level_resource(prod: StackRun, prod_reordered: StackRun) -> None:
    changed = sorted(prod.by_urn[u].name for u in prod.by_urn
                     if prod.by_urn[u].to_json() != prod_reordered.by_urn[u].to_json())
    assert changed == []
