"""Fleet RBAC and tenants on one cluster incarnation, through its own Kubernetes provider.

The objects are decided in ``fleetform.plan.identity`` (plain manifests); this module
only declares exactly those through pulumi-kubernetes, each with ``kube.opts(...)``: the
incarnation's explicit provider, after its readiness gate.

- ``fleetform:admins`` / ``fleetform:viewers``: the SSO groups bound to cluster-admin / view.
- per tenant selected for the cluster (``Tenant`` component): its namespace (Pod Security
  ``restricted``), ResourceQuota, LimitRange, the group's RoleBinding to ``edit`` in that
  namespace only, and NetworkPolicies (default deny; allow within the namespace; DNS).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.kube import KubeAccess
from fleetform.addons.rbac import fleet_rbac_objects, tenant_objects
from fleetform.plan import names
from fleetform.plan.identity import IdentityPlan, Tenant
from fleetform.plan.model import ClusterPlan

_KINDS: dict[str, Any] = {
    "Namespace": k8s.core.v1.Namespace,
    "ResourceQuota": k8s.core.v1.ResourceQuota,
    "LimitRange": k8s.core.v1.LimitRange,
    "ClusterRoleBinding": k8s.rbac.v1.ClusterRoleBinding,
    "RoleBinding": k8s.rbac.v1.RoleBinding,
    "NetworkPolicy": k8s.networking.v1.NetworkPolicy,
}
# Manifest field -> the SDK's keyword (nested values keep the API's camelCase names).
_FIELDS = {"metadata": "metadata", "spec": "spec", "roleRef": "role_ref", "subjects": "subjects"}



def object_key(obj: dict[str, Any]) -> str:
    """The name part of an object's resource: kind and object name (stable, unique)."""
    return f"{names.part(obj['kind'])}-{names.part(obj['metadata']['name'])}"


def declare(name: str, obj: dict[str, Any], kube: KubeAccess, parent: pulumi.Resource,
            depends_on: Sequence[pulumi.Resource] = (), **opts: Any) -> pulumi.CustomResource:
    """One manifest as its pulumi-kubernetes resource (unknown kinds fail loudly)."""
    cls = _KINDS[obj["kind"]]
    extra = set(obj) - set(_FIELDS) - {"apiVersion", "kind"}
    if extra:
        raise ValueError(f"{obj['kind']} {obj['metadata']['name']}: unsupported fields {sorted(extra)}")
    kwargs: dict[str, Any] = {py: obj[field] for field, py in _FIELDS.items() if field in obj}
    resource: pulumi.CustomResource = cls(name, opts=kube.opts(parent, depends_on=list(depends_on), **opts),
                                          **kwargs)
    return resource


class TenantSpace(pulumi.ComponentResource):
    """One tenant on one cluster: its namespace and the fences around it."""

    def __init__(self, name: str, tenant: Tenant, minor: str, kube: KubeAccess,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleetform:index:Tenant", name, None, opts)
        objs = tenant_objects(tenant, minor)
        ns_obj, rest = objs[0], objs[1:]
        # Deselecting a tenant must not delete its workloads with it: the namespace is
        # left in place (remove it with kubectl once it is empty).
        self.namespace = declare(names.child(name, object_key(ns_obj)), ns_obj, kube, self,
                                 retain_on_delete=True)
        self.objects = {obj["kind"] + "/" + obj["metadata"]["name"]: declare(
            names.child(name, object_key(obj)), obj, kube, self, depends_on=[self.namespace]) for obj in rest}
        self.register_outputs({"namespace": tenant.namespace, "group": tenant.group})


class ClusterAccess(pulumi.ComponentResource):
    """Fleet RBAC and the tenants selected for one cluster incarnation."""

    def __init__(self, name: str, plan: ClusterPlan, identity: IdentityPlan, kube: KubeAccess,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleetform:index:ClusterAccess", name, None, opts)
        self.bindings = {obj["metadata"]["name"]: declare(names.child(name, obj["metadata"]["name"].split(":")[-1]),
                                                          obj, kube, self)
                         for obj in fleet_rbac_objects(identity)}
        self.tenants = {
            t.name: TenantSpace(names.child(name, "tenant", t.name), t, identity.minor(plan.name), kube,
                                pulumi.ResourceOptions(parent=self))
            for t in identity.tenants_on(plan.name)
        }
        self.register_outputs({"tenants": sorted(self.tenants), "bindings": sorted(self.bindings)})
