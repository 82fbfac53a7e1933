"""The fleet plan as data: what ``plan_fleet`` decides for every cluster (network, etcd
members, control-plane replicas, pools, API, firewall, CNI, cost, migration). Frozen
dataclasses with a stable JSON form; every later stage reads them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from fleetform.plan import names
from fleetform.plan.cni import CniPlan
from fleetform.plan.cost import CostEstimate
from fleetform.plan.firewall import FirewallRule
from fleetform.plan.logging import LoggingPlan
from fleetform.plan.migrate import MigrationPlan
from fleetform.plan.upgrades import ClusterUpgrade, UpgradePlan
from fleetform.spec.identity import BOOTSTRAP_TOKEN_TTL_HOURS, KUBEADM_RENEW_BEFORE_DAYS

DEFAULT_ZONE_COUNT = 3
# Host offsets inside a zone's private subnet (AWS reserves the first four).
ETCD_IP_OFFSET = 10
# Control-plane replica cp-<i> sits at CONTROL_PLANE_IP_OFFSET + i of its zone's private
# subnet: clear of etcd's (at most 10 members) and below GCP's and AWS's reserved tail
# of the smallest zone subnet (/27) for the at most 9 replicas.
CONTROL_PLANE_IP_OFFSET = 20
# Internal load balancers' own addresses, in the first zone's private subnet, below
# etcd's: planned (not left to the cloud, which could hand out an address a member or
# replica is planned to take before that one is reserved).
API_LB_IP_OFFSET = 5
# A ClusterMesh member's API load balancer, in each zone's private subnet on AWS (one
# per subnet the NLB spans), in the first zone's on GCP (fleetform/plan/mesh.py).
MESH_LB_IP_OFFSET = 6


@dataclass(frozen=True)
class Subnet:
    zone: str
    private_cidr: str
    public_cidr: str


@dataclass(frozen=True)
class NetworkPlan:
    node_cidr: str
    pod_cidr: str
    service_cidr: str
    slot: int | None
    source: Literal["index", "auto", "explicit"]
    subnets: tuple[Subnet, ...]
    nat: Literal["per_zone", "single"]

    def subnet(self, zone: str) -> Subnet:
        return next(s for s in self.subnets if s.zone == zone)


@dataclass(frozen=True)
class EtcdMember:
    name: str
    zone: str
    ip: str
    dns: str


@dataclass(frozen=True)
class EtcdPlan:
    members: tuple[EtcdMember, ...]
    size: str
    machine_type: str
    disk_gb: int
    version: str
    sha256: str | None
    roll: tuple[str, ...]

    @property
    def quorum(self) -> int:
        return len(self.members) // 2 + 1

    @property
    def tolerates(self) -> int:
        """Members that may be down (or restarting) with the cluster still writable."""
        return (len(self.members) - 1) // 2


@dataclass(frozen=True)
class Replica:
    name: str
    zone: str
    # Fixed private address: a joining replica reaches the API through an earlier
    # replica's address (not the load balancer, which may hand it its own packets back).
    ip: str


@dataclass(frozen=True)
class ControlPlanePlan:
    replicas: tuple[Replica, ...]
    size: str
    machine_type: str
    # Replicas that take a changed boot document by replacement (control_plane.roll);
    # the others are frozen like etcd members.
    roll: tuple[str, ...] = ()
    # identity.pki.renewal: the replicas' timers renew kubeadm's certificates this long
    # before expiry and keep a bootstrap token of this lifetime published.
    kubeadm_renew_before_hours: int = KUBEADM_RENEW_BEFORE_DAYS * 24
    bootstrap_token_ttl_hours: int = BOOTSTRAP_TOKEN_TTL_HOURS


@dataclass(frozen=True)
class PoolPlan:
    name: str
    machine_type: str
    min: int
    max: int
    zones: tuple[str, ...]
    labels: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ApiPlan:
    dns: str  # logical name, follows the active incarnation
    incarnation_dns: str
    port: int
    public: bool
    allowed_cidrs: tuple[str, ...]
    # The internal load balancer's planned address (GCP reserves it as the LB's own).
    internal_ip: str = ""


@dataclass(frozen=True)
class ClusterPlan:
    name: str
    key: str  # incarnation key: names every resource of this cluster
    cloud: Literal["aws", "gcp"]
    region: str
    zones: tuple[str, ...]
    kubernetes_version: str
    cni: CniPlan
    network: NetworkPlan
    etcd: EtcdPlan
    control_plane: ControlPlanePlan
    workers: tuple[PoolPlan, ...]
    api: ApiPlan
    dns_zone: str
    firewall: tuple[FirewallRule, ...]
    labels: tuple[tuple[str, str], ...]
    decommission: bool
    cost: CostEstimate
    # Migrations (migrate.py): whether this incarnation owns the cluster's name (the
    # public `api.<cluster>` record, the `<cluster>` kube context), whether its etcd
    # disks are protected, and its part in a move.
    serving: bool = True
    protect_data: bool = True
    migration: MigrationPlan | None = None
    # Customer-managed key of etcd data disks and secrets (spec encryption.kms).
    kms_key: str | None = None
    # The machine image the stack file pins for this incarnation's cloud (None: the
    # newest at its first `pulumi up`, then kept).
    image: str | None = None
    # A fleet upgrade (plan/upgrades.py): the version this run rolls the cluster to in
    # place. Boot documents keep `kubernetes_version` (what the cluster runs as written),
    # so machines booting mid-roll join a control plane that accepts them.
    upgrade: ClusterUpgrade | None = None

    @property
    def target_version(self) -> str:
        """The version the cluster converges to: its fleet upgrade's, else its own."""
        return self.upgrade.version if self.upgrade is not None else self.kubernetes_version

    @property
    def context(self) -> str:
        """Its kube context: the cluster's name, or `<cluster>@<cloud>-<region>` for the
        incarnation that does not serve it during a move."""
        return self.name if self.serving else names.incarnation_context(self.name, self.cloud, self.region)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "key": self.key,
            "cloud": self.cloud,
            "region": self.region,
            "zones": list(self.zones),
            "kubernetes_version": self.kubernetes_version,
            "cni": self.cni.plugin,
            "cni_detail": self.cni.to_json(),
            "network": {
                "node_cidr": self.network.node_cidr,
                "pod_cidr": self.network.pod_cidr,
                "service_cidr": self.network.service_cidr,
                "slot": self.network.slot,
                "allocation": self.network.source,
                "nat": self.network.nat,
                "subnets": [
                    {"zone": s.zone, "private": s.private_cidr, "public": s.public_cidr}
                    for s in self.network.subnets
                ],
            },
            "etcd": {
                "members": len(self.etcd.members),
                "zones": [m.zone for m in self.etcd.members],
                "member_names": [m.name for m in self.etcd.members],
                "ips": [m.ip for m in self.etcd.members],
                "dns": [m.dns for m in self.etcd.members],
                "machine_type": self.etcd.machine_type,
                "disk_gb": self.etcd.disk_gb,
                "version": self.etcd.version,
                "quorum": self.etcd.quorum,
                "roll": list(self.etcd.roll),
            },
            "control_plane": {
                "replicas": len(self.control_plane.replicas),
                "zones": [r.zone for r in self.control_plane.replicas],
                "ips": [r.ip for r in self.control_plane.replicas],
                "machine_type": self.control_plane.machine_type,
                "roll": list(self.control_plane.roll),
            },
            "workers": [
                {"name": p.name, "machine_type": p.machine_type, "min": p.min, "max": p.max,
                 "zones": list(p.zones), "labels": dict(p.labels)}
                for p in self.workers
            ],
            "api": {
                "endpoint": f"https://{self.api.dns}:{self.api.port}",
                "dns": self.api.dns,
                "incarnation_dns": self.api.incarnation_dns,
                "public": self.api.public,
                "allowed_cidrs": list(self.api.allowed_cidrs),
            },
            "dns_zone": self.dns_zone,
            "firewall": [r.to_json() for r in self.firewall],
            "labels": dict(self.labels),
            "decommission": self.decommission,
            "cost": self.cost.to_json(),
            "serving": self.serving,
            "protect_data": self.protect_data,
            "context": self.context,
            **({"migration": self.migration.to_json()} if self.migration else {}),
            **({"kms_key": self.kms_key} if self.kms_key else {}),
            **({"upgrade": self.upgrade.to_json()} if self.upgrade else {}),
        }


