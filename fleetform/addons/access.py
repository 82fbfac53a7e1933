"""Fleet RBAC and tenants: the identity plan's manifests, applied by the cluster itself.

A tenant's namespace is not pruned when the tenant is deselected (its workloads must not
go with it): Flux's ``kustomize.toolkit.fluxcd.io/prune: disabled`` keeps it; remove it
by hand once it is empty.
"""

from __future__ import annotations

import copy
from typing import Any

from .context import AddonContext
from .model import Addon
from .render import file

NAME = "access"
KEEP = {"kustomize.toolkit.fluxcd.io/prune": "disabled"}


def objects(ctx: AddonContext) -> list[dict[str, Any]]:
    out = []
    for obj in ctx.access:
        obj = copy.deepcopy(obj)
        if obj["kind"] == "Namespace":
            obj["metadata"]["annotations"] = {**obj["metadata"].get("annotations", {}), **KEEP}
        out.append(obj)
    return out


def render(ctx: AddonContext) -> Addon | None:
    objs = objects(ctx)
    if not objs:
        return None
    return Addon(NAME, "", "", ("cni",), (file(f"{NAME}/objects.yaml", objs),))
