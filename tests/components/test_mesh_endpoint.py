"""ClusterMesh without a cloud-controller-manager, under the offline engine.

The real ``__main__.py`` runs the prod stack with ``mesh: {clusters: [eu-core, us-gcp]}``
(eu-core on AWS, us-gcp on GCP: a mesh across clouds). For each member:

- Cilium's ``clustermesh-apiserver`` Service is a NodePort on the member's own fixed
  port (32000 + its cluster id);
- a ``ClusterMeshEndpoint`` (``<incarnation>-clustermesh``) holds an internal TCP load
  balancer on that port in front of every worker pool, through the cluster's own
  provider, and ``clustermesh.<cluster>.<domain>`` in the cluster's private zone;
- the workers' firewall opens that port to exactly the peers' node CIDRs (plus the load
  balancer's health checks), on both clouds;
- its load balancer sits on planned private addresses (AWS: one per zone subnet, through
  ``subnet_mappings``, reserved in the subnets; GCP: a reserved internal address), and
  its peers' Cilium values name it by those addresses (``ips``), so no member's values
  depend on a peer's cloud resources.

Clusters outside the mesh get none of it.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "planes"))

from planes_support import STACKS, StackRun, run_stack, stack_config, write_stack

from fleetform.plan.firewall import LB_HEALTH_CHECKS
from fleetform.plan.model import ClusterPlan
from tests.addons.schemas import check_values, need_ref

MEMBERS = ("eu-core", "us-gcp")
ENDPOINT = "fleetform:index:ClusterMeshEndpoint"
NLB = "aws:lb/loadBalancer:LoadBalancer"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
LISTENER = "aws:lb/listener:Listener"
ASG = "aws:autoscaling/group:Group"
ASG_ATTACHMENT = "aws:autoscaling/attachment:Attachment"
ROUTE53_RECORD = "aws:route53/record:Record"
ROUTE53_ZONE = "aws:route53/zone:Zone"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SG = "aws:ec2/securityGroup:SecurityGroup"
HEALTH_CHECK = "gcp:compute/regionHealthCheck:RegionHealthCheck"
BACKEND = "gcp:compute/regionBackendService:RegionBackendService"
FORWARDING_RULE = "gcp:compute/forwardingRule:ForwardingRule"
MIG = "gcp:compute/instanceGroupManager:InstanceGroupManager"
RECORD_SET = "gcp:dns/recordSet:RecordSet"
MANAGED_ZONE = "gcp:dns/managedZone:ManagedZone"
FIREWALL = "gcp:compute/firewall:Firewall"
ACCOUNT = "gcp:serviceaccount/account:Account"


def _run(directory: Path, clusters_reversed: bool = False) -> StackRun:
    config = copy.deepcopy(stack_config(STACKS / "Pulumi.prod.yaml"))
    fleet = config["fleetform:fleet"]
    fleet["mesh"] = {"clusters": list(reversed(MEMBERS)) if clusters_reversed else list(MEMBERS)}
    if clusters_reversed:
        fleet["clusters"] = list(reversed(fleet["clusters"]))
    return run_stack(write_stack(directory, "prod", {"config": config}))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> StackRun:
    return _run(tmp_path_factory.mktemp("mesh"))


def plan_of(run: StackRun, name: str) -> ClusterPlan:
    return run.plan.cluster(name)


def endpoint(run: StackRun, name: str) -> Any:
    return run.component("ClusterMeshEndpoint", f"{plan_of(run, name).key}-clustermesh")


def owned(run: StackRun, name: str, type_: str) -> list[Any]:
    return run.of_type(type_, run.owned(endpoint(run, name)))


def cni_file(run: StackRun, name: str) -> Any:
    """The member's bundle file holding its plugin's Flux objects (in its own bucket)."""
    plan = plan_of(run, name)
    (found,) = [r for r in run.in_cluster(plan) if r.name == f"{plan.key}-addons-file-cni-{plan.cni.plugin}-yaml"]
    return found


def cilium_release(run: StackRun, name: str) -> dict[str, Any]:
    r = cni_file(run, name)
    text = r.inputs["content"] if "content" in r.inputs else r.inputs["source"]["asset"]["text"]
    (release,) = [o for o in yaml.safe_load_all(text) if o and o["kind"] == "HelmRelease"
                  and o["spec"]["releaseName"] == "cilium"]
    return dict(release)


def cilium_values(run: StackRun, name: str) -> dict[str, Any]:
    values: dict[str, Any] = cilium_release(run, name)["spec"]["values"]
    return values


def provider_name(run: StackRun, r: Any) -> str:
    provider = run.provider_of(r)
    assert provider is not None, f"{r.name}: no explicit provider"
    return str(provider.name)


def port(run: StackRun, name: str) -> int:
    mesh = plan_of(run, name).cni.mesh
    assert mesh is not None
    return mesh.port


# ---------------------------------------------------------------- values


@pytest.mark.parametrize("name", MEMBERS)
def test_the_clustermesh_api_is_a_node_port_of_its_own(run: StackRun, name: str) -> None:
    plan = plan_of(run, name)
    assert plan.cni.cluster_id is not None
    assert port(run, name) == 32000 + plan.cni.cluster_id
    service = cilium_values(run, name)["clustermesh"]["apiserver"]["service"]
    assert service == {"type": "NodePort", "nodePort": port(run, name), "externalTrafficPolicy": "Cluster"}
    assert len({port(run, m) for m in MEMBERS}) == len(MEMBERS)  # no two members share one


def test_peers_are_named_by_their_load_balancers_planned_addresses(run: StackRun) -> None:
    eu_plan, us_plan = plan_of(run, "eu-core"), plan_of(run, "us-gcp")
    assert eu_plan.cni.mesh is not None and us_plan.cni.mesh is not None
    eu_ips, us_ips = list(eu_plan.cni.mesh.ips), list(us_plan.cni.mesh.ips)
    assert len(eu_ips) == len(eu_plan.zones) and len(us_ips) == 1
    eu, us = cilium_values(run, "eu-core")["clustermesh"], cilium_values(run, "us-gcp")["clustermesh"]
    # Each dials <peer>.mesh.cilium.io, mapped to the peer's planned addresses.
    assert eu["config"] == {"enabled": True, "clusters": [
        {"name": "us-gcp", "ips": us_ips, "port": port(run, "us-gcp")}]}
    assert us["config"] == {"enabled": True, "clusters": [
        {"name": "eu-core", "ips": eu_ips, "port": port(run, "eu-core")}]}
    # Its own name and addresses in its server certificate (the chart adds *.mesh.cilium.io).
    assert eu["apiserver"]["tls"]["server"] == {
        "extraDnsNames": ["clustermesh.eu-core.fleet.acme.example"], "extraIpAddresses": eu_ips}
    assert us["apiserver"]["tls"]["server"] == {
        "extraDnsNames": ["clustermesh.us-gcp.fleet.acme.example"], "extraIpAddresses": us_ips}
    # The load balancers really sit there.
    (nlb,) = owned(run, "eu-core", NLB)
    (rule,) = owned(run, "us-gcp", FORWARDING_RULE)
    assert [m["privateIpv4Address"] for m in nlb.inputs["subnetMappings"]] == eu_ips
    assert [run.outputs(rule)["ipAddress"]] == us_ips
    for me, peer in (("eu-core", "us-gcp"), ("us-gcp", "eu-core")):
        # Nothing of the peer's is a dependency of the bundle file that names it.
        peer_urns = {r.urn for r in run.in_cluster(plan_of(run, peer))}
        assert not peer_urns & set(cni_file(run, me).dependencies)
        # The fleet's mesh CA reaches the release from a Secret, never from the bundle.
        assert cilium_release(run, me)["spec"]["valuesFrom"] == [
            {"kind": "Secret", "name": "fleetform-cni-secret-values", "valuesKey": "values.yaml"}]
        assert "tls" not in cilium_values(run, me)


@pytest.mark.parametrize("name", MEMBERS)
def test_member_values_fit_the_cilium_chart_schema(run: StackRun, name: str) -> None:
    need_ref()
    check_values("cilium", cilium_values(run, name))


def test_the_values_are_the_plans(run: StackRun) -> None:
    """`fleetform plan --json` shows the exact values the member's release gets."""
    for name in MEMBERS:
        planned = run.plan.cluster(name).cni.to_json()["values"]["cilium"]
        assert cilium_values(run, name)["clustermesh"] == planned["clustermesh"]


