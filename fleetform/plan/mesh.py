"""Fleet-level CNI step: Cilium ClusterMesh among the clusters listed in ``mesh.clusters``.

Runs after every cluster is planned (it needs the other members' names and node CIDRs)
and changes only the members' plans:

- each member's ClusterMesh API load balancer gets planned private addresses
  (``mesh_lb_ips``), and each member learns its peers: name, port, those addresses, node
  CIDR -- so a member's values need nothing from a peer's cloud resources (or stack);
- its MTU follows the inter-cluster path (``mesh.path_mtu``), since encapsulated pod
  traffic now crosses networks between clusters;
- its firewall lets the peers' nodes reach its nodes' VXLAN and health ports (pod to pod
  across clusters is node to node VXLAN in tunnel mode);
- its ClusterMesh API is a NodePort on a port of its own (``clustermesh_node_port``),
  behind a TCP load balancer in front of its workers (``components/mesh.py``): the
  firewall opens that port on the workers to the peers' node CIDRs and to the load
  balancer's health checks, and to nothing else.

It also warns about per-node pod blocks that limit a cluster (Cilium shrinks its blocks
to fit the cluster's largest size; Flannel's /24 per node may not fit). Validation
(members exist, use Cilium, have unique ids) is in ``validate_cni.py``; this step assumes
a valid fleet. Pure and deterministic: peers are sorted by name.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import TYPE_CHECKING

from fleetform.plan import names
from fleetform.plan.cni import (
    CILIUM_HEALTH_PORT,
    CILIUM_VXLAN_PORT,
    NODE_MTU,
    NODE_POD_BLOCK_PREFIX,
    NODE_POD_BLOCK_PREFIX_MAX,
    MeshPeer,
    MeshPlan,
    clustermesh_node_port,
    max_nodes,
    node_capacity,
)
from fleetform.plan.firewall import LB_HEALTH_CHECKS, NODE_ROLES, FirewallRule
from fleetform.plan.model import MESH_LB_IP_OFFSET, NetworkPlan
from fleetform.plan.pki import CA_USES, INTERMEDIATE_VALIDITY_HOURS, CertSpec
from fleetform.spec.models import FleetSpec

if TYPE_CHECKING:
    from fleetform.plan.model import ClusterPlan
    from fleetform.plan.pki import CertSpec

MESH_CA_KEY = "clustermesh-ca"


def mesh_address(cluster: str, fleet_domain: str) -> str:
    """The DNS name peers use for a member's ClusterMesh API load balancer."""
    return f"clustermesh.{names.cluster_domain(cluster, fleet_domain)}"


