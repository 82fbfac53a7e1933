"""One identity per etcd member: on each cloud, a 3-member cluster's members each attach
their own IAM role (instance profile) or service account, each member's secrets are
readable by that identity alone, and GCP's firewall rules for the etcd plane name every
member's account."""

from __future__ import annotations

import json

from planes_support import StackRun

from fleetform.plan import names

AWS_INSTANCE = "aws:ec2/instance:Instance"
AWS_PROFILE = "aws:iam/instanceProfile:InstanceProfile"
AWS_ROLE = "aws:iam/role:Role"
AWS_SECRET = "aws:secretsmanager/secret:Secret"
AWS_SECRET_POLICY = "aws:secretsmanager/secretPolicy:SecretPolicy"
GCP_INSTANCE = "gcp:compute/instance:Instance"
GCP_ACCOUNT = "gcp:serviceaccount/account:Account"
GCP_SECRET = "gcp:secretmanager/secret:Secret"
GCP_SECRET_READER = "gcp:secretmanager/secretIamMember:SecretIamMember"


def _members(run: StackRun) -> list[str]:
    [plan] = run.plan.clusters
    assert len(plan.etcd.members) == 3
    return [m.name for m in plan.etcd.members]


def _member_secrets(run: StackRun, type_: str, member: str) -> list[str]:
    """The keys of the secrets that belong to ``member`` (its server and peer keys, its
    credentials), by the key each secret is labelled with."""
    return sorted(r.inputs[("tags" if type_ == AWS_SECRET else "labels")]["key"] for r in run.of_type(type_)
                  if r.inputs[("tags" if type_ == AWS_SECRET else "labels")]["key"].startswith(f"{member}-"))


def test_aws_each_member_attaches_its_own_role_and_alone_reads_its_secrets(twin_aws: StackRun) -> None:
    run = twin_aws
    members = _members(run)
    [plan] = run.plan.clusters
    roles = {r.inputs["name"]: r for r in run.of_type(AWS_ROLE)}
    profiles = {r.inputs["name"]: r for r in run.of_type(AWS_PROFILE)}
    own_arn: dict[str, str] = {}
    for instance in run.of_type(AWS_INSTANCE):
        member = instance.inputs["tags"].get("etcd-member")
        if member is None:
            continue
        profile = profiles[instance.inputs["iamInstanceProfile"]]
        role = roles[profile.inputs["role"]]
        assert role.inputs["name"] == names.machine_role(run.plan.fleet, plan.key, member)
        assert len(role.inputs["name"]) <= 64 and len(profile.inputs["name"]) <= 128
        assert role.inputs["tags"]["etcd-member"] == profile.inputs["tags"]["etcd-member"] == member
        own_arn[member] = run.outputs(role)["arn"]
    assert sorted(own_arn) == members
    assert len(set(own_arn.values())) == len(members), "two members share a role"

    secrets = {run.outputs(s)["arn"]: s.inputs["tags"]["key"] for s in run.of_type(AWS_SECRET)}
    readers: dict[str, set[str]] = {}
    for policy in run.of_type(AWS_SECRET_POLICY):
        # Readers; a writer statement only on the bootstrap token (the control plane's).
        statements = {st["Sid"]: st for st in json.loads(policy.inputs["policy"])["Statement"]}
        statement = statements.pop("ReadersOnly")
        assert statement["Action"] == "secretsmanager:GetSecretValue"
        assert statement["Resource"] == policy.inputs["secretArn"]
        readers[secrets[policy.inputs["secretArn"]]] = set(statement["Principal"]["AWS"])
        if statements:
            assert secrets[policy.inputs["secretArn"]] == "bootstrap-token"
            assert statements["Writers"]["Action"] == "secretsmanager:PutSecretValue"
    etcd_principals = set(own_arn.values())
    for member in members:
        keys = _member_secrets(run, AWS_SECRET, member)
        assert keys == sorted(f"{member}-{k}" for k in ("credentials", "peer-key", "server-key"))
        for key in keys:
            assert readers[key] == {own_arn[member]}, key
    # No other secret is readable by any etcd member.
    for key, principals in readers.items():
        if not key.startswith(tuple(f"{m}-" for m in members)):
            assert not principals & etcd_principals, key


def test_gcp_each_member_attaches_its_own_account_and_alone_reads_its_secrets(twin_gcp: StackRun) -> None:
    run = twin_gcp
    members = _members(run)
    [plan] = run.plan.clusters
    accounts = {run.outputs(a)["email"]: a for a in run.of_type(GCP_ACCOUNT)}
    own: dict[str, str] = {}
    for instance in run.of_type(GCP_INSTANCE):
        member = instance.inputs["labels"].get("etcd-member")
        if member is None:
            continue
        email = instance.inputs["serviceAccount"]["email"]
        assert accounts[email].inputs["accountId"] == names.machine_account(plan.key, member)
        own[member] = f"serviceAccount:{email}"
    assert sorted(own) == members
    assert len(set(own.values())) == len(members), "two members share a service account"

    secrets = {s.inputs["secretId"]: s.inputs["labels"]["key"] for s in run.of_type(GCP_SECRET)}
    readers: dict[str, set[str]] = {}
    for grant in run.of_type(GCP_SECRET_READER):
        if grant.inputs["role"] == "roles/secretmanager.secretVersionAdder":  # the control plane's token writer
            assert secrets[grant.inputs["secretId"]] == "bootstrap-token"
            continue
        assert grant.inputs["role"] == "roles/secretmanager.secretAccessor"
        readers.setdefault(secrets[grant.inputs["secretId"]], set()).add(grant.inputs["member"])
    for member in members:
        keys = _member_secrets(run, GCP_SECRET, member)
        assert keys == sorted(f"{member}-{k}" for k in ("credentials", "peer-key", "server-key"))
        for key in keys:
            assert readers[key] == {own[member]}, key
    for key, principals in readers.items():
        if not key.startswith(tuple(f"{m}-" for m in members)):
            assert not principals & set(own.values()), key
    # No project-wide grant to any member (Secret Manager access is per secret only).
    project_grants = [g.inputs["member"] for g in run.of_type("gcp:projects/iAMMember:IAMMember")]
    assert not set(project_grants) & set(own.values())


def test_gcp_firewall_rules_of_the_etcd_plane_name_every_member(twin_gcp: StackRun) -> None:
    run = twin_gcp
    emails = {i.inputs["serviceAccount"]["email"] for i in run.of_type(GCP_INSTANCE)
              if "etcd-member" in i.inputs["labels"]}
    assert len(emails) == 3
    etcd_rules = [fw for fw in run.of_type("gcp:compute/firewall:Firewall")
                  if set(fw.inputs.get("targetServiceAccounts", [])) & emails]
    assert etcd_rules
    for fw in etcd_rules:
        # Every member or none: a rule meant for the plane never misses one of them.
        assert set(fw.inputs["targetServiceAccounts"]) == emails, fw.name
        assert len(fw.inputs["targetServiceAccounts"]) <= 10
    peers = [fw for fw in etcd_rules if set(fw.inputs.get("sourceServiceAccounts", [])) & emails]
    assert peers, "no etcd peer rule"
    for fw in peers:
        assert set(fw.inputs["sourceServiceAccounts"]) == emails, fw.name
