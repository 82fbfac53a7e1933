"""The rule on etcd members' identities: each member has its own, and its own secrets (its
server and peer keys, its credentials) are readable by that identity alone, so a member
that is broken into reads no other member's keys.

Who is who comes from the graph: a member is an etcd machine with an ``etcd-member`` tag
(label); its identity is the IAM role behind the instance profile it attaches (AWS) or
the service account it runs as (GCP), followed through property dependencies (what
CrossGuard and the offline engine both record) or, failing those, through names. A
member's secrets are the secrets of its incarnation whose ``key`` tag starts with
``<member>-``."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from policies.rules.base import (
    AWS_INSTANCE,
    GCP_INSTANCE,
    UNKNOWN,
    Context,
    Rule,
    Subject,
    _dict,
    _list,
    _seen,
    incarnation,
    machine_role,
    registry,
    tags,
)

RULES: list[Rule] = []
rule = registry(RULES)

AWS_ROLE = "aws:iam/role:Role"
AWS_PROFILE = "aws:iam/instanceProfile:InstanceProfile"
AWS_SECRET = "aws:secretsmanager/secret:Secret"
AWS_SECRET_POLICY = "aws:secretsmanager/secretPolicy:SecretPolicy"
AWS_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
AWS_ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
GCP_ACCOUNT = "gcp:serviceaccount/account:Account"
GCP_SECRET = "gcp:secretmanager/secret:Secret"
GCP_SECRET_GRANTS = ("gcp:secretmanager/secretIamMember:SecretIamMember",
                     "gcp:secretmanager/secretIamBinding:SecretIamBinding")
GCP_PROJECT_GRANTS = ("gcp:projects/iAMMember:IAMMember", "gcp:projects/iAMBinding:IAMBinding")
# Project roles that read every secret's payload.
GCP_SECRET_READING_ROLES = frozenset({"roles/secretmanager.secretAccessor", "roles/secretmanager.admin",
                                      "roles/owner", "roles/editor"})
# AWS managed policies that allow secretsmanager:GetSecretValue on every secret.
AWS_SECRET_READING_POLICIES = frozenset(f"arn:aws:iam::aws:policy/{p}" for p in (
    "SecretsManagerReadWrite", "AdministratorAccess", "PowerUserAccess"))
_READ_ACTIONS = re.compile(r"^(\*|secretsmanager:(\*|Get\*|GetSecretValue))$", re.IGNORECASE)
ANYONE = "*"


@dataclass
class _Graph:
    by_urn: dict[str, Subject]
    # identity token -> (incarnation, member) of every member that wears it
    worn: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    # (incarnation, member) -> its identity token
    own: dict[tuple[str, str], str] = field(default_factory=dict)

    def linked(self, s: Subject, prop: str, type_: str) -> list[Subject]:
        return [self.by_urn[u] for u in s.options.property_dependencies.get(prop, ())
                if u in self.by_urn and self.by_urn[u].type == type_]

    # (type, property) -> value -> subjects of that type with that value, in graph order:
    # built on first use, so a lookup per machine or grant is not a scan of the stack
    # (quadratic in the fleet's size).
    _index: dict[tuple[str, str], dict[Any, list[Subject]]] = field(default_factory=dict)

    def _by(self, type_: str, prop: str, key: Callable[[Subject], Any]) -> dict[Any, list[Subject]]:
        index = self._index.get((type_, prop))
        if index is None:
            index = {}
            for s in self.by_urn.values():
                if s.type == type_:
                    value = key(s)
                    if isinstance(value, Hashable):
                        index.setdefault(value, []).append(s)
            self._index[type_, prop] = index
        return index

    def named(self, type_: str, prop: str, value: Any) -> list[Subject]:
        if not value:
            return []
        if not isinstance(value, Hashable):
            return [s for s in self.by_urn.values() if s.type == type_ and s.inputs.get(prop) == value]
        return list(self._by(type_, prop, lambda s: s.inputs.get(prop)).get(value, ()))

    def accounts(self, email: str) -> list[Subject]:
        """GCP service accounts with this email, in graph order."""
        return list(self._by(GCP_ACCOUNT, "@email", _email).get(email, ()))


def _email(account: Subject) -> str:
    i = account.inputs
    return f"{i.get('accountId')}@{i.get('project')}.iam.gserviceaccount.com"


def _identity(g: _Graph, machine: Subject) -> str:
    """The token of the identity a member's machine runs as: the URN of its IAM role or
    service account where the graph shows it, else what the machine names."""
    if machine.type == AWS_INSTANCE:
        name = _seen(machine.inputs.get("iamInstanceProfile"), "iamInstanceProfile")
        profiles = g.linked(machine, "iamInstanceProfile", AWS_PROFILE) or g.named(AWS_PROFILE, "name", name)
        for profile in profiles:
            roles = g.linked(profile, "role", AWS_ROLE) or g.named(AWS_ROLE, "name", profile.inputs.get("role"))
            if roles:
                return roles[0].urn
        return f"instance-profile:{name}"
    email = str(_seen(_dict(machine.inputs.get("serviceAccount")).get("email"), "serviceAccount.email"))
    accounts = g.linked(machine, "serviceAccount", GCP_ACCOUNT) or g.accounts(email)
    return accounts[0].urn if accounts else f"serviceAccount:{email}"


def _aws_principal(g: _Graph, arn: str) -> str:
    if arn == "*" or re.match(r"^(arn:aws[a-z-]*:iam::)?\d{12}(:root)?$", arn):
        return ANYONE  # everyone, or the whole account (every identity policy in it)
    if ":role/" in arn:
        roles = g.named(AWS_ROLE, "name", arn.rsplit("/", 1)[-1])
        if roles:
            return roles[0].urn
    return arn


def _gcp_principal(g: _Graph, member: str) -> str:
    if member in ("allUsers", "allAuthenticatedUsers"):
        return ANYONE
    email = member.split(":", 1)[-1]
    accounts = g.accounts(email)
    return accounts[0].urn if accounts else member


def _statements(text: Any, what: str) -> list[Mapping[str, Any]]:
    doc = json.loads(str(_seen(text, what)))
    return [_dict(s) for s in _list(_dict(doc).get("Statement")) if _dict(s).get("Effect") == "Allow"]


def _reads(statement: Mapping[str, Any]) -> bool:
    return any(_READ_ACTIONS.match(str(a)) for a in _list(statement.get("Action")))


def _secret_policy_readers(g: _Graph, s: Subject) -> set[str]:
    if s.inputs.get("policy") is UNKNOWN:
        # A preview before the roles exist: the policy's principals are the roles it was
        # made from.
        return {r.urn for r in g.linked(s, "policy", AWS_ROLE)}
    if s.inputs.get("policy") is None:
        return set()
    try:
        statements = _statements(s.inputs.get("policy"), "policy")
    except json.JSONDecodeError:
        return set()
    readers: set[str] = set()
    for st in statements:
        if not _reads(st):
            continue
        principal = st.get("Principal")
        arns = [principal] if isinstance(principal, str) else _list(_dict(principal).get("AWS"))
        readers |= {_aws_principal(g, str(_seen(a, "policy principal"))) for a in arns}
    return readers


def _member_of_secret(s: Subject, members: set[tuple[str, str]]) -> tuple[str, str] | None:
    key, inc = tags(s.inputs).get("key", ""), incarnation(s.inputs)
    return next(((i, m) for i, m in members if i == inc and key.startswith(f"{m}-")), None)


@rule("etcd-member-own-secrets",
      "Every etcd member runs as an identity of its own (AWS IAM role and instance profile, "
      "GCP service account), and a member's secrets (its server and peer keys, its "
      "credentials) are readable by that identity alone: no shared identity, no other "
      "reader, no wildcard grant of secret reads to a member.",
      stack=True)
def etcd_member_own_secrets(subjects: Sequence[Subject], context: Context) -> Iterator[tuple[str, str]]:
    g = _Graph({s.urn: s for s in subjects})
    for s in subjects:
        if s.type not in (AWS_INSTANCE, GCP_INSTANCE) or machine_role(s.type, s.inputs, s.options) != "etcd":
            continue
        member = tags(s.inputs).get("etcd-member")
        if not member:
            continue
        who = (incarnation(s.inputs), member)
        token = _identity(g, s)
        g.own[who] = token
        g.worn.setdefault(token, []).append(who)
        others = [m for i, m in g.worn[token] if i == who[0] and m != member]
        if others:
            yield s.urn, (f"etcd member {member} runs as the same identity as {', '.join(sorted(others))}: each "
                          "can read the others' keys; give every member an identity of its own")
    members = set(g.own)
    secrets = {s.urn: owner for s in subjects if s.type in (AWS_SECRET, GCP_SECRET)
               and (owner := _member_of_secret(s, members)) is not None}
    member_tokens = g.worn

    def judge(grant: Subject, secret_urns: Sequence[str], readers: set[str]) -> Iterator[tuple[str, str]]:
        for urn in secret_urns:
            if urn not in secrets:
                continue
            inc, member = secrets[urn]
            key = tags(g.by_urn[urn].inputs).get("key", urn)
            for r in sorted(readers - {g.own[(inc, member)]}):
                whom = "anyone" if r == ANYONE else (
                    f"etcd member {member_tokens[r][0][1]}" if r in member_tokens else r.rsplit("::", 1)[-1])
                yield grant.urn, (f"{member}'s secret {key} is readable by {whom}: only {member}'s own "
                                  "identity may read it")

    for s in subjects:
        if s.type == AWS_SECRET_POLICY:
            arn = str(s.inputs.get("secretArn", ""))
            linked = [u for u in s.options.property_dependencies.get("secretArn", ()) if u in secrets] or [
                u for u in secrets if g.by_urn[u].type == AWS_SECRET and g.by_urn[u].inputs.get("name")
                and f":secret:{g.by_urn[u].inputs['name']}-" in arn]
            yield from judge(s, linked, _secret_policy_readers(g, s))
        elif s.type in GCP_SECRET_GRANTS:
            linked = [u for u in s.options.property_dependencies.get("secretId", ()) if u in secrets] or [
                u for u in secrets if g.by_urn[u].type == GCP_SECRET
                and str(s.inputs.get("secretId", "")).rsplit("/", 1)[-1] == g.by_urn[u].inputs.get("secretId")]
            principals = [s.inputs.get("member")] if "member" in s.inputs else _list(s.inputs.get("members"))
            yield from judge(s, linked, {_gcp_principal(g, str(_seen(p, "member"))) for p in principals})
        elif s.type in GCP_PROJECT_GRANTS and s.inputs.get("role") in GCP_SECRET_READING_ROLES:
            principals = [s.inputs.get("member")] if "member" in s.inputs else _list(s.inputs.get("members"))
            for p in principals:
                token = _gcp_principal(g, str(_seen(p, "member")))
                for _, m in member_tokens.get(token, ()):
                    yield s.urn, (f"etcd member {m} holds {s.inputs.get('role')} on the project: it reads "
                                  "every secret, the other members' keys included")
        elif s.type in (AWS_ROLE_POLICY, AWS_ROLE_POLICY_ATTACHMENT):
            yield from _aws_identity_grant(g, s, secrets, member_tokens)


def _aws_identity_grant(g: _Graph, s: Subject, secrets: Mapping[str, tuple[str, str]],
                        member_tokens: Mapping[str, list[tuple[str, str]]]) -> Iterator[tuple[str, str]]:
    """An identity policy of a member's role that reads any secret but the member's own."""
    roles = g.linked(s, "role", AWS_ROLE) or g.named(AWS_ROLE, "name", s.inputs.get("role"))
    whos = [who for r in roles for who in member_tokens.get(r.urn, ())]
    if not whos:
        return
    if s.type == AWS_ROLE_POLICY_ATTACHMENT:
        arn = str(_seen(s.inputs.get("policyArn"), "policyArn"))
        if arn in AWS_SECRET_READING_POLICIES:
            for _, m in whos:
                yield s.urn, f"etcd member {m}'s role has {arn}: it reads every secret, the other members' keys included"
        return
    for st in _statements(s.inputs.get("policy"), "policy"):
        if not _reads(st):
            continue
        for resource in (str(_seen(r, "Resource")) for r in _list(st.get("Resource"))):
            for inc, m in whos:
                own = [g.by_urn[u] for u, who in secrets.items() if who == (inc, m)]
                if "*" in resource:
                    yield s.urn, (f"etcd member {m}'s role reads secrets matching {resource!r}: a wildcard "
                                  "reaches the other members' keys")
                elif not any(str(o.inputs.get("name", "")) and f":secret:{o.inputs.get('name')}-" in resource
                             for o in own):
                    yield s.urn, f"etcd member {m}'s role reads {resource}, which is not one of {m}'s own secrets"
