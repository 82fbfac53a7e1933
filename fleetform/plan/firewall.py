"""Firewall rules as data, decided by the plan and identical on every cloud.

Adapters translate them: AWS into security-group rules that reference groups, GCP
into firewall rules on service accounts. Because rules are plain data they are
testable without Pulumi and survive a migration between clouds unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Role = Literal["etcd", "control_plane", "worker", "api_lb"]
ROLES: tuple[str, ...] = ("etcd", "control_plane", "worker", "api_lb")
# Symbolic source: the cloud's load-balancer health checkers (AWS: inside the VPC;
# GCP: Google's published health-check ranges). Only rules that need it use it.
LB_HEALTH_CHECKS = "lb_health_checks"
NODE_ROLES: tuple[Role, ...] = ("control_plane", "worker")

ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
API_PORT = 6443
KUBELET_PORT = 10250
# Flux's source-controller serves the bundle's artifacts on the node's address (it runs
# on the host network of control-plane nodes; fleetform/bootstrap/flux.py).
FLUX_ARTIFACT_PORT = 9790


@dataclass(frozen=True, order=True)
class FirewallRule:
    """Allow ``protocol``/``ports`` from ``source`` (a role, a CIDR or the health
    checkers) to machines of role ``target``."""

    target: Role
    source: str
    protocol: Literal["tcp", "udp"]
    ports: tuple[int, int]
    why: str

    @property
    def source_is_cidr(self) -> bool:
        return "/" in self.source

    @property
    def source_is_role(self) -> bool:
        return self.source in ROLES

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["ports"] = list(self.ports)
        return d


def base_rules(allowed_cidrs: tuple[str, ...]) -> list[FirewallRule]:
    """The least-privilege rules every cluster gets, before its CNI adds datapath ports."""
    r: list[FirewallRule] = [
        FirewallRule("etcd", "control_plane", "tcp", (ETCD_CLIENT_PORT,) * 2,
                     "etcd client API: only the API servers"),
        FirewallRule("etcd", "etcd", "tcp", (ETCD_PEER_PORT,) * 2,
                     "etcd peer traffic between members"),
        FirewallRule("api_lb", "control_plane", "tcp", (API_PORT,) * 2,
                     "API through the load balancer from control-plane nodes"),
        FirewallRule("api_lb", "worker", "tcp", (API_PORT,) * 2,
                     "API through the load balancer from workers (kubelet, kubeadm join)"),
        FirewallRule("control_plane", "api_lb", "tcp", (API_PORT,) * 2,
                     "the load balancer forwards to the API servers"),
        FirewallRule("control_plane", LB_HEALTH_CHECKS, "tcp", (API_PORT,) * 2,
                     "load-balancer health checks of the API servers"),
        FirewallRule("control_plane", "control_plane", "tcp", (API_PORT,) * 2,
                     "API servers and pods on control-plane nodes reach the API directly"),
        FirewallRule("control_plane", "worker", "tcp", (API_PORT,) * 2,
                     "pods reach the API through the kubernetes Service (endpoints are the API servers)"),
        FirewallRule("control_plane", "control_plane", "tcp", (KUBELET_PORT,) * 2,
                     "kubelet API on control-plane nodes: only the API servers"),
        FirewallRule("worker", "control_plane", "tcp", (KUBELET_PORT,) * 2,
                     "kubelet API on workers (logs, exec, metrics): only the API servers"),
        FirewallRule("control_plane", "control_plane", "tcp", (FLUX_ARTIFACT_PORT,) * 2,
                     "Flux controllers fetch the add-on bundle's artifacts from source-controller"),
    ]
    for cidr in allowed_cidrs:
        r.append(FirewallRule("api_lb", cidr, "tcp", (API_PORT,) * 2,
                              "API from api.allowed_cidrs"))
    return r


def datapath_rules(ports: tuple[tuple[Literal["tcp", "udp"], int, str], ...]) -> list[FirewallRule]:
    """CNI datapath ports, open between the cluster's own nodes only (both directions)."""
    return [
        FirewallRule(target, source, proto, (port, port), why)
        for proto, port, why in ports
        for target in NODE_ROLES
        for source in NODE_ROLES
    ]


# ---------------------------------------------------------------- egress

INTERNET = "0.0.0.0/0"
# What etcd and the control plane reach on the internet: HTTPS (cloud APIs, the secret
# store, buckets, etcd and Kubernetes releases, registries) and HTTP (Ubuntu's apt
# mirrors). DNS, NTP and instance metadata go to the cloud's link-local services, which
# neither security groups nor VPC firewall rules filter.
WEB_PORTS: tuple[tuple[int, str], ...] = (
    (80, "HTTP: Ubuntu's apt mirrors"),
    (443, "HTTPS: cloud APIs, secret store, buckets, releases, registries"),
)


@dataclass(frozen=True, order=True)
class EgressRule:
    """Allow machines of role ``source`` to send ``protocol``/``ports`` to ``destination``
    (a CIDR or a role). A role with no rule at all may send nothing."""

    source: Role
    destination: str
    protocol: Literal["tcp", "udp", "all"]
    ports: tuple[int, int]
    why: str
    # The destination in resource names: a role, "internet", "nodes", "pods", "peer-<cluster>".
    label: str = ""

    @property
    def destination_is_role(self) -> bool:
        return self.destination in ROLES


def egress_rules(node_cidr: str, pod_cidr: str,
                 peers: tuple[tuple[str, str], ...] = ()) -> list[EgressRule]:
    """Egress per role: etcd reaches the web and its peers; the control plane the web and
    private space it talks to (its nodes: kubelets, etcd, the CNI datapath; its pods:
    webhooks and aggregated APIs; mesh peers' nodes); the load balancer its targets.
    Workers stay open: theirs is their workloads' egress, which network policies inside
    the cluster govern. ``peers``: (cluster, node CIDR) of each ClusterMesh peer."""
    rules: list[EgressRule] = [
        EgressRule(role, INTERNET, "tcp", (port, port), why, "internet")
        for role in ("etcd", "control_plane") for port, why in WEB_PORTS
    ]
    rules.append(EgressRule("etcd", "etcd", "tcp", (ETCD_PEER_PORT,) * 2, "etcd peer traffic between members",
                            "etcd"))
    rules += [EgressRule("control_plane", cidr, "all", (0, 65535), why, label) for cidr, why, label in (
        (node_cidr, "the cluster's nodes: kubelets, etcd, the CNI datapath", "nodes"),
        (pod_cidr, "pods: admission webhooks, aggregated APIs", "pods"),
        *((c, f"ClusterMesh peer {name}'s nodes", f"peer-{name}") for name, c in peers),
    )]
    rules.append(EgressRule("api_lb", node_cidr, "all", (0, 65535), "the load balancer's targets", "nodes"))
    rules.append(EgressRule("worker", INTERNET, "all", (0, 65535),
                            "workloads' egress (network policies inside the cluster govern it)", "internet"))
    return sorted(set(rules))
