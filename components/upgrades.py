"""The fleet's upgrade gate: what the last `pulumi up` applied, kept in the engine's state.

The stack file holds only the current wave. The gate (its provider is
``components.dynamic.UpgradeGateProvider``) holds, after every successful `pulumi up`,
the fleet target, the wave, each wave's soak and required clusters, each cluster's
Kubernetes version, and when the wave started; its ``check`` fails the preview on an
illegal change (``fleetform.plan.upgrades.gate_refusals``): advancing past a wave that
was not applied or has not soaked, skipping a wave, a version jump of more than one
minor, a version raised by hand.

The gate depends on every cluster of the stack, so it is updated last: when any
cluster's update fails, the state still says the wave was not applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi

from components.dynamic import UpgradeGate as _Gate
from fleetform.plan.model import FleetPlan
from fleetform.plan.upgrade_gate import GateState


def gate_inputs(plan: FleetPlan, cluster: str | None = None) -> dict[str, Any]:
    """What the gate of ``plan``'s stack holds: the upgrade's state, or (no ``upgrades``
    block) just every cluster's version. ``cluster``: the gate of that cluster's own
    stack (``stacks: per-cluster``), which holds that cluster's part only."""
    if plan.upgrades is not None:
        state = plan.upgrades.gate_state()
    else:
        state = GateState.without_upgrades({c.name: c.target_version for c in plan.clusters if c.serving})
    if cluster is not None:
        state = state.of_cluster(cluster)
    return state.to_json()


def upgrade_gate(name: str, plan: FleetPlan, after: Sequence[pulumi.Resource],
                 opts: pulumi.ResourceOptions | None = None, *, cluster: str | None = None) -> pulumi.Resource:
    """The gate of ``plan``'s stack (``cluster``: of that cluster's stack), registered
    after (and depending on) ``after``."""
    opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=list(after)))
    return _Gate(name, {**gate_inputs(plan, cluster), "since": None}, opts)
