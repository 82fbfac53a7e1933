"""FleetSpec -> FleetPlan: a pure, deterministic function of the spec.

Decides everything that needs no cloud: zones per plane, member names and fixed
addresses, CIDRs, machine types, firewall rules, CNI pins, cost. Same input, same
plan; adding a cluster never changes another cluster's plan.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import replace

from fleetform.catalog.regions import zones as region_zones
from fleetform.catalog.sizes import machine_type
from fleetform.catalog.versions import ETCD_VERSION, resolve_kubernetes_version
from fleetform.plan import names
from fleetform.plan.cni import plan_cni
from fleetform.plan.cost import estimate, with_load_balancers
from fleetform.plan.firewall import base_rules, datapath_rules
from fleetform.plan.ipam import Addresses, allocate, zone_subnets
from fleetform.plan.logging import plan_logging
from fleetform.plan.mesh import plan_mesh
from fleetform.plan.migrate import Incarnation, incarnations
from fleetform.plan.model import (
    API_LB_IP_OFFSET,
    CONTROL_PLANE_IP_OFFSET,
    DEFAULT_ZONE_COUNT,
    ETCD_IP_OFFSET,
    ApiPlan,
    ClusterPlan,
    ControlPlanePlan,
    EtcdMember,
    EtcdPlan,
    FleetPlan,
    NetworkPlan,
    PoolPlan,
    Replica,
    Subnet,
)
from fleetform.plan.pools import idle_zones
from fleetform.plan.upgrades import plan_upgrades
from fleetform.plan.validate.pki import pki_problems
from fleetform.spec.errors import FleetError, Loc, Problem
from fleetform.spec.load import origins
from fleetform.spec.models import FleetSpec, image_cloud


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


def control_plane_roll_problems(cp: ControlPlanePlan, at: Callable[..., Loc]) -> list[Problem]:
    """``control_plane.roll`` names replicas, at most one per `pulumi up`: the others keep
    serving the API while it is replaced (delete-first: its address and name move)."""
    replica_names = [r.name for r in cp.replicas]
    problems = [at(j).problem(f"{r!r} is not a replica of this control plane ({', '.join(replica_names)})")
                for j, r in enumerate(cp.roll) if r not in replica_names]
    first = replica_names[0]
    if first in cp.roll and len(cp.replicas) > 1:
        problems.append(at(cp.roll.index(first)).problem(
            f"{first} cannot be rolled while other replicas serve: its new machine would run `kubeadm init` "
            "against the cluster's existing etcd (its boot document has no join path); roll the others"))
    if len(cp.roll) > 1:
        problems.append(at().problem(
            f"rolling {len(cp.roll)} replicas at once takes {len(cp.roll)} of {len(cp.replicas)} API servers down: "
            "roll one replica per `pulumi up` and check it is back before the next"))
    return problems


def plan_cluster(spec: FleetSpec, inc: Incarnation, addr: Addresses, problems: list[Problem]) -> ClusterPlan:
    c = inc.spec
    where = origins(spec)
    zones = c.zones or region_zones(c.cloud, c.region)[:DEFAULT_ZONE_COUNT]
    subnets = tuple(
        Subnet(z, priv, pub) for z, (priv, pub) in zip(zones, zone_subnets(addr.node_cidr, len(zones)), strict=True)
    )
    network = NetworkPlan(addr.node_cidr, addr.pod_cidr, addr.service_cidr, addr.slot, addr.source,
                          subnets, c.network.nat)

    first_subnet = ipaddress.IPv4Network(network.subnet(zones[0]).private_cidr).network_address
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
        tuple(dict.fromkeys(c.control_plane.roll)),
        kubeadm_renew_before_hours=spec.identity.pki.renewal.kubeadm_renew_before_days * 24,
        bootstrap_token_ttl_hours=spec.identity.pki.renewal.bootstrap_token_ttl_hours,
    )
    problems += control_plane_roll_problems(cp, lambda *p: where.cluster_loc(c.name, "control_plane", "roll", *p))
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
                    6443, c.api.public, c.api.allowed_cidrs,
                    str(first_subnet + API_LB_IP_OFFSET)),
        dns_zone=names.cluster_domain(c.name, spec.domain),
        firewall=firewall,
        labels=tuple(sorted(c.labels.items())),
        decommission=c.decommission,
        serving=inc.serving,
        protect_data=inc.protect_data,
        migration=inc.migration,
        kms_key=c.encryption.kms,
        image=c.image if c.image is not None and image_cloud(c.image) == c.cloud else None,
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
    upgrades = plan_upgrades(spec)
    clusters = []
    warnings: list[str] = []
    for c in spec.clusters:
        for inc in moves[c.name]:
            cp = plan_cluster(spec, inc, addresses[inc.address_key], problems)
            if upgrades is not None:
                cp = replace(cp, upgrade=upgrades.cluster(c.name))
            clusters.append(cp)
            if cp.cloud == "gcp":
                for pool in cp.workers:
                    if idle := idle_zones(pool):
                        warnings.append(
                            f"cluster {c.name!r}: pool {pool.name!r} has max {pool.max} over {len(pool.zones)} zones; "
                            f"its groups in {', '.join(idle)} never get a node (raise max or list fewer zones)")
            member_zones = tuple(m.zone for m in cp.etcd.members)
            if len(member_zones) >= 3 and not survives_zone_loss(member_zones):
                warnings.append(
                    f"cluster {c.name!r}{'' if cp.serving else f' ({cp.key})'}: etcd's {len(member_zones)} members "
                    f"sit in {len(set(member_zones))} zone(s); losing the zone with the most members loses quorum")
        if c.etcd.members == 1:
            warnings.append(f"cluster {c.name!r}: a single etcd member has no redundancy (fine for dev)")
        if c.control_plane.roll and c.control_plane.replicas == 1:
            warnings.append(f"cluster {c.name!r}: rolling its single control-plane replica takes the API down "
                            "until the new machine serves (fine for dev)")
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
    warnings += list(upgrades.warnings) if upgrades is not None else []
    fleet = FleetPlan(
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
        aws_secret_recovery_days=spec.clouds.aws.secret_recovery_days,
        logging=plan_logging(spec.logging, (c.cloud for c in clusters), fleet=spec.name, stack=spec.stack,
                             default_aws_region=spec.identity.federation.aws_region,
                             gcp_project=spec.clouds.gcp.project),
        upgrades=upgrades,
        stacks=spec.stacks,
    )
    # Limits on what the plan derives from names (certificate subjects).
    if subject_problems := pki_problems(spec, fleet):
        raise FleetError(subject_problems)
    return fleet


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
