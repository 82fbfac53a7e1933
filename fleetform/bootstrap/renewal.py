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
from collections.abc import Sequence
from dataclasses import dataclass

from fleetform.bootstrap.document import LIB_DIR, File
from fleetform.bootstrap.inputs import SecretStore
from fleetform.bootstrap.shell import script_prelude

RENEW_LIB = f"{LIB_DIR}/renew.sh"
SECRET_WRITE_LIB = f"{LIB_DIR}/secret-write.sh"
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

_AWS_WRITE_SH = r"""# fleetform secret writer (generated): AWS. The value travels in a 0600 file, never
# on a command line another process could read.
ff_secret_write() {
  local tmp rc=0
  tmp=$(mktemp)
  chmod 0600 "$tmp"
  cat >"$tmp"
  "$FF_AWS" secretsmanager put-secret-value --region "$FF_AWS_REGION" --secret-id "$1" \
    --secret-string "file://$tmp" >/dev/null || rc=$?
  rm -f "$tmp"
  return "$rc"
}
"""

_GCP_WRITE_SH = r"""# fleetform secret writer (generated): GCP. A new version of the secret; readers take
# versions/latest.
ff_secret_write() {
  local name=$1
  case $name in
    projects/*) ;;
    *) name="projects/$FF_GCP_PROJECT/secrets/$name" ;;
  esac
  python3 -c 'import base64, json, sys; print(json.dumps({"payload": {"data": base64.b64encode(sys.stdin.buffer.read()).decode()}}))' \
    | _ff_gcp_curl --max-time 30 -o /dev/null -X POST -H 'Content-Type: application/json' \
      --data-binary @- "$FF_GCP_SECRETS_API/$name:addVersion"
}
"""


def renew_library() -> str:
    return _RENEW_SH


def secret_write_library(store: SecretStore) -> str:
    """``secret-write.sh``: ``ff_secret_write ID <value`` with the machine's identity
    (control-plane replicas only: they rotate the bootstrap token)."""
    return _AWS_WRITE_SH if store.cloud == "aws" else _GCP_WRITE_SH


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


# ------------------------------------------------------------ control-plane replicas


KUBEADM_LEAVES = ("apiserver.crt", "apiserver-kubelet-client.crt", "front-proxy-client.crt")
KUBECONFIGS = ("admin.conf", "super-admin.conf", "controller-manager.conf", "scheduler.conf")
STATIC_PODS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")


@dataclass(frozen=True)
class KubeadmRenewal:
    """One control-plane replica's renewal of kubeadm's certificates."""

    cluster: str
    replica: str
    renew_before_hours: int
    etcd_endpoints: tuple[str, ...]  # https://<member dns>:2379, for the lock
    # The API server's etcd client credentials in the secret store (JSON: ca, cert, key).
    etcd_client_secret: str | None = None
    etcdctl: str = "/usr/local/bin/etcdctl"
    every: str = "1d"
    # kubelet's fileCheckFrequency is 20s: a manifest gone this long stops its pod.
    static_pod_wait: int = 30

    def __post_init__(self) -> None:
        if self.renew_before_hours < 24:
            raise ValueError("renew kubeadm certificates at least a day before they expire")


KUBEADM_RENEW_PATH = f"{LIB_DIR}/kubeadm-certs-renew"
KUBEADM_RENEW_UNIT = "kubeadm-certs-renew"
K8S = "/etc/kubernetes"


