"""Control-plane replicas' fixed addresses in the plan, and the cost model's NAT count."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from fleetform.catalog.sizes import HOURS_PER_MONTH, LOAD_BALANCER_HOUR, NAT_HOUR
from fleetform.plan.cost import estimate
from fleetform.plan.model import CONTROL_PLANE_IP_OFFSET, ETCD_IP_OFFSET

from .helpers import plan_text, problems

TWO = """
clusters:
  - name: a
    cloud: gcp
    region: europe-west1
    network: {index: 7}
    etcd: {members: 5}
    control_plane: {replicas: 5}
  - name: b
    cloud: aws
    region: eu-west-1
    network: {index: 8, nat: per_zone}
"""


def test_replicas_get_fixed_addresses_after_etcd_in_their_zone_subnet(tmp_path: Path) -> None:
    plan = plan_text(tmp_path, TWO)
    a = plan.cluster("a")
    zones = a.zones
    assert [(r.name, r.zone) for r in a.control_plane.replicas] == [
        (f"cp-{i}", zones[i % len(zones)]) for i in range(5)]
    for i, r in enumerate(a.control_plane.replicas):
        subnet = ipaddress.IPv4Network(a.network.subnet(r.zone).private_cidr)
        assert ipaddress.IPv4Address(r.ip) == subnet.network_address + CONTROL_PLANE_IP_OFFSET + i
    # etcd's offsets (ETCD_IP_OFFSET + member index) stay below the control plane's.
    assert ETCD_IP_OFFSET + 10 <= CONTROL_PLANE_IP_OFFSET
    assert not {r.ip for r in a.control_plane.replicas} & {m.ip for m in a.etcd.members}
    assert a.to_json()["control_plane"]["ips"] == [r.ip for r in a.control_plane.replicas]


def test_replica_addresses_do_not_move_when_clusters_are_added_or_reordered(tmp_path: Path) -> None:
    for sub in ("1", "2", "3"):
        (tmp_path / sub).mkdir()
    alone = plan_text(tmp_path / "1", TWO.split("  - name: b")[0]).cluster("a")
    both = plan_text(tmp_path / "2", TWO).cluster("a")
    body = TWO.split("clusters:\n")[1]
    first, second = body.split("  - name: b")
    reordered = plan_text(tmp_path / "3", "clusters:\n  - name: b" + second + first).cluster("a")
    assert alone.control_plane == both.control_plane == reordered.control_plane


def test_the_most_replicas_fit_the_smallest_node_cidr(tmp_path: Path) -> None:
    """A /24 node CIDR (the smallest the validator takes) has /27 zone subnets: 9 replicas
    (the most) still sit below the addresses GCP reserves at the end of a subnet."""
    body = """
clusters:
  - name: tiny
    cloud: gcp
    region: europe-west1
    zones: [europe-west1-b]
    etcd: {members: 7}
    control_plane: {replicas: 9}
    network: {node_cidr: 172.16.0.0/24, pod_cidr: 172.17.0.0/16, service_cidr: 172.18.0.0/20}
"""
    assert problems(tmp_path, body) == []
    tiny = plan_text(tmp_path, body).cluster("tiny")
    subnet = ipaddress.IPv4Network(tiny.network.subnet("europe-west1-b").private_cidr)
    assert subnet.prefixlen == 27
    ips = [ipaddress.IPv4Address(r.ip) for r in tiny.control_plane.replicas]
    assert max(ips) < subnet.broadcast_address - 1
    assert min(ips) > max(ipaddress.IPv4Address(m.ip) for m in tiny.etcd.members)


def test_gcp_counts_one_regional_cloud_nat_whatever_the_nat_setting() -> None:
    args = ((3, "n2-standard-2", 50), (3, "n2-standard-2"), [("n2-standard-2", 1, 3)])
    per_zone, single = estimate("gcp", *args, nat_gateways=3), estimate("gcp", *args, nat_gateways=1)
    assert per_zone == single
    assert per_zone.network == round((LOAD_BALANCER_HOUR["gcp"] + NAT_HOUR["gcp"]) * HOURS_PER_MONTH, 2)
    aws_args = ((3, "m6i.large", 50), (3, "m6i.large"), [("m6i.large", 1, 3)])
    assert estimate("aws", *aws_args, nat_gateways=3).network == round(
        (LOAD_BALANCER_HOUR["aws"] + 3 * NAT_HOUR["aws"]) * HOURS_PER_MONTH, 2)


def test_planned_gcp_cluster_cost_does_not_scale_nat_with_zones(tmp_path: Path) -> None:
    for sub in ("p", "s", "a"):
        (tmp_path / sub).mkdir()
    per_zone = plan_text(tmp_path / "p", TWO.replace("network: {index: 7}", "network: {index: 7, nat: per_zone}"))
    single = plan_text(tmp_path / "s", TWO.replace("network: {index: 7}", "network: {index: 7, nat: single}"))
    assert per_zone.cluster("a").cost.network == single.cluster("a").cost.network
    # AWS builds a NAT gateway per zone with `per_zone`.
    aws_single = plan_text(tmp_path / "a", TWO.replace("nat: per_zone", "nat: single")).cluster("b")
    assert per_zone.cluster("b").cost.network > aws_single.cost.network
