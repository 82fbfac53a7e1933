"""Kubernetes objects as pulumi-kubernetes 4 returns them."""

from __future__ import annotations

from typing import Any

from fleetform.engine.mocks.base import EPOCH, ResourceCall

# --------------------------------------------------------------------------------------
# Kubernetes


def kubernetes_object(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    metadata = dict(c.get("metadata", {}) or {})
    if not metadata.get("name"):
        metadata["name"] = f"{c.name}-{c.hex(8, 'k8s')}"
    metadata.update(
        {
            "uid": c.uuid("uid"),
            "resourceVersion": str(int(c.number(6, "rv"))),
            "generation": 1,
            "creationTimestamp": EPOCH,
        }
    )
    namespace = metadata.get("namespace")
    rid = f"{namespace}/{metadata['name']}" if namespace else str(metadata["name"])
    return rid, {"metadata": metadata}


