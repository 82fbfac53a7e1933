"""The fleet's certificate hierarchy as data (what to issue, never how).

    fleet root CA (one, protected)
      └── per cluster: kubernetes CA, etcd CA, front-proxy CA   (shared by every
          │            incarnation of the cluster: moving clouds keeps its identity)
          ├── admin client (kubernetes CA)
          └── per incarnation: etcd member server + peer certs, the API server's etcd
                              client cert (etcd CA) - they name addresses, which move

Components turn these specs into pulumi-tls resources; tests check the real chain.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from fleetform.plan.model import ClusterPlan

from .rotation import Phase, RotationState, parse

if TYPE_CHECKING:
    from fleetform.spec.identity import PkiSpec

Algorithm = Literal["ECDSA", "RSA"]

ROOT_VALIDITY_HOURS = 10 * 8760
INTERMEDIATE_VALIDITY_HOURS = 5 * 8760
LEAF_VALIDITY_HOURS = 8760
# Leaves are re-issued by a `pulumi up` in their last 30 days (then rolled onto nodes).
LEAF_EARLY_RENEWAL_HOURS = 30 * 24

CA_USES = ("cert_signing", "crl_signing", "digital_signature", "key_encipherment")
SERVER_USES = ("digital_signature", "key_encipherment", "server_auth", "client_auth")
CLIENT_USES = ("digital_signature", "key_encipherment", "client_auth")

INTERMEDIATES = ("kubernetes-ca", "etcd-ca", "front-proxy-ca")
# The service-account signing key stays RSA whatever the PKI algorithm: RS256 is what
# every consumer of the published JWKS (AWS STS, GCP STS) accepts.
SA_KEY_RSA_BITS = 2048

Tier = Literal["root", "intermediate", "leaf"]
NO_ROTATION = RotationState()


def rotation_states(spec: PkiSpec) -> dict[str, RotationState]:
    """``identity.pki.rotate`` as rotation states (a bare generation is complete)."""
    return {c: parse(v if isinstance(v, int) else v.model_dump()) for c, v in spec.rotate.items()}


def root_rotation_state(spec: PkiSpec) -> RotationState:
    """``identity.pki.rotate_root`` as a rotation state (absent: generation 0)."""
    value = spec.rotate_root
    return parse(value if value is None or isinstance(value, int) else value.model_dump())


@dataclass(frozen=True)
class PkiSettings:
    """``identity.pki`` resolved: key algorithm, validity per tier, rotations."""

    algorithm: Algorithm = "ECDSA"
    ecdsa_curve: str = "P256"
    rsa_bits: int = 3072
    root_validity_hours: int = ROOT_VALIDITY_HOURS
    intermediate_validity_hours: int = INTERMEDIATE_VALIDITY_HOURS
    leaf_validity_hours: int = LEAF_VALIDITY_HOURS
    # (cluster, generation of its intermediates); absent: generation 0.
    rotate: tuple[tuple[str, int], ...] = ()
    # (cluster, phase of its rotation); absent: complete (or none at generation 0).
    phases: tuple[tuple[str, Phase], ...] = ()
    # The fleet root's rotation (``identity.pki.rotate_root``).
    root_rotation: RotationState = NO_ROTATION

    @classmethod
    def from_spec(cls, spec: PkiSpec) -> PkiSettings:
        states = rotation_states(spec)
        return cls(
            algorithm=spec.algorithm,
            ecdsa_curve=spec.ecdsa_curve,
            rsa_bits=spec.rsa_bits,
            root_validity_hours=spec.root_validity_days * 24,
            intermediate_validity_hours=spec.intermediate_validity_days * 24,
            leaf_validity_hours=spec.leaf_validity_days * 24,
            rotate=tuple(sorted((c, s.generation) for c, s in states.items())),
            phases=tuple(sorted((c, s.phase) for c, s in states.items())),
            root_rotation=root_rotation_state(spec),
        )

    @property
    def leaf_early_renewal_hours(self) -> int:
        """Leaves are re-issued in their last 30 days (a third of short lifetimes)."""
        return min(LEAF_EARLY_RENEWAL_HOURS, self.leaf_validity_hours // 3)

    def generation(self, cluster: str) -> int:
        return dict(self.rotate).get(cluster, 0)

    def rotation(self, cluster: str) -> RotationState:
        """Where the cluster's CA rotation stands (trusted and issuing generations)."""
        gen = self.generation(cluster)
        return RotationState(gen, dict(self.phases).get(cluster, "complete" if gen else "none"))

    def validity_hours(self, tier: Tier) -> int:
        return {
            "root": self.root_validity_hours,
            "intermediate": self.intermediate_validity_hours,
            "leaf": self.leaf_validity_hours,
        }[tier]

    def apply(self, spec: CertSpec) -> CertSpec:
        """``spec`` with this fleet's validity for its tier (leaves: early renewal too)."""
        t = tier(spec)
        early = self.leaf_early_renewal_hours if t == "leaf" and spec.early_renewal_hours else 0
        return replace(spec, validity_hours=self.validity_hours(t), early_renewal_hours=early)


DEFAULT_PKI = PkiSettings()


@dataclass(frozen=True)
class CertSpec:
    key: str  # stable key: names the resources
    issuer: str  # "root" or the key of another CertSpec
    common_name: str
    organization: str
    uses: tuple[str, ...]
    is_ca: bool
    validity_hours: int
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    early_renewal_hours: int = 0


