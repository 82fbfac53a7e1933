"""Rules of the fleet's log destinations: a retention each destination accepts, a region
that exists, and no log leaving the regions a cluster's compliance rules allow."""

from __future__ import annotations

from fleetform.catalog.regions import is_region, matches_any
from fleetform.spec.errors import Problem
from fleetform.spec.load import origins
from fleetform.spec.logging import CLOUDWATCH_RETENTION_DAYS
from fleetform.spec.models import FleetSpec


def check_logging(spec: FleetSpec) -> list[Problem]:
    lg = spec.logging
    if not lg.enabled:
        return []
    where = origins(spec)
    problems: list[Problem] = []
    clouds = {c.cloud for c in spec.clusters}
    aws_region = lg.aws_region or spec.identity.federation.aws_region
    aws_at = (where.fleet_loc("logging", "aws_region") if lg.aws_region is not None
              else where.fleet_loc("identity", "federation", "aws_region"))
    if "aws" in clouds:
        if lg.retention_days not in CLOUDWATCH_RETENTION_DAYS:
            problems.append(where.fleet_loc("logging", "retention_days").problem(
                f"CloudWatch Logs keeps logs for one of {', '.join(map(str, CLOUDWATCH_RETENTION_DAYS))} "
                f"days, not {lg.retention_days}"))
        # A default taken from the federation is checked there (one error per mistake).
        if lg.aws_region is not None and not is_region("aws", aws_region):
            problems.append(aws_at.problem(f"{aws_region!r} is not a supported AWS region for the fleet's log group"))
    for c in spec.clusters:
        destination = aws_region if c.cloud == "aws" else lg.gcp_location
        for tag in c.compliance:
            rule = spec.compliance.get(tag)
            if rule is None or matches_any(destination, rule.regions):
                continue
            at = aws_at if c.cloud == "aws" else where.fleet_loc("logging", "gcp_location")
            problems.append(at.problem(
                f"cluster {c.name!r} ships its audit logs to {destination!r}, which compliance rule {tag!r} "
                f"does not allow (regions: {', '.join(rule.regions)}); set logging."
                f"{'aws_region' if c.cloud == 'aws' else 'gcp_location'} to an allowed region"))
    return problems
