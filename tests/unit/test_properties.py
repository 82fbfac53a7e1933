"""Property tests over generated fleets: the plan is deterministic, addresses are
disjoint, other clusters are untouched by adding/removing/reordering, and etcd keeps
a quorum after losing any one zone."""

from __future__ import annotations

import copy
import ipaddress
import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fleetform.catalog.regions import AWS_REGIONS, GCP_REGIONS, zones
from fleetform.plan.ipam import auto_slot, slot_count
from fleetform.spec.errors import FleetError

from .helpers import plan_dict

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TMP = Path(tempfile.gettempdir())

PLACES: list[tuple[str, str]] = [("aws", r) for r in AWS_REGIONS] + [("gcp", r) for r in GCP_REGIONS]
SLOTS = slot_count("10.0.0.0/8", 16)

names = st.from_regex(r"[a-z][a-z0-9]{0,6}(-[a-z0-9]{1,4})?", fullmatch=True)


@st.composite
def cluster_settings(draw: st.DrawFn) -> dict[str, Any]:
    cloud, region = draw(st.sampled_from(PLACES))
    c: dict[str, Any] = {
        "cloud": cloud,
        "region": region,
        "cni": {"plugin": draw(st.sampled_from(["cilium", "calico", "flannel"]))},
        "etcd": {"members": draw(st.sampled_from([1, 3, 5, 7])),
                 "size": draw(st.sampled_from(["small", "medium", "large", "xlarge"]))},
        "control_plane": {"replicas": draw(st.integers(1, 5))},
        "workers": [{"name": "general", "size": draw(st.sampled_from(["small", "medium"])),
                     "min": 1, "max": draw(st.integers(1, 20))}],
    }
    if draw(st.booleans()):
        c["kubernetes_version"] = draw(st.sampled_from(["1.35", "1.36", "1.37", "1.36.1"]))
    return c


@st.composite
def fleets(draw: st.DrawFn, *, indexed: bool, min_size: int = 1, max_size: int = 6) -> dict[str, Any]:
    cluster_names = draw(st.lists(names, min_size=min_size, max_size=max_size, unique=True))
    indexes = draw(st.lists(st.integers(0, SLOTS - 1), min_size=len(cluster_names),
                            max_size=len(cluster_names), unique=True))
    clusters = []
    for name, index in zip(cluster_names, indexes, strict=True):
        c = {"name": name, **draw(cluster_settings())}
        if indexed:
            c["network"] = {"index": index}
        clusters.append(c)
    return fleet_of(clusters)


def fleet_of(clusters: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "fleetform/v1",
        "name": "acme",
        "domain": "fleet.acme.example",
        "clouds": {"gcp": {"project": "acme-fleet"}},
        "clusters": clusters,
    }


def collisions(clusters: list[dict[str, Any]]) -> list[list[str]]:
    """Groups of automatic clusters whose name hashes land on the same slot."""
    by_slot: dict[int, list[str]] = {}
    for c in clusters:
        if "network" not in c:
            by_slot.setdefault(auto_slot(c["name"], SLOTS), []).append(c["name"])
    return [group for group in by_slot.values() if len(group) > 1]


def assert_collision_reported(fleet: dict[str, Any], groups: list[list[str]]) -> None:
    with pytest.raises(FleetError) as exc:
        plan_dict(fleet, TMP)
    messages = [p.message for p in exc.value.problems]
    for group in groups:
        assert any(all(f"{n!r} (hash of its name)" in m for n in group) for m in messages), messages


def cluster_views(fleet: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in plan_dict(fleet, TMP).to_json()["clusters"]}


# ---------------------------------------------------------------- determinism


@SETTINGS
@given(fleet=fleets(indexed=True))
def test_plan_is_deterministic(fleet: dict[str, Any]) -> None:
    first = plan_dict(copy.deepcopy(fleet), TMP).to_json()
    second = plan_dict(copy.deepcopy(fleet), TMP).to_json()
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
    assert first == second


# ---------------------------------------------------------------- disjoint addresses


