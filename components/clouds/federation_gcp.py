"""Workload identity federation on GCP (fleet level, one explicit provider).

- ``register``: one workload identity pool for the fleet and one OIDC provider per
  cluster issuer. Each provider carries the issuer's JWKS inline (GCP never needs to
  reach the issuer) and maps ``attribute.workload`` to ``<cluster>/<sub>``.
- ``grant``: ``roles/iam.workloadIdentityUser`` on the workload's service account (an
  existing one, or one created with the listed project roles) for the pool principals
  of its Kubernetes service account in each selected cluster.
- ``publish`` (when GCP hosts the documents): a Cloud Storage bucket behind a global
  HTTPS load balancer with a Google-managed certificate for the OIDC host name, and its
  A record in the fleet domain's Cloud DNS zone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import pulumi
import pulumi_gcp as gcp
import pulumi_random as random

from fleetform.plan import names
from fleetform.plan.federation import (
    GCP_ATTRIBUTE_CONDITION,
    gcp_attribute_mapping,
    gcp_credential_config,
    gcp_principal_set,
)
from fleetform.plan.identity import (
    GCP_AUDIENCE,
    IdentityPlan,
    Issuer,
    WorkloadGrant,
)

WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser"
DOCUMENT_CACHE = "public, max-age=300"
# Replaced versions of the discovery documents are kept this long.
NONCURRENT_DOCUMENT_DAYS = 30



def _project_of(email: str) -> str:
    # <account>@<project>.iam.gserviceaccount.com
    return email.split("@", 1)[1].split(".", 1)[0]


def _principal_set(cluster: str, subject: str) -> Callable[[str], str]:
    return lambda pool_name: gcp_principal_set(pool_name, cluster, subject)


def default_dns_zone(domain: str) -> str:
    """The managed-zone name the GCP adapter also assumes for the fleet domain."""
    return domain.rstrip(".").replace(".", "-")


def federation_labels(fleet: str) -> dict[str, str]:
    return {"fleet": fleet, "plane": "identity", "managed-by": "fleetform"}


# Workload identity pool and provider ids: 4-32 characters; "-" and the suffix take 5.
ID_LIMIT = 32
SUFFIX_BYTES = 2


def soft_deleted_id(name: str, base: str, parent: pulumi.Resource) -> pulumi.Output[str]:
    """``<base>-<4 hex>``: the suffix is a RandomId kept in the state (new only when the
    resource is created again), the base shortened (with a hash) to fit 32."""
    suffix = random.RandomId(name, byte_length=SUFFIX_BYTES, opts=pulumi.ResourceOptions(parent=parent))
    short = names.physical(base, limit=ID_LIMIT - 1 - 2 * SUFFIX_BYTES)
    return pulumi.Output.concat(short, "-", suffix.hex)


class GcpFederation(pulumi.ComponentResource):
    """The fleet's GCP side of workload identity federation."""

    def __init__(self, name: str, identity: IdentityPlan, opts: pulumi.ResourceOptions | None = None,
                 requires: tuple[pulumi.Resource, ...] = (), provider: pulumi.ProviderResource | None = None) -> None:
        super().__init__("fleetform:index:GcpFederation", name, None, opts)
        if not identity.gcp_project:
            raise ValueError("workload identity federation on GCP needs clouds.gcp.project")
        self.identity = identity
        self.name = name
        self.project: str = identity.gcp_project
        # The fleet's one project-level provider (clouds/gcp_services.py) when given; every
        # resource here waits for the project's APIs (``requires``).
        self.provider: pulumi.ProviderResource = provider if provider is not None else gcp.Provider(
            names.child(name, "gcp"), project=self.project,
            default_labels=federation_labels(identity.fleet),
            opts=pulumi.ResourceOptions(parent=self))
        self._requires = list(requires)
        self.pool: gcp.iam.WorkloadIdentityPool | None = None
        self.providers: dict[str, gcp.iam.WorkloadIdentityPoolProvider] = {}
        self.service_accounts: dict[str, pulumi.Output[str]] = {}
        self.credential_configs: dict[str, dict[str, pulumi.Output[str]]] = {}
        self.custom_roles: dict[str, gcp.projects.IAMCustomRole] = {}
        self.register_outputs({})

    def _opts(self, **kw: object) -> pulumi.ResourceOptions:
        deps = [*self._requires, *list(kw.pop("depends_on", None) or [])]  # type: ignore[call-overload]
        return pulumi.ResourceOptions(parent=self, provider=self.provider, depends_on=deps or None,
                                      **kw)  # type: ignore[arg-type]

    # ------------------------------------------------------------ trust

    def register(self, issuers: Sequence[Issuer], jwks: Mapping[str, pulumi.Input[str]]) -> None:
        ident = self.identity
        # GCP keeps a deleted pool's or provider's id for 30 days: each id carries a
        # random suffix kept in the state, so a destroyed and re-created fleet (or a
        # cluster removed and added back) never meets its own soft-deleted id.
        pool_id = soft_deleted_id(names.child(self.name, "pool-suffix"), ident.gcp_pool_id, self)
        self.pool = gcp.iam.WorkloadIdentityPool(
            names.child(self.name, "pool"),
            workload_identity_pool_id=pool_id,
            display_name=f"fleetform {ident.fleet} {ident.stack}"[:32],
            description=f"Service-account issuers of the clusters of fleet {ident.fleet} ({ident.stack})"[:256],
            opts=self._opts())
        for issuer in issuers:
            self.providers[issuer.cluster] = gcp.iam.WorkloadIdentityPoolProvider(
                names.child(self.name, issuer.cluster, "provider"),
                workload_identity_pool_id=self.pool.workload_identity_pool_id,
                workload_identity_pool_provider_id=soft_deleted_id(
                    names.child(self.name, issuer.cluster, "provider-suffix"), issuer.gcp_provider_id, self),
                display_name=issuer.cluster[:32],
                description=f"cluster {issuer.cluster}: {issuer.url}"[:256],
                attribute_mapping=gcp_attribute_mapping(issuer.cluster),
                attribute_condition=GCP_ATTRIBUTE_CONDITION,
                oidc=gcp.iam.WorkloadIdentityPoolProviderOidcArgs(
                    issuer_uri=issuer.url, allowed_audiences=[GCP_AUDIENCE], jwks_json=jwks[issuer.cluster]),
                opts=self._opts())

    def grant(self, workload: WorkloadGrant) -> pulumi.Output[str] | None:
        """Returns the service account's email."""
        if not workload.gcp or self.pool is None:
            return None
        base = names.child(self.name, "workload", workload.name)
        if workload.gcp_service_account is not None:
            email: pulumi.Output[str] = pulumi.Output.from_input(workload.gcp_service_account)
            sa_id: pulumi.Input[str] = (f"projects/{_project_of(workload.gcp_service_account)}"
                                        f"/serviceAccounts/{workload.gcp_service_account}")
        else:
            account = gcp.serviceaccount.Account(
                base, account_id=workload.gcp_account_id,
                display_name=f"workload identity {workload.name}"[:100],
                description=f"fleetform: {workload.subject} in {', '.join(workload.clusters)}"[:256],
                opts=self._opts())
            email, sa_id = account.email, account.name
            roles: list[pulumi.Input[str]] = list(workload.gcp_roles)
            if workload.gcp_custom_role is not None:
                # An in-cluster controller: exactly the permissions its upstream project
                # publishes, in one custom role per controller kind (shared by its clusters).
                roles.append(self._custom_role(workload).name)
            for role in roles:
                key = names.part(role) if isinstance(role, str) else "custom-role"
                gcp.projects.IAMMember(names.child(base, key), project=self.project, role=role,
                                       member=pulumi.Output.concat("serviceAccount:", account.email),
                                       opts=self._opts())
        pool_name = self.pool.name
        for cluster in workload.clusters:
            gcp.serviceaccount.IAMMember(
                names.child(base, cluster), service_account_id=sa_id, role=WORKLOAD_IDENTITY_USER,
                member=pool_name.apply(_principal_set(cluster, workload.subject)),
                opts=self._opts())
        self.service_accounts[workload.name] = email
        self.credential_configs[workload.name] = {
            c: pulumi.Output.all(self.providers[c].name, email).apply(lambda a: gcp_credential_config(a[0], a[1]))
            for c in workload.clusters
        }
        return email

    def _custom_role(self, workload: WorkloadGrant) -> gcp.projects.IAMCustomRole:
        role_id = workload.gcp_custom_role
        assert role_id is not None
        if role_id not in self.custom_roles:
            self.custom_roles[role_id] = gcp.projects.IAMCustomRole(
                names.child(self.name, "role", names.part(role_id)), project=self.project, role_id=role_id,
                title=role_id[:100], description=f"fleetform: {workload.namespace}/{workload.service_account}"[:256],
                permissions=sorted(workload.gcp_permissions), opts=self._opts())
        return self.custom_roles[role_id]

    # ------------------------------------------------------------ publishing

    def publish(self, documents: Mapping[str, tuple[Issuer, pulumi.Input[str], pulumi.Input[str]]]
                ) -> list[pulumi.Resource]:
        n = self.name
        host = self.identity.oidc_host
        bucket = gcp.storage.Bucket(
            names.child(n, "documents"), location="US", uniform_bucket_level_access=True,
            public_access_prevention="inherited",
            # Versioned and never force-destroyed: a stack removal cannot take the issuers'
            # documents along by accident; replaced versions expire.
            force_destroy=False, versioning=gcp.storage.BucketVersioningArgs(enabled=True),
            lifecycle_rules=[gcp.storage.BucketLifecycleRuleArgs(
                action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                    days_since_noncurrent_time=NONCURRENT_DOCUMENT_DAYS, with_state="ARCHIVED"))],
            opts=self._opts())
        # Discovery documents and keys are public by definition (OpenID Connect Discovery).
        public = gcp.storage.BucketIAMMember(
            names.child(n, "documents-public-read"), bucket=bucket.name, role="roles/storage.objectViewer",
            member="allUsers", opts=self._opts())
        objects: list[pulumi.Resource] = [public]
        for cluster, (issuer, discovery, jwks) in documents.items():
            for kind, key, body in (("discovery", issuer.discovery_object, discovery),
                                    ("jwks", issuer.jwks_object, jwks)):
                objects.append(gcp.storage.BucketObject(
                    names.child(n, cluster, kind), bucket=bucket.name, name=key, content=body,
                    content_type="application/json", cache_control=DOCUMENT_CACHE, opts=self._opts()))
        backend = gcp.compute.BackendBucket(
            names.child(n, "backend"), bucket_name=bucket.name, enable_cdn=False,
            description=f"{host}: service-account issuer documents", opts=self._opts())
        cert = gcp.compute.ManagedSslCertificate(
            names.child(n, "certificate"),
            managed=gcp.compute.ManagedSslCertificateManagedArgs(domains=[f"{host}."]), opts=self._opts())
        url_map = gcp.compute.URLMap(names.child(n, "url-map"), default_service=backend.self_link,
                                     opts=self._opts())
        proxy = gcp.compute.TargetHttpsProxy(names.child(n, "https-proxy"), url_map=url_map.self_link,
                                             ssl_certificates=[cert.self_link], opts=self._opts())
        address = gcp.compute.GlobalAddress(names.child(n, "address"), opts=self._opts())
        rule = gcp.compute.GlobalForwardingRule(
            names.child(n, "https"), target=proxy.self_link, ip_address=address.address, port_range="443",
            load_balancing_scheme="EXTERNAL_MANAGED", opts=self._opts())
        zone = self.identity.gcp_dns_zone or default_dns_zone(self.identity.domain)
        record = gcp.dns.RecordSet(
            names.child(n, "dns"), managed_zone=zone, name=f"{host}.", type="A", ttl=300,
            rrdatas=[address.address], opts=self._opts())
        self.bucket = bucket
        return [*objects, rule, record]
