"""The AWS provider's offline checks: pulumi-aws auto-naming and the Terraform AWS
provider's schema validators, for the resource types the program registers."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from fleetform.engine.checks.common import (
    UNIQUE_ID_SUFFIX_LENGTH,
    AutoName,
    Rules,
    conflicts_with,
    exactly_one_of,
    field,
    go_quote,
    schema_rule,
    string_len_between,
    string_match,
)

# pulumi-aws setAutonaming: every other `name` input is auto-named up to 255 characters.
DEFAULT_MAXLEN = 255

_ALNUM_HYPHEN = r"^[0-9A-Za-z-]+$"


def elbv2_name(k: str, value: str) -> list[str]:
    """internal/service/elbv2/validate.go validName (load balancers)."""
    q, v = go_quote(k), go_quote(value)
    errors: list[str] = []
    if len(value) > 32:
        errors.append(f"{q} cannot be longer than 32 characters: {v}")
    if not re.search(_ALNUM_HYPHEN, value):
        errors.append(f"only alphanumeric characters and hyphens allowed in {q}: {v}")
    if value.startswith("-"):
        errors.append(f"{q} cannot begin with a hyphen: {v}")
    if value.endswith("-"):
        errors.append(f"{q} cannot end with a hyphen: {v}")
    if value.startswith("internal-"):
        errors.append(f'{q} cannot begin with "internal-": {v}')
    return errors


def elbv2_name_prefix(k: str, value: str) -> list[str]:
    """internal/service/elbv2/validate.go validNamePrefix (load balancers)."""
    q, v = go_quote(k), go_quote(value)
    errors: list[str] = []
    if not re.search(_ALNUM_HYPHEN, value):
        errors.append(f"only alphanumeric characters and hyphens allowed in {q}: {v}")
    if len(value) > 6:
        errors.append(f"{q} cannot be longer than 6 characters: {v}")
    if value.startswith("-"):
        errors.append(f"{q} cannot begin with a hyphen: {v}")
    if value.startswith("internal-"):
        errors.append(f'{q} cannot begin with "internal-": {v}')
    return errors


def target_group_name(k: str, value: str) -> list[str]:
    """internal/service/elbv2/validate.go validTargetGroupName."""
    q = go_quote(k)
    errors: list[str] = []
    if len(value) > 32:
        errors.append(f"{q} cannot be longer than 32 characters")
    if not re.search(_ALNUM_HYPHEN, value):
        errors.append(f"only alphanumeric characters and hyphens allowed in {q}")
    if value.startswith("-"):
        errors.append(f"{q} cannot begin with a hyphen")
    if value.endswith("-"):
        errors.append(f"{q} cannot end with a hyphen")
    return errors


def target_group_name_prefix(k: str, value: str) -> list[str]:
    """internal/service/elbv2/validate.go validTargetGroupNamePrefix (32 minus the
    26-character unique suffix)."""
    q = go_quote(k)
    errors: list[str] = []
    if len(value) > 6:
        errors.append(f"{q} cannot be longer than 6 characters")
    if not re.search(_ALNUM_HYPHEN, value):
        errors.append(f"only alphanumeric characters and hyphens allowed in {q}")
    if value.startswith("-"):
        errors.append(f"{q} cannot begin with a hyphen")
    return errors


def iam_resource_name(maximum: int) -> Callable[[str, str], list[str]]:
    """internal/service/iam/validate.go validResourceName(max): StringLenBetween(1, max)
    and StringMatch(`^[\\w+=,.@-]*$`) (Go's \\w is ASCII)."""

    def validate(k: str, value: str) -> list[str]:
        return [
            *string_len_between(k, value, 1, maximum),
            *string_match(k, value, r"^[0-9A-Za-z_+=,.@-]*$", r"must match [\w+=,.@-]"),
        ]

    return validate


def secret_name(k: str, value: str) -> list[str]:
    """internal/service/secretsmanager/validate.go validSecretName."""
    errors: list[str] = []
    if not re.search(r"^[0-9A-Za-z/_+=.@-]+$", value):
        errors.append(
            f"only alphanumeric characters and /_+=.@- special characters are allowed in "
            f"{go_quote(k)}"
        )
    if len(value) > 512:
        errors.append(f"{go_quote(k)} cannot be greater than 512 characters")
    return errors


def s3_bucket_prefix(k: str, value: str) -> list[str]:
    """aws_s3_bucket bucket_prefix: validation.StringLenBetween(0, 63-id.UniqueIDSuffixLength)."""
    return string_len_between(k, value, 0, 63 - UNIQUE_ID_SUFFIX_LENGTH)


def launch_template_name(k: str, value: str) -> list[str]:
    """internal/verify/validate.go ValidLaunchTemplateName (name and name_prefix)."""
    q = go_quote(k)
    if len(value) < 3:
        return [f"{q} cannot be less than 3 characters"]
    if k.endswith("prefix") and len(value) > 99:
        return [f"{q} cannot be longer than 99 characters, name is limited to 125"]
    if not k.endswith("prefix") and len(value) > 125:
        return [f"{q} cannot be longer than 125 characters"]
    if not re.search(r"^[0-9A-Za-z()./_\-]+$", value):
        return [f"{q} can only alphanumeric characters and ()./_- symbols"]
    return []


def _lb_subnets(inputs: Mapping[str, Any]) -> list[str]:
    keys = [("subnetMappings", "subnet_mapping"), ("subnets", "subnets")]
    return exactly_one_of(inputs, "subnet_mapping", keys)


def _lb_subnets_again(inputs: Mapping[str, Any]) -> list[str]:
    keys = [("subnetMappings", "subnet_mapping"), ("subnets", "subnets")]
    return exactly_one_of(inputs, "subnets", keys)


def _named(maxlen: int = DEFAULT_MAXLEN, *, prop: str = "name", lower: bool = False,
           unless: tuple[str, ...] = ()) -> AutoName:
    return AutoName(prop, maxlen, lower=lower, unless=unless)


_LB = Rules(
    autoname=_named(unless=("namePrefix",)),
    checks=(
        field("name", "name", elbv2_name),
        field("namePrefix", "name_prefix", elbv2_name_prefix),
        schema_rule("name", lambda i: conflicts_with(
            i, ("name", "name"), [("namePrefix", "name_prefix")])),
        schema_rule("namePrefix", lambda i: conflicts_with(
            i, ("namePrefix", "name_prefix"), [("name", "name")])),
        schema_rule("subnetMappings", _lb_subnets),
        schema_rule("subnets", _lb_subnets_again),
    ),
)

_TARGET_GROUP = Rules(
    # pulumi-aws: "aws_lb_target_group" name AutoName("name", 32, "-").
    autoname=_named(32, unless=("namePrefix",)),
    checks=(
        field("name", "name", target_group_name),
        field("namePrefix", "name_prefix", target_group_name_prefix),
    ),
)

RULES: dict[str, Rules] = {
    "aws:lb/loadBalancer:LoadBalancer": _LB,
    "aws:alb/loadBalancer:LoadBalancer": _LB,
    "aws:lb/targetGroup:TargetGroup": _TARGET_GROUP,
    "aws:alb/targetGroup:TargetGroup": _TARGET_GROUP,
    # pulumi-aws: "aws_iam_role" name AutoName("name", 64, "-").
    "aws:iam/role:Role": Rules(
        autoname=_named(64, unless=("namePrefix",)),
        checks=(field("name", "name", iam_resource_name(64)),),
    ),
    "aws:iam/instanceProfile:InstanceProfile": Rules(
        autoname=_named(unless=("namePrefix",)),
        checks=(field("name", "name", iam_resource_name(128)),),
    ),
    # pulumi-aws: "aws_s3_bucket" bucket AutoNameTransform("bucket", 63, strings.ToLower).
    "aws:s3/bucket:Bucket": Rules(autoname=_named(63, prop="bucket", lower=True,
                                                  unless=("bucketPrefix",)),
                                  checks=(field("bucketPrefix", "bucket_prefix", s3_bucket_prefix),)),
    "aws:s3/bucketV2:BucketV2": Rules(autoname=_named(63, prop="bucket", lower=True,
                                                      unless=("bucketPrefix",)),
                                      checks=(field("bucketPrefix", "bucket_prefix", s3_bucket_prefix),)),
    "aws:secretsmanager/secret:Secret": Rules(
        autoname=_named(unless=("namePrefix",)),
        checks=(field("name", "name", secret_name),),
    ),
    "aws:ec2/launchTemplate:LaunchTemplate": Rules(
        autoname=_named(unless=("namePrefix",)),
        checks=(
            field("name", "name", launch_template_name),
            field("namePrefix", "name_prefix", launch_template_name),
        ),
    ),
    "aws:ec2/securityGroup:SecurityGroup": Rules(autoname=_named(unless=("namePrefix",))),
    "aws:autoscaling/group:Group": Rules(autoname=_named(unless=("namePrefix",))),
    "aws:cloudfront/originAccessControl:OriginAccessControl": Rules(autoname=_named()),
    "aws:iam/policy:Policy": Rules(autoname=_named(unless=("namePrefix",))),
}
