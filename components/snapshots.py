"""A migration's etcd data (``data: etcd-snapshot``): the snapshot bucket in the target's
cloud and the source's snapshot Job and CronJob (documents in fleetform/bootstrap/snapshots.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.clouds.base import CloudAdapter, MachineIdentity
from components.kube import KubeAccess
from fleetform.bootstrap.snapshots import snapshot_objects
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
    source_kube: KubeAccess
    source: pulumi.Resource  # the source Cluster (parent of the Job)


@dataclass(frozen=True)
class Restore:
    """Where the target's etcd members restore from, and what must finish first."""

    bucket: pulumi.Output[str]
    key: str
    depends_on: Sequence[pulumi.Resource]


class SnapshotStore(pulumi.ComponentResource):
    """The target's snapshot bucket: written by the source's Job (federated identity),
    read by the target's etcd plane, objects expiring after the retention."""

    def __init__(self, name: str, adapter: CloudAdapter, src: SnapshotSource, reader: MachineIdentity,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleetform:index:SnapshotStore", name, None, opts)
        self.bucket = adapter.bucket(names.child(name, "bucket"), writers=[src.writer], readers=[reader],
                                     parent=self, retention_days=src.transfer.retention_days)
        self.register_outputs({"bucket": self.bucket.name, "key": src.transfer.key})


class SnapshotJobs(pulumi.ComponentResource):
    """The source's service account, script, one-shot migration Job and CronJob."""

    job: k8s.batch.v1.Job

    def __init__(self, name: str, src: SnapshotSource, bucket: pulumi.Output[str],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleetform:index:SnapshotJobs", name, None, opts)
        t, kube = src.transfer, src.source_kube
        docs = pulumi.Output.all(bucket, src.writer.principal, src.gcp_credentials).apply(
            lambda a: {o["kind"]: o for o in snapshot_objects(t, a[0], a[1], a[2])})

        def part(kind: str, field: str) -> pulumi.Output[Any]:
            return docs.apply(lambda d: d[kind][field])

        account = k8s.core.v1.ServiceAccount(
            names.child(name, "account"), metadata=part("ServiceAccount", "metadata"), opts=kube.opts(self))
        script = k8s.core.v1.ConfigMap(
            names.child(name, "script"), metadata=part("ConfigMap", "metadata"), data=part("ConfigMap", "data"),
            opts=kube.opts(self))
        deps = [account, script]
        # `pulumi up` does not wait for the Job: in a brand-new source it runs only once
        # the cluster can run pods; the target's members wait for its snapshot at boot.
        metadata: pulumi.Output[Any] = part("Job", "metadata").apply(lambda m: {
            **m, "annotations": {**(m.get("annotations") or {}), SKIP_AWAIT: "true"}})
        self.job = k8s.batch.v1.Job(
            names.child(name, "job"), metadata=metadata, spec=part("Job", "spec"),
            opts=kube.opts(self, depends_on=deps))
        self.cronjob = k8s.batch.v1.CronJob(
            names.child(name, "cronjob"), metadata=part("CronJob", "metadata"), spec=part("CronJob", "spec"),
            opts=kube.opts(self, depends_on=deps))
        self.register_outputs({"key": t.key})
