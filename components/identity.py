"""Shared identity: the fleet root CA and each cluster's intermediates (pulumi-tls).

The root is created once per fleet and protected; intermediates belong to the logical
cluster (not to an incarnation), so a cluster that moves clouds keeps its CAs and
every credential they issued.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_tls as tls

from fleetform import names
from fleetform.pki import CertSpec, admin_client, cluster_cas, root_ca

KEY_ALGORITHM = "ECDSA"
ECDSA_CURVE = "P256"


@dataclass(frozen=True)
class IssuedCert:
    key: str
    cert_pem: pulumi.Output[str]
    key_pem: pulumi.Output[str]  # secret
    public_key_pem: pulumi.Output[str]
    resources: tuple[pulumi.Resource, ...]


def private_key(name: str, parent: pulumi.Resource, *, rsa: bool = False, protect: bool = False) -> tls.PrivateKey:
    if rsa:
        return tls.PrivateKey(name, algorithm="RSA", rsa_bits=2048,
                              opts=pulumi.ResourceOptions(parent=parent, protect=protect))
    return tls.PrivateKey(name, algorithm=KEY_ALGORITHM, ecdsa_curve=ECDSA_CURVE,
                          opts=pulumi.ResourceOptions(parent=parent, protect=protect))


def issue(name: str, spec: CertSpec, issuer: IssuedCert | None, parent: pulumi.Resource,
          *, protect: bool = False) -> IssuedCert:
    """Materialize one CertSpec: a key and a certificate signed by ``issuer`` (or
    self-signed when ``issuer`` is None)."""
    key = private_key(names.child(name, "key"), parent, protect=protect)
    subject = tls.SelfSignedCertSubjectArgs(common_name=spec.common_name, organization=spec.organization)
    opts = pulumi.ResourceOptions(parent=parent, protect=protect)
    cert: tls.SelfSignedCert | tls.LocallySignedCert
    if issuer is None:
        cert = tls.SelfSignedCert(
            names.child(name, "cert"),
            private_key_pem=key.private_key_pem,
            subject=subject,
            is_ca_certificate=spec.is_ca,
            validity_period_hours=spec.validity_hours,
            allowed_uses=list(spec.uses),
            set_subject_key_id=True,
            opts=opts,
        )
    else:
        csr = tls.CertRequest(
            names.child(name, "csr"),
            private_key_pem=key.private_key_pem,
            subject=tls.CertRequestSubjectArgs(common_name=spec.common_name, organization=spec.organization),
            dns_names=list(spec.dns_names) or None,
            ip_addresses=list(spec.ip_addresses) or None,
            opts=pulumi.ResourceOptions(parent=parent),
        )
        cert = tls.LocallySignedCert(
            names.child(name, "cert"),
            cert_request_pem=csr.cert_request_pem,
            ca_private_key_pem=issuer.key_pem,
            ca_cert_pem=issuer.cert_pem,
            is_ca_certificate=spec.is_ca,
            validity_period_hours=spec.validity_hours,
            early_renewal_hours=spec.early_renewal_hours or None,
            allowed_uses=list(spec.uses),
            set_subject_key_id=True,
            opts=opts,
        )
    return IssuedCert(spec.key, cert.cert_pem, pulumi.Output.secret(key.private_key_pem), key.public_key_pem,
                      (key, cert))


class ClusterIdentity(pulumi.ComponentResource):
    """One logical cluster's CAs (kubernetes, etcd, front-proxy), its service-account
    signing key and the admin client certificate."""

    def __init__(self, name: str, fleet: str, cluster: str, root: IssuedCert,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleetform:index:ClusterIdentity", name, None, opts)
        self.cluster = cluster
        self.root = root
        self.cas: dict[str, IssuedCert] = {
            spec.key: issue(names.child(name, spec.key), spec, root, self) for spec in cluster_cas(fleet, cluster)
        }
        sa = private_key(names.child(name, "service-account-key"), self, rsa=True)
        self.sa_key_pem: pulumi.Output[str] = pulumi.Output.secret(sa.private_key_pem)
        self.sa_public_pem: pulumi.Output[str] = sa.public_key_pem
        spec = admin_client(fleet, cluster)
        self.admin = issue(names.child(name, spec.key), spec, self.cas[spec.issuer], self)
        self.register_outputs({
            "kubernetes_ca": self.cas["kubernetes-ca"].cert_pem,
            "etcd_ca": self.cas["etcd-ca"].cert_pem,
            "front_proxy_ca": self.cas["front-proxy-ca"].cert_pem,
        })

    def trust_bundle(self) -> pulumi.Output[str]:
        return pulumi.Output.all(*(c.cert_pem for c in self.cas.values())).apply(lambda pems: "".join(pems))


class SharedIdentity(pulumi.ComponentResource):
    """The fleet's one trust root (protected: losing it re-issues every credential)."""

    def __init__(self, name: str, fleet: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleetform:index:SharedIdentity", name, None, opts)
        self.fleet = fleet
        self.root = issue(names.child(name, "root-ca"), root_ca(fleet), None, self, protect=True)
        self.clusters: dict[str, ClusterIdentity] = {}
        self.register_outputs({"root_ca": self.root.cert_pem})

    def cluster(self, cluster: str) -> ClusterIdentity:
        if cluster not in self.clusters:
            self.clusters[cluster] = ClusterIdentity(
                names.child(self._name, cluster), self.fleet, cluster, self.root,
                pulumi.ResourceOptions(parent=self))
        return self.clusters[cluster]

    def trust_bundle(self) -> pulumi.Output[str]:
        """Root + every cluster's intermediates: any workload can verify any cluster."""
        pems = [self.root.cert_pem]
        for cid in self.clusters.values():
            pems.extend(c.cert_pem for c in cid.cas.values())
        return pulumi.Output.all(*pems).apply(lambda ps: "".join(ps))
