"""TLS keys and certificates as pulumi-tls 5 returns them."""

from __future__ import annotations

import base64
import contextlib
import datetime
import functools
import hashlib
import ipaddress
from collections.abc import Iterable
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
    PrivateKeyTypes,
    PublicKeyTypes,
)
from cryptography.x509.oid import NameOID

from fleetform.engine.mocks.base import (
    EPOCH,
    EPOCH_YEAR,
    ResourceCall,
    digest,
    resource_mock,
    stream,
)

# --------------------------------------------------------------------------------------
# TLS: real, parseable key material, because the program parses it (kubeadm's CA cert
# hash, JWKS from public keys). Deterministic all the same: Ed25519 and ECDSA keys come
# straight from a seed, RSA primes from a seeded search, ECDSA signatures use RFC 6979,
# OpenSSH check-ints are seeded and certificates start at EPOCH. Never secret (anyone
# with the URN can recompute them), so certificates say so in a Netscape comment.
# If an input PEM cannot be parsed, PEM-shaped placeholders stand in.

_PEM_MARK = "FLEETFORM+OFFLINE+MOCK+NOT+A+REAL+"
_MOCK_COMMENT = b"fleetform offline mock - deterministic, not a real certificate"
_EPOCH_DT = datetime.datetime(EPOCH_YEAR, 1, 1, tzinfo=datetime.UTC)
_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "P224": ec.SECP224R1,
    "P256": ec.SECP256R1,
    "P384": ec.SECP384R1,
    "P521": ec.SECP521R1,
}
_KEY_USAGES = {
    "digital_signature": "digital_signature",
    "content_commitment": "content_commitment",
    "key_encipherment": "key_encipherment",
    "data_encipherment": "data_encipherment",
    "key_agreement": "key_agreement",
    "cert_signing": "key_cert_sign",
    "crl_signing": "crl_sign",
    "encipher_only": "encipher_only",
    "decipher_only": "decipher_only",
}
_EXT_KEY_USAGES = {
    "any_extended": "2.5.29.37.0",
    "server_auth": "1.3.6.1.5.5.7.3.1",
    "client_auth": "1.3.6.1.5.5.7.3.2",
    "code_signing": "1.3.6.1.5.5.7.3.3",
    "email_protection": "1.3.6.1.5.5.7.3.4",
    "ipsec_end_system": "1.3.6.1.5.5.7.3.5",
    "ipsec_tunnel": "1.3.6.1.5.5.7.3.6",
    "ipsec_user": "1.3.6.1.5.5.7.3.7",
    "timestamping": "1.3.6.1.5.5.7.3.8",
    "ocsp_signing": "1.3.6.1.5.5.7.3.9",
    "microsoft_server_gated_crypto": "1.3.6.1.4.1.311.10.3.3",
    "netscape_server_gated_crypto": "2.16.840.1.113730.4.1",
}
_SUBJECT_FIELDS = [
    ("country", NameOID.COUNTRY_NAME),
    ("province", NameOID.STATE_OR_PROVINCE_NAME),
    ("locality", NameOID.LOCALITY_NAME),
    ("streetAddresses", NameOID.STREET_ADDRESS),
    ("postalCode", NameOID.POSTAL_CODE),
    ("organization", NameOID.ORGANIZATION_NAME),
    ("organizationalUnit", NameOID.ORGANIZATIONAL_UNIT_NAME),
    ("commonName", NameOID.COMMON_NAME),
    ("serialNumber", NameOID.SERIAL_NUMBER),
    ("emailAddress", NameOID.EMAIL_ADDRESS),
]


