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
    # "pending": inputs that differ but that `pulumi up` leaves as they are
    # (`ignore_changes`: a frozen etcd member, an autoscaled size); `apply` says what
    # edit would make them happen.
    kind: str  # "add" | "remove" | "change" | "move" | "pending"
    urn: str
    type: str
    name: str
    cluster: str | None
    plane: str
    stateful: bool = False
    why: str = ""  # for stateful removals: what makes it stateful
    fields: tuple[str, ...] = ()  # changed inputs/options (change, move)
    old_urn: str | None = None  # for moves
    pending: tuple[str, ...] = ()  # inputs that differ but are ignored (ignore_changes)
    apply: str = ""  # for pending inputs: the edit that would apply them

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
        if self.pending:
            data["pending"] = list(self.pending)
            data["apply"] = self.apply
        return data


@dataclass(frozen=True)
class ClusterChange:
    name: str
    # "pending": only changes `pulumi up` would not make yet (see Change.kind)
    status: str  # "added" | "removed" | "changed" | "pending" | "unchanged"
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
    def applied(self) -> tuple[Change, ...]:
        """What `pulumi up` would do (pending changes left out)."""
        return tuple(c for c in self.changes if c.kind != "pending")

    @property
    def stateful_removals(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.kind == "remove" and c.stateful)

    @property
    def empty(self) -> bool:
        return not self.changes and all(c.status == "unchanged" for c in self.clusters) and not self.documents

    def counts(self) -> dict[str, int]:
        out = {"add": 0, "change": 0, "move": 0, "remove": 0, "pending": 0}
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


def _without(value: Any, path: Sequence[str]) -> Any:
    """``value`` without the nested key at ``path`` (a dotted ignore_changes path)."""
    if not path or not isinstance(value, dict) or path[0] not in value:
        return value
    if len(path) == 1:
        return {k: v for k, v in value.items() if k != path[0]}
    return {**value, path[0]: _without(value[path[0]], path[1:])}


def _changed_fields(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(applied, pending): the inputs and options `pulumi up` would change, and the inputs
    that differ but that the new resource's `ignore_changes` keeps as they are.

    A difference only in the dependency list is not a change: `pulumi up` updates no
    resource for it (adding a cluster adds dependencies to fleet-wide resources)."""
    applied: list[str] = []
    pending: list[str] = []
    old_in, new_in = old.get("inputs") or {}, new.get("inputs") or {}
    ignored = [str(p).split(".") for p in new.get("ignore_changes") or []]
    for key in sorted(set(old_in) | set(new_in)):
        a, b = old_in.get(key, _MISSING), new_in.get(key, _MISSING)
        if a == b:
            continue
        for path in ignored:
            if path[0] == key:
                a, b = (_MISSING, _MISSING) if len(path) == 1 else (_without(a, path[1:]), _without(b, path[1:]))
        (applied if a != b else pending).append(f"inputs.{key}")
    for key in _OPTION_FIELDS:
        if old.get(key) != new.get(key):
            applied.append(key)
    return tuple(applied), tuple(pending)


def apply_hint(r: Mapping[str, Any], place: Place) -> str:
    """The edit that makes `pulumi up` apply a pending change to ``r``."""
    name = str(r.get("name", ""))
    member = name.rsplit("-etcd-", 1)[-1] if "-etcd-" in name else ""
    if place.plane == "etcd" and member.isdigit() and place.cluster:
        return (f"list etcd-{member} in etcd.roll of cluster {place.cluster!r} (a few members per "
                "`pulumi up`; docs/rolling-safety.md)")
    return "kept as is by ignore_changes: a replaced machine or a new node takes it"


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
            fields, pending = _changed_fields(old_by[urn], r)
            hint = apply_hint(r, new_places[urn]) if pending else ""
            if fields:
                change("change", r, new_places[urn], fields=fields, pending=pending, apply=hint)
            elif pending:
                change("pending", r, new_places[urn], pending=pending, apply=hint)
        elif urn in moved_from:
            old = old_by[moved_from[urn]]
            fields, pending = _changed_fields(old, r)
            change("move", r, new_places[urn], fields=fields, old_urn=moved_from[urn], pending=pending,
                   apply=apply_hint(r, new_places[urn]) if pending else "")
        else:
            change("add", r, new_places[urn])
    gone = set(moved_from.values())
    for urn, r in old_by.items():
        if urn not in new_by and urn not in gone:
            why = stateful_reason(r)
            change("remove", r, old_places[urn], stateful=bool(why), why=why)

    def order(c: Change) -> tuple[Any, ...]:
        kinds = {"remove": 0, "add": 1, "move": 2, "change": 3, "pending": 4}
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
            touched = any(c.cluster == name and c.kind != "pending" for c in changes)
            waiting = any(c.cluster == name and c.kind == "pending" for c in changes)
            status = ("changed" if touched or (plan_fields and not waiting) else
                      "pending" if waiting else "unchanged")
            clusters.append(ClusterChange(name, status, plan_fields))
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
