"""Workload identity federation for the whole fleet.

Each logical cluster's service-account issuer (``fleetform.plan.identity.Issuer``) publishes an
OpenID discovery document and a JWKS rendered from the cluster's service-account public
key (``fleetform.plan.federation.jwks_document``, inside an apply). One cloud serves them over HTTPS
under the fleet domain (``identity.federation.host``), and every federated cloud trusts
every issuer: AWS with one IAM OIDC provider per issuer, GCP with one pool and one
provider per issuer. Workload identities then get an AWS role and/or a GCP service
account their Kubernetes service account may use, from the clusters they select.

Cloud SDK code lives in ``clouds/federation_aws.py`` and ``clouds/federation_gcp.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import pulumi

from components.clouds.base import MachineIdentity
from components.clouds.federation_aws import AwsFederation
from components.clouds.federation_gcp import GcpFederation
from components.identity import SharedIdentity
from fleetform.plan import names
from fleetform.plan.federation import discovery_document, jwks_document
from fleetform.plan.identity import IdentityPlan, Issuer, controller_grant_name
from fleetform.plan.model import FleetPlan

if TYPE_CHECKING:
    from components.clouds.federation_aws import AwsFederation
    from components.clouds.federation_gcp import GcpFederation


class FederationReads(Protocol):
    """What a cluster reads of the fleet's federation (``Federation`` in the stack that
    holds it; ``components.fleet_reference.RemoteFederation`` in a cluster stack)."""

    def writer(self, grant: str, cloud: str) -> MachineIdentity: ...

    def credential_config(self, grant: str, cluster: str) -> pulumi.Output[str]: ...

    def controller_identity(self, controller: str, cluster: str, cloud: str
                            ) -> tuple[pulumi.Output[str] | None, pulumi.Output[str] | None]: ...


def writer_identity(principals: dict[str, pulumi.Output[str]], grant: str, cloud: str) -> MachineIdentity:
    """A workload grant as an identity a bucket can grant access to (migration snapshots)."""
    if grant not in principals:
        raise ValueError(f"workload identity {grant!r} has no {cloud} principal: is {cloud} federated "
                         "(identity.federation.clouds)?")
    principal = principals[grant]
    return MachineIdentity(role=grant, principal=principal, attachable=principal)


class Federation(pulumi.ComponentResource):
    def __init__(self, name: str, plan: FleetPlan, identity: IdentityPlan, shared: SharedIdentity,
                 opts: pulumi.ResourceOptions | None = None, *, gcp_requires: tuple[pulumi.Resource, ...] = (),
                 gcp_provider: pulumi.ProviderResource | None = None) -> None:
        super().__init__("fleetform:index:Federation", name, None, opts)
        self.identity = identity
        self.jwks: dict[str, pulumi.Output[str]] = {
            # Every key that verifies the cluster's tokens: during a rotation's prepare the
            # retiring key too, so tokens it signed keep federating until complete.
            i.cluster: pulumi.Output.all(*shared.cluster(i.cluster).sa_public_pems)
            .apply(lambda pems: jwks_document(*pems))
            for i in identity.issuers
        }
        documents: dict[str, tuple[Issuer, pulumi.Input[str], pulumi.Input[str]]] = {
            i.cluster: (i, discovery_document(i), self.jwks[i.cluster]) for i in identity.issuers
        }
        child = pulumi.ResourceOptions(parent=self)
        clouds = identity.federation_clouds if identity.issuers else ()
        # Each cloud's SDK is loaded only when that cloud is federated.
        self.aws: AwsFederation | None = None
        self.gcp: GcpFederation | None = None
        if "aws" in clouds:

            self.aws = AwsFederation(names.child(name, "aws"), identity, dict(plan.aws_default_tags), child)
        if "gcp" in clouds:

            self.gcp = GcpFederation(names.child(name, "gcp"), identity, child, requires=gcp_requires,
                                     provider=gcp_provider)
        served: list[pulumi.Resource] = []
        if identity.host == "aws" and self.aws is not None:
            served = self.aws.publish(documents)
        elif identity.host == "gcp" and self.gcp is not None:
            served = self.gcp.publish(documents)
        if self.aws is not None:
            self.aws.register(identity.issuers, served)
        if self.gcp is not None:
            self.gcp.register(identity.issuers, self.jwks)
        self.aws_roles: dict[str, pulumi.Output[str]] = {}
        self.gcp_service_accounts: dict[str, pulumi.Output[str]] = {}
        for w in identity.workloads:
            if self.aws is not None and (role := self.aws.grant(w)) is not None:
                self.aws_roles[w.name] = role.arn
            if self.gcp is not None and (email := self.gcp.grant(w)) is not None:
                self.gcp_service_accounts[w.name] = email
        self.register_outputs({"issuers": {i.cluster: i.url for i in identity.issuers}})

    def writer(self, grant: str, cloud: str) -> MachineIdentity:
        """A workload grant as an identity a bucket can grant access to (migration snapshots)."""
        return writer_identity(self.aws_roles if cloud == "aws" else self.gcp_service_accounts, grant, cloud)

    def credential_config(self, grant: str, cluster: str) -> pulumi.Output[str]:
        """The GCP external-account file of ``grant`` for pods of ``cluster``."""
        assert self.gcp is not None
        return self.gcp.credential_configs[grant][cluster]

    def controller_identity(self, controller: str, cluster: str, cloud: str
                            ) -> tuple[pulumi.Output[str] | None, pulumi.Output[str] | None]:
        """An in-cluster controller's federated identity in ``cluster`` (the bundle names
        it): (AWS role ARN, GCP external-account credential file); (None, None) when the
        cloud is not federated (identity.federation.clouds)."""
        grant = controller_grant_name(controller, cluster)
        if cloud == "aws":
            return self.aws_roles.get(grant), None
        if self.gcp is None or grant not in self.gcp.credential_configs:
            return None, None
        return None, self.gcp.credential_configs[grant].get(cluster)

    def summary(self) -> dict[str, Any]:
        """The stack output ``identity``: issuers, what trusts them, workload grants."""
        ident = self.identity
        out: dict[str, Any] = {
            "issuers": {i.cluster: i.url for i in ident.issuers},
            "host": ident.host,
            "aws": None,
            "gcp": None,
            "workload_identities": {},
        }
        if self.aws is not None:
            out["aws"] = {"oidc_providers": {c: p.arn for c, p in self.aws.oidc_providers.items()}}
        if self.gcp is not None and self.gcp.pool is not None:
            out["gcp"] = {"pool": self.gcp.pool.name,
                          "providers": {c: p.name for c, p in self.gcp.providers.items()}}
        for w in ident.workloads:
            out["workload_identities"][w.name] = {
                "subject": w.subject,
                "clusters": list(w.clusters),
                "aws_role_arn": self.aws_roles.get(w.name),
                "gcp_service_account": self.gcp_service_accounts.get(w.name),
                "gcp_credential_config": (self.gcp.credential_configs.get(w.name) if self.gcp is not None else None),
            }
        return out
