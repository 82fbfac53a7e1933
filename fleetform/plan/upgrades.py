"""Fleet upgrades as pure functions: waves, exceptions, each cluster's version.

``plan_upgrades`` reads the ``upgrades`` block (spec/upgrades.py) and decides, per
cluster, the version this `pulumi up` gives it:

==========================  ==============================================================
the cluster                 its version
==========================  ==============================================================
in a wave before or at      the target (or its hold's version); the in-cluster roll
``current_wave``            (addons/upgrades.py) takes it there replica by replica
in a later wave             its own ``kubernetes_version`` (unchanged)
skipping its wave           its own ``kubernetes_version``
in no wave                  its own ``kubernetes_version`` (a warning says so)
==========================  ==============================================================

The stack file holds only the current wave, so what the last `pulumi up` applied and
when is kept in the engine's state by an ``UpgradeGate`` (components/upgrades.py, components/dynamic.py) whose
``check`` hands the old and new :class:`GateState` to ``check_gate`` (upgrade_gate.py): advancing past
a wave that was not applied, before its soak is over, or by more than one wave, and a
version jump of more than one minor, fail the preview before anything changes.
``fleetform upgrade plan --against DIR`` applies the same function to a previous synth.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from fleetform.catalog.versions import resolve_kubernetes_version
from fleetform.plan.upgrade_gate import GateState, human
from fleetform.plan.versions_skew import (
    DOCS,
    SkewError,
    Version,
    control_plane_step_problem,
    describe_path,
    etcd_problem,
    upgrade_path,
)
from fleetform.spec.errors import FleetError, Loc, Problem
from fleetform.spec.load import origins
from fleetform.spec.messages import did_you_mean
from fleetform.spec.models import ClusterSpec, FleetSpec
from fleetform.spec.upgrades import UpgradesSpec, duration_seconds

Status = Literal["rolling", "done", "pending", "held", "skipped", "unassigned", "current"]


def today_utc() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


@dataclass(frozen=True)
class Wave:
    name: str
    index: int
    clusters: tuple[str, ...]  # every cluster the wave selects, in fleet order
    soak_seconds: int
    # The clusters the wave must have applied before the next wave starts (not held
    # below the target, not skipping).
    required: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "clusters": list(self.clusters), "required": list(self.required),
                "soak_seconds": self.soak_seconds}


@dataclass(frozen=True)
class ClusterUpgrade:
    cluster: str
    current: str  # its own kubernetes_version, resolved
    target: str  # the fleet's
    version: str  # what this `pulumi up` gives it
    path: tuple[str, ...]  # current -> version, minor by minor
    remaining: tuple[str, ...]  # version -> target, for what is left after this run
    wave: str | None
    status: Status
    image: str | None  # the machine image new machines boot from (None: the cluster's own)
    hold: tuple[str, str, str | None] | None = None  # (version, reason, until)
    next_edit: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster, "current": self.current, "target": self.target,
            "version": self.version, "path": list(self.path), "remaining": list(self.remaining),
            "wave": self.wave, "status": self.status, "image": self.image,
            "hold": None if self.hold is None else
            {"version": self.hold[0], "reason": self.hold[1], "until": self.hold[2]},
            "next_edit": self.next_edit,
        }


@dataclass(frozen=True)
class UpgradePlan:
    target: str
    image: str | None
    current_wave: str
    waves: tuple[Wave, ...]
    clusters: tuple[ClusterUpgrade, ...]
    urgent: str | None  # the fast path's reason
    next_edit: str
    warnings: tuple[str, ...] = ()

    def cluster(self, name: str) -> ClusterUpgrade:
        return next(c for c in self.clusters if c.cluster == name)

    @property
    def wave_index(self) -> int:
        return next(w.index for w in self.waves if w.name == self.current_wave)

    def gate_state(self) -> GateState:
        return GateState(
            target=self.target, wave=self.current_wave, waves=tuple(w.name for w in self.waves),
            soak={w.name: w.soak_seconds for w in self.waves},
            required={w.name: w.required for w in self.waves},
            versions={c.cluster: c.version for c in self.clusters},
            upgraded=tuple(c.cluster for c in self.clusters if c.version != c.current))

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target, "image": self.image, "current_wave": self.current_wave,
            "urgent": self.urgent, "waves": [w.to_json() for w in self.waves],
            "clusters": [c.to_json() for c in self.clusters], "next_edit": self.next_edit,
            "warnings": list(self.warnings),
        }


# ------------------------------------------------------------------ planning


def _select(up: UpgradesSpec, spec: FleetSpec, at: Callable[..., Loc],
            problems: list[Problem]) -> dict[str, list[str]]:
    """wave -> its clusters; every selection problem located."""
    names = [c.name for c in spec.clusters]
    members: dict[str, list[str]] = {}
    owner: dict[str, tuple[str, Loc]] = {}
    for i, w in enumerate(up.waves):
        wat = lambda *p, _i=i: at("waves", _i, *p)  # noqa: E731
        if w.name in members:
            problems.append(wat("name").problem(f"duplicate wave name {w.name!r}"))
            continue
        chosen: list[tuple[str, Loc]] = []
        for j, name in enumerate(w.clusters):
            if name not in names:
                problems.append(wat("clusters", j).problem(
                    f"no cluster named {name!r} in this fleet{did_you_mean(name, names)}"))
            else:
                chosen.append((name, wat("clusters", j)))
        if w.selector:
            matched = [c.name for c in spec.clusters
                       if all(c.labels.get(k) == v for k, v in w.selector.items())]
            if not matched:
                wanted = ", ".join(f"{k}={v}" for k, v in sorted(w.selector.items()))
                problems.append(wat("selector").problem(
                    f"selects no cluster ({wanted}): no cluster carries all these labels"))
            chosen += [(n, wat("selector")) for n in matched]
        if not w.clusters and not w.selector:
            problems.append(wat().problem("a wave chooses its clusters by `clusters` or `selector`"))
        mine: list[str] = []
        for name, loc in chosen:
            if name in mine:
                continue
            if name in owner and owner[name][0] != w.name:
                problems.append(loc.problem(
                    f"cluster {name!r} is already in wave {owner[name][0]!r} ({owner[name][1].path}): "
                    "a cluster belongs to one wave"))
                continue
            owner[name] = (w.name, loc)
            mine.append(name)
        members[w.name] = [n for n in names if n in mine]
    return members


def plan_upgrades(spec: FleetSpec, *, today: dt.date | None = None) -> UpgradePlan | None:
    """The fleet's upgrade plan (None without an ``upgrades`` block). Raises FleetError
    with every located problem."""
    plan, problems = _plan(spec, today or today_utc())
    if problems:
        raise FleetError(problems)
    return plan


def upgrade_problems(spec: FleetSpec, *, today: dt.date | None = None) -> list[Problem]:
    """The located problems of the ``upgrades`` block (``validate``)."""
    return _plan(spec, today or today_utc())[1]


def _resolved(v: str, loc: Loc, problems: list[Problem]) -> str | None:
    try:
        return resolve_kubernetes_version(v.removeprefix("v"))
    except ValueError as exc:
        problems.append(loc.problem(str(exc)))
        return None


def _plan(spec: FleetSpec, today: dt.date) -> tuple[UpgradePlan | None, list[Problem]]:
    up: UpgradesSpec | None = spec.upgrades
    if up is None:
        return None, []
    where = origins(spec)
    at = lambda *p: where.fleet_loc("upgrades", *p)  # noqa: E731
    problems: list[Problem] = []

    target = _resolved(up.target.kubernetes_version, at("target", "kubernetes_version"), problems)
    if target is not None and (p := etcd_problem(target)) is not None:
        problems.append(at("target", "kubernetes_version").problem(p))
    members = _select(up, spec, at, problems)
    wave_names = [w.name for w in up.waves]
    if not wave_names:
        problems.append(at("waves").problem("a rollout needs at least one wave"))
    elif up.current_wave not in wave_names:
        problems.append(at("current_wave").problem(
            f"no wave named {up.current_wave!r}{did_you_mean(up.current_wave, wave_names)} "
            f"(waves: {', '.join(wave_names)})"))
    wave_of = {c: w for w, cs in members.items() for c in cs}

    holds: dict[str, tuple[str, str, str | None]] = {}
    skips: set[str] = set()
    seen: dict[str, int] = {}
    names = [c.name for c in spec.clusters]
    for i, e in enumerate(up.exceptions):
        eat = lambda *p, _i=i: at("exceptions", _i, *p)  # noqa: E731
        if e.cluster not in names:
            problems.append(eat("cluster").problem(
                f"no cluster named {e.cluster!r} in this fleet{did_you_mean(e.cluster, names)}"))
            continue
        if e.cluster in seen:
            problems.append(eat("cluster").problem(
                f"cluster {e.cluster!r} already has an exception (exceptions[{seen[e.cluster]}]): "
                "one per cluster"))
            continue
        seen[e.cluster] = i
        if (e.hold is None) == (e.skip is None):
            problems.append(eat().problem("an exception either holds the cluster (`hold`) or skips its "
                                          "wave (`skip`)"))
            continue
        if e.skip is not None:
            if e.skip not in wave_names:
                problems.append(eat("skip").problem(
                    f"no wave named {e.skip!r}{did_you_mean(e.skip, wave_names)}"))
            elif wave_of.get(e.cluster) != e.skip:
                mine = wave_of.get(e.cluster)
                problems.append(eat("skip").problem(
                    f"cluster {e.cluster!r} is not in wave {e.skip!r} "
                    f"({f'it is in wave {mine!r}' if mine else 'it is in no wave'}): skip the cluster's own wave"))
            else:
                skips.add(e.cluster)
            continue
        assert e.hold is not None
        h = e.hold
        if not (h.reason or "").strip():
            problems.append(eat("hold", "reason").problem(
                "a hold needs a reason (who asked for it and why), so the exception can be reviewed"))
        if h.until is not None and dt.date.fromisoformat(h.until) < today:
            problems.append(eat("hold", "until").problem(
                f"the hold of {e.cluster!r} at {h.version} expired on {h.until}: extend `until` "
                "(a reviewed decision) or remove the hold so the cluster follows its wave"))
        version = _resolved(h.version, eat("hold", "version"), problems)
        if version is None:
            continue
        current = resolve_kubernetes_version(spec.cluster(e.cluster).kubernetes_version)
        if Version.parse(version) < Version.parse(current):
            problems.append(eat("hold", "version").problem(
                f"cluster {e.cluster!r} runs {current}: a hold at {version} would downgrade it "
                "(hold at the version it runs)"))
            continue
        if target is not None and Version.parse(version) > Version.parse(target):
            problems.append(eat("hold", "version").problem(
                f"{version} is newer than the fleet target {target}: a hold keeps a cluster behind"))
            continue
        holds[e.cluster] = (version, (h.reason or "").strip(), h.until)

    if problems or target is None:
        return None, problems

    current_index = wave_names.index(up.current_wave)
    urgent_soak = duration_seconds(up.urgent.soak) if up.urgent else None
    waves: list[Wave] = []
    for i, w in enumerate(up.waves):
        soak = duration_seconds(w.soak)
        if urgent_soak is not None:
            soak = min(soak, urgent_soak)
        required = tuple(c for c in members[w.name]
                         if c not in skips and (c not in holds or holds[c][0] == target))
        waves.append(Wave(w.name, i, tuple(members[w.name]), soak, required))

    clusters: list[ClusterUpgrade] = []
    warnings: list[str] = []
    for c in spec.clusters:
        cu, cluster_problems = _cluster(c, target, up, wave_of, current_index, wave_names, holds, skips,
                                        where.cluster_loc, at)
        problems += cluster_problems
        if cu is not None:
            clusters.append(cu)
            if cu.status == "unassigned" and cu.current != target:
                warnings.append(f"cluster {c.name!r} is in no wave of `upgrades`: it stays at {cu.current}")
    if problems:
        return None, problems

    return UpgradePlan(target, up.target.image, up.current_wave, tuple(waves),
                       tuple(replace(cu, next_edit=next_edit(cu, tuple(waves), current_index)) for cu in clusters),
                       up.urgent.reason if up.urgent else None,
                       fleet_next_edit(target, tuple(waves), current_index, clusters), tuple(warnings)), problems


def _cluster(c: ClusterSpec, target: str, up: UpgradesSpec, wave_of: Mapping[str, str], current_index: int,
             wave_names: list[str], holds: Mapping[str, tuple[str, str, str | None]], skips: set[str],
             cluster_loc: Callable[..., Loc], at: Callable[..., Loc]) -> tuple[ClusterUpgrade | None, list[Problem]]:
    problems: list[Problem] = []
    current = resolve_kubernetes_version(c.kubernetes_version)
    wave = wave_of.get(c.name)
    reached = wave is not None and wave_names.index(wave) <= current_index
    hold = holds.get(c.name)
    if Version.parse(current) > Version.parse(target) and not (hold is not None):
        problems.append(cluster_loc(c.name, "kubernetes_version").problem(
            f"cluster {c.name!r} runs {current}, newer than the fleet target {target}: Kubernetes cannot be "
            "downgraded; raise upgrades.target or hold this cluster at its version"))
        return None, problems
    goal = hold[0] if hold is not None else target
    # The control plane moves one minor per `pulumi up`: the target may be one minor
    # ahead of every cluster it reaches (the message gives the whole path).
    moves = wave is not None and c.name not in skips
    if moves and (why := control_plane_step_problem(current, goal)) is not None:
        loc = (at("exceptions", next(i for i, e in enumerate(up.exceptions) if e.cluster == c.name), "hold", "version")
               if hold is not None else at("target", "kubernetes_version"))
        try:
            path = upgrade_path(current, goal)
            steps = " ".join(f"`{resolve_line(v)}`" for v in path)
            why = (f"cluster {c.name!r} runs {current}: {goal} is {Version.parse(goal).minors_after(Version.parse(current))} "
                   f"minors ahead, but the control plane moves one minor per step: take the path "
                   f"{describe_path(current, path)} (set the target to {steps} in turn, each through the waves); see {DOCS}")
        except SkewError:
            pass
        problems.append(loc.problem(why))
        return None, problems

    status: Status
    if wave is None:
        status, version = ("current" if current == target else "unassigned"), current
    elif c.name in skips:
        status, version = "skipped", current
    elif hold is not None:
        status, version = "held", hold[0] if reached else current
    elif current == target:
        status, version = "current", current
    elif not reached:
        status, version = "pending", current
    else:
        status = "rolling" if wave_names.index(wave) == current_index else "done"
        version = target
    path = upgrade_path(current, version)
    remaining = upgrade_path(version, target) if Version.parse(target) >= Version.parse(version) else ()
    image = up.target.image if version == target and status in ("rolling", "done") else None
    return ClusterUpgrade(c.name, current, target, version, path, remaining, wave, status, image, hold), problems


def resolve_line(version: str) -> str:
    """'1.36.3' -> '1.36' when that is the newest pin of its minor (how users write it)."""
    v = Version.parse(version)
    return v.line if resolve_kubernetes_version(v.line) == version else version


def next_edit(cu: ClusterUpgrade, waves: tuple[Wave, ...], current: int) -> str:
    """What the next edit of the stack file changes for this cluster."""
    wave_index = {w.name: w.index for w in waves}
    if cu.status == "rolling":
        text = f"this `pulumi up` rolls it {describe_path(cu.current, cu.path)} in place"
    elif cu.status == "done":
        text = f"at {cu.version} since wave {cu.wave!r}"
    elif cu.status == "current":
        text = "already at the target"
    elif cu.status == "pending":
        assert cu.wave is not None
        if wave_index[cu.wave] == current + 1:
            text = f"the next edit (`current_wave: {cu.wave}`) rolls it {describe_path(cu.current, upgrade_path(cu.current, cu.target))}"
        else:
            text = f"waits for wave {cu.wave!r}"
    elif cu.status == "held":
        assert cu.hold is not None
        until = f" until {cu.hold[2]}" if cu.hold[2] else ""
        text = f"held at {cu.hold[0]}{until} ({cu.hold[1]}); removing the hold rolls it to {cu.target} with its wave"
    elif cu.status == "skipped":
        text = f"sits out wave {cu.wave!r}; removing the skip rolls it to {cu.target}" + (
            " at once (its wave is reached)" if cu.wave is not None and wave_index[cu.wave] <= current else "")
    else:
        text = "in no wave: add it to one to upgrade it"
    return text


def fleet_next_edit(target: str, waves: tuple[Wave, ...], i: int, clusters: list[ClusterUpgrade]) -> str:
    """The edit that moves the rollout on, and when the gate allows it."""
    wave = waves[i]
    if i + 1 < len(waves):
        nxt = waves[i + 1]
        moving = [c.cluster for c in clusters if c.wave == nxt.name and c.status == "pending"]
        return (f"`current_wave: {nxt.name}` once wave {wave.name!r} is applied and has soaked "
                f"{human(wave.soak_seconds)} (the gate refuses it earlier): rolls "
                f"{', '.join(moving) or 'no cluster'} to {target}")
    behind = [c.cluster for c in clusters if c.version != target]
    tail = (f"; still behind: {', '.join(behind)} (holds, skips, no wave)" if behind else "")
    return (f"the last wave: once it has soaked {human(wave.soak_seconds)}, write "
            f"`kubernetes_version: {resolve_line(target)}` where the clusters' version is set (no "
            f"cluster's version changes; new machines boot at it) before the next target{tail}")
