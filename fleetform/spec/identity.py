"""Stack format: the fleet's shared identity (SSO, fleet RBAC, PKI settings, workload
identity federation), tenants and workload identities. Fleet-level keys ``identity``,
``tenants``, ``workload_identities``. Rules across fields live in
``validate_identity.py``; what lands where is decided in ``identity_plan.py``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from fleetform.spec.base import Cloud, DnsLabel, Labels, Model

# A Kubernetes quantity ("500m", "4", "8Gi", "1.5"): checked again (and compared) in
# validate_identity.py.
_QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
_AWS_POLICY_ARN = r"^arn:aws[a-z-]*:iam::([0-9]{12}|aws):policy/[\w+=,.@/-]+$"
_GCP_SA_EMAIL = (
    r"^[a-z][-a-z0-9]{4,28}[a-z0-9]@[a-z][-a-z0-9]{4,28}[a-z0-9]\.iam\.gserviceaccount\.com$"
)
_GCP_ROLE = r"^(roles/[A-Za-z0-9_.]+|projects/[a-z][-a-z0-9]{4,28}[a-z0-9]/roles/[A-Za-z0-9_.]+)$"


class OidcSpec(Model):
    """The fleet's identity provider for people (every API server trusts it)."""

    issuer_url: str = Field(pattern=r"^https://[^\s]+$")
    client_id: str = Field(min_length=1)
    username_claim: str = Field(default="email", min_length=1)
    groups_claim: str = Field(default="groups", min_length=1)
    # Prefixes keep IdP names apart from system: users and groups; RBAC subjects carry them.
    username_prefix: str = "oidc:"
    groups_prefix: str = "oidc:"
    # Scopes `kubectl oidc-login` asks for besides openid (e.g. [email, groups] for Dex).
    extra_scopes: tuple[str, ...] = ()


class RotationSpec(Model):
    """A CA rotation in phases (docs/credentials.md): ``prepare`` issues new CAs (a
    cluster's: and a new service-account signing key) and trusts old + new;
    ``complete`` drops the old ones. One `pulumi up` each."""

    generation: int = Field(ge=0)
    phase: Literal["prepare", "complete"]


# The defaults of what renews itself on the nodes: the one place they are written (the
# plan, the boot documents and the credential inventory take them from here).
KUBEADM_RENEW_BEFORE_DAYS = 90
BOOTSTRAP_TOKEN_TTL_HOURS = 6


class RenewalSpec(Model):
    """What renews itself on the nodes (docs/credentials.md)."""

    # kubeadm's certificates on control-plane replicas are renewed this long before expiry.
    kubeadm_renew_before_days: int = Field(default=KUBEADM_RENEW_BEFORE_DAYS, ge=7, le=300)
    # Lifetime of the join credential; a control-plane timer replaces it after a third.
    bootstrap_token_ttl_hours: int = Field(default=BOOTSTRAP_TOKEN_TTL_HOURS, ge=1, le=24)


class PkiSpec(Model):
    """Key algorithm and validity of the fleet PKI (root, per-cluster CAs, leaves).

    ``rotate`` maps a cluster to its CA rotation: ``{generation: N, phase: prepare}``
    then ``{generation: N, phase: complete}`` (a bare ``N`` means complete). Each phase
    touches only that cluster's kubernetes, etcd and front-proxy CAs, its
    service-account signing key and what they signed (docs/credentials.md).
    ``rotate_root`` rotates the fleet root the same way: the cluster CAs keep their
    keys and are re-certified under the new root.
    """

    algorithm: Literal["ECDSA", "RSA"] = "ECDSA"
    ecdsa_curve: Literal["P256", "P384"] = "P256"
    rsa_bits: Literal[2048, 3072, 4096] = 3072
    root_validity_days: int = Field(default=3650, ge=365, le=36500)
    intermediate_validity_days: int = Field(default=1825, ge=90, le=36500)
    leaf_validity_days: int = Field(default=365, ge=7, le=3650)
    rotate: dict[str, int | RotationSpec] = Field(default_factory=dict)
    rotate_root: int | RotationSpec | None = None
    renewal: RenewalSpec = Field(default_factory=RenewalSpec)