def kubeadm_renew_script(r: KubeadmRenewal) -> str:
    q = shlex.quote
    pki = f"{K8S}/pki"
    leaves = " ".join(q(f"{pki}/{n}") for n in KUBEADM_LEAVES)
    confs = " ".join(q(f"{K8S}/{n}") for n in KUBECONFIGS)
    pods = " ".join(STATIC_PODS)
    if r.etcd_client_secret is not None:
        etcd_sync = f"""
# The API server's etcd client credentials and etcd CA bundle, from the secret store,
# staged like a member's: all of it once every member accepts it, else the new bundle
# alone once the members' certificates verify against it, else nothing yet.
etcd_client_fetch() {{
  rm -rf "$STAGE"
  install -d -m 0700 "$STAGE" "$STAGE/new" "$STAGE/next"
  ff_retry "read secret {r.etcd_client_secret}" _ff_secret_once {q(r.etcd_client_secret)} "$STAGE/etcd.json"
  ff_split_credentials "$STAGE/etcd.json" "$STAGE/new" ca=ca.crt cert=client.crt key=client.key
  rm -f "$STAGE/etcd.json"
}}

etcd_client_due() {{
  if ff_etcd_healthy "$ENDPOINTS" "$STAGE/new/ca.crt" "$STAGE/new/client.crt" "$STAGE/new/client.key"; then
    cp "$STAGE/new/ca.crt" "$STAGE/new/client.crt" "$STAGE/new/client.key" "$STAGE/next/"
  elif ff_etcd_healthy "$ENDPOINTS" "$STAGE/new/ca.crt" "$PKI/apiserver-etcd-client.crt" "$PKI/apiserver-etcd-client.key"; then
    cp "$STAGE/new/ca.crt" "$STAGE/next/ca.crt"
    cp "$PKI/apiserver-etcd-client.crt" "$STAGE/next/client.crt"
    cp "$PKI/apiserver-etcd-client.key" "$STAGE/next/client.key"
  else
    ff_log "etcd does not accept the new etcd client credentials yet; keeping the current ones"
    return 1
  fi
  ! {{ cmp -s "$STAGE/next/ca.crt" "$PKI/etcd/ca.crt" \\
    && cmp -s "$STAGE/next/client.crt" "$PKI/apiserver-etcd-client.crt" \\
    && cmp -s "$STAGE/next/client.key" "$PKI/apiserver-etcd-client.key"; }}
}}

etcd_client_install() {{
  ff_install_file "$STAGE/next/ca.crt" "$PKI/etcd/ca.crt" 0644
  ff_install_file "$STAGE/next/client.crt" "$PKI/apiserver-etcd-client.crt" 0644
  ff_install_file "$STAGE/next/client.key" "$PKI/apiserver-etcd-client.key" 0600
  ff_log "API server etcd client credentials updated from the secret store"
}}
"""
    else:
        etcd_sync = "\netcd_client_fetch() { :; }\netcd_client_due() { return 1; }\netcd_client_install() { :; }\n"
    return (
        _prelude(f"kubeadm-certs-renew: control-plane replica {r.replica} of cluster {r.cluster}", r.etcdctl)
        + f"""PKI={q(pki)}
MANIFESTS={q(K8S + "/manifests")}
RENEW_BEFORE={r.renew_before_hours * 3600}
LOCK={q(f"fleetform/{r.cluster}/control-plane-restart")}
ENDPOINTS={q(",".join(r.etcd_endpoints))}
STAGE=${{FF_STAGE:-{STATE_DIR}/kubeadm-renew}}
TRUST={q(trust_prefix(r.cluster) + "/" + r.replica)}
PARKED=${{FF_PARKED:-{K8S}/fleetform-parked}}
STATIC_POD_WAIT=${{FF_STATIC_POD_WAIT:-{r.static_pod_wait}}}
{etcd_sync}
kubeadm_due() {{
  ff_cert_due "$RENEW_BEFORE" {leaves} || ff_kubeconfig_due "$RENEW_BEFORE" {confs}
}}

# A manifest gone from the directory stops its static pod; back, it starts again with
# the files on disk now. Parked on disk: a run cut short puts it back on the next start.
unpark() {{
  local f
  for f in "$PARKED"/*.yaml; do
    [ -e "$f" ] || continue
    mv "$f" "$MANIFESTS/$(basename "$f")"
    ff_log "put back static pod manifest $(basename "$f") parked by an interrupted run"
  done
}}

restart_static_pods() {{
  local pod
  install -d -m 0700 "$PARKED"
  for pod in {pods}; do
    [ -f "$MANIFESTS/$pod.yaml" ] || continue
    mv "$MANIFESTS/$pod.yaml" "$PARKED/$pod.yaml"
    sleep "$STATIC_POD_WAIT"
    mv "$PARKED/$pod.yaml" "$MANIFESTS/$pod.yaml"
    ff_log "restarted static pod $pod"
    if [ "$pod" = kube-apiserver ]; then
      ff_wait "the local API server" "${{FF_API_WAIT:-300}}" curl -fsS --max-time 5 --cacert "$PKI/ca.crt" \\
        -o /dev/null "https://127.0.0.1:${{FF_API_PORT:-6443}}/readyz"
    fi
  done
}}

# Tell the etcd members which CA bundle this replica trusts (they wait for it before
# presenting certificates of a new CA).
ack() {{
  ff_trust_ack "$ENDPOINTS" "$PKI/etcd/ca.crt" "$PKI/apiserver-etcd-client.crt" "$PKI/apiserver-etcd-client.key" "$TRUST"
}}

if [ -d "$PARKED" ]; then unpark; fi
if [ "${{1:-}}" != "--locked" ]; then
  etcd_client_fetch
  if ! kubeadm_due && ! etcd_client_due; then
    ack
    ff_log "control-plane certificates are current"
    exit 0
  fi
  ff_log "control-plane certificates are due; waiting for the restart lock"
  ff_with_lock "$ENDPOINTS" "$PKI/etcd/ca.crt" "$PKI/apiserver-etcd-client.crt" \\
    "$PKI/apiserver-etcd-client.key" "$LOCK" "$0" --locked
  exit $?
fi

# Holding the lock: no other replica restarts its static pods until this one is ready.
if kubeadm_due; then
  kubeadm certs renew all
  ff_log "kubeadm certificates renewed"
fi
if etcd_client_due; then
  etcd_client_install
fi
restart_static_pods
ack
rm -rf "$STAGE"
ff_log "control-plane replica {r.replica} runs its renewed certificates"
"""
    )


