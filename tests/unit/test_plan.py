"""The plan: example stacks, the ``plan --json`` shape, zones, machine types, addresses
and firewall rules."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from fleetform.catalog.regions import zones as region_zones
from fleetform.plan.fleet import plan_fleet
from fleetform.plan.load import load_stack_file
from fleetform.plan.model import FleetPlan

from .helpers import ROOT, plan_text

EXAMPLES = ("dev", "staging", "prod")


def example(stack: str) -> FleetPlan:
    path = ROOT / "stacks" / f"Pulumi.{stack}.yaml"
    return plan_fleet(load_stack_file(path, label=f"stacks/Pulumi.{stack}.yaml"))


# ---------------------------------------------------------------- example stacks


@pytest.mark.parametrize("stack", EXAMPLES)
def test_example_stacks_load_and_plan(stack: str) -> None:
    plan = example(stack)
    assert plan.stack == stack
    assert plan.fleet == "acme"
    assert plan.clusters
    data = plan.to_json()
    assert json.loads(json.dumps(data)) == data  # plain JSON all the way down


def test_dev_stack_is_two_small_clusters_one_per_cloud() -> None:
    plan = example("dev")
    assert sorted(c.cloud for c in plan.clusters) == ["aws", "gcp"]
    for c in plan.clusters:
        assert len(c.etcd.members) == 1
        assert len(c.control_plane.replicas) == 1


def test_prod_stack_spans_clouds_regions_and_cnis() -> None:
    plan = example("prod")
    assert len(plan.clusters) >= 6
    regions = {(c.cloud, c.region) for c in plan.clusters}
    assert len({r for cloud, r in regions if cloud == "aws"}) >= 2
    assert len({r for cloud, r in regions if cloud == "gcp"}) >= 2
    assert {c.cni.plugin for c in plan.clusters} == {"cilium", "calico", "flannel"}
    assert all(len(c.etcd.members) >= 3 and len(c.control_plane.replicas) >= 3 for c in plan.clusters)
    spec = load_stack_file(ROOT / "stacks" / "Pulumi.prod.yaml", label="stacks/Pulumi.prod.yaml")
    assert any("edge" in c.profiles for c in spec.clusters)
    gdpr = [c for c in spec.clusters if "gdpr" in c.compliance]
    assert gdpr
    assert all(c.region.startswith(("eu-", "europe-")) for c in gdpr)


@pytest.mark.parametrize("stack", EXAMPLES)
def test_one_zone_per_member_and_replica(stack: str) -> None:
    for c in example(stack).to_json()["clusters"]:
        assert len(c["etcd"]["zones"]) == c["etcd"]["members"]
        assert len(c["control_plane"]["zones"]) == c["control_plane"]["replicas"]
        known = set(region_zones(c["cloud"], c["region"]))
        assert set(c["etcd"]["zones"]) <= known
        assert set(c["control_plane"]["zones"]) <= known
        for pool in c["workers"]:
            assert pool["zones"] and set(pool["zones"]) <= known


@pytest.mark.parametrize("stack", EXAMPLES)
def test_example_stack_addresses_are_disjoint(stack: str) -> None:
    nets = []
    for c in example(stack).clusters:
        node, pod, svc = (ipaddress.ip_network(x) for x in
                          (c.network.node_cidr, c.network.pod_cidr, c.network.service_cidr))
        assert not node.overlaps(pod) and not node.overlaps(svc) and not pod.overlaps(svc)
        nets += [(c.name, node), (c.name, pod)]
    for i, (a, x) in enumerate(nets):
        for b, y in nets[i + 1:]:
            if a != b:
                assert not x.overlaps(y), (a, x, b, y)


# ---------------------------------------------------------------- the JSON shape


PROD_LIKE = """
clusters:
  - name: eu-core
    cloud: aws
    region: eu-west-1
    network: {index: 3}
    workers:
      - {name: general, min: 3, max: 10}
      - {name: memory, machine_type: r6i.xlarge, min: 0, max: 6}
  - name: us-gcp
    cloud: gcp
    region: us-central1
    kubernetes_version: "1.36"
    cni: {plugin: calico}
    etcd: {members: 5, size: large}
    control_plane: {replicas: 2, size: small}
    network: {index: 6}
