"""Shared identity as data (pure): who is trusted where, decided without a cloud.

``plan_identity(spec, plan)`` decides, from the validated spec and the fleet plan:

- each logical cluster's service-account issuer (``https://oidc-<stack>.<domain>/<cluster>``
  by default), where its OpenID discovery document and JWKS live in the document
  bucket, and its GCP workload-identity-pool provider id;
- which tenants and which workload identities land on which cluster;
- the SSO settings every API server gets and the RBAC subjects of the fleet's groups;
- the Kubernetes objects of fleet RBAC and of each tenant (plain manifests: the
  components create exactly these, the tests validate them against the schemas).

Renderers here turn a cluster's service-account public key into the documents AWS and
GCP fetch (discovery + JWKS) and the credential configuration a workload uses on GCP.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from fleetform.catalog.permissions import AUTOSCALER, CCM, CSI, federated
from fleetform.catalog.regions import matches_any
from fleetform.plan import names
from fleetform.plan.handoff import ManagementPlan, plan_management
from fleetform.plan.logging import (
    SHIPPER,
    SHIPPER_NAMESPACE,
    SHIPPER_SERVICE_ACCOUNT,
    cloudwatch_policy,
)
from fleetform.plan.pki import PkiSettings
from fleetform.plan.snapshots import SERVICE_ACCOUNT, grant_name

if TYPE_CHECKING:
    from fleetform.plan.model import ClusterPlan, FleetPlan
    from fleetform.spec.identity import TenantSelector, TenantSpec
    from fleetform.spec.models import FleetSpec

Cloud = Literal["aws", "gcp"]

AWS_AUDIENCE = "sts.amazonaws.com"
# The audience a workload requests for its GCP token (every provider of the pool allows it).
GCP_AUDIENCE = "sts.googleapis.com"
JWKS_PATH = "openid/v1/jwks"
DISCOVERY_PATH = ".well-known/openid-configuration"
# Where pods mount projected service-account tokens for each cloud (docs/identity.md).
AWS_TOKEN_PATH = "/var/run/secrets/fleetform.io/aws/token"
GCP_TOKEN_PATH = "/var/run/secrets/fleetform.io/gcp/token"
RBAC_GROUP = "rbac.authorization.k8s.io"
MANAGED_BY = {"app.kubernetes.io/managed-by": "fleetform"}
TENANT_LABEL = "fleetform.io/tenant"
# Namespaces a tenant may never be called.
RESERVED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
# The offline engine's placeholder PEMs (fleetform/engine/mocks/tls.py) carry this marker.
OFFLINE_PEM_MARK = "FLEETFORM+OFFLINE+MOCK"


# ------------------------------------------------------------------ the plan


def _require_https(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


@dataclass(frozen=True)
class OIDC:
    """An OIDC identity provider for human users of the API server."""

    issuer_url: str
    client_id: str
    username_claim: str = "sub"
    groups_claim: str = "groups"
    # Prefixes keep IdP names from colliding with system: users and groups.
    username_prefix: str = "oidc:"
    groups_prefix: str = "oidc:"

    def __post_init__(self) -> None:
        _require_https(
            self.issuer_url.startswith("https://"), f"OIDC issuer {self.issuer_url!r} must be https"
        )
        _require_https(bool(self.client_id), "OIDC client_id is empty")


@dataclass(frozen=True)
class ServiceAccountIssuer:
    """A public service-account issuer (workload identity federation).

    The signing key itself is the cluster's service-account key pair (``ControlPlanePKI``).
    """

    issuer_url: str
    jwks_uri: str | None = None

    def __post_init__(self) -> None:
        _require_https(
            self.issuer_url.startswith("https://"),
            f"service-account issuer {self.issuer_url!r} must be https",
        )
        if self.jwks_uri is not None:
            _require_https(
                self.jwks_uri.startswith("https://"), f"JWKS URI {self.jwks_uri!r} must be https"
            )




@dataclass(frozen=True)
class Issuer:
    """The service-account issuer of one logical cluster (shared by its incarnations,
    like its signing key, so a cluster keeps its federation when it moves clouds)."""

    cluster: str
    url: str  # https://oidc-prod.fleet.acme.example/eu-core
    jwks_uri: str
    host_path: str  # oidc-prod.fleet.acme.example/eu-core: AWS's condition-key prefix
    discovery_object: str  # eu-core/.well-known/openid-configuration
    jwks_object: str  # eu-core/openid/v1/jwks
    gcp_provider_id: str


@dataclass(frozen=True)
class Sso:
    issuer_url: str
    client_id: str
    username_claim: str
    groups_claim: str
    username_prefix: str
    groups_prefix: str
    extra_scopes: tuple[str, ...]

    def api_server(self) -> OIDC:
        return OIDC(
            self.issuer_url,
            self.client_id,
            self.username_claim,
            self.groups_claim,
            self.username_prefix,
            self.groups_prefix,
        )


@dataclass(frozen=True)
class Quota:
    cpu: str
    memory: str
    pods: int
    default_cpu_request: str
    default_memory_request: str
    default_memory_limit: str


@dataclass(frozen=True)
class Tenant:
    name: str
    namespace: str
    group: str  # the RBAC subject: the IdP group with the SSO groups prefix
    quota: Quota
    clusters: tuple[str, ...]  # logical cluster names, in plan order


@dataclass(frozen=True)
class WorkloadGrant:
    name: str
    namespace: str
    service_account: str
    clusters: tuple[str, ...]
    aws_role_name: str | None  # None: no AWS grant
    aws_policy_arns: tuple[str, ...]
    gcp: bool
    gcp_service_account: str | None  # an existing SA (email); None with gcp: one is created
    gcp_account_id: str  # the created SA's account id
    gcp_roles: tuple[str, ...]
    # An in-cluster controller's own permissions (fleetform/catalog/permissions.py): an
    # inline policy of its AWS role, a project custom role of its GCP service account.
    aws_inline_policy: str | None = None
    gcp_custom_role: str | None = None  # role id, shared by every cluster's controller of a kind
    gcp_permissions: tuple[str, ...] = ()

    @property
    def subject(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"


@dataclass(frozen=True)
class IdentityPlan:
    fleet: str
    stack: str
    domain: str
    pki: PkiSettings
    sso: Sso | None
    admins_group: str | None  # RBAC subjects (prefixed)
    viewers_group: str | None
    issuers: tuple[Issuer, ...]
    tenants: tuple[Tenant, ...]
    workloads: tuple[WorkloadGrant, ...]
    federation_clouds: tuple[Cloud, ...]
    host: Cloud | None
    oidc_host: str  # oidc-prod.fleet.acme.example
    aws_region: str
    gcp_project: str | None
    gcp_dns_zone: str | None
    gcp_pool_id: str
    # logical cluster -> kubernetes minor ("1.37"), for Pod Security version pins
    minors: tuple[tuple[str, str], ...] = field(default=())
    # GitOps registration: whom the member clusters trust for the management controller.
    management: ManagementPlan | None = None

    def issuer(self, cluster: str) -> Issuer:
        return next(i for i in self.issuers if i.cluster == cluster)

    def tenants_on(self, cluster: str) -> tuple[Tenant, ...]:
        return tuple(t for t in self.tenants if cluster in t.clusters)

    def workloads_on(self, cluster: str) -> tuple[WorkloadGrant, ...]:
        return tuple(w for w in self.workloads if cluster in w.clusters)

    def minor(self, cluster: str) -> str:
        return dict(self.minors)[cluster]

    def to_json(self) -> dict[str, Any]:
        return {
            "issuers": {i.cluster: i.url for i in self.issuers},
            "federation": {
                "clouds": list(self.federation_clouds),
                "host": self.host,
                "gcp_pool": self.gcp_pool_id if "gcp" in self.federation_clouds else None,
            },
            "sso": None
            if self.sso is None
            else {"issuer_url": self.sso.issuer_url, "client_id": self.sso.client_id},
            "admins_group": self.admins_group,
            "viewers_group": self.viewers_group,
            "tenants": {
                t.name: {"namespace": t.namespace, "group": t.group, "clusters": list(t.clusters)}
                for t in self.tenants
            },
            "workload_identities": {
                w.name: {
                    "subject": w.subject,
                    "clusters": list(w.clusters),
                    "aws_role": w.aws_role_name,
                    "gcp": w.gcp_service_account
                    or (
                        f"{w.gcp_account_id}@{self.gcp_project}.iam.gserviceaccount.com"
                        if w.gcp
                        else None
                    ),
                }
                for w in self.workloads
            },
        }


# ------------------------------------------------------------------ deciding


def logical_clusters(plan: FleetPlan) -> tuple[ClusterPlan, ...]:
    """One plan per logical cluster (its first incarnation), in plan order."""
    seen: dict[str, ClusterPlan] = {}
    for c in plan.clusters:
        seen.setdefault(c.name, c)
    return tuple(seen.values())


def migration_writers(plan: FleetPlan) -> list[WorkloadGrant]:
    """The snapshot writer of each move with ``data: etcd-snapshot`` (until finalize): the
    source's snapshot Job, federated into the target's cloud (fleetform/bootstrap/snapshots.py)."""

    out = []
    for c in plan.clusters:
        m = c.migration
        if m is None or not m.receives_snapshot:
            continue
        name = grant_name(c.name)
        out.append(WorkloadGrant(
            name=name, namespace="kube-system", service_account=SERVICE_ACCOUNT, clusters=(c.name,),
            aws_role_name=names.physical(plan.fleet, plan.stack, "snap", c.name, limit=64) if c.cloud == "aws" else None,
            aws_policy_arns=(), gcp=c.cloud == "gcp", gcp_service_account=None,
            gcp_account_id=_gcp_account_id(plan.stack, name), gcp_roles=()))
    return out


# Short names of the federated controllers (grant names, role names).
CONTROLLER_SHORT = {CCM: "ccm", CSI: "csi", AUTOSCALER: "autoscaler", SHIPPER: "logs"}


def controller_grant_name(controller: str, cluster: str) -> str:
    return f"{CONTROLLER_SHORT[controller]}-{cluster}"[:63].rstrip("-")


def controller_grants(plan: FleetPlan, clouds: Sequence[str]) -> list[WorkloadGrant]:
    """One federated identity per in-cluster controller and logical cluster, on each
    federated cloud the cluster runs on (both clouds during a move), trusting exactly the
    controller's service account under that cluster's issuer, holding exactly the
    permissions its upstream project publishes."""
    out: list[WorkloadGrant] = []
    seen: set[tuple[str, str]] = set()
    for c in plan.clusters:
        if (c.name, c.cloud) in seen or c.cloud not in clouds:
            continue
        seen.add((c.name, c.cloud))
        for perm in federated(c.cloud):
            namespace, account = perm.service_account
            name = controller_grant_name(perm.controller, c.name)
            short = CONTROLLER_SHORT[perm.controller]
            aws = c.cloud == "aws"
            out.append(WorkloadGrant(
                name=name, namespace=namespace, service_account=account, clusters=(c.name,),
                aws_role_name=names.physical(plan.fleet, plan.stack, short, c.name, limit=64) if aws else None,
                aws_policy_arns=(), gcp=not aws, gcp_service_account=None,
                gcp_account_id=_gcp_account_id(plan.stack, name), gcp_roles=() if aws else perm.gcp_roles,
                aws_inline_policy=perm.aws_policy() if aws else None,
                gcp_custom_role=None if aws else gcp_custom_role_id(plan.fleet, plan.stack, short),
                gcp_permissions=() if aws else perm.gcp_permissions,
            ))
    return out


def log_shipper_grants(plan: FleetPlan, clouds: Sequence[str]) -> list[WorkloadGrant]:
    """The log shipper's federated identity on each AWS cluster (on GCP it writes with the
    node's identity): its service account under that cluster's issuer, allowed to write
    streams of the fleet's CloudWatch log group and nothing else."""
    dest = plan.logging.on("aws")
    if dest is None or "aws" not in clouds:
        return []
    policy = cloudwatch_policy(dest)
    out: list[WorkloadGrant] = []
    for name in dict.fromkeys(c.name for c in plan.clusters if c.cloud == "aws"):
        grant = controller_grant_name(SHIPPER, name)
        out.append(WorkloadGrant(
            name=grant, namespace=SHIPPER_NAMESPACE, service_account=SHIPPER_SERVICE_ACCOUNT, clusters=(name,),
            aws_role_name=names.physical(plan.fleet, plan.stack, "logs", name, limit=64), aws_policy_arns=(),
            gcp=False, gcp_service_account=None, gcp_account_id=_gcp_account_id(plan.stack, grant), gcp_roles=(),
            aws_inline_policy=policy,
        ))
    return out


