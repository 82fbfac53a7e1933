"""Recording stand-ins for what an in-place upgrade calls on a node (kubeadm, kubectl,
systemctl, apt-get, apt-mark, curl, gpg), over one fake cluster in a directory.

Layout of the fake (``FAKE``): ``cluster_version`` (kubeadm-config's version) and, per
node, ``nodes/<name>/{role,pool,kubelet,ready,apiserver,pkg_<package>}``; flags
``etcd_unhealthy``, ``api_down`` and ``nodes/<name>/stays_not_ready`` make health fail.
Every mutating call is appended to ``log`` as ``<node> <command...>``. The node a
stand-in runs on is ``FAKE_NODE``.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_COMMON = r'''
import json, os, sys
from pathlib import Path
FAKE = Path(os.environ["FAKE"])
NODE = os.environ["FAKE_NODE"]
me = FAKE / "nodes" / NODE
def log(*words):
    with open(FAKE / "log", "a") as f:
        f.write(" ".join([NODE, *words]) + "\n")
def read(p, default=""):
    return p.read_text().strip() if p.exists() else default
'''

STANDINS = {
    "kubectl": _COMMON + r'''
args = sys.argv[1:]
while args and args[0] in ("--server", "--certificate-authority", "--token"):
    args = args[2:]
if args[:2] == ["get", "--raw"]:
    path = args[2]
    if (FAKE / "api_down").exists():
        sys.exit(1)
    if path == "/readyz/etcd" and (FAKE / "etcd_unhealthy").exists():
        sys.exit(1)
    print("ok")
elif args[:4] == ["get", "nodes", "-o", "json"]:
    items = []
    for n in sorted((FAKE / "nodes").iterdir()):
        labels = {"node.fleetform.io/pool": read(n / "pool")} if read(n / "role") == "worker" else \
            {"node-role.kubernetes.io/control-plane": ""}
        items.append({"metadata": {"name": n.name, "labels": labels},
                      "status": {"nodeInfo": {"kubeletVersion": "v" + read(n / "kubelet")},
                                 "conditions": [{"type": "Ready", "status": read(n / "ready")}]}})
    print(json.dumps({"items": items}))
elif args[:4] == ["-n", "kube-system", "get", "configmap"]:
    print("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v"
          + read(FAKE / "cluster_version"))
else:
    sys.exit("kubectl stand-in: unexpected " + " ".join(args))
''',
    "kubeadm": _COMMON + r'''
args = sys.argv[1:]
installed = read(me / "pkg_kubeadm", read(me / "kubelet"))
if args[:2] == ["upgrade", "apply"]:
    want = args[2].lstrip("v")
    if installed != want:
        sys.exit(f"kubeadm {installed} cannot upgrade to {want}")
    log("kubeadm", "upgrade", "apply", want)
    (FAKE / "cluster_version").write_text(want)
    (me / "apiserver").write_text(want)
elif args == ["upgrade", "node"]:
    log("kubeadm", "upgrade", "node", installed)
    if read(me / "role") == "control-plane":
        (me / "apiserver").write_text(read(FAKE / "cluster_version"))
else:
    sys.exit("kubeadm stand-in: unexpected " + " ".join(args))
''',
    "systemctl": _COMMON + r'''
args = sys.argv[1:]
if args == ["restart", "kubelet"]:
    log("systemctl", "restart", "kubelet")
    (me / "kubelet").write_text(read(me / "pkg_kubelet", read(me / "kubelet")))
    (me / "ready").write_text("False" if (me / "stays_not_ready").exists() else "True")
elif args != ["daemon-reload"]:
    sys.exit("systemctl stand-in: unexpected " + " ".join(args))
''',
    "apt-get": _COMMON + r'''
args = sys.argv[1:]
if args[0] == "install":
    for a in args[1:]:
        if "=" in a:
            name, version = a.split("=", 1)
            (me / f"pkg_{name}").write_text(version.removesuffix("-*"))
            log("apt-get", "install", a)
''',
    "apt-mark": _COMMON + "\n",
    "curl": _COMMON + r'''
args = sys.argv[1:]
url = args[-1]
if url.endswith("/health"):
    print('{"health":"false"}' if (FAKE / "etcd_unhealthy").exists() else '{"health":"true"}')
elif "-o" in args:
    Path(args[args.index("-o") + 1]).write_text("key")
''',
    "gpg": _COMMON + r'''
args = sys.argv[1:]
Path(args[args.index("-o") + 1]).write_text("keyring")
''',
}


@dataclass
class FakeCluster:
    root: Path
    script: Path

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    def node(self, name: str) -> Path:
        return self.root / "nodes" / name

    def read(self, name: str, key: str) -> str:
        p = self.node(name) / key
        return p.read_text().strip() if p.exists() else ""

    def log(self) -> list[str]:
        p = self.root / "log"
        return p.read_text().splitlines() if p.exists() else []

    def run(self, action: str, node: str, *, wait: int = 0) -> subprocess.CompletedProcess[str]:
        role = self.read(node, "role")
        args = [action, node, role, *([self.read(node, "pool")] if role == "worker" else [])]
        me = self.node(node)
        env = {
            "PATH": f"{self.bin}:{os.environ['PATH']}",
            "FAKE": str(self.root), "FAKE_NODE": node,
            "FF_UPGRADE_STATE": str(me / "state"), "FF_UPGRADE_TOKEN": str(self.root / "token"),
            "FF_UPGRADE_WAIT": str(wait), "FF_UPGRADE_INTERVAL": "1",
            "FF_PKI_DIR": str(me / "pki"), "FF_WORKER_CA": str(self.root / "ca.crt"),
            "FF_APT_KEYRING": str(me / "keyrings" / "k8s.gpg"), "FF_APT_SOURCE": str(me / "k8s.list"),
        }
        return subprocess.run(["bash", str(self.script), *args], env=env, capture_output=True, text=True,
                              timeout=60, check=False)


def make_cluster(root: Path, script_text: str, version: str, replicas: Iterable[str],
                 pools: dict[str, list[str]]) -> FakeCluster:
    (root / "bin").mkdir(parents=True)
    for name, body in STANDINS.items():
        path = root / "bin" / name
        path.write_text("#!/usr/bin/env python3\n" + body)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    (root / "token").write_text("job-token")
    (root / "ca.crt").write_text("ca")
    (root / "cluster_version").write_text(version)
    for r in replicas:
        d = root / "nodes" / r
        (d / "pki" / "etcd").mkdir(parents=True)
        for f in ("ca.crt", "apiserver-etcd-client.crt", "apiserver-etcd-client.key", "etcd/ca.crt"):
            (d / "pki" / f).write_text("pem")
        for k, v in {"role": "control-plane", "kubelet": version, "apiserver": version, "ready": "True"}.items():
            (d / k).write_text(v)
    for pool, nodes in pools.items():
        for n in nodes:
            d = root / "nodes" / n
            d.mkdir(parents=True)
            for k, v in {"role": "worker", "pool": pool, "kubelet": version, "ready": "True"}.items():
                (d / k).write_text(v)
    script = root / "upgrade.sh"
    script.write_text(script_text)
    return FakeCluster(root, script)


def controller_roll(fake: FakeCluster, plans: list[list[str]]) -> tuple[bool, list[str]]:
    """What the system-upgrade-controller does with concurrency-1 Plans, in the order the
    test gives: per node, the prepare container (our gate), the drain, then the upgrade
    container; a failed container keeps the node and nothing else of the Plan starts.
    Returns whether every node finished, and the drained nodes in order."""
    drained: list[str] = []
    for nodes in plans:
        for node in nodes:
            if fake.run("gate", node).returncode != 0:
                return False, drained
            drained.append(node)
            if fake.run("upgrade", node).returncode != 0:
                return False, drained
    return True, drained