def mock_pem(label: str, seed: str, lines: int = 6) -> str:
    """A PEM-shaped placeholder whose base64 body spells out that it is a mock."""
    what = {"CERTIFICATE": "CERT", "CERTIFICATE REQUEST": "CSR", "PUBLIC KEY": "PUBKEY"}.get(
        label, "KEY"
    )
    body = _PEM_MARK + what + "+" + base64.b64encode(stream(48 * lines, label, seed)).decode()
    body = body[: (len(body) // 4) * 4]
    wrapped = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {label}-----\n{wrapped}\n-----END {label}-----\n"


def _small_primes(limit: int) -> list[int]:
    flags = bytearray([1]) * limit
    flags[0:2] = b"\0\0"
    for i in range(2, int(limit**0.5) + 1):
        if flags[i]:
            flags[i * i :: i] = bytearray(len(flags[i * i :: i]))
    return [i for i, flag in enumerate(flags) if flag]


_ODD_PRIMES = _small_primes(1 << 15)[1:]


def _miller_rabin(n: int, bases: Iterable[int]) -> bool:
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for a in bases:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


# Bases that confirm a candidate which passed the base-2 test. A random composite of
# 512+ bits passes one strong base-2 test with probability far below 2^-40, so two
# more bases find the same "first probable prime" as twenty did (every mock key stays
# byte-identical) at a third of the cost: key generation was the largest single cost of
# an offline run (see docs/benchmarks.md).
_CONFIRM_BASES = (3, 5)

try:  # GMP's strong probable-prime test: the same test as `_miller_rabin`, ~8x faster
    from gmpy2 import is_strong_prp as _gmp_strong_prp  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - gmpy2 is pinned in requirements.txt
    _gmp_strong_prp = None


def _strong_probable_prime(n: int, bases: Iterable[int]) -> bool:
    """`_miller_rabin(n, bases)`, on GMP when gmpy2 is installed (same answer: a strong
    probable prime to every base; key generation was most of an offline run's CPU)."""
    if _gmp_strong_prp is None:
        return _miller_rabin(n, bases)
    return all(_gmp_strong_prp(n, a) for a in bases)


def _seeded_prime(bits: int, *seed: object) -> int:
    """The first probable prime at or after a seeded odd start with the top two bits set
    (so p*q has exactly 2*bits bits); a sieve over a window keeps Miller-Rabin rare."""
    start = int.from_bytes(stream(bits // 8, *seed), "big") | (3 << (bits - 2)) | 1
    window = 1 << 12
    while True:
        candidates = bytearray([1]) * window  # candidates[k] stands for start + 2k
        for p in _ODD_PRIMES:
            first = (-start * pow(2, -1, p)) % p
            candidates[first::p] = bytearray(len(candidates[first::p]))
        for k, alive in enumerate(candidates):
            n = start + 2 * k
            if alive and _strong_probable_prime(n, (2,)) and _strong_probable_prime(n, _CONFIRM_BASES):
                return n
        start += 2 * window


@functools.lru_cache(maxsize=64)
def _rsa_key(bits: int, seed: str) -> rsa.RSAPrivateKey:
    e = 65537
    p = q = 0
    for attempt in range(64):
        p = _seeded_prime(bits // 2, seed, "rsa-p", attempt)
        if (p - 1) % e:
            break
    for attempt in range(64):
        q = _seeded_prime(bits - bits // 2, seed, "rsa-q", attempt)
        if q != p and (q - 1) % e:
            break
    d = pow(e, -1, (p - 1) * (q - 1))
    public = rsa.RSAPublicNumbers(e, p * q)
    numbers = rsa.RSAPrivateNumbers(
        p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q), public
    )
    # Built from the primes just found: OpenSSL's consistency check (~0.1 s a key, as long
    # as the prime search on GMP) could only confirm the arithmetic above.
    return numbers.private_key(unsafe_skip_rsa_key_validation=True)


def _private_key(algorithm: str, curve: str, rsa_bits: int, seed: str) -> PrivateKeyTypes:
    if algorithm == "ED25519":
        return ed25519.Ed25519PrivateKey.from_private_bytes(stream(32, seed, "ed25519"))
    if algorithm == "ECDSA":
        curve_obj = _CURVES.get(curve, ec.SECP224R1)()
        size = curve_obj.key_size
        # One bit short of the curve size keeps the scalar below the group order.
        raw = int.from_bytes(stream(size // 8 + 1, seed, "ecdsa"), "big")
        scalar = raw >> ((size // 8 + 1) * 8 - (size - 1))
        return ec.derive_private_key(max(scalar, 1), curve_obj)
    return _rsa_key(rsa_bits, seed)


def _algorithm_of(key: PrivateKeyTypes | PublicKeyTypes) -> str:
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "RSA"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return "ECDSA"
    return "ED25519"


def _seeded_openssh(pem: bytes, seed: str) -> str:
    """OpenSSH private key with its random check-ints replaced by seeded ones."""
    lines = pem.decode().strip().splitlines()
    blob = bytearray(base64.b64decode("".join(lines[1:-1])))
    pos = len(b"openssh-key-v1\0")
    for _ in range(3):  # cipher name, kdf name, kdf options
        pos += 4 + int.from_bytes(blob[pos : pos + 4], "big")
    pos += 4  # number of keys
    pos += 4 + int.from_bytes(blob[pos : pos + 4], "big")  # public key
    pos += 4  # length of the private section, which starts with check-int twice
    check = digest(seed, "openssh-check")[:4]
    blob[pos : pos + 8] = check + check
    body = base64.b64encode(bytes(blob)).decode()
    wrapped = "\n".join(body[i : i + 70] for i in range(0, len(body), 70))
    return f"{lines[0]}\n{wrapped}\n{lines[-1]}\n"


def _key_outputs(key: PrivateKeyTypes, seed: str) -> dict[str, Any]:
    none = serialization.NoEncryption()
    pem = serialization.Encoding.PEM
    legacy = (
        serialization.PrivateFormat.PKCS8
        if isinstance(key, ed25519.Ed25519PrivateKey)
        else serialization.PrivateFormat.TraditionalOpenSSL
    )
    public = key.public_key()
    public_pem = public.public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    out: dict[str, Any] = {
        "privateKeyPem": key.private_bytes(pem, legacy, none).decode(),
        "privateKeyPemPkcs8": key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, none
        ).decode(),
        "publicKeyPem": public_pem,
        # As the provider: empty where OpenSSH has no format (ECDSA P224).
        "privateKeyOpenssh": "",
        "publicKeyOpenssh": "",
        "publicKeyFingerprintMd5": "",
        "publicKeyFingerprintSha256": "",
    }
    try:
        openssh = public.public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        ).decode()
        private_openssh = key.private_bytes(pem, serialization.PrivateFormat.OpenSSH, none)
    except ValueError:
        return out
    blob = base64.b64decode(openssh.split()[1])
    out.update(
        {
            "privateKeyOpenssh": _seeded_openssh(private_openssh, seed),
            "publicKeyOpenssh": openssh + "\n",
            "publicKeyFingerprintMd5": ":".join(
                f"{b:02x}" for b in hashlib.md5(blob, usedforsecurity=False).digest()
            ),
            "publicKeyFingerprintSha256": "SHA256:"
            + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("="),
        }
    )
    return out


@resource_mock("tls:index/privateKey:PrivateKey")
def _tls_private_key(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    algorithm = str(c.get("algorithm", "RSA")).upper()
    curve = str(c.get("ecdsaCurve", "P224"))
    rsa_bits = int(c.get("rsaBits", 2048))
    outputs = _key_outputs(_private_key(algorithm, curve, rsa_bits, c.seed), c.seed)
    rid = hashlib.sha1(outputs["publicKeyPem"].encode(), usedforsecurity=False).hexdigest()
    return rid, {"algorithm": algorithm, "ecdsaCurve": curve, "rsaBits": rsa_bits, **outputs}


def _load_key(pem: Any) -> CertificateIssuerPrivateKeyTypes | None:
    try:
        key = serialization.load_pem_private_key(str(pem).encode(), password=None)
    except (ValueError, TypeError):
        return None
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        return key
    return None


def _x509_name(subject: Any) -> x509.Name:
    subject = subject if isinstance(subject, dict) else {}
    attributes: list[x509.NameAttribute[str]] = []
    for key, oid in _SUBJECT_FIELDS:
        values = subject.get(key)
        for value in values if isinstance(values, list) else [values]:
            if value:
                attributes.append(x509.NameAttribute(oid, str(value)))
    return x509.Name(attributes)


def _sans(dns: Any, ips: Any, uris: Any) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName(str(d)) for d in dns or []]
    names += [x509.IPAddress(ipaddress.ip_address(str(ip))) for ip in ips or []]
    names += [x509.UniformResourceIdentifier(str(u)) for u in uris or []]
    return names


def _sign_kwargs(key: CertificateIssuerPrivateKeyTypes) -> dict[str, Any]:
    """Hash and options the provider (Go's crypto/x509) would pick, deterministic ECDSA."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return {"algorithm": None}
    if isinstance(key, ec.EllipticCurvePrivateKey):
        hash_ = {384: hashes.SHA384(), 521: hashes.SHA512()}.get(
            key.curve.key_size, hashes.SHA256()
        )
        return {"algorithm": hash_, "ecdsa_deterministic": True}
    return {"algorithm": hashes.SHA256()}


def _certificate(
    c: ResourceCall,
    *,
    subject: x509.Name,
    public_key: CertificatePublicKeyTypes,
    issuer: x509.Name,
    signer: CertificateIssuerPrivateKeyTypes,
    issuer_ski: bytes | None,
    sans: list[x509.GeneralName],
) -> x509.Certificate:
    is_ca = bool(c.get("isCaCertificate", False))
    uses = [str(u) for u in c.get("allowedUses", []) or []]
    hours = int(c.get("validityPeriodHours", 0) or 0)
    serial = int.from_bytes(digest(c.seed, "serial")[:16], "big") >> 1 | 1
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(_EPOCH_DT)
        .not_valid_after(_EPOCH_DT + datetime.timedelta(hours=hours))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    flags = {attr: False for attr in _KEY_USAGES.values()}
    flags.update({_KEY_USAGES[u]: True for u in uses if u in _KEY_USAGES})
    if not flags["key_agreement"]:
        flags["encipher_only"] = flags["decipher_only"] = False
    if any(flags.values()):
        builder = builder.add_extension(x509.KeyUsage(**flags), critical=True)
    ext_uses = [x509.ObjectIdentifier(_EXT_KEY_USAGES[u]) for u in uses if u in _EXT_KEY_USAGES]
    if ext_uses:
        builder = builder.add_extension(x509.ExtendedKeyUsage(ext_uses), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    ski = x509.SubjectKeyIdentifier.from_public_key(public_key)
    if is_ca or c.get("setSubjectKeyId"):
        builder = builder.add_extension(ski, critical=False)
    if issuer_ski is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier(issuer_ski, None, None), critical=False
        )
    comment = bytes([0x16, len(_MOCK_COMMENT)]) + _MOCK_COMMENT  # DER IA5String
    builder = builder.add_extension(
        x509.UnrecognizedExtension(x509.ObjectIdentifier("2.16.840.1.113730.1.13"), comment),
        critical=False,
    )
    return builder.sign(signer, **_sign_kwargs(signer))


def _cert_outputs(c: ResourceCall, cert: x509.Certificate | None) -> dict[str, Any]:
    hours = int(c.get("validityPeriodHours", 0) or 0)
    end = _EPOCH_DT + datetime.timedelta(hours=hours)
    pem = (
        cert.public_bytes(serialization.Encoding.PEM).decode()
        if cert is not None
        else mock_pem("CERTIFICATE", c.seed, lines=10)
    )
    return {
        "certPem": pem,
        "validityStartTime": EPOCH,
        "validityEndTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "readyForRenewal": False,
    }


def _serial_id(cert: x509.Certificate | None, c: ResourceCall) -> str:
    return str(cert.serial_number) if cert is not None else c.number(38, "serial")


@resource_mock("tls:index/selfSignedCert:SelfSignedCert")
def _tls_self_signed(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    key = _load_key(c.get("privateKeyPem"))
    cert = None
    if key is not None:
        name = _x509_name(c.get("subject"))
        cert = _certificate(
            c,
            subject=name,
            public_key=key.public_key(),
            issuer=name,
            signer=key,
            issuer_ski=None,
            sans=_sans(c.get("dnsNames"), c.get("ipAddresses"), c.get("uris")),
        )
    algorithm = _algorithm_of(key) if key is not None else "RSA"
    return _serial_id(cert, c), {"keyAlgorithm": algorithm, **_cert_outputs(c, cert)}


@resource_mock("tls:index/locallySignedCert:LocallySignedCert")
def _tls_locally_signed(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    ca_key = _load_key(c.get("caPrivateKeyPem"))
    cert = None
    csr: x509.CertificateSigningRequest | None = None
    ca_cert: x509.Certificate | None = None
    with contextlib.suppress(ValueError):
        csr = x509.load_pem_x509_csr(str(c.get("certRequestPem", "")).encode())
        ca_cert = x509.load_pem_x509_certificate(str(c.get("caCertPem", "")).encode())
    if ca_key is not None and csr is not None and ca_cert is not None:
        try:
            sans = list(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
        except x509.ExtensionNotFound:
            sans = []
        try:
            issuer_ski: bytes | None = ca_cert.extensions.get_extension_for_class(
                x509.SubjectKeyIdentifier
            ).value.digest
        except x509.ExtensionNotFound:
            issuer_ski = None
        cert = _certificate(
            c,
            subject=csr.subject,
            public_key=csr.public_key(),
            issuer=ca_cert.subject,
            signer=ca_key,
            issuer_ski=issuer_ski,
            sans=sans,
        )
    algorithm = _algorithm_of(ca_key) if ca_key is not None else "RSA"
    return _serial_id(cert, c), {"caKeyAlgorithm": algorithm, **_cert_outputs(c, cert)}


@resource_mock("tls:index/certRequest:CertRequest")
def _tls_cert_request(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    key = _load_key(c.get("privateKeyPem"))
    if key is None:
        pem = mock_pem("CERTIFICATE REQUEST", c.seed, lines=8)
        algorithm = "RSA"
    else:
        builder = x509.CertificateSigningRequestBuilder().subject_name(_x509_name(c.get("subject")))
        sans = _sans(c.get("dnsNames"), c.get("ipAddresses"), c.get("uris"))
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        csr = builder.sign(key, **_sign_kwargs(key))
        pem = csr.public_bytes(serialization.Encoding.PEM).decode()
        algorithm = _algorithm_of(key)
    rid = hashlib.sha1(pem.encode(), usedforsecurity=False).hexdigest()
    return rid, {"certRequestPem": pem, "keyAlgorithm": algorithm}


