"""The gate that remembers each cluster's CA rotation phase in the engine's state.

Like the migration gate (components/migration.py): its ``check`` receives the state of
the last `pulumi up` (``olds``) and of this one (``news``) and fails the preview on an
illegal change (``fleetform.plan.rotation.check_transition``), so ``phase: complete``
without ``phase: prepare`` applied first, a skipped generation, or a rotation started
while the cluster migrates is refused before anything is created.
"""

from __future__ import annotations

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

from fleetform.plan.rotation import RotationState, check_transition

_FIELDS = ("cluster", "generation", "phase", "migrating")


def gate_inputs(cluster: str, state: RotationState, migrating: bool) -> dict[str, Any]:
    return {"cluster": cluster, **state.to_json(), "migrating": migrating}


def gate_check(olds: dict[str, Any], news: dict[str, Any]) -> str | None:
    """Why the gate refuses going from ``olds`` to ``news`` (None: it does not)."""
    new = RotationState.from_json(news)
    if new is None:
        return f"not a rotation state: {news!r}"
    return check_transition(str(news.get("cluster")), RotationState.from_json(olds or {}), new,
                            migrating=bool(news.get("migrating")))


class _GateProvider(ResourceProvider):
    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        why = gate_check(olds, news)
        return CheckResult(news, [CheckFailure("phase", why)] if why else [])

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=f"{props['cluster']}/ca-rotation", outs={k: props.get(k) for k in _FIELDS})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # Whether a migration runs is context, not state: only the rotation is remembered.
        return DiffResult(changes=any(olds.get(k) != news.get(k) for k in ("generation", "phase")))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs={k: news.get(k) for k in _FIELDS})


class RotationGate(pulumi.dynamic.Resource):
    phase: pulumi.Output[str]

    def __init__(self, name: str, cluster: str, state: RotationState, migrating: bool,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(_GateProvider(), name, gate_inputs(cluster, state, migrating), opts)
