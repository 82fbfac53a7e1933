"""fleetform's security rules, as pure functions over resource data.

The same functions run in two places:

* under ``pulumi preview|up --policy-pack policies`` (Pulumi CrossGuard), wrapped by
  ``policies/pack.py`` into ``ResourceValidationPolicy`` / ``StackValidationPolicy``;
* inside ``fleetform plan``, over the resources the offline engine recorded
  (``fleetform/engine/policy.py``).

A *resource rule* is ``check(type, inputs, options) -> iterable of messages``; a *stack
rule* is ``check(subjects, context) -> iterable of (urn, message)`` for the rules that
relate resources to each other (which security group belongs to which plane, which key
signs the root CA). Rules read plain data only: dicts, lists, strings, numbers, booleans.
A value that is not known yet (a preview) or hidden (a masked secret) raises
``Unknown``; callers report that the rule could not run rather than pass or fail it.

One module per concern; importing this package registers every rule in ``RULES`` in the
order below (the pack's policy order). Nothing here imports Pulumi. Every rule is
documented in ``docs/security.md``.
"""

from __future__ import annotations

from policies.rules import (
    apiserver,
    cis_flags,
    durable,
    egress,
    etcd,
    keys,
    machines,
    member_secrets,
    metadata,
    network,
    secrets,
    state,
    vpc,
    workloads,
)
from policies.rules.apiserver import (
    ANONYMOUS_PATHS,
    AUDIT_MINIMUMS,
    STRONG_PROVIDERS,
    ApiServerView,
    api_server_view,
)
from policies.rules.base import (
    AWS_EIP,
    AWS_EIP_ASSOCIATION,
    AWS_INSTANCE,
    AWS_LAUNCH_CONFIGURATION,
    AWS_LAUNCH_TEMPLATE,
    AWS_MACHINES,
    AWS_SG,
    AWS_SG_INGRESS,
    AWS_SG_RULE,
    AWS_SPOT,
    AWS_SUBNET,
    AWS_VOLUME,
    AWS_VOLUME_ATTACHMENT,
    DYNAMIC,
    ETCD_CLIENT_PORT,
    ETCD_DISKS,
    ETCD_PEER_PORT,
    GCP_DISK,
    GCP_FIREWALL,
    GCP_FROM_TEMPLATE,
    GCP_INSTANCE,
    GCP_MACHINES,
    GCP_REGION_DISK,
    GCP_REGION_TEMPLATE,
    GCP_TEMPLATE,
    MACHINES,
    MASKED,
    ROLES,
    TLS_PRIVATE_KEY,
    TLS_SELF_SIGNED,
    UNKNOWN,
    Context,
    Options,
    Rule,
    Subject,
    Unknown,
    _truthy,
    ancestry,
    incarnation,
    is_production_stack,
    machine_role,
    registry,
    tags,
    urn_type,
)
from policies.rules.bootfiles import (
    BootFiles,
    boot_files,
    cloud_config_files,
    user_data_texts,
    yaml_documents,
)
from policies.rules.etcd import _etcd_config
from policies.rules.network import _planes
from policies.rules.secrets import secret_findings
from policies.rules.state import _etcd_disks

# Every rule, in the pack's order (the order ``pulumi preview`` lists the policies in).
RULES: list[Rule] = [*machines.RULES, *apiserver.RULES, *etcd.RULES, *secrets.RULES, *member_secrets.RULES,
                     *network.RULES, *state.RULES, *cis_flags.RULES, *metadata.RULES,
                     *vpc.RULES, *egress.RULES, *workloads.RULES, *durable.RULES,
                     *keys.RULES]
RULE_NAMES = tuple(r.name for r in RULES)

__all__ = [
    "ANONYMOUS_PATHS",
    "AUDIT_MINIMUMS",
    "AWS_EIP",
    "AWS_EIP_ASSOCIATION",
    "AWS_INSTANCE",
    "AWS_LAUNCH_CONFIGURATION",
    "AWS_LAUNCH_TEMPLATE",
    "AWS_MACHINES",
    "AWS_SG",
    "AWS_SG_INGRESS",
    "AWS_SG_RULE",
    "AWS_SPOT",
    "AWS_SUBNET",
    "AWS_VOLUME",
    "AWS_VOLUME_ATTACHMENT",
    "DYNAMIC",
    "ETCD_CLIENT_PORT",
    "ETCD_DISKS",
    "ETCD_PEER_PORT",
    "GCP_DISK",
    "GCP_FIREWALL",
    "GCP_FROM_TEMPLATE",
    "GCP_INSTANCE",
    "GCP_MACHINES",
    "GCP_REGION_DISK",
    "GCP_REGION_TEMPLATE",
    "GCP_TEMPLATE",
    "MACHINES",
    "MASKED",
    "ROLES",
    "RULES",
    "RULE_NAMES",
    "STRONG_PROVIDERS",
    "TLS_PRIVATE_KEY",
    "TLS_SELF_SIGNED",
    "UNKNOWN",
    "ApiServerView",
    "BootFiles",
    "Context",
    "Options",
    "Rule",
    "Subject",
    "Unknown",
    "_etcd_config",
    "_etcd_disks",
    "_planes",
    "_truthy",
    "ancestry",
    "api_server_view",
    "apiserver",
    "boot_files",
    "cis_flags",
    "cloud_config_files",
    "durable",
    "egress",
    "etcd",
    "incarnation",
    "is_production_stack",
    "keys",
    "machine_role",
    "machines",
    "member_secrets",
    "metadata",
    "network",
    "registry",
    "secret_findings",
    "secrets",
    "state",
    "tags",
    "urn_type",
    "user_data_texts",
    "vpc",
    "workloads",
    "yaml_documents",
]
