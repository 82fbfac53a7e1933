"""The service-account signing key and the fleet root rotating in phases, under the
offline engine (its tls mock issues real keys and certificates).

A small program wires the identity components as ``components/fleet.py`` and
``components/control_plane.py`` do (``SharedIdentity``, one ``ClusterIdentity``,
``Federation``, replica 0's control-plane document) and runs three times, like three
`pulumi up`s: before (generation 0), ``prepare`` and ``complete`` of generation 1, for
the cluster (its CAs and service-account key) and the fleet root at once.

* Service-account keys: ``sa.pub`` in the document and the published JWKS carry both
  keys during ``prepare`` (the signing one first) with the key id Kubernetes computes
  (computed here on its own from each PEM); a JWT signed by the old key and one signed
  by the new key both verify against the ``prepare`` JWKS, only the new one against
  ``complete``'s; the API server's and controller-manager's flags name kubeadm's files.
* Root: openssl verifies every leaf through the cluster CA as certified by each root
  against each phase's root bundle, and fails against the wrong one; the CA keys (and so
  the pins joining machines hold) never change with the root.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from fleetform.bootstrap.kubeadm import ca_cert_hashes
from fleetform.engine.run import run_program
from fleetform.plan.identity import JWKS_PATH

PROGRAM = '''
import pulumi
import pulumi_random as random
import pulumi_tls as tls

from components.federation import Federation
from components.identity import SharedIdentity, configured_spec, fleet_identity
from fleetform.bootstrap import render_control_plane
from fleetform.bootstrap.inputs import SecretStore
from fleetform.bootstrap.nodes import control_plane_node
from fleetform.plan import names
from fleetform.plan.fleet import plan_fleet

plan = plan_fleet(configured_spec())
tls_p = tls.Provider("tls")
rnd_p = random.Provider("random")
child = pulumi.ResourceOptions(providers=[tls_p, rnd_p])
shared = SharedIdentity(names.child(plan.fleet, "identity"), plan.fleet, child)
c = plan.clusters[0]
cid = shared.cluster(c.name)
federation = Federation(names.child(plan.fleet, "federation"), plan, fleet_identity(plan), shared, child)
secrets = {k: f"{c.key}-{k}" for k in ("kubernetes-ca-key", "front-proxy-ca-key", "service-account-key",
                                        "apiserver-etcd-client-key", "bootstrap-token", "encryption-key")}


def render(a):
    return render_control_plane(control_plane_node(c, 0, SecretStore("aws", "eu-west-1"), a, secrets))


pulumi.export("user_data", pulumi.Output.all(**{
    "kubernetes-ca": cid.bundle("kubernetes-ca"), "front-proxy-ca": cid.bundle("front-proxy-ca"),
    "etcd-ca": cid.bundle("etcd-ca"), "apiserver-etcd-client": cid.admin.cert_pem,
    "service-account-public": cid.sa_public_bundle()}).apply(render))
pulumi.export("jwks", federation.jwks[c.name])
pulumi.export("sa_key", cid.sa_key_pem)
pulumi.export("roots", {str(g): r.cert_pem for g, r in shared.roots.items()})
pulumi.export("root_bundle", shared.root_bundle())
pulumi.export("trust_bundle", shared.trust_bundle())
pulumi.export("kubernetes_ca", cid.cas["kubernetes-ca"].cert_pem)
pulumi.export("kubernetes_ca_public", cid.cas["kubernetes-ca"].public_key_pem)
pulumi.export("kubernetes_bundle", cid.bundle("kubernetes-ca"))
pulumi.export("under_retiring_root", cid.retiring_root_certs)
pulumi.export("admin", cid.admin.cert_pem)
'''

FLEET = """\
identity:
  federation: {subdomain: oidc, clouds: [aws, gcp], host: aws}
clusters:
  - {name: eu-core, cloud: aws, region: eu-west-1, network: {index: 3}}
