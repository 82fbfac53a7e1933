"""The AWS adapter under the offline engine: assert the resource graph it registers.

A small Pulumi program (written to a temporary directory) builds the `ClusterContext` of
a real planned cluster from `stacks/Pulumi.prod.yaml`, hangs a dummy plane component
under a dummy owner, and calls every adapter method. `fleetform.engine.run.run_program`
records every RegisterResource request; the tests read that graph.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import adapter_harness as harness
import pytest

from fleetform.engine.mocks import base as fleet_mocks
from fleetform.engine.records import SECRET_MASK, Resource
from fleetform.plan import names
from fleetform.plan.firewall import LB_HEALTH_CHECKS, ROLES, egress_rules

ROOT = Path(__file__).resolve().parents[2]
PROD = ROOT / "stacks" / "Pulumi.prod.yaml"
CANONICAL = "099720109477"

PROGRAM = '''
import pulumi
from pathlib import Path

from components.clouds.aws import AwsAdapter
from components.clouds.base import ClusterContext, MachineRequest
from fleetform.plan import names
from fleetform.plan.load import load_stack_file
from fleetform.plan.fleet import plan_fleet

cfg = pulumi.Config("test")
fleet = plan_fleet(load_stack_file(Path(cfg.require("stack_file"))))
plan = fleet.cluster(cfg.require("cluster"))
rules = list(plan.firewall)
if cfg.get_bool("reverse"):
    rules.reverse()


class Dummy(pulumi.ComponentResource):
    def __init__(self, name, opts=None):
        super().__init__("fleetform:test:Dummy", name, None, opts)
        self.register_outputs({})


key = plan.key
owner = Dummy(key)
plane = Dummy(names.child(key, "plane"), pulumi.ResourceOptions(parent=owner))
aws = AwsAdapter(ClusterContext(fleet=fleet, plan=plan, owner=owner))

net = aws.network(names.child(key, "network"), plane)
ids = {role: aws.identity(names.child(key, role.replace("_", "-")), role, plane)
       for role in ("etcd", "control_plane", "worker")}
fw = aws.firewall(names.child(key, "firewall"), rules, net, {r: [i] for r, i in ids.items()}, plane)
zone = aws.dns_zone(names.child(key, "zone"), net, plane)
secret = aws.secret(names.child(key, "secret", "etcd-0-server-key"), "etcd-0-server-key",
                    pulumi.Output.secret("-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----"),
                    [ids["etcd"]], plane)
user_data = pulumi.Output.from_input("#cloud-config\\n{}")

member = plan.etcd.members[0]
disk = aws.data_disk(names.child(key, member.name, "data"), member.zone, plan.etcd.disk_gb,
                     not plan.decommission, plane)
etcd0 = aws.machine(MachineRequest(
    name=names.child(key, member.name), role="etcd", zone=member.zone,
    machine_type=plan.etcd.machine_type, user_data=user_data, identity=ids["etcd"],
    firewall=fw, network=net, private_ip=member.ip, data_disk=disk, roll=False,
    depends_on=list(secret.resources)), plane)
rolled = plan.etcd.members[1]
rolled_disk = aws.data_disk(names.child(key, rolled.name, "data"), rolled.zone, plan.etcd.disk_gb,
                            not plan.decommission, plane)
etcd1 = aws.machine(MachineRequest(
    name=names.child(key, rolled.name), role="etcd", zone=rolled.zone,
    machine_type=plan.etcd.machine_type, user_data=user_data, identity=ids["etcd"],
    firewall=fw, network=net, private_ip=rolled.ip, data_disk=rolled_disk, roll=True), plane)
replica = plan.control_plane.replicas[0]
cp0 = aws.machine(MachineRequest(
    name=names.child(key, replica.name), role="control_plane", zone=replica.zone,
    machine_type=plan.control_plane.machine_type, user_data=user_data,
    identity=ids["control_plane"], firewall=fw, network=net, roll=True), plane)
pools = {p.name: aws.machine_group(names.child(key, "pool", p.name), p, "worker", user_data,
                                   ids["worker"], fw, net, plane)
         for p in plan.workers}
lb = aws.load_balancer(names.child(key, "api"), plan.api.port, [cp0], net, fw, plan.api.public, plane)
aws.dns_record(names.child(key, "record", member.name), zone, member.dns, etcd0, plane)
aws.dns_record(names.child(key, "record", "api"), zone, plan.api.incarnation_dns, lb, plane)
if plan.api.public:
    aws.public_dns_record(names.child(key, "public-record", "api"), plan.api.incarnation_dns, lb, plane)
else:
    try:
        aws.public_dns_record(names.child(key, "public-record", "api"), plan.api.incarnation_dns, lb, plane)
    except ValueError:
        pulumi.export("public_refused", True)
bucket = aws.bucket(names.child(key, "backups"), [ids["etcd"]], [ids["etcd"], ids["control_plane"]],
                    plane, retention_days=14)

pulumi.export("provider", aws.provider.urn)
pulumi.export("sg", dict(fw.by_role))
pulumi.export("roles", {r: i.principal for r, i in ids.items()})
pulumi.export("profiles", {r: i.attachable for r, i in ids.items()})
pulumi.export("vpc", net.id)
pulumi.export("private", dict(net.private_subnets))
pulumi.export("public", dict(net.public_subnets))
pulumi.export("zone", zone.id)
pulumi.export("secret", secret.secret_id)
pulumi.export("disk", {"id": disk.id, "device": disk.device_path})
pulumi.export("etcd0", {"id": etcd0.id, "ip": etcd0.private_ip})
pulumi.export("cp0", {"id": cp0.id, "ip": cp0.private_ip})
pulumi.export("lb", {"address": lb.address, "kind": lb.kind, "zone_id": lb.zone_id})
pulumi.export("bucket", {"name": bucket.name, "url": bucket.url})
pulumi.export("secret_store", {"cloud": aws.secret_store.cloud, "region": aws.secret_store.region,
                               "project": aws.secret_store.project})
'''


# --------------------------------------------------------------------------------------
# Running the program


class Run(harness.Run):
    @property
    def aws(self) -> list[Resource]:
        return self.of_cloud("aws")


def _get_zone(i: fleet_mocks.InvokeCall) -> dict[str, Any]:
    """Route 53 public-zone lookup (answered here when the shared mocks lack it)."""
    name = str(i.args.get("name", "")).rstrip(".")
    zone_id = "Z" + i.hex(20).upper()
    return {"id": zone_id, "zoneId": zone_id, "name": name, "privateZone": False,
            "arn": f"arn:aws:route53:::hostedzone/{zone_id}", "resourceRecordSetCount": 2}


_INVOKES = harness.original_handlers(("aws:ec2/getAmi:getAmi", "aws:route53/getZone:getZone"), _get_zone)


def _run(tmp: Path, monkeypatch: pytest.MonkeyPatch, cluster: str, *, reverse: bool = False) -> Run:
    return harness.run_adapter(Run, tmp, monkeypatch, PROGRAM, PROD, cluster, _INVOKES, reverse=reverse)


@pytest.fixture(scope="module")
def module_patch() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(scope="module")
def eu(tmp_path_factory: pytest.TempPathFactory, module_patch: pytest.MonkeyPatch) -> Run:
    """eu-core: 3 zones, NAT per zone, public API with allowed CIDRs, 5 etcd members."""
    return _run(tmp_path_factory.mktemp("eu-core"), module_patch, "eu-core")


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory, module_patch: pytest.MonkeyPatch) -> Run:
    """edge-fra: single NAT, internal API."""
    return _run(tmp_path_factory.mktemp("edge-fra"), module_patch, "edge-fra")


def _policy(doc: str) -> dict[str, Any]:
    return dict(json.loads(doc))


# --------------------------------------------------------------------------------------
# Providers, parents, names


@pytest.mark.parametrize("fixture", ["eu", "edge"])
def test_every_aws_resource_uses_the_one_explicit_provider(fixture: str, request: pytest.FixtureRequest) -> None:
    run: Run = request.getfixturevalue(fixture)
    providers = run.of_type("pulumi:providers:aws")
    assert [p.name for p in providers] == [names.child(run.plan.key, "aws")], "exactly one, never a default"
    [provider] = providers
    assert provider.inputs["region"] == run.plan.region
    assert provider.parent == run.one("fleetform:test:Dummy", run.plan.key).urn
    assert json.loads(provider.inputs["defaultTags"])["tags"] == {**dict(run.fleet.aws_default_tags),
                                                                   **dict(run.plan.labels)}
    assert run.outputs["provider"] == provider.urn
    assert run.aws, "the adapter created AWS resources"
    for r in run.aws:
        assert r.provider is not None and r.provider.rsplit("::", 1)[0] == provider.urn, r.urn
    # Invokes go through the same provider (a default provider would have no region).
    expected = {"aws:ec2/getAmi:getAmi"} | ({"aws:route53/getZone:getZone"} if run.plan.api.public else set())
    assert {t for t, _, _ in run.invokes} == expected
    assert all(inputs.get("region") == run.plan.region for _, inputs, _ in run.invokes)


def test_every_resource_is_parented_to_the_plane(eu: Run) -> None:
    plane = eu.one("fleetform:test:Dummy", names.child(eu.plan.key, "plane")).urn
    for r in eu.resources:
        if r.type == "pulumi:pulumi:Stack":
            continue
        assert r.parent, r.urn
        if r.type.startswith("aws:"):
            assert r.parent == plane, r.urn


def test_names_are_unique_and_come_from_stable_keys(tmp_path: Path, eu: Run) -> None:
    urns = [r.urn for r in eu.resources]
    assert len(urns) == len(set(urns))
    key = eu.plan.key
    for r in eu.aws:
        assert r.name.startswith(key + "-"), r.name
    # No list positions: etcd-<n> / cp-<n> are the plan's member names, ports are rule content.
    members = [*(m.name for m in eu.plan.etcd.members), *(r.name for r in eu.plan.control_plane.replicas)]
    egress = egress_rules(eu.plan.network.node_cidr, eu.plan.network.pod_cidr)
    allowed_numbers = ({"0", "1"} | {str(p) for rule in [*eu.plan.firewall, *egress] for p in rule.ports}
                       | {n for member in members for n in re.findall(r"\d+", member)})
    for r in eu.aws:
        rest = r.name[len(key) + 1:]
        for cidr in eu.plan.api.allowed_cidrs:
            rest = rest.replace(re.sub(r"[./]", "-", cidr), "CIDR")
        for zone in eu.plan.zones:
            rest = rest.replace(zone, "ZONE")
        for number in re.findall(r"(?<![a-z])\d+", rest):
            assert number in allowed_numbers, f"{r.name}: {number!r} looks like a list index"


def test_rule_names_do_not_depend_on_rule_order(tmp_path: Path, eu: Run) -> None:
    with pytest.MonkeyPatch.context() as mp:
        reversed_run = _run(tmp_path, mp, "eu-core", reverse=True)
    assert {r.urn for r in reversed_run.resources} == {r.urn for r in eu.resources}
    def rules(run: Run) -> dict[str, Any]:
        return {r.name: r.inputs for r in run.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")}
    assert rules(reversed_run) == rules(eu)


def test_only_expected_types(eu: Run) -> None:
    counts = Counter(r.type for r in eu.aws)
    assert set(counts) == {
        "aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/subnetCidrReservation:SubnetCidrReservation",
        "aws:ec2/eip:Eip", "aws:ec2/natGateway:NatGateway", "aws:ec2/routeTable:RouteTable",
        "aws:ec2/route:Route", "aws:ec2/routeTableAssociation:RouteTableAssociation",
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
        "aws:iam/role:Role", "aws:iam/instanceProfile:InstanceProfile", "aws:iam/rolePolicy:RolePolicy",
        "aws:route53/zone:Zone", "aws:route53/record:Record",
        "aws:secretsmanager/secret:Secret", "aws:secretsmanager/secretVersion:SecretVersion",
        "aws:secretsmanager/secretPolicy:SecretPolicy",
        "aws:ebs/volume:Volume", "aws:ec2/instance:Instance", "aws:ec2/volumeAttachment:VolumeAttachment",
        "aws:ec2/launchTemplate:LaunchTemplate", "aws:autoscaling/group:Group",
        "aws:lb/loadBalancer:LoadBalancer", "aws:lb/targetGroup:TargetGroup", "aws:lb/listener:Listener",
        "aws:lb/targetGroupAttachment:TargetGroupAttachment",
        "aws:s3/bucket:Bucket", "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketVersioning:BucketVersioning",
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "aws:ec2/flowLog:FlowLog",
        "aws:cloudwatch/logGroup:LogGroup",
    }


# --------------------------------------------------------------------------------------
# Network


@pytest.mark.parametrize("fixture", ["eu", "edge"])
def test_network_counts_follow_the_plan(fixture: str, request: pytest.FixtureRequest) -> None:
    run: Run = request.getfixturevalue(fixture)
    net = run.plan.network
    zones = len(net.subnets)
    nats = zones if net.nat == "per_zone" else 1
    counts = Counter(r.type for r in run.aws)
    assert counts["aws:ec2/vpc:Vpc"] == 1
    assert counts["aws:ec2/subnet:Subnet"] == 2 * zones
    assert counts["aws:ec2/internetGateway:InternetGateway"] == 1
    assert counts["aws:ec2/natGateway:NatGateway"] == nats
    assert counts["aws:ec2/eip:Eip"] == nats
    assert counts["aws:ec2/routeTable:RouteTable"] == zones + 1
    assert counts["aws:ec2/route:Route"] == zones + 1
    assert counts["aws:ec2/routeTableAssociation:RouteTableAssociation"] == 2 * zones

    [vpc] = run.of_type("aws:ec2/vpc:Vpc")
    assert vpc.inputs["cidrBlock"] == net.node_cidr
    assert vpc.inputs["enableDnsHostnames"] is True and vpc.inputs["enableDnsSupport"] is True
    subnets = {r.name: r.inputs for r in run.of_type("aws:ec2/subnet:Subnet")}
    for s in net.subnets:
        private = subnets[names.child(run.plan.key, "network", "private", s.zone)]
        public = subnets[names.child(run.plan.key, "network", "public", s.zone)]
        assert (private["cidrBlock"], private["availabilityZone"]) == (s.private_cidr, s.zone)
        assert (public["cidrBlock"], public["availabilityZone"]) == (s.public_cidr, s.zone)
        assert private["mapPublicIpOnLaunch"] is False
    # Every private route table's default route goes through a NAT, the public one through the IGW.
    routes = run.of_type("aws:ec2/route:Route")
    assert sum(1 for r in routes if r.inputs.get("natGatewayId")) == zones
    assert sum(1 for r in routes if r.inputs.get("gatewayId")) == 1
    assert len({r.inputs["natGatewayId"] for r in routes if r.inputs.get("natGatewayId")}) == nats
    for nat in run.of_type("aws:ec2/natGateway:NatGateway"):
        assert nat.inputs["subnetId"] in run.outputs["public"].values()


@pytest.mark.parametrize("fixture", ["eu", "edge"])
def test_fixed_addresses_are_reserved_before_anything_else_takes_them(
        fixture: str, request: pytest.FixtureRequest) -> None:
    """One explicit /32 reservation per etcd member and control-plane replica, in its
    zone's private subnet; every machine, worker group and internal load balancer (all
    of which take addresses there) waits for all of them."""
    run: Run = request.getfixturevalue(fixture)
    plan, private = run.plan, run.outputs["private"]
    reservations = run.of_type("aws:ec2/subnetCidrReservation:SubnetCidrReservation")
    fixed = [*((m.name, m.zone, m.ip) for m in plan.etcd.members),
             *((r.name, r.zone, r.ip) for r in plan.control_plane.replicas)]
    assert {(r.name, r.inputs["subnetId"], r.inputs["cidrBlock"], r.inputs["reservationType"])
            for r in reservations} == {
        (names.child(plan.key, "network", "ip", name), private[zone], f"{ip}/32", "explicit")
        for name, zone, ip in fixed}
    urns = {r.urn for r in reservations}
    waiting = [*run.of_type("aws:ec2/instance:Instance"), *run.of_type("aws:autoscaling/group:Group"),
               *(lb for lb in run.of_type("aws:lb/loadBalancer:LoadBalancer") if lb.inputs["internal"])]
    assert waiting and all(urns <= set(r.dependencies) for r in waiting)
    public_lbs = [lb for lb in run.of_type("aws:lb/loadBalancer:LoadBalancer") if not lb.inputs["internal"]]
    assert all(not urns & set(lb.dependencies) for lb in public_lbs)


def test_cluster_labels_are_tags_on_every_tagged_resource(eu: Run) -> None:
    labels = dict(eu.plan.labels)
    assert labels == {"team": "platform", "tier": "core"}  # the cluster's + its ha profile's
    [provider] = eu.of_type("pulumi:providers:aws")
    assert labels.items() <= json.loads(provider.inputs["defaultTags"])["tags"].items()
    tagged = [r for r in eu.aws if isinstance(r.inputs.get("tags"), dict)]
    assert len(tagged) > 20
    for r in tagged:
        assert labels.items() <= r.inputs["tags"].items(), r.name
        assert r.inputs["tags"]["cluster"] == eu.plan.name  # fleetform's own keys win


# --------------------------------------------------------------------------------------
# Firewall


def _ingress(run: Run) -> set[tuple[str, str, str, int, int]]:
    """The ingress rules as (target role, source, protocol, from, to), in plan terms."""
    role_of = {sg: role for role, sg in run.outputs["sg"].items()}
    out = set()
    for r in run.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"):
        i = r.inputs
        assert ("referencedSecurityGroupId" in i) != ("cidrIpv4" in i), r.name
        if "referencedSecurityGroupId" in i:
            source = role_of[i["referencedSecurityGroupId"]]
        elif i["cidrIpv4"] == run.plan.network.node_cidr:
            source = LB_HEALTH_CHECKS
        else:
            source = i["cidrIpv4"]
        out.add((role_of[i["securityGroupId"]], source, i["ipProtocol"], i["fromPort"], i["toPort"]))
    return out


@pytest.mark.parametrize("fixture", ["eu", "edge"])
def test_security_group_rules_are_exactly_the_plans(fixture: str, request: pytest.FixtureRequest) -> None:
    run: Run = request.getfixturevalue(fixture)
    groups = run.of_type("aws:ec2/securityGroup:SecurityGroup")
    assert sorted(g.name for g in groups) == sorted(
        names.child(run.plan.key, "firewall", role.replace("_", "-")) for role in ROLES)
    assert set(run.outputs["sg"]) == set(ROLES)
    expected = {(r.target, r.source, r.protocol, r.ports[0], r.ports[1]) for r in run.plan.firewall}
    assert _ingress(run) == expected
    rules = run.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert len(rules) == len(expected), "one AWS rule per distinct plan rule"


def test_etcd_is_reachable_only_as_planned(eu: Run) -> None:
    rules = _ingress(eu)
    assert {r for r in rules if r[0] == "etcd"} == {
        ("etcd", "control_plane", "tcp", 2379, 2379),
        ("etcd", "etcd", "tcp", 2380, 2380),
    }
    assert {r for r in rules if r[3] <= 2379 <= r[4]} == {("etcd", "control_plane", "tcp", 2379, 2379)}
    # The health-check rule is the VPC CIDR, allowed CIDRs only reach the API load balancer.
    assert ("control_plane", LB_HEALTH_CHECKS, "tcp", 6443, 6443) in rules
    for cidr in eu.plan.api.allowed_cidrs:
        assert {r for r in rules if r[1] == cidr} == {("api_lb", cidr, "tcp", 6443, 6443)}


def test_egress_is_what_each_role_needs(eu: Run) -> None:
    """etcd: the web and its peers; the control plane: the web and its cluster's private
    ranges; the load balancer: its targets; workers: open (their workloads' egress)."""
    sg = eu.outputs["sg"]
    role_of = {v: k for k, v in sg.items()}
    found = set()
    for r in eu.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"):
        i = r.inputs
        dest = role_of.get(i.get("referencedSecurityGroupId")) or i["cidrIpv4"]
        found.add((role_of[i["securityGroupId"]], i["ipProtocol"], i.get("fromPort"), dest))
    net = eu.plan.network
    assert found == {
        ("etcd", "tcp", 80, "0.0.0.0/0"), ("etcd", "tcp", 443, "0.0.0.0/0"), ("etcd", "tcp", 2380, "etcd"),
        ("control_plane", "tcp", 80, "0.0.0.0/0"), ("control_plane", "tcp", 443, "0.0.0.0/0"),
        ("control_plane", "-1", None, net.node_cidr), ("control_plane", "-1", None, net.pod_cidr),
        ("api_lb", "-1", None, net.node_cidr), ("worker", "-1", None, "0.0.0.0/0"),
    }


def test_the_vpc_is_flow_logged_and_its_default_group_is_empty(eu: Run) -> None:
    [vpc] = eu.of_type("aws:ec2/vpc:Vpc")
    [default] = eu.of_type("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert default.inputs["ingress"] == [] and default.inputs["egress"] == []
    assert tuple(default.property_dependencies["vpcId"]) == (vpc.urn,)
    [log] = eu.of_type("aws:ec2/flowLog:FlowLog")
    [group] = eu.of_type("aws:cloudwatch/logGroup:LogGroup")
    assert log.inputs["trafficType"] == "ALL" and tuple(log.property_dependencies["vpcId"]) == (vpc.urn,)
    assert tuple(log.property_dependencies["logDestination"]) == (group.urn,)
    assert group.inputs["retentionInDays"] == 90
    [role] = [r for r in eu.of_type("aws:iam/role:Role") if r.name.endswith("flow-logs-role")]
    [statement] = _policy(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}


# --------------------------------------------------------------------------------------
# Identity and secrets


def test_identities_trust_ec2_only_and_carry_no_policies(eu: Run) -> None:
    roles = [r for r in eu.of_type("aws:iam/role:Role") if not r.name.endswith("flow-logs-role")]
    assert len(roles) == 3
    for role in roles:
        doc = _policy(role.inputs["assumeRolePolicy"])
        [statement] = doc["Statement"]
        assert statement["Principal"] == {"Service": "ec2.amazonaws.com"}
        assert statement["Action"] == "sts:AssumeRole"
        assert len(role.inputs["name"]) <= 64
        assert "managedPolicyArns" not in role.inputs and "inlinePolicies" not in role.inputs
    profiles = eu.of_type("aws:iam/instanceProfile:InstanceProfile")
    assert sorted(p.inputs["role"] for p in profiles) == sorted(r.inputs["name"] for r in roles)
    # The only grants of the machines' roles are the bucket's, on the bucket only.
    for grant in [g for g in eu.of_type("aws:iam/rolePolicy:RolePolicy") if not g.name.endswith("flow-logs-policy")]:
        doc = _policy(grant.inputs["policy"])
        resources = {s["Resource"] for s in doc["Statement"]}
        bucket = eu.outputs["bucket"]["name"]
        assert resources == {f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"}


def test_secret_is_readable_by_its_readers_only(eu: Run) -> None:
    [secret] = eu.of_type("aws:secretsmanager/secret:Secret")
    # A suffix kept in the state: a re-created incarnation never meets its own names,
    # which Secrets Manager keeps for the recovery window after a delete.
    [suffix] = [r for r in eu.of_type("random:index/randomId:RandomId") if r.name == f"{eu.plan.key}-secrets-suffix"]
    assert suffix.inputs["byteLength"] == 3
    assert re.fullmatch(rf"{eu.fleet.fleet}/{eu.plan.key}-[0-9a-f]{{6}}/etcd-0-server-key", secret.inputs["name"])
    assert secret.inputs["recoveryWindowInDays"] == eu.fleet.aws_secret_recovery_days == 7
    [version] = eu.of_type("aws:secretsmanager/secretVersion:SecretVersion")
    assert version.inputs["secretString"] == SECRET_MASK
    [policy] = eu.of_type("aws:secretsmanager/secretPolicy:SecretPolicy")
    assert policy.inputs["secretArn"] == eu.outputs["secret"]
    [statement] = _policy(policy.inputs["policy"])["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"AWS": [eu.outputs["roles"]["etcd"]]}
    assert statement["Action"] == "secretsmanager:GetSecretValue"
    assert statement["Resource"] == eu.outputs["secret"]
    assert "PRIVATE KEY" not in json.dumps([r.inputs for r in eu.resources])


def test_secret_store(eu: Run) -> None:
    assert eu.outputs["secret_store"] == {"cloud": "aws", "region": eu.plan.region, "project": None}


# --------------------------------------------------------------------------------------
# Disks and machines


def test_data_disk_is_encrypted_gp3_and_protected(eu: Run) -> None:
    volume = eu.one("aws:ebs/volume:Volume", names.child(eu.plan.key, "etcd-0", "data"))
    assert all(v.protect for v in eu.of_type("aws:ebs/volume:Volume"))
    member = eu.plan.etcd.members[0]
    assert volume.inputs["encrypted"] is True and volume.inputs["type"] == "gp3"
    assert volume.inputs["availabilityZone"] == member.zone
    assert volume.inputs["size"] == eu.plan.etcd.disk_gb
    assert volume.protect is True
    disk = eu.outputs["disk"]
    assert disk["device"] == "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_" + disk["id"].replace("-", "")
    attachment = eu.one("aws:ec2/volumeAttachment:VolumeAttachment", names.child(eu.plan.key, "etcd-0", "data"))
    assert attachment.inputs["deviceName"] == "/dev/sdf"
    # A volume attaches to one instance at a time: the attachment is deleted first.
    assert attachment.delete_before_replace is True
    assert attachment.inputs["volumeId"] == disk["id"]
    assert attachment.inputs["instanceId"] == eu.outputs["etcd0"]["id"]


def test_instances_are_hardened(eu: Run) -> None:
    instances = {r.name: r for r in eu.of_type("aws:ec2/instance:Instance")}
    assert set(instances) == {names.child(eu.plan.key, m) for m in ("etcd-0", "etcd-1", "cp-0")}
    for r in instances.values():
        i = r.inputs
        assert i["metadataOptions"] == {"httpEndpoint": "enabled", "httpTokens": "required",
                                        "httpPutResponseHopLimit": 1}
        assert i["rootBlockDevice"]["encrypted"] is True and i["rootBlockDevice"]["volumeType"] == "gp3"
        assert i["associatePublicIpAddress"] is False
        # Gzipped + base64 (the real documents exceed EC2's 16 KB raw limit).
        assert gzip.decompress(base64.b64decode(i["userDataBase64"])) == b"#cloud-config\n{}"
        assert i["instanceType"] in (eu.plan.etcd.machine_type, eu.plan.control_plane.machine_type)
        assert {"Name", "fleet", "cluster", "plane"} <= set(i["tags"])
        assert i["tags"]["cluster"] == eu.plan.name and i["tags"]["fleet"] == eu.fleet.fleet
    # The one AMI lookup: Canonical's Ubuntu 24.04 LTS, most recent.
    amis = [args for token, _, args in eu.invokes if token == "aws:ec2/getAmi:getAmi"]
    assert len(amis) == 1
    assert amis[0]["owners"] == [CANONICAL] and amis[0]["mostRecent"] is True
    assert {"name": "name", "values": ["ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"]} \
        in amis[0]["filters"]
    assert len({r.inputs["ami"] for r in instances.values()}) == 1

    member = eu.plan.etcd.members[0]
    etcd = instances[names.child(eu.plan.key, "etcd-0")].inputs
    assert etcd["privateIp"] == member.ip == eu.outputs["etcd0"]["ip"]
    assert etcd["subnetId"] == eu.outputs["private"][member.zone]
    assert etcd["vpcSecurityGroupIds"] == [eu.outputs["sg"]["etcd"]]
    assert etcd["iamInstanceProfile"] == eu.outputs["profiles"]["etcd"]
    assert etcd["tags"]["plane"] == "etcd"


def test_rolling_safety_options(eu: Run) -> None:
    frozen = eu.one("aws:ec2/instance:Instance", names.child(eu.plan.key, "etcd-0"))
    rolled = eu.one("aws:ec2/instance:Instance", names.child(eu.plan.key, "etcd-1"))
    replica = eu.one("aws:ec2/instance:Instance", names.child(eu.plan.key, "cp-0"))
    # A new Canonical image never replaces a fixed machine by itself.
    assert all("ami" in r.ignore_changes for r in (frozen, rolled, replica))
    # roll=False: a user-data (or size) change never stops/starts the member.
    assert {"userDataBase64", "instanceType"} <= set(frozen.ignore_changes)
    assert not frozen.inputs.get("userDataReplaceOnChange")
    assert frozen.delete_before_replace is False
    # roll=True: a change replaces it; with a fixed IP and a data volume, deleting first.
    for r in (rolled, replica):
        assert "userDataBase64" not in r.ignore_changes and "instanceType" not in r.ignore_changes
        assert r.inputs["userDataReplaceOnChange"] is True
    assert rolled.delete_before_replace is True
    # Nothing to free on a stateless replica: create-first keeps the old one serving.
    assert replica.delete_before_replace is False
    # Machines wait for their secrets and for egress (NAT routes) before first boot.
    secret_policy = eu.of_type("aws:secretsmanager/secretPolicy:SecretPolicy")[0].urn
    assert secret_policy in frozen.dependencies
    nat_routes = {r.urn for r in eu.of_type("aws:ec2/route:Route")}
    assert nat_routes <= set(frozen.dependencies)


def test_machine_groups(eu: Run) -> None:
    templates = {r.name: r for r in eu.of_type("aws:ec2/launchTemplate:LaunchTemplate")}
    groups = {r.name: r for r in eu.of_type("aws:autoscaling/group:Group")}
    assert len(templates) == len(groups) == len(eu.plan.workers)
    for pool in eu.plan.workers:
        name = names.child(eu.plan.key, "pool", pool.name)
        lt = templates[names.child(name, "lt")].inputs
        assert lt["metadataOptions"] == {"httpEndpoint": "enabled", "httpTokens": "required",
                                         "httpPutResponseHopLimit": 1}
        [bdm] = lt["blockDeviceMappings"]
        assert bdm["ebs"]["encrypted"] == "true" and bdm["ebs"]["volumeType"] == "gp3"
        assert lt["iamInstanceProfile"] == {"name": eu.outputs["profiles"]["worker"]}
        [nic] = lt["networkInterfaces"]
        assert nic["securityGroups"] == [eu.outputs["sg"]["worker"]]
        assert nic["associatePublicIpAddress"] == "false"
        assert gzip.decompress(base64.b64decode(lt["userData"])) == b"#cloud-config\n{}"
        assert lt["instanceType"] == pool.machine_type
        assert {t["resourceType"] for t in lt["tagSpecifications"]} >= {"instance", "volume"}

        group = groups[name]
        g = group.inputs
        assert (g["minSize"], g["maxSize"], g["desiredCapacity"]) == (pool.min, pool.max, pool.min)
        assert "desiredCapacity" in group.ignore_changes
        assert g["vpcZoneIdentifiers"] == [eu.outputs["private"][z] for z in pool.zones]
        assert g["launchTemplate"]["version"] == "1"
        assert g["instanceRefresh"]["strategy"] == "Rolling"
        assert g["instanceRefresh"]["preferences"]["minHealthyPercentage"] == 90
        tags = {t["key"]: t for t in g["tags"]}
        assert tags["k8s.io/cluster-autoscaler/enabled"]["value"] == "true"
        assert f"k8s.io/cluster-autoscaler/{eu.plan.name}" in tags
        assert tags["plane"]["value"] == "worker" and tags["plane"]["propagateAtLaunch"] is True
        for k, v in pool.labels:
            assert tags[f"k8s.io/cluster-autoscaler/node-template/label/{k}"]["value"] == v


# --------------------------------------------------------------------------------------
# Load balancer and DNS


@pytest.mark.parametrize("fixture", ["eu", "edge"])
def test_load_balancer(fixture: str, request: pytest.FixtureRequest) -> None:
    run: Run = request.getfixturevalue(fixture)
    api = names.child(run.plan.key, "api")
    # Always an internal NLB for the cluster; a public API adds an internet-facing one.
    expected = {api: "private"} | ({names.child(api, "public"): "public"} if run.plan.api.public else {})
    lbs = {r.name: r for r in run.of_type("aws:lb/loadBalancer:LoadBalancer")}
    assert set(lbs) == set(expected)
    groups = {r.name: r for r in run.of_type("aws:lb/targetGroup:TargetGroup")}
    listeners = {r.name: r for r in run.of_type("aws:lb/listener:Listener")}
    attachments = {r.name: r for r in run.of_type("aws:lb/targetGroupAttachment:TargetGroupAttachment")}
    assert len(groups) == len(listeners) == len(attachments) == len(expected)
    for name, side in expected.items():
        i = lbs[name].inputs
        assert i["loadBalancerType"] == "network"
        assert i["internal"] is (side == "private")
        assert i["subnets"] == [run.outputs[side][s.zone] for s in run.plan.network.subnets]
        assert i["securityGroups"] == [run.outputs["sg"]["api_lb"]]
        assert i["enableCrossZoneLoadBalancing"] is True
        tg = groups[names.child(name, "tg")]
        assert (tg.inputs["protocol"], tg.inputs["port"]) == ("TCP", run.plan.api.port)
        assert tg.inputs["preserveClientIp"] == "false"
        assert tg.inputs["healthCheck"]["protocol"] == "TCP"
        listener = listeners[names.child(name, "listener")]
        assert (listener.inputs["protocol"], listener.inputs["port"]) == ("TCP", run.plan.api.port)
        assert lbs[name].urn in listener.dependencies and tg.urn in listener.dependencies
        attachment = attachments[names.child(name, "target", "cp-0")]
        assert attachment.inputs["targetId"] == run.outputs["cp0"]["id"]
        assert tg.urn in attachment.dependencies
    # An internal API has no public name to point at.
    assert run.outputs.get("public_refused", False) is (not run.plan.api.public)
    # The handle (what the cluster's private records use) is the internal NLB.
    assert run.outputs["lb"]["kind"] == "dns"
    assert run.outputs["lb"]["address"].startswith("internal-")


def test_dns(eu: Run) -> None:
    [zone] = eu.of_type("aws:route53/zone:Zone")
    assert zone.inputs["name"] == eu.plan.dns_zone
    assert zone.inputs["vpcs"] == [{"vpcId": eu.outputs["vpc"]}]
    records = {r.name: r.inputs for r in eu.of_type("aws:route53/record:Record")}
    member = eu.plan.etcd.members[0]
    a = records[names.child(eu.plan.key, "record", "etcd-0")]
    assert (a["name"], a["type"], a["ttl"], a["records"]) == (member.dns, "A", 60, [member.ip])
    assert a["zoneId"] == eu.outputs["zone"]
    alias = records[names.child(eu.plan.key, "record", "api")]
    assert alias["zoneId"] == eu.outputs["zone"]
    assert alias["aliases"] == [{"name": eu.outputs["lb"]["address"], "zoneId": eu.outputs["lb"]["zone_id"],
                                 "evaluateTargetHealth": True}]
    public = records[names.child(eu.plan.key, "public-record", "api")]
    lookups = [args for token, _, args in eu.invokes if token == "aws:route53/getZone:getZone"]
    assert lookups == [{"name": eu.fleet.domain, "privateZone": False}]
    assert public["zoneId"] != eu.outputs["zone"]
    # The public name points at the internet-facing NLB, never at the internal one.
    [outside] = public["aliases"]
    assert outside["name"].endswith(".amazonaws.com") and not outside["name"].startswith("internal-")
    public_lb = eu.one("aws:lb/loadBalancer:LoadBalancer", names.child(eu.plan.key, "api", "public"))
    assert public_lb.urn in eu.one("aws:route53/record:Record",
                                   names.child(eu.plan.key, "public-record", "api")).dependencies


# --------------------------------------------------------------------------------------
# Buckets


def test_bucket_is_private_encrypted_and_scoped(eu: Run) -> None:
    [bucket] = eu.of_type("aws:s3/bucket:Bucket")
    assert bucket.inputs["bucketPrefix"].endswith("-") and len(bucket.inputs["bucketPrefix"]) <= 37
    [pab] = eu.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert all(pab.inputs[k] is True for k in
               ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    [sse] = eu.of_type("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    [own] = eu.of_type("aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    assert own.inputs["rule"]["objectOwnership"] == "BucketOwnerEnforced"
    [lifecycle] = eu.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    assert lifecycle.inputs["rules"][0]["expiration"]["days"] == 14

    role_names = {role: arn.rsplit("/", 1)[-1] for role, arn in eu.outputs["roles"].items()}
    grants = {r.inputs["role"]: _policy(r.inputs["policy"]) for r in eu.of_type("aws:iam/rolePolicy:RolePolicy")
              if not r.name.endswith("flow-logs-policy")}
    assert set(grants) == {role_names["etcd"], role_names["control_plane"]}

    def object_actions(doc: dict[str, Any]) -> set[str]:
        return {a for s in doc["Statement"] if s["Resource"].endswith("/*") for a in s["Action"]}

    assert object_actions(grants[role_names["etcd"]]) == {"s3:PutObject", "s3:GetObject"}
    assert object_actions(grants[role_names["control_plane"]]) == {"s3:GetObject"}
    assert eu.outputs["bucket"]["url"] == f"s3://{eu.outputs['bucket']['name']}"
