"""What belongs to a cluster's name rather than to one incarnation of it: the public
``api.<cluster>`` record (pointed at the serving incarnation) and the gate that
remembers its migration phase in the engine's state (``components/dynamic.py``).

The gate's ``check`` receives the phase of the last `pulumi up` (``olds``) and of this
one (``news``) and fails the preview on an illegal jump (``fleetform.plan.migrate
.check_transition``), so a skipped phase is refused before anything is created.
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.cluster import Cluster
from components.dynamic import MigrationGate, RotationGate
from fleetform.plan import names
from fleetform.plan.model import ClusterPlan


def gate_inputs(plan: ClusterPlan) -> dict[str, Any]:
    """What the gate of ``plan``'s cluster holds: its migration, or phase `none`."""
    m = plan.migration
    if m is None:
        return {"cluster": plan.name, "phase": "none", "source": plan.key, "target": "",
                "release_source": False, "data": "none"}
    return {"cluster": m.cluster, "phase": m.phase, "source": m.source_key, "target": m.target_key,
            "release_source": m.release_source, "data": m.data}


class ClusterName(pulumi.ComponentResource):
    """A logical cluster: its public API name and its migration gate."""

    def __init__(self, name: str, incarnations: dict[str, Cluster], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleetform:index:ClusterName", name, None, opts)
        serving = next(c for c in incarnations.values() if c.plan.serving)
        # Every cluster has one: a move starts from what it holds (phase `none`).
        self.gate = MigrationGate(names.migration_gate(name), gate_inputs(serving.plan),
                                  pulumi.ResourceOptions(parent=self))
        # And its CA rotation: every incarnation shares the cluster's CAs.
        # Migrating: two incarnations run side by side (not in finalize: only the target is left).
        moving = serving.plan.migration is not None and serving.plan.migration.phase != "finalize"
        self.rotation_gate = RotationGate(names.rotation_gate(name), name, serving.identity.rotation, moving,
                                          pulumi.ResourceOptions(parent=self))
        self.public_record: pulumi.Resource | None = None
        if serving.plan.api.public:
            # Handed between incarnations at cutover: in one zone the name cannot exist
            # twice, so a replacement deletes the old record first (seconds without it).
            self.public_record = serving.adapter.public_dns_record(
                names.child(name, "api-public-dns"), serving.plan.api.dns,
                serving.control_plane.load_balancer, self, replace_first=True)
        self.register_outputs({"serving": serving.plan.key})
