"""Credentials that renew themselves on the nodes: scripts and systemd timers.

Every script here is a oneshot a timer runs again and again, so each is idempotent:
it finds out whether anything is due, does it under a cluster-wide lock, and leaves.

* ``etcd-credentials-reload`` (etcd members): takes the member's certificates, keys
  and CA bundle from the secret store (``pulumi up`` re-issues them there) and installs
  them one member at a time, restarting etcd only while every member is healthy. A
  CA rotation is two steps on the node: new material is installed only once every peer
  accepts it (the script proves this with a real handshake to each peer); until then a
  member installs only the new trust bundle, so peers never stop trusting each other.
* ``kubeadm-certs-renew`` (control-plane replicas): ``kubeadm certs renew all`` well
  before expiry, then the static pods restart one replica at a time; the API server's
  etcd client credentials are taken from the secret store the same way.
* ``bootstrap-token-rotate`` (control-plane replicas): a bootstrap token with a TTL of
  hours, replaced after a third of its life and written to the secret store that joining
  machines read; expired tokens are deleted.

The lock is etcd's own (``etcdctl lock``): every member and replica already reaches the
cluster's etcd with a client certificate, it does not depend on the API server being
restarted, and a holder that dies loses the lock when its session lease expires.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from fleetform.bootstrap.document import LIB_DIR, File
from fleetform.bootstrap.shell import script_prelude

RENEW_LIB = f"{LIB_DIR}/renew.sh"
UNIT_DIR = "/etc/systemd/system"
STATE_DIR = "/run/fleetform"

# The fields of a member's credentials secret (JSON) and where each lands.
ETCD_CREDENTIAL_FILES: tuple[tuple[str, str, str], ...] = (
    ("ca", "ca.crt", "0644"),
    ("server_cert", "server.crt", "0644"),
    ("server_key", "server.key", "0600"),
    ("peer_cert", "peer.crt", "0644"),
    ("peer_key", "peer.key", "0600"),
    ("client_cert", "client.crt", "0644"),
    ("client_key", "client.key", "0600"),
)
LEAF_FIELDS = ("server_cert", "server_key", "peer_cert", "peer_key", "client_cert", "client_key")

_RENEW_SH = r"""# fleetform renewal library (generated). Sourced after lib.sh and cloud.sh.
FF_LOCK_TTL=${FF_LOCK_TTL:-60}

# ff_with_lock ENDPOINTS CA CERT KEY NAME CMD...: run CMD holding the etcd lock NAME
# (etcdctl lock), so at most one machine of the cluster runs it at a time.
ff_with_lock() {
  local endpoints=$1 ca=$2 cert=$3 key=$4 name=$5
  shift 5
  "$FF_ETCDCTL" --endpoints="$endpoints" --cacert="$ca" --cert="$cert" --key="$key" \
    --dial-timeout=5s lock --ttl="$FF_LOCK_TTL" -- "$name" "$@"
}

# ff_etcd_healthy ENDPOINTS CA CERT KEY: every endpoint answers a health check (a
# quorum read) over mutual TLS with these credentials.
ff_etcd_healthy() {
  local ca=$2 cert=$3 key=$4 ep
  local IFS=,
  for ep in $1; do
    "$FF_ETCDCTL" --endpoints="$ep" --cacert="$ca" --cert="$cert" --key="$key" \
      --dial-timeout=3s --command-timeout=5s endpoint health >/dev/null 2>&1 || return 1
  done
}

# ff_trust_ack ENDPOINTS CA CERT KEY KEYPATH: record in etcd (at KEYPATH) the SHA-256 of
# the CA bundle this client trusts: members present certificates of a new CA only once
# every registered client trusts it (ff_trust_acked).
ff_trust_ack() {
  local sum
  sum=$(sha256sum <"$2" | cut -c1-64)
  "$FF_ETCDCTL" --endpoints="$1" --cacert="$2" --cert="$3" --key="$4" --dial-timeout=5s \
    put "$5" "$sum" >/dev/null
}

# ff_trust_acked ENDPOINTS CA CERT KEY PREFIX BUNDLE: every client registered under
# PREFIX trusts exactly BUNDLE.
ff_trust_acked() {
  local want values v
  want=$(sha256sum <"$6" | cut -c1-64)
  values=$("$FF_ETCDCTL" --endpoints="$1" --cacert="$2" --cert="$3" --key="$4" --dial-timeout=5s \
    get --prefix "$5/" --print-value-only) || return 1
  for v in $values; do
    [ "$v" = "$want" ] || return 1
  done
}

# ff_cert_due SECONDS FILE...: whether any certificate expires within SECONDS (a file
# that is missing is not due: it is not ours to create).
ff_cert_due() {
  local within=$1 f
  shift
  for f in "$@"; do
    [ -f "$f" ] || continue
    openssl x509 -noout -checkend "$within" -in "$f" >/dev/null || return 0
  done
  return 1
}

