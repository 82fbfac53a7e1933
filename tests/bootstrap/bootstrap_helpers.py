"""Helpers for the bootstrap tests: a real PKI made with ``cryptography``, input builders, tool lookup.

A uniquely named module (not conftest) so test modules can import it without clashing
with other directories' conftest.py.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fleetform.bootstrap import (
    ControlPlaneInputs,
    ControlPlanePKI,
    EtcdBackup,
    EtcdMember,
    EtcdNodeInputs,
    EtcdTLS,
    ObjectLocation,
    SecretStore,
    WorkerInputs,
)

ETCD_SHA256 = "0" * 63 + "1"
DEFAULT_BACKUP = EtcdBackup("fleet-backups", "etcd")
ZONE = "c1.fleet.internal"


@dataclass(frozen=True)
class Issued:
    """A certificate and its key, both PEM."""

    cert_pem: str
    key_pem: str
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _issue(
    cn: str,
    issuer: Issued | None,
    *,
    ca: bool,
    dns: Sequence[str] = (),
    ips: Sequence[str] = (),
    server: bool = False,
    client: bool = False,
) -> Issued:
    key = _key()
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True
        )
        usages = [u for u, on in ((ExtendedKeyUsageOID.SERVER_AUTH, server), (ExtendedKeyUsageOID.CLIENT_AUTH, client)) if on]
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
        )
    cert = builder.sign(issuer.key if issuer else key, hashes.SHA256())
    return Issued(cert.public_bytes(serialization.Encoding.PEM).decode(), _pem_key(key), key, cert)


class TestPKI:
    """Fleet root CA -> per-cluster etcd CA -> member and client certificates."""

    __test__ = False

    def __init__(self) -> None:
        self.root = _issue("fleet root CA", None, ca=True)
        self.etcd_ca = _issue("etcd CA c1", self.root, ca=True)
        # Another cluster's etcd CA under the same root: must NOT be trusted by c1's etcd.
        self.other_etcd_ca = _issue("etcd CA c2", self.root, ca=True)
        self.cluster_ca = _issue("kubernetes CA c1", self.root, ca=True)
        self.front_proxy_ca = _issue("front-proxy CA c1", self.root, ca=True)
        self.sa_key = _key()

    def etcd_member(self, name: str, dns: str, ip: str) -> tuple[Issued, Issued]:
        """Server and peer certificates, SANs = the member's DNS name and IP."""
        # etcd's gRPC gateway dials the member with the server cert: it needs clientAuth too.
        server = _issue(name, self.etcd_ca, ca=False, dns=[dns], ips=[ip], server=True, client=True)
        peer = _issue(name, self.etcd_ca, ca=False, dns=[dns], ips=[ip], server=True, client=True)
        return server, peer

    def client(self, cn: str, ca: Issued | None = None) -> Issued:
        return _issue(cn, ca or self.etcd_ca, ca=False, client=True)

    @property
    def sa_public_pem(self) -> str:
        return self.sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()


def member_list(n: int, zone: str = ZONE) -> list[EtcdMember]:
    return [EtcdMember(f"etcd-{i}", f"etcd-{i}.{zone}", f"10.0.{i}.10") for i in range(n)]


def make_etcd_inputs(pki: TestPKI) -> Callable[..., EtcdNodeInputs]:
    """A builder of EtcdNodeInputs; every argument has a realistic default."""

    def build(
        member: str = "etcd-0",
        *,
        cluster: str = "c1",
        n: int = 3,
        cloud: str = "aws",
        version: str = "3.6.5",
        members: Sequence[EtcdMember] | None = None,
        backup: EtcdBackup | None = DEFAULT_BACKUP,
        restore_from: ObjectLocation | None = None,
        certs: tuple[str, str] | None = None,
        client_cert_pem: str | None = None,
        **kwargs: Any,
    ) -> EtcdNodeInputs:
        members = list(members) if members is not None else member_list(n)
        me = next(m for m in members if m.name == member)
        if certs is None:
            server, peer = pki.etcd_member(me.name, me.dns_name, me.ip)
            certs = (server.cert_pem, peer.cert_pem)
        store = SecretStore(cloud, "eu-west-1", None if cloud == "aws" else "fleet-prod-1")  # type: ignore[arg-type]
        return EtcdNodeInputs(
            cluster_name=cluster,
            member_name=member,
            members=members,
            version=version,
            sha256=ETCD_SHA256,
            data_device="/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0",
            tls=EtcdTLS(
                ca_cert_pem=pki.etcd_ca.cert_pem,
                server_cert_pem=certs[0],
                server_key_secret=f"{cluster}/etcd/{member}/server-key",
                peer_cert_pem=certs[1],
                peer_key_secret=f"{cluster}/etcd/{member}/peer-key",
                client_cert_pem=client_cert_pem or pki.client("etcd-backup").cert_pem,
                client_key_secret=f"{cluster}/etcd/backup-client-key",
            ),
            secret_store=store,
            backup=backup,
            restore_from=restore_from,
            **kwargs,
        )

    return build