# ---------------------------------------------------------------- the load balancers


def test_aws_member_gets_an_internal_nlb_on_its_port_in_front_of_every_worker_pool(run: StackRun) -> None:
    plan = plan_of(run, "eu-core")
    p = port(run, "eu-core")
    ep = endpoint(run, "eu-core")
    assert run.cluster_of(ep) == run.cluster(plan) and ep.parent == run.cluster(plan).urn
    (nlb,) = owned(run, "eu-core", NLB)
    (group,) = owned(run, "eu-core", TARGET_GROUP)
    (listener,) = owned(run, "eu-core", LISTENER)
    assert nlb.inputs["loadBalancerType"] == "network" and nlb.inputs["internal"] is True
    # One planned address per zone subnet, each reserved in its subnet first (workers and
    # the API's NLB never take it); subnet mappings exclude `subnets`.
    assert "subnets" not in nlb.inputs
    assert plan.cni.mesh is not None
    by_id = {run.id_of(s): s.inputs["availabilityZone"] for s in run.of_type("aws:ec2/subnet:Subnet",
                                                                            run.in_cluster(plan))}
    assert [(by_id[m["subnetId"]], m["privateIpv4Address"]) for m in nlb.inputs["subnetMappings"]] == list(
        plan.cni.mesh.lb_ips)
    reservations = {r.inputs["cidrBlock"]: r for r in run.of_type(
        "aws:ec2/subnetCidrReservation:SubnetCidrReservation", run.in_cluster(plan)) if "clustermesh" in r.name}
    assert set(reservations) == {f"{ip}/32" for ip in plan.cni.mesh.ips}
    assert all(r.inputs["reservationType"] == "explicit" for r in reservations.values())
    assert {r.urn for r in reservations.values()} <= set(nlb.dependencies)
    # No security group on it: the peers' addresses reach the workers, whose rules decide.
    assert "securityGroups" not in nlb.inputs
    assert (group.inputs["port"], group.inputs["protocol"], group.inputs["preserveClientIp"]) == (p, "TCP", "true")
    assert (listener.inputs["port"], listener.inputs["protocol"]) == (p, "TCP")
    assert run.resolve(listener.inputs["loadBalancerArn"]).urn == nlb.urn
    assert run.resolve(listener.inputs["defaultActions"][0]["targetGroupArn"]).urn == group.urn
    # Every worker pool's autoscaling group is a target (nodes the autoscaler adds serve too).
    asgs = {run.outputs(a)["name"]: a for a in run.of_type(ASG, run.in_cluster(plan))}
    assert len(asgs) == len(plan.workers) == 2
    attachments = owned(run, "eu-core", ASG_ATTACHMENT)
    assert {a.inputs["autoscalingGroupName"] for a in attachments} == set(asgs)
    assert all(run.resolve(a.inputs["lbTargetGroupArn"]).urn == group.urn for a in attachments)
    # Everything through the cluster's own AWS provider.
    for r in (nlb, group, listener, *attachments):
        assert provider_name(run, r) == f"{plan.key}-aws", r.name
    assert {r.name for r in run.owned(ep)} == {
        f"{plan.key}-clustermesh-lb", f"{plan.key}-clustermesh-lb-tg", f"{plan.key}-clustermesh-lb-listener",
        f"{plan.key}-clustermesh-lb-target-workers-general-group",
        f"{plan.key}-clustermesh-lb-target-workers-memory-group",
        f"{plan.key}-clustermesh-dns"}


