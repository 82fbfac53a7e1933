"""The GCP adapter under the offline engine: assert the resource graph it registers.

A small Pulumi program (written to a temporary directory) builds the `ClusterContext` of
a real planned cluster (`eu-gke` from `stacks/Pulumi.prod.yaml`, and a variant of it with
a public API), hangs a dummy plane component under a dummy owner, and calls every adapter
method. `fleetform.engine.run.run_program` records every RegisterResource request; the tests
read that graph.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import adapter_harness as harness
import pytest
import yaml

from components.clouds.gcp import (
    HEALTH_CHECK_RANGES_EXTERNAL,
    HEALTH_CHECK_RANGES_INTERNAL,
    IMAGE_FAMILY,
    IMAGE_PROJECT,
    LB_BACKENDS,
    check_user_data,
)
from fleetform.engine.mocks import base as fleet_mocks
from fleetform.engine.records import SECRET_MASK, Resource
from fleetform.plan import names
from fleetform.plan.firewall import LB_HEALTH_CHECKS, ROLES
from fleetform.plan.pools import split

ROOT = Path(__file__).resolve().parents[2]
STACKS = ROOT / "stacks"
PROD = STACKS / "Pulumi.prod.yaml"
CLUSTER = "eu-gke"
PUBLIC_CIDR = "198.51.100.0/24"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
# GCP resource names: RFC 1035 labels.
GCP_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
SA_ID = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")

PROGRAM = '''
import pulumi
from pathlib import Path

from components.clouds.base import ClusterContext, MachineRequest
from components.clouds.gcp import GcpAdapter
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
gcp = GcpAdapter(ClusterContext(fleet=fleet, plan=plan, owner=owner))

net = gcp.network(names.child(key, "network"), plane)
ids = {role: gcp.identity(names.child(key, role.replace("_", "-")), role, plane)
       for role in ("etcd", "control_plane", "worker")}
fw = gcp.firewall(names.child(key, "firewall"), rules, net, {r: [i] for r, i in ids.items()}, plane)
zone = gcp.dns_zone(names.child(key, "zone"), net, plane)
secret = gcp.secret(names.child(key, "secret", "etcd-0-server-key"), "etcd-0-server-key",
                    pulumi.Output.secret("-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----"),
                    [ids["etcd"]], plane)
token = gcp.secret(names.child(key, "secret", "bootstrap-token"), "bootstrap-token",
                   pulumi.Output.secret("abcdef.0123456789abcdef"),
                   [ids["control_plane"], ids["worker"]], plane)
user_data = pulumi.Output.from_input("#cloud-config\\n{}")

member = plan.etcd.members[0]
disk = gcp.data_disk(names.child(key, member.name, "data"), member.zone, plan.etcd.disk_gb,
                     not plan.decommission, plane)
etcd0 = gcp.machine(MachineRequest(
    name=names.child(key, member.name), role="etcd", zone=member.zone,
    machine_type=plan.etcd.machine_type, user_data=user_data, identity=ids["etcd"],
    firewall=fw, network=net, private_ip=member.ip, data_disk=disk, roll=False,
    depends_on=list(secret.resources), tags={"etcd-member": member.name}), plane)
replicas = {
    r.name: gcp.machine(MachineRequest(
        name=names.child(key, r.name), role="control_plane", zone=r.zone,
        machine_type=plan.control_plane.machine_type, user_data=user_data,
        identity=ids["control_plane"], firewall=fw, network=net, roll=True,
        depends_on=list(token.resources)), plane)
    for r in plan.control_plane.replicas
}
pools = {p.name: gcp.machine_group(names.child(key, "pool", p.name), p, "worker", user_data,
                                   ids["worker"], fw, net, plane, depends_on=list(token.resources))
         for p in plan.workers}
lb = gcp.load_balancer(names.child(key, "api"), plan.api.port, list(replicas.values()), net, fw,
                       plan.api.public, plane)
gcp.dns_record(names.child(key, "record", member.name), zone, member.dns, etcd0, plane)
gcp.dns_record(names.child(key, "record", "api"), zone, plan.api.incarnation_dns, lb, plane)
gcp.public_dns_record(names.child(key, "public-record", "api"), plan.api.incarnation_dns, lb, plane)
bucket = gcp.bucket(names.child(key, "backups"), [ids["etcd"]], [ids["etcd"], ids["control_plane"]],
                    plane, retention_days=14)

pulumi.export("provider", gcp.provider.urn)
pulumi.export("by_role", dict(fw.by_role))
pulumi.export("principals", {r: i.principal for r, i in ids.items()})
pulumi.export("attachables", {r: i.attachable for r, i in ids.items()})
pulumi.export("network", net.id)
pulumi.export("private", dict(net.private_subnets))
pulumi.export("public", dict(net.public_subnets))
pulumi.export("zone", {"id": zone.id, "name": zone.name})
pulumi.export("secret", {"key": secret.key, "id": secret.secret_id})
pulumi.export("disk", {"id": disk.id, "device": disk.device_path})
pulumi.export("etcd0", {"id": etcd0.id, "ip": etcd0.private_ip})
pulumi.export("replicas", {k: {"id": m.id, "ip": m.private_ip} for k, m in replicas.items()})
pulumi.export("pools", {k: dict(g.groups) for k, g in pools.items()})
pulumi.export("lb", {"address": lb.address, "kind": lb.kind, "internal": lb.internal_address})
pulumi.export("bucket", {"name": bucket.name, "url": bucket.url})
pulumi.export("secret_store", {"cloud": gcp.secret_store.cloud, "region": gcp.secret_store.region,
                               "project": gcp.secret_store.project})
'''


# --------------------------------------------------------------------------------------
# Running the program


class Run(harness.Run):
    @property
    def gcp(self) -> list[Resource]:
        return self.of_cloud("gcp")

    @property
    def emails(self) -> dict[str, str]:
        return dict(self.outputs["principals"])

    def machines(self) -> list[Resource]:
        return self.of_type("gcp:compute/instance:Instance") + self.of_type(
            "gcp:compute/instanceTemplate:InstanceTemplate")


def _get_managed_zone(i: fleet_mocks.InvokeCall) -> dict[str, Any]:
    """Cloud DNS public-zone lookup (answered here when the shared mocks lack it)."""
    name = str(i.args.get("name", ""))
    return {"id": f"projects/{i.project}/managedZones/{name}", "name": name, "project": i.project,
            "dnsName": name.replace("-", ".") + ".", "visibility": "public", "managedZoneId": "1234",
            "description": "", "nameServers": [f"ns-cloud-{x}1.googledomains.com." for x in "abcd"]}


_INVOKES = harness.original_handlers(
    ("gcp:compute/getImage:getImage", "gcp:dns/getManagedZone:getManagedZone"), _get_managed_zone)


def _stack_file(tmp: Path, public: bool) -> Path:
    """prod as is, or prod with eu-gke's API public (limited to PUBLIC_CIDR)."""
    if not public:
        return PROD
    doc = yaml.safe_load(PROD.read_text())
    for c in doc["config"]["fleetform:fleet"]["clusters"]:
        if c["name"] == CLUSTER:
            c["api"] = {"public": True, "allowed_cidrs": [PUBLIC_CIDR]}
    stacks = tmp / "stacks"
    stacks.mkdir()
    shutil.copy(STACKS / "fleet.yaml", stacks / "fleet.yaml")
    path = stacks / "Pulumi.prod.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _run(tmp: Path, monkeypatch: pytest.MonkeyPatch, *, cluster: str = CLUSTER, public: bool = False,
         reverse: bool = False) -> Run:
    run = harness.run_adapter(Run, tmp, monkeypatch, PROGRAM, _stack_file(tmp, public), cluster, _INVOKES,
                              reverse=reverse)
    assert run.plan.api.public is public
    return run


