"""A migration's etcd data (``data: etcd-snapshot``): the snapshot bucket in the target's
cloud, and the source's snapshot Job and CronJob (documents in
fleetform/bootstrap/snapshots.py) in the SOURCE's add-on bundle (fleetform/addons/snapshots.py,
with this bucket and writer as the source's cloud facts): the source cluster's own Flux
runs them; `pulumi up` never reaches the source's API."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from components.clouds.base import CloudAdapter, MachineIdentity
from fleetform.plan import names
from fleetform.plan.snapshots import SnapshotTransfer

# pulumi-kubernetes: create the object and move on, without awaiting its completion.
SKIP_AWAIT = "pulumi.com/skipAwait"


@dataclass(frozen=True)
class SnapshotSource:
    """What a migration target needs to receive the source's etcd data."""

    transfer: SnapshotTransfer
    # The federated identity that writes the snapshot (AWS role / GCP service account).
    writer: MachineIdentity
    gcp_credentials: pulumi.Output[str] | None


@dataclass(frozen=True)
class Restore:
    """Where the target's etcd members restore from, and what must finish first."""

    bucket: pulumi.Output[str]
    key: str
    depends_on: Sequence[pulumi.Resource]


class SnapshotStore(pulumi.ComponentResource):
    """The target's snapshot bucket: written by the source's Job (federated identity),
    read by the target's etcd members (each its own identity), objects expiring after
    the retention."""

    def __init__(self, name: str, adapter: CloudAdapter, src: SnapshotSource, readers: Sequence[MachineIdentity],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleetform:index:SnapshotStore", name, None, opts)
        self.bucket = adapter.bucket(names.child(name, "bucket"), writers=[src.writer], readers=readers,
                                     parent=self, retention_days=src.transfer.retention_days)
        self.register_outputs({"bucket": self.bucket.name, "key": src.transfer.key})
