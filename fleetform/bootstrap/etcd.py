"""User-data of a dedicated etcd member, and the pieces it is made of.

The config file uses only keys that both etcd 3.4 (Debian's, which the integration
tests run) and 3.6 (what nodes install) accept, checked against each version's
``embed/config.go``; neither rejects unknown keys, so a typo would be silently
ignored, which is why ``tests/bootstrap`` pins the key set.
"""

from __future__ import annotations

import shlex
from typing import Any

from fleetform.bootstrap.document import LIB_DIR, File, dump_yaml, render_cloud_config
from fleetform.bootstrap.inputs import EtcdNodeInputs, SecretFile
from fleetform.bootstrap.renewal import ETCD_RELOAD_UNIT, EtcdReload, etcd_reload_files
from fleetform.bootstrap.shell import library_files, script_prelude, secret_fetch_commands

CLIENT_PORT = 2379
PEER_PORT = 2380
# Plain-HTTP /health and /metrics on loopback only, for local probes without a client cert.
METRICS_URL = "http://127.0.0.1:2381"

CONFIG_PATH = "/etc/etcd/etcd.conf.yml"
PKI_DIR = "/etc/etcd/pki"
MOUNT_POINT = "/var/lib/etcd"
DATA_DIR = f"{MOUNT_POINT}/data"
SNAPSHOT_DIR = f"{MOUNT_POINT}/snapshots"
RESTORE_SNAPSHOT = f"{MOUNT_POINT}/restore.db"
UNIT_PATH = "/etc/systemd/system/etcd.service"
BACKUP_SERVICE_PATH = "/etc/systemd/system/etcd-snapshot.service"
BACKUP_TIMER_PATH = "/etc/systemd/system/etcd-snapshot.timer"
SNAPSHOT_SAVE_PATH = "/usr/local/bin/etcd-snapshot-save"
RESTORE_PATH = f"{LIB_DIR}/etcd-restore"
# How long a restoring member waits for the migration snapshot to appear.
RESTORE_WAIT_SECONDS = 7200
BIN_DIR = "/usr/local/bin"

CA_CERT = f"{PKI_DIR}/ca.crt"
SERVER_CERT = f"{PKI_DIR}/server.crt"
SERVER_KEY = f"{PKI_DIR}/server.key"
PEER_CERT = f"{PKI_DIR}/peer.crt"
PEER_KEY = f"{PKI_DIR}/peer.key"
CLIENT_CERT = f"{PKI_DIR}/client.crt"
CLIENT_KEY = f"{PKI_DIR}/client.key"


def _version_tuple(version: str) -> tuple[int, int, int]:
    major, minor, patch = (int(p) for p in version.split("."))
    return major, minor, patch


def uses_etcdutl(version: str) -> bool:
    """Offline snapshot restore moved from etcdctl to etcdutl in 3.5 (removed from etcdctl in 3.6)."""
    return _version_tuple(version) >= (3, 5, 0)


def etcd_release_asset(version: str, arch: str) -> str:
    return f"etcd-v{version}-linux-{arch}.tar.gz"


def etcd_release_url(version: str, arch: str) -> str:
    """The official GitHub release tarball of etcd ``version`` for linux/``arch``."""
    return f"https://github.com/etcd-io/etcd/releases/download/v{version}/{etcd_release_asset(version, arch)}"