@SETTINGS
@given(fleet=fleets(indexed=True, max_size=8))
def test_cidrs_are_disjoint_within_and_across_clusters(fleet: dict[str, Any]) -> None:
    plan = plan_dict(fleet, TMP)
    supernet = ipaddress.ip_network("10.0.0.0/8")
    owned: list[tuple[str, ipaddress.IPv4Network | ipaddress.IPv6Network]] = []
    for c in plan.clusters:
        node, pod, svc = (ipaddress.ip_network(x) for x in
                          (c.network.node_cidr, c.network.pod_cidr, c.network.service_cidr))
        for net in (node, pod, svc):
            assert net.subnet_of(supernet)  # type: ignore[arg-type]
        assert not node.overlaps(pod) and not node.overlaps(svc) and not pod.overlaps(svc)
        for s in c.network.subnets:
            assert ipaddress.ip_network(s.private_cidr).subnet_of(node)  # type: ignore[arg-type]
            assert ipaddress.ip_network(s.public_cidr).subnet_of(node)  # type: ignore[arg-type]
        owned += [(c.name, node), (c.name, pod)]
    for i, (a, x) in enumerate(owned):
        for b, y in owned[i + 1:]:
            if a != b:
                assert not x.overlaps(y), (a, str(x), b, str(y))


# ---------------------------------------------------------------- stability


@SETTINGS
@given(fleet=fleets(indexed=True, min_size=2), data=st.data())
def test_explicit_index_stability(fleet: dict[str, Any], data: st.DataObject) -> None:
    before = cluster_views(fleet)
    clusters = fleet["clusters"]

    # reorder
    shuffled = data.draw(st.permutations(clusters))
    assert cluster_views(fleet_of(shuffled)) == before

    # remove some
    kept = data.draw(st.lists(st.sampled_from(clusters), min_size=1, unique_by=lambda c: c["name"]))
    after = cluster_views(fleet_of(kept))
    assert after == {c["name"]: before[c["name"]] for c in kept}

    # add one (a new name on a free index), anywhere in the list
    used = {c["network"]["index"] for c in clusters}
    new_name = data.draw(names.filter(lambda n: n not in before))
    new_index = data.draw(st.integers(0, SLOTS - 1).filter(lambda i: i not in used))
    new = {"name": new_name, **data.draw(cluster_settings()), "network": {"index": new_index}}
    at = data.draw(st.integers(0, len(clusters)))
    after = cluster_views(fleet_of([*clusters[:at], new, *clusters[at:]]))
    assert {n: v for n, v in after.items() if n != new_name} == before


@SETTINGS
@given(fleet=fleets(indexed=False, min_size=2), data=st.data())
def test_automatic_slot_stability(fleet: dict[str, Any], data: st.DataObject) -> None:
    clusters = fleet["clusters"]
    groups = collisions(clusters)
    if groups:
        assert_collision_reported(fleet, groups)
        assume(False)
    before = cluster_views(fleet)
    for name, view in before.items():
        assert (view["network"]["slot"], view["network"]["allocation"]) == (auto_slot(name, SLOTS), "auto")

    shuffled = data.draw(st.permutations(clusters))
    assert cluster_views(fleet_of(shuffled)) == before

    kept = data.draw(st.lists(st.sampled_from(clusters), min_size=1, unique_by=lambda c: c["name"]))
    assert cluster_views(fleet_of(kept)) == {c["name"]: before[c["name"]] for c in kept}

    new = {"name": data.draw(names.filter(lambda n: n not in before)), **data.draw(cluster_settings())}
    grown = [*clusters, new]
    groups = collisions(grown)
    if groups:
        # Adding a cluster whose hash lands on a taken slot is an error naming both,
        # never a silent move of either.
        assert_collision_reported(fleet_of(grown), groups)
        return
    after = cluster_views(fleet_of(grown))
    assert {n: v for n, v in after.items() if n != new["name"]} == before


