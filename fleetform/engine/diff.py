"""What a change to a stack file would do: compare two synthesized stacks.

Resources are matched by URN (a new URN that lists an old one among its aliases is the
same resource, moved or renamed). Each difference is attributed to a cluster (or to the
fleet) and a plane. Removing a stateful resource -- anything `protect`ed, anything with
`etcd` in its name (members, their data disks, DNS records, certificates), the fleet
root CA -- is flagged: that is data loss (or an outage) if `pulumi up` goes through.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fleetform.engine.synth import PLANE_ORDER, Place, attribute, plane_sort_key

# Types whose removal loses data or identity even without `protect` (when a cluster is
# decommissioned its etcd disks lose `protect`, and they still hold its data).
STATEFUL_TYPES = frozenset({
    "aws:ebs/volume:Volume",
    "gcp:compute/disk:Disk",
})


@dataclass(frozen=True)
class Change:
    kind: str  # "add" | "remove" | "change" | "move"
    urn: str
    type: str
    name: str
    cluster: str | None
    plane: str
    stateful: bool = False
    why: str = ""  # for stateful removals: what makes it stateful
    fields: tuple[str, ...] = ()  # changed inputs/options (change, move)
    old_urn: str | None = None  # for moves

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "urn": self.urn, "type": self.type, "name": self.name,
                                "cluster": self.cluster, "plane": self.plane}
        if self.kind == "remove":
            data["stateful"] = self.stateful
            data["why"] = self.why
        if self.fields:
            data["fields"] = list(self.fields)
        if self.old_urn:
            data["old_urn"] = self.old_urn
        return data


@dataclass(frozen=True)
class ClusterChange:
    name: str
    status: str  # "added" | "removed" | "changed" | "unchanged"
    fields: tuple[tuple[str, Any, Any], ...] = ()  # plan fields: (path, old, new)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status,
                "plan_changes": [{"path": p, "old": o, "new": n} for p, o, n in self.fields]}


@dataclass(frozen=True)
class DocumentChange:
    path: str
    kind: str  # add | remove | change
    added: int
    removed: int
    unified: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "lines_added": self.added, "lines_removed": self.removed}


@dataclass(frozen=True)
class FleetDiff:
    clusters: tuple[ClusterChange, ...]
    changes: tuple[Change, ...]
    documents: tuple[DocumentChange, ...] = field(default=())

    @property
    def stateful_removals(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.kind == "remove" and c.stateful)

    @property
    def empty(self) -> bool:
        return not self.changes and all(c.status == "unchanged" for c in self.clusters) and not self.documents

    def counts(self) -> dict[str, int]:
        out = {"add": 0, "change": 0, "move": 0, "remove": 0}
        for c in self.changes:
            out[c.kind] += 1
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "summary": {**self.counts(), "stateful_removals": len(self.stateful_removals)},
            "clusters": [c.to_json() for c in self.clusters],
            "resources": [c.to_json() for c in self.changes],
            "stateful_removals": [c.to_json() for c in self.stateful_removals],
            "bootstrap": [d.to_json() for d in self.documents],
        }


def stateful_reason(r: Mapping[str, Any]) -> str:
    """Why removing this resource loses state ("" when it does not)."""
    name = str(r.get("name", ""))
    if r.get("protect"):
        return "protected (protect=True)"
    if "root-ca" in name and r.get("type", "").startswith("tls:"):
        return "the fleet root CA: every cluster's certificates chain to it"
    if "etcd" in name and r.get("custom", True):
        return "part of an etcd member (its data, address or identity)"
    if r.get("type") in STATEFUL_TYPES:
        return "a data disk"
    return ""


_OPTION_FIELDS = ("parent", "provider", "protect", "ignore_changes", "custom")


def _changed_fields(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...]:
    fields: list[str] = []
    old_in, new_in = old.get("inputs") or {}, new.get("inputs") or {}
    for key in sorted(set(old_in) | set(new_in)):
        if old_in.get(key, _MISSING) != new_in.get(key, _MISSING):
            fields.append(f"inputs.{key}")
    for key in _OPTION_FIELDS:
        if old.get(key) != new.get(key):
            fields.append(key)
    if sorted(old.get("dependencies") or []) != sorted(new.get("dependencies") or []):
        fields.append("dependencies")
    return tuple(fields)


_MISSING = object()


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def _plan_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[tuple[str, Any, Any], ...]:
    a, b = _flatten(dict(old)), _flatten(dict(new))
    skip = ("cni_detail.values",)  # Helm values: shown through the resources instead
    return tuple((k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b))
                 if a.get(k) != b.get(k) and not k.startswith(skip))


def _places(plan: Mapping[str, Any], resources: Sequence[Mapping[str, Any]]) -> dict[str, Place]:
    keys = {c.get("key", c["name"]): c["name"] for c in plan.get("clusters", [])}
    return attribute(resources, str(plan.get("fleet", "")), keys)


def diff_synth(old_plan: Mapping[str, Any], old_resources: Sequence[Mapping[str, Any]],
               new_plan: Mapping[str, Any], new_resources: Sequence[Mapping[str, Any]],
               old_docs: Mapping[str, str] | None = None, new_docs: Mapping[str, str] | None = None) -> FleetDiff:
    old_places = _places(old_plan, old_resources)
    new_places = _places(new_plan, new_resources)
    old_by = {r["urn"]: r for r in old_resources}
    new_by = {r["urn"]: r for r in new_resources}
    moved_from: dict[str, str] = {}
    for urn, r in new_by.items():
        if urn in old_by:
            continue
        for alias in r.get("aliases") or []:
            if alias in old_by and alias not in new_by and alias not in moved_from.values():
                moved_from[urn] = alias
                break
    changes: list[Change] = []

    def change(kind: str, r: Mapping[str, Any], place: Place, **kw: Any) -> None:
        changes.append(Change(kind, r["urn"], r["type"], r["name"], place.cluster, place.plane, **kw))

    for urn, r in new_by.items():
        if urn in old_by:
            fields = _changed_fields(old_by[urn], r)
            if fields:
                change("change", r, new_places[urn], fields=fields)
        elif urn in moved_from:
            old = old_by[moved_from[urn]]
            change("move", r, new_places[urn], fields=_changed_fields(old, r), old_urn=moved_from[urn])
        else:
            change("add", r, new_places[urn])
    gone = set(moved_from.values())
    for urn, r in old_by.items():
        if urn not in new_by and urn not in gone:
            why = stateful_reason(r)
            change("remove", r, old_places[urn], stateful=bool(why), why=why)

    def order(c: Change) -> tuple[Any, ...]:
        kinds = {"remove": 0, "add": 1, "move": 2, "change": 3}
        return (c.cluster is None, c.cluster or "", plane_sort_key(c.plane), kinds[c.kind], c.type, c.name)

    changes.sort(key=order)
    old_clusters = {c["name"]: c for c in old_plan.get("clusters", [])}
    new_clusters = {c["name"]: c for c in new_plan.get("clusters", [])}
    clusters: list[ClusterChange] = []
    for name in [*old_clusters, *(n for n in new_clusters if n not in old_clusters)]:
        if name not in new_clusters:
            clusters.append(ClusterChange(name, "removed"))
        elif name not in old_clusters:
            clusters.append(ClusterChange(name, "added"))
        else:
            plan_fields = _plan_changes(old_clusters[name], new_clusters[name])
            touched = any(c.cluster == name for c in changes)
            clusters.append(ClusterChange(name, "changed" if plan_fields or touched else "unchanged", plan_fields))
    docs = diff_documents(old_docs or {}, new_docs or {})
    return FleetDiff(tuple(clusters), tuple(changes), docs)


def diff_documents(old: Mapping[str, str], new: Mapping[str, str]) -> tuple[DocumentChange, ...]:
    out = []
    for path in sorted(set(old) | set(new)):
        a, b = old.get(path), new.get(path)
        if a == b:
            continue
        lines = list(difflib.unified_diff((a or "").splitlines(keepends=True), (b or "").splitlines(keepends=True),
                                          f"old/{path}", f"new/{path}", n=2))
        added = sum(1 for ln in lines if ln.startswith("+") and not ln.startswith("+++"))
        removed = sum(1 for ln in lines if ln.startswith("-") and not ln.startswith("---"))
        kind = "add" if a is None else "remove" if b is None else "change"
        out.append(DocumentChange(path, kind, added, removed, "".join(lines)))
    return tuple(out)


__all__ = ["PLANE_ORDER", "Change", "ClusterChange", "DocumentChange", "FleetDiff", "diff_synth",
           "stateful_reason"]