@pytest.fixture(scope="module")
def module_patch() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(scope="module")
def eu(tmp_path_factory: pytest.TempPathFactory, module_patch: pytest.MonkeyPatch) -> Run:
    """eu-gke as planned: 3 zones, calico, internal API, 3 etcd members."""
    return _run(tmp_path_factory.mktemp("eu-gke"), module_patch)


@pytest.fixture(scope="module")
def public(tmp_path_factory: pytest.TempPathFactory, module_patch: pytest.MonkeyPatch) -> Run:
    """eu-gke with a public API limited to PUBLIC_CIDR."""
    return _run(tmp_path_factory.mktemp("eu-gke-public"), module_patch, public=True)


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory, module_patch: pytest.MonkeyPatch) -> Run:
    """edge-iad: us-east4, flannel, single NAT (one Cloud NAT anyway), small pool."""
    return _run(tmp_path_factory.mktemp("edge-iad"), module_patch, cluster="edge-iad")


# --------------------------------------------------------------------------------------
# Providers, parents, names


@pytest.mark.parametrize("fixture", ["eu", "public", "edge"])
def test_every_gcp_resource_uses_the_one_explicit_provider(fixture: str, request: pytest.FixtureRequest) -> None:
    run: Run = request.getfixturevalue(fixture)
    providers = run.of_type("pulumi:providers:gcp")
    assert [p.name for p in providers] == [names.child(run.plan.key, "gcp")], "exactly one, never a default"
    [provider] = providers
    assert provider.inputs["project"] == run.fleet.gcp_project == "acme-fleet"
    assert provider.inputs["region"] == run.plan.region
    assert provider.parent == run.one("fleetform:test:Dummy", run.plan.key).urn
    labels = provider.inputs["defaultLabels"]
    labels = json.loads(labels) if isinstance(labels, str) else labels
    assert labels["fleet"] == run.fleet.fleet
    assert labels["cluster"] == run.plan.name
    assert labels["incarnation"] == run.plan.key
    assert run.outputs["provider"] == provider.urn
    assert run.gcp, "the adapter created GCP resources"
    for r in run.gcp:
        assert r.provider is not None and r.provider.rsplit("::", 1)[0] == provider.urn, r.urn
    # Invokes go through the same provider (a default provider would have no project/region).
    assert {t for t, _, _ in run.invokes} == set(_INVOKES)
    for _, provider_inputs, _ in run.invokes:
        assert provider_inputs.get("project") == "acme-fleet"
        assert provider_inputs.get("region") == run.plan.region