# ff_kubeconfig_due SECONDS FILE...: the same for the client certificate inside kubeconfigs.
ff_kubeconfig_due() {
  local within=$1 f
  shift
  for f in "$@"; do
    [ -f "$f" ] || continue
    python3 -c 'import base64, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
sys.stdout.write(base64.b64decode(doc["users"][0]["user"]["client-certificate-data"]).decode())' "$f" \
      | openssl x509 -noout -checkend "$within" >/dev/null || return 0
  done
  return 1
}

# ff_split_credentials JSON DIR FIELD=FILE...: write each field of the JSON secret into
# DIR/FILE (0600; the caller decides modes when installing). Fails on a missing field
# or a PEM that does not parse, so broken material never reaches a running service.
ff_split_credentials() {
  python3 - "$@" <<'PY'
import json, os, sys
src, out, *pairs = sys.argv[1:]
doc = json.load(open(src))
for pair in pairs:
    field, _, name = pair.partition("=")
    value = doc.get(field)
    if not isinstance(value, str) or "-----BEGIN " not in value:
        sys.exit(f"fleetform: credentials secret has no PEM in field {field!r}")
    fd = os.open(os.path.join(out, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value if value.endswith("\n") else value + "\n")
PY
  local pair name
  for pair in "${@:3}"; do
    name=${pair#*=}
    case $name in
      *.key) openssl pkey -noout -in "$2/$name" 2>/dev/null || ff_fail "credentials secret: $name is not a private key" ;;
      *.pub) openssl pkey -pubin -noout -in "$2/$name" 2>/dev/null || ff_fail "credentials secret: $name is not a public key" ;;
      *) openssl x509 -noout -in "$2/$name" 2>/dev/null || ff_fail "credentials secret: $name is not a certificate" ;;
    esac
  done
}

# ff_install_file SRC DEST MODE: replace DEST atomically, keeping its owner.
ff_install_file() {
  local tmp
  tmp=$(mktemp "$(dirname "$2")/.fleetform-install.XXXXXX")
  cp "$1" "$tmp"
  if [ -e "$2" ]; then chown --reference="$2" "$tmp"; fi
  chmod "$3" "$tmp"
  mv -f "$tmp" "$2"
}
"""

def renew_library() -> str:
    return _RENEW_SH


def _prelude(title: str, etcdctl: str) -> str:
    return script_prelude(title) + f". {RENEW_LIB}\nFF_ETCDCTL=${{FF_ETCDCTL:-{etcdctl}}}\n"


def timer_units(name: str, description: str, script: str, *, every: str, boot_delay: str,
                after: str = "network-online.target") -> list[File]:
    """A oneshot service and the timer that runs it at boot and then every ``every``
    (a systemd time span), randomized so the replicas of a cluster do not fire together."""
    service = f"""[Unit]
Description={description} (fleetform)
Wants=network-online.target
After={after}

[Service]
Type=oneshot
ExecStart={script}
"""
    timer = f"""[Unit]
Description={description}: timer (fleetform)

[Timer]
OnBootSec={boot_delay}
OnUnitActiveSec={every}
RandomizedDelaySec=600
Persistent=true

[Install]
WantedBy=timers.target
"""
    return [File(f"{UNIT_DIR}/{name}.service", service), File(f"{UNIT_DIR}/{name}.timer", timer)]


# ------------------------------------------------------------ etcd members


@dataclass(frozen=True)
class EtcdReload:
    """One etcd member's reload of its credentials from the secret store."""

    cluster: str
    member: str
    secret_id: str  # JSON: ETCD_CREDENTIAL_FILES' fields
    own_endpoint: str  # https://<private ip>:2379
    peer_endpoints: tuple[str, ...]  # the other members' client URLs
    pki_dir: str = "/etc/etcd/pki"
    etcdctl: str = "/usr/local/bin/etcdctl"
    unit: str = "etcd.service"
    every: str = "1h"

    @property
    def all_endpoints(self) -> tuple[str, ...]:
        return (self.own_endpoint, *self.peer_endpoints)


ETCD_RELOAD_PATH = f"{LIB_DIR}/etcd-credentials-reload"


def trust_prefix(cluster: str) -> str:
    """Where a cluster's etcd clients record the CA bundle they trust (in its etcd)."""
    return f"fleetform/{cluster}/etcd-client-trust"
ETCD_RELOAD_UNIT = "etcd-credentials-reload"