def tier(spec: CertSpec) -> Tier:
    if spec.issuer == "root":
        return "root"
    return "intermediate" if spec.is_ca else "leaf"


def root_ca(fleet: str, settings: PkiSettings = DEFAULT_PKI, generation: int = 0) -> CertSpec:
    """The fleet root of ``generation`` (0: the original; the name carries a later one,
    so the roots of a rotation are distinct)."""
    suffix = f" (generation {generation})" if generation else ""
    return settings.apply(
        CertSpec(
            "root-ca", "root", f"{fleet} fleet root CA{suffix}", fleet, CA_USES, True, ROOT_VALIDITY_HOURS
        )
    )


def root_resource_key(generation: int) -> str:
    """The name part of a root's resources (generation 0 keeps the original name)."""
    return f"root-ca-g{generation}" if generation else "root-ca"


def certified_by_root(generation: int) -> str:
    """The name part of a cluster CA's certificate under root ``generation``: the CA
    keeps its key across a root rotation, only its certificate is issued again."""
    return f"root-g{generation}" if generation else ""


def cluster_cas(fleet: str, cluster: str, settings: PkiSettings = DEFAULT_PKI,
                generation: int | None = None) -> list[CertSpec]:
    """Intermediates of one logical cluster, signed by the fleet root. The common name
    carries the cluster (and the generation once rotated), so every CA is distinct.
    ``generation``: default the issuing one (during ``prepare`` the previous one exists too)."""
    gen = settings.generation(cluster) if generation is None else generation
    suffix = f" (generation {gen})" if gen else ""
    return [
        settings.apply(
            CertSpec(
                key,
                "root-ca",
                f"{cluster} {key.removesuffix('-ca')} CA{suffix}",
                fleet,
                CA_USES,
                True,
                INTERMEDIATE_VALIDITY_HOURS,
            )
        )
        for key in INTERMEDIATES
    ]


def resource_key(spec: CertSpec, generation: int) -> str:
    """The name part of an intermediate's resources: a new generation is a new name, so
    `pulumi up` creates the new CA (and re-signs everything under it) before deleting
    the old one."""
    return f"{spec.key}-g{generation}" if generation and tier(spec) == "intermediate" else spec.key


def admin_client(fleet: str, cluster: str, settings: PkiSettings = DEFAULT_PKI) -> CertSpec:
    # kubeadm binds the kubeadm:cluster-admins group to cluster-admin at init.
    return settings.apply(
        CertSpec(
            "admin",
            "kubernetes-ca",
            f"{fleet}-admin",
            "kubeadm:cluster-admins",
            CLIENT_USES,
            False,
            LEAF_VALIDITY_HOURS,
            early_renewal_hours=LEAF_EARLY_RENEWAL_HOURS,
        )
    )


def incarnation_leaves(
    fleet: str, plan: ClusterPlan, settings: PkiSettings = DEFAULT_PKI
) -> list[CertSpec]:
    """etcd member certs (SANs: the member's DNS name and IP; server certs also
    localhost for on-node etcdctl) and the API server's etcd client cert.

    Validity comes from ``settings``; components also re-apply the fleet's settings when
    they issue (``components.identity.issue``), so callers may leave the default."""
    certs: list[CertSpec] = []
    for m in plan.etcd.members:
        certs.append(
            CertSpec(
                f"{m.name}-server",
                "etcd-ca",
                m.dns,
                fleet,
                SERVER_USES,
                False,
                LEAF_VALIDITY_HOURS,
                (m.dns, "localhost"),
                (m.ip, "127.0.0.1"),
                LEAF_EARLY_RENEWAL_HOURS,
            )
        )
        certs.append(
            CertSpec(
                f"{m.name}-peer",
                "etcd-ca",
                m.dns,
                fleet,
                SERVER_USES,
                False,
                LEAF_VALIDITY_HOURS,
                (m.dns,),
                (m.ip,),
                LEAF_EARLY_RENEWAL_HOURS,
            )
        )
    certs.append(
        CertSpec(
            "apiserver-etcd-client",
            "etcd-ca",
            "kube-apiserver-etcd-client",
            "system:masters",
            CLIENT_USES,
            False,
            LEAF_VALIDITY_HOURS,
            early_renewal_hours=LEAF_EARLY_RENEWAL_HOURS,
        )
    )
    return [settings.apply(c) for c in certs]


def kubeadm_encryption_algorithm(settings: PkiSettings) -> str:
    """kubeadm v1beta4 ``ClusterConfiguration.encryptionAlgorithm`` matching the fleet's
    PKI, so the certificates kubeadm issues (and renews) use the fleet's key type:
    ``ECDSA-P256`` (default), ``ECDSA-P384`` (kubeadm >= 1.34), ``RSA-2048/3072/4096``."""
    if settings.algorithm == "ECDSA":
        return f"ECDSA-{settings.ecdsa_curve}"
    return f"RSA-{settings.rsa_bits}"


def sa_key_name(generation: int) -> str:
    """The name part of a cluster's service-account signing key of ``generation``
    (rotated with the cluster's CAs; generation 0 keeps the original name)."""
    return f"service-account-g{generation}-key" if generation else "service-account-key"
