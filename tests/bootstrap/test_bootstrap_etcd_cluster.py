"""Real etcd clusters started from the rendered member documents, over mutual TLS.

What the tests change in what was rendered, and why (everything else is used as is):

* Addresses: each member's private IP and DNS name become 127.0.0.1 with ports of its
  own (client, peer, metrics), because a test may only listen on loopback and has no DNS
  zone; N members on one host cannot share 2379/2380/2381.
* Paths: ``/etc/etcd/pki/``, ``/var/lib/etcd``, ``/usr/local/lib/fleetform/`` and
  ``/usr/local/bin/etcd*`` become per-member temporary directories and the installed
  binaries. ``assert_only_substituted`` proves nothing else differs.
* The object store: the rendered snapshot/restore scripts run with a stand-in
  ``cloud.sh`` whose put/get copy files into a local "bucket" directory.

The PKI is real (``cryptography``): fleet root CA -> the cluster's etcd CA -> per-member
server and peer certificates (SANs: the member's DNS name and 127.0.0.1, standing in for
its private IP) and client certificates; plus a second cluster's etcd CA under the same
root, whose client certificate must be refused.

etcd 3.4 (Debian, here) versus 3.6 (what nodes install):

* Restore: 3.6 renders ``etcdutl snapshot restore ... --bump-revision --mark-compacted``;
  3.4 has no etcdutl and no such flags, so inputs rendered with the installed version
  use ``etcdctl snapshot restore`` with the same name/cluster/token/peer-URL flags.
* Config keys: the file holds only keys both versions define. Neither version rejects an
  unknown key, so ``test_bootstrap_etcd_config`` pins the key set.
* Defaults: pre-vote is off by default in 3.4 and on in 3.6; the file sets it explicitly.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from bootstrap_helpers import (
    Issued,
    TestPKI,
    free_ports,
    make_etcd_inputs,
    member_list,
    require_tool,
    substitute,
)

from fleetform.bootstrap import (
    EtcdBackup,
    EtcdMember,
    EtcdNodeInputs,
    ObjectLocation,
    render_etcd_member,
)
from fleetform.bootstrap.etcd import etcd_config

pytestmark = pytest.mark.integration

BUCKET = "fleet-backups"
STUB_CLOUD_SH = """# test stand-in for cloud.sh: the "bucket" is a local directory
ff_cloud_prepare() { :; }
ff_secret_read() { return 1; }
ff_object_put() { mkdir -p "$(dirname "$FF_TEST_BUCKETS/$2/$3")" && cp "$1" "$FF_TEST_BUCKETS/$2/$3"; }
ff_object_get() { cp "$FF_TEST_BUCKETS/$1/$2" "$3"; }
"""


@dataclass(frozen=True)
class Tools:
    etcd: str
    etcdctl: str
    curl: str
    version: str


@pytest.fixture(scope="module")
def tools() -> Tools:
    etcd = require_tool("etcd")
    etcdctl = require_tool("etcdctl")
    curl = require_tool("curl")
    out = subprocess.run([etcd, "--version"], capture_output=True, text=True, timeout=10, check=True).stdout
    match = re.search(r"etcd Version: (\d+\.\d+\.\d+)", out)
    assert match, out
    return Tools(etcd, etcdctl, curl, match.group(1))


def assert_only_substituted(rendered: Any, used: Any, mapping: Sequence[tuple[str, str]]) -> None:
    """``used`` has ``rendered``'s shape and values, except strings holding a substituted address/path."""
    if isinstance(rendered, dict):
        assert isinstance(used, dict) and rendered.keys() == used.keys()
        for key in rendered:
            assert_only_substituted(rendered[key], used[key], mapping)
    elif isinstance(rendered, list):
        assert isinstance(used, list) and len(rendered) == len(used)
        for r, u in zip(rendered, used, strict=True):
            assert_only_substituted(r, u, mapping)
    elif isinstance(rendered, str) and rendered != used:
        assert any(old in rendered for old, _ in mapping) and substitute(rendered, mapping) == used
    else:
        assert rendered == used


@dataclass
class Member:
    inputs: EtcdNodeInputs
    server: Issued
    peer: Issued
    client_port: int
    peer_port: int
    metrics_port: int
    root: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return self.inputs.member_name

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.client_port}"


