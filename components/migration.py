"""What belongs to a cluster's name rather than to one incarnation of it: the public
``api.<cluster>`` record (pointed at the serving incarnation) and the gate that
remembers its migration phase in the engine's state.

The gate's ``check`` receives the phase of the last `pulumi up` (``olds``) and of this
one (``news``) and fails the preview on an illegal jump (``fleetform.plan.migrate
.check_transition``), so a skipped phase is refused before anything is created.
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

from components.cluster import Cluster
from fleetform.plan import names
from fleetform.plan.migrate import PhaseState, check_transition
from fleetform.plan.model import ClusterPlan

_FIELDS = ("cluster", "phase", "source", "target", "release_source", "data")


class _GateProvider(ResourceProvider):
    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        why = check_transition(str(news.get("cluster")), PhaseState.from_json(olds or {}),
                               PhaseState.from_json(news))
        return CheckResult(news, [CheckFailure("phase", why)] if why else [])

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=f"{props['cluster']}/migration", outs={k: props.get(k) for k in _FIELDS})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return DiffResult(changes=gate_changes(olds, news))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs={k: news.get(k) for k in _FIELDS})


def gate_inputs(plan: ClusterPlan) -> dict[str, Any]:
    """What the gate of ``plan``'s cluster holds: its migration, or phase `none`."""
    m = plan.migration
    if m is None:
        return {"cluster": plan.name, "phase": "none", "source": plan.key, "target": "",
                "release_source": False, "data": "none"}
    return {"cluster": m.cluster, "phase": m.phase, "source": m.source_key, "target": m.target_key,
            "release_source": m.release_source, "data": m.data}


def gate_changes(olds: dict[str, Any], news: dict[str, Any]) -> bool:
    """Whether the gate's state changes. Replacing a finalized migrate block by the
    target's own settings is no change at all: the cluster now runs where the move
    ended, which is what the state already says (a later move starts from there)."""
    if olds.get("phase") == "finalize" and news.get("phase") == "none" and news.get("source") == olds.get("target"):
        return False
    return any(olds.get(k) != news.get(k) for k in _FIELDS)


class MigrationGate(pulumi.dynamic.Resource):
    phase: pulumi.Output[str]

    def __init__(self, name: str, plan: ClusterPlan, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(_GateProvider(), name, gate_inputs(plan), opts)


class ClusterName(pulumi.ComponentResource):
    """A logical cluster: its public API name and its migration gate."""

    def __init__(self, name: str, incarnations: dict[str, Cluster], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleetform:index:ClusterName", name, None, opts)
        serving = next(c for c in incarnations.values() if c.plan.serving)
        # Every cluster has one: a move starts from what it holds (phase `none`).
        self.gate = MigrationGate(names.migration_gate(name), serving.plan, pulumi.ResourceOptions(parent=self))
        self.public_record: pulumi.Resource | None = None
        if serving.plan.api.public:
            # Handed between incarnations at cutover: in one zone the name cannot exist
            # twice, so a replacement deletes the old record first (seconds without it).
            self.public_record = serving.adapter.public_dns_record(
                names.child(name, "api-public-dns"), serving.plan.api.dns,
                serving.control_plane.load_balancer, self, replace_first=True)
        self.register_outputs({"serving": serving.plan.key})
