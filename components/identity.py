"""Shared identity: the fleet root CA and each cluster's intermediates (pulumi-tls).

The root is created once per fleet and protected; intermediates belong to the logical
cluster (not to an incarnation), so a cluster that moves clouds keeps its CAs and
every credential they issued. Key algorithm and validity come from ``identity.pki``
(``PkiSettings``); they travel down the chain with every ``IssuedCert``, so leaves the
planes issue under a cluster CA get the fleet's settings too.

``fleet_identity(plan)`` is the fleet's identity plan (``fleetform.plan.identity``),
decided once per program run from the stack's own configuration.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pulumi
import pulumi_tls as tls

from components.dynamic import RotationGate
from fleetform.plan import identity as identity_plan
from fleetform.plan import names
from fleetform.plan.identity import IdentityPlan
from fleetform.plan.load import load_config, program_config
from fleetform.plan.mesh import MESH_CA_KEY, clustermesh_ca
from fleetform.plan.model import FleetPlan
from fleetform.plan.pki import (
    DEFAULT_PKI,
    SA_KEY_RSA_BITS,
    CertSpec,
    PkiSettings,
    admin_client,
    certified_by_root,
    cluster_cas,
    resource_key,
    root_ca,
    root_resource_key,
    sa_key_name,
)
from fleetform.plan.rotation import ROOT, RotationState, ServiceAccountKeys
from fleetform.plan.stacks import parse_stack
from fleetform.spec.models import (
    CloudsSpec,
    FleetNetworkSpec,
    FleetSpec,
    GcpCloudSpec,
    IdentitySpec,
    MeshSpec,
)


@dataclass(frozen=True)
class IssuedCert:
    key: str
    cert_pem: pulumi.Output[str]
    key_pem: pulumi.Output[str]  # secret
    public_key_pem: pulumi.Output[str]
    resources: tuple[pulumi.Resource, ...]
    # The fleet's PKI settings: whatever this certificate signs is issued with them.
    settings: PkiSettings = DEFAULT_PKI


def private_key(name: str, parent: pulumi.Resource, settings: PkiSettings = DEFAULT_PKI, *,
                rsa_bits: int | None = None, protect: bool = False) -> tls.PrivateKey:
    """A key with the fleet's algorithm (``rsa_bits``: an RSA key of that size whatever
    the setting, for the service-account signing key)."""
    opts = pulumi.ResourceOptions(parent=parent, protect=protect)
    if rsa_bits is not None or settings.algorithm == "RSA":
        return tls.PrivateKey(name, algorithm="RSA", rsa_bits=rsa_bits or settings.rsa_bits, opts=opts)
    return tls.PrivateKey(name, algorithm="ECDSA", ecdsa_curve=settings.ecdsa_curve, opts=opts)


def certify(name: str, spec: CertSpec, key_pem: pulumi.Input[str], issuer: IssuedCert,
            parent: pulumi.Resource, *, protect: bool = False) -> tls.LocallySignedCert:
    """A certificate of ``spec`` for an existing key, signed by ``issuer`` (a CSR and the
    signed certificate, named ``<name>-csr`` / ``<name>-cert``)."""
    csr = tls.CertRequest(
        names.child(name, "csr"),
        private_key_pem=key_pem,
        subject=tls.CertRequestSubjectArgs(common_name=spec.common_name, organization=spec.organization),
        dns_names=list(spec.dns_names) or None,
        ip_addresses=list(spec.ip_addresses) or None,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return tls.LocallySignedCert(
        names.child(name, "cert"),
        cert_request_pem=csr.cert_request_pem,
        ca_private_key_pem=issuer.key_pem,
        ca_cert_pem=issuer.cert_pem,
        is_ca_certificate=spec.is_ca,
        validity_period_hours=spec.validity_hours,
        early_renewal_hours=spec.early_renewal_hours or None,
        allowed_uses=list(spec.uses),
        set_subject_key_id=True,
        opts=pulumi.ResourceOptions(parent=parent, protect=protect),
    )


def issue(name: str, spec: CertSpec, issuer: IssuedCert | None, parent: pulumi.Resource,
          *, protect: bool = False, settings: PkiSettings | None = None) -> IssuedCert:
    """Materialize one CertSpec: a key and a certificate signed by ``issuer`` (or
    self-signed when ``issuer`` is None). Validity and algorithm: ``settings``, else the
    issuer's (the fleet's), else the defaults."""
    settings = settings or (issuer.settings if issuer is not None else DEFAULT_PKI)
    spec = settings.apply(spec)
    key = private_key(names.child(name, "key"), parent, settings, protect=protect)
    cert: tls.SelfSignedCert | tls.LocallySignedCert
    if issuer is None:
        cert = tls.SelfSignedCert(
            names.child(name, "cert"),
            private_key_pem=key.private_key_pem,
            subject=tls.SelfSignedCertSubjectArgs(common_name=spec.common_name, organization=spec.organization),
            is_ca_certificate=spec.is_ca,
            validity_period_hours=spec.validity_hours,
            allowed_uses=list(spec.uses),
            set_subject_key_id=True,
            opts=pulumi.ResourceOptions(parent=parent, protect=protect),
        )
    else:
        cert = certify(name, spec, key.private_key_pem, issuer, parent, protect=protect)
    return IssuedCert(spec.key, cert.cert_pem, pulumi.Output.secret(key.private_key_pem), key.public_key_pem,
                      (key, cert), settings)


def issue_under_roots(name: str, spec: CertSpec, roots: Mapping[int, IssuedCert], issuing: int,
                      parent: pulumi.Resource) -> tuple[IssuedCert, dict[int, pulumi.Output[str]]]:
    """A cluster CA: one key, certified by every root in ``roots`` (two while the fleet
    root rotates). Returns the CA as certified by the ``issuing`` root, and each other
    root's certificate of it. The key never changes with the root, so whatever the CA
    signed stays valid and joining machines' pins (public-key hashes) hold."""
    root = roots[issuing]
    spec = root.settings.apply(spec)
    key = private_key(names.child(name, "key"), parent, root.settings)
    certs = {gen: certify(names.child(name, *filter(None, [certified_by_root(gen)])), spec,
                          key.private_key_pem, r, parent)
             for gen, r in sorted(roots.items())}
    ca = IssuedCert(spec.key, certs[issuing].cert_pem, pulumi.Output.secret(key.private_key_pem),
                    key.public_key_pem, (key, *certs.values()), root.settings)
    return ca, {gen: c.cert_pem for gen, c in certs.items() if gen != issuing}


