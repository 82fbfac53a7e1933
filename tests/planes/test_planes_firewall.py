"""Firewall rules exactly as the plan decides them, and machine identities.

AWS: one security group per role, ingress rules that reference groups (CIDRs only for
``api.allowed_cidrs`` and the NLB health checks from inside the VPC). GCP: firewall
rules whose targets and sources are service accounts (never network tags), health-check
ranges only towards the API's backends; never the default compute service account.
"""

from __future__ import annotations

import json

from planes_support import GCP_INSTANCE, GCP_TEMPLATE, StackRun

from fleetform.plan.firewall import LB_HEALTH_CHECKS
from fleetform.plan.model import ClusterPlan

SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
FIREWALL = "gcp:compute/firewall:Firewall"
ACCOUNT = "gcp:serviceaccount/account:Account"
HEALTH_CHECK_RANGES = {"35.191.0.0/16", "130.211.0.0/22", "209.85.152.0/22", "209.85.204.0/22"}
DEFAULT_COMPUTE_SA = "-compute@developer.gserviceaccount.com"


# ------------------------------------------------------------------------------ AWS

Permission = tuple[str, tuple[str, str], str, int, int]  # target, (kind, source), proto, from, to


def _aws_groups(run: StackRun, plan: ClusterPlan) -> dict[str, str]:
    """security-group id -> role (the ``plane`` tag of the group)."""
    return {run.id_of(sg): sg.inputs["tags"]["plane"] for sg in run.of_type(SG, run.in_cluster(plan))}


def _aws_actual(run: StackRun, plan: ClusterPlan) -> list[Permission]:
    groups = _aws_groups(run, plan)
    actual: list[Permission] = []
    for rule in run.of_type(INGRESS, run.in_cluster(plan)):
        i = rule.inputs
        assert ("referencedSecurityGroupId" in i) != ("cidrIpv4" in i), f"{rule.name}: exactly one source"
        source = ("sg", groups[i["referencedSecurityGroupId"]]) if "referencedSecurityGroupId" in i \
            else ("cidr", i["cidrIpv4"])
        actual.append((groups[i["securityGroupId"]], source, i["ipProtocol"], i["fromPort"], i["toPort"]))
    return actual


def _aws_expected(plan: ClusterPlan) -> set[Permission]:
    expected: set[Permission] = set()
    for r in plan.firewall:
        if r.source_is_role:
            source = ("sg", r.source)
        elif r.source == LB_HEALTH_CHECKS:
            source = ("cidr", plan.network.node_cidr)  # NLB nodes live inside the VPC
        else:
            source = ("cidr", r.source)
        expected.add((r.target, source, r.protocol, r.ports[0], r.ports[1]))
    return expected


def test_aws_security_group_rules_are_exactly_the_plans(stack: StackRun) -> None:
    for plan in (p for p in stack.plan.clusters if p.cloud == "aws"):
        actual = _aws_actual(stack, plan)
        assert len(actual) == len(set(actual)), f"{plan.key}: duplicate permissions"
        assert set(actual) == _aws_expected(plan), plan.key


def test_aws_etcd_is_reachable_only_from_the_control_plane(stack: StackRun) -> None:
    for plan in (p for p in stack.plan.clusters if p.cloud == "aws"):
        actual = _aws_actual(stack, plan)
        assert {p for p in actual if p[0] == "etcd"} == {
            ("etcd", ("sg", "control_plane"), "tcp", 2379, 2379),
            ("etcd", ("sg", "etcd"), "tcp", 2380, 2380),
        }
        assert [p for p in actual if p[3] <= 2379 <= p[4]] == [("etcd", ("sg", "control_plane"), "tcp", 2379, 2379)]
        assert {p[1] for p in actual if p[3] <= 10250 <= p[4]} == {("sg", "control_plane")}
        # The API: from the cluster's own groups and api.allowed_cidrs, nothing wider.
        api = {p[1] for p in actual if p[0] == "api_lb"}
        assert api == {("sg", "control_plane"), ("sg", "worker")} | {("cidr", c) for c in plan.api.allowed_cidrs}
        assert not [p for p in actual if p[1] == ("cidr", "0.0.0.0/0")]


