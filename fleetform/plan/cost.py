"""Monthly cost estimate from list prices (always labelled an estimate)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from fleetform.catalog.sizes import (
    DISK_GB_MONTH,
    HOURLY_PRICE,
    HOURS_PER_MONTH,
    LOAD_BALANCER_HOUR,
    NAT_HOUR,
)


@dataclass(frozen=True)
class CostEstimate:
    """USD per month; workers at their pool minimum and maximum."""

    etcd: float
    control_plane: float
    workers_min: float
    workers_max: float
    network: float

    @property
    def total_min(self) -> float:
        return round(self.etcd + self.control_plane + self.workers_min + self.network, 2)

    @property
    def total_max(self) -> float:
        return round(self.etcd + self.control_plane + self.workers_max + self.network, 2)

    def to_json(self) -> dict[str, Any]:
        return {
            "currency": "USD",
            "period": "month",
            "estimate": True,
            "etcd": self.etcd,
            "control_plane": self.control_plane,
            "workers_min": self.workers_min,
            "workers_max": self.workers_max,
            "network": self.network,
            "total_min": self.total_min,
            "total_max": self.total_max,
        }


def monthly(machine_type: str) -> float:
    return HOURLY_PRICE.get(machine_type, 0.0) * HOURS_PER_MONTH


def estimate(
    cloud: str,
    etcd: tuple[int, str, int],
    control_plane: tuple[int, str],
    pools: list[tuple[str, int, int]],
    nat_gateways: int,
    load_balancers: int = 1,
) -> CostEstimate:
    """etcd = (members, machine type, disk GB); control_plane = (replicas, machine
    type); pools = [(machine type, min, max)]. Unknown machine types cost 0 here.

    ``load_balancers``: the API's (internal; a public API adds an internet-facing one on
    both clouds) and a ClusterMesh member's endpoint (components/mesh.py).

    ``nat_gateways`` is what the network plan asks for (one per zone, or one). AWS builds
    that many NAT gateways; GCP's Cloud NAT is one regional gateway per network whatever
    the setting (components/clouds/gcp.py), so GCP counts one."""
    if cloud == "gcp":
        nat_gateways = min(nat_gateways, 1)
    members, etcd_mt, disk = etcd
    replicas, cp_mt = control_plane
    return CostEstimate(
        etcd=round(members * (monthly(etcd_mt) + disk * DISK_GB_MONTH[cloud]), 2),
        control_plane=round(replicas * monthly(cp_mt), 2),
        workers_min=round(sum(monthly(mt) * lo for mt, lo, _ in pools), 2),
        workers_max=round(sum(monthly(mt) * hi for mt, _, hi in pools), 2),
        network=round((load_balancers * LOAD_BALANCER_HOUR[cloud] + nat_gateways * NAT_HOUR[cloud])
                      * HOURS_PER_MONTH, 2),
    )


def with_load_balancers(cost: CostEstimate, cloud: str, extra: int) -> CostEstimate:
    """``cost`` with ``extra`` more load balancers (decided after the cluster's own plan,
    e.g. a ClusterMesh member's endpoint)."""
    return replace(cost, network=round(cost.network + extra * LOAD_BALANCER_HOUR[cloud] * HOURS_PER_MONTH, 2))
