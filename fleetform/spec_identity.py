"""Stack format: the fleet's shared identity (SSO, fleet RBAC, PKI settings), tenants
and workload identities. Fleet-level keys ``identity``, ``tenants``,
``workload_identities``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .spec import Cloud, DnsLabel, Model


class OidcSpec(Model):
    issuer_url: str = Field(pattern=r"^https://")
    client_id: str = Field(min_length=1)
    username_claim: str = "email"
    groups_claim: str = "groups"


class PkiSpec(Model):
    algorithm: Literal["ECDSA", "RSA"] = "ECDSA"
    root_validity_days: int = Field(default=3650, ge=365, le=36500)
    intermediate_validity_days: int = Field(default=1825, ge=90, le=36500)
    leaf_validity_days: int = Field(default=365, ge=7, le=3650)


class IdentitySpec(Model):
    oidc: OidcSpec | None = None
    admins_group: str | None = None
    viewers_group: str | None = None
    pki: PkiSpec = Field(default_factory=PkiSpec)


class TenantSelector(Model):
    labels: dict[str, str] = Field(default_factory=dict)
    cloud: Cloud | None = None
    regions: tuple[str, ...] = ()


class TenantQuota(Model):
    cpu: str = "4"
    memory: str = "8Gi"
    pods: int = Field(default=50, ge=1)


class TenantSpec(Model):
    name: DnsLabel
    clusters: tuple[str, ...] | None = None
    selector: TenantSelector | None = None
    group: str = Field(min_length=1)
    quota: TenantQuota = Field(default_factory=TenantQuota)


class WorkloadIdentitySpec(Model):
    name: DnsLabel
    namespace: DnsLabel
    service_account: DnsLabel
    clusters: tuple[str, ...] | None = None
    aws_role: str | None = None
    gcp_service_account: str | None = None
