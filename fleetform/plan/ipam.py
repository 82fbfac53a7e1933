"""Address plan: non-overlapping, stable CIDRs for every cluster.

The supernet is cut into equal slots (``/cluster_prefix``); a cluster owns one slot:

    slot /P:  pods  = first half           (/P+1)
              nodes = third quarter         (/P+2), cut into 8 zone subnets (/P+5):
                      private subnet of zone k = part k, public = part 4+k
              services = first 1/16 of the last quarter (/P+4); the rest is reserved

A cluster's slot is its explicit ``network.index`` or, by default, a hash of its name.
Neither depends on any other cluster, so adding, removing or reordering clusters
never moves anyone's addresses. Two clusters landing on the same slot is an error
that names both and suggests free indexes — never a silent shift.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import TYPE_CHECKING, Literal

from fleetform.spec.errors import Loc, Problem
from fleetform.spec.load import origins
from fleetform.spec.models import ClusterSpec, FleetSpec

if TYPE_CHECKING:
    from fleetform.plan.model import ClusterPlan

MAX_ZONES = 4
# Addresses every subnet keeps for the cloud, (first, last): AWS the network address,
# router, DNS, future use and broadcast; GCP the network address and gateway, and the
# second-to-last and broadcast.
CLOUD_RESERVED = {"aws": (4, 1), "gcp": (2, 2)}


@dataclass(frozen=True)
class Addresses:
    slot: int | None
    source: Literal["index", "auto", "explicit"]
    node_cidr: str
    pod_cidr: str
    service_cidr: str


def slot_count(supernet: str, prefix: int) -> int:
    net = ipaddress.ip_network(supernet)
    return 1 << (prefix - net.prefixlen) if prefix >= net.prefixlen else 0


def slot_network(supernet: str, prefix: int, index: int) -> IPv4Network:
    net = ipaddress.IPv4Network(supernet)
    size = 1 << (32 - prefix)
    return IPv4Network((int(net.network_address) + index * size, prefix))


def carve(slot: IPv4Network) -> tuple[str, str, str]:
    """(pod, node, service) CIDRs of a slot."""
    p = slot.prefixlen
    halves = list(slot.subnets(new_prefix=p + 1))
    quarters = list(slot.subnets(new_prefix=p + 2))
    last_quarter = quarters[3]
    service = next(last_quarter.subnets(new_prefix=p + 4))
    return str(halves[0]), str(quarters[2]), str(service)


def zone_subnets(node_cidr: str, zone_count: int) -> list[tuple[str, str]]:
    """(private, public) subnet per zone, carved from the node CIDR."""
    net = IPv4Network(node_cidr)
    parts = list(net.subnets(new_prefix=net.prefixlen + 3))
    return [(str(parts[k]), str(parts[MAX_ZONES + k])) for k in range(zone_count)]


def auto_slot(key: str, slots: int) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % slots


_CROSS_FIELDS = ("node_cidr", "pod_cidr")


def _overlapping_pairs(items: list[tuple[str, Addresses]]) -> list[tuple[int, str, int, str]]:
    """Every (i, field of i, j, field of j), i < j, whose node/pod CIDRs overlap, in the
    order of i, j, then the fields (node before pod).

    A sweep over the blocks sorted by first address: CIDR blocks are nested or disjoint,
    so with disjoint slots each block meets only the few still open -- n log n for a
    fleet of n clusters where comparing every pair was n squared (the plan, validate and
    the CNI rules each allocate).
    """
    blocks = []
    for index, (_, a) in enumerate(items):
        for field_index, fieldname in enumerate(_CROSS_FIELDS):
            net = IPv4Network(getattr(a, fieldname))
            blocks.append((int(net.network_address), int(net.broadcast_address), index, field_index))
    blocks.sort()
    found: list[tuple[int, int, int, int]] = []
    open_blocks: list[tuple[int, int, int, int]] = []
    for block in blocks:
        first = block[0]
        open_blocks = [o for o in open_blocks if o[1] >= first]
        for other in open_blocks:  # other starts at or before `first` and ends at or after it
            if other[2] != block[2]:
                lo, hi = (other, block) if other[2] < block[2] else (block, other)
                found.append((lo[2], hi[2], lo[3], hi[3]))
        open_blocks.append(block)
    found.sort()
    return [(i, _CROSS_FIELDS[fi], j, _CROSS_FIELDS[fj]) for i, j, fi, fj in found]


def _explicit(c: ClusterSpec) -> bool:
    n = c.network
    return n.node_cidr is not None and n.pod_cidr is not None and n.service_cidr is not None


def allocate(
    spec: FleetSpec, extra: dict[str, ClusterSpec] | None = None
) -> tuple[dict[str, Addresses], list[Problem]]:
    """Addresses for every cluster (keyed by cluster name, plus any ``extra`` keys such
    as migration targets), and the problems that prevent a safe allocation."""

    where = origins(spec)
    problems: list[Problem] = []
    supernet, prefix = spec.network.supernet, spec.network.cluster_prefix
    slots = slot_count(supernet, prefix)
    if slots == 0:
        return {}, [where.fleet_loc("network", "cluster_prefix").problem(
            f"/{prefix} slots do not fit in the supernet {supernet}")]

    entries: dict[str, ClusterSpec] = {c.name: c for c in spec.clusters}
    entries.update(extra or {})

    # 1. slot per cluster
    owners: dict[int, list[str]] = {}
    chosen: dict[str, tuple[int | None, Literal["index", "auto", "explicit"]]] = {}
    def index_loc(key: str) -> Loc:
        # A migration target (`<cluster>@<cloud>-<region>`) takes its slot from its migrate block.
        name, at, _ = key.partition("@")
        return where.cluster_loc(name, *(("migrate", "to", "network", "index") if at else ("network", "index")))

    for key, c in entries.items():
        if c.network.index is not None:
            if c.network.index >= slots:
                problems.append(index_loc(key).problem(
                    f"index {c.network.index} is outside the supernet {supernet} "
                    f"({slots} slots of /{prefix}: 0..{slots - 1})"))
                continue
            chosen[key] = (c.network.index, "index")
        elif _explicit(c) and "@" not in key:
            chosen[key] = (None, "explicit")
            continue
        else:
            chosen[key] = (auto_slot(key, slots), "auto")
        owners.setdefault(chosen[key][0] or 0, []).append(key)

    needing = sum(1 for s, _ in chosen.values() if s is not None)
    if needing > slots:
        problems.append(where.fleet_loc("network", "supernet").problem(
            f"address space exhausted: {needing} clusters need a /{prefix} slot but {supernet} "
            f"has only {slots}; use a larger supernet or a longer cluster_prefix"))
        return {}, problems

    used = {s for s, _ in chosen.values() if s is not None}
    free = [i for i in range(slots) if i not in used][:5]
    for slot, keys in sorted(owners.items()):
        if len(keys) > 1:
            how = ", ".join(
                f"{k!r} ({'network.index' if chosen[k][1] == 'index' else 'hash of its name'})" for k in keys)
            # Point at the newcomer: a migration target, else an auto slot, else the first.
            first = next((k for k in keys if "@" in k), keys[1] if chosen[keys[1]][1] == "auto" else keys[0])
            problems.append(index_loc(first).problem(
                f"address slot {slot} is claimed by {how}; set network.index on one of them "
                f"to a free slot (free: {', '.join(map(str, free))})"))

    # 2. CIDRs: explicit values win, the rest come from the slot.
    result: dict[str, Addresses] = {}
    for key, (cslot, source) in chosen.items():
        c = entries[key]
        pod = node = svc = None
        if cslot is not None:
            pod, node, svc = carve(slot_network(supernet, prefix, cslot))
        explicit = "@" not in key
        result[key] = Addresses(
            slot=cslot,
            source=source,
            node_cidr=(c.network.node_cidr if explicit and c.network.node_cidr else node) or "",
            pod_cidr=(c.network.pod_cidr if explicit and c.network.pod_cidr else pod) or "",
            service_cidr=(c.network.service_cidr if explicit and c.network.service_cidr else svc) or "",
        )

    # 3. Disjointness: inside a cluster all three; across clusters nodes and pods.
    for key, a in result.items():
        name = key.split("@")[0]
        nets = {"node_cidr": a.node_cidr, "pod_cidr": a.pod_cidr, "service_cidr": a.service_cidr}
        keys = list(nets)
        for i, x in enumerate(keys):
            for y in keys[i + 1:]:
                if IPv4Network(nets[x]).overlaps(IPv4Network(nets[y])):
                    problems.append(where.cluster_loc(name, "network", y).problem(
                        f"{nets[y]} overlaps this cluster's {x.replace('_', ' ')} {nets[x]}"))
        if IPv4Network(a.node_cidr).prefixlen > 24:
            problems.append(where.cluster_loc(name, "network", "node_cidr").problem(
                f"{a.node_cidr} is too small: a node CIDR needs at least a /24 (8 zone subnets)"))
    items = sorted(result.items())
    for i, fa, j, fb in _overlapping_pairs(items):
        (ka, a), (kb, b) = items[i], items[j]
        if a.slot is not None and a.slot == b.slot:
            continue  # one slot claimed twice: reported above, once
        na, nb = getattr(a, fa), getattr(b, fb)

        def written(key: str, field: str) -> bool:
            return "@" not in key and getattr(entries[key].network, field) is not None

        if written(ka, fa) and not written(kb, fb):
            # Reported where the clashing value was written, not on the cluster it hits.
            (ka, fa, na), (kb, fb, nb) = (kb, fb, nb), (ka, fa, na)
        problems.append(where.cluster_loc(kb.split("@")[0], "network", fb).problem(
            f"{IPv4Network(nb)} overlaps the {fa.replace('_', ' ')} {IPv4Network(na)} of cluster {ka!r}"))
    return result, problems


def fixed_addresses(c: ClusterPlan) -> list[tuple[str, str, str]]:
    """Every address the plan fixes in a cluster's subnets, as (what, subnet as the cloud
    sees it, address): etcd members, control-plane replicas, the API's internal load
    balancer (GCP reserves it; an AWS NLB's API addresses are the cloud's choice among
    the rest) and a ClusterMesh member's API load balancer (one per zone subnet on AWS).
    On GCP the subnetwork is the whole node CIDR (regional); on AWS each zone's private
    subnet."""

    def subnet(zone: str) -> str:
        return c.network.node_cidr if c.cloud == "gcp" else c.network.subnet(zone).private_cidr

    out = [(m.name, subnet(m.zone), m.ip) for m in c.etcd.members]
    out += [(r.name, subnet(r.zone), r.ip) for r in c.control_plane.replicas]
    if c.cloud == "gcp" and c.api.internal_ip:
        out.append(("api load balancer", subnet(c.zones[0]), c.api.internal_ip))
    if c.cni.mesh is not None:
        out += [(f"clustermesh load balancer ({zone})", subnet(zone), ip) for zone, ip in c.cni.mesh.lb_ips]
    return out


def address_problems(c: ClusterPlan) -> list[str]:
    """Planned addresses that the cloud would refuse or that collide: outside their
    subnet, among the cloud's reserved addresses, or planned twice."""
    head, tail = CLOUD_RESERVED[c.cloud]
    problems, seen = [], dict[str, str]()
    for what, cidr, ip in fixed_addresses(c):
        net, addr = IPv4Network(cidr), ipaddress.IPv4Address(ip)
        if addr not in net:
            problems.append(f"{c.key}: {what} {ip} is outside its subnet {cidr}")
        elif not int(net.network_address) + head <= int(addr) <= int(net.broadcast_address) - tail:
            problems.append(f"{c.key}: {what} {ip} is reserved by {c.cloud} in {cidr}")
        if ip in seen:
            problems.append(f"{c.key}: {what} {ip} is also {seen[ip]}'s")
        seen.setdefault(ip, what)
    return problems