def etcd_release_install_lines(version: str, sha256: str | None, arch: str,
                               tools: tuple[str, ...] = ("etcd", "etcdctl", "etcdutl")) -> list[str]:
    """Boot lines that install ``tools`` of etcd ``version`` from the official release
    tarball, checked against ``sha256`` (pinned) or the release's SHA256SUMS before it
    is unpacked. etcd members install all three; control-plane replicas only etcdctl,
    the same release, for the renewal timers' lock."""
    asset = etcd_release_asset(version, arch)
    url = etcd_release_url(version, arch)
    if sha256:
        verify = [
            "    # Checked against the sha256 pinned in the plan before it is unpacked.",
            f'    ff_check_sha256 "$dl/{asset}" {sha256}',
        ]
    else:
        sums = url.rsplit("/", 1)[0] + "/SHA256SUMS"
        verify = [
            "    # Not pinned: checked against the release's SHA256SUMS, which catches a corrupt",
            "    # download but not a tampered release. An asset missing from the list fails.",
            f'    ff_retry "download etcd {version} SHA256SUMS" curl -fsSL --max-time 60 -o "$dl/SHA256SUMS" {shlex.quote(sums)}',
            f"    expected=$(awk -v n={asset} '$2 == n {{ print $1 }}' \"$dl/SHA256SUMS\")",
            f'    [ -n "$expected" ] || ff_fail "SHA256SUMS of etcd {version} lists no {asset}"',
            f'    ff_check_sha256 "$dl/{asset}" "$expected"',
        ]
    if "etcd" in tools:
        probe, installed = f"{BIN_DIR}/etcd --version", f"etcd Version: {version}"
        what = "etcd"
    else:
        probe, installed = f"{BIN_DIR}/etcdctl version", f"etcdctl version: {version}"
        what = "etcdctl"
    required = [t for t in tools if t != "etcdutl"]
    install = [f'    install -m 0755 {" ".join(f"{chr(34)}$dl/{t}{chr(34)}" for t in required)} {BIN_DIR}/']
    if "etcdutl" in tools:
        install.append(f'    if [ -f "$dl/etcdutl" ]; then install -m 0755 "$dl/etcdutl" {BIN_DIR}/; fi')
    return [
        f"# {what} {version}: the official release tarball.",
        f'case "$({probe} 2>/dev/null || true)" in',
        f'  *"{installed}"*) ff_log "{what} {version} already installed" ;;',
        "  *)",
        "    dl=$(mktemp -d)",
        f'    ff_retry "download etcd {version}" curl -fsSL --max-time 300 -o "$dl/{asset}" {shlex.quote(url)}',
        *verify,
        f'    tar -xzf "$dl/{asset}" -C "$dl" --strip-components=1',
        *install,
        '    rm -rf "$dl"',
        "    ;;",
        "esac",
    ]


def _install_etcd_lines(inputs: EtcdNodeInputs) -> list[str]:
    return etcd_release_install_lines(inputs.version, inputs.sha256, inputs.arch)


def peer_url(host: str) -> str:
    return f"https://{host}:{PEER_PORT}"


def client_url(host: str) -> str:
    return f"https://{host}:{CLIENT_PORT}"


def initial_cluster(inputs: EtcdNodeInputs) -> str:
    """``name=https://dns:2380,...`` in member order (the same string on every member)."""
    return ",".join(f"{m.name}={peer_url(m.dns_name)}" for m in inputs.members)


def etcd_config(inputs: EtcdNodeInputs) -> dict[str, Any]:
    """``/etc/etcd/etcd.conf.yml`` as a dict (``etcd --config-file`` reads only this file).

    ``client-cert-auth`` inside ``peer-transport-security`` is the config-file spelling
    of the ``--peer-client-cert-auth`` flag (likewise ``auto-tls`` / ``--peer-auto-tls``).
    """
    me = inputs.member
    return {
        "name": me.name,
        "data-dir": DATA_DIR,
        # Listen on the private IP only; advertise the stable DNS names (they survive
        # a member's machine being replaced, and the certificates carry both).
        "listen-client-urls": client_url(me.ip),
        "listen-peer-urls": peer_url(me.ip),
        "listen-metrics-urls": METRICS_URL,
        "advertise-client-urls": client_url(me.dns_name),
        "initial-advertise-peer-urls": peer_url(me.dns_name),
        "initial-cluster": initial_cluster(inputs),
        "initial-cluster-state": "new",
        "initial-cluster-token": inputs.cluster_name,
        "client-transport-security": {
            "cert-file": SERVER_CERT,
            "key-file": SERVER_KEY,
            "client-cert-auth": True,
            "trusted-ca-file": CA_CERT,
            "auto-tls": False,
        },
        "peer-transport-security": {
            "cert-file": PEER_CERT,
            "key-file": PEER_KEY,
            "client-cert-auth": True,
            "trusted-ca-file": CA_CERT,
            "auto-tls": False,
        },
        # Refuse membership changes that would lose quorum; pre-vote stops a member
        # that was partitioned away from disrupting the leader when it comes back.
        "strict-reconfig-check": True,
        "pre-vote": True,
        "heartbeat-interval": 100,
        "election-timeout": 1000,
        "snapshot-count": 10000,
        "quota-backend-bytes": 8 * 1024**3,
        "logger": "zap",
        "log-level": "info",
        "log-outputs": ["stderr"],
    }


