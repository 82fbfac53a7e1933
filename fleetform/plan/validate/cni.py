"""CNI and ClusterMesh rules across fields and clusters. Every problem is located where
the offending value was written (``<file>: <path>: <message>``).

- options for a plugin other than the cluster's ``cni.plugin`` (``cni.calico`` on a
  Cilium cluster): an error at that block, so a typo or a stale block never silently
  does nothing;
- a Cilium cluster cannot be named ``default`` (reserved for cluster id 0);
- ``mesh.clusters``: every member exists, is listed once, uses Cilium, and there are at
  least two; cluster ids (explicit or derived, see ``cni.cluster_id``) are unique
  fleet-wide among Cilium clusters and every member has one;
- a tenant may not land on a cluster whose plugin does not enforce NetworkPolicy
  (Flannel): its isolation would silently do nothing.
"""

from __future__ import annotations

from collections import defaultdict

from fleetform.plan.cni import cluster_id
from fleetform.plan.identity import tenant_clusters
from fleetform.plan.ipam import Addresses, allocate
from fleetform.spec.base import CNI_PLUGINS
from fleetform.spec.cni import CLUSTER_ID_MAX, CLUSTER_ID_MIN
from fleetform.spec.errors import Loc, Problem
from fleetform.spec.load import Origins, origins
from fleetform.spec.messages import did_you_mean
from fleetform.spec.models import ClusterSpec, FleetSpec


def check_cni(spec: FleetSpec, *, complete: bool = True) -> list[Problem]:
    """``complete``: every cluster validated, so fleet-wide rules (unknown mesh members,
    addresses, cluster ids) can be checked too."""
    where = origins(spec)
    problems: list[Problem] = []
    for c in spec.clusters:
        problems += _cluster_rules(c, where)
    problems += _mesh_rules(spec, where, complete=complete)
    problems += _tenant_rules(spec, where)
    if complete:
        addresses, ipam_problems = allocate(spec)
        if not ipam_problems:  # those are reported by validate.check_fleet
            problems += _cluster_id_rules(spec, addresses, where)
    return problems


# Plugins that do not enforce NetworkPolicy: a tenant's NetworkPolicies would be no-ops.
NO_NETWORK_POLICY = frozenset({"flannel"})


def _tenant_rules(spec: FleetSpec, where: Origins) -> list[Problem]:
    problems = []
    by_name = {c.name: c for c in spec.clusters}
    for i, t in enumerate(spec.tenants):
        for name in tenant_clusters(t, spec.clusters):
            plugin = by_name[name].cni.plugin
            if plugin not in NO_NETWORK_POLICY:
                continue
            loc: Loc
            if t.clusters is not None:
                loc = where.fleet_loc("tenants", i, "clusters", t.clusters.index(name))
            elif t.selector is not None:
                loc = where.fleet_loc("tenants", i, "selector")
            else:
                loc = where.fleet_loc("tenants", i)
            chosen = where.cluster_loc(name, "cni", "plugin")
            problems.append(loc.problem(
                f"tenant {t.name!r} would land on cluster {name!r}, whose network plugin {plugin} does not "
                f"enforce NetworkPolicy: the tenant's isolation (default deny, same namespace only) would "
                f"silently do nothing. Use calico or cilium for {name!r} (cni.plugin, {chosen.file}: "
                f"{chosen.path}) or keep this tenant off it"))
    return problems


def _cluster_rules(c: ClusterSpec, where: Origins) -> list[Problem]:
    problems = []
    plugin = c.cni.plugin
    for other in CNI_PLUGINS:
        if other != plugin and getattr(c.cni, other) is not None:
            problems.append(
                where.cluster_loc(c.name, "cni", other).problem(
                    f"options for {other}, but this cluster's cni.plugin is {plugin!r}: "
                    f"options apply to the chosen plugin only (remove them, or use cni.{plugin})"
                )
            )
    if plugin == "cilium" and c.name == "default":
        problems.append(
            where.cluster_loc(c.name, "name").problem(
                "'default' is reserved by Cilium for clusters without a cluster id; pick another name"
            )
        )
    return problems


def _mesh_rules(spec: FleetSpec, where: Origins, *, complete: bool) -> list[Problem]:
    problems = []
    by_name = {c.name: c for c in spec.clusters}
    first: dict[str, int] = {}
    for i, name in enumerate(spec.mesh.clusters):
        loc = where.fleet_loc("mesh", "clusters", i)
        if name in first:
            problems.append(
                loc.problem(f"{name!r} is listed twice (also mesh.clusters[{first[name]}])")
            )
            continue
        first[name] = i
        c = by_name.get(name)
        if c is None:
            if complete:  # otherwise the cluster may exist but have failed validation
                problems.append(
                    loc.problem(f"unknown cluster {name!r}{did_you_mean(name, list(by_name))}")
                )
            continue
        if c.cni.plugin != "cilium":
            problems.append(
                loc.problem(
                    f"cluster {name!r} uses {c.cni.plugin}; ClusterMesh joins Cilium clusters only "
                    "(its cni.plugin must be cilium)"
                )
            )
    if len(first) == 1:
        problems.append(
            where.fleet_loc("mesh", "clusters").problem("a mesh needs at least two clusters")
        )
    return problems


def _describe_id(c: ClusterSpec, slot: int | None) -> str:
    if c.cni.cilium_options.cluster_id is not None:
        return f"cluster {c.name!r} (cni.cilium.cluster_id)"
    return f"cluster {c.name!r} (derived from its network slot {slot})"


def _cluster_id_rules(
    spec: FleetSpec, addresses: dict[str, Addresses], where: Origins
) -> list[Problem]:
    problems = []
    owners: dict[int, list[ClusterSpec]] = defaultdict(list)
    for c in spec.clusters:
        cid = cluster_id(c, addresses[c.name].slot)
        if cid is not None:
            owners[cid].append(c)
    for cid, clusters in sorted(owners.items()):
        if len(clusters) < 2:
            continue
        explicit = [c for c in clusters if c.cni.cilium_options.cluster_id is not None]
        for c in explicit or clusters[1:]:
            others = ", ".join(
                _describe_id(o, addresses[o.name].slot) for o in clusters if o is not c
            )
            path = ("cni", "cilium", "cluster_id") if c in explicit else ("network",)
            problems.append(
                where.cluster_loc(c.name, *path).problem(
                    f"duplicate cluster id {cid}: also used by {others}; Cilium cluster ids must be "
                    f"unique fleet-wide ({CLUSTER_ID_MIN}..{CLUSTER_ID_MAX})"
                )
            )
    by_name = {c.name: c for c in spec.clusters}
    for i, name in enumerate(spec.mesh.clusters):
        member = by_name.get(name)
        if (
            member is None
            or member.cni.plugin != "cilium"
            or cluster_id(member, addresses[name].slot) is not None
        ):
            continue
        slot = addresses[name].slot
        why = (
            "it has explicit CIDRs (no network slot)"
            if slot is None
            else f"its network slot {slot} is above {CLUSTER_ID_MAX - 1}"
        )
        problems.append(
            where.fleet_loc("mesh", "clusters", i).problem(
                f"cluster {name!r} has no cluster id: {why}; set its cni.cilium.cluster_id "
                f"({CLUSTER_ID_MIN}..{CLUSTER_ID_MAX})"
            )
        )
    return problems
