"""The fleet PKI with real certificates: the hierarchy of ``fleetform/plan/pki.py``, issued
with ``cryptography`` the way pulumi-tls issues it (same key types, key usages,
extended key usages, basic constraints, subject key ids, SANs), then verified with
``cryptography.x509.verification``.

Proves: every leaf verifies leaf -> its cluster's intermediate -> the fleet root; a
leaf of cluster A does not verify as a peer of cluster B's etcd (which trusts only its
own etcd CA), although it does chain to the shared root - which is exactly why an etcd
member must never trust the root (``EtcdTLS`` in fleetform/bootstrap/inputs.py).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import (
    ClientVerifier,
    Criticality,
    DNSName,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from fleetform.plan.model import ClusterPlan, FleetPlan
from fleetform.plan.pki import (
    CertSpec,
    PkiSettings,
    admin_client,
    cluster_cas,
    incarnation_leaves,
    root_ca,
)
from tests.unit.helpers import plan_text

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
FLEET = """\
clusters:
  - {name: alpha, cloud: aws, region: eu-west-1, network: {index: 1}}
  - {name: beta, cloud: gcp, region: europe-west1, network: {index: 2}}
"""

# pulumi-tls allowed_uses -> X.509 (terraform-provider-tls, internal/provider/common_cert.go)
_KEY_USAGE = {"digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
              "key_agreement", "cert_signing", "crl_signing", "encipher_only", "decipher_only"}
_EKU = {"server_auth": ExtendedKeyUsageOID.SERVER_AUTH, "client_auth": ExtendedKeyUsageOID.CLIENT_AUTH}


@dataclass
class Issued:
    spec: CertSpec
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def new_key(settings: PkiSettings) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    if settings.algorithm == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=settings.rsa_bits)
    return ec.generate_private_key({"P256": ec.SECP256R1(), "P384": ec.SECP384R1()}[settings.ecdsa_curve])


def issue(spec: CertSpec, issuer: Issued | None, settings: PkiSettings) -> Issued:
    """One CertSpec as pulumi-tls would materialize it (SelfSignedCert / CertRequest +
    LocallySignedCert with set_subject_key_id)."""
    key = new_key(settings)
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, spec.organization),
                         x509.NameAttribute(NameOID.COMMON_NAME, spec.common_name)])
    usages = {u: (u in spec.uses) for u in _KEY_USAGE}
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(hours=1))
        .not_valid_after(NOW + dt.timedelta(hours=spec.validity_hours))
        .add_extension(x509.BasicConstraints(ca=spec.is_ca, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=usages["digital_signature"], content_commitment=usages["content_commitment"],
            key_encipherment=usages["key_encipherment"], data_encipherment=usages["data_encipherment"],
            key_agreement=usages["key_agreement"], key_cert_sign=usages["cert_signing"],
            crl_sign=usages["crl_signing"], encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    ekus = [_EKU[u] for u in spec.uses if u in _EKU]
    if ekus:
        builder = builder.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in spec.dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in spec.ip_addresses]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign((issuer.key if issuer else key), hashes.SHA256())
    return Issued(spec, cert, key)


@dataclass
class ClusterPki:
    cas: dict[str, Issued]
    leaves: dict[str, Issued]


def fleet_pki(plan: FleetPlan, settings: PkiSettings) -> tuple[Issued, dict[str, ClusterPki]]:
    """The whole hierarchy, spec by spec, from fleetform/plan/pki.py."""
    root = issue(root_ca(plan.fleet, settings), None, settings)
    out: dict[str, ClusterPki] = {}
    for c in plan.clusters:
        cas = {s.key: issue(s, root, settings) for s in cluster_cas(plan.fleet, c.name, settings)}
        leaves = {s.key: issue(s, cas[s.issuer], settings) for s in incarnation_leaves(plan.fleet, c, settings)}
        admin = admin_client(plan.fleet, c.name, settings)
        leaves[admin.key] = issue(admin, cas[admin.issuer], settings)
        out[c.name] = ClusterPki(cas, leaves)
    return root, out


def client_verifier(*anchors: x509.Certificate) -> ClientVerifier:
    """A TLS client-certificate check against ``anchors`` (Go's crypto/tls with
    ClientCAs, as etcd and the API server do it); SANs are not required of clients."""
    leaf_policy = ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
    return (PolicyBuilder().store(Store(list(anchors))).time(NOW)
            .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=leaf_policy)
            .build_client_verifier())


@pytest.fixture(scope="module", params=["ECDSA", "RSA"])
def pki(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> tuple[FleetPlan, Issued, dict[str, ClusterPki]]:
    plan = plan_text(tmp_path_factory.mktemp("pki"), FLEET)
    settings = PkiSettings(algorithm=request.param, rsa_bits=2048)
    root, clusters = fleet_pki(plan, settings)
    return plan, root, clusters


def members(plan: FleetPlan, cluster: str) -> ClusterPlan:
    return plan.cluster(cluster)


def test_every_cluster_ca_is_signed_by_the_root(pki: tuple[FleetPlan, Issued, dict[str, ClusterPki]]) -> None:
    _, root, clusters = pki
    for c in clusters.values():
        for ca in c.cas.values():
            assert ca.cert.issuer == root.cert.subject
            ca.cert.verify_directly_issued_by(root.cert)
            assert ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_intermediates_are_distinct_per_cluster(pki: tuple[FleetPlan, Issued, dict[str, ClusterPki]]) -> None:
    _, _, clusters = pki
    subjects = [ca.cert.subject for c in clusters.values() for ca in c.cas.values()]
    assert len(set(subjects)) == len(subjects) == 6


def test_etcd_leaves_verify_to_the_root_through_their_cluster(
        pki: tuple[FleetPlan, Issued, dict[str, ClusterPki]]) -> None:
    plan, root, clusters = pki
    for name, c in clusters.items():
        etcd_ca = c.cas["etcd-ca"].cert
        for m in members(plan, name).etcd.members:
            for kind in ("server", "peer"):
                leaf = c.leaves[f"{m.name}-{kind}"].cert
                # As a TLS server (clients and peers dial it by its DNS name)...
                server = PolicyBuilder().store(Store([root.cert])).time(NOW).build_server_verifier(DNSName(m.dns))
                chain = server.verify(leaf, [etcd_ca])
                assert [cert.subject for cert in chain] == [leaf.subject, etcd_ca.subject, root.cert.subject]
                # ...and as the client side of a peer connection.
                assert client_verifier(etcd_ca).verify(leaf, []).chain[-1] == etcd_ca


def test_leaf_sans_are_the_members_names_and_addresses(
        pki: tuple[FleetPlan, Issued, dict[str, ClusterPki]]) -> None:
    plan, _, clusters = pki
    for name, c in clusters.items():
        for m in members(plan, name).etcd.members:
            for kind, extra_dns, extra_ip in (("server", ["localhost"], ["127.0.0.1"]), ("peer", [], [])):
                san = c.leaves[f"{m.name}-{kind}"].cert.extensions.get_extension_for_class(
                    x509.SubjectAlternativeName).value
                assert san.get_values_for_type(x509.DNSName) == [m.dns, *extra_dns]
                assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == [m.ip, *extra_ip]


def test_a_leaf_of_cluster_a_is_not_a_peer_of_cluster_b(
        pki: tuple[FleetPlan, Issued, dict[str, ClusterPki]]) -> None:
    plan, root, clusters = pki
    a, b = clusters["alpha"], clusters["beta"]
    intruder = a.leaves["etcd-0-peer"].cert
    # beta's etcd trusts beta's etcd CA only: alpha's peer is refused, with or without
    # presenting alpha's etcd CA as an intermediate.
    for presented in ([], [a.cas["etcd-ca"].cert]):
        with pytest.raises(VerificationError):
            client_verifier(b.cas["etcd-ca"].cert).verify(intruder, presented)
    # Nor does alpha's API server client get into beta's etcd.
    with pytest.raises(VerificationError):
        client_verifier(b.cas["etcd-ca"].cert).verify(a.leaves["apiserver-etcd-client"].cert, [])
    # As a server, alpha's member is not beta's member either (names differ, anchors too).
    beta_dns = members(plan, "beta").etcd.members[0].dns
    with pytest.raises(VerificationError):
        PolicyBuilder().store(Store([b.cas["etcd-ca"].cert])).time(NOW).build_server_verifier(
            DNSName(beta_dns)).verify(intruder, [a.cas["etcd-ca"].cert])
    # Why etcd must not trust the root: every cluster's etcd CA chains to it.
    assert client_verifier(root.cert).verify(intruder, [a.cas["etcd-ca"].cert]).chain[-1] == root.cert


def test_other_cluster_cas_do_not_sign_for_each_other(
        pki: tuple[FleetPlan, Issued, dict[str, ClusterPki]]) -> None:
    _, _, clusters = pki
    a, b = clusters["alpha"], clusters["beta"]
    with pytest.raises(VerificationError):
        client_verifier(b.cas["kubernetes-ca"].cert).verify(a.leaves["admin"].cert, [a.cas["kubernetes-ca"].cert])
    # The etcd CA of a cluster does not vouch for its own admin (another CA's leaf) either.
    with pytest.raises(VerificationError):
        client_verifier(a.cas["etcd-ca"].cert).verify(a.leaves["admin"].cert, [])


def test_admin_and_apiserver_clients_verify_through_their_own_cas(
        pki: tuple[FleetPlan, Issued, dict[str, ClusterPki]]) -> None:
    _, root, clusters = pki
    for c in clusters.values():
        admin = c.leaves["admin"].cert
        assert client_verifier(c.cas["kubernetes-ca"].cert).verify(admin, []).chain[-1] == c.cas["kubernetes-ca"].cert
        chain = client_verifier(root.cert).verify(admin, [c.cas["kubernetes-ca"].cert]).chain
        assert chain[-1] == root.cert
        ekus = admin.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert list(ekus) == [ExtendedKeyUsageOID.CLIENT_AUTH]
        org = admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
        assert org == "kubeadm:cluster-admins"
        client_verifier(c.cas["etcd-ca"].cert).verify(c.leaves["apiserver-etcd-client"].cert, [])


def test_validity_follows_the_settings(tmp_path: Path) -> None:
    plan = plan_text(tmp_path, FLEET)
    settings = PkiSettings(root_validity_hours=20 * 8760, intermediate_validity_hours=2 * 8760,
                           leaf_validity_hours=30 * 24)
    root, clusters = fleet_pki(plan, settings)

    def hours(cert: x509.Certificate) -> float:
        return (cert.not_valid_after_utc - NOW).total_seconds() / 3600

    assert hours(root.cert) == 20 * 8760
    for c in clusters.values():
        assert {hours(ca.cert) for ca in c.cas.values()} == {2 * 8760}
        assert {hours(leaf.cert) for leaf in c.leaves.values()} == {30 * 24}
        # Short-lived leaves renew in the last third of their life, not the last 30 days.
        assert {leaf.spec.early_renewal_hours for leaf in c.leaves.values()} == {10 * 24}
