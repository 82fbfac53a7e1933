"""A real 3-member etcd cluster renews its certificates and rotates its CA in phases.

The members start from their rendered configuration (addresses and paths substituted
for loopback, as in ``test_bootstrap_etcd_cluster``). Then, while a client writes
without pause, the secret store is changed the way ``pulumi up`` changes it:

1. leaf renewal: new member and client certificates under the same etcd CA;
2. ``prepare``: a new etcd CA, bundles holding new + old, leaves under the new CA;
3. ``complete``: bundles holding only the new CA.

After each change the real renewal scripts run as their timers would: the control
plane's ``kubeadm-certs-renew`` (which moves the client, here the writer, to new etcd
client credentials) and every member's ``etcd-credentials-reload`` at the same time
(their lock must serialize the restarts). Stand-ins: ``systemctl`` (restarts the
member's etcd process), ``kubeadm`` (must not be called: nothing kubeadm owns is due),
the secret store (a directory). Expected: no failed write, no lost key, at least two
healthy members in every sample, every member serving the phase's certificate.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from bootstrap_helpers import (
    Issued,
    TestPKI,
    _issue,
    free_ports,
    make_etcd_inputs,
    member_list,
    require_tool,
    substitute,
)
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from fleetform.bootstrap import render_etcd_member
from fleetform.bootstrap.etcd import etcd_config
from fleetform.bootstrap.renewal import ETCD_RELOAD_PATH, ETCD_RELOAD_UNIT, renew_library
from fleetform.bootstrap.renewal_control_plane import KubeadmRenewal, kubeadm_renew_script
from fleetform.bootstrap.shell import common_library

pytestmark = pytest.mark.integration

CLUSTER = "c1"
ROUND_TIMEOUT = 150
MAX_ROUNDS = 4

STUB_CLOUD_SH = """# test stand-in for cloud.sh: the secret store is a directory
ff_cloud_prepare() { :; }
ff_secret_read() { cat "$FF_TEST_SECRETS/$1"; }
"""

# Restarts the member whose root is FF_TEST_MEMBER_ROOT; logs when it stops it.
STUB_SYSTEMCTL = """#!/bin/bash
set -euo pipefail
[ "$1" = restart ] && [ "$2" = etcd.service ] || { echo "unexpected: systemctl $*" >&2; exit 1; }
root=$FF_TEST_MEMBER_ROOT
if [ -f "$root/pid" ]; then
  pid=$(cat "$root/pid")
  printf 'stop %s %s\\n' "$(basename "$root")" "$(date +%s.%N)" >>"$FF_TEST_EVENTS"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
fi
setsid "$FF_TEST_ETCD" --config-file "$root/etcd.conf.yml" >>"$root/etcd.log" 2>&1 </dev/null &
echo $! >"$root/pid"
"""

STUB_KUBEADM = """#!/bin/bash
echo "kubeadm $*" >>"$FF_TEST_EVENTS"
exit 1
"""


@dataclass
class Node:
    name: str
    dns: str
    ip: str
    root: Path
    client_port: int
    peer_port: int
    metrics_port: int

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.client_port}"


@dataclass
class Generation:
    """One phase's material: the bundle, and each member's/the API server's leaves."""

    bundle: str
    members: dict[str, tuple[Issued, Issued, Issued]]  # server, peer, client
    apiserver: Issued