def test_gcp_member_gets_an_internal_passthrough_lb_on_its_port_with_global_access(run: StackRun) -> None:
    plan = plan_of(run, "us-gcp")
    p = port(run, "us-gcp")
    (health,) = owned(run, "us-gcp", HEALTH_CHECK)
    (backend,) = owned(run, "us-gcp", BACKEND)
    (rule,) = owned(run, "us-gcp", FORWARDING_RULE)
    assert health.inputs["tcpHealthCheck"]["port"] == p
    assert rule.inputs["ports"] == [str(p)] and rule.inputs["loadBalancingScheme"] == "INTERNAL"
    assert rule.inputs["allowGlobalAccess"] is True  # clients from other regions (VPN, peering)
    assert run.resolve(rule.inputs["backendService"]).urn == backend.urn
    # Backends: every zonal managed instance group of every worker pool, by the URL of
    # the instance group each manager runs (as the provider returns it).
    migs = run.of_type(MIG, run.in_cluster(plan))
    assert len(migs) == sum(len(p.zones) for p in plan.workers)
    groups = {run.outputs(m)["instanceGroup"] for m in migs}
    assert groups == {
        f"https://www.googleapis.com/compute/v1/projects/{run.plan.gcp_project}/zones/{m.inputs['zone']}/"
        f"instanceGroups/{m.inputs['name']}" for m in migs}
    assert sorted(b["group"] for b in backend.inputs["backends"]) == sorted(groups)
    for r in run.owned(endpoint(run, "us-gcp")):
        if r.custom:
            assert provider_name(run, r) == f"{plan.key}-gcp", r.name
    # Its planned address, reserved with the network (before any machine starts, and
    # every machine waits for it), is the forwarding rule's.
    assert plan.cni.mesh is not None
    assert not owned(run, "us-gcp", "gcp:compute/address:Address")
    network = run.component("Network", f"{plan.key}-network")
    (address,) = [a for a in run.of_type("gcp:compute/address:Address", run.owned(network))]
    assert (address.inputs["addressType"], address.inputs["address"]) == ("INTERNAL", plan.cni.mesh.ips[0])
    assert address.name == f"{plan.key}-clustermesh-lb-internal-ip"
    assert rule.inputs["ipAddress"] == plan.cni.mesh.ips[0] and address.urn in rule.dependencies
    for mig in migs:
        assert address.urn in mig.dependencies


