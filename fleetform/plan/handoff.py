"""GitOps registration as data (pure): how each cluster is handed to the management
cluster, as an Argo CD cluster Secret and as a ClusterProfile.

Credentials are short-lived by construction: no token or key is ever written into the
management cluster. Argo CD's application controller reads its own projected
service-account token (audience ``ManagementPlan.audience``, rotated by the kubelet) and
hands it to the member cluster through ``execProviderConfig``; each member's API server
trusts the management cluster's service-account issuer for that audience only (a JWT
authenticator in its AuthenticationConfiguration) and maps the controller to one user,
bound to cluster-admin by the fleet RBAC."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from fleetform.plan.model import ClusterPlan, FleetPlan
from fleetform.spec.handoff import ManagementSpec

CLUSTER_MANAGER = "fleetform"
# Prefix of the management controller's user name in member clusters: it cannot collide
# with SSO users (their own prefix) or the member's own service accounts (system:).
USER_PREFIX = "fleetform-management:"
# Where the application controller's projected token is mounted (docs/handoff.md).
TOKEN_PATH = "/var/run/secrets/fleetform.io/management/token"
TOKEN_EXPIRATION_SECONDS = 3600
EXEC_API_VERSION = "client.authentication.k8s.io/v1"
LABEL_PREFIX = "fleetform.io/"
IN_CLUSTER_SERVER = "https://kubernetes.default.svc"
TENANT_LABEL_PREFIX = "tenant.fleetform.io/"


@dataclass(frozen=True)
class ManagementPlan:
    """Where the fleet is registered and whom the member clusters trust for it."""

    cluster: str | None  # a cluster of this fleet, or None for an outside context
    context: str | None
    issuer_url: str  # the management cluster's service-account issuer
    audience: str
    argocd_namespace: str
    argocd_project: str
    argocd_service_account: str
    profiles_namespace: str
    excluded: tuple[str, ...] = ()  # clusters with `register: false`

    @property
    def controller_subject(self) -> str:
        return f"system:serviceaccount:{self.argocd_namespace}:{self.argocd_service_account}"

    @property
    def user(self) -> str:
        """The user name the controller has in every member cluster."""
        return USER_PREFIX + self.controller_subject

    def to_json(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster, "context": self.context, "issuer": self.issuer_url,
            "audience": self.audience, "user": self.user,
            "argocd": {"namespace": self.argocd_namespace, "project": self.argocd_project},
            "cluster_profiles": {"namespace": self.profiles_namespace},
        }


@dataclass(frozen=True)
class Registration:
    """One cluster as the management cluster knows it: under its serving incarnation."""

    cluster: str
    key: str
    server: str
    labels: tuple[tuple[str, str], ...]

    def to_json(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "incarnation": self.key, "server": self.server,
                "labels": dict(self.labels)}


def plan_management(spec: ManagementSpec | None, plan: FleetPlan, issuer_of: dict[str, str],
                    excluded: tuple[str, ...] = ()) -> ManagementPlan | None:
    """``issuer_of``: each logical cluster's service-account issuer URL (identity plan).
    Expects a validated spec (validate/handoff.py)."""
    if spec is None:
        return None
    issuer = spec.issuer if spec.issuer is not None else issuer_of[str(spec.cluster)]
    return ManagementPlan(
        cluster=spec.cluster,
        context=spec.context,
        issuer_url=issuer,
        audience=f"fleetform:{plan.fleet}:{plan.stack}",
        argocd_namespace=spec.argocd.namespace,
        argocd_project=spec.argocd.project,
        argocd_service_account=spec.argocd.service_account,
        profiles_namespace=spec.cluster_profiles.namespace,
        excluded=excluded,
    )


def serving(plan: FleetPlan) -> tuple[ClusterPlan, ...]:
    """The incarnation that serves each cluster's name (a moving cluster has two)."""
    return tuple(c for c in plan.clusters if c.serving)


