"""The CrossGuard side: ``policies/rules/`` as pulumi-policy policies.

``__main__.py`` serves these under ``pulumi preview|up --policy-pack policies``. Every
rule is mandatory. Resource rules see a resource's inputs as the engine is about to
send them (``Analyze``); stack rules see every resource's state at the end of the
run (``AnalyzeStack``), with parents, dependencies and property dependencies.

A value the engine does not know during a preview is reported the way pulumi-policy
reports it (an advisory "can't run policy ... during preview"), and the rule runs again
with the real values during ``pulumi up``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pulumi.runtime
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
    _DictProxy,
    _ListProxy,
)
from pulumi_policy.secret import Secret

from policies import rules

PACK_NAME = "fleetform-security"
PACK_DESCRIPTION = ("fleetform's security promises as mandatory rules: etcd isolation, no public "
                    "machines, IMDSv2, encrypted disks, Shielded VMs, no default service account, "
                    "API-server, kubelet and etcd hardening (CIS), protected state, no secrets in user-data, "
                    "metadata concealment, flow logs, egress per role, least-privilege workloads, durable "
                    "buckets, deletion protection, customer-managed keys.")
_UNKNOWNS = frozenset({UNKNOWN_BOOLEAN_VALUE, UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE,
                       UNKNOWN_ARRAY_VALUE, UNKNOWN_ASSET_VALUE, UNKNOWN_ARCHIVE_VALUE,
                       UNKNOWN_OBJECT_VALUE})
_PROJECT = Path(__file__).resolve().parents[1]


def plain(value: Any) -> Any:
    """pulumi-policy's property proxies as plain data, unknowns as ``rules.UNKNOWN``."""
    if isinstance(value, _DictProxy | _ListProxy):
        value = value["__target"]
    if isinstance(value, Secret):
        return plain(value.value)
    if isinstance(value, str):
        return rules.UNKNOWN if value in _UNKNOWNS else value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _unknown(exc: rules.Unknown) -> UnknownValueError:
    return UnknownValueError(UNKNOWN_STRING_VALUE, exc.what.split("."))


def _resource_policy(rule: rules.Rule) -> ResourceValidationPolicy:
    check = rule.resource_check
    assert check is not None

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        options = rules.Options(urn=args.urn, name=args.name, parent=args.opts.parent,
                                protect=bool(args.opts.protect))
        try:
            messages = list(check(args.resource_type, plain(args.props), options))
        except rules.Unknown as exc:
            raise _unknown(exc) from None
        for message in messages:
            report_violation(message, None)

    return ResourceValidationPolicy(name=rule.name, description=rule.description, validate=validate,
                                    enforcement_level=EnforcementLevel(rule.enforcement))


def subject(resource: PolicyResource) -> rules.Subject:
    return rules.Subject(
        type=resource.resource_type,
        inputs=plain(resource.props),
        options=rules.Options(
            urn=resource.urn,
            name=resource.name,
            parent=resource.opts.parent,
            protect=bool(resource.opts.protect),
            dependencies=tuple(d.urn for d in resource.dependencies),
            property_dependencies={k: tuple(d.urn for d in v)
                                   for k, v in resource.property_dependencies.items()},
        ),
    )


def decommissioning(policy_config: Mapping[str, Any]) -> frozenset[str]:
    """Clusters (or incarnation keys) whose etcd disks may be unprotected: the policy
    config's ``decommissioning`` list plus what the stack's own config releases
    (Pulumi hands the stack config to the pack)."""
    names = {str(n) for n in policy_config.get("decommissioning") or ()}
    return frozenset(names | stack_decommissioning())


def stack_decommissioning(config: Mapping[str, str] | None = None,
                          stack: str | None = None) -> set[str]:
    """Incarnation keys the stack's ``fleetform:fleet`` config releases (``released``:
    decommissioned clusters, released migration sources, migration targets in prepare);
    without fleetform's loader, the names of clusters marked ``decommission: true``."""
    config = dict(pulumi.runtime.get_config_env() if config is None else config)
    raw = config.get("fleetform:fleet")
    if not raw:
        return set()
    try:
        fleet = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return set()
    stack = stack or os.environ.get("PULUMI_STACK") or "stack"
    try:  # fleetform's own loader knows layering (defaults, profiles, base file)
        from fleetform.plan.load import load_config

        spec = load_config(fleet, config.get("fleetform:base"), stack=stack,
                           label=f"stacks/Pulumi.{stack}.yaml", stacks_dir=_PROJECT / "stacks")
        from fleetform.engine.policy import released
        from fleetform.plan.fleet import plan_fleet

        # Decommissioned clusters, released migration sources, targets still in prepare.
        return set(released(plan_fleet(spec)))
    except Exception:
        clusters = fleet.get("clusters") if isinstance(fleet, Mapping) else None
        return {str(c.get("name")) for c in clusters or ()
                if isinstance(c, Mapping) and c.get("decommission") is True}


def production(policy_config: Mapping[str, Any]) -> bool:
    """Whether the stack is production: the policy config's ``production`` (of
    production-lb-deletion-protection) when set, else the stack's name (``PULUMI_STACK``)."""
    value = policy_config.get("production")
    if isinstance(value, bool):
        return value
    return rules.is_production_stack(os.environ.get("PULUMI_STACK") or "")


def _stack_policy(rule: rules.Rule) -> StackValidationPolicy:
    check = rule.stack_check
    assert check is not None

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        subjects = [subject(r) for r in args.resources]
        config = args.get_config()
        context = rules.Context(decommissioning=decommissioning(config), production=production(config))
        try:
            found = list(check(subjects, context))
        except rules.Unknown as exc:
            raise _unknown(exc) from None
        for urn, message in found:
            report_violation(message, urn or None)

    schema = None
    if rule.name == "protected-etcd-data-and-root-ca":
        schema = PolicyConfigSchema(properties={
            "decommissioning": {"type": "array", "items": {"type": "string"},
                                "description": "clusters (names or incarnation keys) being decommissioned"},
        })
    elif rule.name == "production-lb-deletion-protection":
        schema = PolicyConfigSchema(properties={
            "production": {"type": "boolean",
                           "description": "the stack is production (default: from its name, prod or production)"},
        })
    return StackValidationPolicy(name=rule.name, description=rule.description, validate=validate,
                                 enforcement_level=EnforcementLevel(rule.enforcement),
                                 config_schema=schema)


def build_policies(names: Iterable[str] | None = None) -> list[Policy]:
    """One pulumi-policy policy per rule of ``policies/rules/`` (``rules.RULES``)."""
    wanted = None if names is None else set(names)
    policies: list[Policy] = []
    for rule in rules.RULES:
        if wanted is not None and rule.name not in wanted:
            continue
        policies.append(_resource_policy(rule) if rule.resource_check is not None
                        else _stack_policy(rule))
    return policies