def _concat(pems: Sequence[pulumi.Input[str]]) -> pulumi.Output[str]:
    return pulumi.Output.all(*pems).apply(lambda ps: "".join(p if p.endswith("\n") else p + "\n" for p in ps))


class ClusterCredentials(Protocol):
    """What a cluster's planes read of its identity (``ClusterIdentity`` in the stack that
    holds the fleet PKI; ``components.fleet_reference.RemoteClusterIdentity`` in a cluster
    stack, from the fleet stack's outputs): the components never know which."""

    @property
    def cluster(self) -> str: ...

    @property
    def rotation(self) -> RotationState: ...

    @property
    def cas(self) -> Mapping[str, IssuedCert]: ...

    @property
    def retiring(self) -> Mapping[str, IssuedCert]: ...

    @property
    def sa_key_pem(self) -> pulumi.Output[str]: ...  # secret

    @property
    def sa_public_pem(self) -> pulumi.Output[str]: ...

    @property
    def sa_public_pems(self) -> tuple[pulumi.Output[str], ...]: ...

    @property
    def admin(self) -> IssuedCert: ...

    def bundle(self, ca: str) -> pulumi.Output[str]: ...

    def sa_public_bundle(self) -> pulumi.Output[str]: ...

    def trust_bundle(self) -> pulumi.Output[str]: ...

    def mesh_ca(self) -> IssuedCert: ...


def ca_bundle(cas: Mapping[str, IssuedCert], retiring: Mapping[str, IssuedCert], ca: str) -> pulumi.Output[str]:
    """What trusts ``ca`` in this phase: the issuing certificate first (kubeadm reads the
    first certificate of ``ca.crt`` as the one ``ca.key`` belongs to), then the retiring
    one during ``prepare``."""
    return _concat([cas[ca].cert_pem, *([retiring[ca].cert_pem] if ca in retiring else [])])


