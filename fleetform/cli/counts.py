"""Resource counts per cluster incarnation and plane group: one computation for the
`plan` summary lines and the `graph` boxes, so the two always agree."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fleetform.engine.synth import attribute

# The planes the engine attributes resources to, grouped as a reader sees a cluster.
# A plane not listed is its own group (workers/<pool> count as `workers`).
GROUPS = {
    "control-plane": "control plane", "kube-api": "control plane", "rbac": "control plane",
    "network": "network", "cni": "network", "cluster": "network", "migration": "network",
    "identity": "identity", "federation": "identity",
}
GROUP_ORDER = ("workers", "control plane", "etcd", "network", "identity")


def group_of(plane: str) -> str:
    return "workers" if plane.startswith("workers/") or plane == "workers" else GROUPS.get(plane, plane)


def group_key(group: str) -> tuple[int, str]:
    return (GROUP_ORDER.index(group), "") if group in GROUP_ORDER else (len(GROUP_ORDER), group)


def plane_counts(plan: Mapping[str, Any],
                 records: Sequence[Mapping[str, Any]]) -> dict[str | None, dict[str, int]]:
    """{incarnation context (None: fleet-wide): {plane: count}} (the stack itself left out).

    A moving cluster has two incarnations: each gets its own counts, under its context
    (`<cluster>` for the one serving the name, `<cluster>@<cloud>-<region>` for the other)."""
    keys = {c.get("key", c["name"]): c.get("context", c["name"]) for c in plan.get("clusters", [])}
    counts: dict[str | None, dict[str, int]] = {}
    for place in attribute(records, str(plan.get("fleet", "")), keys).values():
        if place.plane == "stack":
            continue
        planes = counts.setdefault(place.cluster, {})
        planes[place.plane] = planes.get(place.plane, 0) + 1
    return counts


def grouped(planes: Mapping[str, int]) -> dict[str, int]:
    """{group: count} in reading order."""
    out: dict[str, int] = {}
    for plane, n in planes.items():
        out[group_of(plane)] = out.get(group_of(plane), 0) + n
    return dict(sorted(out.items(), key=lambda kv: group_key(kv[0])))