@dataclass
class Harness:
    etcdctl: str
    etcd: str
    base: Path
    nodes: list[Node]
    env: dict[str, str]
    writes: list[tuple[str, int, str]] = field(default_factory=list)
    samples: list[tuple[float, int]] = field(default_factory=list)
    stop_flag: threading.Event = field(default_factory=threading.Event)

    def mapping(self, node: Node | None) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = []
        for n in self.nodes:
            for host in (n.dns, n.ip):
                pairs.append((f"https://{host}:2380", f"https://127.0.0.1:{n.peer_port}"))
                pairs.append((f"https://{host}:2379", f"https://127.0.0.1:{n.client_port}"))
        pairs += [
            ("/usr/local/lib/fleetform/", f"{self.base}/lib/"),
            ("/usr/local/bin/etcdctl", self.etcdctl),
            ("/etc/kubernetes/", f"{self.base}/cp/"),
        ]
        if node is not None:
            pairs += [
                ("http://127.0.0.1:2381", f"http://127.0.0.1:{node.metrics_port}"),
                ("/etc/etcd/pki", f"{node.root}/pki"),
                ("/var/lib/etcd", f"{node.root}/var-lib-etcd"),
                ("/run/fleetform", f"{node.root}/run"),
            ]
        else:
            pairs.append(("/run/fleetform", f"{self.base}/cp/run"))
        return pairs

    # ---------------------------------------------------------------- secrets

    def publish(self, gen: Generation) -> None:
        """What `pulumi up` writes to the secret store for this phase."""
        for n in self.nodes:
            server, peer, client = gen.members[n.name]
            doc = {"ca": gen.bundle, "server_cert": server.cert_pem, "server_key": server.key_pem,
                   "peer_cert": peer.cert_pem, "peer_key": peer.key_pem,
                   "client_cert": client.cert_pem, "client_key": client.key_pem}
            self.secret(f"{CLUSTER}/etcd/{n.name}/credentials", json.dumps(doc))
        self.secret(f"{CLUSTER}/control-plane/etcd-client", json.dumps(
            {"ca": gen.bundle, "cert": gen.apiserver.cert_pem, "key": gen.apiserver.key_pem}))

    def secret(self, sid: str, value: str) -> None:
        path = self.base / "secrets" / sid
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value)

    def install_initial(self, gen: Generation) -> None:
        """What the boot documents and the first secret fetch put on disk."""
        for n in self.nodes:
            server, peer, client = gen.members[n.name]
            pki = n.root / "pki"
            pki.mkdir(parents=True, exist_ok=True)
            values = {"ca.crt": gen.bundle, "server.crt": server.cert_pem, "server.key": server.key_pem,
                      "peer.crt": peer.cert_pem, "peer.key": peer.key_pem,
                      "client.crt": client.cert_pem, "client.key": client.key_pem}
            for name, text in values.items():
                (pki / name).write_text(text)
                (pki / name).chmod(0o600 if name.endswith(".key") else 0o644)
        cp = self.base / "cp" / "pki"
        (cp / "etcd").mkdir(parents=True, exist_ok=True)
        (cp / "etcd" / "ca.crt").write_text(gen.bundle)
        (cp / "apiserver-etcd-client.crt").write_text(gen.apiserver.cert_pem)
        (cp / "apiserver-etcd-client.key").write_text(gen.apiserver.key_pem)
        (self.base / "cp" / "manifests").mkdir(parents=True, exist_ok=True)

    # ---------------------------------------------------------------- processes

    def systemctl(self, node: Node) -> None:
        env = {**self.env, "FF_TEST_MEMBER_ROOT": str(node.root)}
        subprocess.run([str(self.base / "bin" / "systemctl"), "restart", "etcd.service"],
                       env=env, check=True, timeout=30)

    def healthy(self, node: Node) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{node.metrics_port}/health", timeout=2) as r:
                return json.load(r).get("health") == "true"
        except OSError:
            return False

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not all(self.healthy(n) for n in self.nodes):
            assert time.monotonic() < deadline, "cluster not healthy:\n" + self.logs()
            time.sleep(0.2)

    def logs(self) -> str:
        return "\n".join(f"--- {n.name}\n{(n.root / 'etcd.log').read_text(errors='replace')[-3000:]}"
                         for n in self.nodes if (n.root / "etcd.log").exists())

    def kill_all(self) -> None:
        for n in self.nodes:
            pidfile = n.root / "pid"
            if pidfile.exists():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pidfile.read_text()), signal.SIGKILL)

    def run_round(self) -> list[str]:
        """The timers fire: the control plane's first, then every member's at once."""
        logs = []
        cp = subprocess.run(["/bin/bash", str(self.base / "cp" / "kubeadm-certs-renew")], env=self.env,
                            capture_output=True, text=True, timeout=ROUND_TIMEOUT)
        assert cp.returncode == 0, cp.stderr
        logs.append(cp.stderr)
        procs = [(n, subprocess.Popen(["/bin/bash", str(n.root / "etcd-credentials-reload")],
                                      env={**self.env, "FF_TEST_MEMBER_ROOT": str(n.root)},
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
                 for n in self.nodes]
        for n, p in procs:
            _, err = p.communicate(timeout=ROUND_TIMEOUT)
            assert p.returncode == 0, f"{n.name}: {err}\n{self.logs()}"
            logs.append(err)
        return logs

    def converged(self, gen: Generation) -> bool:
        for n in self.nodes:
            server = gen.members[n.name][0]
            pki = n.root / "pki"
            if (pki / "ca.crt").read_text() != gen.bundle or (pki / "server.crt").read_text() != server.cert_pem:
                return False
        cp = self.base / "cp" / "pki"
        return ((cp / "etcd" / "ca.crt").read_text() == gen.bundle
                and (cp / "apiserver-etcd-client.crt").read_text() == gen.apiserver.cert_pem)

    def served_certificate(self, node: Node) -> bytes:
        """The DER certificate the running member presents (proof it reloaded)."""
        cp = self.base / "cp" / "pki"
        ctx = ssl.create_default_context(cafile=str(cp / "etcd" / "ca.crt"))
        ctx.load_cert_chain(str(cp / "apiserver-etcd-client.crt"), str(cp / "apiserver-etcd-client.key"))
        ctx.check_hostname = False
        # The bundle is the trust anchor (etcd trusts the cluster's etcd CA, not the root).
        ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        with socket.create_connection(("127.0.0.1", node.client_port), timeout=5) as sock, \
                ctx.wrap_socket(sock) as tls:
            der = tls.getpeercert(binary_form=True)
        assert der is not None
        return der

    # ---------------------------------------------------------------- the client

    def writer(self) -> None:
        """The API server's stand-in: writes without pause with the etcd client
        credentials the control-plane script installed (re-read before each write, the
        way a restarted API server would pick them up)."""
        cp = self.base / "cp" / "pki"
        snap = self.base / "writer"
        snap.mkdir()
        endpoints = ",".join(n.endpoint for n in self.nodes)
        i = 0
        while not self.stop_flag.is_set():
            ca, cert, key = ((cp / p).read_text() for p in ("etcd/ca.crt", "apiserver-etcd-client.crt",
                                                             "apiserver-etcd-client.key"))
            if not _key_matches(cert, key):
                continue  # caught between two renames: read again
            for name, text in (("ca.crt", ca), ("c.crt", cert), ("c.key", key)):
                (snap / name).write_text(text)
            key_name = f"/writes/{i:06d}"
            r = subprocess.run([self.etcdctl, f"--endpoints={endpoints}", f"--cacert={snap}/ca.crt",
                                f"--cert={snap}/c.crt", f"--key={snap}/c.key", "--dial-timeout=3s",
                                "--command-timeout=10s", "put", key_name, str(i)],
                               capture_output=True, text=True, timeout=30, env=self.env)
            self.writes.append((key_name, r.returncode, r.stderr.strip()))
            i += 1
            time.sleep(0.05)

    def monitor(self) -> None:
        while not self.stop_flag.is_set():
            self.samples.append((time.monotonic(), sum(self.healthy(n) for n in self.nodes)))
            time.sleep(0.1)


def _key_matches(cert_pem: str, key_pem: str) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
        key = serialization.load_pem_private_key(key_pem.encode(), None)
    except ValueError:
        return False
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return bool(cert.public_key().public_bytes(serialization.Encoding.PEM, spki)
                == key.public_key().public_bytes(serialization.Encoding.PEM, spki))


def _generation(ca: Issued, bundle: str, nodes: Sequence[Node]) -> Generation:
    members = {}
    for n in nodes:
        # SANs: the member's DNS name and 127.0.0.1 (its private IP on loopback).
        server = _issue(n.name, ca, ca=False, dns=[n.dns, "localhost"], ips=["127.0.0.1"], server=True, client=True)
        peer = _issue(n.name, ca, ca=False, dns=[n.dns], ips=["127.0.0.1"], server=True, client=True)
        client = _issue(f"{n.name}-client", ca, ca=False, client=True)
        members[n.name] = (server, peer, client)
    return Generation(bundle, members, _issue("kube-apiserver-etcd-client", ca, ca=False, client=True))


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[tuple[Harness, TestPKI]]:
    etcd = require_tool("etcd")
    etcdctl = require_tool("etcdctl")
    require_tool("openssl")
    pki = TestPKI()
    members = member_list(3)
    ports = free_ports(9)
    nodes = [Node(m.name, m.dns_name, m.ip, tmp_path / m.name, *ports[3 * i:3 * i + 3])
             for i, m in enumerate(members)]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("systemctl", STUB_SYSTEMCTL), ("kubeadm", STUB_KUBEADM), ("logger", "#!/bin/sh\nexit 0\n")):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "ETCDCTL_API": "3",
           "FF_TEST_SECRETS": str(tmp_path / "secrets"), "FF_TEST_EVENTS": str(tmp_path / "events"),
           "FF_TEST_ETCD": etcd, "FF_RETRY_ATTEMPTS": "2", "FF_RETRY_BASE_DELAY": "1",
           "FF_WAIT_INTERVAL": "1", "FF_STATIC_POD_WAIT": "0", "FF_LOCK_TTL": "10"}
    h = Harness(etcdctl, etcd, tmp_path, nodes, env)
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "lib.sh").write_text(common_library())
    (lib / "cloud.sh").write_text(STUB_CLOUD_SH)
    (lib / "renew.sh").write_text(renew_library())
    build = make_etcd_inputs(pki)
    urls = {n.name: f"https://{n.dns}:2379" for n in nodes}
    for n in nodes:
        n.root.mkdir()
        (n.root / "var-lib-etcd").mkdir(mode=0o700)
        inputs = build(n.name, members=members, version="3.4.30",
                       credentials_secret=f"{CLUSTER}/etcd/{n.name}/credentials")
        config = substitute(etcd_config(inputs), h.mapping(n))
        (n.root / "etcd.conf.yml").write_text(yaml.safe_dump(config))
        # The reload script and its timer as the member's document ships them.
        document = yaml.safe_load(render_etcd_member(inputs))
        files = {f["path"]: f["content"] for f in document["write_files"]}
        assert f"systemctl enable --now {ETCD_RELOAD_UNIT}.timer" in files["/usr/local/lib/fleetform/bootstrap.sh"]
        assert f"/etc/systemd/system/{ETCD_RELOAD_UNIT}.timer" in files
        (n.root / "etcd-credentials-reload").write_text(substitute(files[ETCD_RELOAD_PATH], h.mapping(n)))
        (n.root / "etcd-credentials-reload").chmod(0o755)
    renew = kubeadm_renew_script(KubeadmRenewal(CLUSTER, "cp-0", 90 * 24, tuple(urls.values()),
                                                f"{CLUSTER}/control-plane/etcd-client"))
    (tmp_path / "cp").mkdir()
    (tmp_path / "cp" / "kubeadm-certs-renew").write_text(substitute(renew, h.mapping(None)))
    (tmp_path / "cp" / "kubeadm-certs-renew").chmod(0o755)
    try:
        yield h, pki
    finally:
        h.stop_flag.set()
        h.kill_all()


