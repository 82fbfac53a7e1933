"""The fleet's central logs: one destination per cloud the fleet runs on (the in-cluster
shipper is the ``log-shipper`` add-on of every cluster's bundle)."""

from __future__ import annotations

import pulumi

from components.clouds.logs_aws import AwsLogDestination
from components.clouds.logs_gcp import GcpLogDestination
from fleetform.plan import names
from fleetform.plan.model import FleetPlan


class FleetLogs(pulumi.ComponentResource):
    def __init__(self, name: str, plan: FleetPlan, opts: pulumi.ResourceOptions | None = None, *,
                 gcp_requires: tuple[pulumi.Resource, ...] = (),
                 gcp_provider: pulumi.ProviderResource | None = None) -> None:
        super().__init__("fleetform:index:FleetLogs", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.aws: AwsLogDestination | None = None
        self.gcp: GcpLogDestination | None = None
        for dest in plan.logging.destinations:
            if dest.cloud == "aws":
                self.aws = AwsLogDestination(names.child(name, "aws"), dest, plan, child)
            else:
                if gcp_provider is None:
                    raise ValueError("the GCP log destination needs the fleet's project-level provider")
                self.gcp = GcpLogDestination(names.child(name, "gcp"), dest, plan, gcp_provider, child,
                                             requires=gcp_requires)
        self.register_outputs({"destinations": [d.to_json() for d in plan.logging.destinations]})
