"""``etcd-member-own-secrets``: the real program gives each etcd member an identity of its
own that alone reads its secrets; a shared identity, another reader on a member's secret,
or a wildcard grant of secret reads to a member is caught offline and through
pulumi-policy's analyzer alike (``both``), and through property dependencies (what the
offline engine and CrossGuard record) as through names."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import pytest
from policy_helpers import Record, both, find, of_incarnation

from fleetform.engine.policy import evaluate
from fleetform.engine.records import ProgramResult
from policies import rules

RULE = "etcd-member-own-secrets"
AWS = "eu-core-aws-eu-west-1"
GCP = "us-gcp-gcp-us-central1"


def _one(recs: list[Record], type_: str, name: str) -> Record:
    [r] = [r for r in recs if r["type"] == type_ and r["name"] == name]
    return r


def _extra(recs: list[Record], template: Record, name: str, **inputs: Any) -> Record:
    """A new resource made from ``template`` (another of its type), with ``inputs``."""
    r = copy.deepcopy(template)
    r["urn"] = r["urn"].rsplit("::", 1)[0] + f"::{name}"
    r["name"] = name
    r["inputs"].update(inputs)
    _literal(r, *inputs)
    recs.append(r)
    return r


def _literal(r: Record, *props: str) -> None:
    """``props`` now hold values written in the program, not another resource's outputs:
    they depend on nothing (as the engine would record them)."""
    for prop in props:
        r.get("property_dependencies", {}).pop(prop, None)


def _messages(found: set[tuple[str, str]], r: Record) -> list[str]:
    return [m for u, m in found if u == r["urn"]]


@pytest.mark.parametrize("key", [AWS, GCP])
def test_the_real_program_passes(prod: list[Record], key: str) -> None:
    assert both(of_incarnation(prod, key), RULE) == set()


def test_the_real_program_passes_with_property_dependencies(prod_result: ProgramResult) -> None:
    found = evaluate(prod_result.resources, only=[RULE])
    assert [v for v in found if v.mandatory] == [], found


# ---------------------------------------------------------------- AWS


def test_aws_members_sharing_a_role_are_caught(prod: list[Record]) -> None:
    subset = of_incarnation(prod, AWS)
    one = find(subset, rules.AWS_INSTANCE, name=f"{AWS}-etcd-etcd-1")
    one["inputs"]["iamInstanceProfile"] = f"acme-{AWS}-etcd-0"
    _literal(one, "iamInstanceProfile")
    [message] = _messages(both(subset, RULE), one)
    assert "etcd member etcd-1 runs as the same identity as etcd-0" in message


def test_aws_another_members_role_on_a_members_secret_is_caught(prod: list[Record]) -> None:
    subset = of_incarnation(prod, AWS)
    policy = _one(subset, "aws:secretsmanager/secretPolicy:SecretPolicy", f"{AWS}-etcd-etcd-0-server-key-policy")
    doc = json.loads(policy["inputs"]["policy"])
    doc["Statement"][0]["Principal"]["AWS"].append(f"arn:aws:iam::123456789012:role/acme-{AWS}-etcd-2")
    policy["inputs"]["policy"] = json.dumps(doc)
    [message] = _messages(both(subset, RULE), policy)
    assert message == "etcd-0's secret etcd-0-server-key is readable by etcd member etcd-2: only etcd-0's own " \
                      "identity may read it"


def test_aws_a_member_secret_readable_by_the_whole_account_is_caught(prod: list[Record]) -> None:
    subset = of_incarnation(prod, AWS)
    policy = _one(subset, "aws:secretsmanager/secretPolicy:SecretPolicy", f"{AWS}-etcd-etcd-1-credentials-policy")
    doc = json.loads(policy["inputs"]["policy"])
    doc["Statement"][0]["Principal"] = {"AWS": "arn:aws:iam::123456789012:root"}
    policy["inputs"]["policy"] = json.dumps(doc)
    assert "readable by anyone" in _messages(both(subset, RULE), policy)[0]


@pytest.mark.parametrize(("resource", "words"), [
    ("*", "a wildcard reaches the other members' keys"),
    ("arn:aws:secretsmanager:eu-west-1:123456789012:secret:acme/eu-core-aws-eu-west-1-d5fda2/etcd-1-peer-key-AbCdEf",
     "which is not one of etcd-0's own secrets"),
])
def test_aws_an_identity_policy_reading_secrets_on_a_member_role_is_caught(
        prod: list[Record], resource: str, words: str) -> None:
    subset = of_incarnation(prod, AWS)
    template = next(r for r in subset if r["type"] == "aws:iam/rolePolicy:RolePolicy")
    grant = _extra(subset, template, f"{AWS}-etcd-0-reads", role=f"acme-{AWS}-etcd-0", policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": resource}]}))
    assert any(words in m for m in _messages(both(subset, RULE), grant))


def test_aws_a_broad_managed_policy_on_a_member_role_is_caught(prod: list[Record]) -> None:
    subset = of_incarnation(prod, AWS)
    template = next(r for r in subset if r["type"] == "aws:iam/rolePolicy:RolePolicy")
    attach = _extra(subset, template, f"{AWS}-etcd-2-admin", role=f"acme-{AWS}-etcd-2",
                    policyArn="arn:aws:iam::aws:policy/SecretsManagerReadWrite")
    attach["type"] = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
    attach["urn"] = attach["urn"].replace("aws:iam/rolePolicy:RolePolicy", attach["type"])
    del attach["inputs"]["policy"]
    assert "reads every secret" in _messages(both(subset, RULE), attach)[0]


def test_shared_identity_is_caught_through_property_dependencies(prod_result: ProgramResult) -> None:
    """The engine's own records: the instance's ``iamInstanceProfile`` came from etcd-0's
    profile, whatever name it carries."""
    resources = list(prod_result.resources)
    profile = next(r for r in resources if r.type == "aws:iam/instanceProfile:InstanceProfile"
                   and r.name == f"{AWS}-network-etcd-0-profile")
    n, one = next((n, r) for n, r in enumerate(resources)
                  if r.type == rules.AWS_INSTANCE and r.name == f"{AWS}-etcd-etcd-1")
    resources[n] = dataclasses.replace(one, property_dependencies={
        **one.property_dependencies, "iamInstanceProfile": (profile.urn,)})
    found = {v.urn: v.message for v in evaluate(resources, only=[RULE]) if v.mandatory}
    assert "etcd member etcd-1 runs as the same identity as etcd-0" in found.pop(one.urn)
    # And etcd-1's own secrets name a reader that is no longer the role it runs as.
    assert sorted(found.values()) == [
        f"etcd-1's secret etcd-1-{key} is readable by {AWS}-network-etcd-1: only etcd-1's own identity may read it"
        for key in ("credentials", "peer-key", "server-key")]


# ---------------------------------------------------------------- GCP


def _account(member: str) -> str:
    return f"{member}-{GCP}@acme-fleet.iam.gserviceaccount.com"


def test_gcp_members_sharing_a_service_account_are_caught(prod: list[Record]) -> None:
    subset = of_incarnation(prod, GCP)
    two = find(subset, rules.GCP_INSTANCE, name=f"{GCP}-etcd-etcd-2")
    two["inputs"]["serviceAccount"]["email"] = _account("etcd-1")
    _literal(two, "serviceAccount")
    [message] = _messages(both(subset, RULE), two)
    assert "etcd member etcd-2 runs as the same identity as etcd-1" in message


@pytest.mark.parametrize(("member", "words"), [
    (f"serviceAccount:{_account('etcd-1')}", "readable by etcd member etcd-1"),
    ("allAuthenticatedUsers", "readable by anyone"),
])
def test_gcp_another_reader_of_a_members_secret_is_caught(prod: list[Record], member: str, words: str) -> None:
    subset = of_incarnation(prod, GCP)
    template = _one(subset, "gcp:secretmanager/secretIamMember:SecretIamMember",
                    f"{GCP}-etcd-etcd-0-peer-key-reader-etcd-0")
    grant = _extra(subset, template, f"{GCP}-etcd-etcd-0-peer-key-reader-extra", member=member)
    [message] = _messages(both(subset, RULE), grant)
    assert words in message and "etcd-0's secret etcd-0-peer-key" in message


def test_gcp_a_project_wide_secret_role_for_a_member_is_caught(prod: list[Record]) -> None:
    subset = of_incarnation(prod, GCP)
    template = next(r for r in subset if r["type"] == "gcp:projects/iAMMember:IAMMember")
    grant = _extra(subset, template, f"{GCP}-etcd-0-accessor", role="roles/secretmanager.secretAccessor",
                   member=f"serviceAccount:{_account('etcd-0')}")
    [message] = _messages(both(subset, RULE), grant)
    assert message.startswith("etcd member etcd-0 holds roles/secretmanager.secretAccessor on the project")


def test_other_grants_and_other_secrets_pass(prod: list[Record]) -> None:
    """A control-plane secret read by the control plane, a member's KMS and bucket grants:
    nothing of another member's."""
    subset = of_incarnation(prod, GCP)
    template = next(r for r in subset if r["type"] == "gcp:projects/iAMMember:IAMMember")
    _extra(subset, template, f"{GCP}-etcd-0-metrics", role="roles/monitoring.metricWriter",
           member=f"serviceAccount:{_account('etcd-0')}")
    assert both(subset, RULE) == set()


