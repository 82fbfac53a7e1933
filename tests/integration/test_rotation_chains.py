"""A CA rotation's phases with real certificates, openssl and TLS on 127.0.0.1.

The API server's chain (fleet root -> the cluster's kubernetes CA of generation N ->
the API server's serving certificate) and client certificates are issued with
``cryptography`` (ECDSA P-256, the default). Bundles come from ``rotation.bundle``.

* openssl: every leaf verifies against the bundle of the phase that issued it (and of
  the next phase), and fails against the wrong one.
* TLS: a real server and client pair keeps connecting, with mutual TLS, in every
  combination of states two machines can be in at the same time during a rollout. A
  machine moves old -> trust (new bundle, old leaves) -> new, and the renewal scripts
  take the last step only once every peer trusts the new CA; the one pair that order
  rules out (a client still on the old bundle facing a server with a new-CA leaf) is
  shown to fail, which is why the order matters.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import itertools
import shutil
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fleetform.plan.rotation import RotationState, bundle

API_SANS = ("kubernetes", "kubernetes.default.svc", "api.eu.fleet.example.com")


@dataclass(frozen=True)
class Cert:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def key_pem(self) -> str:
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()).decode()


def issue(cn: str, issuer: Cert | None, *, ca: bool, server: bool = False) -> Cert:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    b = (x509.CertificateBuilder().subject_name(name)
         .issuer_name(issuer.cert.subject if issuer else name).public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if issuer is not None:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
                            critical=False)
    if ca:
        b = b.add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
    else:
        b = b.add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                            critical=True)
        eku = [ExtendedKeyUsageOID.SERVER_AUTH] if server else [ExtendedKeyUsageOID.CLIENT_AUTH]
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
        if server:
            sans: list[x509.GeneralName] = [x509.DNSName(d) for d in API_SANS]
            sans.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return Cert(b.sign(issuer.key if issuer else key, hashes.SHA256()), key)


@dataclass(frozen=True)
class Material:
    """What one machine holds: the bundle it trusts, its leaf, the leaf's issuer."""

    label: str
    bundle: str
    server: Cert
    client: Cert
    intermediate: Cert


@pytest.fixture(scope="module")
def pki() -> dict[str, object]:
    root = issue("acme fleet root CA", None, ca=True)
    cas = {g: issue(f"eu kubernetes CA (generation {g})", root, ca=True) for g in (0, 1)}
    server = {g: issue("kube-apiserver", cas[g], ca=False, server=True) for g in (0, 1)}
    client = {g: issue("kubernetes-admin", cas[g], ca=False) for g in (0, 1)}
    pems = {g: c.pem for g, c in cas.items()}
    states = {"none": RotationState(), "prepare": RotationState(1, "prepare"), "complete": RotationState(1, "complete")}
    bundles = {k: bundle(s, pems) for k, s in states.items()}
    return {"root": root, "cas": cas, "server": server, "client": client, "bundles": bundles, "states": states}


def _materials(pki: dict[str, object]) -> dict[str, Material]:
    b, cas, srv, cli = pki["bundles"], pki["cas"], pki["server"], pki["client"]
    assert isinstance(b, dict) and isinstance(cas, dict) and isinstance(srv, dict) and isinstance(cli, dict)
    return {
        "old": Material("old", b["none"], srv[0], cli[0], cas[0]),
        # The new bundle, still the old leaves (the first step of prepare on a machine).
        "trust": Material("trust", b["prepare"], srv[0], cli[0], cas[0]),
        "prepare": Material("prepare", b["prepare"], srv[1], cli[1], cas[1]),
        "complete": Material("complete", b["complete"], srv[1], cli[1], cas[1]),
    }


# The states two machines can be in at the same moment during each transition.
COEXIST = [
    *itertools.product(("old", "trust"), repeat=2),
    *itertools.product(("trust", "prepare"), repeat=2),
    *itertools.product(("prepare", "complete"), repeat=2),
]


