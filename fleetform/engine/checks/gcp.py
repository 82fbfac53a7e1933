"""The GCP provider's offline checks: pulumi-gcp auto-naming and the Terraform Google
provider's schema validators, for the resource types the program registers."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from fleetform.engine.checks.common import (
    AutoName,
    Rules,
    conflicts_with,
    exactly_one_of,
    field,
    go_quote,
    schema_rule,
    validate_regexp,
)

Rule = Callable[[Mapping[str, Any]], list[str]]

# pulumi-gcp: prov.SetAutonaming(255, "-") for every `name` input.
DEFAULT_MAXLEN = 255

# google/verify/validation.go
GCE_NAME = r"^(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)$"
RFC1035_NAME_TEMPLATE = "[a-z](?:[-a-z0-9]{%d,%d}[a-z0-9])"


def gce_name(k: str, value: str) -> list[str]:
    """verify.ValidateGCEName: Compute Engine resource names (RFC 1035, at most 63)."""
    return validate_regexp(k, value, GCE_NAME)


def rfc1035_name(minimum: int, maximum: int) -> Callable[[str, str], list[str]]:
    """verify.ValidateRFC1035Name(min, max)."""
    pattern = "^" + RFC1035_NAME_TEMPLATE % (minimum - 2, maximum - 2) + "$"

    def validate(k: str, value: str) -> list[str]:
        return validate_regexp(k, value, pattern)

    return validate


def workload_identity_id(k: str, value: str) -> list[str]:
    """iambeta ValidateWorkloadIdentityPoolId / ValidateWorkloadIdentityPoolProviderId
    (the two are the same code)."""
    errors: list[str] = []
    if value.startswith("gcp-"):
        errors.append(f'{go_quote(k)} ({go_quote(value)}) can not start with "gcp-"')
    if not re.search(r"^[0-9a-z-]+$", value):
        errors.append(
            f"{go_quote(k)} must contain only lowercase letters (a-z), numbers (0-9), "
            "or dashes (-)"
        )
    if len(value) < 4:
        errors.append(f"{go_quote(k)} cannot be smaller than 4 characters")
    if len(value) > 32:
        errors.append(f"{go_quote(k)} cannot be greater than 32 characters")
    return errors


def _exactly(k: str, keys: list[tuple[str, str]]) -> Rule:
    def rule(inputs: Mapping[str, Any]) -> list[str]:
        return exactly_one_of(inputs, k, keys)

    return rule


def _conflicts(key: tuple[str, str], others: list[tuple[str, str]]) -> Rule:
    def rule(inputs: Mapping[str, Any]) -> list[str]:
        return conflicts_with(inputs, key, others)

    return rule


def _named(*, unless: tuple[str, ...] = ()) -> AutoName:
    return AutoName("name", DEFAULT_MAXLEN, unless=unless)


_ALLOW_DENY = [("allows", "allow"), ("denies", "deny")]
_SOURCE_TAGS = ("sourceTags", "source_tags")
_TARGET_TAGS = ("targetTags", "target_tags")
_SOURCE_SAS = ("sourceServiceAccounts", "source_service_accounts")
_TARGET_SAS = ("targetServiceAccounts", "target_service_accounts")

_FIREWALL = Rules(
    autoname=_named(),
    checks=(
        field("name", "name", gce_name),
        schema_rule("allows", _exactly("allow", _ALLOW_DENY)),
        schema_rule("denies", _exactly("deny", _ALLOW_DENY)),
        schema_rule("sourceServiceAccounts", _conflicts(_SOURCE_SAS, [_SOURCE_TAGS, _TARGET_TAGS])),
        schema_rule("sourceTags", _conflicts(_SOURCE_TAGS, [_SOURCE_SAS, _TARGET_SAS])),
        schema_rule("targetServiceAccounts", _conflicts(_TARGET_SAS, [_SOURCE_TAGS, _TARGET_TAGS])),
        schema_rule("targetTags", _conflicts(_TARGET_TAGS, [_SOURCE_SAS, _TARGET_SAS])),
    ),
)

_PROVIDER_KINDS = [("aws", "aws"), ("oidc", "oidc")]

RULES: dict[str, Rules] = {
    "gcp:compute/firewall:Firewall": _FIREWALL,
    # resource_compute_address.go: ValidateRegexp of the same GCE name pattern.
    "gcp:compute/address:Address": Rules(
        autoname=_named(), checks=(field("name", "name", gce_name),)),
    "gcp:serviceaccount/account:Account": Rules(
        checks=(field("accountId", "account_id", rfc1035_name(6, 30)),),
    ),
    "gcp:iam/workloadIdentityPool:WorkloadIdentityPool": Rules(
        checks=(
            field("workloadIdentityPoolId", "workload_identity_pool_id", workload_identity_id),
        ),
    ),
    "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider": Rules(
        checks=(
            field(
                "workloadIdentityPoolProviderId",
                "workload_identity_pool_provider_id",
                workload_identity_id,
            ),
            schema_rule("aws", _exactly("aws", _PROVIDER_KINDS)),
            schema_rule("oidc", _exactly("oidc", _PROVIDER_KINDS)),
        ),
    ),
    # Auto-named (pulumi-gcp SetAutonaming) when the program sets no name.
    **{
        token: Rules(autoname=_named(unless=unless))
        for token, unless in [
            ("gcp:compute/disk:Disk", ()),
            ("gcp:compute/forwardingRule:ForwardingRule", ()),
            ("gcp:compute/instance:Instance", ()),
            ("gcp:compute/instanceGroup:InstanceGroup", ()),
            ("gcp:compute/instanceTemplate:InstanceTemplate", ("namePrefix",)),
            ("gcp:compute/network:Network", ()),
            ("gcp:compute/regionAutoscaler:RegionAutoscaler", ()),
            ("gcp:compute/regionBackendService:RegionBackendService", ()),
            ("gcp:compute/regionHealthCheck:RegionHealthCheck", ()),
            ("gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager", ()),
            ("gcp:compute/router:Router", ()),
            ("gcp:compute/routerNat:RouterNat", ()),
            ("gcp:compute/subnetwork:Subnetwork", ()),
            ("gcp:dns/managedZone:ManagedZone", ()),
            ("gcp:storage/bucket:Bucket", ()),
        ]
    },
}