def etcd_systemd_unit(inputs: EtcdNodeInputs) -> str:
    return f"""[Unit]
Description=etcd member {inputs.member_name} of cluster {inputs.cluster_name} (fleetform)
Documentation=https://etcd.io/docs/
Wants=network-online.target
After=network-online.target
RequiresMountsFor={MOUNT_POINT}

[Service]
Type=notify
User=etcd
Group=etcd
ExecStart={BIN_DIR}/etcd --config-file {CONFIG_PATH}
Restart=always
RestartSec=5
LimitNOFILE=65536
# A member reports ready only once a quorum exists, which takes as long as the
# slowest peer's boot: never time the start out.
TimeoutStartSec=0

[Install]
WantedBy=multi-user.target
"""


def etcdctl_argv(inputs: EtcdNodeInputs, *command: str) -> list[str]:
    """``etcdctl`` against this member over mutual TLS with the member's client cert.

    The endpoint is the private IP (a SAN of the server certificate) so backups do
    not depend on DNS.
    """
    return [
        f"{BIN_DIR}/etcdctl",
        f"--endpoints={client_url(inputs.member.ip)}",
        f"--cacert={CA_CERT}",
        f"--cert={CLIENT_CERT}",
        f"--key={CLIENT_KEY}",
        "--dial-timeout=5s",
        "--command-timeout=300s",
        *command,
    ]


def etcd_snapshot_save_argv(inputs: EtcdNodeInputs, path: str) -> list[str]:
    return etcdctl_argv(inputs, "snapshot", "save", path)


def etcd_restore_argv(inputs: EtcdNodeInputs, snapshot_path: str) -> list[str]:
    """Offline restore of ``snapshot_path`` into the data dir, as this member of a new cluster.

    Same ``--name/--initial-cluster/--initial-cluster-token/--initial-advertise-peer-urls``
    as the config file. etcd >= 3.5 uses ``etcdutl`` and also bumps the revision and marks
    it compacted, so kube-apiserver watchers never see revisions go backwards; etcd 3.4
    (tests only) has neither, and restores with ``etcdctl``.
    """
    config = etcd_config(inputs)
    tool = [f"{BIN_DIR}/etcdutl"] if uses_etcdutl(inputs.version) else [f"{BIN_DIR}/etcdctl"]
    argv = [
        *tool,
        "snapshot",
        "restore",
        snapshot_path,
        f"--name={config['name']}",
        f"--initial-cluster={config['initial-cluster']}",
        f"--initial-cluster-token={config['initial-cluster-token']}",
        f"--initial-advertise-peer-urls={config['initial-advertise-peer-urls']}",
        f"--data-dir={config['data-dir']}",
    ]
    if uses_etcdutl(inputs.version):
        argv += ["--bump-revision=1000000000", "--mark-compacted"]
    return argv


def _leader_check(inputs: EtcdNodeInputs) -> str:
    status = shlex.join(etcdctl_argv(inputs, "endpoint", "status", "--write-out=json"))
    return (
        f"  status=$({status})\n"
        '  if ! printf \'%s\' "$status" | python3 -c \'import json, sys; s = json.load(sys.stdin)[0]["Status"]; '
        'sys.exit(0 if s["header"]["member_id"] == s["leader"] else 1)\'; then\n'
        '    ff_log "not the leader; skipping this snapshot"\n'
        "    exit 0\n"
        "  fi\n"
    )


