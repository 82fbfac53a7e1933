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

from dataclasses import dataclass
from typing import Literal

from .plan import ClusterPlan

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


def root_ca(fleet: str) -> CertSpec:
    return CertSpec("root-ca", "root", f"{fleet} fleet root CA", fleet, CA_USES, True, ROOT_VALIDITY_HOURS)


def cluster_cas(fleet: str, cluster: str) -> list[CertSpec]:
    """Intermediates of one logical cluster, signed by the fleet root."""
    return [
        CertSpec(key, "root-ca", f"{cluster} {key.removesuffix('-ca')} CA", fleet, CA_USES, True,
                 INTERMEDIATE_VALIDITY_HOURS)
        for key in INTERMEDIATES
    ]


def admin_client(fleet: str, cluster: str) -> CertSpec:
    # kubeadm binds the kubeadm:cluster-admins group to cluster-admin at init.
    return CertSpec("admin", "kubernetes-ca", f"{fleet}-admin", "kubeadm:cluster-admins", CLIENT_USES, False,
                    LEAF_VALIDITY_HOURS, early_renewal_hours=LEAF_EARLY_RENEWAL_HOURS)


def incarnation_leaves(fleet: str, plan: ClusterPlan) -> list[CertSpec]:
    """etcd member certs (SANs: the member's DNS name and IP; server certs also
    localhost for on-node etcdctl) and the API server's etcd client cert."""
    certs: list[CertSpec] = []
    for m in plan.etcd.members:
        certs.append(CertSpec(f"{m.name}-server", "etcd-ca", m.dns, fleet, SERVER_USES, False, LEAF_VALIDITY_HOURS,
                              (m.dns, "localhost"), (m.ip, "127.0.0.1"), LEAF_EARLY_RENEWAL_HOURS))
        certs.append(CertSpec(f"{m.name}-peer", "etcd-ca", m.dns, fleet, SERVER_USES, False, LEAF_VALIDITY_HOURS,
                              (m.dns,), (m.ip,), LEAF_EARLY_RENEWAL_HOURS))
    certs.append(CertSpec("apiserver-etcd-client", "etcd-ca", "kube-apiserver-etcd-client", "system:masters",
                          CLIENT_USES, False, LEAF_VALIDITY_HOURS, early_renewal_hours=LEAF_EARLY_RENEWAL_HOURS))
    return certs
