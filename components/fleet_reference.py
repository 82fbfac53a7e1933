"""What a cluster stack reads of the fleet stack, and what the fleet stack exports for it.

With ``stacks: per-cluster`` (``fleetform/plan/stacks.py``) the fleet PKI and federation
live in the fleet stack ``<env>``; a cluster stack ``<env>.<cluster>`` reads them through
one ``pulumi.StackReference``. ``fleet_stack_outputs`` (fleet stack) and the readers here
(cluster stack) are the two ends of one contract: the output names are defined once,
below. The readers offer the read surface the components use
(``components.identity.ClusterCredentials``, ``components.federation.FederationReads``),
so no component knows where its data comes from.

Which certificates, grants and controller identities exist is decided by the plan in
both stacks; only their values cross the stack boundary. Secret values (CA and
service-account keys, the admin key) travel in secret outputs and stay secret.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pulumi

from components.clouds.base import MachineIdentity
from components.federation import writer_identity
from components.identity import ClusterCredentials, CredentialBundles, IssuedCert
from fleetform.plan import names
from fleetform.plan.identity import IdentityPlan, WorkloadGrant, controller_grant_name
from fleetform.plan.mesh import clustermesh_ca
from fleetform.plan.pki import PkiSettings, admin_client, cluster_cas
from fleetform.plan.rotation import ServiceAccountKeys
from fleetform.plan.stacks import StackOutputMissing

if TYPE_CHECKING:
    from components.federation import Federation
    from components.identity import ClusterIdentity, SharedIdentity

# The fleet stack's outputs a cluster stack reads (besides `root_ca`).
IDENTITY = "cluster_identity:"  # + cluster: certificates and public keys (public)
KEYS = "cluster_keys:"  # + cluster: the matching private keys (secret)
FEDERATION = "cluster_federation:"  # + cluster: the federated principals it uses
MESH_CA, MESH_CA_KEY = "clustermesh_ca", "clustermesh_ca_key"


# ------------------------------------------------------------ which grants exist


def federated_clouds(ident: IdentityPlan) -> tuple[str, ...]:
    return tuple(ident.federation_clouds) if ident.issuers else ()


def has_aws_role(ident: IdentityPlan, w: WorkloadGrant) -> bool:
    """Whether the fleet's federation gives ``w`` an AWS role (``AwsFederation.grant``)."""
    return "aws" in federated_clouds(ident) and w.aws_role_name is not None and bool(w.clusters)


def has_gcp_account(ident: IdentityPlan, w: WorkloadGrant) -> bool:
    """Whether it gives ``w`` a GCP service account (``GcpFederation.grant``)."""
    return "gcp" in federated_clouds(ident) and bool(w.gcp)


# ------------------------------------------------------------ the fleet stack's side


def _cert(c: IssuedCert) -> dict[str, pulumi.Output[str]]:
    return {"cert": c.cert_pem, "public": c.public_key_pem}


def fleet_stack_outputs(ident: IdentityPlan, shared: SharedIdentity, federation: Federation,
                        clusters: tuple[str, ...]) -> dict[str, Any]:
    """The outputs every cluster stack reads, per logical cluster (``clusters``)."""
    expected_aws = {w.name for w in ident.workloads if has_aws_role(ident, w)}
    expected_gcp = {w.name for w in ident.workloads if has_gcp_account(ident, w)}
    if set(federation.aws_roles) != expected_aws or set(federation.gcp_service_accounts) != expected_gcp:
        raise AssertionError("the federation's grants differ from what cluster stacks expect "
                             "(components/fleet_reference.py: has_aws_role, has_gcp_account)")
    out: dict[str, Any] = {}
    for cluster in clusters:
        cid: ClusterIdentity = shared.cluster(cluster)
        out[IDENTITY + cluster] = {
            "cas": {k: _cert(c) for k, c in cid.cas.items()},
            "retiring": {k: _cert(c) for k, c in cid.retiring.items()},
            "admin": _cert(cid.admin),
            "service_account_public": cid.sa_public_pem,
            # Every key that verifies tokens now, the signing one first.
            "service_account_publics": list(cid.sa_public_pems),
        }
        out[KEYS + cluster] = pulumi.Output.secret({
            "cas": {k: c.key_pem for k, c in cid.cas.items()},
            "retiring": {k: c.key_pem for k, c in cid.retiring.items()},
            "admin": cid.admin.key_pem,
            "service_account": cid.sa_key_pem,
        })
        mine = [w for w in ident.workloads if cluster in w.clusters]
        out[FEDERATION + cluster] = {
            "aws_roles": {w.name: federation.aws_roles[w.name] for w in mine if w.name in federation.aws_roles},
            "gcp_service_accounts": {w.name: federation.gcp_service_accounts[w.name]
                                     for w in mine if w.name in federation.gcp_service_accounts},
            "credential_configs": {w.name: federation.credential_config(w.name, cluster)
                                   for w in mine if w.name in federation.gcp_service_accounts},
        }
    return out