def test_the_rule_meets_every_member_of_prod(prod_result: ProgramResult) -> None:
    """Not vacuous: with every member of every incarnation (25 members in 7) running as its
    incarnation's etcd-0 identity, all 18 others are caught, and the 54 secrets of theirs
    name a reader they no longer run as."""
    resources = list(prod_result.resources)
    first = {r.name.removesuffix("-network-etcd-0-profile").removesuffix("-network-etcd-0"): r.urn
             for r in resources
             if (r.type == "aws:iam/instanceProfile:InstanceProfile" and r.name.endswith("-network-etcd-0-profile"))
             or (r.type == "gcp:serviceaccount/account:Account" and r.name.endswith("-network-etcd-0"))}
    assert len(first) == 7
    prop = {rules.AWS_INSTANCE: "iamInstanceProfile", rules.GCP_INSTANCE: "serviceAccount"}
    members = 0
    for n, r in enumerate(resources):
        if r.type in prop and "etcd-member" in rules.tags(r.inputs):
            members += 1
            key = rules.incarnation(r.inputs)
            resources[n] = dataclasses.replace(r, property_dependencies={
                **r.property_dependencies, prop[r.type]: (first[key],)})
    assert members == 25
    messages = [v.message for v in evaluate(resources, only=[RULE]) if v.mandatory]
    assert sum("runs as the same identity as etcd-0" in m for m in messages) == 18
    assert sum("only etcd-" in m for m in messages) == 54
    assert len(messages) == 72