@dataclass
class LocalCluster:
    """N etcd processes on loopback, each from its own rendered document."""

    tools: Tools
    members: list[Member]
    base: Path
    client: Issued
    ca_pem: str
    env: dict[str, str]
    log: list[str] = field(default_factory=list)

    def mapping(self, member: Member) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = []
        for m in self.members:
            me = m.inputs.member
            for host in (me.dns_name, me.ip):
                pairs.append((f"https://{host}:2380", f"https://127.0.0.1:{m.peer_port}"))
                pairs.append((f"https://{host}:2379", f"https://127.0.0.1:{m.client_port}"))
        pairs += [
            ("http://127.0.0.1:2381", f"http://127.0.0.1:{member.metrics_port}"),
            ("/etc/etcd/pki/", f"{member.root}/pki/"),
            ("/var/lib/etcd", f"{member.root}/var-lib-etcd"),
            ("/usr/local/lib/fleetform/", f"{member.root}/lib/"),
            ("/usr/local/bin/etcdctl", self.tools.etcdctl),
            ("/usr/local/bin/etcd-snapshot-save", f"{member.root}/etcd-snapshot-save"),
        ]
        return pairs

    def materialize(self, member: Member) -> None:
        """Write what the member's document writes (substituted), plus the fetched keys."""
        document = yaml.safe_load(render_etcd_member(member.inputs))
        files = {f["path"]: f["content"] for f in document["write_files"]}
        mapping = self.mapping(member)
        rendered = yaml.safe_load(files["/etc/etcd/etcd.conf.yml"])
        assert rendered == etcd_config(member.inputs)
        used = substitute(rendered, mapping)
        assert_only_substituted(rendered, used, mapping)
        (member.root / "pki").mkdir()
        (member.root / "var-lib-etcd").mkdir(mode=0o700)
        (member.root / "etcd.conf.yml").write_text(yaml.safe_dump(used))
        for name in ("ca.crt", "server.crt", "peer.crt", "client.crt"):
            (member.root / "pki" / name).write_text(files[f"/etc/etcd/pki/{name}"])
        # On a node these come from the secret store (tested in test_bootstrap_shell).
        keys = (("server.key", member.server), ("peer.key", member.peer), ("client.key", self.client))
        for name, issued in keys:
            pem = issued.key_pem
            path = member.root / "pki" / name
            path.write_text(pem)
            path.chmod(0o600)
        for path, content in files.items():
            if path.startswith("/usr/local/") and path != "/usr/local/lib/fleetform/cloud.sh":
                target = Path(substitute(path, mapping))
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(substitute(content, mapping))
                target.chmod(0o755)

    def start(self, *names: str) -> None:
        for m in self.by_name(*names):
            assert m.proc is None or m.proc.poll() is not None, f"{m.name} is already running"
            log = open(m.root / "etcd.log", "ab")  # noqa: SIM115 - owned by the process
            m.proc = subprocess.Popen(
                [self.tools.etcd, "--config-file", str(m.root / "etcd.conf.yml")],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
            log.close()

    def stop(self, *names: str) -> None:
        for m in self.by_name(*names):
            if m.proc is not None and m.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(m.proc.pid, signal.SIGTERM)
                try:
                    m.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(m.proc.pid, signal.SIGKILL)
                    m.proc.wait(timeout=10)
            m.proc = None

    def kill_all(self) -> None:
        for m in self.members:
            if m.proc is not None and m.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(m.proc.pid, signal.SIGKILL)
                m.proc.wait(timeout=10)
            m.proc = None

    def by_name(self, *names: str) -> list[Member]:
        wanted = set(names) or {m.name for m in self.members}
        return [m for m in self.members if m.name in wanted]

    def healthy(self, m: Member) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{m.metrics_port}/health", timeout=1) as r:
                return json.load(r).get("health") == "true"
        except OSError:
            return False

    def wait_healthy(self, *names: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        pending = self.by_name(*names)
        while pending:
            for m in pending:
                if m.proc is not None and m.proc.poll() is not None:
                    raise AssertionError(f"{m.name} exited:\n{self.tail(m, 3000)}")
            pending = [m for m in pending if not self.healthy(m)]
            if pending and time.monotonic() > deadline:
                raise AssertionError(f"not healthy after {timeout}s: {[m.name for m in pending]}\n{self.tail(pending[0], 3000)}")
            time.sleep(0.2)

    def tail(self, m: Member, chars: int = 200_000) -> str:
        path = m.root / "etcd.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def etcdctl(
        self,
        *args: str,
        members: Sequence[Member] | None = None,
        cert: Issued | str | None = "default",
        timeout: str = "3s",
    ) -> subprocess.CompletedProcess[str]:
        endpoints = ",".join(m.endpoint for m in (members if members is not None else self.members))
        argv = [self.tools.etcdctl, f"--endpoints={endpoints}", f"--cacert={self.base}/ca.crt"]
        client = self.client if cert == "default" else cert
        if isinstance(client, Issued):
            argv += [f"--cert={self.base}/{id(client)}.crt", f"--key={self.base}/{id(client)}.key"]
            self.write_client(client)
        argv += ["--dial-timeout=2s", f"--command-timeout={timeout}", *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=20, env=self.env)

    def write_client(self, client: Issued) -> None:
        cert = self.base / f"{id(client)}.crt"
        if not cert.exists():
            cert.write_text(client.cert_pem)
            key = self.base / f"{id(client)}.key"
            key.write_text(client.key_pem)
            key.chmod(0o600)

    def put(self, key: str, value: str, members: Sequence[Member] | None = None) -> None:
        result = self.etcdctl("put", key, value, members=members)
        assert result.returncode == 0, result.stderr

    def get(self, key: str, member: Member) -> str:
        result = self.etcdctl("get", key, "--print-value-only", members=[member])
        assert result.returncode == 0, f"{member.name}: {result.stderr}"
        return result.stdout.strip()

    def leader(self, timeout: float = 10) -> Member:
        """The member every running member agrees is the leader (waits out an election)."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.etcdctl("endpoint", "status", "--write-out=json", members=self.running())
            statuses = json.loads(result.stdout) if result.returncode == 0 else []
            leader_ids = {s["Status"]["leader"] for s in statuses}
            if len(statuses) == len(self.running()) and len(leader_ids) == 1:
                (leader_id,) = leader_ids
                for s in statuses:
                    if s["Status"]["header"]["member_id"] == leader_id:
                        return next(m for m in self.members if m.endpoint == s["Endpoint"])
            assert time.monotonic() < deadline, f"no agreed leader: {result.stdout}{result.stderr}"
            time.sleep(0.3)

    def running(self) -> list[Member]:
        return [m for m in self.members if m.proc is not None and m.proc.poll() is None]

    def script(self, member: Member, path: str, *args: str) -> subprocess.CompletedProcess[str]:
        target = substitute(path, self.mapping(member))
        return subprocess.run(["/bin/bash", target, *args], capture_output=True, text=True, timeout=60, env=self.env)


@pytest.fixture
def make_cluster(tools: Tools, pki: TestPKI, tmp_path: Path) -> Iterator[Callable[..., LocalCluster]]:
    clusters: list[LocalCluster] = []
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # Keep the scripts' `logger` calls out of the host's syslog.
    (bin_dir / "logger").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "logger").chmod(0o755)
    buckets = tmp_path / "buckets"
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "ETCDCTL_API": "3",
        "FF_TEST_BUCKETS": str(buckets),
        "FF_RETRY_ATTEMPTS": "2",
        "FF_RETRY_BASE_DELAY": "0",
    }

    def build(
        cluster: str,
        n: int,
        *,
        restore_from: ObjectLocation | None = None,
    ) -> LocalCluster:
        base = tmp_path / cluster
        base.mkdir()
        build_inputs = make_etcd_inputs(pki)
        members_spec: list[EtcdMember] = member_list(n, zone=f"{cluster}.fleet.internal")
        ports = free_ports(3 * n)
        client = pki.client("etcd-test-client")
        members = []
        for i, spec in enumerate(members_spec):
            server, peer = pki.etcd_member(spec.name, spec.dns_name, "127.0.0.1")
            inputs = build_inputs(
                spec.name,
                cluster=cluster,
                members=members_spec,
                version=tools.version,
                certs=(server.cert_pem, peer.cert_pem),
                client_cert_pem=client.cert_pem,
                backup=EtcdBackup(BUCKET, "etcd"),
                restore_from=restore_from,
            )
            root = base / spec.name
            (root / "lib").mkdir(parents=True)
            # Stand-in cloud library; lib.sh itself comes from the rendered document.
            (root / "lib" / "cloud.sh").write_text(STUB_CLOUD_SH)
            members.append(Member(inputs, server, peer, ports[3 * i], ports[3 * i + 1], ports[3 * i + 2], root))
        (base / "ca.crt").write_text(pki.etcd_ca.cert_pem)
        local = LocalCluster(tools, members, base, client, pki.etcd_ca.cert_pem, env)
        for m in members:
            local.materialize(m)
        clusters.append(local)
        return local

    try:
        yield build
    finally:
        for c in clusters:
            c.kill_all()


@pytest.mark.parametrize("size", [3, 5])
def test_cluster_forms_tolerates_minority_loss_and_recovers(
    make_cluster: Callable[..., LocalCluster], pki: TestPKI, size: int
) -> None:
    cluster = make_cluster(f"c{size}", size)
    cluster.start()
    cluster.wait_healthy()

    # Formed: every member healthy over mutual TLS with the client certificate.
    health = cluster.etcdctl("endpoint", "health")
    assert health.returncode == 0, health.stderr
    assert (health.stdout + health.stderr).count("is healthy") == size
    members = cluster.etcdctl("member", "list", "--write-out=json")
    assert {m["name"] for m in json.loads(members.stdout)["members"]} == {m.name for m in cluster.members}

    # Refused: no client certificate, and a certificate from another cluster's etcd CA
    # (same fleet root) -- trusted-ca-file holds only this cluster's etcd CA.
    # (etcdctl retries a refused handshake until its deadline, so keep that short.)
    assert cluster.etcdctl("get", "x", cert=None, timeout="1s").returncode != 0
    intruder = pki.client("intruder", pki.other_etcd_ca)
    assert cluster.etcdctl("get", "x", cert=intruder, timeout="1s").returncode != 0
    # ...and refused by the TLS handshake itself, not by some timeout:
    logs = "".join(cluster.tail(m) for m in cluster.members)
    assert "client didn't provide a certificate" in logs
    assert "certificate signed by unknown authority" in logs
    first = cluster.members[0]
    plain = subprocess.run(
        [cluster.tools.curl, "-sS", "--max-time", "5", "--cacert", f"{cluster.base}/ca.crt", f"{first.endpoint}/health"],
        capture_output=True, text=True, timeout=15,
    )
    assert plain.returncode != 0, plain.stdout
    # The control plane's wait loop greps /health for this, with its client certificate.
    cluster.write_client(cluster.client)
    with_cert = subprocess.run(
        [cluster.tools.curl, "-fsS", "--max-time", "5", "--cacert", f"{cluster.base}/ca.crt",
         "--cert", f"{cluster.base}/{id(cluster.client)}.crt", "--key", f"{cluster.base}/{id(cluster.client)}.key",
         f"{first.endpoint}/health"],
        capture_output=True, text=True, timeout=15,
    )
    assert '"health":"true"' in with_cert.stdout, with_cert.stderr

    # A write is readable from every member.
    cluster.put("/fleet/before", "v0")
    for m in cluster.members:
        assert cluster.get("/fleet/before", m) == "v0"

    # Lose (size-1)/2 members, the leader among them: reads and writes still work.
    tolerated = (size - 1) // 2
    leader = cluster.leader()
    victims = [leader, *[m for m in cluster.members if m is not leader][: tolerated - 1]]
    cluster.stop(*(m.name for m in victims))
    survivors = cluster.running()
    assert len(survivors) == size - tolerated
    deadline = time.monotonic() + 20
    while cluster.etcdctl("put", "/fleet/degraded", "v1", members=survivors).returncode != 0:
        assert time.monotonic() < deadline, "no leader elected among the surviving majority"
        time.sleep(0.5)
    for m in survivors:
        assert cluster.get("/fleet/degraded", m) == "v1"
        assert cluster.get("/fleet/before", m) == "v0"

    # One more: quorum lost, writes (and linearizable reads) fail instead of diverging.
    extra = survivors[0]
    cluster.stop(extra.name)
    rest = cluster.running()
    failed = cluster.etcdctl("put", "/fleet/no-quorum", "v2", members=rest, timeout="2s")
    assert failed.returncode != 0
    assert cluster.etcdctl("get", "/fleet/before", members=rest, timeout="2s").returncode != 0

    # Restart everything stopped: the cluster recovers with every key intact everywhere.
    cluster.start(*(m.name for m in [*victims, extra]))
    cluster.wait_healthy()
    deadline = time.monotonic() + 20
    while cluster.etcdctl("put", "/fleet/after", "v3").returncode != 0:
        assert time.monotonic() < deadline, "cluster did not recover its quorum"
        time.sleep(0.5)
    for m in cluster.members:
        assert cluster.get("/fleet/before", m) == "v0"
        assert cluster.get("/fleet/degraded", m) == "v1"
        assert cluster.get("/fleet/after", m) == "v3"


def _seeded_cluster(make_cluster: Callable[..., LocalCluster], name: str, prefix: str,
                    count: int) -> tuple[LocalCluster, dict[str, str]]:
    """A healthy 3-member cluster holding `count` keys under `prefix`, and those keys."""
    cluster = make_cluster(name, 3)
    cluster.start()
    cluster.wait_healthy()
    keys = {f"{prefix}/key-{i}": f"value-{i}" for i in range(count)}
    for k, v in keys.items():
        cluster.put(k, v)
    return cluster, keys


def test_snapshot_save_and_restore_into_a_fresh_cluster(make_cluster: Callable[..., LocalCluster], tmp_path: Path) -> None:
    source, keys = _seeded_cluster(make_cluster, "src", "/registry/fleet", 20)

    # The timer's mode: every member runs the rendered script, only the leader uploads.
    buckets = tmp_path / "buckets" / BUCKET / "etcd" / "src"
    for m in source.members:
        run = source.script(m, "/usr/local/bin/etcd-snapshot-save", "--if-leader")
        assert run.returncode == 0, run.stderr
    uploads = sorted(buckets.iterdir())
    leader = source.leader()
    assert [p.name.endswith(f"-{leader.name}.db") for p in uploads] == [True], uploads
    snapshot_key = f"etcd/src/{uploads[0].name}"

    # The restored cluster: new members whose first boot runs the rendered restore script.
    source.kill_all()
    restored = make_cluster("dst", 3, restore_from=ObjectLocation(BUCKET, snapshot_key))
    for m in restored.members:
        run = restored.script(m, "/usr/local/lib/fleetform/etcd-restore")
        assert run.returncode == 0, run.stderr
        assert (m.root / "var-lib-etcd" / "data" / "member").is_dir()
        # A second run (a reboot, a re-attached disk) never restores over existing data.
        again = restored.script(m, "/usr/local/lib/fleetform/etcd-restore")
        assert again.returncode == 0 and "not restoring over it" in again.stderr
    restored.start()
    restored.wait_healthy()
    members = json.loads(restored.etcdctl("member", "list", "--write-out=json").stdout)["members"]
    assert sorted(m["name"] for m in members) == ["etcd-0", "etcd-1", "etcd-2"]
    for m in restored.members:
        for k, v in keys.items():
            assert restored.get(k, m) == v
    restored.put("/registry/fleet/after-restore", "ok")


STUB_AWS_CLI = r"""#!/bin/bash
# test stand-in for the AWS CLI: s3api put-object [--if-none-match '*'] and s3 cp, into
# $FF_TEST_BUCKETS/<bucket>/<key>, with S3's answer to a create-only write of an existing key.
set -euo pipefail
if [ "$1 $2" = "s3api put-object" ]; then
  shift 2
  bucket= key= body= once=
  while [ $# -gt 0 ]; do
    case "$1" in
      --bucket) bucket=$2; shift 2 ;; --key) key=$2; shift 2 ;; --body) body=$2; shift 2 ;;
      --if-none-match) once=$2; shift 2 ;; --region) shift 2 ;; *) echo "unexpected $1" >&2; exit 2 ;;
    esac
  done
  dest="$FF_TEST_BUCKETS/$bucket/$key"
  if [ "$once" = "*" ] && [ -e "$dest" ]; then
    echo "An error occurred (PreconditionFailed) when calling the PutObject operation: At least one of the pre-conditions you specified did not hold" >&2
    exit 254
  fi
  mkdir -p "$(dirname "$dest")" && cp "$body" "$dest"
