"""FleetSpec -> FleetPlan: a pure, deterministic function of the spec.

Decides everything that needs no cloud: zones per plane, member names and fixed
addresses, CIDRs, machine types, firewall rules, CNI pins, cost. Same input, same
plan; adding a cluster never changes another cluster's plan.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from typing import Any, Literal

from . import names
from .cni import CniPlan, plan_cni
from .cost import CostEstimate, estimate, with_load_balancers
from .errors import FleetError, Problem
from .firewall import FirewallRule, base_rules, datapath_rules
from .ipam import Addresses, allocate, zone_subnets
from .load import origins
from .mesh import plan_mesh
from .migrate import Incarnation, MigrationPlan, incarnations
from .regions import zones as region_zones
from .sizes import machine_type
from .spec import FleetSpec
from .versions import ETCD_VERSION, resolve_kubernetes_version

DEFAULT_ZONE_COUNT = 3
# Host offsets inside a zone's private subnet (AWS reserves the first four).
ETCD_IP_OFFSET = 10
# Control-plane replica cp-<i> sits at CONTROL_PLANE_IP_OFFSET + i of its zone's private
# subnet: clear of etcd's (at most 10 members) and below GCP's and AWS's reserved tail
# of the smallest zone subnet (/27) for the at most 9 replicas.
CONTROL_PLANE_IP_OFFSET = 20


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
        }


def spread(count: int, zones: tuple[str, ...]) -> tuple[str, ...]:
    """Round-robin over zones: each zone holds at most ceil(count/len(zones))."""
    return tuple(zones[i % len(zones)] for i in range(count))


def survives_zone_loss(member_zones: tuple[str, ...]) -> bool:
    """Whether losing any single zone leaves a quorum."""
    quorum = len(member_zones) // 2 + 1
    worst = max(member_zones.count(z) for z in set(member_zones))
    return len(member_zones) - worst >= quorum


def plan_replica(network: NetworkPlan, index: int, zone: str) -> Replica:
    """cp-<index> in ``zone`` at its fixed address: a function of the cluster's own node
    CIDR and the replica's index only, so other clusters never move it."""
    base = ipaddress.IPv4Network(network.subnet(zone).private_cidr).network_address
    return Replica(names.control_plane_replica(index), zone, str(base + CONTROL_PLANE_IP_OFFSET + index))


def replica_address_problem(network: NetworkPlan, replica: Replica) -> str | None:
    subnet = ipaddress.IPv4Network(network.subnet(replica.zone).private_cidr)
    # The last two addresses of a subnet are reserved on GCP (the last one on AWS).
    if ipaddress.IPv4Address(replica.ip) < subnet.broadcast_address - 1:
        return None
    return (f"{replica.name} needs address {replica.ip} but zone {replica.zone}'s subnet {subnet} "
            "is too small for it; use a larger network.node_cidr")


def plan_cluster(spec: FleetSpec, inc: Incarnation, addr: Addresses, problems: list[Problem]) -> ClusterPlan:
    c = inc.spec
    where = origins(spec)
    zones = c.zones or region_zones(c.cloud, c.region)[:DEFAULT_ZONE_COUNT]
    subnets = tuple(
        Subnet(z, priv, pub) for z, (priv, pub) in zip(zones, zone_subnets(addr.node_cidr, len(zones)), strict=True)
    )
    network = NetworkPlan(addr.node_cidr, addr.pod_cidr, addr.service_cidr, addr.slot, addr.source,
                          subnets, c.network.nat)

    members = []
    for i, zone in enumerate(spread(c.etcd.members, zones)):
        name = names.etcd_member(i)
        base = ipaddress.IPv4Network(network.subnet(zone).private_cidr).network_address
        members.append(EtcdMember(name, zone, str(base + ETCD_IP_OFFSET + i),
                                  names.etcd_dns(name, c.name, spec.domain)))
    member_names = {m.name for m in members}
    tolerates = (c.etcd.members - 1) // 2
    for j, m in enumerate(c.etcd.roll):
        if m not in member_names:
            problems.append(where.cluster_loc(c.name, "etcd", "roll", j).problem(
                f"{m!r} is not a member of this etcd plane ({', '.join(sorted(member_names))})"))
    if len(set(c.etcd.roll)) > max(tolerates, 1 if c.etcd.members == 1 else 0):
        problems.append(where.cluster_loc(c.name, "etcd", "roll").problem(
            f"rolling {len(set(c.etcd.roll))} members at once would break quorum: "
            f"a {c.etcd.members}-member etcd may restart at most {tolerates} per `pulumi up`"))

    etcd = EtcdPlan(tuple(members), c.etcd.size, machine_type(c.cloud, c.etcd.size), c.etcd.disk_gb,
                    ETCD_VERSION, c.etcd.sha256, tuple(dict.fromkeys(c.etcd.roll)))
    cp = ControlPlanePlan(
        tuple(plan_replica(network, i, z) for i, z in enumerate(spread(c.control_plane.replicas, zones))),
        c.control_plane.size,
        machine_type(c.cloud, c.control_plane.size),
    )
    for replica in cp.replicas:
        if (problem := replica_address_problem(network, replica)) is not None:
            problems.append(where.cluster_loc(c.name, "network", "node_cidr").problem(problem))
    pools = tuple(
        PoolPlan(p.name, p.machine_type or machine_type(c.cloud, p.size or "medium"), p.min, p.max, tuple(zones),
                 tuple(sorted(p.labels.items())))
        for p in c.workers
    )
    cni = plan_cni(c, network.pod_cidr, names.api_dns(c.name, spec.domain), network.slot)
    firewall = tuple(sorted(set(base_rules(c.api.allowed_cidrs) + datapath_rules(cni.ports))))
    nat_count = len(zones) if c.network.nat == "per_zone" else 1
    return ClusterPlan(
        name=c.name,
        key=names.incarnation(c.name, c.cloud, c.region),
        cloud=c.cloud,
        region=c.region,
        zones=tuple(zones),
        kubernetes_version=resolve_kubernetes_version(c.kubernetes_version),
        cni=cni,
        network=network,
        etcd=etcd,
        control_plane=cp,
        workers=pools,
        api=ApiPlan(names.api_dns(c.name, spec.domain),
                    names.incarnation_api_dns(c.name, c.cloud, c.region, spec.domain),
                    6443, c.api.public, c.api.allowed_cidrs),
        dns_zone=names.cluster_domain(c.name, spec.domain),
        firewall=firewall,
        labels=tuple(sorted(c.labels.items())),
        decommission=c.decommission,
        serving=inc.serving,
        protect_data=inc.protect_data,
        migration=inc.migration,
        cost=estimate(c.cloud, (c.etcd.members, etcd.machine_type, c.etcd.disk_gb),
                      (c.control_plane.replicas, cp.machine_type),
                      [(p.machine_type, p.min, p.max) for p in pools], nat_count,
                      2 if c.api.public else 1),
    )