def test_every_resource_is_parented_to_the_plane(eu: Run) -> None:
    plane = eu.one("fleetform:test:Dummy", names.child(eu.plan.key, "plane")).urn
    for r in eu.gcp:
        assert r.parent == plane, r.urn


def test_names_are_unique_stable_and_valid(eu: Run) -> None:
    urns = [r.urn for r in eu.resources]
    assert len(urns) == len(set(urns))
    key = eu.plan.key
    for r in eu.gcp:
        assert r.name.startswith(key + "-"), r.name
        physical = r.inputs.get("name")
        if r.type in ("gcp:dns/recordSet:RecordSet", "gcp:compute/instanceTemplate:InstanceTemplate"):
            continue  # DNS names; templates are named from a prefix
        if physical is not None:
            assert GCP_NAME.match(physical), f"{r.urn}: {physical!r} is not a valid GCP name"
            # Bucket names are global to all of GCP: the project id comes first.
            prefix = f"{eu.fleet.gcp_project}-{key}" if r.type == "gcp:storage/bucket:Bucket" else key
            assert physical.startswith(prefix), physical
    template = eu.of_type("gcp:compute/instanceTemplate:InstanceTemplate")[0]
    assert "name" not in template.inputs and len(template.inputs["namePrefix"]) <= 37


def test_firewall_names_do_not_depend_on_rule_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    eu: Run) -> None:
    again = _run(tmp_path, monkeypatch, reverse=True)

    def firewalls(run: Run) -> dict[str, dict[str, Any]]:
        return {r.name: r.inputs for r in run.of_type("gcp:compute/firewall:Firewall")}

    assert firewalls(again) == firewalls(eu)


# --------------------------------------------------------------------------------------
# Network


def test_network_is_custom_mode_with_one_regional_subnetwork_and_nat(eu: Run) -> None:
    [vpc] = eu.of_type("gcp:compute/network:Network")
    assert vpc.inputs["autoCreateSubnetworks"] is False
    [subnet] = eu.of_type("gcp:compute/subnetwork:Subnetwork")
    assert subnet.inputs["ipCidrRange"] == eu.plan.network.node_cidr
    assert subnet.inputs["region"] == eu.plan.region
    assert subnet.inputs["privateIpGoogleAccess"] is True
    # The plan's fixed etcd addresses fall inside the one subnetwork.
    import ipaddress
    net = ipaddress.ip_network(eu.plan.network.node_cidr)
    assert all(ipaddress.ip_address(m.ip) in net for m in eu.plan.etcd.members)
    [router] = eu.of_type("gcp:compute/router:Router")
    [nat] = eu.of_type("gcp:compute/routerNat:RouterNat")
    assert router.inputs["region"] == nat.inputs["region"] == eu.plan.region
    assert nat.inputs["sourceSubnetworkIpRangesToNat"] == "LIST_OF_SUBNETWORKS"
    # Every planned zone maps to the regional subnetwork's self-link.
    private, public = eu.outputs["private"], eu.outputs["public"]
    assert set(private) == set(public) == set(eu.plan.zones)
    assert len(set(private.values()) | set(public.values())) == 1
    assert next(iter(private.values())).endswith(f"/regions/{eu.plan.region}/subnetworks/{subnet.inputs['name']}")
    assert eu.outputs["network"].endswith(f"/global/networks/{vpc.inputs['name']}")


# --------------------------------------------------------------------------------------
# Firewall


def _expected_rules(run: Run, hc_ranges: tuple[str, ...]) -> set[tuple[str, str, str, str]]:
    """(target service account, source, protocol, ports) the plan asks for on GCP."""
    emails = run.emails
    out: set[tuple[str, str, str, str]] = set()
    for rule in run.plan.firewall:
        if rule.source in LB_BACKENDS:
            continue  # a passthrough LB is no source: its clients are
        target = emails[LB_BACKENDS.get(rule.target, rule.target)]
        lo, hi = rule.ports
        ports = str(lo) if lo == hi else f"{lo}-{hi}"
        if rule.source == LB_HEALTH_CHECKS:
            sources = list(hc_ranges)
        elif rule.source in ROLES:
            sources = [emails[rule.source]]
        else:
            sources = [rule.source]
        out.update((target, s, rule.protocol, ports) for s in sources)
    return out


def _ingress(run: Run) -> list[Any]:
    return [fw for fw in run.of_type("gcp:compute/firewall:Firewall") if fw.inputs["direction"] == "INGRESS"]