# ---------------------------------------------------------------- DNS


def test_each_member_publishes_its_private_clustermesh_name(run: StackRun) -> None:
    aws_plan, gcp_plan = plan_of(run, "eu-core"), plan_of(run, "us-gcp")
    (record,) = owned(run, "eu-core", ROUTE53_RECORD)
    (nlb,) = owned(run, "eu-core", NLB)
    (zone,) = run.of_type(ROUTE53_ZONE, run.in_cluster(aws_plan))
    assert record.inputs["name"] == "clustermesh.eu-core.fleet.acme.example"
    assert record.inputs["zoneId"] == run.outputs(zone)["zoneId"]
    assert record.inputs["aliases"][0]["name"] == run.outputs(nlb)["dnsName"]
    (record_set,) = owned(run, "us-gcp", RECORD_SET)
    (rule,) = owned(run, "us-gcp", FORWARDING_RULE)
    (managed_zone,) = run.of_type(MANAGED_ZONE, run.in_cluster(gcp_plan))
    assert record_set.inputs["name"] == "clustermesh.us-gcp.fleet.acme.example."
    assert record_set.inputs["managedZone"] == run.outputs(managed_zone)["name"]
    assert record_set.inputs["rrdatas"] == [run.outputs(rule)["ipAddress"]]


# ---------------------------------------------------------------- firewall


def peers_cidrs(run: StackRun, name: str) -> set[str]:
    return {plan_of(run, m).network.node_cidr for m in MEMBERS if m != name}


@pytest.mark.parametrize("name", MEMBERS)
def test_the_plan_opens_the_port_on_the_workers_to_the_peers_only(run: StackRun, name: str) -> None:
    rules = [r for r in plan_of(run, name).firewall if r.ports == (port(run, name),) * 2]
    assert {r.target for r in rules} == {"worker"} and {r.protocol for r in rules} == {"tcp"}
    assert {r.source for r in rules} == peers_cidrs(run, name) | {LB_HEALTH_CHECKS}