def etcd_reload_script(r: EtcdReload) -> str:
    q = shlex.quote
    files = " ".join(q(f"{field}={name}") for field, name, _ in ETCD_CREDENTIAL_FILES)
    modes = " ".join(q(f"{name}:{mode}") for _, name, mode in ETCD_CREDENTIAL_FILES)
    leaves = " ".join(q(name) for field, name, _ in ETCD_CREDENTIAL_FILES if field in LEAF_FIELDS)
    return (
        _prelude(f"etcd-credentials-reload: member {r.member} of cluster {r.cluster}", r.etcdctl)
        + f"""PKI={q(r.pki_dir)}
ALL={q(",".join(r.all_endpoints))}
PEERS={q(",".join(r.peer_endpoints))}
OWN={q(r.own_endpoint)}
LOCK={q(f"fleetform/{r.cluster}/etcd-restart")}
CLIENTS={q(trust_prefix(r.cluster))}
STAGE=${{FF_STAGE:-{STATE_DIR}/etcd-credentials}}
MODES=({modes})
LEAVES=({leaves})

# What the secret store holds now, split into files (validated PEM).
fetch() {{
  rm -rf "$STAGE"
  install -d -m 0700 "$STAGE" "$STAGE/new" "$STAGE/next"
  ff_retry "read secret {r.secret_id}" _ff_secret_once {q(r.secret_id)} "$STAGE/credentials.json"
  ff_split_credentials "$STAGE/credentials.json" "$STAGE/new" {files}
  rm -f "$STAGE/credentials.json"
}}

differs() {{
  local pair
  for pair in "${{MODES[@]}}"; do
    cmp -s "$1/${{pair%%:*}}" "$PKI/${{pair%%:*}}" || return 0
  done
  return 1
}}

# Whether every etcd client of the cluster (they register under $CLIENTS) trusts the
# new bundle: only then may this member present certificates of a new CA.
clients_ready() {{
  cmp -s "$STAGE/new/ca.crt" "$PKI/ca.crt" \
    || ff_trust_acked "$ALL" "$PKI/ca.crt" "$PKI/client.crt" "$PKI/client.key" "$CLIENTS" "$STAGE/new/ca.crt"
}}

# The set to install into $STAGE/next: everything new when every peer already accepts
# it (its client certificate is admitted, their server certificates verify against its
# bundle) and every client trusts its bundle; else only the new bundle, with the
# current leaves, when the peers accept that; else nothing yet (a peer or a client has
# not taken a step this one depends on).
choose() {{
  local name
  if ff_etcd_healthy "$PEERS" "$STAGE/new/ca.crt" "$STAGE/new/client.crt" "$STAGE/new/client.key" \
    && clients_ready; then
    cp "$STAGE"/new/* "$STAGE/next/"
    echo full
  elif ! cmp -s "$STAGE/new/ca.crt" "$PKI/ca.crt" \\
    && ff_etcd_healthy "$PEERS" "$STAGE/new/ca.crt" "$PKI/client.crt" "$PKI/client.key"; then
    cp "$STAGE/new/ca.crt" "$STAGE/next/"
    for name in "${{LEAVES[@]}}"; do cp "$PKI/$name" "$STAGE/next/"; done
    echo trust
  else
    echo wait
  fi
}}

if [ "${{1:-}}" != "--locked" ]; then
  fetch
  if ! differs "$STAGE/new"; then
    ff_log "credentials of {r.member} are current"
    exit 0
  fi
  ff_log "new credentials for {r.member} in the secret store; waiting for the restart lock"
  ff_with_lock "$ALL" "$PKI/ca.crt" "$PKI/client.crt" "$PKI/client.key" "$LOCK" "$0" --locked
  exit $?
fi

# Holding the lock: no other member restarts until this one is healthy again.
if ! ff_etcd_healthy "$ALL" "$PKI/ca.crt" "$PKI/client.crt" "$PKI/client.key"; then
  ff_log "not every member is healthy: a restart now could lose quorum; trying again later"
  exit 0
fi
step=$(choose)
if [ "$step" = wait ]; then
  ff_log "peers do not accept the new credentials yet; trying again later"
  exit 0
fi
if ! differs "$STAGE/next"; then
  exit 0
fi
for pair in "${{MODES[@]}}"; do
  ff_install_file "$STAGE/next/${{pair%%:*}}" "$PKI/${{pair%%:*}}" "${{pair#*:}}"
done
ff_log "installed new credentials ($step) for {r.member}; restarting {r.unit}"
systemctl restart {q(r.unit)}
ff_wait "{r.member} healthy after the restart" "${{FF_HEALTH_WAIT:-120}}" \\
  ff_etcd_healthy "$OWN" "$PKI/ca.crt" "$PKI/client.crt" "$PKI/client.key"
rm -rf "$STAGE"
ff_log "{r.member} runs its new credentials ($step)"
"""
    )


def etcd_reload_files(r: EtcdReload) -> list[File]:
    return [
        File(RENEW_LIB, renew_library(), "0644"),
        File(ETCD_RELOAD_PATH, etcd_reload_script(r), "0755"),
        *timer_units(ETCD_RELOAD_UNIT, f"reload the credentials of etcd member {r.member}",
                     ETCD_RELOAD_PATH, every=r.every, boot_delay="15min", after="etcd.service"),
    ]
