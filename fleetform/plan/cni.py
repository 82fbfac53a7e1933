"""What each network plugin needs from the rest of the cluster, and gives it, as data.

The plan asks this module for the plugin's chart pins, datapath ports and Helm values;
every value that depends on the cluster comes from the plan (pod CIDR, MTU, cluster name
and id, API endpoint) and is never typed twice. The firewall opens exactly the ports
listed here between the cluster's own nodes; ``mesh.py`` adds what ClusterMesh needs.

Pure: no Pulumi. ``components/cni.py`` installs the releases and adds the secrets (the
ClusterMesh CA) on top of :func:`helm_values`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Literal

from fleetform.catalog.versions import CNI_CHARTS
from fleetform.plan import names
from fleetform.plan.firewall import API_PORT
from fleetform.spec.cni import CLUSTER_ID_MAX
from fleetform.spec.models import ClusterSpec, CniSpec

Port = tuple[Literal["tcp", "udp"], int, str]
Plugin = Literal["cilium", "calico", "flannel"]

# Encapsulation overhead (outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14 bytes).
VXLAN_OVERHEAD = 50
# Datapath ports (one place: the Helm values and the firewall both read them).
CILIUM_VXLAN_PORT = 8472  # Cilium's tunnelPort default for VXLAN
CILIUM_HEALTH_PORT = 4240  # cilium-health between nodes
HUBBLE_PORT = 4244  # Hubble server on each node (Hubble Relay and peers connect)
CALICO_VXLAN_PORT = 4789  # Felix's vxlanPort default (IANA VXLAN)
TYPHA_PORT = 5473  # calico-node -> Typha (host network); the operator always runs Typha
BGP_PORT = 179  # Calico's BIRD, node-to-node BGP mesh
FLANNEL_VXLAN_PORT = 8472  # flannel's VXLAN backend default on Linux
# ClusterMesh API (clustermesh-apiserver, etcd protocol). There is no cloud-controller-
# manager to turn a LoadBalancer Service into a cloud load balancer, so the Service is a
# NodePort with a fixed port, and fleetform puts its own TCP load balancer in front of
# the workers on that same port (components/mesh.py). Each member gets its own port,
# 32000 + its cluster id (32001..32255, inside kube-apiserver's default NodePort range
# 30000-32767): the chart warns that, with kube-proxy replacement, two meshed clusters
# must not share the NodePort (cilium/cilium#24692), and cluster ids are unique and never
# move for a live cluster.
CLUSTERMESH_NODE_PORT_BASE = 32000

# Per-node pod block. Cilium cluster-pool hands each node a /24 of the pod CIDR, or a /25
# when the pod CIDR is too small for the cluster's largest size (128 addresses still hold
# the kubelet's default 110 pods). Flannel uses the node podCIDR kube-controller-manager
# allocates (kubeadm's default /24).
NODE_POD_BLOCK_PREFIX = 24
# Below 128 addresses per node the kubelet's default 110 pods no longer fit.
NODE_POD_BLOCK_PREFIX_MAX = 25
# Cilium's cluster.name: at most 32 characters of [a-z0-9-], alphanumeric at both ends.
CILIUM_CLUSTER_NAME_MAX = 32
# Calico IPAM blocks (nodes borrow more blocks as they need them).
CALICO_BLOCK_SIZE = 26

NAMESPACES: dict[str, str] = {
    "cilium": "kube-system",
    "calico": "tigera-operator",
    "flannel": "kube-flannel",
}
# Node network MTU per cloud (AWS VPC jumbo frames; GCP VPC default).
NODE_MTU: dict[str, int] = {"aws": 9001, "gcp": 1460}


@dataclass(frozen=True)
class ChartPin:
    release: str  # Helm release name (stable: Helm finds its release by it)
    chart: str
    version: str
    repository: str

    def to_json(self) -> dict[str, str]:
        return {
            "release": self.release,
            "chart": self.chart,
            "version": self.version,
            "repository": self.repository,
        }


def clustermesh_node_port(cluster_id: int) -> int:
    """A member's ClusterMesh API port: its NodePort, and its load balancer's port."""
    return CLUSTERMESH_NODE_PORT_BASE + cluster_id


@dataclass(frozen=True)
class MeshPeer:
    cluster: str  # the peer's cluster name in the stack file
    name: str  # its Cilium cluster.name (what ClusterMesh calls it)
    port: int  # the peer's ClusterMesh API port (its NodePort = its load balancer's port)
    node_cidr: str  # where its nodes (and so its mesh traffic) come from
    # Its load balancer's planned private addresses (MeshPlan.lb_ips): what this member
    # dials (as <name>.mesh.cilium.io), so its values need nothing the peer's cloud
    # decides. Its private DNS name is only in its own zone, which peers cannot resolve.
    ips: tuple[str, ...]


@dataclass(frozen=True)
class MeshPlan:
    address: str  # this member's ClusterMesh API name (in its server certificate and private zone)
    port: int  # its NodePort and load-balancer port (clustermesh_node_port)
    peers: tuple[MeshPeer, ...]
    path_mtu: int
    # Its load balancer's planned private addresses, (zone, address): AWS one per zone
    # subnet the NLB spans (subnet_mappings), GCP one in the regional subnet.
    lb_ips: tuple[tuple[str, str], ...] = ()

    @property
    def ips(self) -> tuple[str, ...]:
        return tuple(ip for _, ip in self.lb_ips)


@dataclass(frozen=True)
class CniPlan:
    plugin: Plugin
    cluster_name: str
    cloud: Literal["aws", "gcp"]
    charts: tuple[ChartPin, ...]  # install order; the last one is the plugin itself
    namespace: str
    encapsulation: Literal["vxlan"]
    underlay_mtu: int  # MTU of the network the encapsulated packets travel
    pod_cidr: str
    api_host: str
    api_port: int
    ports: tuple[Port, ...]
    cluster_id: int | None = None  # Cilium only; None: not meshable (cluster.id 0)
    node_block_prefix: int = NODE_POD_BLOCK_PREFIX  # Cilium cluster-pool per-node block
    hubble: bool = False
    kube_proxy_replacement: bool = False
    calico_mode: Literal["vxlan", "bgp"] | None = None
    mesh: MeshPlan | None = None

    @property
    def mtu(self) -> int:
        """The pods' MTU: the underlay minus the VXLAN header."""
        return self.underlay_mtu - VXLAN_OVERHEAD

    @property
    def chart(self) -> str:
        return self.charts[-1].chart

    @property
    def chart_version(self) -> str:
        return self.charts[-1].version

    @property
    def repository(self) -> str:
        return self.charts[-1].repository

    @property
    def skips_kube_proxy(self) -> bool:
        """kubeadm installs no kube-proxy: Cilium replaces it."""
        return self.plugin == "cilium" and self.kube_proxy_replacement

    def to_json(self) -> dict[str, Any]:
        return {
            "plugin": self.plugin,
            "chart": self.chart,
            "chart_version": self.chart_version,
            "repository": self.repository,
            "charts": [c.to_json() for c in self.charts],
            "namespace": self.namespace,
            "encapsulation": self.encapsulation,
            "mtu": self.mtu,
            "underlay_mtu": self.underlay_mtu,
            "pod_cidr": self.pod_cidr,
            "cluster_id": self.cluster_id,
            "node_block_prefix": self.node_block_prefix if self.plugin == "cilium" else None,
            "hubble": self.hubble,
            "kube_proxy_replacement": self.kube_proxy_replacement,
            "calico_mode": self.calico_mode,
            "mesh": None
            if self.mesh is None
            else {
                "address": self.mesh.address,
                "port": self.mesh.port,
                "peers": [p.cluster for p in self.mesh.peers],
                "ips": list(self.mesh.ips),
                "path_mtu": self.mesh.path_mtu,
            },
            "ports": [{"protocol": p, "port": n, "why": w} for p, n, w in self.ports],
            "values": helm_values(self),
        }


