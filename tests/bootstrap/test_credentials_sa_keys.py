"""The service-account keys of running control-plane replicas follow a rotation's
phases through ``kubeadm-certs-renew``, for real under bash against a real etcd (the
lock and the replicas' trust records), with stand-ins only for the API server's
/readyz and kubelet's static pods (files moved away and back).

A replica accepts the new key (``sa.pub``) before any replica signs with it
(``sa.key``): at no point does one API server sign tokens another would refuse.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
from bootstrap_helpers import TestPKI, require_tool
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from test_credentials_renewal_scripts import (
    ENDPOINTS,
    Etcd,
    Node,
    ReadyServer,
    _events,
    _install,
    _leaf,
    _node,
    _run_all,
    lock_etcd,  # noqa: F401 - the module's fixtures
    shared,  # noqa: F401
)

from fleetform.bootstrap.renewal_control_plane import (
    KubeadmRenewal,
    kubeadm_renew_script,
    service_account_trust_prefix,
)

pytestmark = pytest.mark.integration

SECRET = "c1/control-plane/service-account-keys"
REPLICAS = ("cp-0", "cp-1")


def _key() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def _publish(store: Path, key: str, *pubs: str) -> None:
    path = store / "secrets" / SECRET
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"key": key, "pub": "".join(pubs)}))


def _state(node: Node) -> tuple[str, str]:
    pki = node.root / "k8s" / "pki"
    return (pki / "sa.key").read_text(), (pki / "sa.pub").read_text()


def _trust(etcd: Etcd, replica: str) -> str:
    got = subprocess.run([require_tool("etcdctl"), f"--endpoints={etcd.endpoint}", f"--cacert={etcd.ca}",
                          f"--cert={etcd.cert}", f"--key={etcd.key}", "get", "--print-value-only",
                          f"{service_account_trust_prefix('c1')}/{replica}"], capture_output=True, text=True,
                         timeout=10, env={**os.environ, "ETCDCTL_API": "3"})
    return got.stdout.strip()


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_replicas_accept_the_new_key_before_any_signs_with_it(lock_etcd: Etcd, shared: Path) -> None:  # noqa: F811
    pki = TestPKI()
    ready = ReadyServer(_leaf("kube-apiserver", pki.cluster_ca), shared)
    old_key, old_pub = _key()
    new_key, new_pub = _key()
    try:
        nodes, paths = [], []
        for name in REPLICAS:
            n = _node(shared, name, lock_etcd, shared)
            p = n.root / "k8s" / "pki"
            (p / "ca.crt").write_text(pki.cluster_ca.cert_pem)
            (p / "sa.key").write_text(old_key)
            (p / "sa.pub").write_text(old_pub)
            for pod in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
                (n.root / "k8s" / "manifests" / f"{pod}.yaml").write_text(f"kind: Pod # {pod}\n")
            n.env["FF_API_PORT"] = str(ready.port)
            script = kubeadm_renew_script(KubeadmRenewal("c1", name, 90 * 24, ENDPOINTS,
                                                         service_account_secret=SECRET, replicas=REPLICAS))
            nodes.append(n)
            paths.append((_install(n, script, "renew", lock_etcd), n.env))

        def run_all() -> list[str]:
            results = _run_all(paths)
            assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
            return [r.stderr for r in results]

        # Before: nothing to do; each replica records the keys it accepts.
        _publish(shared, old_key, old_pub)
        assert all("control-plane certificates are current" in e for e in run_all())
        assert [_trust(lock_etcd, r) for r in REPLICAS] == [_sha(old_pub)] * 2

        # prepare, first run (both timers fire together): every replica accepts the new
        # key; the one that goes first keeps signing with the old key (the other does
        # not accept the new one yet), the second may already switch.
        _publish(shared, new_key, new_pub, old_pub)
        run_all()
        states = [_state(n) for n in nodes]
        assert all(pub == new_pub + old_pub for _, pub in states)
        assert sum(key == old_key for key, _ in states) >= 1
        # prepare, second run: every replica signs with the new key.
        run_all()
        assert [_state(n) for n in nodes] == [(new_key, new_pub + old_pub)] * 2
        assert [_trust(lock_etcd, r) for r in REPLICAS] == [_sha(new_pub + old_pub)] * 2
        # A replica switched only after the other recorded that it accepts the new key.
        events = _events(shared)
        for me in REPLICAS:
            other = next(r for r in REPLICAS if r != me)
            accepted = [t for t, who, m in events if who == other and m.startswith("service-account keys")]
            switched = next(t for t, who, m in events
                            if who == me and m == "service-account keys installed from the secret store")
            assert accepted and accepted[0] < switched, (me, events)
        # The restarts were one replica at a time (the lock), the API server back each time.
        assert ready.hits >= 3

        # complete: the old key goes from sa.pub at once (the signing key is already new).
        _publish(shared, new_key, new_pub)
        run_all()
        assert [_state(n) for n in nodes] == [(new_key, new_pub)] * 2
        assert "control-plane certificates are current" in run_all()[0]
        assert [_trust(lock_etcd, r) for r in REPLICAS] == [_sha(new_pub)] * 2
        # Nothing secret reached a log.
        assert "PRIVATE KEY" not in (shared / "events").read_text()
    finally:
        ready.close()


def test_the_step_needs_every_replica() -> None:
    with pytest.raises(ValueError, match="every replica"):
        KubeadmRenewal("c1", "cp-2", 90 * 24, ENDPOINTS, service_account_secret=SECRET, replicas=REPLICAS)


def test_the_script_with_the_key_step_passes_shellcheck(tmp_path: Path) -> None:
    shellcheck = require_tool("shellcheck")
    script = kubeadm_renew_script(KubeadmRenewal("c1", "cp-0", 90 * 24, ENDPOINTS, "c1/control-plane/etcd-client",
                                                 service_account_secret=SECRET, replicas=REPLICAS))
    path = tmp_path / "renew.sh"
    path.write_text(script)
    r = subprocess.run([shellcheck, "--severity=info", "--exclude=SC1091", str(path)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout
