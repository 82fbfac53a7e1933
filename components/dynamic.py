"""Every dynamic provider of the program, in one small module whose names never move.

The SDK stores a dynamic provider in the engine's state as a dill pickle of its
instance. A class defined in an importable module is pickled *by reference*
(``components.dynamic.MigrationGateProvider``), so `pulumi refresh`, `pulumi destroy`
and every later preview of a stack load it by importing this module in the dynamic
provider's own process. Hence the rules here:

- the provider classes below keep their module and their names for as long as any
  stack may hold them (``tests/components/test_dynamic_providers.py`` loads recorded
  serialized forms in a fresh interpreter);
- they hold no state of their own (an instance pickles to the class reference alone),
  and import nothing at module level but the SDK and pure planning functions;
- they hold no cloud or cluster credentials: both guards only compare what the engine
  hands them (the last `pulumi up`'s state and this one's inputs).

``MigrationGate`` remembers a cluster's migration phase and refuses an illegal jump
(``check_transition``) before anything is created; ``PluginGuard`` remembers the
network plugin a cluster was built with and refuses a switch on a live cluster;
``ImagePin`` remembers the machine image an incarnation was first built from;
``UpgradeGate`` remembers what the fleet's last `pulumi up` applied (versions, upgrade
wave, its start) and refuses an illegal wave advance or version jump
(``fleetform.plan.upgrades.gate_refusals``); ``RotationGate`` remembers a cluster's CA rotation phase and refuses an illegal change
(``fleetform.plan.rotation.check_transition``): ``phase: complete`` before ``prepare``
was applied, a skipped generation, a rotation while the cluster migrates.
"""

from __future__ import annotations

import time
from typing import Any

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)

from fleetform.plan import rotation
from fleetform.plan.migrate import PhaseState, check_transition
from fleetform.plan.upgrade_gate import GateState, gate_refusals, gate_since

# The state a gate keeps (its inputs are exactly these keys).
GATE_FIELDS = ("cluster", "phase", "source", "target", "release_source", "data")
GUARD_FIELDS = ("cluster", "plugin")
CNI_DOCS = "docs/cni.md#changing-the-plugin"


def _pick(props: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: props.get(k) for k in keys}


# ---------------------------------------------------------------- migration gate


def gate_changes(olds: dict[str, Any], news: dict[str, Any]) -> bool:
    """Whether the gate's state changes. Replacing a finalized migrate block by the
    target's own settings is no change at all: the cluster now runs where the move
    ended, which is what the state already says (a later move starts from there)."""
    if olds.get("phase") == "finalize" and news.get("phase") == "none" and news.get("source") == olds.get("target"):
        return False
    return any(olds.get(k) != news.get(k) for k in GATE_FIELDS)


class MigrationGateProvider(ResourceProvider):
    """State: a cluster's migration phase. ``check`` refuses an illegal phase change."""

    # Touches nothing outside the engine's state: the offline engine runs it too.
    runs_offline = True

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        why = check_transition(str(news.get("cluster")), PhaseState.from_json(olds or {}),
                               PhaseState.from_json(news))
        return CheckResult(news, [CheckFailure("phase", why)] if why else [])

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=f"{props['cluster']}/migration", outs=_pick(props, GATE_FIELDS))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        # Nothing outside the engine's state: a refresh finds exactly what it holds.
        return ReadResult(id_, _pick(props, GATE_FIELDS))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return DiffResult(changes=gate_changes(olds, news))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=_pick(news, GATE_FIELDS))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        # The gate only exists in the state; removing it forgets the phase.
        return None


class MigrationGate(pulumi.dynamic.Resource):
    phase: pulumi.Output[str]

    def __init__(self, name: str, inputs: dict[str, Any], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(MigrationGateProvider(), name, _pick(inputs, GATE_FIELDS), opts)


# ---------------------------------------------------------------- network plugin guard


def plugin_change_message(cluster: str, old: str, new: str) -> str:
    return (f"cluster {cluster!r} runs {old}; switching a live cluster's network plugin to {new} is not "
            f"supported (every pod would lose its network, and {old}'s state on the nodes stays behind). "
            f"Keep cni.plugin: {old}, or migrate: add a new cluster with cni.plugin: {new}, move the "
            f"workloads, then decommission {cluster!r} (see {CNI_DOCS})")


class PluginGuardProvider(ResourceProvider):
    """State: the plugin the cluster was built with. ``check`` refuses another one."""

    # Touches nothing outside the engine's state: the offline engine runs it too.
    runs_offline = True

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        old, new = (olds or {}).get("plugin"), news.get("plugin")
        if old and new and old != new:
            return CheckResult(news, [CheckFailure("plugin", plugin_change_message(str(news["cluster"]), old, new))])
        return CheckResult(news, [])

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=f"{props['cluster']}/{props['plugin']}", outs=_pick(props, GUARD_FIELDS))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_, _pick(props, GUARD_FIELDS))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return DiffResult(changes=any(olds.get(k) != news.get(k) for k in GUARD_FIELDS))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=_pick(news, GUARD_FIELDS))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None