def etcd_snapshot_save_script(inputs: EtcdNodeInputs) -> str:
    """``etcd-snapshot-save [--if-leader]``: snapshot over mTLS, then upload to the bucket."""
    if inputs.backup is None:
        raise ValueError("etcd-snapshot-save needs inputs.backup")
    backup = inputs.backup
    prefix = backup.prefix.strip("/")
    tmp = f"{SNAPSHOT_DIR}/snapshot.db"
    return (
        script_prelude(
            f"etcd-snapshot-save: member {inputs.member_name} of cluster {inputs.cluster_name}"
        )
        + "export ETCDCTL_API=3\n"
        + "# --if-leader (the timer): every member has the timer, only the leader uploads.\n"
        + 'if [ "${1:-}" = "--if-leader" ]; then\n'
        + _leader_check(inputs)
        + "fi\n"
        + f"install -d -m 0700 {shlex.quote(SNAPSHOT_DIR)}\n"
        + f"rm -f {shlex.quote(tmp)}\n"
        + shlex.join(etcd_snapshot_save_argv(inputs, tmp))
        + "\n"
        + "stamp=$(date -u +%Y%m%dT%H%M%SZ)\n"
        + f'key={shlex.quote(f"{prefix}/{inputs.cluster_name}/")}"$stamp"{shlex.quote(f"-{inputs.member_name}.db")}\n'
        + f'ff_retry "upload snapshot to {backup.bucket}/$key" ff_object_put {shlex.quote(tmp)} {shlex.quote(backup.bucket)} "$key"\n'
        + f"rm -f {shlex.quote(tmp)}\n"
        + f'ff_log "uploaded snapshot to {backup.bucket}/$key"\n'
    )


def etcd_restore_script(inputs: EtcdNodeInputs) -> str:
    """First-boot restore from ``inputs.restore_from``, before etcd ever starts."""
    if inputs.restore_from is None:
        raise ValueError("etcd-restore needs inputs.restore_from")
    src = inputs.restore_from
    return (
        script_prelude(
            f"etcd-restore: member {inputs.member_name} of cluster {inputs.cluster_name}"
        )
        + "export ETCDCTL_API=3\n"
        + "# Never restore over existing data: a re-attached data disk wins over the snapshot.\n"
        + f"if [ -e {shlex.quote(DATA_DIR)} ]; then\n"
        + f'  ff_log "{DATA_DIR} exists; not restoring over it"\n'
        + "  exit 0\n"
        + "fi\n"
        + f'ff_log "restoring from snapshot {src.bucket}/{src.key}"\n'
        + "# The source cluster's snapshot Job (from its add-on bundle) writes the object once it\n"
        + "# ran: wait for it (the machine exists as soon as the source's bundle is published).\n"
        + f'ff_wait "snapshot {src.bucket}/{src.key}" {RESTORE_WAIT_SECONDS} ff_object_get '
        + f"{shlex.quote(src.bucket)} {shlex.quote(src.key)} {shlex.quote(RESTORE_SNAPSHOT)}\n"
        + shlex.join(etcd_restore_argv(inputs, RESTORE_SNAPSHOT))
        + "\n"
        + f"chown -R --reference={shlex.quote(MOUNT_POINT)} {shlex.quote(DATA_DIR)}\n"
        + f"chmod 0700 {shlex.quote(DATA_DIR)}\n"
        + f"rm -f {shlex.quote(RESTORE_SNAPSHOT)}\n"
        + f'ff_log "restored {DATA_DIR} from {src.bucket}/{src.key}"\n'
    )


def etcd_secret_files(inputs: EtcdNodeInputs) -> list[SecretFile]:
    tls = inputs.tls
    return [
        SecretFile(tls.server_key_secret, SERVER_KEY, "0600", "etcd:etcd"),
        SecretFile(tls.peer_key_secret, PEER_KEY, "0600", "etcd:etcd"),
        # Only root (backups, operators) uses the client certificate.
        SecretFile(tls.client_key_secret, CLIENT_KEY, "0600", "root:root"),
        *inputs.extra_secrets,
    ]