def test_aws_machines_attach_only_their_roles_group(stack: StackRun) -> None:
    for plan in (p for p in stack.plan.clusters if p.cloud == "aws"):
        groups = _aws_groups(stack, plan)
        inside = stack.in_cluster(plan)
        for instance in stack.of_type("aws:ec2/instance:Instance", inside):
            role = instance.inputs["tags"]["plane"]
            assert [groups[g] for g in instance.inputs["vpcSecurityGroupIds"]] == [role], instance.name
        for lt in stack.of_type("aws:ec2/launchTemplate:LaunchTemplate", inside):
            (nic,) = lt.inputs["networkInterfaces"]
            assert [groups[g] for g in nic["securityGroups"]] == ["worker"], lt.name
        for lb in stack.of_type("aws:lb/loadBalancer:LoadBalancer", inside):
            assert [groups[g] for g in lb.inputs["securityGroups"]] == ["api_lb"], lb.name
        # Egress per role: only workers are open to everything.
        egress = stack.of_type(EGRESS, inside)
        assert {groups[e.inputs["securityGroupId"]] for e in egress} == set(groups.values())
        assert {groups[e.inputs["securityGroupId"]] for e in egress
                if (e.inputs["ipProtocol"], e.inputs.get("cidrIpv4")) == ("-1", "0.0.0.0/0")} == {"worker"}


# ------------------------------------------------------------------------------ GCP

GcpRule = tuple[tuple[str, ...], str, tuple[str, ...], frozenset[tuple[str, tuple[str, ...]]]]


def _member_accounts(run: StackRun, plan: ClusterPlan) -> dict[str, str]:
    """etcd member -> the email of its own service account."""
    network = f"{plan.key}-network"
    by_name = {a.name: run.outputs(a)["email"] for a in run.of_type(ACCOUNT, run.in_cluster(plan))}
    return {m.name: by_name[f"{network}-{m.name}"] for m in plan.etcd.members}


def _service_accounts(run: StackRun, plan: ClusterPlan) -> dict[str, tuple[str, ...]]:
    """role -> the service-account emails that wear it: one each for the control plane
    and the workers, one per member for etcd (sorted)."""
    network = f"{plan.key}-network"
    roles = {f"{network}-control-plane": "control_plane", f"{network}-worker": "worker",
             **{f"{network}-{m.name}": "etcd" for m in plan.etcd.members}}
    accounts = run.of_type(ACCOUNT, run.in_cluster(plan))
    assert sorted(a.name for a in accounts) == sorted(roles)
    worn: dict[str, list[str]] = {}
    for a in accounts:
        worn.setdefault(roles[a.name], []).append(run.outputs(a)["email"])
    return {role: tuple(sorted(emails)) for role, emails in worn.items()}


def _gcp_expected(plan: ClusterPlan, sa: dict[str, tuple[str, ...]]) -> set[GcpRule]:
    backends = {"api_lb": "control_plane"}  # passthrough LB: its rules are its backends'
    hc = ("35.191.0.0/16", "130.211.0.0/22") if not plan.api.public else \
        ("35.191.0.0/16", "130.211.0.0/22", "209.85.152.0/22", "209.85.204.0/22")
    grouped: dict[tuple[str, str], dict[str, set[int]]] = {}
    for r in plan.firewall:
        if r.source == "api_lb":
            continue
        grouped.setdefault((r.target, r.source), {}).setdefault(r.protocol, set()).add(r.ports[0])
    expected: set[GcpRule] = set()
    for (target, source), ports in grouped.items():
        if source in sa:
            src = ("sa", sa[source])
        elif source == LB_HEALTH_CHECKS:
            src = ("ranges", hc)
        else:
            src = ("ranges", (source,))
        allows = frozenset((proto, tuple(str(p) for p in sorted(ps))) for proto, ps in ports.items())
        expected.add((sa[backends.get(target, target)], src[0], src[1], allows))
    return expected


def _gcp_actual(run: StackRun, plan: ClusterPlan) -> list[GcpRule]:
    (network,) = run.of_type("gcp:compute/network:Network", run.in_cluster(plan))
    actual: list[GcpRule] = []
    for fw in run.of_type(FIREWALL, run.in_cluster(plan)):
        i = fw.inputs
        assert i["network"] == run.outputs(network)["selfLink"], fw.name
        if i["direction"] == "EGRESS":  # egress per role: tests/components/test_gcp_adapter.py
            continue
        assert "targetTags" not in i and "sourceTags" not in i, f"{fw.name}: network tags"
        assert "denies" not in i
        assert ("sourceServiceAccounts" in i) != ("sourceRanges" in i), f"{fw.name}: exactly one kind of source"
        target = tuple(sorted(i["targetServiceAccounts"]))
        kind, sources = ("sa", tuple(sorted(i["sourceServiceAccounts"]))) if "sourceServiceAccounts" in i \
            else ("ranges", tuple(i["sourceRanges"]))
        allows = frozenset((a["protocol"], tuple(a["ports"])) for a in i["allows"])
        actual.append((target, kind, sources, allows))
    return actual