def _verify(openssl: str, bundle: str, leaf: str, tmp: Path) -> bool:
    (tmp / "bundle.pem").write_text(bundle)
    (tmp / "leaf.pem").write_text(leaf)
    r = subprocess.run([openssl, "verify", "-partial_chain", "-CAfile", str(tmp / "bundle.pem"), str(tmp / "leaf.pem")],
                       capture_output=True, text=True, timeout=10)
    return r.returncode == 0


def test_etcd_renews_leaves_and_rotates_its_ca_without_losing_a_write(
        harness: tuple[Harness, TestPKI], tmp_path: Path) -> None:
    h, pki = harness
    openssl = require_tool("openssl")
    ca0 = _issue("etcd CA c1", pki.root, ca=True)
    ca1 = _issue("etcd CA c1 (generation 1)", pki.root, ca=True)
    # Bundles as rotation.RotationState.trusted orders them: the issuing CA first.
    phases = {
        "initial": _generation(ca0, ca0.cert_pem, h.nodes),
        "leaf renewal": _generation(ca0, ca0.cert_pem, h.nodes),
        "prepare": _generation(ca1, ca1.cert_pem + ca0.cert_pem, h.nodes),
    }
    phases["complete"] = Generation(ca1.cert_pem, phases["prepare"].members, phases["prepare"].apiserver)

    h.install_initial(phases["initial"])
    h.publish(phases["initial"])
    for n in h.nodes:
        h.systemctl(n)
    h.wait_healthy()

    threads = [threading.Thread(target=h.writer, daemon=True), threading.Thread(target=h.monitor, daemon=True)]
    for t in threads:
        t.start()
    rounds: dict[str, int] = {}
    try:
        # The initial run registers the API server's trust with the members.
        h.run_round()
        for phase in ("leaf renewal", "prepare", "complete"):
            gen = phases[phase]
            h.publish(gen)
            for i in range(1, MAX_ROUNDS + 1):
                h.run_round()
                if h.converged(gen):
                    rounds[phase] = i
                    break
            else:
                pytest.fail(f"{phase}: not converged after {MAX_ROUNDS} rounds\n{h.logs()}")
            h.wait_healthy()
            for n in h.nodes:
                served = x509.load_der_x509_certificate(h.served_certificate(n))
                assert served == gen.members[n.name][0].cert, f"{phase}: {n.name} serves an old certificate"
                # openssl: the phase's leaves verify against its bundle.
                for leaf in gen.members[n.name]:
                    assert _verify(openssl, gen.bundle, leaf.cert_pem, tmp_path)
            time.sleep(1)  # a few writes in the settled phase
    finally:
        h.stop_flag.set()
        for t in threads:
            t.join(timeout=30)

    failed = [w for w in h.writes if w[1] != 0]
    assert not failed, f"{len(failed)} of {len(h.writes)} writes failed: {failed[:3]}"
    assert len(h.writes) > 50, "the writer barely ran"
    # Leaf renewal is one round; prepare needs two (trust the new CA, then use it).
    assert rounds["leaf renewal"] == 1 and rounds["prepare"] == 2, rounds
    # No lost key: every member holds every write (linearizable count on each endpoint).
    final = phases["complete"]
    cp = h.base / "cp" / "pki"
    for n in h.nodes:
        r = subprocess.run([h.etcdctl, f"--endpoints={n.endpoint}", f"--cacert={cp}/etcd/ca.crt",
                            f"--cert={cp}/apiserver-etcd-client.crt", f"--key={cp}/apiserver-etcd-client.key",
                            "get", "/writes/", "--prefix", "--keys-only", "--write-out=json"],
                           capture_output=True, text=True, timeout=20, env=h.env)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["count"] == len(h.writes), n.name
    # Quorum at every step: never a stretch without two healthy members longer than a
    # leader election (a restarted leader hands over; /health says false until the new
    # leader is known, about one election timeout). Every write succeeding says the same.
    assert h.samples
    worst, start = 0.0, None
    for t, count in h.samples:
        if count < 2:
            start = t if start is None else start
            worst = max(worst, t - start)
        else:
            start = None
    assert worst < 3.0, f"no quorum for {worst:.1f}s"
    # Restarts were one member at a time: every stop came after the last one's member
    # was healthy again (the lock is released only then).
    stops = [line.split() for line in (h.base / "events").read_text().splitlines() if line.startswith("stop")]
    # Renewal: 3. Prepare: 5 (the first two members trust the new CA first; the last finds
    # both peers and the API server trusting it and takes everything at once; then the
    # first two take their new leaves). Complete: 3.
    assert len(stops) == 11, stops
    events = (h.base / "events").read_text()
    assert "kubeadm" not in events, "kubeadm was called with nothing of its own due"
    # After complete, the old CA is gone: the old generation's leaves no longer verify.
    old = phases["leaf renewal"].members[h.nodes[0].name][0]
    assert not _verify(openssl, final.bundle, old.cert_pem, tmp_path)
    assert not _verify(openssl, phases["initial"].bundle, final.members[h.nodes[0].name][0].cert_pem, tmp_path)
