"""The fleet's log destinations as data: one per cloud the fleet runs on."""

from __future__ import annotations

from dataclasses import dataclass

from fleetform.plan import names
from fleetform.plan.model import FleetPlan
from fleetform.spec.logging import LoggingSpec


@dataclass(frozen=True)
class Destination:
    cloud: str
    region: str  # AWS region of the log group / GCP location of the log bucket
    name: str  # AWS log group name / GCP log bucket id
    retention_days: int


@dataclass(frozen=True)
class LoggingPlan:
    destinations: tuple[Destination, ...]

    def on(self, cloud: str) -> Destination | None:
        return next((d for d in self.destinations if d.cloud == cloud), None)


def plan_logging(spec: LoggingSpec, plan: FleetPlan, default_aws_region: str) -> LoggingPlan:
    if not spec.enabled:
        return LoggingPlan(())
    clouds = sorted({c.cloud for c in plan.clusters})
    out = []
    for cloud in clouds:
        if cloud == "aws":
            out.append(Destination("aws", spec.aws_region or default_aws_region,
                                   names.log_group(plan.fleet, plan.stack), spec.retention_days))
        else:
            out.append(Destination("gcp", spec.gcp_location, names.log_bucket(plan.fleet, plan.stack),
                                   spec.retention_days))
    return LoggingPlan(tuple(out))