def test_etcd_and_control_plane_egress_is_denied_but_for_the_plan(eu: Run) -> None:
    """Egress rules exist for etcd and the control plane only: allows from the plan's
    egress rules above a deny-all; workers keep GCP's implied allow."""
    egress = [fw for fw in run_of(eu) if fw.inputs["direction"] == "EGRESS"]
    by_account = {v: k for k, v in eu.emails.items()}
    denies = {by_account[fw.inputs["targetServiceAccounts"][0]]: fw for fw in egress if fw.inputs.get("denies")}
    assert set(denies) == {"etcd", "control_plane"}
    for fw in denies.values():
        assert fw.inputs["denies"] == [{"protocol": "all"}] and fw.inputs["destinationRanges"] == ["0.0.0.0/0"]
        assert fw.inputs["priority"] == 65000
    allowed = {(by_account[fw.inputs["targetServiceAccounts"][0]], fw.inputs["destinationRanges"][0],
                a["protocol"], tuple(a.get("ports") or ()))
               for fw in egress if not fw.inputs.get("denies") for a in fw.inputs["allows"]}
    net = eu.plan.network
    assert allowed == {
        ("etcd", "0.0.0.0/0", "tcp", ("80", "443")), ("etcd", net.node_cidr, "tcp", ("2380",)),
        ("control_plane", "0.0.0.0/0", "tcp", ("80", "443")), ("control_plane", net.node_cidr, "all", ()),
        ("control_plane", net.pod_cidr, "all", ()),
    }


def run_of(run: Run) -> list[Any]:
    return list(run.of_type("gcp:compute/firewall:Firewall"))


def _actual_rules(run: Run) -> set[tuple[str, str, str, str]]:
    out: set[tuple[str, str, str, str]] = set()
    for fw in _ingress(run):
        [target] = fw.inputs["targetServiceAccounts"]
        sources = list(fw.inputs.get("sourceServiceAccounts", [])) + list(fw.inputs.get("sourceRanges", []))
        for allow in fw.inputs["allows"]:
            for ports in allow["ports"]:
                out.update((target, s, allow["protocol"], ports) for s in sources)
    return out


@pytest.mark.parametrize("fixture", ["eu", "public", "edge"])
def test_firewall_is_exactly_the_plans_rules_on_service_accounts(fixture: str, request: pytest.FixtureRequest) -> None:
    run: Run = request.getfixturevalue(fixture)
    hc = HEALTH_CHECK_RANGES_INTERNAL if not run.plan.api.public else tuple(
        dict.fromkeys(HEALTH_CHECK_RANGES_INTERNAL + HEALTH_CHECK_RANGES_EXTERNAL))
    assert _actual_rules(run) == _expected_rules(run, hc)
    emails = run.emails
    for fw in _ingress(run):
        assert fw.inputs["network"] == run.outputs["network"]
        assert fw.inputs["targetServiceAccounts"][0] in emails.values()
        for absent in ("targetTags", "sourceTags", "denies", "destinationRanges"):
            assert not fw.inputs.get(absent), f"{fw.name}: {absent}"
        # One kind of source per rule: accounts, or address ranges.
        assert bool(fw.inputs.get("sourceServiceAccounts")) != bool(fw.inputs.get("sourceRanges")), fw.name
    # Machines attach what the handle maps: each role's service account.
    assert run.outputs["by_role"] == emails


@pytest.mark.parametrize("fixture", ["eu", "public", "edge"])
def test_health_check_ranges_only_on_the_health_check_rule(fixture: str, request: pytest.FixtureRequest) -> None:
    run: Run = request.getfixturevalue(fixture)
    google = set(HEALTH_CHECK_RANGES_INTERNAL) | set(HEALTH_CHECK_RANGES_EXTERNAL)
    with_hc = [fw for fw in run.of_type("gcp:compute/firewall:Firewall")
               if set(fw.inputs.get("sourceRanges", [])) & google]
    [hc] = with_hc
    assert hc.name.endswith("-control-plane-from-lb-health-checks")
    assert hc.inputs["targetServiceAccounts"] == [run.emails["control_plane"]]
    assert hc.inputs["allows"] == [{"protocol": "tcp", "ports": [str(run.plan.api.port)]}]
    expected = set(HEALTH_CHECK_RANGES_INTERNAL) | (set(HEALTH_CHECK_RANGES_EXTERNAL) if run.plan.api.public else set())
    assert set(hc.inputs["sourceRanges"]) == expected


def test_rules_to_the_api_lb_target_the_control_plane_and_none_come_from_it(public: Run) -> None:
    fws = {fw.name: fw for fw in public.of_type("gcp:compute/firewall:Firewall")}
    key = names.child(public.plan.key, "firewall")
    cidr = fws[names.child(key, "api-lb", "from", re.sub(r"[./]", "-", PUBLIC_CIDR))]
    assert cidr.inputs["sourceRanges"] == [PUBLIC_CIDR]
    assert cidr.inputs["targetServiceAccounts"] == [public.emails["control_plane"]]
    assert cidr.inputs["allows"] == [{"protocol": "tcp", "ports": ["6443"]}]
    assert not [n for n in fws if n.endswith("-from-api-lb")]


