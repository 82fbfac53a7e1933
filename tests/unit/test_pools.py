"""A GCP pool is one zonal MIG per zone: its min and max split over the zones the same
way for the groups' starting sizes and the autoscaler's per-group bounds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fleetform.plan import names
from fleetform.plan.model import PoolPlan
from fleetform.plan.pools import idle_zones, split, zonal_groups

from .helpers import plan_text

ZONES = ("europe-west4-a", "europe-west4-b", "europe-west4-c")
GCE_NAME = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")


@pytest.mark.parametrize(("total", "expected"), [
    (0, [0, 0, 0]), (1, [1, 0, 0]), (2, [1, 1, 0]), (3, [1, 1, 1]), (10, [4, 3, 3]), (11, [4, 4, 3])])
def test_first_zones_take_the_remainder(total: int, expected: list[int]) -> None:
    shares = split(total, ZONES)
    assert list(shares) == list(ZONES) and list(shares.values()) == expected
    assert sum(shares.values()) == total


def test_split_follows_the_pools_zone_order_only() -> None:
    assert split(4, ("b", "a", "c")) == {"b": 2, "a": 1, "c": 1}
    assert split(4, ("b", "a", "c")) == split(4, ("b", "a", "c"))


def test_split_refuses_what_no_pool_has() -> None:
    with pytest.raises(ValueError, match="at least one zone"):
        split(3, ())
    with pytest.raises(ValueError, match="negative"):
        split(-1, ZONES)


def test_zonal_groups_sum_to_the_pool_and_are_named_by_the_naming_module() -> None:
    pool = PoolPlan("memory", "n2-highmem-4", 2, 7, ZONES, ())
    groups = zonal_groups("us-gcp-gcp-us-central1", pool)
    assert [(g.zone, g.min, g.max) for g in groups] == [(ZONES[0], 1, 3), (ZONES[1], 1, 2), (ZONES[2], 0, 2)]
    assert (sum(g.min for g in groups), sum(g.max for g in groups)) == (pool.min, pool.max)
    assert all(g.min <= g.max and g.pool == "memory" for g in groups)
    assert [g.name for g in groups] == [names.zonal_worker_group("us-gcp-gcp-us-central1", "memory", z) for z in ZONES]


def test_long_keys_still_give_valid_distinct_gce_names() -> None:
    key = names.incarnation("a" * 40, "gcp", "northamerica-northeast2")
    pool = PoolPlan("p" * 30, "e2-standard-4", 1, 3, ("northamerica-northeast2-a", "northamerica-northeast2-b"), ())
    got = [g.name for g in zonal_groups(key, pool)]
    assert len(set(got)) == 2 and all(GCE_NAME.match(n) and len(n) <= 63 for n in got)


def test_plan_warns_when_a_gcp_pool_cannot_reach_every_zone(tmp_path: Path) -> None:
    plan = plan_text(tmp_path, """
        clusters:
          - name: small
            cloud: gcp
            region: europe-west1
            network: {index: 1}
            workers: [{name: general, min: 0, max: 2}]
          - name: big
            cloud: gcp
            region: europe-west1
            network: {index: 2}
            workers: [{name: general, min: 0, max: 3}]
    """)
    (pool,) = plan.cluster("small").workers
    assert idle_zones(pool) == pool.zones[2:]
    warned = [w for w in plan.warnings if "never get a node" in w]
    assert warned == [f"cluster 'small': pool 'general' has max 2 over 3 zones; its groups in {pool.zones[2]} "
                      "never get a node (raise max or list fewer zones)"]
