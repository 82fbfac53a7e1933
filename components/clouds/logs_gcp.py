"""The fleet's log destination on GCP: a Cloud Logging bucket with the fleet's retention
and a sink routing the shippers' logs (``fleetform-audit``, ``fleetform-node``) into it."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from fleetform.plan import names
from fleetform.plan.logging import Destination
from fleetform.plan.model import FleetPlan

LOG_NAMES = ("fleetform-audit", "fleetform-node")


class GcpLogDestination(pulumi.ComponentResource):
    def __init__(self, name: str, dest: Destination, plan: FleetPlan, provider: pulumi.ProviderResource,
                 opts: pulumi.ResourceOptions | None = None, *,
                 requires: tuple[pulumi.Resource, ...] = ()) -> None:
        """``provider``: the fleet's one project-level GCP provider (the project services'),
        ``requires``: the project services each resource waits for."""
        super().__init__("fleetform:index:GcpLogDestination", name, None, opts)
        if not plan.gcp_project:
            raise ValueError("a GCP log destination needs the fleet's clouds.gcp.project")
        project = plan.gcp_project
        child = pulumi.ResourceOptions(parent=self, provider=provider, depends_on=list(requires))
        self.bucket = gcp.logging.ProjectBucketConfig(
            names.child(name, "bucket"), project=project, location=dest.region, bucket_id=dest.name,
            retention_days=dest.retention_days, description=f"fleetform {plan.fleet} ({plan.stack}): audit and node logs",
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=True)))
        log_filter = " OR ".join(f'logName="projects/{project}/logs/{n}"' for n in LOG_NAMES)
        self.sink = gcp.logging.ProjectSink(
            names.child(name, "sink"), name=names.physical("fleetform", plan.fleet, plan.stack, "logs", limit=100),
            project=project, destination=f"logging.googleapis.com/projects/{project}/locations/{dest.region}/buckets/{dest.name}",
            filter=log_filter, unique_writer_identity=True,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[*requires, self.bucket])))
        self.register_outputs({"bucket": self.bucket.id})