class FederationSpec(Model):
    """Where the service-account issuers' documents are served and which clouds trust them.

    Each cluster's issuer is ``https://<subdomain>.<fleet domain>/<cluster>``; ``host``
    serves that name over HTTPS (AWS: S3 + CloudFront; GCP: Cloud Storage + HTTPS load
    balancer). ``clouds`` register every issuer (AWS: IAM OIDC providers; GCP: one
    workload identity pool). Defaults: the clouds the fleet's clusters run on; host AWS
    when AWS is one of them.
    """

    clouds: tuple[Cloud, ...] | None = None
    host: Cloud | None = None
    # Default "oidc-<stack>": stacks sharing a fleet domain each serve their own name.
    subdomain: DnsLabel | None = None
    # AWS home of the document bucket (the CloudFront certificate is always us-east-1).
    aws_region: str = "us-east-1"
    # GCP host only: the Cloud DNS managed zone (its resource name) of the fleet domain.
    gcp_dns_zone: str | None = Field(default=None, pattern=r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
    # The fleet's workload identity pool id (default: "<fleet>-<stack>").
    gcp_pool: str | None = Field(default=None, pattern=r"^[a-z0-9-]{4,32}$")


class IdentitySpec(Model):
    oidc: OidcSpec | None = None
    # IdP groups bound to cluster-admin / view on every cluster.
    admins_group: str | None = Field(default=None, min_length=1)
    viewers_group: str | None = Field(default=None, min_length=1)
    pki: PkiSpec = Field(default_factory=PkiSpec)
    federation: FederationSpec = Field(default_factory=FederationSpec)


class TenantSelector(Model):
    """Clusters matching every given criterion (labels all equal, cloud, region patterns)."""

    labels: Labels = Field(default_factory=dict)
    cloud: Cloud | None = None
    regions: tuple[str, ...] = ()


class TenantQuota(Model):
    """Namespace totals (ResourceQuota) and per-container defaults (LimitRange)."""

    cpu: str = Field(default="4", pattern=_QUANTITY)
    memory: str = Field(default="8Gi", pattern=_QUANTITY)
    pods: int = Field(default=50, ge=1, le=100000)
    # Containers that say nothing get these (the quota needs requests and memory limits).
    default_cpu_request: str = Field(default="100m", pattern=_QUANTITY)
    default_memory_request: str = Field(default="128Mi", pattern=_QUANTITY)
    default_memory_limit: str = Field(default="512Mi", pattern=_QUANTITY)


class TenantSpec(Model):
    """A team with one namespace (named after the tenant) on each selected cluster.
    ``clusters`` or ``selector`` (not both); neither: every cluster."""

    name: DnsLabel
    clusters: tuple[str, ...] | None = None
    selector: TenantSelector | None = None
    group: str = Field(min_length=1)
    quota: TenantQuota = Field(default_factory=TenantQuota)


def _unique(values: tuple[str, ...], what: str) -> tuple[str, ...]:
    dupes = sorted({v for v in values if values.count(v) > 1})
    if dupes:
        raise ValueError(f"{what} listed more than once: {', '.join(dupes)}")
    return values


class WorkloadAwsSpec(Model):
    """An IAM role created for the workload: its trust policy names the service account
    under each selected cluster's issuer; ``policy_arns`` are attached to it."""

    policy_arns: tuple[str, ...] = Field(
        default=(), json_schema_extra={"items": {"pattern": _AWS_POLICY_ARN}}
    )
    role_name: str | None = Field(default=None, pattern=r"^[\w+=,.@-]{1,64}$")

    @field_validator("policy_arns")
    @classmethod
    def _unique_arns(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return _unique(v, "policy ARN")


class WorkloadGcpSpec(Model):
    """A GCP service account the workload may impersonate: an existing one
    (``service_account``: its email) or one created for it with project ``roles``."""

    service_account: str | None = Field(default=None, pattern=_GCP_SA_EMAIL)
    roles: tuple[str, ...] = Field(default=(), json_schema_extra={"items": {"pattern": _GCP_ROLE}})

    @field_validator("roles")
    @classmethod
    def _unique_roles(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return _unique(v, "role")


class WorkloadIdentitySpec(Model):
    """A Kubernetes service account (namespace/name) in every cluster, or the listed
    ones, granted an AWS role and/or a GCP service account."""

    name: DnsLabel
    namespace: DnsLabel
    service_account: str = Field(pattern=r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
    clusters: tuple[str, ...] | None = None
    aws: WorkloadAwsSpec | None = None
    gcp: WorkloadGcpSpec | None = None


AWS_POLICY_ARN = _AWS_POLICY_ARN
GCP_ROLE = _GCP_ROLE
QUANTITY = _QUANTITY