def test_gcp_firewall_rules_are_exactly_the_plans_on_service_accounts(stack: StackRun) -> None:
    for plan in (p for p in stack.plan.clusters if p.cloud == "gcp"):
        sa = _service_accounts(stack, plan)
        actual = _gcp_actual(stack, plan)
        assert len(actual) == len(set(actual))
        assert set(actual) == _gcp_expected(plan, sa), plan.key


def test_gcp_etcd_is_reachable_only_from_the_control_plane(stack: StackRun) -> None:
    for plan in (p for p in stack.plan.clusters if p.cloud == "gcp"):
        sa = _service_accounts(stack, plan)
        actual = _gcp_actual(stack, plan)
        to_etcd = {(kind, src, allows) for target, kind, src, allows in actual if target == sa["etcd"]}
        # Every member's account, on both sides of the peer rule.
        assert len(sa["etcd"]) == len(plan.etcd.members)
        assert to_etcd == {
            ("sa", sa["control_plane"], frozenset({("tcp", ("2379",))})),
            ("sa", sa["etcd"], frozenset({("tcp", ("2380",))})),
        }
        for target, kind, src, allows in actual:
            ports = {p for _, ps in allows for p in ps}
            if "2379" in ports:
                assert (target, kind, src) == (sa["etcd"], "sa", sa["control_plane"])
            if "10250" in ports:
                assert (kind, src) == ("sa", sa["control_plane"])
            if kind == "ranges":
                # Only health checkers (towards the API's backends) and api.allowed_cidrs.
                assert allows == frozenset({("tcp", ("6443",))}) and target == sa["control_plane"]
                assert set(src) <= HEALTH_CHECK_RANGES | set(plan.api.allowed_cidrs)
                assert "0.0.0.0/0" not in src


def test_gcp_machines_run_as_their_planes_service_account(stack: StackRun) -> None:
    for plan in (p for p in stack.plan.clusters if p.cloud == "gcp"):
        sa, own = _service_accounts(stack, plan), _member_accounts(stack, plan)
        inside = stack.in_cluster(plan)
        machines = stack.of_type(GCP_INSTANCE, inside) + stack.of_type(GCP_TEMPLATE, inside)
        assert machines
        for m in machines:
            role = m.inputs["labels"]["plane"].replace("-", "_")
            # etcd members each run as their own account; the other planes share theirs.
            (email,) = (own[m.inputs["labels"]["etcd-member"]],) if role == "etcd" else sa[role]
            assert m.inputs["serviceAccount"] == {
                "email": email, "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}, m.name
        # Secret readers are the cluster's own accounts only; the one writer is the
        # control plane, on the bootstrap token alone (it rotates it), adding versions only.
        writers = []
        for member in stack.of_type("gcp:secretmanager/secretIamMember:SecretIamMember", inside):
            assert member.inputs["member"] in {f"serviceAccount:{e}" for es in sa.values() for e in es}
            if member.inputs["role"] == "roles/secretmanager.secretVersionAdder":
                writers.append(member)
            else:
                assert member.inputs["role"] == "roles/secretmanager.secretAccessor"
        (cp_email,) = sa["control_plane"]
        assert [(w.inputs["member"], w.inputs["secretId"].endswith("bootstrap-token")) for w in writers] == [
            (f"serviceAccount:{cp_email}", True)]


def test_no_default_compute_service_account_anywhere(stack: StackRun) -> None:
    for r in stack.resources:
        text = json.dumps(r.inputs)
        assert DEFAULT_COMPUTE_SA not in text, r.urn
        if r.type in (GCP_INSTANCE, GCP_TEMPLATE):
            email = r.inputs["serviceAccount"]["email"]
            assert email and not email.endswith(DEFAULT_COMPUTE_SA), r.urn