def etcd_bootstrap_script(inputs: EtcdNodeInputs) -> str:
    me = inputs.member
    lines = [
        script_prelude(f"bootstrap of etcd member {me.name} of cluster {inputs.cluster_name}"),
        f'ff_log "etcd member {me.name} ({me.dns_name}, {me.ip}): bootstrap starting"',
        "ff_cloud_prepare",
        "id -u etcd >/dev/null 2>&1 || useradd --system --no-create-home --home-dir "
        f"{MOUNT_POINT} --shell /usr/sbin/nologin etcd",
        "",
        "# Keys come from the secret store, with this machine's identity, before anything uses them.",
        *secret_fetch_commands(etcd_secret_files(inputs)),
        "",
        "# The data disk: wait for it, format it only if blank, mount it.",
        f"ff_prepare_disk {shlex.quote(inputs.data_device)} {MOUNT_POINT} etcd-data",
        f"chown etcd:etcd {MOUNT_POINT}",
        f"chmod 0700 {MOUNT_POINT}",
        "",
        *_install_etcd_lines(inputs),
        "",
    ]
    if inputs.restore_from is not None:
        lines += [
            "# First boot of a restored cluster: load the snapshot before etcd starts.",
            RESTORE_PATH,
            "",
        ]
    lines += [
        "systemctl daemon-reload",
        "systemctl enable etcd.service",
        "# Don't block: the first member up waits for a quorum of its peers.",
        "systemctl start --no-block etcd.service",
    ]
    if inputs.backup is not None:
        lines.append("systemctl enable --now etcd-snapshot.timer")
    if inputs.credentials_secret is not None:
        lines.append(f"systemctl enable --now {ETCD_RELOAD_UNIT}.timer")
    lines.append(f'ff_log "etcd member {me.name}: bootstrap done"')
    return "\n".join(lines) + "\n"


def _backup_units(inputs: EtcdNodeInputs) -> list[File]:
    assert inputs.backup is not None
    service = f"""[Unit]
Description=Upload an etcd snapshot of cluster {inputs.cluster_name} if this member leads (fleetform)
After=etcd.service

[Service]
Type=oneshot
ExecStart={SNAPSHOT_SAVE_PATH} --if-leader
"""
    timer = f"""[Unit]
Description=Periodic etcd snapshots of cluster {inputs.cluster_name} (fleetform)

[Timer]
OnCalendar={inputs.backup.on_calendar}
RandomizedDelaySec=300
Persistent=true

[Install]
WantedBy=timers.target
"""
    return [File(BACKUP_SERVICE_PATH, service), File(BACKUP_TIMER_PATH, timer)]


def etcd_files(inputs: EtcdNodeInputs) -> list[File]:
    """Every ``write_files`` entry of the member's document (public content only)."""
    tls = inputs.tls
    files = [
        *library_files(inputs.secret_store),
        File(CONFIG_PATH, dump_yaml(etcd_config(inputs))),
        File(UNIT_PATH, etcd_systemd_unit(inputs)),
        File(CA_CERT, tls.ca_cert_pem),
        File(SERVER_CERT, tls.server_cert_pem),
        File(PEER_CERT, tls.peer_cert_pem),
        File(CLIENT_CERT, tls.client_cert_pem),
    ]
    if inputs.restore_from is not None:
        files.append(File(RESTORE_PATH, etcd_restore_script(inputs), "0755"))
    if inputs.backup is not None:
        files.append(File(SNAPSHOT_SAVE_PATH, etcd_snapshot_save_script(inputs), "0755"))
        files += _backup_units(inputs)
    reload = etcd_reload(inputs)
    if reload is not None:
        files += etcd_reload_files(reload)
    return files


def etcd_reload(inputs: EtcdNodeInputs) -> EtcdReload | None:
    """The member's renewal from the secret store (None: its document has no secret for it)."""
    if inputs.credentials_secret is None:
        return None
    me = inputs.member
    return EtcdReload(
        cluster=inputs.cluster_name,
        member=me.name,
        secret_id=inputs.credentials_secret,
        own_endpoint=client_url(me.ip),
        peer_endpoints=tuple(client_url(m.dns_name) for m in inputs.members if m.name != me.name),
        pki_dir=PKI_DIR,
        etcdctl=f"{BIN_DIR}/etcdctl",
    )


def render_etcd_member(inputs: EtcdNodeInputs) -> str:
    """The ``#cloud-config`` user-data of one etcd member."""
    return render_cloud_config(etcd_files(inputs), etcd_bootstrap_script(inputs))