def cas_trust_bundle(cas: Mapping[str, IssuedCert], retiring: Mapping[str, IssuedCert]) -> pulumi.Output[str]:
    pems = [c.cert_pem for c in (*cas.values(), *retiring.values())]
    return pulumi.Output.all(*pems).apply(lambda ps: "".join(ps))


def sa_public_bundle(pems: Sequence[pulumi.Output[str]]) -> pulumi.Output[str]:
    """``sa.pub``: every public key that verifies service-account tokens, the signing
    key's first (kubeadm reads the first key of ``sa.pub`` as ``sa.key``'s)."""
    return _concat(list(pems))


class CredentialBundles:
    """What a cluster's credentials give as bundles, the same whether its CAs and keys
    were made in this stack (``ClusterIdentity``) or read from the fleet stack
    (``components.fleet_reference.RemoteClusterIdentity``)."""

    cas: Mapping[str, IssuedCert]
    retiring: Mapping[str, IssuedCert]
    sa_public_pems: tuple[pulumi.Output[str], ...]

    def bundle(self, ca: str) -> pulumi.Output[str]:
        return ca_bundle(self.cas, self.retiring, ca)

    def sa_public_bundle(self) -> pulumi.Output[str]:
        return sa_public_bundle(self.sa_public_pems)

    def trust_bundle(self) -> pulumi.Output[str]:
        return cas_trust_bundle(self.cas, self.retiring)


class ClusterIdentity(CredentialBundles, pulumi.ComponentResource):
    """One logical cluster's CAs (kubernetes, etcd, front-proxy), its service-account
    signing keys and the admin client certificate.

    ``identity.pki.rotate.<cluster>`` rotates the CAs and the service-account signing
    key in phases (docs/credentials.md): generation N names their resources
    ``...-<ca>-gN-...`` / ``...-service-account-gN-key``. In ``prepare`` generation N-1
    stays (trusted, signing nothing new) beside generation N, which signs every
    certificate and token; ``bundle`` gives N then N-1. In ``complete`` only N remains.

    ``roots``: every fleet root trusted now (two while ``rotate_root`` is in
    ``prepare``), ``root`` the issuing one; each CA is certified by each of them."""

    def __init__(self, name: str, fleet: str, cluster: str, root: IssuedCert,
                 opts: pulumi.ResourceOptions | None = None, *,
                 roots: Mapping[int, IssuedCert] | None = None) -> None:
        super().__init__("fleetform:index:ClusterIdentity", name, None, opts)
        self.cluster = cluster
        self.fleet = fleet
        self.root = root
        settings = root.settings
        root_gen = settings.root_rotation.issuing
        roots = dict(roots) if roots is not None else {root_gen: root}
        self.rotation = settings.rotation(cluster)
        self.generation = self.rotation.issuing
        by_gen: dict[int, dict[str, IssuedCert]] = {}
        # Certificates of the CAs under a retiring root: only the fleet trust bundle has them.
        self.retiring_root_certs: list[pulumi.Output[str]] = []
        for gen in self.rotation.trusted:
            by_gen[gen] = {}
            for spec in cluster_cas(fleet, cluster, settings, gen):
                ca, others = issue_under_roots(names.child(name, resource_key(spec, gen)), spec, roots,
                                               root_gen, self)
                by_gen[gen][spec.key] = ca
                self.retiring_root_certs += list(others.values())
        # The issuing generation's CAs sign everything; the retiring ones are only trusted.
        self.cas: dict[str, IssuedCert] = by_gen[self.generation]
        self.retiring: dict[str, IssuedCert] = by_gen.get(self.rotation.retiring, {}) \
            if self.rotation.retiring is not None else {}
        # Service-account signing keys, one per trusted generation: the API server signs
        # with the issuing one and accepts every one (tokens signed by the retiring key
        # stay valid until `complete`); the published JWKS carries the same keys.
        sa_keys = ServiceAccountKeys.of(self.rotation)
        sa = {gen: private_key(names.child(name, sa_key_name(gen)), self, settings, rsa_bits=SA_KEY_RSA_BITS)
              for gen in sa_keys.verifying}
        self.sa_key_pem: pulumi.Output[str] = pulumi.Output.secret(sa[sa_keys.signing].private_key_pem)
        self.sa_public_pem: pulumi.Output[str] = sa[sa_keys.signing].public_key_pem
        # Every key that verifies tokens now, the signing one first (two during `prepare`).
        self.sa_public_pems: tuple[pulumi.Output[str], ...] = tuple(sa[g].public_key_pem
                                                                    for g in sa_keys.verifying)
        spec = admin_client(fleet, cluster, settings)
        self.admin = issue(names.child(name, spec.key), spec, self.cas[spec.issuer], self)
        self.register_outputs({
            "kubernetes_ca": self.bundle("kubernetes-ca"),
            "etcd_ca": self.bundle("etcd-ca"),
            "front_proxy_ca": self.bundle("front-proxy-ca"),
            "service_account_public_key": self.sa_public_pem,
            "service_account_public_keys": self.sa_public_bundle(),
        })

    def mesh_ca(self) -> IssuedCert:
        """The fleet's ClusterMesh CA (created by the first member that asks)."""
        return mesh_identity(self.fleet, self).ca