def datapath_ports(spec: CniSpec) -> tuple[Port, ...]:
    """The ports the plugin's datapath needs between the cluster's nodes, with its options."""
    if spec.plugin == "cilium":
        ports: list[Port] = [
            ("udp", CILIUM_VXLAN_PORT, "Cilium VXLAN overlay"),
            ("tcp", CILIUM_HEALTH_PORT, "Cilium health checks"),
        ]
        if spec.cilium_options.hubble:
            ports.append(("tcp", HUBBLE_PORT, "Hubble server (Hubble Relay and peers)"))
        return tuple(ports)
    if spec.plugin == "calico":
        ports = [
            ("udp", CALICO_VXLAN_PORT, "Calico VXLAN overlay"),
            ("tcp", TYPHA_PORT, "Calico Typha (always run by the tigera operator)"),
        ]
        if spec.calico_options.mode == "bgp":
            ports.append(("tcp", BGP_PORT, "Calico BGP node-to-node mesh"))
        return tuple(ports)
    return (("udp", FLANNEL_VXLAN_PORT, "Flannel VXLAN overlay"),)


def derived_cluster_id(slot: int | None) -> int | None:
    """A cluster's ClusterMesh id from its network slot: slot + 1 (1..255).

    Slots are unique fleet-wide and never move (they fix the cluster's CIDRs), so derived
    ids are unique and stable by construction: adding a cluster never renumbers another.
    None when the cluster has no slot (explicit CIDRs) or a slot above 254.
    """
    if slot is None or slot + 1 > CLUSTER_ID_MAX:
        return None
    return slot + 1


