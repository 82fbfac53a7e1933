"""Stateful removals, said once: one DANGER line per cluster (and one for the fleet's
root CA), then what to do, each piece of advice once however many resources need it."""

from __future__ import annotations

from collections.abc import Sequence

from fleetform.engine.policy import PendingRemoval

_KINDS = ("cluster", "etcd plane", "etcd member", "etcd data disk")


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def danger_lines(removals: Sequence[PendingRemoval]) -> tuple[list[str], list[str]]:
    """(one DANGER line per cluster, the advice that applies, each once)."""
    lines: list[str] = []
    advice: list[str] = []
    by_cluster: dict[str, list[PendingRemoval]] = {}
    for r in removals:
        by_cluster.setdefault(r.cluster, []).append(r)
    for cluster, gone in by_cluster.items():
        if cluster == "":  # the fleet's root CA (certificate and key)
            protected = all(r.protected for r in gone)
            lines.append("DANGER: the fleet root CA is no longer in the program; deleting it re-issues every "
                         "credential of every cluster. " + (
                             "It is protected: `pulumi up` will stop with an error instead." if protected
                             else "It is NOT protected: the next `pulumi up` DELETES it."))
            advice.append("Keep the root CA in the program (identity is fleet-wide; docs/identity.md).")
            continue
        kinds = {k: [r for r in gone if r.kind == k] for k in _KINDS}
        disks = kinds["etcd data disk"]
        whole = bool(kinds["cluster"])
        what = "the whole cluster" if whole else "its etcd plane" if kinds["etcd plane"] else ""
        parts = [p for p in (what, _count(len(kinds["etcd member"]), "etcd member") if kinds["etcd member"] else "",
                             _count(len(disks), "etcd data disk") if disks else "") if p]
        if disks and all(r.protected for r in disks):
            outcome = "the disks are protected: `pulumi up` will stop with an error instead of deleting them"
        elif disks:
            outcome = "the disks are NOT protected: the next `pulumi up` DELETES the cluster's etcd data"
        else:
            outcome = "`pulumi up` deletes them"
        lines.append(f"DANGER: cluster {cluster!r}: `pulumi up` would remove {', '.join(parts)}; {outcome}.")
        if whole and disks and all(r.protected for r in disks):
            advice.append("To remove a cluster, take two steps: set `decommission: true` on it and "
                          "`pulumi up`, then delete its entry.")
        elif whole or (disks and not all(r.protected for r in disks)):
            advice.append("Take an etcd snapshot first if you may need the data.")
        if kinds["etcd member"] and not whole:
            advice.append("To drop an etcd member, take it out of etcd first (`etcdctl member remove`: a "
                          "member that just disappears still counts toward quorum), then release its disk "
                          "(`pulumi state unprotect '<urn>'`; the URNs are in `--json`).")
    return lines, list(dict.fromkeys(advice))