def gcp_custom_role_id(fleet: str, stack: str, short: str) -> str:
    """A project custom role id ([a-zA-Z0-9_.], 3-64): one per controller kind and stack."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", f"fleetform_{fleet}_{stack}_{short}")[:64]


def oidc_host(subdomain: str | None, stack: str, domain: str) -> str:
    return f"{subdomain or names.physical('oidc', stack)}.{domain}"


def gcp_provider_id(cluster: str) -> str:
    """Pool provider ids are 4-32 of [a-z0-9-] and may not start with 'gcp-'."""
    if 4 <= len(cluster) <= 32 and not cluster.startswith("gcp-"):
        return cluster
    return names.physical("cluster", cluster, limit=32)


def issuer_for(cluster: str, host: str) -> Issuer:
    url = f"https://{host}/{cluster}"
    return Issuer(
        cluster,
        url,
        f"{url}/{JWKS_PATH}",
        f"{host}/{cluster}",
        f"{cluster}/{DISCOVERY_PATH}",
        f"{cluster}/{JWKS_PATH}",
        gcp_provider_id(cluster),
    )


class Placed(Protocol):
    """What tenant selection reads of a cluster: a ``ClusterPlan`` or a ``ClusterSpec``
    (validation selects on the spec, before any plan exists)."""

    @property
    def name(self) -> str: ...
    @property
    def cloud(self) -> str: ...
    @property
    def region(self) -> str: ...
    @property
    def labels(self) -> Mapping[str, str] | tuple[tuple[str, str], ...]: ...


def selects(selector: TenantSelector, c: Placed) -> bool:
    labels = dict(c.labels)
    return (
        all(labels.get(k) == v for k, v in selector.labels.items())
        and (selector.cloud is None or selector.cloud == c.cloud)
        and (not selector.regions or matches_any(c.region, selector.regions))
    )


def tenant_clusters(t: TenantSpec, clusters: Sequence[Placed]) -> tuple[str, ...]:
    if t.clusters is not None:
        wanted = set(t.clusters)
        return tuple(c.name for c in clusters if c.name in wanted)
    if t.selector is not None:
        sel = t.selector
        return tuple(c.name for c in clusters if selects(sel, c))
    return tuple(c.name for c in clusters)


def _gcp_account_id(stack: str, name: str) -> str:
    account = names.physical("wi", stack, name, limit=30)
    return account if len(account) >= 6 else f"{account}-wi"


def plan_identity(spec: FleetSpec, plan: FleetPlan) -> IdentityPlan:
    """Pure: same spec and plan, same identity plan. Expects a validated spec."""
    ident = spec.identity
    fed = ident.federation
    clusters = logical_clusters(plan)
    host = oidc_host(fed.subdomain, plan.stack, plan.domain)
    clouds: tuple[Cloud, ...] = tuple(
        sorted(set(fed.clouds) if fed.clouds is not None else {c.cloud for c in plan.clusters})
    )
    fed_host: Cloud | None = fed.host or (("aws" if "aws" in clouds else "gcp") if clouds else None)
    sso = None
    if ident.oidc is not None:
        o = ident.oidc
        sso = Sso(
            o.issuer_url,
            o.client_id,
            o.username_claim,
            o.groups_claim,
            o.username_prefix,
            o.groups_prefix,
            tuple(o.extra_scopes),
        )
    prefix = sso.groups_prefix if sso is not None else ""

    def group(g: str | None) -> str | None:
        return None if g is None else f"{prefix}{g}"

    tenants = tuple(
        Tenant(
            t.name,
            t.name,
            f"{prefix}{t.group}",
            Quota(
                t.quota.cpu,
                t.quota.memory,
                t.quota.pods,
                t.quota.default_cpu_request,
                t.quota.default_memory_request,
                t.quota.default_memory_limit,
            ),
            tenant_clusters(t, clusters),
        )
        for t in spec.tenants
    )
    all_names = tuple(c.name for c in clusters)
    workloads = []
    for w in spec.workload_identities:
        wanted = set(w.clusters) if w.clusters is not None else set(all_names)
        workloads.append(
            WorkloadGrant(
                name=w.name,
                namespace=w.namespace,
                service_account=w.service_account,
                # Sorted: reordering clusters in the stack file must not touch any role.
                clusters=tuple(sorted(n for n in all_names if n in wanted)),
                aws_role_name=None
                if w.aws is None
                else (
                    w.aws.role_name
                    or names.physical(plan.fleet, plan.stack, "wi", w.name, limit=64)
                ),
                aws_policy_arns=() if w.aws is None else tuple(w.aws.policy_arns),
                gcp=w.gcp is not None,
                gcp_service_account=None if w.gcp is None else w.gcp.service_account,
                gcp_account_id=_gcp_account_id(plan.stack, w.name),
                gcp_roles=() if w.gcp is None else tuple(w.gcp.roles),
            )
        )
    workloads += migration_writers(plan)
    workloads += controller_grants(plan, clouds)
    workloads += log_shipper_grants(plan, clouds)
    pool = fed.gcp_pool or names.physical(plan.fleet, plan.stack, limit=32)
    if len(pool) < 4:
        pool = f"{pool}-wif"
    issuers = tuple(issuer_for(c.name, host) for c in clusters)
    return IdentityPlan(
        fleet=plan.fleet,
        stack=plan.stack,
        domain=plan.domain,
        pki=PkiSettings.from_spec(ident.pki),
        sso=sso,
        admins_group=group(ident.admins_group),
        viewers_group=group(ident.viewers_group),
        issuers=issuers,
        tenants=tenants,
        workloads=tuple(workloads),
        federation_clouds=clouds,
        host=fed_host,
        oidc_host=host,
        aws_region=fed.aws_region,
        gcp_project=spec.clouds.gcp.project,
        gcp_dns_zone=fed.gcp_dns_zone,
        gcp_pool_id=pool,
        minors=tuple((c.name, ".".join(c.kubernetes_version.split(".")[:2])) for c in clusters),
        management=plan_management(spec.management, plan, {i.cluster: i.url for i in issuers},
                                   tuple(c.name for c in spec.clusters if c.gitops is False)),
    )


# ------------------------------------------------ what each API server is told


@dataclass(frozen=True)
class ClusterAuth:
    """The API server's authentication settings: SSO (people) and its public
    service-account issuer (workloads)."""

    oidc: OIDC | None
    service_account_issuer: ServiceAccountIssuer | None
    # The management cluster's controller, trusted on every member but the host itself.
    management: ManagementPlan | None = None


# ClusterPlan (by identity) -> its auth, registered by the components when they plan the
# fleet's identity; `nodes.control_plane_node` reads it (see cluster_auth).
_AUTH: dict[int, tuple[weakref.ref[ClusterPlan], ClusterAuth]] = {}


def auth_for(identity: IdentityPlan, cluster: str) -> ClusterAuth:
    issuer = identity.issuer(cluster)
    return ClusterAuth(
        identity.sso.api_server() if identity.sso is not None else None,
        ServiceAccountIssuer(issuer.url, issuer.jwks_uri),
        identity.management if member_of_management(identity, cluster) else None,
    )


def member_of_management(identity: IdentityPlan, cluster: str) -> bool:
    """A cluster the management cluster reaches from outside (not the host itself: an API
    server may not trust its own service-account issuer as an external one)."""
    m = identity.management
    return m is not None and m.cluster != cluster


def register(identity: IdentityPlan, plan: FleetPlan) -> None:
    """Make ``identity``'s auth settings what ``cluster_auth`` answers for the clusters of
    ``plan`` (these very plan objects: another plan of the same fleet is unaffected)."""
    for c in plan.clusters:
        _AUTH[id(c)] = (weakref.ref(c, _forget(id(c))), auth_for(identity, c.name))


def _forget(key: int) -> Callable[[weakref.ref[ClusterPlan]], None]:
    def callback(_ref: weakref.ref[ClusterPlan]) -> None:
        _AUTH.pop(key, None)

    return callback


def cluster_auth(plan: ClusterPlan) -> ClusterAuth:
    """What ``plan``'s API servers are told: the registered settings, else (no identity
    plan registered for this plan object, e.g. a renderer unit test) kubeadm's defaults."""
    entry = _AUTH.get(id(plan))
    if entry is not None and entry[0]() is plan:
        return entry[1]
    return ClusterAuth(None, None)