# --------------------------------------------------------------------------------------
# Identity


def test_one_service_account_per_plane_and_no_project_roles(eu: Run) -> None:
    accounts = eu.of_type("gcp:serviceaccount/account:Account")
    assert len(accounts) == 3
    for a in accounts:
        assert SA_ID.match(a.inputs["accountId"]), a.inputs["accountId"]
        assert a.inputs["project"] == "acme-fleet"
    assert {a.inputs["accountId"].split("-")[0] for a in accounts} == {"etcd", "cp", "worker"}
    assert set(eu.outputs["principals"].values()) == {
        f"{a.inputs['accountId']}@acme-fleet.iam.gserviceaccount.com" for a in accounts}
    assert eu.outputs["attachables"] == eu.outputs["principals"]
    # The one project-wide grant: log writing, for the Kubernetes nodes' identities (their
    # log shipper); etcd's identity has none.
    grants = [r for r in eu.gcp if r.type.startswith("gcp:projects/")]
    assert {(r.type, r.inputs.get("role")) for r in grants} <= {("gcp:projects/iAMMember:IAMMember",
                                                                 "roles/logging.logWriter")}, grants
    assert not [r for r in grants if "etcd" in r.name]


@pytest.mark.parametrize("fixture", ["eu", "public", "edge"])
def test_no_default_compute_service_account_anywhere(fixture: str, request: pytest.FixtureRequest) -> None:
    run: Run = request.getfixturevalue(fixture)
    everything = json.dumps([r.to_json() for r in run.resources]) + json.dumps(run.outputs)
    assert "-compute@developer.gserviceaccount.com" not in everything
    ours = set(run.emails.values())
    for m in run.machines():
        sa = m.inputs["serviceAccount"]
        assert sa["email"] in ours, m.name
        assert sa["scopes"] == [CLOUD_PLATFORM]
    instances = {m.name: m for m in run.of_type("gcp:compute/instance:Instance")}
    assert instances[names.child(run.plan.key, "etcd-0")].inputs["serviceAccount"]["email"] == run.emails["etcd"]
    for r in run.plan.control_plane.replicas:
        assert instances[names.child(run.plan.key, r.name)].inputs["serviceAccount"]["email"] == \
            run.emails["control_plane"]
    [template] = run.of_type("gcp:compute/instanceTemplate:InstanceTemplate")
    assert template.inputs["serviceAccount"]["email"] == run.emails["worker"]


# --------------------------------------------------------------------------------------
# Machines


@pytest.mark.parametrize("fixture", ["eu", "public", "edge"])
def test_every_machine_is_hardened(fixture: str, request: pytest.FixtureRequest) -> None:
    run: Run = request.getfixturevalue(fixture)
    machines = run.machines()
    assert len(machines) == 1 + len(run.plan.control_plane.replicas) + len(run.plan.workers)
    for m in machines:
        i = m.inputs
        assert i["shieldedInstanceConfig"] == {
            "enableSecureBoot": True, "enableVtpm": True, "enableIntegrityMonitoring": True}, m.name
        md = i["metadata"]
        assert md["enable-oslogin"] == "TRUE" and md["block-project-ssh-keys"] == "TRUE", m.name
        assert md["user-data"] == "#cloud-config\n{}"
        assert "PRIVATE KEY" not in json.dumps(i)
        [nic] = i["networkInterfaces"]
        assert not nic.get("accessConfigs") and not nic.get("ipv6AccessConfigs"), f"{m.name}: public IP"
        assert nic["subnetwork"] == run.outputs["private"][run.plan.zones[0]]
        # Only Kubernetes nodes carry one network tag: the one the cloud controller manager
        # opens its load balancers' traffic to; fleetform's own rules target service accounts.
        node = m.type == "gcp:compute/instanceTemplate:InstanceTemplate" or "-etcd-" not in m.name
        assert i.get("tags") == ([names.node_network_tag(run.plan.key)] if node else None), f"{m.name}: network tags"
        assert not i.get("canIpForward")
        assert {"fleet", "cluster", "plane", "incarnation"} <= set(i["labels"])
        assert i["labels"]["cluster"] == run.plan.name
        image = (i["bootDisk"]["initializeParams"]["image"] if m.type.endswith(":Instance")
                 else next(d for d in i["disks"] if d.get("boot"))["sourceImage"])
        assert f"projects/{IMAGE_PROJECT}/global/images/{IMAGE_FAMILY}" in image, image
    [get_image] = [args for t, _, args in run.invokes if t == "gcp:compute/getImage:getImage"]
    assert get_image == {"family": IMAGE_FAMILY, "project": IMAGE_PROJECT}


