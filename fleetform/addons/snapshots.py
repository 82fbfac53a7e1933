"""The etcd snapshot Job and CronJob of a migration source (``migrate.data: etcd-snapshot``),
applied by the source cluster from its own bundle while the move runs."""

from __future__ import annotations

from .context import AddonContext
from .model import Addon
from .render import file

NAME = "etcd-snapshots"


def render(ctx: AddonContext) -> Addon | None:
    if not ctx.snapshots:
        return None
    return Addon(NAME, "", "kube-system", ("cloud-controller-manager",),
                 (file(f"{NAME}/objects.yaml", list(ctx.snapshots)),))