def kubeadm_renew_files(r: KubeadmRenewal) -> list[File]:
    return [
        File(RENEW_LIB, renew_library(), "0644"),
        File(KUBEADM_RENEW_PATH, kubeadm_renew_script(r), "0755"),
        *timer_units(KUBEADM_RENEW_UNIT, f"renew kubeadm certificates of replica {r.replica}",
                     KUBEADM_RENEW_PATH, every=r.every, boot_delay="1h", after="kubelet.service"),
    ]


@dataclass(frozen=True)
class TokenRotation:
    """The control plane's rotation of the join credential."""

    cluster: str
    secret_id: str  # what joining machines read
    ttl_hours: int
    etcd_endpoints: tuple[str, ...]
    etcdctl: str = "/usr/local/bin/etcdctl"

    def __post_init__(self) -> None:
        if not 1 <= self.ttl_hours <= 168:
            raise ValueError("bootstrap token TTL must be between 1 and 168 hours")

    @property
    def every_hours(self) -> int:
        return max(1, self.ttl_hours // 3)


TOKEN_ROTATE_PATH = f"{LIB_DIR}/bootstrap-token-rotate"
TOKEN_ROTATE_UNIT = "bootstrap-token-rotate"
TOKEN_DESCRIPTION = "fleetform node bootstrap token"
TOKEN_GROUP = "system:bootstrappers:kubeadm:default-node-token"


def token_rotate_script(t: TokenRotation) -> str:
    q = shlex.quote
    keep = (t.ttl_hours - t.every_hours) * 3600
    return (
        _prelude(f"bootstrap-token-rotate: cluster {t.cluster}", t.etcdctl)
        + f"""PKI=/etc/kubernetes/pki
ENDPOINTS={q(",".join(t.etcd_endpoints))}
LOCK={q(f"fleetform/{t.cluster}/bootstrap-token")}
export KUBECONFIG=${{KUBECONFIG:-/etc/kubernetes/admin.conf}}

# Seconds the token published in the secret store has left (0: unknown to the cluster).
published_left() {{
  local current
  current=$(ff_secret_read {q(t.secret_id)} 2>/dev/null) || {{ echo 0; return; }}
  kubeadm token list -o json | python3 -c '
import datetime as dt, json, sys
want = sys.argv[1].split(".")[0]
text, left, idx = sys.stdin.read(), 0, 0
dec = json.JSONDecoder()
while idx < len(text):
    while idx < len(text) and text[idx].isspace():
        idx += 1
    if idx >= len(text):
        break
    tok, idx = dec.raw_decode(text, idx)
    if tok.get("token", "").split(".")[0] == want and tok.get("expires"):
        exp = dt.datetime.fromisoformat(tok["expires"].replace("Z", "+00:00"))
        left = max(0, int((exp - dt.datetime.now(dt.timezone.utc)).total_seconds()))
print(left)' "$current"
}}

# Tokens that expired (the token cleaner deletes them too; this does not wait for it).
delete_expired() {{
  kubeadm token list -o json | python3 -c '
import datetime as dt, json, sys
text, idx, now = sys.stdin.read(), 0, dt.datetime.now(dt.timezone.utc)
dec = json.JSONDecoder()
while idx < len(text):
    while idx < len(text) and text[idx].isspace():
        idx += 1
    if idx >= len(text):
        break
    tok, idx = dec.raw_decode(text, idx)
    exp = tok.get("expires")
    if exp and dt.datetime.fromisoformat(exp.replace("Z", "+00:00")) <= now:
        print(tok["token"].split(".")[0])' | while read -r id; do
    kubeadm token delete "$id" >/dev/null
    ff_log "deleted expired bootstrap token $id"
  done
}}

if [ "${{1:-}}" != "--locked" ]; then
  ff_with_lock "$ENDPOINTS" "$PKI/etcd/ca.crt" "$PKI/apiserver-etcd-client.crt" \\
    "$PKI/apiserver-etcd-client.key" "$LOCK" "$0" --locked
  exit $?
fi

# Holding the lock: one replica rotates; the others find a fresh token and leave.
left=$(published_left)
if [ "$left" -gt {keep} ]; then
  ff_log "the published bootstrap token is valid for ${{left}}s more; not rotating"
else
  # kubeadm makes the token up and prints it: it never appears on a command line.
  token=$(kubeadm token create --ttl {t.ttl_hours}h --usages authentication,signing \\
    --groups {TOKEN_GROUP} --description {q(f"{TOKEN_DESCRIPTION} of cluster {t.cluster}")})
  printf '%s' "$token" | ff_secret_write {q(t.secret_id)}
  ff_log "published a new bootstrap token ${{token%%.*}} (valid {t.ttl_hours}h)"
fi
delete_expired
"""
    )


def token_rotate_files(t: TokenRotation, store: SecretStore) -> list[File]:
    return [
        File(RENEW_LIB, renew_library(), "0644"),
        File(SECRET_WRITE_LIB, secret_write_library(store), "0644"),
        File(TOKEN_ROTATE_PATH, token_rotate_script(t).replace(
            f". {RENEW_LIB}\n", f". {RENEW_LIB}\n. {SECRET_WRITE_LIB}\n", 1), "0755"),
        *timer_units(TOKEN_ROTATE_UNIT, f"rotate the bootstrap token of cluster {t.cluster}",
                     TOKEN_ROTATE_PATH, every=f"{t.every_hours}h", boot_delay="5min",
                     after="kubelet.service"),
    ]


def enable_lines(units: Sequence[str]) -> list[str]:
    """Boot lines that start the timers (separate from the role scripts' own lines)."""
    return ["systemctl daemon-reload", *(f"systemctl enable --now {u}.timer" for u in units)]


# ------------------------------------------------------------ kubelet serving certificates


def kubelet_serving_configuration() -> dict[str, object]:
    """KubeletConfiguration fields: serving certificates requested from the cluster CA
    (CSRs the approver add-on approves), client certificates rotated by the kubelet."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "serverTLSBootstrap": True,
        "rotateCertificates": True,
    }


def apiserver_kubelet_ca_args(ca_path: str = "/etc/kubernetes/pki/ca.crt") -> list[tuple[str, str]]:
    """The API server verifies kubelets' serving certificates against the cluster CA
    (the bundle, during a CA rotation)."""
    return [("kubelet-certificate-authority", ca_path)]
