"""The GCP provider's offline checks: pulumi-gcp auto-naming and the Terraform Google
provider's schema validators, for the resource types the program registers."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from fleetform.engine.checks.common import (
    AutoName,
    Check,
    Rules,
    check_failure,
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

# The Compute Engine API's limits per VPC firewall rule (the provider's schema sets none,
# the API refuses the rule): at most 10 source and 10 target service accounts.
MAX_RULE_SERVICE_ACCOUNTS = 10


def _at_most(key: tuple[str, str], limit: int) -> Rule:
    def rule(inputs: Mapping[str, Any]) -> list[str]:
        value = inputs.get(key[0])
        if isinstance(value, list | tuple) and len(value) > limit:
            return [f"{go_quote(key[1])}: at most {limit} service accounts per firewall rule, got {len(value)}"]
        return []

    return rule


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
        schema_rule("sourceServiceAccounts", _at_most(_SOURCE_SAS, MAX_RULE_SERVICE_ACCOUNTS)),
        schema_rule("targetServiceAccounts", _at_most(_TARGET_SAS, MAX_RULE_SERVICE_ACCOUNTS)),
    ),
)

_PROVIDER_KINDS = [("aws", "aws"), ("oidc", "oidc")]

# resource_compute_instance_group_manager.go (zonal): the update policy's validators.
_ACTIONS = ("NONE", "REFRESH", "RESTART", "REPLACE")


def string_in_slice(k: str, value: str, valid: tuple[str, ...]) -> list[str]:
    """helper/validation StringInSlice (case-sensitive); Go's %q of the slice."""
    if value in valid:
        return []
    return [f"expected {k} to be one of [{' '.join(go_quote(v) for v in valid)}], got {value}"]


def int_between(k: str, value: int, lo: int, hi: int) -> list[str]:
    """helper/validation IntBetween."""
    if lo <= value <= hi:
        return []
    return [f"expected {k} to be in the range ({lo} - {hi}), got {value}"]


def _nested(block: str, tf_block: str, checks: Mapping[str, Callable[[str, Any], list[str]]],
            conflicts: tuple[tuple[str, str], ...] = ()) -> Check:
    """Validators of one MaxItems=1 block's fields (reported at ``<block>.<field>``, the
    Terraform key ``<tf_block>.0.<field>``), and its fields' ConflictsWith pairs."""

    def snake(prop: str) -> str:
        return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), prop)

    def check(type_token: str, urn_name: str, inputs: Mapping[str, Any]) -> list[str]:
        value = inputs.get(block)
        if isinstance(value, list):  # a one-element list on the wire
            value = value[0] if value else None
        if not isinstance(value, Mapping):
            return []
        out: list[str] = []
        for prop, validate in checks.items():
            if value.get(prop) is not None:
                out += [check_failure(type_token, urn_name, reason, f"{block}.{prop}")
                        for reason in validate(f"{tf_block}.0.{snake(prop)}", value[prop])]
        for a, b in conflicts:
            for one, other in ((a, b), (b, a)):
                out += [check_failure(type_token, urn_name, reason, f"{block}.{one}") for reason in conflicts_with(
                    value, (one, f"{tf_block}.0.{snake(one)}"), [(other, f"{tf_block}.0.{snake(other)}")])]
        return out

    return check


_IGM_UPDATE_POLICY = _nested("updatePolicy", "update_policy", {
    "minimalAction": lambda k, v: string_in_slice(k, str(v), _ACTIONS),
    "mostDisruptiveAllowedAction": lambda k, v: string_in_slice(k, str(v), _ACTIONS),
    "type": lambda k, v: string_in_slice(k, str(v), ("OPPORTUNISTIC", "PROACTIVE")),
    "replacementMethod": lambda k, v: string_in_slice(k, str(v), ("RECREATE", "SUBSTITUTE", "")),
    "maxSurgePercent": lambda k, v: int_between(k, int(v), 0, 100),
    "maxUnavailablePercent": lambda k, v: int_between(k, int(v), 0, 100),
}, conflicts=(("maxSurgeFixed", "maxSurgePercent"), ("maxUnavailableFixed", "maxUnavailablePercent")))

_IGM_AUTO_HEALING = _nested("autoHealingPolicies", "auto_healing_policies", {
    "initialDelaySec": lambda k, v: int_between(k, int(v), 0, 3600),
})


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
    "gcp:compute/instanceGroupManager:InstanceGroupManager": Rules(
        autoname=_named(), checks=(_IGM_UPDATE_POLICY, _IGM_AUTO_HEALING)),
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