def test_etcd_member_has_its_fixed_ip_and_its_protected_data_disk(eu: Run) -> None:
    key, member = eu.plan.key, eu.plan.etcd.members[0]
    [disk] = eu.of_type("gcp:compute/disk:Disk")
    assert disk.protect is True
    assert disk.inputs["zone"] == member.zone
    assert disk.inputs["size"] == eu.plan.etcd.disk_gb
    assert disk.inputs["type"] in ("pd-balanced", "pd-ssd")
    assert "diskEncryptionKey" not in disk.inputs  # Google-managed encryption at rest
    assert eu.outputs["disk"]["device"] == f"/dev/disk/by-id/google-{disk.inputs['name']}"

    address = eu.one("gcp:compute/address:Address", names.child(key, member.name, "ip"))
    assert address.inputs["addressType"] == "INTERNAL"
    assert address.inputs["address"] == member.ip
    assert address.inputs["subnetwork"] == eu.outputs["private"][member.zone]

    etcd0 = eu.one("gcp:compute/instance:Instance", names.child(key, member.name))
    assert etcd0.inputs["zone"] == member.zone
    assert etcd0.inputs["machineType"] == eu.plan.etcd.machine_type
    assert etcd0.inputs["networkInterfaces"][0]["networkIp"] == member.ip
    assert etcd0.inputs["labels"]["plane"] == "etcd"
    assert etcd0.inputs["labels"]["etcd-member"] == member.name
    [attached] = etcd0.inputs["attachedDisks"]
    assert attached["deviceName"] == disk.inputs["name"]
    assert attached["mode"] == "READ_WRITE"
    assert attached["source"].endswith(f"/zones/{member.zone}/disks/{disk.inputs['name']}")
    assert disk.urn in etcd0.dependencies
    assert eu.outputs["etcd0"]["ip"] == member.ip


def test_rolling_safety_per_member(eu: Run) -> None:
    key = eu.plan.key
    frozen = eu.one("gcp:compute/instance:Instance", names.child(key, "etcd-0"))
    # user-data, a newly published image, the machine type: none restarts a frozen member,
    # and nothing deletes it first (a forced replacement fails on its taken name instead).
    assert set(frozen.ignore_changes) >= {"metadata", "bootDisk", "machineType"}
    assert (frozen.delete_before_replace, frozen.replace_on_changes) == (False, ())
    assert frozen.inputs.get("allowStoppingForUpdate") is False
    for r in eu.plan.control_plane.replicas:
        rolled = eu.one("gcp:compute/instance:Instance", names.child(key, r.name))
        assert "metadata" not in rolled.ignore_changes
        assert (rolled.delete_before_replace, rolled.replace_on_changes) == (True, ("metadata",))
        assert rolled.inputs["zone"] == r.zone


def test_machines_wait_for_their_secrets_firewall_and_egress(eu: Run) -> None:
    key = eu.plan.key
    etcd0 = eu.one("gcp:compute/instance:Instance", names.child(key, "etcd-0"))
    deps = set(etcd0.dependencies)
    for r in eu.of_type("gcp:secretmanager/secretIamMember:SecretIamMember"):
        if "etcd-0-server-key" in r.name:
            assert r.urn in deps
    assert {fw.urn for fw in eu.of_type("gcp:compute/firewall:Firewall")} <= deps
    [nat] = eu.of_type("gcp:compute/routerNat:RouterNat")
    assert nat.urn in deps


# --------------------------------------------------------------------------------------
# Secrets


def test_secrets_are_regional_and_readable_only_by_their_readers(eu: Run) -> None:
    key = eu.plan.key
    secrets = {s.name: s for s in eu.of_type("gcp:secretmanager/secret:Secret")}
    etcd_secret = secrets[names.child(key, "secret", "etcd-0-server-key")]
    secret_id = etcd_secret.inputs["secretId"]
    assert secret_id == f"{eu.fleet.fleet}-{key}-etcd-0-server-key"
    assert re.match(r"^[A-Za-z0-9_-]{1,255}$", secret_id)
    assert eu.outputs["secret"] == {"key": "etcd-0-server-key", "id": secret_id}
    for s in secrets.values():
        assert s.inputs["replication"] == {"userManaged": {"replicas": [{"location": eu.plan.region}]}}
    for v in eu.of_type("gcp:secretmanager/secretVersion:SecretVersion"):
        assert v.inputs["secretData"] == SECRET_MASK, "the value is a secret end to end"

    members = eu.of_type("gcp:secretmanager/secretIamMember:SecretIamMember")
    grants = {(m.inputs["secretId"], m.inputs["member"], m.inputs["role"]) for m in members}
    token_id = secrets[names.child(key, "secret", "bootstrap-token")].inputs["secretId"]
    sa = eu.emails
    assert grants == {
        (secret_id, f"serviceAccount:{sa['etcd']}", "roles/secretmanager.secretAccessor"),
        (token_id, f"serviceAccount:{sa['control_plane']}", "roles/secretmanager.secretAccessor"),
        (token_id, f"serviceAccount:{sa['worker']}", "roles/secretmanager.secretAccessor"),
    }
    assert len(members) == len(grants)