def test_automatic_collision_names_both_and_moves_nobody() -> None:
    # 'c12' and 'c28' share slot 161; adding c28 to a fleet with c12 must not move c12.
    base = {"name": "c12", "cloud": "aws", "region": "eu-west-1"}
    before = cluster_views(fleet_of([base]))
    assert before["c12"]["network"]["slot"] == 161
    assert_collision_reported(fleet_of([base, {**base, "name": "c28"}]), [["c12", "c28"]])
    # Resolving it with an explicit index on the newcomer leaves c12 where it was.
    after = cluster_views(fleet_of([base, {**base, "name": "c28", "network": {"index": 7}}]))
    assert after["c12"] == before["c12"]


# ---------------------------------------------------------------- zone spread


def survives_any_zone_loss(member_zones: list[str]) -> bool:
    quorum = len(member_zones) // 2 + 1
    counts = Counter(member_zones)
    return all(len(member_zones) - lost >= quorum for lost in counts.values())


WIDE_PLACES = [(cloud, region) for cloud, region in PLACES if len(zones(cloud, region)) >= 3]


@pytest.mark.parametrize(("cloud", "region"), WIDE_PLACES, ids=[r for _, r in WIDE_PLACES])
def test_every_wide_region_keeps_etcd_quorum_after_losing_a_zone(cloud: str, region: str) -> None:
    clusters = [{"name": f"m{n}", "cloud": cloud, "region": region, "etcd": {"members": n},
                 "network": {"index": n}} for n in (3, 5, 7)]
    plan = plan_dict(fleet_of(clusters), TMP)
    for c in plan.clusters:
        member_zones = [m.zone for m in c.etcd.members]
        assert len(set(member_zones)) >= 3
        assert survives_any_zone_loss(member_zones), (c.name, member_zones)
    assert plan.warnings == ()


@SETTINGS
@given(data=st.data())
def test_explicit_zone_lists_of_three_or_more_keep_quorum(data: st.DataObject) -> None:
    cloud, region = data.draw(st.sampled_from(WIDE_PLACES))
    region_zone_list = zones(cloud, region)
    chosen = data.draw(st.lists(st.sampled_from(region_zone_list), min_size=3,
                                max_size=min(4, len(region_zone_list)), unique=True))
    members = data.draw(st.sampled_from([3, 5, 7]))
    plan = plan_dict(fleet_of([{"name": "a", "cloud": cloud, "region": region, "zones": chosen,
                                "etcd": {"members": members}, "network": {"index": 1}}]), TMP)
    member_zones = [m.zone for m in plan.cluster("a").etcd.members]
    assert survives_any_zone_loss(member_zones)
    # Round-robin: no zone holds more than its share.
    assert max(Counter(member_zones).values()) == -(-members // len(chosen))


_CIDRS = st.builds(
    lambda addr, prefix: str(ipaddress.IPv4Network((addr, prefix), strict=False)),
    st.integers(0, 2**32 - 1).map(lambda n: n & 0x0AFF_FFFF | 0x0A00_0000),  # inside 10.0.0.0/8
    st.integers(8, 28),
)


@given(st.lists(st.tuples(_CIDRS, _CIDRS, st.one_of(st.none(), st.integers(0, 5))), min_size=0, max_size=12))
def test_cross_cluster_overlaps_are_every_overlapping_pair(entries: list[tuple[str, str, int | None]]) -> None:
    """The sweep in `ipam._overlapping_pairs` reports exactly the pairs, in the order,
    that comparing every pair of clusters' node/pod CIDRs does."""
    from fleetform.plan.ipam import Addresses, _overlapping_pairs

    items = sorted((f"c{i:02d}", Addresses(slot=slot, source="explicit", node_cidr=node, pod_cidr=pod,
                                           service_cidr="192.168.0.0/24"))
                   for i, (node, pod, slot) in enumerate(entries))
    expected = []
    for i, (_, a) in enumerate(items):
        for j in range(i + 1, len(items)):
            b = items[j][1]
            for fa in ("node_cidr", "pod_cidr"):
                for fb in ("node_cidr", "pod_cidr"):
                    if ipaddress.IPv4Network(getattr(a, fa)).overlaps(ipaddress.IPv4Network(getattr(b, fb))):
                        expected.append((i, fa, j, fb))
    assert _overlapping_pairs(items) == expected