def mesh_outputs(ca: IssuedCert) -> dict[str, Any]:
    return {MESH_CA: _cert(ca), MESH_CA_KEY: pulumi.Output.secret(ca.key_pem)}


# ------------------------------------------------------------ the cluster stack's side


def _named(name: str, outputs: Mapping[str, Any] | None) -> Any:
    return (outputs or {}).get(name)


def _present(stack: str, name: str, value: Any) -> Any:
    if value is None:
        raise StackOutputMissing(stack, name)
    return value


def _nth_public(i: int, identity: Any) -> Any:
    return identity["service_account_publics"][i]


def _at(path: tuple[str, ...], value: Any) -> Any:
    for key in path:
        value = value[key]
    return value


class FleetReference:
    """The fleet stack, read through one StackReference (``stack``: its Pulumi stack name;
    the reference names it ``<organization>/<project>/<stack>``, the form every backend
    accepts)."""

    def __init__(self, fleet: str, stack: str, opts: pulumi.ResourceOptions | None = None) -> None:
        self.stack = stack
        qualified = f"{pulumi.get_organization()}/{pulumi.get_project()}/{stack}"
        self.ref = pulumi.StackReference(names.child(fleet, "fleet-stack"), stack_name=qualified, opts=opts)
        self._outputs: dict[str, pulumi.Output[Any]] = {}

    def output(self, name: str) -> pulumi.Output[Any]:
        """A required output (StackOutputMissing, naming it and the stack, when absent).

        As ``StackReference.get_output`` (secret exactly when the fleet stack made it
        secret), without its ``Output.all(name, outputs)``, which unwraps every value of
        every output of the fleet stack into Outputs on each read: work that grows with
        the fleet in each of its cluster stacks."""
        if name not in self._outputs:
            value = self.ref.outputs.apply(functools.partial(_named, name))
            secret = asyncio.ensure_future(self._is_secret(name))
            read: pulumi.Output[Any] = pulumi.Output(value.resources(), value.future(), value.is_known(), secret)
            self._outputs[name] = read.apply(functools.partial(_present, self.stack, name))
        return self._outputs[name]

    async def _is_secret(self, name: str) -> bool:
        secret_names = await self.ref.secret_output_names.future()
        return secret_names is not None and name in secret_names

    def value(self, name: str, *path: str) -> pulumi.Output[Any]:
        return self.output(name).apply(functools.partial(_at, path))


