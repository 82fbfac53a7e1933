"""The fleet's log destination on AWS: one CloudWatch Logs group, in its own region."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from fleetform.plan import names
from fleetform.plan.logging import Destination
from fleetform.plan.model import FleetPlan


class AwsLogDestination(pulumi.ComponentResource):
    def __init__(self, name: str, dest: Destination, plan: FleetPlan,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleetform:index:AwsLogDestination", name, None, opts)
        provider = aws.Provider(names.child(name, "aws"), region=dest.region,
                                default_tags=aws.ProviderDefaultTagsArgs(tags=dict(plan.aws_default_tags)),
                                opts=pulumi.ResourceOptions(parent=self))
        # Encrypted at rest by CloudWatch Logs; kept `retention_days`; the shippers only
        # create streams and put events (their roles), nobody deletes through fleetform.
        self.group = aws.cloudwatch.LogGroup(
            names.child(name, "group"), name=dest.name, retention_in_days=dest.retention_days,
            tags={"fleet": plan.fleet, "stack": plan.stack},
            opts=pulumi.ResourceOptions(parent=self, provider=provider, protect=True))
        self.arn = self.group.arn
        self.register_outputs({"arn": self.arn})