def mesh_lb_ips(cloud: str, network: NetworkPlan, zones: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """A member's ClusterMesh API load balancer addresses, (zone, address), at
    ``MESH_LB_IP_OFFSET`` of each zone's private subnet: a function of the member's own
    node CIDR only, clear of the clouds' reserved addresses and of every other planned
    address (``fleetform.plan.ipam.fixed_addresses``).

    AWS: one per zone subnet the internal NLB spans (``subnet_mappings``); GCP: one, in
    the first zone's part of the regional subnetwork (a reserved internal ``Address``).
    Known before any cloud resource exists, so peers' values name them in any stack.
    """
    subnets = [network.subnet(z) for z in (zones if cloud == "aws" else zones[:1])]
    return tuple(
        (s.zone, str(ipaddress.IPv4Network(s.private_cidr).network_address + MESH_LB_IP_OFFSET)) for s in subnets
    )


def clustermesh_ca(fleet: str) -> CertSpec:
    """The ClusterMesh CA: one intermediate of the fleet root shared by every member
    (Cilium requires a single CA across the mesh; each member's Helm release signs its
    ClusterMesh server and client certificates with it)."""

    return CertSpec(
        MESH_CA_KEY,
        "root-ca",
        f"{fleet} clustermesh CA",
        fleet,
        CA_USES,
        True,
        INTERMEDIATE_VALIDITY_HOURS,
    )


def peer_rules(peers: tuple[MeshPeer, ...], api_port: int) -> list[FirewallRule]:
    """Cross-cluster datapath: the peers' nodes reach this member's nodes (VXLAN, health),
    and its ClusterMesh API: the NodePort ``api_port`` on the workers, the load balancer's
    targets, from the peers' nodes (the load balancer passes their addresses through) and
    from the load balancer's health checks."""
    rules = [
        FirewallRule(
            "worker",
            LB_HEALTH_CHECKS,
            "tcp",
            (api_port,) * 2,
            "ClusterMesh API: load-balancer health checks of its node port",
        )
    ]
    for peer in peers:
        rules.append(
            FirewallRule(
                "worker",
                peer.node_cidr,
                "tcp",
                (api_port,) * 2,
                f"ClusterMesh API (node port behind its load balancer) from {peer.cluster}'s nodes",
            )
        )
        for target in NODE_ROLES:
            rules.append(
                FirewallRule(
                    target,
                    peer.node_cidr,
                    "udp",
                    (CILIUM_VXLAN_PORT,) * 2,
                    f"ClusterMesh: Cilium VXLAN from {peer.cluster}'s nodes",
                )
            )
            rules.append(
                FirewallRule(
                    target,
                    peer.node_cidr,
                    "tcp",
                    (CILIUM_HEALTH_PORT,) * 2,
                    f"ClusterMesh: Cilium health checks from {peer.cluster}'s nodes",
                )
            )
    return rules


def block_warnings(spec: FleetSpec, clusters: list[ClusterPlan]) -> list[str]:
    """Per-node pod blocks that limit a cluster (warnings: the cluster works, smaller)."""
    warnings = []
    for c in clusters:
        nodes = max_nodes(spec.cluster(c.name))
        if c.cni.plugin == "cilium" and c.cni.node_block_prefix > NODE_POD_BLOCK_PREFIX_MAX:
            warnings.append(
                f"cluster {c.name!r}: Cilium gives each node a /{c.cni.node_block_prefix} of the pod CIDR "
                f"{c.cni.pod_cidr} so that all {nodes} possible nodes fit: fewer addresses than the "
                "kubelet's 110 pods per node; a larger pod CIDR (shorter network.cluster_prefix) avoids this"
            )
        elif c.cni.plugin == "flannel" and nodes > node_capacity(c.cni.pod_cidr):
            warnings.append(
                f"cluster {c.name!r}: Flannel uses a /{NODE_POD_BLOCK_PREFIX} of the pod CIDR {c.cni.pod_cidr} "
                f"per node: room for {node_capacity(c.cni.pod_cidr)} nodes, but the cluster can grow to "
                f"{nodes}; nodes beyond that get no pod network"
            )
    return warnings


def plan_mesh(spec: FleetSpec, clusters: list[ClusterPlan]) -> tuple[list[ClusterPlan], list[str]]:
    """The clusters with ClusterMesh applied to the members (others unchanged), and the
    fleet-level CNI warnings."""
    warnings = block_warnings(spec, clusters)
    listed = set(spec.mesh.clusters)
    members = sorted((c for c in clusters if c.name in listed), key=lambda c: c.name)
    if len(members) < 2 or any(c.cni.plugin != "cilium" or c.cni.cluster_id is None for c in members):
        return clusters, warnings  # validation reports why; nothing to mesh
    ports = {c.name: clustermesh_node_port(c.cni.cluster_id or 0) for c in members}
    lb_ips = {c.key: mesh_lb_ips(c.cloud, c.network, c.zones) for c in members}
    peers_all = tuple(
        MeshPeer(
            c.name,
            c.cni.cluster_name,
            ports[c.name],
            c.network.node_cidr,
            tuple(ip for _, ip in lb_ips[c.key]),
        )
        for c in members
    )
    out = []
    for c in clusters:
        if c.name not in listed:
            out.append(c)
            continue
        peers = tuple(p for p in peers_all if p.cluster != c.name)
        cni = dataclasses.replace(
            c.cni,
            underlay_mtu=min(NODE_MTU[c.cloud], spec.mesh.path_mtu),
            mesh=MeshPlan(
                mesh_address(c.name, spec.domain), ports[c.name], peers, spec.mesh.path_mtu, lb_ips[c.key]
            ),
        )
        firewall = tuple(sorted(set(c.firewall) | set(peer_rules(peers, ports[c.name]))))
        out.append(dataclasses.replace(c, cni=cni, firewall=firewall))
    return out, warnings
