"""GitOps registration: every cluster handed to the fleet's management cluster as an Argo
CD cluster Secret and a ClusterProfile (``fleetform/plan/handoff.py`` decides both).

The only place the program talks to a Kubernetes API, through one explicit provider for
the one cluster the stack file says is reachable: a kubeconfig context of the machine
running ``pulumi up``, or a fleet cluster with a public API (its admin client
certificate stays in Pulumi state; nothing of it is written into the cluster). Applied
server-side. A decommissioned cluster loses its registration in the same ``up``."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pulumi
import pulumi_kubernetes as k8s

from components.identity import ClusterCredentials
from fleetform.plan import names
from fleetform.plan.handoff import ManagementPlan, Registration, argocd_secret, cluster_profile
from fleetform.plan.kubeconfig import AdminAccess, admin_kubeconfig
from fleetform.plan.model import ClusterPlan


class Management(pulumi.ComponentResource):
    def __init__(self, name: str, mgmt: ManagementPlan, registrations: tuple[Registration, ...],
                 identities: Mapping[str, ClusterCredentials], host: ClusterPlan | None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleetform:index:Management", name, None, opts)
        context, kubeconfig = _connection(mgmt, host, identities)
        self.provider = k8s.Provider(
            names.child(name, "k8s"),
            context=context,
            kubeconfig=kubeconfig,
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        child = pulumi.ResourceOptions(parent=self, provider=self.provider)
        self.secrets: dict[str, k8s.core.v1.Secret] = {}
        self.profiles: dict[str, k8s.apiextensions.CustomResource] = {}
        for reg in registrations:
            doc = argocd_secret(reg, mgmt, "")
            ca = identities[reg.cluster].cas["kubernetes-ca"].cert_pem
            self.secrets[reg.cluster] = k8s.core.v1.Secret(
                names.child(name, "argocd", reg.cluster),
                metadata=doc["metadata"],
                type=doc["type"],
                # No credential in it (exec and CA only): Argo CD just reads clusters from Secrets.
                string_data=ca.apply(_string_data(reg, mgmt)),
                opts=child,
            )
            profile = cluster_profile(reg, mgmt)
            self.profiles[reg.cluster] = k8s.apiextensions.CustomResource(
                names.child(name, "profile", reg.cluster),
                api_version=profile["apiVersion"],
                kind=profile["kind"],
                metadata=profile["metadata"],
                spec=profile["spec"],
                opts=child,
            )
        self.register_outputs({"registered": [r.cluster for r in registrations]})


def _string_data(reg: Registration, mgmt: ManagementPlan) -> Callable[[str], dict[str, str]]:
    def render(ca_pem: str) -> dict[str, str]:
        data: dict[str, str] = argocd_secret(reg, mgmt, ca_pem)["stringData"]
        return data

    return render


def _connection(mgmt: ManagementPlan, host: ClusterPlan | None, identities: Mapping[str, ClusterCredentials],
                ) -> tuple[str | None, pulumi.Output[str] | None]:
    """(context, kubeconfig): a context of the user's kubeconfig, or the host's admin one."""
    if mgmt.context is not None:
        return mgmt.context, None
    assert host is not None, "validate: a management cluster without context is a fleet cluster"
    ident = identities[host.name]
    server = f"https://{host.api.dns}:{host.api.port}"
    kubeconfig = pulumi.Output.all(ident.cas["kubernetes-ca"].cert_pem, ident.admin.cert_pem,
                                   ident.admin.key_pem).apply(
        lambda a: admin_kubeconfig([AdminAccess(host.name, server, a[0], a[1], a[2])]))
    return None, pulumi.Output.secret(kubeconfig)