def labels_for(c: ClusterPlan, stack: str, tenants: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    labels = {
        f"{LABEL_PREFIX}cluster": c.name,
        f"{LABEL_PREFIX}cloud": c.cloud,
        f"{LABEL_PREFIX}region": c.region,
        f"{LABEL_PREFIX}kubernetes-version": c.kubernetes_version,
        f"{LABEL_PREFIX}environment": stack,
        **{f"{TENANT_LABEL_PREFIX}{t}": "true" for t in tenants},
    }
    return tuple(sorted(labels.items()))


def registrations(plan: FleetPlan, mgmt: ManagementPlan,
                  tenants_of: dict[str, tuple[str, ...]]) -> tuple[Registration, ...]:
    """Every serving incarnation, in plan order; decommissioned clusters are not registered
    (removing a registration is how decommissioning reaches the management cluster)."""
    return tuple(
        Registration(
            cluster=c.name,
            key=c.key,
            server=f"https://{c.api.dns}:{c.api.port}",
            labels=labels_for(c, plan.stack, tenants_of.get(c.name, ())),
        )
        for c in serving(plan) if not c.decommission and c.name not in mgmt.excluded
    )


def exec_provider(mgmt: ManagementPlan) -> dict[str, Any]:
    """Argo CD's ``execProviderConfig``: print an ExecCredential around the controller's
    own projected token (the image has a POSIX shell; the token file is read each time)."""
    credential = ('{"apiVersion":"' + EXEC_API_VERSION + '","kind":"ExecCredential",'
                  '"status":{"token":"%s"}}')
    return {
        "command": "sh",
        "args": ["-c", f"printf '{credential}' \"$(cat {TOKEN_PATH})\""],
        "apiVersion": EXEC_API_VERSION,
    }


def argocd_secret(reg: Registration, mgmt: ManagementPlan, ca_pem: str) -> dict[str, Any]:
    """The declarative Argo CD cluster Secret (no bearer token, no client key)."""
    config: dict[str, Any]
    if reg.cluster == mgmt.cluster:
        # The host itself: Argo CD's in-cluster access (its own service account).
        server, config = IN_CLUSTER_SERVER, {"tlsClientConfig": {"insecure": False}}
    else:
        server, config = reg.server, {
            "execProviderConfig": exec_provider(mgmt),
            "tlsClientConfig": {"caData": base64.b64encode(ca_pem.encode()).decode()},
        }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": f"cluster-{reg.cluster}",
            "namespace": mgmt.argocd_namespace,
            "labels": {"argocd.argoproj.io/secret-type": "cluster", **dict(reg.labels)},
        },
        "type": "Opaque",
        "stringData": {
            "name": reg.cluster,
            "server": server,
            "project": mgmt.argocd_project,
            "config": json.dumps(config, sort_keys=True),
        },
    }


def cluster_profile(reg: Registration, mgmt: ManagementPlan) -> dict[str, Any]:
    """The ClusterProfile (v1alpha1). Its status (access providers, version) belongs to a
    cluster manager's controller: a status subresource that an apply does not write."""
    return {
        "apiVersion": "multicluster.x-k8s.io/v1alpha1",
        "kind": "ClusterProfile",
        "metadata": {
            "name": reg.cluster,
            "namespace": mgmt.profiles_namespace,
            "labels": {"x-k8s.io/cluster-manager": CLUSTER_MANAGER, **dict(reg.labels)},
        },
        "spec": {"displayName": reg.cluster, "clusterManager": {"name": CLUSTER_MANAGER}},
    }


def member_authenticator(mgmt: ManagementPlan) -> dict[str, Any]:
    """The JWT authenticator each member API server adds (AuthenticationConfiguration)."""
    return {
        "issuer": {"url": mgmt.issuer_url, "audiences": [mgmt.audience]},
        "claimMappings": {"username": {"claim": "sub", "prefix": USER_PREFIX}},
        # Only the one controller: any other service account of the management cluster
        # with a token for this audience is refused.
        "claimValidationRules": [{
            "expression": f"claims.sub == '{mgmt.controller_subject}'",
            "message": "only the fleet's GitOps controller may use this issuer",
        }],
    }
