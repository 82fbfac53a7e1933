"""The AWS adapter's shared state: the one provider of the incarnation, the pinned image,
and the helpers and constants every part of the adapter uses."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Literal

import pulumi
import pulumi_aws as aws

from components.clouds.base import (
    CloudAdapter,
    ClusterContext,
    LoadBalancerHandle,
)
from fleetform.bootstrap.inputs import SecretStore
from fleetform.plan import names

# Ubuntu 24.04 LTS (noble), published by Canonical's own account.
CANONICAL_OWNER = "099720109477"
UBUNTU_NOBLE_AMI = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"
# The AMI's 8 GB root does not hold container images, logs and the kubelet's state.
ROOT_VOLUME_GB = 50
# The data disk's device name in the API; Nitro guests see it as NVMe (see DiskHandle).
DATA_DEVICE_NAME = "/dev/sdf"
# Characters EC2 accepts in security-group (rule) descriptions.
_SG_DESCRIPTION_BAD = re.compile(r"[^a-zA-Z0-9. _\-:/()#,@\[\]+=&;{}!$*]")

_ASSUME_ROLE_EC2 = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Allow",
        "Principal": {"Service": "ec2.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }],
})

# Instance metadata: session tokens only (IMDSv2) and one hop, so pods behind the
# node's network namespace cannot borrow the node's role.
IMDS_TOKENS = "required"
IMDS_HOP_LIMIT = 1



def _sg_description(text: str) -> str:
    return _SG_DESCRIPTION_BAD.sub(" ", text)[:255]


def _bucket_policy(bucket_arn: str, object_actions: Sequence[str]) -> str:
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "List", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn},
            {"Sid": "Objects", "Effect": "Allow", "Action": list(object_actions), "Resource": f"{bucket_arn}/*"},
        ],
    })


def _role_name_from_arn(arn: str) -> str:
    # arn:aws:iam::<account>:role[/path]/<name>
    return arn.rsplit("/", 1)[-1]


class AwsBase(CloudAdapter):
    cloud: Literal["aws", "gcp"] = "aws"

    def __init__(self, ctx: ClusterContext) -> None:
        super().__init__(ctx)
        self._provider: aws.Provider | None = None
        self._ami: pulumi.Output[str] | None = None
        self._public_zone: pulumi.Output[str] | None = None
        # Load-balancer handle (by identity; the entry keeps it alive) -> its
        # internet-facing twin.
        self._public_lbs: dict[int, tuple[LoadBalancerHandle, aws.lb.LoadBalancer]] = {}
        # Routes and NATs: a machine's first boot installs packages, so it must wait
        # for egress (NetworkHandle carries ids only, not the resources behind them).
        self._egress: list[pulumi.Resource] = []
        # Explicit subnet CIDR reservations of the plan's fixed addresses (network()):
        # whatever else places a network interface in a private subnet waits for them.
        self._reserved: list[pulumi.Resource] = []
        self._suffix: pulumi.Output[str] | None = None

    # ------------------------------------------------------------------ facts

    @property
    def provider(self) -> pulumi.ProviderResource:
        if self._provider is None:
            self._provider = aws.Provider(
                names.child(self.ctx.plan.key, "aws"),
                region=self.ctx.plan.region,
                # The cluster's labels too, so resources that take no explicit tags carry them.
                default_tags=aws.ProviderDefaultTagsArgs(
                    tags={**dict(self.ctx.fleet.aws_default_tags), **dict(self.ctx.plan.labels)}),
                opts=pulumi.ResourceOptions(parent=self.ctx.owner),
            )
        return self._provider

    @property
    def secret_store(self) -> SecretStore:
        return SecretStore(cloud="aws", region=self.ctx.plan.region, project=None)

    def _invoke(self) -> pulumi.InvokeOptions:
        return pulumi.InvokeOptions(provider=self.provider)

    def _short(self, resource_name: str) -> str:
        """A resource name without the incarnation prefix, to build child names from."""
        prefix = self.ctx.plan.key + "-"
        return resource_name[len(prefix):] if resource_name.startswith(prefix) else resource_name

    def _ami_id(self) -> pulumi.Output[str]:
        # Looked up once per incarnation and pinned at its first `pulumi up` (ImagePin).
        if self._ami is None:
            self._ami = aws.ec2.get_ami_output(
                most_recent=True,
                owners=[CANONICAL_OWNER],
                filters=[
                    aws.ec2.GetAmiFilterArgs(name="name", values=[UBUNTU_NOBLE_AMI]),
                    aws.ec2.GetAmiFilterArgs(name="architecture", values=["x86_64"]),
                    aws.ec2.GetAmiFilterArgs(name="virtualization-type", values=["hvm"]),
                ],
                opts=self._invoke(),
            ).id
            self._ami = self.pinned_image(self._ami)
        return self._ami

    # ---------------------------------------------------------------- network


    # -------------------------------------------------------------------- DNS





    # --------------------------------------------------------------- identity


    # --------------------------------------------------------------- firewall


    # ---------------------------------------------------------------- secrets


    # ----------------------------------------------------------------- disks


    # --------------------------------------------------------------- machines



    # ---------------------------------------------------------- load balancer




    # ---------------------------------------------------------------- buckets

