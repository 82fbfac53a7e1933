"""The AWS adapter: the cloud contract of ``base.py`` in VPCs, security groups, IAM,
EC2, EBS, NLB, Route 53, Secrets Manager and S3.

One adapter per cluster incarnation, one explicit ``aws.Provider`` for it. Nothing here
decides anything the plan already decided (zones, CIDRs, addresses, rules, sizes): it
only translates plan data into resources. No resource is ever created inside ``apply``.
The contract is implemented by concern, one module each: ``aws_base`` (provider, image,
shared helpers), ``aws_network``, ``aws_edge`` (DNS, load balancers), ``aws_compute``
(identities, machines, disks, groups) and ``aws_storage`` (secrets, buckets).
"""

from __future__ import annotations

from components.clouds.aws_compute import AwsCompute
from components.clouds.aws_edge import AwsEdge
from components.clouds.aws_network import AwsNetworking
from components.clouds.aws_storage import AwsStorage


class AwsAdapter(AwsNetworking, AwsEdge, AwsCompute, AwsStorage):
    """Every method of the cloud contract, on AWS."""
