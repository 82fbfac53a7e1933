"""How a worker pool maps onto cloud groups.

AWS: one Auto Scaling group spans the pool's zones (cluster-autoscaler's AWS provider
scales it and the group balances the zones). GCP: cluster-autoscaler scales zonal
managed instance groups only, so a pool is one zonal MIG per zone; its ``min`` and
``max`` are split over them (as kOps does), the same split for the group's starting
size and for the autoscaler's per-group bounds, so both sum to the pool's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fleetform.plan import names
from fleetform.plan.model import PoolPlan


@dataclass(frozen=True)
class ZonalGroup:
    """One pool's share in one zone (GCP)."""

    pool: str
    zone: str
    name: str  # the zonal MIG's physical name (names.zonal_worker_group)
    min: int  # also the group's starting size
    max: int


def split(total: int, zones: Sequence[str]) -> dict[str, int]:
    """``total`` over ``zones`` as evenly as possible; the zones first in the pool's order
    take the remainder, so the split is the same on every run."""
    if not zones:
        raise ValueError("a pool needs at least one zone")
    if total < 0:
        raise ValueError(f"cannot split a negative size ({total})")
    base, rest = divmod(total, len(zones))
    return {z: base + (1 if i < rest else 0) for i, z in enumerate(zones)}


def zonal_groups(key: str, pool: PoolPlan) -> tuple[ZonalGroup, ...]:
    """The zonal MIGs of one pool of the incarnation ``key``, in the pool's zone order."""
    low, high = split(pool.min, pool.zones), split(pool.max, pool.zones)
    return tuple(ZonalGroup(pool.name, z, names.zonal_worker_group(key, pool.name, z), low[z], high[z])
                 for z in pool.zones)


def idle_zones(pool: PoolPlan) -> tuple[str, ...]:
    """GCP: the zones whose group gets no share of ``max`` (a pool with ``max`` below its
    zone count), so the autoscaler never puts a node there."""
    high = split(pool.max, pool.zones)
    return tuple(z for z in pool.zones if high[z] == 0)