def test_aws_security_group_rules_for_the_port(run: StackRun) -> None:
    plan = plan_of(run, "eu-core")
    p = port(run, "eu-core")
    roles = {run.id_of(sg): sg.inputs["tags"]["plane"] for sg in run.of_type(SG, run.in_cluster(plan))}
    rules = [r for r in run.of_type(INGRESS, run.in_cluster(plan)) if r.inputs["fromPort"] == p]
    assert {roles[r.inputs["securityGroupId"]] for r in rules} == {"worker"}
    assert all(r.inputs["toPort"] == p and r.inputs["ipProtocol"] == "tcp" for r in rules)
    peers = [r for r in rules if "-from-lb-health-checks-" not in r.name]
    assert {r.inputs["cidrIpv4"] for r in peers} == peers_cidrs(run, "eu-core")
    # NLB health checks come from the load balancer's nodes inside the VPC.
    (health,) = [r for r in rules if "-from-lb-health-checks-" in r.name]
    assert health.inputs["cidrIpv4"] == plan.network.node_cidr


def test_gcp_firewall_rules_for_the_port(run: StackRun) -> None:
    plan = plan_of(run, "us-gcp")
    p = str(port(run, "us-gcp"))
    accounts = {run.outputs(a)["email"]: a.name for a in run.of_type(ACCOUNT, run.in_cluster(plan))}
    rules = [r for r in run.of_type(FIREWALL, run.in_cluster(plan))
             if r.inputs["direction"] == "INGRESS" and any(p in a.get("ports", []) for a in r.inputs["allows"])]
    assert {accounts[sa] for r in rules for sa in r.inputs["targetServiceAccounts"]} == {
        f"{plan.key}-network-worker"}
    peers = [r for r in rules if "-from-lb-health-checks" not in r.name]
    assert {cidr for r in peers for cidr in r.inputs["sourceRanges"]} == peers_cidrs(run, "us-gcp")
    (health,) = [r for r in rules if "-from-lb-health-checks" in r.name]
    assert set(health.inputs["sourceRanges"]) <= {"35.191.0.0/16", "130.211.0.0/22", "209.85.152.0/22",
                                                  "209.85.204.0/22"}


# ---------------------------------------------------------------- outside the mesh


def test_clusters_outside_the_mesh_get_none_of_it(run: StackRun) -> None:
    members = {plan_of(run, m).key for m in MEMBERS}
    endpoints = run.of_type("fleetform:index:" + "ClusterMeshEndpoint")
    assert {e.name for e in endpoints} == {f"{k}-clustermesh" for k in members}
    mesh_ports = range(32001, 32256)
    others = [c for c in run.plan.clusters if c.key not in members]
    assert others
    for plan in others:
        assert plan.cni.mesh is None
        assert not any(r.ports[0] in mesh_ports for r in plan.firewall)
        inside = run.in_cluster(plan)
        assert not [r for r in inside if "clustermesh" in r.name]
        for rule in run.of_type(INGRESS, inside):
            assert rule.inputs["fromPort"] not in mesh_ports
        if plan.cni.plugin == "cilium":
            assert "clustermesh" not in cilium_values(run, plan.name)
            assert "valuesFrom" not in cilium_release(run, plan.name)["spec"]


# ---------------------------------------------------------------- stable names


def test_names_come_from_cluster_names_not_positions(run: StackRun, tmp_path: Path) -> None:
    reordered = _run(tmp_path / "reordered", clusters_reversed=True)

    def mesh_urns(r: StackRun) -> set[str]:
        return {x.urn for x in r.resources if "clustermesh" in x.name}

    assert mesh_urns(run) == mesh_urns(reordered) and mesh_urns(run)
    for name in MEMBERS:
        assert cilium_values(run, name)["clustermesh"] == cilium_values(reordered, name)["clustermesh"]