class SharedIdentity(pulumi.ComponentResource):
    """The fleet's one trust root (protected: losing it re-issues every credential).

    ``identity.pki.rotate_root`` rotates it in phases: in ``prepare`` the root of
    generation N exists beside N-1 (no longer protected, so ``complete`` can delete it),
    every cluster CA is certified by both, and the trust bundle holds both roots. A gate
    remembers the applied phase and refuses an illegal change in preview.

    ``settings``: the fleet's PKI settings (default: ``identity.pki`` of the stack's own
    configuration, see ``configured_spec``); ``migrating``: whether a cluster runs two
    incarnations now (the root does not rotate then)."""

    def __init__(self, name: str, fleet: str, opts: pulumi.ResourceOptions | None = None, *,
                 settings: PkiSettings | None = None, migrating: bool = False) -> None:
        super().__init__("fleetform:index:SharedIdentity", name, None, opts)
        self.fleet = fleet
        if settings is None:
            spec = configured_spec()
            settings = PkiSettings.from_spec(spec.identity.pki) if spec is not None else DEFAULT_PKI
        self.settings = settings
        self.root_rotation = settings.root_rotation
        self.roots: dict[int, IssuedCert] = {
            gen: issue(names.child(name, root_resource_key(gen)), root_ca(fleet, settings, gen), None, self,
                       protect=gen == self.root_rotation.issuing, settings=settings)
            for gen in self.root_rotation.trusted
        }
        self.root = self.roots[self.root_rotation.issuing]
        self.rotation_gate = RotationGate(names.child(name, "root-rotation"), ROOT, self.root_rotation, migrating,
                                          pulumi.ResourceOptions(parent=self))
        self.clusters: dict[str, ClusterIdentity] = {}
        self.register_outputs({"root_ca": self.root.cert_pem, "root_cas": self.root_bundle()})

    def cluster(self, cluster: str) -> ClusterIdentity:
        if cluster not in self.clusters:
            self.clusters[cluster] = ClusterIdentity(
                names.child(self._name, cluster), self.fleet, cluster, self.root,
                pulumi.ResourceOptions(parent=self), roots=self.roots)
        return self.clusters[cluster]

    def root_bundle(self) -> pulumi.Output[str]:
        """Every trusted root, the issuing one first."""
        return _concat([self.roots[g].cert_pem for g in self.root_rotation.trusted])

    def trust_bundle(self) -> pulumi.Output[str]:
        """Roots + every cluster's intermediates: any workload can verify any cluster.
        While the root rotates: both roots, and each CA as certified by both."""
        pems = [self.roots[g].cert_pem for g in self.root_rotation.trusted]
        for cid in self.clusters.values():
            pems.extend(c.cert_pem for c in (*cid.cas.values(), *cid.retiring.values()))
            pems.extend(cid.retiring_root_certs)
        return pulumi.Output.all(*pems).apply(lambda ps: "".join(ps))


# ------------------------------------------------------------ the ClusterMesh CA


