"""A migration's etcd snapshot as plan data: which cluster writes it, where, under which
key, and the workload-identity grant that lets its Job write into the target's cloud.
The Job itself is rendered by ``fleetform/bootstrap/snapshots.py``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fleetform.plan.model import ClusterPlan

SERVICE_ACCOUNT = "fleetform-etcd-snapshot"


@dataclass(frozen=True)
class SnapshotTransfer:
    """One migration's snapshot: from ``source`` (its etcd members) to ``target``'s bucket."""

    cluster: str
    source_key: str
    target_key: str
    target_cloud: Literal["aws", "gcp"]
    target_region: str
    endpoints: tuple[str, ...]
    etcd_version: str
    etcd_sha256: str | None
    key: str  # the migration snapshot every target member restores
    periodic_prefix: str
    schedule: str
    retention_days: int
    # The workload-identity grant (identity_plan.WorkloadGrant.name) that writes it.
    grant: str


def grant_name(cluster: str) -> str:
    """Name of the workload-identity grant of a cluster's snapshot writer."""
    return f"etcd-snapshot-{cluster}"[:63].rstrip("-")


def transfer(source: ClusterPlan, target: ClusterPlan, *, schedule: str, retention_days: int) -> SnapshotTransfer:
    return SnapshotTransfer(
        cluster=source.name,
        source_key=source.key,
        target_key=target.key,
        target_cloud=target.cloud,
        target_region=target.region,
        endpoints=tuple(f"https://{m.dns}:2379" for m in source.etcd.members),
        etcd_version=source.etcd.version,
        etcd_sha256=source.etcd.sha256,
        key=f"migration/{source.key}.db",
        periodic_prefix=f"periodic/{source.key}/",
        schedule=schedule,
        retention_days=retention_days,
        grant=grant_name(source.name),
    )
