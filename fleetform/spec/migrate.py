"""Stack format: moving a cluster (``migrate`` on a cluster, ``snapshots`` on the fleet).

A cluster is a name, an identity and workloads; where it runs is a setting. Moving it
is three edits of its ``migrate`` block, one ``pulumi up`` each::

    migrate: {to: {cloud: gcp, region: europe-west1}, phase: prepare, data: etcd-snapshot}
    migrate: {..., phase: cutover}                      # the cluster's name moves
    migrate: {..., phase: cutover, release_source: true}  # step one of removing the source
    migrate: {..., phase: finalize}                     # the source is removed

then the block is replaced by the target's settings (``fleetform migrate plan`` prints
them) and a last ``pulumi up`` is a no-op. Rules that need the whole fleet live in
``validate_migrate.py``; what a phase means for the graph lives in ``migrate.py``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from fleetform.spec.base import Cloud, Model

Phase = Literal["prepare", "cutover", "finalize"]
PHASES: tuple[str, ...] = ("prepare", "cutover", "finalize")
DataMode = Literal["none", "etcd-snapshot"]


class MigrateNetwork(Model):
    # The target's address slot (default: a hash of its incarnation key, like any
    # cluster's). Once finalized, the cluster keeps it as its own `network.index`.
    index: int | None = Field(default=None, ge=0)


class MigrateTarget(Model):
    cloud: Cloud
    region: str
    zones: tuple[str, ...] | None = None
    network: MigrateNetwork = Field(default_factory=MigrateNetwork)


class MigrateSpec(Model):
    to: MigrateTarget
    phase: Phase
    # etcd-snapshot: the target's etcd starts from a snapshot of the source's (taken once,
    # at prepare); none: the target starts empty and workloads move with their own tools.
    data: DataMode = "none"
    # Step one of removing the source (like `decommission`): its etcd disks lose
    # `protect` so that `phase: finalize` can delete them. Only with phase cutover/finalize.
    release_source: bool = False


class SnapshotsSpec(Model):
    """The etcd snapshot bucket of a migration (one per target incarnation, encrypted)."""

    # Snapshot objects older than this are deleted by the bucket's lifecycle rule.
    retention_days: int = Field(default=14, ge=1, le=3650)
    # How often the source also saves a periodic snapshot while a migration runs (cron).
    schedule: str = Field(default="*/30 * * * *", pattern=r"^(\S+\s+){4}\S+$")