def cluster_id(c: ClusterSpec, slot: int | None) -> int | None:
    """The cluster's Cilium cluster id: explicit ``cni.cilium.cluster_id`` or derived."""
    if c.cni.plugin != "cilium":
        return None
    explicit = c.cni.cilium_options.cluster_id
    return explicit if explicit is not None else derived_cluster_id(slot)


def max_nodes(c: ClusterSpec) -> int:
    """The most nodes that run the CNI: control plane + every pool at its max."""
    return c.control_plane.replicas + sum(p.max for p in c.workers)


def node_capacity(pod_cidr: str, block_prefix: int = NODE_POD_BLOCK_PREFIX) -> int:
    """How many nodes get a per-node pod block of ``/block_prefix`` out of the pod CIDR."""
    prefix = ipaddress.ip_network(pod_cidr).prefixlen
    return 1 << (block_prefix - prefix) if prefix <= block_prefix else 0


def node_block_prefix(pod_cidr: str, nodes: int) -> int:
    """Cilium's per-node block: a /24, or smaller when the pod CIDR needs it to hold
    ``nodes`` blocks (validation rejects anything beyond ``NODE_POD_BLOCK_PREFIX_MAX``)."""
    prefix = ipaddress.ip_network(pod_cidr).prefixlen
    return max(NODE_POD_BLOCK_PREFIX, prefix + max(nodes - 1, 0).bit_length())


def cilium_cluster_name(cluster: str) -> str:
    """The cluster's name for Cilium (cluster.name, ClusterMesh): the cluster name itself,
    or for names over 32 characters their start plus a short hash of the whole."""
    return names.physical(cluster, limit=CILIUM_CLUSTER_NAME_MAX)


def plan_cni(c: ClusterSpec, pod_cidr: str, api_host: str, slot: int | None) -> CniPlan:
    """The cluster's CNI, decided from its spec and what the plan already fixed (pod CIDR,
    API name, network slot). Mesh membership is added fleet-wide by ``mesh.plan_mesh``."""
    spec = c.cni
    cilium = spec.cilium_options if spec.plugin == "cilium" else None
    return CniPlan(
        plugin=spec.plugin,
        cluster_name=cilium_cluster_name(c.name) if spec.plugin == "cilium" else c.name,
        cloud=c.cloud,
        charts=tuple(ChartPin(*pin) for pin in CNI_CHARTS[spec.plugin]),
        namespace=NAMESPACES[spec.plugin],
        encapsulation="vxlan",
        underlay_mtu=NODE_MTU[c.cloud],
        pod_cidr=pod_cidr,
        api_host=api_host,
        api_port=API_PORT,
        ports=datapath_ports(spec),
        cluster_id=cluster_id(c, slot),
        node_block_prefix=node_block_prefix(pod_cidr, max_nodes(c)),
        hubble=bool(cilium and cilium.hubble),
        kube_proxy_replacement=bool(cilium and cilium.kube_proxy_replacement),
        calico_mode=spec.calico_options.mode if spec.plugin == "calico" else None,
    )


# ---------------------------------------------------------------- Helm values