@dataclass(frozen=True)
class FleetPlan:
    fleet: str
    stack: str
    domain: str
    clusters: tuple[ClusterPlan, ...]
    warnings: tuple[str, ...]
    aws_default_tags: tuple[tuple[str, str], ...]
    gcp_project: str | None
    gcp_default_labels: tuple[tuple[str, str], ...] = ()
    # Migration snapshots (spec_migrate.SnapshotsSpec).
    snapshot_schedule: str = "*/30 * * * *"
    snapshot_retention_days: int = 14
    # clouds.aws.secret_recovery_days
    aws_secret_recovery_days: int = 7
    # Where every cluster's audit and system logs go (one destination per cloud).
    logging: LoggingPlan = field(default_factory=LoggingPlan)
    # The fleet's upgrade in waves (None without an `upgrades` block).
    upgrades: UpgradePlan | None = None
    # "single": one Pulumi stack; "per-cluster": a fleet stack and one stack per cluster.
    stacks: Literal["single", "per-cluster"] = "single"

    def cluster(self, name: str) -> ClusterPlan:
        """The incarnation that serves ``name`` (during a move, the other one is in
        :meth:`incarnations`)."""
        return next(c for c in self.clusters if c.name == name and c.serving)

    def incarnations(self, name: str) -> tuple[ClusterPlan, ...]:
        return tuple(c for c in self.clusters if c.name == name)

    def to_json(self) -> dict[str, Any]:
        return {
            "fleet": self.fleet,
            "stack": self.stack,
            "domain": self.domain,
            "clusters": [c.to_json() for c in self.clusters],
            "warnings": list(self.warnings),
            **({"upgrades": self.upgrades.to_json()} if self.upgrades else {}),
        }