class PluginGuard(pulumi.dynamic.Resource):
    plugin: pulumi.Output[str]

    def __init__(self, name: str, cluster: str, plugin: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(PluginGuardProvider(), name, {"cluster": cluster, "plugin": plugin}, opts)


# ---------------------------------------------------------------- machine image pin

IMAGE_FIELDS = ("scope", "image", "latest", "pinned")


class ImagePinProvider(ResourceProvider):
    """State: the machine image of one incarnation, resolved once.

    Inputs: ``latest`` (what the cloud's image lookup answers on this run) and ``pinned``
    (an image the stack file names, or empty). The image is ``pinned`` when given, else
    the ``latest`` of the run that created the pin; a newer ``latest`` on a later run is
    no change at all (so no machine is replaced), only an edit of ``pinned`` moves it."""

    # Touches nothing outside the engine's state: the offline engine runs it too.
    runs_offline = True

    def create(self, props: dict[str, Any]) -> CreateResult:
        image = props.get("pinned") or props["latest"]
        return CreateResult(id_=f"{props['scope']}/image", outs={**_pick(props, IMAGE_FIELDS), "image": image})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_, _pick(props, IMAGE_FIELDS))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return DiffResult(changes=(olds.get("pinned") or "") != (news.get("pinned") or ""))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        # A new pin moves the image; dropping the pin keeps the image in use.
        image = news.get("pinned") or olds.get("image") or news["latest"]
        return UpdateResult(outs={**_pick(news, IMAGE_FIELDS), "image": image})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None


class ImagePin(pulumi.dynamic.Resource):
    image: pulumi.Output[str]
    latest: pulumi.Output[str]

    def __init__(self, name: str, scope: str, latest: pulumi.Input[str], pinned: str | None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(ImagePinProvider(), name,
                         {"scope": scope, "latest": latest, "pinned": pinned or "", "image": None}, opts)


# ---------------------------------------------------------------- CA rotation gate

ROTATION_FIELDS = ("cluster", "generation", "phase", "migrating")


def rotation_gate_inputs(cluster: str, state: rotation.RotationState, migrating: bool) -> dict[str, Any]:
    return {"cluster": cluster, **state.to_json(), "migrating": migrating}


def rotation_gate_check(olds: dict[str, Any], news: dict[str, Any]) -> str | None:
    """Why the gate refuses going from ``olds`` to ``news`` (None: it does not)."""
    new = rotation.RotationState.from_json(news)
    if new is None:
        return f"not a rotation state: {news!r}"
    return rotation.check_transition(str(news.get("cluster")), rotation.RotationState.from_json(olds or {}), new,
                                     migrating=bool(news.get("migrating")))


class RotationGateProvider(ResourceProvider):
    """State: a cluster's CA rotation (generation, phase). ``check`` refuses an illegal change."""

    # Touches nothing outside the engine's state: the offline engine runs it too.
    runs_offline = True

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        why = rotation_gate_check(olds, news)
        return CheckResult(news, [CheckFailure("phase", why)] if why else [])

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=f"{props['cluster']}/ca-rotation", outs=_pick(props, ROTATION_FIELDS))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_, _pick(props, ROTATION_FIELDS))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # Whether a migration runs is context, not state: only the rotation is remembered.
        return DiffResult(changes=any(olds.get(k) != news.get(k) for k in ("generation", "phase")))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=_pick(news, ROTATION_FIELDS))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        # The gate only exists in the state; removing it forgets the phase.
        return None


class RotationGate(pulumi.dynamic.Resource):
    phase: pulumi.Output[str]

    def __init__(self, name: str, cluster: str, state: rotation.RotationState, migrating: bool,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(RotationGateProvider(), name, rotation_gate_inputs(cluster, state, migrating), opts)


# ---------------------------------------------------------------- fleet upgrade gate

UPGRADE_FIELDS = ("target", "wave", "waves", "soak", "required", "versions", "since", "upgraded")


class UpgradeGateProvider(ResourceProvider):
    """State: what the last `pulumi up` applied. ``check`` refuses an illegal edit and
    records when the current wave started (so it is not run offline: it reads the clock)."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        new = GateState.from_json(news)
        if new is None:
            return CheckResult(news, [CheckFailure("versions", "the upgrade gate needs the clusters' versions")])
        old = GateState.from_json(olds or None)
        now = time.time()
        failures = [CheckFailure(r.field, r.message) for r in gate_refusals(old, new, now)]
        # The start of the wave is part of the state: kept while (target, wave) stay.
        return CheckResult({**news, "since": gate_since(old, new, now)}, failures)

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_="upgrades", outs=_pick(props, UPGRADE_FIELDS))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_, _pick(props, UPGRADE_FIELDS))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return DiffResult(changes=any(olds.get(k) != news.get(k) for k in UPGRADE_FIELDS))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=_pick(news, UPGRADE_FIELDS))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None


class UpgradeGate(pulumi.dynamic.Resource):
    wave: pulumi.Output[str]

    def __init__(self, name: str, inputs: dict[str, Any], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(UpgradeGateProvider(), name, inputs, opts)
