"""The fleet's log destinations as data: one per cloud the fleet runs on."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from fleetform.plan import names
from fleetform.spec.logging import LoggingSpec

# The log shipper as an in-cluster workload: its namespace and service account (the
# subject its federated identity trusts) and the name of that identity's grant.
SHIPPER = "log-shipper"
SHIPPER_NAMESPACE = "fleetform-logging"
SHIPPER_SERVICE_ACCOUNT = "fluent-bit"
# What the shipper may do on the fleet's CloudWatch log group, and nothing else.
CLOUDWATCH_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams")


def cloudwatch_policy(dest: Destination) -> str:
    """The shipper role's inline policy: write streams of the fleet's group only."""
    group = f"arn:aws:logs:{dest.region}:*:log-group:{dest.name}"
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": list(CLOUDWATCH_ACTIONS),
        "Resource": [group, f"{group}:log-stream:*"]}]}, sort_keys=True)


@dataclass(frozen=True)
class Destination:
    cloud: str
    region: str  # AWS region of the log group / GCP location of the log bucket
    name: str  # AWS log group name / GCP log bucket id
    retention_days: int

    def to_json(self) -> dict[str, object]:
        return {"cloud": self.cloud, "region": self.region, "name": self.name,
                "retention_days": self.retention_days}


@dataclass(frozen=True)
class LoggingPlan:
    destinations: tuple[Destination, ...] = ()

    def on(self, cloud: str) -> Destination | None:
        return next((d for d in self.destinations if d.cloud == cloud), None)


def plan_logging(spec: LoggingSpec, clouds: Iterable[str], *, fleet: str, stack: str,
                 default_aws_region: str, gcp_project: str | None = None) -> LoggingPlan:
    """One destination per cloud the fleet uses, none when shipping is off. On GCP the
    destination follows the fleet's project, not its clusters: removing the last GCP
    cluster keeps the audit logs it shipped."""
    if not spec.enabled:
        return LoggingPlan()
    out = []
    for cloud in sorted(set(clouds) | ({"gcp"} if gcp_project else set())):
        if cloud == "aws":
            out.append(Destination("aws", spec.aws_region or default_aws_region,
                                   names.log_group(fleet, stack), spec.retention_days))
        else:
            out.append(Destination("gcp", spec.gcp_location, names.log_bucket(fleet, stack),
                                   spec.retention_days))
    return LoggingPlan(tuple(out))