def _openssl_verify(openssl: str, tmp: Path, trusted: str, leaf: Cert, *, untrusted: str | None = None) -> bool:
    (tmp / "trusted.pem").write_text(trusted)
    (tmp / "leaf.pem").write_text(leaf.pem)
    argv = [openssl, "verify", "-CAfile", str(tmp / "trusted.pem")]
    if untrusted is None:
        argv.insert(2, "-partial_chain")  # the bundle is the anchor, as on the nodes
    else:
        (tmp / "untrusted.pem").write_text(untrusted)
        argv += ["-untrusted", str(tmp / "untrusted.pem")]
    r = subprocess.run([*argv, str(tmp / "leaf.pem")], capture_output=True, text=True, timeout=10)
    return r.returncode == 0


def test_openssl_verifies_each_leaf_against_its_phases_bundle_and_not_the_wrong_one(
        pki: dict[str, object], tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    b, srv, cli, root, cas = pki["bundles"], pki["server"], pki["client"], pki["root"], pki["cas"]
    assert isinstance(b, dict) and isinstance(srv, dict) and isinstance(cli, dict)
    assert isinstance(root, Cert) and isinstance(cas, dict)
    expect = {
        ("none", 0): True, ("none", 1): False,
        ("prepare", 0): True, ("prepare", 1): True,
        ("complete", 0): False, ("complete", 1): True,
    }
    for (phase, gen), ok in expect.items():
        for leaf in (srv[gen], cli[gen]):
            assert _openssl_verify(openssl, tmp_path, b[phase], leaf) is ok, (phase, gen)
    # The root does not rotate here: both generations chain to it through their CA.
    for gen in (0, 1):
        assert _openssl_verify(openssl, tmp_path, root.pem, srv[gen], untrusted=cas[gen].pem)
        assert not _openssl_verify(openssl, tmp_path, root.pem, srv[gen], untrusted=cas[1 - gen].pem)


class _Server:
    """A TLS server on 127.0.0.1 with the API server's chain, requiring client certificates."""

    def __init__(self, m: Material, tmp: Path) -> None:
        (tmp / "chain.pem").write_text(m.server.pem + m.intermediate.pem)
        (tmp / "key.pem").write_text(m.server.key_pem)
        (tmp / "clients.pem").write_text(m.bundle)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(tmp / "chain.pem"), str(tmp / "key.pem"))
        ctx.load_verify_locations(str(tmp / "clients.pem"))
        ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        ctx.verify_mode = ssl.CERT_REQUIRED
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(5)
        self.port = self.sock.getsockname()[1]
        self.ctx = ctx
        self.thread = threading.Thread(target=self._serve_one, daemon=True)
        self.thread.start()

    def _serve_one(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        conn.settimeout(5)
        try:
            with self.ctx.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1024)
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        except (OSError, ssl.SSLError):
            pass

    def close(self) -> None:
        self.sock.close()
        self.thread.join(timeout=10)


def _connect(server: Material, client: Material, tmp: Path) -> bool:
    srv_dir, cli_dir = tmp / "srv", tmp / "cli"
    srv_dir.mkdir(exist_ok=True)
    cli_dir.mkdir(exist_ok=True)
    s = _Server(server, srv_dir)
    try:
        (cli_dir / "ca.pem").write_text(client.bundle)
        (cli_dir / "c.pem").write_text(client.client.pem + client.intermediate.pem)
        (cli_dir / "k.pem").write_text(client.client.key_pem)
        ctx = ssl.create_default_context(cafile=str(cli_dir / "ca.pem"))
        ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        ctx.load_cert_chain(str(cli_dir / "c.pem"), str(cli_dir / "k.pem"))
        try:
            with socket.create_connection(("127.0.0.1", s.port), timeout=5) as raw, \
                    ctx.wrap_socket(raw, server_hostname=API_SANS[2]) as tls:
                tls.sendall(b"GET /readyz HTTP/1.1\r\nHost: api\r\n\r\n")
                data = tls.recv(1024)
                return data.endswith(b"ok")
        except (OSError, ssl.SSLError):
            return False
    finally:
        s.close()


def test_tls_keeps_connecting_across_the_phases(pki: dict[str, object], tmp_path: Path) -> None:
    m = _materials(pki)
    for srv, cli in COEXIST:
        assert _connect(m[srv], m[cli], tmp_path), f"server {srv} / client {cli}"
    # What the order of the steps prevents: old trust facing new-CA certificates.
    assert not _connect(m["prepare"], m["old"], tmp_path)
    assert not _connect(m["old"], m["prepare"], tmp_path)
    assert not _connect(m["complete"], m["trust"], tmp_path)
