"""The upgrade gate's rules, pure: what the last `pulumi up` applied (:class:`GateState`)
against what this one would, and why a change is refused.

The gate itself is a dynamic resource (components/upgrades.py, components/dynamic.py)
whose ``check`` calls :func:`check_gate`; ``fleetform upgrade plan --against DIR``
applies the same function to a previous synth.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from fleetform.plan.versions_skew import DOCS, control_plane_step_problem


def human(seconds: int) -> str:
    """129600 -> '1d12h' (the stack file's duration form)."""
    parts, rest = [], max(seconds, 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts) or "0s"



@dataclass(frozen=True)
class GateState:
    """What the upgrade gate remembers between two `pulumi up`s (no upgrades: target '')."""

    target: str
    wave: str
    waves: tuple[str, ...]
    soak: Mapping[str, int]
    required: Mapping[str, tuple[str, ...]]
    versions: Mapping[str, str]
    # When the current (target, wave) was first applied (epoch seconds; set by the gate).
    since: float | None = None
    # The clusters whose version comes from the fleet upgrade (not their own setting).
    upgraded: tuple[str, ...] = ()

    @staticmethod
    def without_upgrades(versions: Mapping[str, str]) -> GateState:
        return GateState("", "", (), {}, {}, dict(versions))

    def of_cluster(self, cluster: str) -> GateState:
        """The part one cluster stack's gate holds (``stacks: per-cluster``): the fleet's
        rollout (target, waves, soaks) with only this cluster's version and membership, so
        its refusals are about this cluster: a version jump, a hand edit, a skipped wave,
        and advancing past a wave this cluster is required in but did not apply."""
        return GateState(self.target, self.wave, self.waves, dict(self.soak),
                         {w: tuple(c for c in req if c == cluster) for w, req in self.required.items()},
                         {c: v for c, v in self.versions.items() if c == cluster}, self.since,
                         tuple(c for c in self.upgraded if c == cluster))

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "wave": self.wave, "waves": list(self.waves),
                "soak": dict(self.soak), "required": {k: list(v) for k, v in self.required.items()},
                "versions": dict(self.versions), "since": self.since, "upgraded": list(self.upgraded)}

    @staticmethod
    def from_json(d: Mapping[str, Any] | None) -> GateState | None:
        if not d or "versions" not in d:
            return None
        since = d.get("since")
        return GateState(str(d.get("target") or ""), str(d.get("wave") or ""),
                         tuple(d.get("waves") or ()), {k: int(v) for k, v in (d.get("soak") or {}).items()},
                         {k: tuple(v) for k, v in (d.get("required") or {}).items()},
                         {k: str(v) for k, v in (d.get("versions") or {}).items()},
                         float(since) if since is not None else None, tuple(d.get("upgraded") or ()))


@dataclass(frozen=True)
class Refusal:
    """One reason the gate refuses a change: ``field`` is the gate property (and the
    stack-file key) at fault: ``versions`` (of ``cluster``), ``wave`` or ``target``."""

    field: Literal["versions", "wave", "target"]
    message: str
    cluster: str | None = None


def check_gate(old: GateState | None, new: GateState, now: float | None) -> list[str]:
    """Why going from ``old`` (the state of the last `pulumi up`; None: a new stack) to
    ``new`` is refused; empty when it is allowed. ``now`` None: the soak is not checked
    (a synth directory records no apply time)."""
    return [r.message for r in gate_refusals(old, new, now)]


def gate_refusals(old: GateState | None, new: GateState, now: float | None) -> list[Refusal]:
    if old is None:
        return []
    out: list[Refusal] = []
    for cluster, version in sorted(new.versions.items()):
        before = old.versions.get(cluster)
        if before is None or before == version:
            continue
        if (why := control_plane_step_problem(before, version)) is not None:
            out.append(Refusal("versions", f"cluster {cluster!r} runs {before}: {why}", cluster))
        elif cluster not in new.upgraded:
            # An edit of the cluster's own version: its machines would boot at the new
            # version (workers replaced by their groups) before its control plane runs it.
            out.append(Refusal("versions", f"cluster {cluster!r} runs {before}: raise it to {version} through "
                                           "`upgrades.target` (the control plane first, in place, wave by wave), "
                                           "not by editing its kubernetes_version; write that only once the "
                                           f"cluster runs the version; see {DOCS}", cluster))
    if not new.target:
        if old.target and old.wave and old.waves and old.wave != old.waves[-1]:
            out.append(Refusal("target", f"the upgrade to {old.target} is in wave {old.wave!r}, not the last: "
                                         "removing the `upgrades` block leaves the fleet half upgraded; finish "
                                         f"the waves (or hold the rest) first; see {DOCS}"))
        return out
    if new.wave not in new.waves:
        return [*out, Refusal("wave", f"no wave named {new.wave!r}")]
    new_i = new.waves.index(new.wave)
    if new.target != old.target or new.waves[: new_i + 1] != old.waves[: new_i + 1] or old.wave not in old.waves:
        # A new rollout (or waves reordered up to here): it starts at the first wave.
        if new_i != 0:
            out.append(Refusal("wave", f"a rollout to {new.target} starts at the first wave {new.waves[0]!r}, "
                                       f"not {new.wave!r}; see {DOCS}"))
        return out
    old_i = old.waves.index(old.wave)
    if new_i <= old_i:
        return out
    if new_i > old_i + 1:
        skipped = ", ".join(repr(w) for w in new.waves[old_i + 1:new_i])
        out.append(Refusal("wave", f"`current_wave: {new.wave}` skips wave(s) {skipped}: advance one wave at a "
                                   f"time (next: {new.waves[old_i + 1]!r}); see {DOCS}"))
        return out
    # Required by the last run, or by this one (a skip or hold removed, a cluster
    # relabelled into the wave, in the same edit as the advance).
    required = dict.fromkeys([*old.required.get(old.wave, ()), *new.required.get(old.wave, ())])
    unapplied = [c for c in required if old.versions.get(c) != new.target]
    if unapplied:
        left = ", ".join(f"{c} at {old.versions.get(c, 'nothing')}" for c in unapplied)
        out.append(Refusal("wave", f"wave {old.wave!r} has not been applied: {', '.join(unapplied)} "
                                   f"{'does' if len(unapplied) == 1 else 'do'} not run {new.target} yet (the "
                                   f"last `pulumi up` left {left}); apply wave {old.wave!r} before "
                                   f"`current_wave: {new.wave}`"))
    soak = old.soak.get(old.wave, 0)
    if now is None:
        return out
    if old.since is None:
        if soak:
            out.append(Refusal("wave", f"wave {old.wave!r} has no recorded start: run `pulumi up` with it and "
                                       f"let it soak {human(soak)} before `current_wave: {new.wave}`"))
    elif now - old.since < soak:
        remaining = int(soak - (now - old.since))
        out.append(Refusal("wave", f"wave {old.wave!r} soaks {human(soak)} and was applied "
                                   f"{human(int(now - old.since))} ago: `current_wave: {new.wave}` is refused for "
                                   f"another {human(remaining)} (the fast path `urgent` shortens the soak); see {DOCS}"))
    return out


def gate_since(old: GateState | None, new: GateState, now: float) -> float:
    """The start of the new state's wave: kept while (target, wave) stay, else now."""
    if old is not None and old.since is not None and (old.target, old.wave) == (new.target, new.wave):
        return old.since
    return now
