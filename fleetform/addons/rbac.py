"""Fleet RBAC and tenants as plain Kubernetes objects (pure): the fleet's groups on every
cluster, and each tenant's namespaces, quotas, roles and network policies."""

from __future__ import annotations

from typing import Any

from fleetform.plan.identity import (
    MANAGED_BY,
    RBAC_GROUP,
    TENANT_LABEL,
    IdentityPlan,
    Tenant,
    member_of_management,
)


def _meta(
    name: str, namespace: str | None = None, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {**MANAGED_BY, **(labels or {})}}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def _group(name: str) -> dict[str, str]:
    return {"kind": "Group", "apiGroup": RBAC_GROUP, "name": name}


def fleet_rbac_objects(identity: IdentityPlan) -> list[dict[str, Any]]:
    """The fleet's groups on every cluster: admins -> cluster-admin, viewers -> view."""
    objs = []
    for key, grp, role in (
        ("admins", identity.admins_group, "cluster-admin"),
        ("viewers", identity.viewers_group, "view"),
    ):
        if grp is None:
            continue
        objs.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": _meta(f"fleetform:{key}"),
                "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
                "subjects": [_group(grp)],
            }
        )
    return objs


def tenant_objects(tenant: Tenant, minor: str) -> list[dict[str, Any]]:
    """One tenant's namespace on one cluster, and everything that fences it in."""
    ns = tenant.namespace
    labels = {TENANT_LABEL: tenant.name}
    q = tenant.quota
    pss = {
        f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")
    }
    pss.update(
        {
            f"pod-security.kubernetes.io/{mode}-version": f"v{minor}"
            for mode in ("enforce", "audit", "warn")
        }
    )
    everything: dict[str, Any] = {}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(ns, labels={**labels, **pss})},
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": _meta("tenant-quota", ns, labels),
            "spec": {
                "hard": {
                    "requests.cpu": q.cpu,
                    "requests.memory": q.memory,
                    "limits.memory": q.memory,
                    "pods": str(q.pods),
                }
            },
        },
        {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": _meta("tenant-defaults", ns, labels),
            "spec": {
                "limits": [
                    {
                        "type": "Container",
                        "defaultRequest": {
                            "cpu": q.default_cpu_request,
                            "memory": q.default_memory_request,
                        },
                        "default": {"memory": q.default_memory_limit},
                    }
                ]
            },
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": _meta("fleetform:tenant-edit", ns, labels),
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": "edit"},
            "subjects": [_group(tenant.group)],
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": _meta("default-deny", ns, labels),
            "spec": {"podSelector": everything, "policyTypes": ["Ingress", "Egress"]},
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": _meta("allow-same-namespace", ns, labels),
            "spec": {
                "podSelector": {},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"podSelector": {}}]}],
                "egress": [{"to": [{"podSelector": {}}]}],
            },
        },
        # Without name resolution nothing works; cluster DNS is the one way out.
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": _meta("allow-dns", ns, labels),
            "spec": {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {
                                    "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                                },
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                            }
                        ],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                    }
                ],
            },
        },
    ]


def cluster_objects(identity: IdentityPlan, cluster: str) -> list[dict[str, Any]]:
    """Every Kubernetes object the fleet declares on ``cluster``."""
    objs = fleet_rbac_objects(identity)
    if identity.management is not None and member_of_management(identity, cluster):
        objs.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": _meta("fleetform:management"),
                "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{"kind": "User", "apiGroup": RBAC_GROUP, "name": identity.management.user}],
            }
        )
    for t in identity.tenants_on(cluster):
        objs += tenant_objects(t, identity.minor(cluster))
    return objs
