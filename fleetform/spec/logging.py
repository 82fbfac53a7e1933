"""Central logs: where every cluster's audit and system logs go, one destination per cloud."""

from __future__ import annotations

from pydantic import Field

from fleetform.spec.base import Model

# CloudWatch Logs accepts only these retention periods (days).
CLOUDWATCH_RETENTION_DAYS: tuple[int, ...] = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653)


class LoggingSpec(Model):
    # Ship API server audit logs and node system logs (off only by an explicit false).
    enabled: bool = True
    # How long the fleet destination keeps them (CloudWatch: one of its fixed periods;
    # Cloud Logging buckets: 1-3650).
    retention_days: int = Field(default=365, ge=1, le=3653)
    # AWS: the region of the fleet's CloudWatch log group (default: the federation's
    # AWS region). GCP: the location of the fleet's log bucket.
    aws_region: str | None = None
    gcp_location: str = "global"
