"""The security policy inside fleetform: the CrossGuard rules, offline, and the safety rail.

``evaluate`` runs every rule of ``policies/rules/`` (the same functions the
``policies`` CrossGuard pack runs under ``pulumi preview --policy-pack policies``) over
the resources the offline engine recorded (``fleetform.engine.run.run_program``).
``pending_removals`` compares a previous ``resources.json`` (``fleetform synth``), a
synth directory or a ``pulumi stack export`` with the resources of the current program
and names every etcd member, etcd data disk, cluster and root CA that would go away.

The CLI turns mandatory violations into exit code 3 (``EXIT_POLICY``).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The rules live in the CrossGuard pack (policies/, next to this package) so that the
# pack and the CLI share one implementation. An installed fleetform finds them there.
_SPEC = importlib.util.find_spec("policies")
if _SPEC is None or _SPEC.origin is None:  # absent, or only a namespace directory of that name
    sys.path.append(str(Path(__file__).resolve().parents[2]))

from policies import rules  # noqa: E402 - after the sys.path fallback above

__all__ = [
    "EXIT_POLICY",
    "PendingRemoval",
    "Violation",
    "evaluate",
    "exit_code",
    "load_resources",
    "pending_removals",
    "subjects",
]

EXIT_POLICY = 3
# How the offline engine shows values (fleetform.engine.records.SECRET_MASK / UNKNOWN_MASK).
_SECRET_MASK = "[secret]"
_UNKNOWN_MASK = "[unknown]"
_STACK_TYPE = "pulumi:pulumi:Stack"


@dataclass(frozen=True, order=True)
class Violation:
    """One rule broken by one resource (or the stack, when ``urn`` names the stack)."""

    rule: str
    urn: str
    message: str
    enforcement: str = "mandatory"

    @property
    def mandatory(self) -> bool:
        return self.enforcement == "mandatory"

    @property
    def type(self) -> str:
        return rules.urn_type(self.urn)

    @property
    def name(self) -> str:
        return self.urn.split("::", 3)[3] if self.urn.count("::") >= 3 else self.urn

    def __str__(self) -> str:
        return f"{self.rule} [{self.enforcement}]: {self.name} ({self.type}): {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "enforcement": self.enforcement, "urn": self.urn,
                "type": self.type, "name": self.name, "message": self.message}


def _plain(value: Any) -> Any:
    """Recorded values with the engine's unknown mask turned into the rules' UNKNOWN."""
    kind = type(value)  # the JSON types first, by exact type: the ABC checks below are slow
    if kind is str:
        return rules.UNKNOWN if value == _UNKNOWN_MASK else value
    if kind is dict:
        return {k: _plain(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [_plain(v) for v in value]
    if value == _UNKNOWN_MASK:
        return rules.UNKNOWN
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _field(resource: Any, name: str, default: Any = None) -> Any:
    if isinstance(resource, Mapping):
        return resource.get(name, default)
    return getattr(resource, name, default)


def subjects(resources: Iterable[Any]) -> list[rules.Subject]:
    """Rule subjects from ``fleetform.engine.records.Resource`` records or their JSON form."""
    out: list[rules.Subject] = []
    for r in resources:
        urn = str(_field(r, "urn", ""))
        props = _field(r, "property_dependencies") or {}
        out.append(rules.Subject(
            type=str(_field(r, "type", rules.urn_type(urn))),
            inputs=_plain(_field(r, "inputs") or {}),
            options=rules.Options(
                urn=urn,
                name=str(_field(r, "name", "")),
                parent=_field(r, "parent"),
                protect=bool(_field(r, "protect", False)),
                dependencies=tuple(_field(r, "dependencies") or ()),
                property_dependencies={k: tuple(v) for k, v in dict(props).items()},
                # The offline engine masks every secret: any other string is plain text.
                secrets_masked=True,
            ),
        ))
    return out


def _unchecked(rule: rules.Rule, urn: str, exc: rules.Unknown) -> Violation:
    return Violation(rule.name, urn, f"could not be checked: {exc.what} is unknown or secret",
                     "advisory")


def _broken(rule: rules.Rule, urn: str, exc: Exception) -> Violation:
    """A rule that fails on some input fails closed: a mandatory violation naming the error,
    never a pass and never a crash of the CLI."""
    return Violation(rule.name, urn, f"the rule failed on this resource ({type(exc).__name__}: {exc}); "
                     "treat it as unchecked and report it", "mandatory")


def released(plan: Any) -> frozenset[str]:
    """Incarnation keys (of a ``FleetPlan``) whose etcd disks are unprotected on purpose:
    decommissioned clusters, released migration sources, migration targets in prepare."""
    return frozenset(c.key for c in plan.clusters if not c.protect_data)


def evaluate(resources: Iterable[Any], *, outputs: Mapping[str, Any] | None = None,
             decommissioning: Iterable[str] = (), production: bool = False,
             only: Sequence[str] | None = None) -> list[Violation]:
    """Every rule over the recorded resources; sorted, one entry per (rule, urn, message).

    ``outputs``: the stack's plain outputs (``ProgramResult.outputs``, secrets masked),
    scanned for secret material. ``decommissioning``: names or incarnation keys whose etcd
    disks may be unprotected (``released(plan)``). ``production``: the stack is production
    (``stackfiles.is_production_stack``): deletion protection is then mandatory.
    ``only``: rule names to run (default: all).
    """
    subs = subjects(resources)
    if outputs is not None:
        stack = next((s.urn for s in subs if s.type == _STACK_TYPE), "")
        subs.append(rules.Subject(_STACK_TYPE, _plain(dict(outputs)),
                                  rules.Options(urn=stack, name="outputs", secrets_masked=True)))
    context = rules.Context(decommissioning=frozenset(decommissioning), production=production)
    found: set[Violation] = set()
    chosen = [rule for rule in rules.RULES if only is None or rule.name in only]
    # Subject by subject, every rule: the rules that parse a machine's boot documents share
    # bounded caches (`bootfiles`), which then hold one subject's documents at a time
    # instead of cycling through the whole fleet once per rule. The result is a set.
    resource_rules = [(rule, rule.resource_check) for rule in chosen if rule.resource_check is not None]
    for s in subs:
        for rule, check in resource_rules:
            try:
                found.update(Violation(rule.name, s.urn, m, rule.enforcement)
                             for m in check(s.type, s.inputs, s.options))
            except rules.Unknown as exc:
                found.add(_unchecked(rule, s.urn, exc))
            except Exception as exc:
                found.add(_broken(rule, s.urn, exc))
    for rule in chosen:
        if rule.stack_check is not None:
            try:
                found.update(Violation(rule.name, urn, m, rule.enforcement)
                             for urn, m in rule.stack_check(subs, context))
            except rules.Unknown as exc:
                found.add(_unchecked(rule, "", exc))
            except Exception as exc:
                found.add(_broken(rule, "", exc))
    return sorted(found)


def exit_code(violations: Iterable[Violation]) -> int:
    """``EXIT_POLICY`` (3) when a mandatory rule fails, else 0."""
    return EXIT_POLICY if any(v.mandatory for v in violations) else 0


# ---------------------------------------------------------------- the safety rail


@dataclass(frozen=True, order=True)
class PendingRemoval:
    """A stateful resource present before and missing now: a deletion `pulumi up` would try.

    ``protected``: for a disk or the root CA, its own ``protect``; for a cluster or an
    etcd plane, whether every etcd data disk it takes along is protected.
    """

    kind: str  # "root CA", "cluster", "etcd plane", "etcd data disk", "etcd member"
    cluster: str
    urn: str
    protected: bool
    message: str

    @property
    def name(self) -> str:
        return self.urn.split("::", 3)[3] if self.urn.count("::") >= 3 else self.urn

    def __str__(self) -> str:
        return self.message


_TWO_STEPS = ("remove a cluster in two steps: set `decommission: true` on it and `pulumi up`, "
              "then delete its entry")


def _message(kind: str, cluster: str, name: str, urn: str, protected: bool, disks: int) -> str:
    of = f" of cluster {cluster!r}" if cluster else ""
    if kind == "root CA":
        return (f"DANGER: the fleet root CA ({name}) is no longer in the program; deleting it "
                "re-issues every credential of every cluster. "
                + ("It is protected: `pulumi up` will stop with an error instead." if protected else
                   "It is NOT protected: the next `pulumi up` DELETES it."))
    if kind == "etcd data disk":
        if protected:
            return (f"DANGER: etcd data disk {name}{of} is no longer in the program. It is protected: "
                    "`pulumi up` will stop with an error instead of deleting etcd data. To "
                    f"{_TWO_STEPS}. To drop only this member, take it out of etcd first (`etcdctl "
                    f"member remove`), then release the disk (`pulumi state unprotect '{urn}'`).")
        return (f"DANGER: etcd data disk {name}{of} is no longer in the program and is NOT protected "
                "(its cluster was decommissioned): the next `pulumi up` DELETES it and the etcd "
                "data on it. Take an etcd snapshot first if you may need the data.")
    if kind == "etcd member":
        return (f"DANGER: etcd member {name}{of} is no longer in the program: `pulumi up` deletes "
                "its machine. Take it out of the etcd cluster first (`etcdctl member remove`): a "
                "member that just disappears still counts toward quorum.")
    what = f"cluster {cluster!r} ({name})" if kind == "cluster" else f"the etcd plane {name}{of}"
    if not disks:
        return f"DANGER: {what} is no longer in the program: `pulumi up` deletes all of it."
    if protected:
        return (f"DANGER: {what} is no longer in the program: `pulumi up` will stop with an error "
                f"on its {disks} protected etcd data disk(s) instead of deleting them; {_TWO_STEPS}.")
    return (f"DANGER: {what} is no longer in the program and its {disks} etcd data disk(s) are NOT "
            "protected (decommissioned): the next `pulumi up` DELETES the cluster's etcd data.")


def load_resources(source: Any) -> list[dict[str, Any]]:
    """Resource entries of a ``resources.json``, a synth directory holding one, a
    ``pulumi stack export`` file, their parsed JSON, or ``Resource`` records."""
    data: Any = source
    if isinstance(source, str | Path):
        path = Path(source)
        if path.is_dir():
            path = path / "resources.json"
        data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, Mapping):
        if isinstance(data.get("deployment"), Mapping):  # pulumi stack export
            data = data["deployment"].get("resources", [])
        elif isinstance(data.get("checkpoint"), Mapping):
            data = data["checkpoint"].get("latest", {}).get("resources", [])
        else:
            data = data.get("resources", [])
    entries: list[dict[str, Any]] = []
    for r in data or []:
        if isinstance(r, Mapping):
            entry = dict(r)
        else:
            to_json = getattr(r, "to_json", None)
            entry = to_json() if callable(to_json) else {}
        if isinstance(entry.get("urn"), str):
            entry.setdefault("type", rules.urn_type(entry["urn"]))
            entry.setdefault("inputs", entry.get("outputs") or {})
            entries.append(entry)
    return entries


def _kind(entry: Mapping[str, Any], root_keys: set[str]) -> str | None:
    type_ = str(entry.get("type"))
    inputs = _plain(entry.get("inputs") or {})
    options = rules.Options(urn=str(entry["urn"]))
    if type_ == "fleetform:index:Cluster":
        return "cluster"
    if type_ == "fleetform:index:EtcdDataPlane":
        return "etcd plane"
    if type_ in rules.MACHINES and rules.machine_role(type_, inputs, options) == "etcd":
        return "etcd member"
    if type_ in rules.ETCD_DISKS and (rules.tags(inputs).get("plane") == "etcd"
                                      or "fleetform:index:EtcdDataPlane" in rules.ancestry(options.urn)):
        return "etcd data disk"
    if type_ == rules.TLS_SELF_SIGNED and rules._truthy(inputs.get("isCaCertificate")):
        return "root CA"
    if entry["urn"] in root_keys:
        return "root CA"
    return None


def _clusters(entries: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """urn -> cluster name: a resource's ``cluster`` tag, and for components (which carry
    no tags) the cluster of their tagged descendants."""
    parent = {str(e["urn"]): e.get("parent") for e in entries}
    found: dict[str, str] = {}
    for e in entries:
        cluster = rules.tags(e.get("inputs") or {}).get("cluster")
        urn: Any = e["urn"]
        while cluster and urn and urn not in found:
            found[urn] = cluster
            urn = parent.get(urn)
    return found


def pending_removals(previous: Any, current: Any) -> list[PendingRemoval]:
    """Stateful resources of ``previous`` that ``current`` no longer has (aliases count).

    ``previous``: a ``resources.json`` path, a synth directory, a ``pulumi stack export``
    file or the parsed data; ``current``: ``ProgramResult.resources`` (or the same
    forms). Returns one loud entry per etcd member, etcd data disk, etcd plane, cluster
    and root CA certificate/key that a ``pulumi up`` of ``current`` would delete.
    """
    before = load_resources(previous)
    now = load_resources(current)
    kept = {e["urn"] for e in now}
    for e in now:
        kept.update(str(a) for a in e.get("aliases") or ())
    root_keys = {d for e in before if e.get("type") == rules.TLS_SELF_SIGNED
                 and rules._truthy((e.get("inputs") or {}).get("isCaCertificate"))
                 for d in e.get("dependencies") or () if rules.urn_type(str(d)) == rules.TLS_PRIVATE_KEY}
    clusters = _clusters(before)
    gone = [(e, kind) for e in before if e["urn"] not in kept
            for kind in [_kind(e, root_keys)] if kind is not None]
    disks: dict[str, list[bool]] = {}  # cluster -> protect of each etcd disk going away
    for e, kind in gone:
        if kind == "etcd data disk":
            disks.setdefault(clusters.get(e["urn"], ""), []).append(bool(e.get("protect")))
    removals: list[PendingRemoval] = []
    for e, kind in gone:
        urn = str(e["urn"])
        cluster = "" if kind == "root CA" else clusters.get(urn, "")
        flags = disks.get(cluster, []) if kind in ("cluster", "etcd plane") else [bool(e.get("protect"))]
        protected = all(flags) if kind != "etcd member" else False
        name = urn.split("::", 3)[3] if urn.count("::") >= 3 else urn
        removals.append(PendingRemoval(kind, cluster, urn, protected,
                                       _message(kind, cluster, name, urn, protected, len(flags))))
    order = {"root CA": 0, "cluster": 1, "etcd plane": 2, "etcd data disk": 3, "etcd member": 4}
    return sorted(removals, key=lambda r: (order[r.kind], r.cluster, r.urn))
