"""Each provider check refuses a violating resource with the provider's own message, and
passes the values the program really registers."""

from __future__ import annotations

from typing import Any

import pytest

from fleetform.engine.checks import RULES, autoname, check

LB = "aws:lb/loadBalancer:LoadBalancer"
TG = "aws:lb/targetGroup:TargetGroup"
FW = "gcp:compute/firewall:Firewall"


def problem(type_token: str, name: str, reason: str, prop: str) -> str:
    return (
        f"{type_token} resource '{name}' has a problem: {reason}. "
        f"Examine values at '{name}.{prop}'."
    )


# ---- tfbridge auto-naming


@pytest.mark.parametrize(
    ("type_token", "maxlen", "prop"),
    [
        (TG, 32, "name"),
        ("aws:iam/role:Role", 64, "name"),
        ("aws:s3/bucket:Bucket", 63, "bucket"),
        (LB, 255, "name"),
        ("aws:ec2/securityGroup:SecurityGroup", 255, "name"),
        ("gcp:compute/disk:Disk", 255, "name"),
    ],
)
def test_autoname_overflow_fails_with_the_bridge_error(type_token: str, maxlen: int, prop: str) -> None:
    fits = "a" * (maxlen - 8)
    assert check(type_token, fits, {}) == [] or type_token == LB  # LB: validName still applies
    assert autoname(type_token) is not None
    long = "a" * (maxlen - 7)
    assert check(type_token, long, {}) == [
        f"could not make instance of '{type_token}': name '{long}-' plus 7 random chars "
        f"is longer than maximum length {maxlen}"
    ]
    # A name the program sets is never auto-named.
    assert not any("could not make instance" in p for p in check(type_token, long, {prop: "x"}))


def test_autoname_of_the_review_finding_target_group() -> None:
    name = "eu-core-aws-eu-west-1-control-plane-api-public-tg"
    assert check(TG, name, {"port": 6443}) == [
        f"could not make instance of '{TG}': name '{name}-' plus 7 random chars is longer "
        "than maximum length 32"
    ]


def test_s3_bucket_prefix_leaves_room_for_the_unique_id() -> None:
    bucket = "aws:s3/bucket:Bucket"
    assert check(bucket, "b", {"bucketPrefix": "p" * 37}) == []
    assert check(bucket, "b", {"bucketPrefix": "p" * 38}) == [
        problem(bucket, "b", f"expected length of bucket_prefix to be in the range (0 - 37), got {'p' * 38}",
                "bucketPrefix")
    ]


def test_autoname_skipped_when_a_conflicting_prefix_is_set() -> None:
    assert check("gcp:compute/instanceTemplate:InstanceTemplate", "t" * 300,
                 {"namePrefix": "tpl-"}) == []


def test_s3_autoname_lowercases_the_urn_name_only() -> None:
    rule = autoname("aws:s3/bucket:Bucket")
    assert rule is not None
    assert rule.value("Docs-Bucket", "abc1234") == "docs-bucket-abc1234"


# ---- AWS ELBv2


def test_load_balancer_auto_name_over_32_is_refused_by_valid_name() -> None:
    name = "eu-core-aws-eu-west-1-control-plane-api-public"
    auto = f"{name}-0123456"
    assert check(LB, name, {"subnets": ["s"]}, suffix="0123456") == [
        problem(LB, name, f'"name" cannot be longer than 32 characters: "{auto}"', "name")
    ]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("api_lb", 'only alphanumeric characters and hyphens allowed in "name": "api_lb"'),
        ("-api", '"name" cannot begin with a hyphen: "-api"'),
        ("api-", '"name" cannot end with a hyphen: "api-"'),
        ("internal-api", '"name" cannot begin with "internal-": "internal-api"'),
    ],
)
def test_load_balancer_name_pattern(value: str, reason: str) -> None:
    assert check(LB, "lb", {"name": value, "subnets": ["s"]}) == [problem(LB, "lb", reason, "name")]


def test_load_balancer_name_prefix_and_conflicts() -> None:
    found = check(LB, "lb", {"name": "api", "namePrefix": "toolong", "subnets": ["s"]})
    assert problem(LB, "lb", '"name_prefix" cannot be longer than 6 characters: "toolong"',
                   "namePrefix") in found
    assert problem(LB, "lb", 'ConflictsWith. "name": conflicts with name_prefix', "name") in found
    assert problem(LB, "lb", 'ConflictsWith. "name_prefix": conflicts with name',
                   "namePrefix") in found