class RemoteClusterIdentity(CredentialBundles):
    """``ClusterCredentials`` of one logical cluster from the fleet stack. Which CAs exist
    (the rotation's generations) comes from the plan's PKI settings, as in the fleet stack."""

    def __init__(self, ref: FleetReference, fleet: str, cluster: str, settings: PkiSettings) -> None:
        self._ref, self._fleet, self._settings = ref, fleet, settings
        self.cluster = cluster
        self.rotation = settings.rotation(cluster)
        self.generation = self.rotation.issuing
        pub, keys = IDENTITY + cluster, KEYS + cluster
        self.cas: dict[str, IssuedCert] = {
            s.key: self._issued(s.key, pub, keys, "cas", s.key)
            for s in cluster_cas(fleet, cluster, settings, self.generation)}
        self.retiring: dict[str, IssuedCert] = {} if self.rotation.retiring is None else {
            s.key: self._issued(s.key, pub, keys, "retiring", s.key)
            for s in cluster_cas(fleet, cluster, settings, self.rotation.retiring)}
        self.sa_key_pem: pulumi.Output[str] = ref.value(keys, "service_account")
        self.sa_public_pem: pulumi.Output[str] = ref.value(pub, "service_account_public")
        verifying = ServiceAccountKeys.of(self.rotation).verifying
        self.sa_public_pems: tuple[pulumi.Output[str], ...] = tuple(
            ref.output(pub).apply(functools.partial(_nth_public, i)) for i in range(len(verifying)))
        admin = admin_client(fleet, cluster, settings)
        self.admin = IssuedCert(admin.key, ref.value(pub, "admin", "cert"), ref.value(keys, "admin"),
                                ref.value(pub, "admin", "public"), (ref.ref,), settings)

    def _issued(self, key: str, pub: str, keys: str, *path: str) -> IssuedCert:
        ref = self._ref
        return IssuedCert(key, ref.value(pub, *path, "cert"), ref.value(keys, *path),
                          ref.value(pub, *path, "public"), (ref.ref,), self._settings)

    def mesh_ca(self) -> IssuedCert:
        ref = self._ref
        return IssuedCert(clustermesh_ca(self._fleet).key, ref.value(MESH_CA, "cert"), ref.output(MESH_CA_KEY),
                          ref.value(MESH_CA, "public"), (ref.ref,), self._settings)


class RemoteIdentities(Mapping[str, ClusterCredentials]):
    """Every logical cluster's ``RemoteClusterIdentity``, made on first read (a cluster
    stack reads its own, and the management cluster's stack every registered one)."""

    def __init__(self, ref: FleetReference, fleet: str, clusters: tuple[str, ...], settings: PkiSettings) -> None:
        self._ref, self._fleet, self._clusters, self._settings = ref, fleet, clusters, settings
        self._made: dict[str, RemoteClusterIdentity] = {}

    def __getitem__(self, cluster: str) -> ClusterCredentials:
        if cluster not in self._clusters:
            raise KeyError(cluster)
        if cluster not in self._made:
            self._made[cluster] = RemoteClusterIdentity(self._ref, self._fleet, cluster, self._settings)
        return self._made[cluster]

    def __iter__(self) -> Any:
        return iter(self._clusters)

    def __len__(self) -> int:
        return len(self._clusters)


class RemoteFederation:
    """``FederationReads`` of one logical cluster from the fleet stack."""

    def __init__(self, ref: FleetReference, ident: IdentityPlan, cluster: str) -> None:
        self._ref, self._cluster = ref, cluster
        name = FEDERATION + cluster
        mine = [w for w in ident.workloads if cluster in w.clusters]
        self.aws_roles = {w.name: ref.value(name, "aws_roles", w.name) for w in mine if has_aws_role(ident, w)}
        self.gcp_service_accounts = {w.name: ref.value(name, "gcp_service_accounts", w.name)
                                     for w in mine if has_gcp_account(ident, w)}
        self.credential_configs = {w: ref.value(name, "credential_configs", w) for w in self.gcp_service_accounts}

    def writer(self, grant: str, cloud: str) -> MachineIdentity:
        return writer_identity(self.aws_roles if cloud == "aws" else self.gcp_service_accounts, grant, cloud)

    def credential_config(self, grant: str, cluster: str) -> pulumi.Output[str]:
        if cluster != self._cluster:
            raise ValueError(f"the stack of cluster {self._cluster!r} reads no credentials of cluster {cluster!r}")
        return self.credential_configs[grant]

    def controller_identity(self, controller: str, cluster: str, cloud: str
                            ) -> tuple[pulumi.Output[str] | None, pulumi.Output[str] | None]:
        grant = controller_grant_name(controller, cluster)
        if cloud == "aws":
            return self.aws_roles.get(grant), None
        return None, self.credential_configs.get(grant) if cluster == self._cluster else None
