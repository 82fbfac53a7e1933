"""The container runtime of Kubernetes nodes: a pinned containerd 2.x and runc from
their upstream releases, each checked against its pinned sha256 before it is used.

Ubuntu 24.04 ships containerd 1.7, which the Kubernetes releases in our window no
longer support; the release tarball (``bin/containerd``, ``bin/containerd-shim-runc-v2``,
``bin/ctr``) goes to ``/usr/local`` and runc to ``/usr/local/sbin``. The versions and
digests are pinned in the versions module (``RuntimePin``); the unit and the config are
written by cloud-init (``runtime_files``), the install is a block of the boot script
(``runtime_install_lines``) that is skipped when the pinned versions are already in
place, so a restarted boot does not download again.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from fleetform.bootstrap.document import File
from fleetform.catalog.versions import (
    CONTAINERD_SHA256,
    CONTAINERD_VERSION,
    RUNC_SHA256,
    RUNC_VERSION,
)

CONTAINERD_CONFIG = "/etc/containerd/config.toml"
CONTAINERD_UNIT = "/etc/systemd/system/containerd.service"
CONTAINERD_BIN = "/usr/local/bin/containerd"
RUNC_BIN = "/usr/local/sbin/runc"
CONTAINERD_SOCKET = "/run/containerd/containerd.sock"
# What the last successful install put in place (``containerd=<v> runc=<v>``).
RUNTIME_STAMP = "/var/lib/fleetform/runtime-installed"
DOWNLOAD_DIR = "/run/fleetform/runtime"
ARCH = "amd64"  # the node images are x86_64 (catalog)


@dataclass(frozen=True)
class RuntimePin:
    """One pinned release asset: version, URL, and the sha256 of the file at that URL."""

    version: str
    url: str
    sha256: str


@dataclass(frozen=True)
class RuntimePins:
    containerd: RuntimePin
    runc: RuntimePin

    @property
    def stamp(self) -> str:
        return f"containerd={self.containerd.version} runc={self.runc.version}"


def containerd_release_url(version: str, arch: str = ARCH) -> str:
    return (f"https://github.com/containerd/containerd/releases/download/v{version}/"
            f"containerd-{version}-linux-{arch}.tar.gz")


def runc_release_url(version: str, arch: str = ARCH) -> str:
    return f"https://github.com/opencontainers/runc/releases/download/v{version}/runc.{arch}"


# containerd 2.x reads config version 3. Only what differs from the defaults: the
# systemd cgroup driver, which the kubelet uses (kubeadm's default).
CONFIG_TOML = """\
version = 3

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  runtime_type = 'io.containerd.runc.v2'

  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
    BinaryName = '{runc}'
    SystemdCgroup = true
"""

# The upstream containerd.service, with the binary where the tarball puts it.
UNIT = """\
[Unit]
Description=containerd container runtime
Documentation=https://containerd.io
After=network.target local-fs.target dbus.service

[Service]
ExecStartPre=-/sbin/modprobe overlay
ExecStart={containerd}
Type=notify
Delegate=yes
KillMode=process
Restart=always
RestartSec=5
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
OOMScoreAdjust=-999

[Install]
WantedBy=multi-user.target
"""


PINNED = RuntimePins(
    RuntimePin(CONTAINERD_VERSION, containerd_release_url(CONTAINERD_VERSION), CONTAINERD_SHA256),
    RuntimePin(RUNC_VERSION, runc_release_url(RUNC_VERSION), RUNC_SHA256),
)


def containerd_config() -> str:
    return CONFIG_TOML.format(runc=RUNC_BIN)


def containerd_unit() -> str:
    return UNIT.format(containerd=CONTAINERD_BIN)


def runtime_files() -> list[File]:
    return [File(CONTAINERD_CONFIG, containerd_config()), File(CONTAINERD_UNIT, containerd_unit())]


def runtime_install_lines(pins: RuntimePins = PINNED) -> list[str]:
    """Install (once) and start the pinned containerd and runc; fail the boot on a
    digest mismatch, before anything is unpacked or run."""
    c, r = pins.containerd, pins.runc
    tarball, runc = f"{DOWNLOAD_DIR}/containerd.tar.gz", f"{DOWNLOAD_DIR}/runc"
    return [
        f"# containerd {c.version} and runc {r.version} from their releases, each checked against",
        "# the sha256 pinned in the versions module before it is unpacked or installed.",
        f"if [ \"$(cat {RUNTIME_STAMP} 2>/dev/null)\" != {shlex.quote(pins.stamp)} ]; then",
        f"  install -d -m 0700 {DOWNLOAD_DIR}",
        f'  ff_retry "download containerd {c.version}" curl -fsSL --max-time 300 -o {tarball} {shlex.quote(c.url)}',
        f"  ff_check_sha256 {tarball} {c.sha256}",
        f'  ff_retry "download runc {r.version}" curl -fsSL --max-time 300 -o {runc} {shlex.quote(r.url)}',
        f"  ff_check_sha256 {runc} {r.sha256}",
        f"  tar -C /usr/local -xzf {tarball} bin/",
        f"  install -m 0755 {runc} {RUNC_BIN}",
        f"  rm -rf {DOWNLOAD_DIR}",
        f"  install -d -m 0755 {RUNTIME_STAMP.rsplit('/', 1)[0]}",
        f"  echo {shlex.quote(pins.stamp)} >{RUNTIME_STAMP}",
        "fi",
        "systemctl daemon-reload",
        "systemctl enable containerd",
        "systemctl restart containerd",
        f'ff_wait "containerd socket" 120 test -S {CONTAINERD_SOCKET}',
    ]