def test_load_balancer_needs_exactly_one_of_subnets_and_subnet_mappings() -> None:
    none = check(LB, "lb", {"name": "api"})
    assert problem(LB, "lb", 'ExactlyOne. "subnets": one of `subnet_mapping,subnets` must be '
                   "specified", "subnets") in none
    both = check(LB, "lb", {"name": "api", "subnets": ["a"], "subnetMappings": [{"subnetId": "a"}]})
    assert problem(
        LB, "lb", 'ExactlyOne. "subnet_mapping": only one of `subnet_mapping,subnets` can be '
        "specified, but `subnet_mapping,subnets` were specified.", "subnetMappings") in both


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("a" * 33, '"name" cannot be longer than 32 characters'),
        ("api.tg", 'only alphanumeric characters and hyphens allowed in "name"'),
        ("-tg", '"name" cannot begin with a hyphen'),
        ("tg-", '"name" cannot end with a hyphen'),
    ],
)
def test_target_group_name(value: str, reason: str) -> None:
    assert check(TG, "tg", {"name": value}) == [problem(TG, "tg", reason, "name")]


def test_target_group_name_prefix() -> None:
    assert check(TG, "tg", {"namePrefix": "toolong"}) == [
        problem(TG, "tg", '"name_prefix" cannot be longer than 6 characters', "namePrefix")
    ]


@pytest.mark.parametrize(("prop", "tf", "value", "reason"), [
    ("name", "name", "lt", '"name" cannot be less than 3 characters'),
    ("name", "name", "l" * 126, '"name" cannot be longer than 125 characters'),
    ("namePrefix", "name_prefix", "l" * 100,
     '"name_prefix" cannot be longer than 99 characters, name is limited to 125'),
    ("name", "name", "pool lt", '"name" can only alphanumeric characters and ()./_- symbols'),
])
def test_launch_template_names(prop: str, tf: str, value: str, reason: str) -> None:
    token = "aws:ec2/launchTemplate:LaunchTemplate"
    assert check(token, "lt", {prop: value}) == [problem(token, "lt", reason, prop)]


# ---- AWS IAM and Secrets Manager


@pytest.mark.parametrize(("type_token", "maximum"), [
    ("aws:iam/role:Role", 64), ("aws:iam/instanceProfile:InstanceProfile", 128)])
def test_iam_names(type_token: str, maximum: int) -> None:
    long = "r" * (maximum + 1)
    assert check(type_token, "r", {"name": long}) == [problem(
        type_token, "r", f"expected length of name to be in the range (1 - {maximum}), got {long}",
        "name")]
    assert check(type_token, "r", {"name": "a/b"}) == [
        problem(type_token, "r", r"invalid value for name (must match [\w+=,.@-])", "name")]


def test_secret_name() -> None:
    token = "aws:secretsmanager/secret:Secret"
    assert check(token, "s", {"name": "acme/a b"}) == [problem(
        token, "s", 'only alphanumeric characters and /_+=.@- special characters are allowed in '
        '"name"', "name")]
    assert check(token, "s", {"name": "a" * 513}) == [
        problem(token, "s", '"name" cannot be greater than 512 characters', "name")]


# ---- GCP


@pytest.mark.parametrize(("token", "extra"), [
    (FW, {"allows": [{}]}), ("gcp:compute/address:Address", {})])
def test_firewall_and_address_names_are_gce_names(token: str, extra: dict[str, Any]) -> None:
    pattern = "^(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)$"
    for bad in ["Fw", "fw-", "1fw", "f" * 64]:
        assert check(token, "fw", {"name": bad, **extra}) == [problem(
            token, "fw", f'"name" ("{bad}") doesn\'t match regexp "{pattern}"', "name")]


def test_firewall_allow_or_deny_and_tag_conflicts() -> None:
    assert check(FW, "fw", {"name": "fw"}) == [
        problem(FW, "fw", 'ExactlyOne. "allow": one of `allow,deny` must be specified', "allows"),
        problem(FW, "fw", 'ExactlyOne. "deny": one of `allow,deny` must be specified', "denies"),
    ]
    found = check(FW, "fw", {"name": "fw", "allows": [{}], "sourceTags": ["a"],
                             "targetServiceAccounts": ["sa@x"]})
    assert found == [
        problem(FW, "fw", 'ConflictsWith. "source_tags": conflicts with target_service_accounts',
                "sourceTags"),
        problem(FW, "fw", 'ConflictsWith. "target_service_accounts": conflicts with source_tags',
                "targetServiceAccounts"),
    ]


def test_firewall_names_at_most_ten_service_accounts_each_way() -> None:
    seven = [f"etcd-{n}-twin@p.iam.gserviceaccount.com" for n in range(7)]
    assert check(FW, "fw", {"name": "fw", "allows": [{}], "sourceServiceAccounts": seven,
                            "targetServiceAccounts": seven}) == []
    eleven = [f"sa-{n}@p.iam.gserviceaccount.com" for n in range(11)]
    found = check(FW, "fw", {"name": "fw", "allows": [{}], "sourceServiceAccounts": eleven,
                             "targetServiceAccounts": eleven})
    assert found == [
        problem(FW, "fw", '"source_service_accounts": at most 10 service accounts per firewall rule, got 11',
                "sourceServiceAccounts"),
        problem(FW, "fw", '"target_service_accounts": at most 10 service accounts per firewall rule, got 11',
                "targetServiceAccounts"),
    ]