def test_user_data_with_a_private_key_is_refused() -> None:
    assert check_user_data("#cloud-config\n{}") == "#cloud-config\n{}"
    with pytest.raises(ValueError, match="private key"):
        check_user_data("#cloud-config\nwrite_files:\n- content: |\n    -----BEGIN EC PRIVATE KEY-----\n")
    with pytest.raises(ValueError, match="at most"):
        check_user_data("#" * (256 * 1024 + 1))


# --------------------------------------------------------------------------------------
# Workers


def test_worker_pool_is_one_zonal_managed_group_per_zone(eu: Run) -> None:
    [pool] = eu.plan.workers
    name = names.child(eu.plan.key, "pool", pool.name)
    template = eu.one("gcp:compute/instanceTemplate:InstanceTemplate", names.child(name, "template"))
    assert template.inputs["machineType"] == pool.machine_type
    assert not eu.of_type("gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager")
    groups = {z: eu.one("gcp:compute/instanceGroupManager:InstanceGroupManager", names.child(name, z))
              for z in pool.zones}
    for zone, group in groups.items():
        # The name cluster-autoscaler's --nodes flag gives this group (its add-on).
        assert group.inputs["name"] == names.zonal_worker_group(eu.plan.key, pool.name, zone)
        assert group.inputs["zone"] == zone and "region" not in group.inputs
        assert GCP_NAME.match(group.inputs["name"]) and len(group.inputs["baseInstanceName"]) <= 58
        [version] = group.inputs["versions"]
        assert template.urn in group.dependencies and "uniqueId=" in version["instanceTemplate"]
        policy = group.inputs["updatePolicy"]
        assert policy["type"] == "PROACTIVE" and policy["minimalAction"] == "REPLACE"
        # Surge first, never below capacity; a zonal group has no regional-only fields.
        assert (policy["maxSurgeFixed"], policy["maxUnavailableFixed"]) == (1, 0)
        assert "instanceRedistributionType" not in policy
        assert "targetSize" in group.ignore_changes
    # No CPU autoscaler: together the groups start at the pool's minimum (first zones
    # take the remainder) and the in-cluster cluster-autoscaler owns each one's size.
    assert [g.inputs["targetSize"] for g in groups.values()] == list(split(pool.min, pool.zones).values())
    assert sum(g.inputs["targetSize"] for g in groups.values()) == pool.min == 3
    assert not eu.of_type("gcp:compute/regionAutoscaler:RegionAutoscaler")
    assert template.inputs["labels"]["cluster-autoscaler-enabled"] == "true"
    assert template.inputs["labels"]["cluster-autoscaler-name"] == eu.plan.name
    # The handle carries every group by zone; its id is the zonal manager's.
    assert eu.outputs["pools"][pool.name] == {
        z: f"projects/{eu.fleet.gcp_project}/zones/{z}/instanceGroupManagers/{g.inputs['name']}"
        for z, g in groups.items()}


# --------------------------------------------------------------------------------------
# Load balancer and DNS


def test_internal_api_load_balancer(eu: Run) -> None:
    key, port = eu.plan.key, eu.plan.api.port
    [health] = eu.of_type("gcp:compute/regionHealthCheck:RegionHealthCheck")
    assert health.inputs["tcpHealthCheck"]["port"] == port
    groups = eu.of_type("gcp:compute/instanceGroup:InstanceGroup")
    assert {g.inputs["zone"] for g in groups} == {r.zone for r in eu.plan.control_plane.replicas}
    instances = {m.name: m for m in eu.of_type("gcp:compute/instance:Instance")}
    for g in groups:
        zone = g.inputs["zone"]
        assert g.name == names.child(key, "api", "group", zone)
        expected = [r.name for r in eu.plan.control_plane.replicas if r.zone == zone]
        assert [link.rsplit("/", 1)[-1] for link in g.inputs["instances"]] == [
            instances[names.child(key, n)].inputs["name"] for n in expected]
    [backend] = eu.of_type("gcp:compute/regionBackendService:RegionBackendService")
    assert backend.inputs["loadBalancingScheme"] == "INTERNAL"
    assert backend.inputs["protocol"] == "TCP"
    assert len(backend.inputs["backends"]) == len(groups)
    assert health.urn in backend.dependencies
    [rule] = eu.of_type("gcp:compute/forwardingRule:ForwardingRule")
    assert rule.inputs["loadBalancingScheme"] == "INTERNAL"
    assert rule.inputs["ports"] == [str(port)]
    assert rule.inputs["subnetwork"] == eu.outputs["private"][eu.plan.zones[0]]
    [address] = [a for a in eu.of_type("gcp:compute/address:Address") if a.name.startswith(names.child(key, "api"))]
    assert address.inputs["addressType"] == "INTERNAL"
    assert eu.outputs["lb"]["kind"] == "ip"
    assert eu.outputs["lb"]["address"] == eu.outputs["lb"]["internal"] == rule.inputs["ipAddress"]
    assert re.match(r"^10\.5\.", eu.outputs["lb"]["address"])


