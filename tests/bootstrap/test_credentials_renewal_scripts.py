"""The control plane's renewal scripts, run for real under bash.

Real: bash, openssl, python3, curl, a one-member etcd on 127.0.0.1 (the scripts' lock)
and a TLS server standing in for the local API server's /readyz with a real chain.
Stand-ins: ``kubeadm`` (a recording script with a file-backed token store and a
``certs renew`` that re-issues the certificates with ``openssl``), the secret store (a
directory) and ``logger`` (timestamps every ``ff_log`` line into an event log, which is
how the tests see who did what when). Every script also passes shellcheck.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from bootstrap_helpers import (
    Issued,
    TestPKI,
    _issue,
    make_control_plane_inputs,
    make_etcd_inputs,
    require_tool,
)

from fleetform.bootstrap import render_control_plane, render_etcd_member
from fleetform.bootstrap.inputs import SecretStore
from fleetform.bootstrap.renewal import (
    ETCD_RELOAD_PATH,
    EtcdReload,
    etcd_reload_files,
    etcd_reload_script,
    renew_library,
    trust_prefix,
)
from fleetform.bootstrap.renewal_control_plane import (
    KubeadmRenewal,
    TokenRotation,
    kubeadm_renew_files,
    kubeadm_renew_script,
    token_rotate_files,
)
from fleetform.bootstrap.shell import cloud_library, common_library

pytestmark = pytest.mark.integration

STUB_CLOUD_SH = """# test stand-in for cloud.sh: the secret store is a directory
ff_cloud_prepare() { :; }
ff_secret_read() { cat "$FF_TEST_SECRETS/$1"; }
ff_secret_write() { mkdir -p "$(dirname "$FF_TEST_SECRETS/$1")"; cat >"$FF_TEST_SECRETS/$1"; }
"""

STUB_LOGGER = """#!/bin/bash
[ "$1" = -t ] && shift 2
[ "$1" = -- ] && shift
printf '%s %s %s\\n' "$(date +%s.%N)" "${FF_TEST_NODE:-?}" "$*" >>"$FF_TEST_EVENTS"
"""

# kubeadm stand-in: tokens live in $FF_TEST_TOKENS/<id> as "<token> <expires ISO>".
STUB_KUBEADM = r"""#!/bin/bash
set -euo pipefail
printf '%s %s kubeadm %s\n' "$(date +%s.%N)" "${FF_TEST_NODE:-?}" "$*" >>"$FF_TEST_EVENTS"
store=$FF_TEST_TOKENS
mkdir -p "$store"
case "$1 $2" in
  "token create")
    token=$(python3 -c 'import random, string; r = random.SystemRandom(); a = string.ascii_lowercase + string.digits
print("".join(r.choice(a) for _ in range(6)) + "." + "".join(r.choice(a) for _ in range(16)))')
    ttl=$(printf '%s\n' "$@" | sed -n 's/^\([0-9]*\)h$/\1/p' | head -1)
    [ -n "$ttl" ] || { echo "no --ttl given" >&2; exit 1; }
    printf '%s %s\n' "$token" "$(date -u -d "+$ttl hours" +%Y-%m-%dT%H:%M:%SZ)" >"$store/${token%%.*}"
    echo "$token" ;;
  "token list")
    for f in "$store"/*; do
      [ -e "$f" ] || continue
      read -r token expires <"$f"
      printf '{"token": "%s", "expires": "%s", "usages": ["authentication", "signing"]}\n' "$token" "$expires"
    done ;;
  "token delete")
    rm -f "$store/$3" ;;
  "certs renew")
    # Re-issue every due leaf under the same CA (what kubeadm does), for a year.
    for f in apiserver apiserver-kubelet-client front-proxy-client; do
      [ -f "$FF_TEST_PKI/$f.crt" ] || continue
      ca=ca
      [ "$f" = front-proxy-client ] && ca=front-proxy-ca
      openssl x509 -in "$FF_TEST_PKI/$f.crt" -noout -subject >/dev/null
      openssl req -new -key "$FF_TEST_PKI/$f.key" -subj "/CN=$f" -out "$FF_TEST_PKI/$f.csr" 2>/dev/null
      openssl x509 -req -in "$FF_TEST_PKI/$f.csr" -CA "$FF_TEST_PKI/$ca.crt" -CAkey "$FF_TEST_PKI/$ca.key" \
        -CAcreateserial -days 365 -copy_extensions copy -out "$FF_TEST_PKI/$f.crt" 2>/dev/null
      rm -f "$FF_TEST_PKI/$f.csr"
    done
    sleep 0.5 ;;
  *) echo "unexpected kubeadm $*" >&2; exit 1 ;;
esac
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Etcd:
    endpoint: str
    ca: Path
    cert: Path
    key: Path
    proc: subprocess.Popen[bytes]
    pki: TestPKI


@pytest.fixture(scope="module")
def lock_etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Etcd]:
    """One real etcd member: what the scripts lock with."""
    etcd = require_tool("etcd")
    require_tool("etcdctl")
    d = tmp_path_factory.mktemp("etcd")
    pki = TestPKI()
    server, _ = pki.etcd_member("lock", "localhost", "127.0.0.1")
    client = pki.client("kube-apiserver-etcd-client")
    files = {"ca.crt": pki.etcd_ca.cert_pem, "server.crt": server.cert_pem, "server.key": server.key_pem,
             "client.crt": client.cert_pem, "client.key": client.key_pem}
    for name, text in files.items():
        (d / name).write_text(text)
    port, peer_port = _port(), _port()
    log = open(d / "etcd.log", "wb")  # noqa: SIM115 - owned by the process
    proc = subprocess.Popen(
        [etcd, "--name=lock", f"--data-dir={d}/data", f"--listen-client-urls=https://127.0.0.1:{port}",
         f"--advertise-client-urls=https://127.0.0.1:{port}", f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
         f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
         f"--initial-cluster=lock=http://127.0.0.1:{peer_port}", f"--cert-file={d}/server.crt",
         f"--key-file={d}/server.key", f"--trusted-ca-file={d}/ca.crt", "--client-cert-auth"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    e = Etcd(f"https://127.0.0.1:{port}", d / "ca.crt", d / "client.crt", d / "client.key", proc, pki)
    deadline = time.monotonic() + 30
    while subprocess.run([shutil.which("etcdctl") or "etcdctl", f"--endpoints={e.endpoint}", f"--cacert={e.ca}",
                          f"--cert={e.cert}", f"--key={e.key}", "endpoint", "health"],
                         capture_output=True, timeout=10, env={**os.environ, "ETCDCTL_API": "3"}).returncode:
        assert time.monotonic() < deadline and proc.poll() is None, (d / "etcd.log").read_text()[-2000:]
        time.sleep(0.3)
    yield e
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=10)


@dataclass
class Node:
    root: Path
    env: dict[str, str]


def _node(tmp: Path, name: str, etcd: Etcd, shared: Path) -> Node:
    """A control-plane replica's file system: /etc/kubernetes, /usr/local/lib/fleetform, /run."""
    root = tmp / name
    (root / "k8s" / "pki" / "etcd").mkdir(parents=True)
    (root / "k8s" / "manifests").mkdir()
    (root / "lib").mkdir()
    pki = root / "k8s" / "pki"
    shutil.copy(etcd.ca, pki / "etcd" / "ca.crt")
    shutil.copy(etcd.cert, pki / "apiserver-etcd-client.crt")
    shutil.copy(etcd.key, pki / "apiserver-etcd-client.key")
    (root / "lib" / "lib.sh").write_text(common_library())
    (root / "lib" / "cloud.sh").write_text(STUB_CLOUD_SH)
    (root / "lib" / "renew.sh").write_text(renew_library())
    bin_dir = shared / "bin"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "ETCDCTL_API": "3",
           "FF_TEST_NODE": name, "FF_TEST_EVENTS": str(shared / "events"), "FF_TEST_SECRETS": str(shared / "secrets"),
           "FF_TEST_TOKENS": str(shared / "tokens"), "FF_TEST_PKI": str(pki), "FF_RETRY_ATTEMPTS": "2",
           "FF_RETRY_BASE_DELAY": "1", "FF_WAIT_INTERVAL": "1", "FF_STATIC_POD_WAIT": "0", "FF_LOCK_TTL": "10",
           "KUBECONFIG": str(root / "k8s" / "admin.conf")}
    return Node(root, env)


def _install(node: Node, script: str, name: str, etcd: Etcd) -> Path:
    text = (script.replace("/usr/local/lib/fleetform/", f"{node.root}/lib/")
            .replace("/etc/kubernetes", f"{node.root}/k8s").replace("/run/fleetform", f"{node.root}/run")
            .replace("/usr/local/bin/etcdctl", require_tool("etcdctl"))
            # A rendered document names all three members: here they are the one lock etcd.
            .replace(",".join(f"https://etcd-{i}.c1.fleet.internal:2379" for i in range(3)), etcd.endpoint)
            .replace("https://etcd-0.c1.fleet.internal:2379", etcd.endpoint))
    path = node.root / name
    path.write_text(text)
    path.chmod(0o755)
    return path


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("kubeadm", STUB_KUBEADM), ("logger", STUB_LOGGER)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    (tmp_path / "secrets").mkdir()
    (tmp_path / "events").write_text("")
    return tmp_path


def _events(shared: Path) -> list[tuple[float, str, str]]:
    out = []
    for line in (shared / "events").read_text().splitlines():
        t, node, msg = line.split(" ", 2)
        out.append((float(t), node, msg))
    return out


def _run_all(paths: list[tuple[Path, dict[str, str]]]) -> list[subprocess.CompletedProcess[str]]:
    procs = [subprocess.Popen(["/bin/bash", str(p)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for p, env in paths]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    return results


ENDPOINTS = ("https://etcd-0.c1.fleet.internal:2379",)


# ------------------------------------------------------------ bootstrap tokens


def test_bootstrap_token_rotation_publishes_one_fresh_token_and_deletes_expired_ones(
        lock_etcd: Etcd, shared: Path) -> None:
    rotation = TokenRotation("c1", "c1/bootstrap-token", 6, ENDPOINTS)
    files = {f.path: f.content for f in token_rotate_files(rotation)}
    script = files["/usr/local/lib/fleetform/bootstrap-token-rotate"]
    assert "ff_secret_write c1/bootstrap-token" in script  # cloud.sh's (here: the stand-in's)
    # A token from init that has expired, and the one published then.
    (shared / "tokens").mkdir()
    (shared / "tokens" / "abcdef").write_text("abcdef.0123456789abcdef 2020-01-01T00:00:00Z\n")
    (shared / "secrets" / "c1").mkdir()
    (shared / "secrets" / "c1" / "bootstrap-token").write_text("abcdef.0123456789abcdef")
    nodes = [_node(shared, f"cp-{i}", lock_etcd, shared) for i in range(3)]
    paths = [(_install(n, script, "rotate", lock_etcd), n.env) for n in nodes]

    results = _run_all(paths)  # three replicas' timers fire together
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    published = (shared / "secrets" / "c1" / "bootstrap-token").read_text()
    assert published != "abcdef.0123456789abcdef"
    tokens = {p.name: p.read_text().split() for p in (shared / "tokens").iterdir()}
    assert list(tokens) == [published.split(".")[0]], "one new token; the expired one is deleted"
    token, expires = tokens[published.split(".")[0]]
    assert token == published
    left = dt.datetime.fromisoformat(expires.replace("Z", "+00:00")) - dt.datetime.now(dt.UTC)
    assert dt.timedelta(hours=5, minutes=55) < left <= dt.timedelta(hours=6)
    creates = [e for e in _events(shared) if "kubeadm token create" in e[2]]
    assert len(creates) == 1, "exactly one replica rotates"
    assert "--ttl 6h" in creates[0][2] and "system:bootstrappers:kubeadm:default-node-token" in creates[0][2]
    assert published not in (shared / "events").read_text(), "the token never reaches a log"

    # A third of the TTL later, the next timer replaces it (here: it expires sooner).
    short = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    (shared / "tokens" / published.split(".")[0]).write_text(f"{published} {short}\n")
    r = subprocess.run(["/bin/bash", str(paths[0][0])], env=nodes[0].env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert (shared / "secrets" / "c1" / "bootstrap-token").read_text() != published
    assert len(list((shared / "tokens").iterdir())) == 2  # the old one stays valid until it expires


# ------------------------------------------------------------ kubeadm certificates


def _leaf(cn: str, ca: Issued) -> Issued:
    """A leaf valid for a day: well inside the 90-day renewal margin, so due."""
    return _issue(cn, ca, ca=False, server=True, client=True, dns=["localhost"], ips=["127.0.0.1"])


class ReadyServer:
    """The local API server's /readyz over TLS with a kubernetes-CA-signed certificate."""

    def __init__(self, cert: Issued, tmp: Path) -> None:
        (tmp / "srv.crt").write_text(cert.cert_pem)
        (tmp / "srv.key").write_text(cert.key_pem)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(tmp / "srv.crt"), str(tmp / "srv.key"))
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.hits = 0
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            try:
                with self.ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.settimeout(5)
                    tls.recv(4096)
                    tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                    self.hits += 1
            except (OSError, ssl.SSLError):
                pass

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
        self.thread.join(timeout=10)


def test_kubeadm_certificates_renew_before_expiry_one_replica_at_a_time(
        lock_etcd: Etcd, shared: Path) -> None:
    pki = TestPKI()
    ready = ReadyServer(_leaf("kube-apiserver", pki.cluster_ca), shared)
    try:
        script = kubeadm_renew_script(KubeadmRenewal("c1", "cp-x", 90 * 24, ENDPOINTS))
        nodes = [_node(shared, f"cp-{i}", lock_etcd, shared) for i in range(2)]
        paths = []
        for n in nodes:
            p = n.root / "k8s" / "pki"
            for name, issued in (("ca", pki.cluster_ca), ("front-proxy-ca", pki.front_proxy_ca)):
                (p / f"{name}.crt").write_text(issued.cert_pem)
                (p / f"{name}.key").write_text(issued.key_pem)
            for name in ("apiserver", "apiserver-kubelet-client", "front-proxy-client"):
                leaf = _leaf(name, pki.front_proxy_ca if name.startswith("front") else pki.cluster_ca)
                (p / f"{name}.crt").write_text(leaf.cert_pem)
                (p / f"{name}.key").write_text(leaf.key_pem)
            for pod in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
                (n.root / "k8s" / "manifests" / f"{pod}.yaml").write_text(f"kind: Pod # {pod}\n")
            n.env["FF_API_PORT"] = str(ready.port)
            paths.append((_install(n, script, "renew", lock_etcd), n.env))

        results = _run_all(paths)
        assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
        events = _events(shared)
        windows = []
        for n in ("cp-0", "cp-1"):
            begin = next(t for t, who, m in events if who == n and "kubeadm certs renew all" in m)
            end = next(t for t, who, m in events if who == n and "runs its renewed certificates" in m)
            windows.append((begin, end))
            # Each static pod went away and came back, the API server first; ready before the lock was let go.
            restarted = [m for _, who, m in events if who == n and m.startswith("restarted static pod")]
            assert restarted == [f"restarted static pod {p}" for p in
                                 ("kube-apiserver", "kube-controller-manager", "kube-scheduler")]
        windows.sort()
        assert windows[0][1] < windows[1][0], f"replicas restarted together: {windows}"
        assert ready.hits >= 2
        for n in nodes:
            p = n.root / "k8s" / "pki"
            r = subprocess.run(["openssl", "x509", "-noout", "-checkend", str(90 * 86400), "-in", str(p / "apiserver.crt")],
                               capture_output=True, timeout=10)
            assert r.returncode == 0, "renewed for more than the renewal margin"
            assert sorted(x.name for x in (n.root / "k8s" / "manifests").iterdir()) == [
                "kube-apiserver.yaml", "kube-controller-manager.yaml", "kube-scheduler.yaml"]

        # The next run finds nothing due and touches nothing.
        before = len(_events(shared))
        r = subprocess.run(["/bin/bash", str(paths[0][0])], env=nodes[0].env, capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0 and "control-plane certificates are current" in r.stderr, r.stderr
        assert not [m for _, _, m in _events(shared)[before:] if m.startswith("kubeadm")]
        # And it told etcd which bundle it trusts.
        got = subprocess.run([require_tool("etcdctl"), f"--endpoints={lock_etcd.endpoint}", f"--cacert={lock_etcd.ca}",
                              f"--cert={lock_etcd.cert}", f"--key={lock_etcd.key}", "get", "--print-value-only",
                              f"{trust_prefix('c1')}/cp-x"], capture_output=True, text=True, timeout=10,
                             env={**os.environ, "ETCDCTL_API": "3"})
        assert got.stdout.strip() == hashlib.sha256(lock_etcd.ca.read_bytes()).hexdigest()
    finally:
        ready.close()


def test_an_interrupted_restart_puts_the_parked_manifest_back(lock_etcd: Etcd, shared: Path) -> None:
    node = _node(shared, "cp-0", lock_etcd, shared)
    (node.root / "k8s" / "fleetform-parked").mkdir()
    (node.root / "k8s" / "fleetform-parked" / "kube-apiserver.yaml").write_text("kind: Pod\n")
    path = _install(node, kubeadm_renew_script(KubeadmRenewal("c1", "cp-0", 90 * 24, ENDPOINTS)), "renew", lock_etcd)
    r = subprocess.run(["/bin/bash", str(path)], env=node.env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert (node.root / "k8s" / "manifests" / "kube-apiserver.yaml").exists()
    assert "put back static pod manifest kube-apiserver.yaml" in r.stderr


# ------------------------------------------------------------ static checks


def test_every_renewal_script_and_library_passes_shellcheck(tmp_path: Path) -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    reload = EtcdReload("c1", "etcd-0", "c1/etcd/etcd-0/credentials", "https://10.0.0.10:2379",
                        ("https://etcd-1.c1.fleet.internal:2379", "https://etcd-2.c1.fleet.internal:2379"))
    renewal = KubeadmRenewal("c1", "cp-0", 90 * 24, ENDPOINTS, "c1/control-plane/etcd-client")
    files = [*etcd_reload_files(reload), *kubeadm_renew_files(renewal),
             *token_rotate_files(TokenRotation("c1", "c1/bootstrap-token", 6, ENDPOINTS))]
    texts = [f.content for f in files if not f.path.endswith((".service", ".timer"))]
    texts += [etcd_reload_script(reload), *(cloud_library(s) for s in (
        SecretStore("aws", "eu-west-1", None), SecretStore("gcp", "europe-west1", "fleet-prod-1")))]
    paths = []
    for i, text in enumerate(dict.fromkeys(texts)):
        p = tmp_path / f"s{i}.sh"
        p.write_text(text if text.startswith("#!") else "#!/bin/bash\n" + text)
        paths.append(str(p))
    r = subprocess.run([shellcheck, "--severity=info", "--exclude=SC1091", *paths], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout
    units = {f.path: f.content for f in files if f.path.endswith((".service", ".timer"))}
    assert "OnUnitActiveSec=2h" in units["/etc/systemd/system/bootstrap-token-rotate.timer"]
    assert "ExecStart=/usr/local/lib/fleetform/kubeadm-certs-renew" in units[
        "/etc/systemd/system/kubeadm-certs-renew.service"]
    assert json.dumps(sorted(units))  # every unit is named by its path


def test_an_etcd_member_document_ships_its_reload_timer(tmp_path: Path) -> None:
    """With a credentials secret, the member's document carries the reload script, its
    units and the line that starts the timer; it stays valid cloud-config and every
    script in it passes shellcheck."""
    build = make_etcd_inputs(TestPKI())
    with_reload = render_etcd_member(build("etcd-1", credentials_secret="c1/etcd/etcd-1/credentials"))
    without = render_etcd_member(build("etcd-1"))
    files = {f["path"]: f["content"] for f in yaml.safe_load(with_reload)["write_files"]}
    assert "https://10.0.1.10:2379" in files[ETCD_RELOAD_PATH]  # its own endpoint: the private IP
    assert "https://etcd-0.c1.fleet.internal:2379,https://etcd-2.c1.fleet.internal:2379" in files[ETCD_RELOAD_PATH]
    assert "systemctl enable --now etcd-credentials-reload.timer" in files["/usr/local/lib/fleetform/bootstrap.sh"]
    assert "etcd-credentials-reload" not in without
    assert "PRIVATE KEY" not in with_reload
    cloud_init = shutil.which("cloud-init")
    if cloud_init is not None:
        (tmp_path / "doc.yaml").write_text(with_reload)
        r = subprocess.run([cloud_init, "schema", "--config-file", str(tmp_path / "doc.yaml")],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
    shellcheck = shutil.which("shellcheck")
    if shellcheck is not None:
        paths = []
        for i, (path, text) in enumerate(sorted(files.items())):
            if path.startswith("/usr/local/") and not path.endswith((".service", ".timer")):
                p = tmp_path / f"s{i}.sh"
                p.write_text(text if text.startswith("#!") else "#!/bin/bash\n" + text)
                paths.append(str(p))
        r = subprocess.run([shellcheck, "--severity=info", "--exclude=SC1091", *paths], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stdout


# ------------------------------------------------------------ as a control-plane document installs them


SCRIPTS = ("/usr/local/lib/fleetform/kubeadm-certs-renew", "/usr/local/lib/fleetform/bootstrap-token-rotate")


def _document_files(replica: int, cloud: str = "aws") -> dict[str, str]:
    text = render_control_plane(make_control_plane_inputs(TestPKI())(replica, cloud=cloud))
    return {f["path"]: f["content"] for f in yaml.safe_load(text)["write_files"]}


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_a_control_plane_document_installs_and_starts_both_timers(tmp_path: Path, cloud: str) -> None:
    """Every replica's document writes both scripts, their library (the secret writer is
    cloud.sh's),
    the units, etcdctl of the members' release (checksum-verified), and starts the timers
    once the replica has joined; every script in it, as installed, passes shellcheck."""
    for replica in (0, 2):
        files = _document_files(replica, cloud)
        for path in (*SCRIPTS, "/usr/local/lib/fleetform/renew.sh",
                     *(f"/etc/systemd/system/{u}.{k}" for u in ("kubeadm-certs-renew", "bootstrap-token-rotate")
                       for k in ("service", "timer"))):
            assert path in files, (replica, path)
        boot = files["/usr/local/lib/fleetform/bootstrap.sh"].splitlines()
        enable = [boot.index(f"systemctl enable --now {u}.timer") for u in ("kubeadm-certs-renew", "bootstrap-token-rotate")]
        join = max(i for i, line in enumerate(boot) if "kubeadm init --config" in line or "kubeadm join --config" in line)
        assert min(enable) > join, "the timers start once the replica runs"
        assert any('ff_check_sha256 "$dl/etcd-v3.6.5-linux-amd64.tar.gz"' in line for line in boot)
        assert any(line.strip().startswith("install -m 0755") and '"$dl/etcdctl"' in line and '"$dl/etcd"' not in line
                   for line in boot), "only etcdctl on a control-plane replica"
        rotate = files["/usr/local/lib/fleetform/bootstrap-token-rotate"]
        assert "--ttl 6h" in rotate and "c1/bootstrap-token" in rotate
        renew = files["/usr/local/lib/fleetform/kubeadm-certs-renew"]
        assert f"fleetform/c1/etcd-client-trust/cp-{replica}" in renew
        assert "c1/apiserver-etcd-client-credentials" in renew and "c1/service-account-keys" in renew
        assert "REPLICAS=(cp-0 cp-1 cp-2)" in renew
        assert "https://etcd-0.c1.fleet.internal:2379,https://etcd-1.c1.fleet.internal:2379" in renew
        writer = files["/usr/local/lib/fleetform/cloud.sh"]
        assert ("put-secret-value" if cloud == "aws" else ":addVersion") in writer
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    paths = []
    for i, (path, text) in enumerate(sorted(_document_files(0, cloud).items())):
        if path.startswith("/usr/local/") and not path.endswith((".service", ".timer")):
            p = tmp_path / f"s{i}.sh"
            p.write_text(text if text.startswith("#!") else "#!/bin/bash\n" + text)
            paths.append(str(p))
    r = subprocess.run([shellcheck, "--severity=info", "--exclude=SC1091", *paths], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout


def test_the_installed_token_rotation_runs(lock_etcd: Etcd, shared: Path) -> None:
    """The document's own script (compacted, as on the machine) rotates the token once
    across replicas and leaves a 6h token in the secret store."""
    script = _document_files(1)["/usr/local/lib/fleetform/bootstrap-token-rotate"]
    (shared / "secrets" / "c1").mkdir()
    nodes = [_node(shared, f"cp-{i}", lock_etcd, shared) for i in range(2)]
    results = _run_all([(_install(n, script, "rotate", lock_etcd), n.env) for n in nodes])
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    published = (shared / "secrets" / "c1" / "bootstrap-token").read_text()
    assert [p.name for p in (shared / "tokens").iterdir()] == [published.split(".")[0]]
    assert len([e for e in _events(shared) if "kubeadm token create" in e[2]]) == 1


def test_the_installed_renewal_takes_new_etcd_client_credentials(lock_etcd: Etcd, shared: Path) -> None:
    """`pulumi up` re-issued the API server's etcd client certificate into the secret
    store: the installed timer checks etcd accepts it, installs it and restarts the
    static pods (here nothing of kubeadm's is due)."""
    new = lock_etcd.pki.client("kube-apiserver-etcd-client")
    secret = shared / "secrets" / "c1" / "apiserver-etcd-client-credentials"
    secret.parent.mkdir(parents=True)
    secret.write_text(json.dumps({"ca": lock_etcd.ca.read_text(), "cert": new.cert_pem, "key": new.key_pem}))
    pki = TestPKI()
    ready = ReadyServer(_leaf("kube-apiserver", pki.cluster_ca), shared)
    try:
        node = _node(shared, "cp-1", lock_etcd, shared)
        (node.root / "k8s" / "pki" / "ca.crt").write_text(pki.cluster_ca.cert_pem)
        # The service-account keys the replica runs are the secret store's: nothing due there.
        sa_key = _issue("sa", pki.cluster_ca, ca=False).key_pem
        sa_pub = subprocess.run(["openssl", "pkey", "-pubout"], input=sa_key, capture_output=True, text=True,
                                check=True, timeout=10).stdout
        (node.root / "k8s" / "pki" / "sa.key").write_text(sa_key)
        (node.root / "k8s" / "pki" / "sa.pub").write_text(sa_pub)
        (secret.parent / "service-account-keys").write_text(json.dumps({"key": sa_key, "pub": sa_pub}))
        for pod in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
            (node.root / "k8s" / "manifests" / f"{pod}.yaml").write_text(f"kind: Pod # {pod}\n")
        node.env["FF_API_PORT"] = str(ready.port)
        path = _install(node, _document_files(1)["/usr/local/lib/fleetform/kubeadm-certs-renew"], "renew", lock_etcd)
        r = subprocess.run(["/bin/bash", str(path)], env=node.env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert (node.root / "k8s" / "pki" / "apiserver-etcd-client.crt").read_text() == new.cert_pem
        assert (node.root / "k8s" / "pki" / "apiserver-etcd-client.key").stat().st_mode & 0o777 == 0o600
        events = [m for _, who, m in _events(shared) if who == "cp-1"]
        assert "API server etcd client credentials updated from the secret store" in events
        assert [m for m in events if m.startswith("restarted static pod")] == [
            f"restarted static pod {p}" for p in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")]
        assert not [m for m in events if m.startswith("kubeadm certs renew")]
    finally:
        ready.close()