def test_service_account_id_is_6_to_30() -> None:
    token = "gcp:serviceaccount/account:Account"
    pattern = "^[a-z](?:[-a-z0-9]{4,28}[a-z0-9])$"
    for bad in ["short", "a" * 31, "Upper-case", "ends-"]:
        assert check(token, "sa", {"accountId": bad}) == [problem(
            token, "sa", f'"account_id" ("{bad}") doesn\'t match regexp "{pattern}"', "accountId")]
    assert check(token, "sa", {"accountId": "wi-prod-etcd-snapshot-edge-fra"}) == []


@pytest.mark.parametrize(("token", "prop", "tf"), [
    ("gcp:iam/workloadIdentityPool:WorkloadIdentityPool", "workloadIdentityPoolId",
     "workload_identity_pool_id"),
    ("gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider",
     "workloadIdentityPoolProviderId", "workload_identity_pool_provider_id"),
])
def test_workload_identity_ids(token: str, prop: str, tf: str) -> None:
    extra: dict[str, Any] = {"oidc": {"issuerUri": "https://x"}} if "Provider" in token else {}
    assert check(token, "p", {prop: "gcp-x", **extra}) == [
        problem(token, "p", f'"{tf}" ("gcp-x") can not start with "gcp-"', prop)]
    assert check(token, "p", {prop: "abc", **extra}) == [
        problem(token, "p", f'"{tf}" cannot be smaller than 4 characters', prop)]
    assert check(token, "p", {prop: "a" * 33, **extra}) == [
        problem(token, "p", f'"{tf}" cannot be greater than 32 characters', prop)]
    assert check(token, "p", {prop: "Pool_1", **extra}) == [problem(
        token, "p", f'"{tf}" must contain only lowercase letters (a-z), numbers (0-9), or dashes (-)',
        prop)]


def test_workload_identity_provider_is_aws_or_oidc() -> None:
    token = "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"
    both = check(token, "p", {"workloadIdentityPoolProviderId": "edge", "aws": {"accountId": "1"},
                              "oidc": {"issuerUri": "https://x"}})
    assert problem(token, "p", 'ExactlyOne. "aws": only one of `aws,oidc` can be specified, but '
                   "`aws,oidc` were specified.", "aws") in both


@pytest.mark.parametrize("type_token", sorted(t for t, r in RULES.items() if r.autoname))
def test_every_auto_named_type_refuses_an_overflowing_name(type_token: str) -> None:
    rule = autoname(type_token)
    assert rule is not None
    long = "n" * (rule.maxlen - rule.randlen)
    assert check(type_token, long, {})[0].startswith(f"could not make instance of '{type_token}'")


IGM = "gcp:compute/instanceGroupManager:InstanceGroupManager"


def test_zonal_group_update_policy_validators() -> None:
    ok = {"minimalAction": "REPLACE", "type": "PROACTIVE", "maxSurgeFixed": 1, "maxUnavailableFixed": 0,
          "replacementMethod": "SUBSTITUTE"}
    assert check(IGM, "g", {"name": "g", "updatePolicy": ok}) == []
    assert check(IGM, "g", {"name": "g", "updatePolicy": {**ok, "minimalAction": "replace"}}) == [problem(
        IGM, "g", 'expected update_policy.0.minimal_action to be one of ["NONE" "REFRESH" "RESTART" "REPLACE"], '
        "got replace", "updatePolicy.minimalAction")]
    assert check(IGM, "g", {"name": "g", "updatePolicy": {**ok, "type": "ROLLING"}}) == [problem(
        IGM, "g", 'expected update_policy.0.type to be one of ["OPPORTUNISTIC" "PROACTIVE"], got ROLLING',
        "updatePolicy.type")]
    assert check(IGM, "g", {"name": "g", "updatePolicy": {**ok, "maxSurgePercent": 20}}) == [
        problem(IGM, "g", 'ConflictsWith. "update_policy.0.max_surge_fixed": conflicts with '
                "update_policy.0.max_surge_percent", "updatePolicy.maxSurgeFixed"),
        problem(IGM, "g", 'ConflictsWith. "update_policy.0.max_surge_percent": conflicts with '
                "update_policy.0.max_surge_fixed", "updatePolicy.maxSurgePercent"),
    ]
    assert check(IGM, "g", {"name": "g", "autoHealingPolicies": {"healthCheck": "hc", "initialDelaySec": 3601}}) == [
        problem(IGM, "g", "expected auto_healing_policies.0.initial_delay_sec to be in the range (0 - 3600), got 3601",
                "autoHealingPolicies.initialDelaySec")]