def make_control_plane_inputs(pki: TestPKI) -> Callable[..., ControlPlaneInputs]:
    apiserver_client = pki.client("kube-apiserver-etcd-client")

    def build(replica: int = 0, *, cloud: str = "aws", **kwargs: Any) -> ControlPlaneInputs:
        store = SecretStore(cloud, "eu-west-1", None if cloud == "aws" else "fleet-prod-1")  # type: ignore[arg-type]
        defaults: dict[str, Any] = {
            "cluster_name": "c1",
            "replica": replica,
            "kubernetes_version": "1.37.1",
            "control_plane_endpoint": "api.c1.fleet.example.com",
            "etcd_endpoints": [m.dns_name for m in member_list(3)],
            "pod_subnet": "10.244.0.0/16",
            "service_subnet": "10.96.0.0/12",
            "pki": ControlPlanePKI(
                ca_cert_pem=pki.cluster_ca.cert_pem,
                ca_key_secret="c1/pki/ca-key",
                front_proxy_ca_cert_pem=pki.front_proxy_ca.cert_pem,
                front_proxy_ca_key_secret="c1/pki/front-proxy-ca-key",
                sa_public_key_pem=pki.sa_public_pem,
                sa_private_key_secret="c1/pki/sa-key",
                etcd_ca_cert_pem=pki.etcd_ca.cert_pem,
                apiserver_etcd_client_cert_pem=apiserver_client.cert_pem,
                apiserver_etcd_client_key_secret="c1/pki/apiserver-etcd-client-key",
            ),
            "bootstrap_token_secret": "c1/bootstrap-token",
            "encryption_key_secret": "c1/secretbox-key",
            "etcd_client_credentials_secret": "c1/apiserver-etcd-client-credentials",
            "service_account_keys_secret": "c1/service-account-keys",
            "replica_names": ("cp-0", "cp-1", "cp-2"),
            "secret_store": store,
            "advertise_address": f"10.0.{10 + replica}.5",
        }
        defaults.update(kwargs)
        return ControlPlaneInputs(**defaults)

    return build


def make_worker_inputs(pki: TestPKI) -> Callable[..., WorkerInputs]:
    def build(*, cloud: str = "aws", **kwargs: Any) -> WorkerInputs:
        store = SecretStore(cloud, "eu-west-1", None if cloud == "aws" else "fleet-prod-1")  # type: ignore[arg-type]
        defaults: dict[str, Any] = {
            "cluster_name": "c1",
            "kubernetes_version": "1.37.1",
            "control_plane_endpoint": "api.c1.fleet.example.com",
            "ca_cert_pem": pki.cluster_ca.cert_pem,
            "bootstrap_token_secret": "c1/bootstrap-token",
            "secret_store": store,
            "node_labels": {"node.fleetform.io/pool": "general", "topology.kubernetes.io/zone": "eu-west-1a"},
        }
        defaults.update(kwargs)
        return WorkerInputs(**defaults)

    return build


def require_tool(name: str) -> str:
    """Path of a real tool the test drives. Missing: fail under CI, skip (with the reason) elsewhere."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (run: bash scripts/install-system-tools.sh)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def render_matrix(pki: TestPKI) -> dict[str, str]:
    """Every kind of document, for both clouds, from the same inputs: ``{"aws/etcd-0": text, ...}``."""
    from fleetform.bootstrap import (
        OIDC,
        ServiceAccountIssuer,
        render_control_plane,
        render_etcd_member,
        render_worker,
    )
    from fleetform.bootstrap.inputs import AddonSource

    etcd = make_etcd_inputs(pki)
    cp = make_control_plane_inputs(pki)
    worker = make_worker_inputs(pki)
    server, peer = pki.etcd_member("etcd-1", f"etcd-1.{ZONE}", "10.0.1.10")
    client = pki.client("etcd-backup")
    docs: dict[str, str] = {}
    for cloud in ("aws", "gcp"):
        docs[f"{cloud}/etcd-1"] = render_etcd_member(
            etcd("etcd-1", cloud=cloud, certs=(server.cert_pem, peer.cert_pem), client_cert_pem=client.cert_pem)
        )
        docs[f"{cloud}/etcd-1-restore-no-backup"] = render_etcd_member(
            etcd(
                "etcd-1",
                cloud=cloud,
                certs=(server.cert_pem, peer.cert_pem),
                client_cert_pem=client.cert_pem,
                backup=None,
                restore_from=ObjectLocation("fleet-backups", "etcd/c1/20260101T000000Z-etcd-0.db"),
            )
        )
        docs[f"{cloud}/control-plane-0"] = render_control_plane(
            cp(
                0,
                cloud=cloud,
                oidc=OIDC("https://login.example.com", "kubernetes"),
                service_account_issuer=ServiceAccountIssuer("https://oidc.fleet.example.com/c1"),
                skip_kube_proxy=True,
                # The first replica installs Flux on the cluster's add-on bucket.
                addons=AddonSource(cloud, f"acme-c1-{cloud}-addons", "eu-west-1", "api.c1.fleet.example.com",
                                   cni_secret_values="c1/cni-secret-values"),
            )
        )
        docs[f"{cloud}/control-plane-2"] = render_control_plane(cp(2, cloud=cloud))
        docs[f"{cloud}/worker"] = render_worker(worker(cloud=cloud))
    return docs


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1 (bound together, then released)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def substitute(value: Any, mapping: Sequence[tuple[str, str]]) -> Any:
    """Apply the address/path substitutions to every string in a config (recursively)."""
    if isinstance(value, str):
        for old, new in mapping:
            value = value.replace(old, new)
        return value
    if isinstance(value, dict):
        return {k: substitute(v, mapping) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, mapping) for v in value]
    return value