def test_public_api_load_balancer_has_a_reserved_external_address_and_an_internal_twin(public: Run) -> None:
    rules = {r.inputs["loadBalancingScheme"]: r for r in public.of_type("gcp:compute/forwardingRule:ForwardingRule")}
    assert set(rules) == {"EXTERNAL", "INTERNAL"}
    backends = {b.inputs["loadBalancingScheme"] for b in
                public.of_type("gcp:compute/regionBackendService:RegionBackendService")}
    assert backends == {"EXTERNAL", "INTERNAL"}
    external = next(a for a in public.of_type("gcp:compute/address:Address") if a.inputs["addressType"] == "EXTERNAL")
    assert rules["EXTERNAL"].inputs["ipAddress"] == public.outputs["lb"]["address"]
    assert external.urn in rules["EXTERNAL"].dependencies
    assert "subnetwork" not in rules["EXTERNAL"].inputs
    assert rules["INTERNAL"].inputs["ipAddress"] == public.outputs["lb"]["internal"]
    # In-VPC names point at the internal twin, the public name at the external address.
    records = public.of_type("gcp:dns/recordSet:RecordSet")
    api = public.plan.api.incarnation_dns + "."
    private_zone = public.outputs["zone"]["id"]
    [private] = [r for r in records if r.inputs["name"] == api and r.inputs["managedZone"] == private_zone]
    [pub] = [r for r in records if r.inputs["name"] == api and r.inputs["managedZone"] != private_zone]
    assert private.inputs["rrdatas"] == [public.outputs["lb"]["internal"]]
    assert pub.inputs["rrdatas"] == [public.outputs["lb"]["address"]]


def test_dns_private_zone_records_and_public_lookup(eu: Run) -> None:
    [zone] = eu.of_type("gcp:dns/managedZone:ManagedZone")
    assert zone.inputs["dnsName"] == eu.plan.dns_zone + "."
    assert zone.inputs["visibility"] == "private"
    assert zone.inputs["privateVisibilityConfig"]["networks"] == [{"networkUrl": eu.outputs["network"]}]
    assert eu.outputs["zone"]["name"] == eu.plan.dns_zone
    member = eu.plan.etcd.members[0]
    records = {r.name: r for r in eu.of_type("gcp:dns/recordSet:RecordSet")}
    etcd = records[names.child(eu.plan.key, "record", member.name)]
    assert etcd.inputs == {"managedZone": zone.inputs["name"], "name": member.dns + ".", "type": "A",
                           "ttl": 60, "rrdatas": [member.ip]}
    api = records[names.child(eu.plan.key, "record", "api")]
    assert api.inputs["rrdatas"] == [eu.outputs["lb"]["address"]]
    public = records[names.child(eu.plan.key, "public-record", "api")]
    assert public.inputs["managedZone"] == "fleet-acme-example"
    assert public.inputs["name"] == eu.plan.api.incarnation_dns + "."
    [lookup] = [args for t, _, args in eu.invokes if t == "gcp:dns/getManagedZone:getManagedZone"]
    assert lookup == {"name": "fleet-acme-example", "project": "acme-fleet"}


# --------------------------------------------------------------------------------------
# Buckets, secret store


def test_bucket_is_private_versioned_and_granted_per_identity(eu: Run) -> None:
    [bucket] = eu.of_type("gcp:storage/bucket:Bucket")
    i = bucket.inputs
    assert i["uniformBucketLevelAccess"] is True
    assert i["publicAccessPrevention"] == "enforced"
    assert i["versioning"] == {"enabled": True}
    assert i["location"] == eu.plan.region.upper()
    assert not i.get("forceDestroy")
    assert {"action": {"type": "Delete"}, "condition": {"age": 14}} in i["lifecycleRules"]
    assert i["name"].startswith("acme-fleet-") and GCP_NAME.match(i["name"])
    assert eu.outputs["bucket"]["url"] == f"gs://{i['name']}"
    sa = eu.emails
    grants = {(m.inputs["bucket"], m.inputs["role"], m.inputs["member"])
              for m in eu.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")}
    assert grants == {
        (i["name"], "roles/storage.objectCreator", f"serviceAccount:{sa['etcd']}"),
        (i["name"], "roles/storage.objectViewer", f"serviceAccount:{sa['etcd']}"),
        (i["name"], "roles/storage.objectViewer", f"serviceAccount:{sa['control_plane']}"),
    }


def test_secret_store(eu: Run) -> None:
    assert eu.outputs["secret_store"] == {"cloud": "gcp", "region": "europe-west1", "project": "acme-fleet"}