"""


def test_plan_json_has_the_documented_shape(tmp_path: Path) -> None:
    data = json.loads(json.dumps(plan_text(tmp_path, PROD_LIKE).to_json()))
    assert {k: data[k] for k in ("fleet", "stack")} == {"fleet": "acme", "stack": "t"}
    eu, us = data["clusters"]
    assert {k: eu[k] for k in ("name", "cloud", "region", "kubernetes_version", "cni")} == {
        "name": "eu-core", "cloud": "aws", "region": "eu-west-1", "kubernetes_version": "1.37.1", "cni": "cilium"}
    assert {k: eu["network"][k] for k in ("node_cidr", "pod_cidr", "service_cidr")} == {
        "node_cidr": "10.3.128.0/18", "pod_cidr": "10.3.0.0/17", "service_cidr": "10.3.192.0/20"}
    assert eu["etcd"]["members"] == 3
    assert eu["etcd"]["zones"] == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    assert eu["control_plane"]["replicas"] == 3
    assert eu["control_plane"]["zones"] == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    assert [{k: p[k] for k in ("name", "machine_type", "min", "max", "zones")} for p in eu["workers"]] == [
        {"name": "general", "machine_type": "m6i.large", "min": 3, "max": 10,
         "zones": ["eu-west-1a", "eu-west-1b", "eu-west-1c"]},
        {"name": "memory", "machine_type": "r6i.xlarge", "min": 0, "max": 6,
         "zones": ["eu-west-1a", "eu-west-1b", "eu-west-1c"]},
    ]
    assert {k: us[k] for k in ("name", "cloud", "region", "kubernetes_version", "cni")} == {
        "name": "us-gcp", "cloud": "gcp", "region": "us-central1", "kubernetes_version": "1.36.3", "cni": "calico"}
    assert us["network"]["node_cidr"] == "10.6.128.0/18"
    assert us["etcd"]["members"] == 5
    assert us["etcd"]["zones"] == ["us-central1-a", "us-central1-b", "us-central1-c", "us-central1-a", "us-central1-b"]
    assert us["etcd"]["machine_type"] == "n2-standard-4"
    assert us["control_plane"] == {"replicas": 2, "zones": ["us-central1-a", "us-central1-b"],
                                   "ips": ["10.6.128.20", "10.6.136.21"], "machine_type": "e2-medium", "roll": []}


def test_plan_json_detail_fields(tmp_path: Path) -> None:
    eu = plan_text(tmp_path, PROD_LIKE).to_json()["clusters"][0]
    assert eu["key"] == "eu-core-aws-eu-west-1"
    assert eu["zones"] == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    assert eu["network"]["slot"] == 3
    assert eu["network"]["allocation"] == "index"
    assert eu["network"]["nat"] == "per_zone"
    assert eu["network"]["subnets"] == [
        {"zone": "eu-west-1a", "private": "10.3.128.0/21", "public": "10.3.160.0/21"},
        {"zone": "eu-west-1b", "private": "10.3.136.0/21", "public": "10.3.168.0/21"},
        {"zone": "eu-west-1c", "private": "10.3.144.0/21", "public": "10.3.176.0/21"},
    ]
    assert eu["etcd"]["member_names"] == ["etcd-0", "etcd-1", "etcd-2"]
    assert eu["etcd"]["ips"] == ["10.3.128.10", "10.3.136.11", "10.3.144.12"]
    assert eu["etcd"]["dns"] == [f"etcd-{i}.eu-core.fleet.acme.example" for i in range(3)]
    assert eu["etcd"]["quorum"] == 2
    assert eu["etcd"]["disk_gb"] == 50
    assert eu["etcd"]["roll"] == []
    assert eu["api"] == {
        "endpoint": "https://api.eu-core.fleet.acme.example:6443",
        "dns": "api.eu-core.fleet.acme.example",
        "incarnation_dns": "api-aws-eu-west-1.eu-core.fleet.acme.example",
        "public": False,
        "allowed_cidrs": [],
    }
    assert eu["dns_zone"] == "eu-core.fleet.acme.example"
    assert eu["decommission"] is False
    assert eu["cni_detail"]["plugin"] == "cilium"
    assert eu["cni_detail"]["mtu"] == 9001 - 50
    assert eu["cost"]["currency"] == "USD" and eu["cost"]["estimate"] is True
    assert eu["cost"]["total_min"] <= eu["cost"]["total_max"]


def test_plan_json_of_the_prod_stack_is_what_the_cli_prints() -> None:
    data = example("prod").to_json()
    assert list(data) == ["fleet", "stack", "domain", "clusters", "warnings"]
    for c in data["clusters"]:
        assert {"name", "cloud", "region", "kubernetes_version", "cni", "network", "etcd",
                "control_plane", "workers"} <= set(c)


# ---------------------------------------------------------------- machine types


@pytest.mark.parametrize(("cloud", "region", "size", "machine"), [
    ("aws", "eu-west-1", "small", "t3.medium"),
    ("aws", "eu-west-1", "medium", "m6i.large"),
    ("aws", "eu-west-1", "large", "m6i.xlarge"),
    ("aws", "eu-west-1", "xlarge", "m6i.2xlarge"),
    ("gcp", "europe-west1", "small", "e2-medium"),
    ("gcp", "europe-west1", "medium", "n2-standard-2"),
    ("gcp", "europe-west1", "large", "n2-standard-4"),
    ("gcp", "europe-west1", "xlarge", "n2-standard-8"),
])
def test_machine_types_come_from_the_size_table(tmp_path: Path, cloud: str, region: str, size: str,
                                                machine: str) -> None:
    c = plan_text(tmp_path, f"""
        clusters:
          - name: a
            cloud: {cloud}
            region: {region}
            network: {{index: 1}}
            etcd: {{size: {size}}}
            control_plane: {{size: {size}}}
            workers: [{{name: general, size: {size}}}]
    """).cluster("a")
    assert (c.etcd.machine_type, c.control_plane.machine_type, c.workers[0].machine_type) == (machine,) * 3


def test_explicit_machine_type_wins(tmp_path: Path) -> None:
    c = plan_text(tmp_path, """
        clusters:
          - name: a
            cloud: gcp
            region: europe-west1
            network: {index: 1}
            workers:
              - {name: general, size: null, machine_type: c3-standard-8}
              - {name: other, machine_type: n2-highmem-4}
    """).cluster("a")
    assert [(p.name, p.machine_type) for p in c.workers] == [("general", "c3-standard-8"),
                                                              ("other", "n2-highmem-4")]


# ---------------------------------------------------------------- zones and members


def test_regions_with_more_zones_use_the_first_three(tmp_path: Path) -> None:
    c = plan_text(tmp_path, """
        clusters: [{name: a, cloud: aws, region: us-east-1, etcd: {members: 7}, network: {index: 1}}]
    """).cluster("a")
    assert c.zones == ("us-east-1a", "us-east-1b", "us-east-1c")
    assert [m.zone for m in c.etcd.members] == ["us-east-1a", "us-east-1b", "us-east-1c"] * 2 + ["us-east-1a"]
    assert [m.name for m in c.etcd.members] == [f"etcd-{i}" for i in range(7)]


def test_explicit_zones_are_used_in_their_order(tmp_path: Path) -> None:
    c = plan_text(tmp_path, """
        clusters:
          - {name: a, cloud: aws, region: us-east-1, zones: [us-east-1d, us-east-1b, us-east-1f, us-east-1a],
             etcd: {members: 5}, control_plane: {replicas: 2}, network: {index: 1}}
    """).cluster("a")
    assert c.zones == ("us-east-1d", "us-east-1b", "us-east-1f", "us-east-1a")
    assert [m.zone for m in c.etcd.members] == ["us-east-1d", "us-east-1b", "us-east-1f", "us-east-1a",
                                                "us-east-1d"]
    assert [r.zone for r in c.control_plane.replicas] == ["us-east-1d", "us-east-1b"]
    assert c.workers[0].zones == c.zones
    assert [s.zone for s in c.network.subnets] == list(c.zones)


def test_two_zone_region_warns_about_quorum(tmp_path: Path) -> None:
    plan = plan_text(tmp_path, """
        clusters: [{name: a, cloud: aws, region: us-west-1, network: {index: 1}}]
    """)
    assert plan.cluster("a").zones == ("us-west-1a", "us-west-1c")
    assert plan.warnings == ("cluster 'a': etcd's 3 members sit in 2 zone(s); losing the zone with the most "
                             "members loses quorum",)


def test_single_member_and_decommission_warnings(tmp_path: Path) -> None:
    plan = plan_text(tmp_path, """
        clusters:
          - {name: a, cloud: aws, region: eu-west-1, etcd: {members: 1}, network: {index: 1}}
          - {name: b, cloud: aws, region: eu-west-1, decommission: true, network: {index: 2}}
    """)
    assert plan.warnings == (
        "cluster 'a': a single etcd member has no redundancy (fine for dev)",
        "cluster 'b' is being decommissioned: its etcd disks are no longer protected; "
        "deleting its entry in a later `pulumi up` deletes its data",
    )
    assert plan.cluster("b").decommission is True
    assert plan.to_json()["clusters"][1]["decommission"] is True


@pytest.mark.parametrize("stack", EXAMPLES)
def test_etcd_member_ips_are_unique_and_inside_their_zone_subnet(stack: str) -> None:
    for c in example(stack).clusters:
        ips = [m.ip for m in c.etcd.members]
        assert len(set(ips)) == len(ips)
        for m in c.etcd.members:
            subnet = ipaddress.ip_network(c.network.subnet(m.zone).private_cidr)
            assert ipaddress.ip_address(m.ip) in subnet
            assert ipaddress.ip_address(m.ip) not in (subnet.network_address, subnet.broadcast_address)


def test_etcd_member_ips_fit_the_smallest_node_cidr(tmp_path: Path) -> None:
    # cluster_prefix 22 leaves a /24 node CIDR: /27 zone subnets.
    c = plan_text(tmp_path, """
        network: {cluster_prefix: 22}
        clusters: [{name: a, cloud: aws, region: eu-west-1, etcd: {members: 7}, network: {index: 1}}]
    """).cluster("a")
    assert c.network.node_cidr == "10.0.6.0/24"
    for m in c.etcd.members:
        assert ipaddress.ip_address(m.ip) in ipaddress.ip_network(c.network.subnet(m.zone).private_cidr)


def test_slot_carving(tmp_path: Path) -> None:
    net = plan_text(tmp_path, """
        network: {supernet: 172.16.0.0/12, cluster_prefix: 18}
        clusters: [{name: a, cloud: gcp, region: europe-west1, network: {index: 5}}]
    """).cluster("a").network
    # slot 5 of /18 in 172.16.0.0/12 = 172.17.64.0/18
    assert (net.pod_cidr, net.node_cidr, net.service_cidr) == ("172.17.64.0/19", "172.17.96.0/20", "172.17.112.0/22")
    assert [(s.private_cidr, s.public_cidr) for s in net.subnets] == [
        ("172.17.96.0/23", "172.17.104.0/23"),
        ("172.17.98.0/23", "172.17.106.0/23"),
        ("172.17.100.0/23", "172.17.108.0/23"),
    ]


def test_automatic_slot_is_a_hash_of_the_name(tmp_path: Path) -> None:
    from fleetform.plan.ipam import auto_slot

    net = plan_text(tmp_path, """
        clusters: [{name: eu-core, cloud: aws, region: eu-west-1}]
    """).cluster("eu-core").network
    slot = auto_slot("eu-core", 256)
    assert (net.slot, net.source) == (slot, "auto")
    assert net.node_cidr == f"10.{slot}.128.0/18"


# ---------------------------------------------------------------- firewall


CNI_PORTS = {
    "cilium": {("udp", 8472), ("tcp", 4240)},
    "calico": {("udp", 4789), ("tcp", 5473)},
    "flannel": {("udp", 8472)},
}


@pytest.mark.parametrize("plugin", sorted(CNI_PORTS))
def test_firewall_rules(tmp_path: Path, plugin: str) -> None:
    c = plan_text(tmp_path, f"""
        clusters:
          - {{name: a, cloud: aws, region: eu-west-1, cni: {{plugin: {plugin}}}, network: {{index: 1}},
             api: {{allowed_cidrs: [203.0.113.0/24], public: true}}}}
    """).cluster("a")
    rules = c.firewall

    def covering(port: int) -> set[tuple[str, str, str]]:
        return {(r.source, r.target, r.protocol) for r in rules if r.ports[0] <= port <= r.ports[1]}

    # etcd: clients only from the API servers, peers only among members, nothing else.
    assert covering(2379) == {("control_plane", "etcd", "tcp")}
    assert covering(2380) == {("etcd", "etcd", "tcp")}
    assert {(r.source, r.ports) for r in rules if r.target == "etcd"} == {
        ("control_plane", (2379, 2379)), ("etcd", (2380, 2380))}
    # kubelet only from the API servers.
    assert covering(10250) == {("control_plane", "control_plane", "tcp"), ("control_plane", "worker", "tcp")}
    # The allowed CIDRs reach the API load balancer and nothing else.
    assert {(r.target, r.ports) for r in rules if r.source_is_cidr} == {("api_lb", (6443, 6443))}
    # Flux's artifacts (its controllers run on the control plane's host network): only
    # between control-plane machines.
    assert covering(9790) == {("control_plane", "control_plane", "tcp")}
    # CNI datapath: exactly the plugin's ports, between node roles only, both directions.
    datapath = {(r.protocol, r.ports[0]) for r in rules if r.ports[0] not in (2379, 2380, 6443, 9790, 10250)}
    assert datapath == CNI_PORTS[plugin]
    for proto, port in CNI_PORTS[plugin]:
        pairs = {(r.source, r.target) for r in rules if r.ports == (port, port) and r.protocol == proto}
        roles = ("control_plane", "worker")
        assert pairs == {(s, t) for s in roles for t in roles}
    # Every rule is a single port and says why.
    assert all(r.ports[0] == r.ports[1] and r.why for r in rules)
    # The same rules in the JSON.
    as_json = plan_text(tmp_path, f"""
        clusters: [{{name: a, cloud: aws, region: eu-west-1, cni: {{plugin: {plugin}}}, network: {{index: 1}}}}]
    """).to_json()["clusters"][0]["firewall"]
    assert {(r["source"], r["target"], r["protocol"], tuple(r["ports"])) for r in as_json} >= {
        ("control_plane", "etcd", "tcp", (2379, 2379)), ("etcd", "etcd", "tcp", (2380, 2380))}


def test_firewall_rules_are_the_same_on_both_clouds(tmp_path: Path) -> None:
    plan = plan_text(tmp_path, """
        clusters:
          - {name: a, cloud: aws, region: eu-west-1, network: {index: 1}}
          - {name: b, cloud: gcp, region: europe-west1, network: {index: 2}}
    """)
    assert plan.cluster("a").firewall == plan.cluster("b").firewall