elif [ "$1 $2" = "s3 cp" ]; then
  src=${@: -2:1} url=${@: -1}
  dest="$FF_TEST_BUCKETS/${url#s3://}"
  mkdir -p "$(dirname "$dest")" && cp "$src" "$dest"
else
  echo "unexpected aws $*" >&2; exit 2
fi
"""


def test_migration_snapshot_job_and_restore_into_the_target(
        make_cluster: Callable[..., LocalCluster], tools: Tools, pki: TestPKI, tmp_path: Path) -> None:
    """A migration with `data: etcd-snapshot`: the source's rendered snapshot script (the
    Job's, fleetform/bootstrap/snapshots.py) against a real seeded cluster, then the target's members
    restore that one object from their rendered first boot."""
    import hashlib

    from fleetform.bootstrap.snapshots import snapshot_script
    from fleetform.plan.snapshots import SnapshotTransfer

    source, keys = _seeded_cluster(make_cluster, "mover", "/registry/moving", 25)
    t = SnapshotTransfer(
        cluster="mover", source_key="mover-aws-eu-west-1", target_key="mover-gcp-europe-west1",
        target_cloud="aws", target_region="eu-west-1",
        endpoints=tuple(f"https://{m.inputs.member.dns_name}:2379" for m in source.members),
        etcd_version=tools.version, etcd_sha256=None, key="migration/mover-aws-eu-west-1.db",
        periodic_prefix="periodic/mover-aws-eu-west-1/", schedule="*/30 * * * *", retention_days=14,
        grant="etcd-snapshot-mover")
    # What the Job mounts: the control plane's etcd CA, client certificate and key.
    pki_dir = tmp_path / "cp-pki"
    pki_dir.mkdir()
    (pki_dir / "etcd-ca.crt").write_text(pki.etcd_ca.cert_pem)
    (pki_dir / "etcd-client.crt").write_text(source.client.cert_pem)
    (pki_dir / "etcd-client.key").write_text(source.client.key_pem)
    script = tmp_path / "snapshot.sh"
    script.write_text(substitute(snapshot_script(t), source.mapping(source.members[0])))
    bin_dir = Path(source.env["PATH"].split(":")[0])
    (bin_dir / "aws").write_text(STUB_AWS_CLI)
    (bin_dir / "aws").chmod(0o755)
    env = {**source.env, "FF_ETCDCTL": tools.etcdctl, "FF_PKI": str(pki_dir)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["/bin/bash", str(script), *args], capture_output=True, text=True, timeout=120, env=env)

    # The first member is down: the script takes the snapshot from the next one.
    source.stop("etcd-0")
    first = run("once", BUCKET)
    assert first.returncode == 0, first.stderr
    assert "did not give a snapshot" in first.stderr
    obj = tmp_path / "buckets" / BUCKET / t.key
    digest = hashlib.sha256(obj.read_bytes()).hexdigest()
    # Written once: a retried Job (new writes meanwhile) keeps the object every target
    # member restores.
    source.put("/registry/moving/late", "after-the-snapshot", members=source.running())
    again = run("once", BUCKET)
    assert again.returncode == 0 and "exists already: keeping it" in again.stderr
    assert hashlib.sha256(obj.read_bytes()).hexdigest() == digest
    periodic = run("periodic", BUCKET)
    assert periodic.returncode == 0, periodic.stderr
    assert len(list((tmp_path / "buckets" / BUCKET / "periodic" / t.source_key).iterdir())) == 1
    source.kill_all()

    target = make_cluster("mover-target", 3, restore_from=ObjectLocation(BUCKET, t.key))
    for m in target.members:
        result = target.script(m, "/usr/local/lib/fleetform/etcd-restore")
        assert result.returncode == 0, result.stderr
    target.start()
    target.wait_healthy()
    for m in target.members:
        for k, v in keys.items():
            assert target.get(k, m) == v
        # The snapshot is from before the late write: exactly that snapshot, on every member.
        assert target.get("/registry/moving/late", m) == ""
    target.put("/registry/moving/after-move", "ok")