def plan_fleet(spec: FleetSpec) -> FleetPlan:
    """Raises FleetError (with located problems) when the fleet cannot be planned."""
    moves = {c.name: incarnations(c) for c in spec.clusters}
    # Each migration target gets its own address slot, keyed by its incarnation key.
    extra = {i.address_key: i.spec for incs in moves.values() for i in incs if i.address_key != i.spec.name}
    addresses, problems = allocate(spec, extra=extra)
    if problems:
        raise FleetError(problems)
    clusters = []
    warnings: list[str] = []
    for c in spec.clusters:
        for inc in moves[c.name]:
            cp = plan_cluster(spec, inc, addresses[inc.address_key], problems)
            clusters.append(cp)
            member_zones = tuple(m.zone for m in cp.etcd.members)
            if len(member_zones) >= 3 and not survives_zone_loss(member_zones):
                warnings.append(
                    f"cluster {c.name!r}{'' if cp.serving else f' ({cp.key})'}: etcd's {len(member_zones)} members "
                    f"sit in {len(set(member_zones))} zone(s); losing the zone with the most members loses quorum")
        if c.etcd.members == 1:
            warnings.append(f"cluster {c.name!r}: a single etcd member has no redundancy (fine for dev)")
        if c.decommission:
            warnings.append(
                f"cluster {c.name!r} is being decommissioned: its etcd disks are no longer protected; "
                "deleting its entry in a later `pulumi up` deletes its data")
    if problems:
        raise FleetError(problems)
    # Fleet-level CNI: ClusterMesh among the serving incarnations (a migration target
    # joins the mesh at cutover, when it takes the cluster's name).
    meshed, cni_warnings = plan_mesh(spec, [c for c in clusters if c.serving])
    # A member's ClusterMesh API has a load balancer of its own (components/mesh.py).
    meshed = [replace(c, cost=with_load_balancers(c.cost, c.cloud, 1)) if c.cni.mesh is not None else c
              for c in meshed]
    by_key = {c.key: c for c in meshed}
    clusters = [by_key.get(c.key, c) for c in clusters]
    warnings += cni_warnings
    warnings += migration_warnings(clusters)
    return FleetPlan(
        fleet=spec.name,
        stack=spec.stack,
        domain=spec.domain,
        clusters=tuple(clusters),
        warnings=tuple(warnings),
        aws_default_tags=tuple(sorted(spec.clouds.aws.default_tags.items())),
        gcp_project=spec.clouds.gcp.project,
        gcp_default_labels=tuple(sorted(spec.clouds.gcp.default_labels.items())),
        snapshot_schedule=spec.snapshots.schedule,
        snapshot_retention_days=spec.snapshots.retention_days,
    )


def migration_warnings(clusters: list[ClusterPlan]) -> list[str]:
    out = []
    for c in clusters:
        m = c.migration
        if m is None or m.role != "target":
            continue
        where = f"{m.target[0]} {m.target[1]}"
        if m.phase == "prepare":
            out.append(f"cluster {c.name!r} is moving to {where} (phase prepare): the target {c.key} is built "
                       f"next to {m.source_key}, which still serves {c.api.dns}")
        elif m.phase == "cutover":
            released = ("its etcd disks are released: `phase: finalize` deletes them" if m.release_source
                        else "still protected")
            out.append(f"cluster {c.name!r} is moving to {where} (phase cutover): {c.api.dns} is served by "
                       f"{c.key}; the source {m.source_key} keeps running ({released})")
        else:
            out.append(f"cluster {c.name!r} is moving to {where} (phase finalize): the source {m.source_key} "
                       "and its etcd data are deleted by this `pulumi up`")
    return out
