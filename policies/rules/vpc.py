"""Rules on the networks themselves: flow logs to a log destination with retention, and
an AWS VPC's default security group stripped of every rule."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from policies.rules.base import Context, Rule, Subject, _dict, _list, _seen, registry, urn_type

RULES: list[Rule] = []
rule = registry(RULES)

AWS_VPC = "aws:ec2/vpc:Vpc"
AWS_FLOW_LOG = "aws:ec2/flowLog:FlowLog"
AWS_LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
AWS_DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
GCP_SUBNETWORK = "gcp:compute/subnetwork:Subnetwork"
GCP_SINK = "gcp:logging/projectSink:ProjectSink"
GCP_LOG_BUCKET = "gcp:logging/projectBucketConfig:ProjectBucketConfig"
VPC_FLOWS_LOG = "compute.googleapis.com%2Fvpc_flows"


def sources(s: Subject, prop: str) -> tuple[str, ...]:
    """URNs a property's value came from (all dependencies when the engine does not say
    which property: pulumi-policy's stack view without property dependencies)."""
    return tuple(s.options.property_dependencies.get(prop) or s.options.dependencies)


def _positive(value: Any) -> bool:
    """A positive number (the pack sees every number as a float)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _by_type(subjects: Sequence[Subject], type_: str) -> list[Subject]:
    return [s for s in subjects if s.type == type_]


@rule("flow-logs",
      "Every AWS VPC sends flow logs of all traffic to a CloudWatch log group with a "
      "retention period; every GCP subnetwork logs its flows, routed by a sink to a "
      "fleet log bucket with a retention period.",
      stack=True)
def flow_logs(subjects: Sequence[Subject], context: Context) -> Iterator[tuple[str, str]]:
    by_urn = {s.urn: s for s in subjects}
    logged: set[str] = set()
    for log in _by_type(subjects, AWS_FLOW_LOG):
        vpcs = [u for u in sources(log, "vpcId") if urn_type(u) == AWS_VPC]
        traffic = _seen(log.inputs.get("trafficType"), "trafficType")
        if traffic != "ALL":
            yield log.urn, f"trafficType is {traffic!r}: log ALL traffic (accepted and rejected)"
        kind = _seen(log.inputs.get("logDestinationType"), "logDestinationType") or "cloud-watch-logs"
        groups = [by_urn[u] for u in sources(log, "logDestination") if u in by_urn and by_urn[u].type == AWS_LOG_GROUP]
        if kind != "cloud-watch-logs" or not groups:
            yield log.urn, "flow logs go to no CloudWatch log group of the program (no retention is known)"
        for group in groups:
            days = _seen(group.inputs.get("retentionInDays"), "retentionInDays")
            if not _positive(days):
                yield group.urn, "the flow-log group keeps logs forever: set retentionInDays"
        logged.update(vpcs)
    for vpc in _by_type(subjects, AWS_VPC):
        if vpc.urn not in logged:
            yield vpc.urn, "the VPC has no flow log: nothing records who talked to whom"
    subnets = _by_type(subjects, GCP_SUBNETWORK)
    for subnet in subnets:
        config = _seen(subnet.inputs.get("logConfig"), "logConfig")
        if not config:
            yield subnet.urn, "the subnetwork has no logConfig: its flows are not logged"
            continue
        sampling = _seen(_dict(config).get("flowSampling"), "logConfig.flowSampling")
        if sampling is not None and float(sampling) <= 0:
            yield subnet.urn, "logConfig.flowSampling is 0: no flow is logged"
    if subnets:
        yield from _gcp_retention(subjects, by_urn)


def _gcp_retention(subjects: Sequence[Subject], by_urn: Mapping[str, Subject]) -> Iterator[tuple[str, str]]:
    routed = False
    for sink in _by_type(subjects, GCP_SINK):
        if VPC_FLOWS_LOG not in str(_seen(sink.inputs.get("filter"), "filter")):
            continue
        buckets = [by_urn[u] for u in sources(sink, "destination") if u in by_urn and by_urn[u].type == GCP_LOG_BUCKET]
        if not buckets:
            yield sink.urn, "the flow-log sink routes to no log bucket of the program"
        for bucket in buckets:
            days = _seen(bucket.inputs.get("retentionDays"), "retentionDays")
            if not _positive(days):
                yield bucket.urn, "the flow-log bucket has no retentionDays"
            else:
                routed = True
    if not routed:
        first = next(s.urn for s in subjects if s.type == GCP_SUBNETWORK)
        yield first, ("subnet flow logs reach no fleet log bucket with a retention period (a logging sink "
                      f"filtering {VPC_FLOWS_LOG} into a bucket with retentionDays)")


def _rules_of(inputs: Mapping[str, Any], key: str) -> list[Any]:
    return _list(_seen(inputs.get(key), key))


@rule("default-security-group-restricted",
      "Every AWS VPC's default security group is taken over (aws.ec2.DefaultSecurityGroup) "
      "and has no ingress and no egress rule, so nothing attached to it by mistake talks.",
      cis=("CIS AWS 5.4",), stack=True)
def default_security_group_restricted(subjects: Sequence[Subject], context: Context) -> Iterator[tuple[str, str]]:
    restricted: set[str] = set()
    for group in _by_type(subjects, AWS_DEFAULT_SG):
        problems = [f"{key} has {len(_rules_of(group.inputs, key))} rule(s)" for key in ("ingress", "egress")
                    if _rules_of(group.inputs, key)]
        if problems:
            yield group.urn, "the default security group must be empty: " + "; ".join(problems)
        else:
            restricted.update(u for u in sources(group, "vpcId") if urn_type(u) == AWS_VPC)
    for vpc in _by_type(subjects, AWS_VPC):
        if vpc.urn not in restricted:
            yield vpc.urn, ("the VPC's default security group is not restricted (allows all traffic among its "
                            "members and all egress); manage it with aws.ec2.DefaultSecurityGroup and no rules")