"""

PHASES = {
    "before": {},
    "prepare": {"rotate": {"eu-core": {"generation": 1, "phase": "prepare"}},
                "rotate_root": {"generation": 1, "phase": "prepare"}},
    "complete": {"rotate": {"eu-core": {"generation": 1, "phase": "complete"}},
                 "rotate_root": {"generation": 1, "phase": "complete"}},
}


@dataclass(frozen=True)
class Phase:
    outputs: Mapping[str, Any]
    secrets: Mapping[str, Any]
    resources: tuple[Any, ...]

    def files(self) -> dict[str, str]:
        doc = yaml.safe_load(self.outputs["user_data"])
        return {f["path"]: f["content"] for f in doc["write_files"]}

    def cluster_configuration(self) -> dict[str, Any]:
        template = self.files()["/etc/kubernetes/fleetform/kubeadm.yaml.tmpl"]
        return next(d for d in yaml.safe_load_all(template) if d.get("kind") == "ClusterConfiguration")

    def jwks(self) -> dict[str, Any]:
        return dict(json.loads(self.outputs["jwks"]))


def _base_text() -> str:
    from tests.unit.helpers import BASE as base

    return base


@pytest.fixture(scope="module")
def phases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Phase]:
    out: dict[str, Phase] = {}
    for phase, pki in PHASES.items():
        project = tmp_path_factory.mktemp(phase) / "project"
        (project / "stacks").mkdir(parents=True)
        (project / "__main__.py").write_text(PROGRAM)
        (project / "stacks" / "fleet.yaml").write_text(_base_text())
        fleet = yaml.safe_load(FLEET)
        fleet["identity"]["pki"] = pki
        config = {"fleetform:base": "fleet.yaml", "fleetform:fleet": fleet}
        result = run_program(project, project="fleetform", stack="prod", config=config)
        out[phase] = Phase(result.outputs, result.secret_outputs, result.resources)
    return out


# ---------------------------------------------------------------- service-account keys


def public_keys(pem: str) -> list[rsa.RSAPublicKey]:
    """Every public key of a PEM file (sa.pub holds one per verifying generation)."""
    blocks = [b + "-----END PUBLIC KEY-----\n" for b in pem.split("-----END PUBLIC KEY-----") if "BEGIN" in b]
    keys = [serialization.load_pem_public_key(b.strip().encode() + b"\n") for b in blocks]
    assert all(isinstance(k, rsa.RSAPublicKey) for k in keys)
    return [k for k in keys if isinstance(k, rsa.RSAPublicKey)]


def kid(key: rsa.RSAPublicKey) -> str:
    """What the API server puts in a token's ``kid``: base64url (no padding) of the
    SHA-256 of the DER SubjectPublicKeyInfo (pkg/serviceaccount/jwt.go)."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_token(private_pem: str, claims: dict[str, Any]) -> str:
    """An RS256 JWT as the API server signs one (``kid``: its key's id)."""
    key = serialization.load_pem_private_key(private_pem.encode(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    header = {"alg": "RS256", "kid": kid(key.public_key()), "typ": "JWT"}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64(signature)}"


def verify_token(token: str, jwks: Mapping[str, Any]) -> bool:
    """What a relying party (AWS STS, GCP STS) does: the key the ``kid`` names in the
    JWKS, rebuilt from its ``n`` and ``e``, must verify the signature."""
    head, body, sig = token.split(".")
    header = json.loads(_unb64(head))
    match = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    if len(match) != 1 or match[0]["alg"] != "RS256":
        return False
    numbers = rsa.RSAPublicNumbers(int.from_bytes(_unb64(match[0]["e"]), "big"),
                                   int.from_bytes(_unb64(match[0]["n"]), "big"))
    try:
        numbers.public_key().verify(_unb64(sig), f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def test_sa_pub_and_the_published_jwks_carry_both_keys_during_prepare(phases: dict[str, Phase]) -> None:
    before, prepare, complete = (public_keys(phases[p].files()["/etc/kubernetes/pki/sa.pub"])
                                 for p in ("before", "prepare", "complete"))
    assert len(before) == 1 and len(prepare) == 2 and len(complete) == 1
    old, new = before[0], prepare[0]
    # The retiring key is the one that signed before; the new one signs from prepare on.
    assert kid(prepare[1]) == kid(old) != kid(new) == kid(complete[0])
    # The published JWKS: the same keys in the same order, with Kubernetes' key ids.
    assert [k["kid"] for k in phases["before"].jwks()["keys"]] == [kid(old)]
    assert [k["kid"] for k in phases["prepare"].jwks()["keys"]] == [kid(new), kid(old)]
    assert [k["kid"] for k in phases["complete"].jwks()["keys"]] == [kid(new)]
    for phase in phases.values():
        for k in phase.jwks()["keys"]:
            assert (k["kty"], k["alg"], k["use"]) == ("RSA", "RS256", "sig")


def test_the_jwks_every_cloud_reads_is_the_phase_s(phases: dict[str, Phase]) -> None:
    for name, phase in phases.items():
        want = phase.jwks()
        objects = [r for r in phase.resources if r.type == "aws:s3/bucketObjectv2:BucketObjectv2"
                   and r.inputs["key"].endswith(JWKS_PATH)]
        assert [json.loads(o.inputs["content"]) for o in objects] == [want], name
        # GCP's workload identity provider holds the JWKS inline (no fetch).
        providers = [r for r in phase.resources if r.type == "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"]
        assert [json.loads(p.inputs["oidc"]["jwksJson"]) for p in providers] == [want], name


def test_tokens_of_either_key_verify_during_prepare_only_the_new_after_complete(phases: dict[str, Phase]) -> None:
    claims = {"iss": "https://oidc.fleet.acme.example/eu-core", "sub": "system:serviceaccount:payments:exporter",
              "aud": ["sts.amazonaws.com"], "exp": 4102444800, "iat": 1735689600}
    old_token = sign_token(phases["before"].secrets["sa_key"], claims)
    new_token = sign_token(phases["prepare"].secrets["sa_key"], claims)
    assert phases["prepare"].secrets["sa_key"] == phases["complete"].secrets["sa_key"]
    assert verify_token(old_token, phases["before"].jwks()) and not verify_token(new_token, phases["before"].jwks())
    assert verify_token(old_token, phases["prepare"].jwks()) and verify_token(new_token, phases["prepare"].jwks())
    assert verify_token(new_token, phases["complete"].jwks()) and not verify_token(old_token, phases["complete"].jwks())
    # A token whose signature does not match its kid's key is refused too.
    head, body, _ = new_token.split(".")
    forged = f"{head}.{body}.{old_token.split('.')[2]}"
    assert not verify_token(forged, phases["prepare"].jwks())


def _args(component: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(a["name"], a["value"]) for a in component["extraArgs"]]


def test_api_server_and_controller_manager_flags_per_phase(phases: dict[str, Phase]) -> None:
    for name, phase in phases.items():
        config = phase.cluster_configuration()
        api = _args(config["apiServer"])
        # sa.key signs, sa.pub (every verifying key) verifies: the flags never change
        # with the phase, the files do, so a running replica needs no new manifest.
        assert [v for n, v in api if n == "service-account-signing-key-file"] == ["/etc/kubernetes/pki/sa.key"], name
        assert [v for n, v in api if n == "service-account-key-file"] == ["/etc/kubernetes/pki/sa.pub"], name
        cm = _args(config["controllerManager"])
        assert [v for n, v in cm if n == "service-account-private-key-file"] == ["/etc/kubernetes/pki/sa.key"], name
        # sa.key is fetched from the secret store (never in the document).
        script = phase.files()["/usr/local/lib/fleetform/bootstrap.sh"]
        fetch = [line for line in script.splitlines() if "/etc/kubernetes/pki/sa.key 0600" in line]
        assert len(fetch) == 1 and "service-account-key" in fetch[0], name
        assert "PRIVATE KEY" not in phase.outputs["user_data"]


# ---------------------------------------------------------------- the fleet root


def _certs(pem: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem.encode())


def _write(path: Path, *pems: str) -> Path:
    path.write_text("".join(p if p.endswith("\n") else p + "\n" for p in pems))
    return path


def openssl_verify(tmp: Path, roots: str, intermediate: str, leaf: str) -> bool:
    """openssl's own chain building: ``leaf`` through ``intermediate`` (untrusted) to one
    of ``roots`` (the only trust anchors)."""
    untrusted = ["-untrusted", str(_write(tmp / "intermediate.pem", intermediate))] if intermediate else []
    # The offline engine's certificates start on a fixed date: check at a day after the leaf's start.
    at = int(_certs(leaf)[0].not_valid_before_utc.timestamp()) + 86400
    cmd = ["openssl", "verify", "-x509_strict", "-attime", str(at), "-CAfile", str(_write(tmp / "roots.pem", roots)),
           *untrusted, str(_write(tmp / "leaf.pem", leaf))]
    return subprocess.run(cmd, capture_output=True, text=True, check=False).returncode == 0


def test_root_rotation_keeps_every_leaf_verifiable(phases: dict[str, Phase], tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (scripts/install-system-tools.sh)")
    before, prepare, complete = phases["before"].outputs, phases["prepare"].outputs, phases["complete"].outputs
    assert set(prepare["roots"]) == {"0", "1"} and set(complete["roots"]) == {"1"}
    root0, root1 = before["roots"]["0"], prepare["roots"]["1"]
    assert complete["roots"]["1"] == root1 and prepare["roots"]["0"] == root0
    assert [c.subject for c in _certs(prepare["root_bundle"])] == [c.subject for c in _certs(root1 + root0)]
    # The cluster CA (issuing generation 1) as certified by each root: one key.
    ca_new_root, ca_old_root = prepare["kubernetes_ca"], None
    for pem in prepare["under_retiring_root"]:
        cert = _certs(pem)[0]
        if cert.subject == _certs(ca_new_root)[0].subject:
            ca_old_root = pem
    assert ca_old_root is not None
    assert _certs(ca_new_root)[0].public_key() == _certs(ca_old_root)[0].public_key()
    assert _certs(ca_new_root)[0].issuer == _certs(root1)[0].subject
    assert _certs(ca_old_root)[0].issuer == _certs(root0)[0].subject
    bundles = {"before": root0, "prepare": prepare["root_bundle"], "complete": complete["root_bundle"]}
    leaf = prepare["admin"]
    # prepare: every client trusts both roots, whichever certificate of the CA a server sends.
    assert openssl_verify(tmp_path, bundles["prepare"], ca_new_root, leaf)
    assert openssl_verify(tmp_path, bundles["prepare"], ca_old_root, leaf)
    # complete: only the new root; the old root's certificate of the CA no longer verifies.
    assert openssl_verify(tmp_path, bundles["complete"], ca_new_root, leaf)
    assert not openssl_verify(tmp_path, bundles["complete"], ca_old_root, leaf)
    # A client still on the old root only (before) cannot follow the new certificate:
    # which is why prepare gives every client both roots first.
    assert openssl_verify(tmp_path, bundles["before"], ca_old_root, leaf)
    assert not openssl_verify(tmp_path, bundles["before"], ca_new_root, leaf)
    # The fleet trust bundle of each phase verifies the phase's leaves on its own, and
    # prepare's also a leaf issued before anything rotated (old CA, old root).
    for name, leaf_pem in (("prepare", prepare["admin"]), ("prepare", before["admin"]),
                           ("complete", complete["admin"])):
        assert openssl_verify(tmp_path, phases[name].outputs["trust_bundle"], "", leaf_pem), name
    assert not openssl_verify(tmp_path, complete["trust_bundle"], "", before["admin"])


def test_cluster_ca_keys_and_join_pins_do_not_change_with_the_root(phases: dict[str, Phase]) -> None:
    # Same cluster generation, different root: the CA keeps its key, so kubeadm's
    # caCertHashes (public-key hashes) joining machines pin stay the same.
    pub = {p: phases[p].outputs["kubernetes_ca_public"] for p in ("prepare", "complete")}
    assert pub["prepare"] == pub["complete"]
    prepare, complete = phases["prepare"].outputs, phases["complete"].outputs
    assert ca_cert_hashes(complete["kubernetes_bundle"])[0] == ca_cert_hashes(prepare["kubernetes_bundle"])[0]
    # During prepare the fleet trust bundle has both roots and each CA under both.
    subjects = [c.subject.rfc4514_string() for c in _certs(prepare["trust_bundle"])]
    assert sum("fleet root CA" in s for s in subjects) == 2
    assert sum("fleet root CA" in s for s in (c.subject.rfc4514_string()
                                              for c in _certs(complete["trust_bundle"]))) == 1