class MeshIdentity(pulumi.ComponentResource):
    """The fleet's ClusterMesh CA: one intermediate of the fleet root, shared by every
    mesh member (Cilium needs one CA across the mesh; each member's release signs its
    ClusterMesh server and client certificates with it)."""

    def __init__(self, name: str, fleet: str, root: IssuedCert, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleetform:index:MeshIdentity", name, None, opts)
        self.ca = issue(names.child(name, MESH_CA_KEY), clustermesh_ca(fleet), root, self)
        self.register_outputs({"clustermesh_ca": self.ca.cert_pem})


# One per fleet root, i.e. per program run (weak: nothing outlives the run).
_MESH_IDENTITIES: weakref.WeakKeyDictionary[pulumi.Resource, MeshIdentity] = weakref.WeakKeyDictionary()


def mesh_identity(fleet: str, identity: ClusterIdentity) -> MeshIdentity:
    """The fleet's ClusterMesh CA, created by the first member that needs it.

    It hangs at the top of the stack (named after the fleet, ``<fleet>-mesh``), not under
    a member, so its URN does not depend on which clusters are in the mesh; it uses the
    fleet's explicit TLS provider, like the rest of the fleet PKI."""
    anchor = identity.root.resources[-1]
    found = _MESH_IDENTITIES.get(anchor)
    if found is None:
        provider = identity.get_provider("tls:index/privateKey:PrivateKey")
        opts = pulumi.ResourceOptions(providers=[provider]) if provider is not None else None
        found = MeshIdentity(names.child(fleet, "mesh"), fleet, identity.root, opts)
        _MESH_IDENTITIES[anchor] = found
    return found


# ------------------------------------------------------------ the identity plan

_SPECS: dict[str, FleetSpec] = {}
_PLANS: dict[int, tuple[FleetPlan, IdentityPlan]] = {}


def configured_spec() -> FleetSpec | None:
    """The stack's FleetSpec, built from its configuration exactly as ``__main__.py``
    builds it (``fleetform:fleet`` over the optional ``fleetform:base`` file), or None
    when the program has no fleet configuration (a test program)."""
    config = pulumi.Config("fleetform")
    stack = pulumi.get_stack()
    root = Path(pulumi.get_root_directory() or Path.cwd())
    fleet, base = config.get_object("fleet"), config.get("base")
    env, cluster = parse_stack(stack)
    if fleet is None and (cluster is None or not (root / "stacks" / f"Pulumi.{env}.yaml").is_file()):
        return None  # a test program
    key = json.dumps([fleet, base, stack, str(root)], sort_keys=True, default=str)
    if key not in _SPECS:
        # A cluster stack has no configuration: it reads its fleet's stack file.
        env, fleet, base = program_config(stack, fleet, base, root / "stacks")
        _SPECS[key] = load_config(fleet, base, stack=env, label=f"stacks/Pulumi.{env}.yaml",
                                  stacks_dir=root / "stacks")
    return _SPECS[key]


def fleet_identity(plan: FleetPlan, spec: FleetSpec | None = None) -> IdentityPlan:
    """The identity plan of ``plan`` (decided once per plan object) from ``spec``, else
    from the stack's configuration. It also registers each cluster's authentication
    settings (SSO, service-account issuer) for its control-plane documents."""
    cached = _PLANS.get(id(plan))
    if cached is not None and cached[0] is plan and spec is None:
        return cached[1]
    spec = spec or configured_spec()
    if spec is None:
        spec = _bare_spec(plan)
    ident = identity_plan.plan_identity(spec, plan)
    identity_plan.register(ident, plan)
    _PLANS[id(plan)] = (plan, ident)
    return ident


def _bare_spec(plan: FleetPlan) -> FleetSpec:
    """A spec with no identity settings for a plan built in code (tests)."""

    fields: dict[str, Any] = {
        "api_version": "fleetform/v1", "name": plan.fleet, "domain": plan.domain, "stack": plan.stack,
        "clouds": CloudsSpec(gcp=GcpCloudSpec(project=plan.gcp_project)), "network": FleetNetworkSpec(),
        "compliance": {}, "identity": IdentitySpec(), "tenants": (), "workload_identities": (),
        "mesh": MeshSpec(), "clusters": (),
    }
    return FleetSpec.model_construct(**fields)
