"""A resource the provider refuses while the program runs, located in the stack file.

The offline engine asks the provider mocks for every resource; a mock that refuses the
inputs (a value the provider's own checks reject) raises ``ValueError``. The engine
turns that into ``ResourceRefused`` with the resource's URN, and the CLI reports it as
``<file>: <path>: <message>`` at the cluster the resource belongs to (resource names
start with the cluster's incarnation key or its name), else at the fleet: the input
cannot be deployed as written, whatever `validate` said, so it is the user's to change
(exit 2), not an internal error. Anything else a program run raises stays an internal
error: a bug of ours.
"""

from __future__ import annotations

from fleetform.plan.model import FleetPlan
from fleetform.spec.errors import Problem
from fleetform.spec.load import origins
from fleetform.spec.models import FleetSpec


class ResourceRefused(Exception):
    """The provider (mock) refused a resource's inputs."""

    def __init__(self, urn: str, type_: str, name: str, reason: str) -> None:
        self.urn, self.type, self.name, self.reason = urn, type_, name, reason
        super().__init__(f"{type_} {name!r}: {reason}")


def owner(plan: FleetPlan, resource_name: str) -> str | None:
    """The cluster a resource belongs to: the longest incarnation key or cluster name
    its name starts with (names derive from those keys: ``names.child``)."""
    best: tuple[int, str] | None = None
    for c in plan.clusters:
        for prefix in (c.key, c.name):
            if (resource_name == prefix or resource_name.startswith(prefix + "-")) and \
                    (best is None or len(prefix) > best[0]):
                best = (len(prefix), c.name)
    return best[1] if best else None


def locate(spec: FleetSpec, plan: FleetPlan, refused: ResourceRefused) -> Problem:
    where = origins(spec)
    cluster = owner(plan, refused.name)
    loc = where.cluster_loc(cluster) if cluster is not None else where.fleet_loc()
    whose = f"cluster {cluster!r}" if cluster is not None else "the fleet"
    return loc.problem(f"{whose} cannot be deployed: the provider refuses {refused.type} {refused.name!r}: "
                       f"{refused.reason}")
