"""Handing the fleet to a management cluster: GitOps registration of every cluster.

Off by default. With ``management:`` set, every cluster is registered in the named
management cluster as an Argo CD cluster Secret and as a ClusterProfile
(``multicluster.x-k8s.io``), with short-lived credentials only."""

from __future__ import annotations

from pydantic import Field

from fleetform.spec.base import DnsLabel, Model


class ArgoCdSpec(Model):
    # Where Argo CD runs in the management cluster, and the controller that connects out.
    namespace: DnsLabel = "argocd"
    project: DnsLabel = "default"
    service_account: DnsLabel = "argocd-application-controller"


class ClusterProfilesSpec(Model):
    namespace: DnsLabel = "fleet-system"


class ManagementSpec(Model):
    # A cluster of this fleet, or a kubeconfig context of the machine that runs
    # `pulumi up` (then `issuer` is that cluster's service-account issuer URL).
    cluster: DnsLabel | None = None
    context: str | None = Field(default=None, min_length=1, max_length=253)
    issuer: str | None = Field(default=None, pattern=r"^https://[^\s/]+(/[^\s]*)?$", max_length=2048)
    argocd: ArgoCdSpec = Field(default_factory=ArgoCdSpec)
    cluster_profiles: ClusterProfilesSpec = Field(default_factory=ClusterProfilesSpec)