def _cilium_values(cni: CniPlan) -> dict[str, Any]:
    values: dict[str, Any] = {
        "cluster": {"name": cni.cluster_name, "id": cni.cluster_id or 0},
        "ipam": {
            "mode": "cluster-pool",
            "operator": {
                "clusterPoolIPv4PodCIDRList": [cni.pod_cidr],
                "clusterPoolIPv4MaskSize": cni.node_block_prefix,
            },
        },
        "routingMode": "tunnel",
        "tunnelProtocol": "vxlan",
        "tunnelPort": CILIUM_VXLAN_PORT,
        # Cilium's MTU is the underlying network's; it subtracts the tunnel overhead itself.
        "MTU": cni.underlay_mtu,
        "kubeProxyReplacement": cni.kube_proxy_replacement,
        # The chart enables Hubble by default: say so either way, so 4244 is open exactly
        # when Hubble listens on it.
        "hubble": {"enabled": cni.hubble, "relay": {"enabled": cni.hubble}},
    }
    if cni.hubble:
        values["hubble"]["listenAddress"] = f":{HUBBLE_PORT}"
    if cni.kube_proxy_replacement:
        # No kube-proxy, so no `kubernetes` Service until Cilium runs: reach the API directly.
        values["k8sServiceHost"] = cni.api_host
        values["k8sServicePort"] = cni.api_port
    if cni.mesh is not None:
        values["clustermesh"] = {
            "useAPIServer": True,
            "config": {
                "enabled": True,
                # By planned address: Cilium dials <name>.mesh.cilium.io, which the chart
                # maps to `ips` in its pods' hosts files, and every member's server
                # certificate carries *.mesh.cilium.io. No peer's cloud output is needed,
                # so a member's values are complete in its own stack.
                "clusters": [
                    {"name": p.name, "ips": list(p.ips), "port": p.port} for p in cni.mesh.peers
                ],
            },
            "apiserver": {
                # No cloud-controller-manager runs in fleetform's clusters: a NodePort on a
                # fixed port, behind fleetform's own load balancer (components/mesh.py).
                # Cluster: every worker forwards to the API server's pod wherever it runs,
                # so every worker passes the load balancer's health check.
                "service": {
                    "type": "NodePort",
                    "nodePort": cni.mesh.port,
                    "externalTrafficPolicy": "Cluster",
                },
                # Per-cluster users on the remote etcd; requires the CA shared by every
                # member (the fleet's ClusterMesh CA, added by the Cni component).
                # Its private name and its load balancer's addresses in the server
                # certificate too, for clients that dial those (operators, shared zones).
                "tls": {"authMode": "cluster", "server": {"extraDnsNames": [cni.mesh.address],
                                                           "extraIpAddresses": list(cni.mesh.ips)}},
            },
        }
    return values


def _calico_values(cni: CniPlan) -> dict[str, Any]:
    bgp = cni.calico_mode == "bgp"
    return {
        "installation": {
            "enabled": True,
            "kubernetesProvider": "",  # self-managed (kubeadm)
            "cni": {"type": "Calico", "ipam": {"type": "Calico"}},
            "calicoNetwork": {
                "bgp": "Enabled" if bgp else "Disabled",
                # Calico's MTU is the pods' (veth) MTU: the underlay minus VXLAN.
                "mtu": cni.mtu,
                "ipPools": [
                    {
                        "cidr": cni.pod_cidr,
                        "encapsulation": "VXLAN",
                        "natOutgoing": "Enabled",
                        "nodeSelector": "all()",
                        "blockSize": CALICO_BLOCK_SIZE,
                    }
                ],
            },
        },
        # The operator and calico-node talk to the API directly, not via kube-proxy.
        "kubernetesServiceEndpoint": {"host": cni.api_host, "port": str(cni.api_port)},
    }


def _flannel_values(cni: CniPlan) -> dict[str, Any]:
    return {
        "podCidr": cni.pod_cidr,
        # Flannel's MTU is the underlying network's; the VXLAN device gets 50 bytes less.
        "flannel": {"backend": "vxlan", "backendPort": FLANNEL_VXLAN_PORT, "mtu": cni.underlay_mtu},
    }


def helm_values(cni: CniPlan) -> dict[str, dict[str, Any]]:
    """Values of each release (by release name), everything derived from the plan.
    Secrets (the ClusterMesh CA) are added by the component, never planned."""
    if cni.plugin == "cilium":
        plugin = _cilium_values(cni)
    elif cni.plugin == "calico":
        plugin = _calico_values(cni)
    else:
        plugin = _flannel_values(cni)
    values: dict[str, dict[str, Any]] = {pin.release: {} for pin in cni.charts}
    values[cni.charts[-1].release] = plugin
    return values
