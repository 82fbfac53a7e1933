"""The fleet's upgrade gate: what the last `pulumi up` applied, kept in the engine's state.

The stack file holds only the current wave. The gate holds, after every successful
`pulumi up`, the fleet target, the wave, each wave's soak and required clusters, each
cluster's Kubernetes version, and when the wave started. Its provider's ``check``
receives that state (``olds``) and this run's (``news``) and fails the preview on an
illegal change (``fleetform.plan.upgrades.check_gate``): advancing past a wave that was
not applied or has not soaked, skipping a wave, a version jump of more than one minor.

The gate depends on every cluster of the stack, so it is updated last: when any
cluster's update fails, the state still says the wave was not applied.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ResourceProvider,
    UpdateResult,
)

from fleetform.plan.model import FleetPlan
from fleetform.plan.upgrades import GateState, gate_refusals, gate_since

_FIELDS = ("target", "wave", "waves", "soak", "required", "versions", "since", "upgraded")


class _GateProvider(ResourceProvider):
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
        return CreateResult(id_="upgrades", outs={k: props.get(k) for k in _FIELDS})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return DiffResult(changes=any(olds.get(k) != news.get(k) for k in _FIELDS))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs={k: news.get(k) for k in _FIELDS})


def gate_inputs(plan: FleetPlan) -> dict[str, Any]:
    """What the gate of ``plan``'s stack holds: the upgrade's state, or (no ``upgrades``
    block) just every cluster's version."""
    if plan.upgrades is not None:
        state = plan.upgrades.gate_state()
    else:
        state = GateState.without_upgrades({c.name: c.target_version for c in plan.clusters if c.serving})
    return state.to_json()


class UpgradeGate(pulumi.dynamic.Resource):
    wave: pulumi.Output[str]

    def __init__(self, name: str, plan: FleetPlan, after: Sequence[pulumi.Resource],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=list(after)))
        super().__init__(_GateProvider(), name, {**gate_inputs(plan), "since": None}, opts)
