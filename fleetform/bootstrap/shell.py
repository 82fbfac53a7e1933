"""The boot-time shell libraries every document ships.

``lib.sh`` is cloud-neutral: logging, retries with backoff, loud failure, secret files
written atomically with tight permissions, templates filled from secret files, disk
preparation, waiting. ``cloud.sh`` is the ONLY cloud-specific text in a document: how
to read a secret and get/put an object with the machine's own identity.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from fleetform.bootstrap.document import LIB_DIR, File
from fleetform.bootstrap.inputs import SecretFile, SecretStore

COMMON_LIB = f"{LIB_DIR}/lib.sh"
CLOUD_LIB = f"{LIB_DIR}/cloud.sh"

# Placeholders in templates are "{{fleetform:NAME}}"; NAME selects a validator so a
# malformed secret fails the boot with a clear message instead of a confusing one later.
_LIB_SH = r"""# fleetform boot library (generated). Sourced by the role scripts after `set -euo pipefail`.
# The FF_* settings below are only overridden by tests.
FF_RETRY_ATTEMPTS=${FF_RETRY_ATTEMPTS:-10}
FF_RETRY_BASE_DELAY=${FF_RETRY_BASE_DELAY:-2}
FF_RETRY_MAX_DELAY=${FF_RETRY_MAX_DELAY:-60}
FF_WAIT_INTERVAL=${FF_WAIT_INTERVAL:-5}
FF_HOSTS=${FF_HOSTS:-/etc/hosts}

ff_log() {
  printf 'fleetform: %s\n' "$*" >&2
  logger -t fleetform -- "$*" 2>/dev/null || true
}

# Fail the boot loudly: the message reaches the console and cloud-init reports an error.
ff_fail() {
  ff_log "FATAL: $*"
  exit 1
}

# ff_retry WHAT CMD...: run CMD until it succeeds, with exponential backoff (IAM and
# DNS propagation take a while after the machine exists), then fail the boot.
ff_retry() {
  local what=$1 attempt=1 delay=$FF_RETRY_BASE_DELAY
  shift
  until "$@"; do
    if [ "$attempt" -ge "$FF_RETRY_ATTEMPTS" ]; then
      ff_fail "$what: giving up after $attempt attempts"
    fi
    ff_log "$what: attempt $attempt failed; retrying in ${delay}s"
    sleep "$delay"
    attempt=$((attempt + 1))
    delay=$((delay * 2))
    if [ "$delay" -gt "$FF_RETRY_MAX_DELAY" ]; then delay=$FF_RETRY_MAX_DELAY; fi
  done
}

# ff_wait WHAT SECONDS CMD...: poll CMD until it succeeds or SECONDS pass.
ff_wait() {
  local what=$1 limit=$2 waited=0
  shift 2
  until "$@"; do
    if [ "$waited" -ge "$limit" ]; then
      ff_fail "$what: not ready after ${limit}s"
    fi
    sleep "$FF_WAIT_INTERVAL"
    waited=$((waited + FF_WAIT_INTERVAL))
  done
}

# ff_check_sha256 FILE DIGEST: fail the boot unless FILE has exactly that sha256.
ff_check_sha256() {
  if ! printf '%s  %s\n' "$2" "$1" | sha256sum -c --quiet - >/dev/null 2>&1; then
    ff_fail "sha256 mismatch for $(basename "$1") (expected $2)"
  fi
}

_ff_secret_once() {
  local id=$1 tmp=$2
  if ! ff_secret_read "$id" >"$tmp"; then
    : >"$tmp"
    return 1
  fi
  if [ ! -s "$tmp" ]; then
    ff_log "secret $id is empty"
    return 1
  fi
}

# ff_fetch_secret ID PATH MODE OWNER: fetch a secret with the machine's identity and
# write it atomically; the temporary file is created 0600, so the secret is never
# readable by anyone else, even briefly.
ff_fetch_secret() {
  local id=$1 dest=$2 mode=$3 owner=$4 dir tmp
  dir=$(dirname "$dest")
  mkdir -p "$dir"
  tmp=$(mktemp "$dir/.fleetform-secret.XXXXXX")
  # shellcheck disable=SC2064 # expand now: $tmp is local
  trap "rm -f '$tmp'" EXIT
  ff_retry "fetch secret $id" _ff_secret_once "$id" "$tmp"
  chown "$owner" "$tmp"
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$dest"
  trap - EXIT
  ff_log "fetched secret $id into $dest"
}

# ff_render_template SRC DST MODE NAME=FILE...: replace {{fleetform:NAME}} in SRC with
# the content of FILE (a fetched secret), validated by NAME, and write DST with MODE.
ff_render_template() {
  python3 - "$@" <<'PY'
import base64, binascii, os, re, sys

src, dst, mode, *pairs = sys.argv[1:]

def secretbox_key(v):
    try:
        return len(base64.b64decode(v, validate=True)) == 32
    except binascii.Error:
        return False

checks = {
    "bootstrap-token": lambda v: re.fullmatch(r"[a-z0-9]{6}\.[a-z0-9]{16}", v) is not None,
    "secretbox-key": secretbox_key,
    "provider-id": lambda v: re.fullmatch(
        r"aws:///[a-z0-9-]+/i-[0-9a-f]+|gce://[a-z0-9.:-]+/[a-z0-9-]+/[a-z0-9-]+", v) is not None,
}
text = open(src).read()
for pair in pairs:
    name, _, path = pair.partition("=")
    value = open(path).read().strip()
    if name in checks and not checks[name](value):
        sys.exit(f"fleetform: FATAL: secret for {name} ({path}) is malformed")
    token = "{{fleetform:%s}}" % name
    if token not in text:
        sys.exit(f"fleetform: FATAL: template {src} has no {token}")
    text = text.replace(token, value)
if "{{fleetform:" in text:
    sys.exit(f"fleetform: FATAL: template {src} has unfilled placeholders")
tmp = dst + ".tmp"
fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as out:
    out.write(text)
os.chmod(tmp, int(mode, 8))
os.replace(tmp, dst)
PY
}

# ff_write_provider_id FILE: this machine's provider ID (as the cloud controller
# manager names it) from the instance metadata, written atomically.
ff_write_provider_id() {
  ff_provider_id >"$1.tmp" && mv -f "$1.tmp" "$1"
}

# ff_api_ready NAME PORT CA ADDRESS: whether the API server at ADDRESS is ready, reached
# by NAME (so TLS checks the name the certificate carries) without asking DNS for it.
ff_api_ready() {
  curl -fsS --max-time 5 --cacert "$3" --resolve "$1:$2:$4" -o /dev/null "https://$1:$2/readyz"
}

# ff_hosts_unpin NAME: drop our pin of NAME from the hosts file (NAME goes back to DNS).
# Every step is checked: this also runs where `set -e` does not apply (ff_wait's loop,
# traps), and a half-written hosts file must never replace the real one.
ff_hosts_unpin() {
  local name=$1 tmp
  tmp=$(mktemp "$FF_HOSTS.fleetform.XXXXXX") || return 1
  if ! awk -v name="$name" '!($2 == name && $3 == "#" && $4 == "fleetform-join-pin")' "$FF_HOSTS" >"$tmp" \
    || ! chmod 0644 "$tmp" || ! mv -f "$tmp" "$FF_HOSTS"; then
    rm -f "$tmp"
    ff_log "could not update $FF_HOSTS"
    return 1
  fi
}

# ff_api_pin NAME PORT CA ADDRESS...: make NAME resolve, on this machine only, to the
# first ADDRESS whose API server is ready; fail (to be retried) if none is. A joining
# control-plane replica must not reach the API through its load balancer: the balancer
# may hand the replica's own connections back to it (GCP's internal passthrough load
# balancer always does), and nothing serves there until the join is done.
ff_api_pin() {
  local name=$1 port=$2 ca=$3 address
  shift 3
  for address in "$@"; do
    if ff_api_ready "$name" "$port" "$ca" "$address"; then
      ff_hosts_unpin "$name" || return 1
      printf '%s %s # fleetform-join-pin\n' "$address" "$name" >>"$FF_HOSTS" || return 1
      ff_log "$name pinned to $address (a ready API server) in $FF_HOSTS"
      return 0
    fi
  done
  return 1
}

# ff_prepare_disk DEVICE MOUNTPOINT LABEL: wait for the device (AWS attaches volumes
# after the instance runs, so it may appear late), format it only if it is blank,
# and mount it by UUID.
ff_prepare_disk() {
  local dev=$1 mnt=$2 label=$3 real rc=0 fstype uuid
  ff_wait "data device $dev" "${FF_DEVICE_WAIT:-600}" test -b "$dev"
  real=$(readlink -f "$dev")
  # blkid -p exits 2 when it finds no signature at all: only then is it safe to format.
  blkid -p "$real" >/dev/null 2>&1 || rc=$?
  case $rc in
    0) ff_log "$dev already holds a filesystem; keeping its data" ;;
    2) ff_log "formatting blank $dev"; mkfs.ext4 -q -L "$label" "$real" ;;
    *) ff_fail "blkid could not probe $dev (exit $rc)" ;;
  esac
  fstype=$(blkid -p -s TYPE -o value "$real" || true)
  uuid=$(blkid -p -s UUID -o value "$real" || true)
  # A partition table or foreign signature is not ours to mount, and never ours to wipe.
  if [ -z "$fstype" ] || [ -z "$uuid" ]; then
    ff_fail "$dev holds no filesystem we can mount; refusing to touch it"
  fi
  mkdir -p "$mnt"
  if ! grep -q "^UUID=$uuid " /etc/fstab; then
    printf 'UUID=%s %s %s defaults,nofail,x-systemd.device-timeout=600 0 2\n' "$uuid" "$mnt" "$fstype" >>/etc/fstab
  fi
  mountpoint -q "$mnt" || mount "$mnt"
}
"""

_AWS_SH = r"""# fleetform cloud library (generated): AWS. Uses the instance role through IMDSv2,
# which the AWS CLI v2 speaks natively.
FF_AWS=${FF_AWS:-/snap/bin/aws}
FF_AWS_REGION=@REGION@
FF_AWS_IMDS=${FF_AWS_IMDS:-http://169.254.169.254}

ff_cloud_prepare() {
  if [ -x "$FF_AWS" ]; then return 0; fi
  # Ubuntu 24.04 has no awscli apt package; the snap is the supported install.
  snap wait system seed.loaded
  ff_retry "install the aws-cli snap" snap install aws-cli --classic
}

ff_secret_read() {
  "$FF_AWS" secretsmanager get-secret-value --region "$FF_AWS_REGION" \
    --secret-id "$1" --query SecretString --output text
}

ff_object_put() {
  "$FF_AWS" s3 cp --only-show-errors --region "$FF_AWS_REGION" "$1" "s3://$2/$3"
}

ff_object_get() {
  "$FF_AWS" s3 cp --only-show-errors --region "$FF_AWS_REGION" "s3://$1/$2" "$3"
}

# aws:///<zone>/<instance-id>, from IMDSv2 (the token travels on curl's stdin).
ff_provider_id() {
  local token zone id
  token=$(curl -fsS --max-time 5 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' \
    "$FF_AWS_IMDS/latest/api/token") || return 1
  zone=$(printf 'X-aws-ec2-metadata-token: %s\n' "$token" \
    | curl -fsS --max-time 5 -H @- "$FF_AWS_IMDS/latest/meta-data/placement/availability-zone") || return 1
  id=$(printf 'X-aws-ec2-metadata-token: %s\n' "$token" \
    | curl -fsS --max-time 5 -H @- "$FF_AWS_IMDS/latest/meta-data/instance-id") || return 1
  printf 'aws:///%s/%s\n' "$zone" "$id"
}
"""

_GCP_SH = r"""# fleetform cloud library (generated): GCP. Uses the instance's service account
# through the metadata server; the access token travels on curl's stdin (-H @-), never
# in a command line another process could read.
FF_GCP_PROJECT=@PROJECT@
FF_GCP_METADATA=${FF_GCP_METADATA:-http://metadata.google.internal/computeMetadata/v1}
FF_GCP_SECRETS_API=${FF_GCP_SECRETS_API:-https://secretmanager.googleapis.com/v1}
FF_GCS_API=${FF_GCS_API:-https://storage.googleapis.com}

ff_cloud_prepare() {
  if ! command -v curl >/dev/null || ! command -v python3 >/dev/null; then
    ff_fail "curl and python3 are required to reach GCP APIs"
  fi
}

_ff_gcp_token() {
  curl -fsS --max-time 10 -H 'Metadata-Flavor: Google' \
    "$FF_GCP_METADATA/instance/service-accounts/default/token" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
}

_ff_gcp_curl() {
  local token
  token=$(_ff_gcp_token) || return 1
  printf 'Authorization: Bearer %s\n' "$token" | curl -fsS -H @- "$@"
}

_ff_urlencode() {
  python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"
}

ff_secret_read() {
  local name=$1
  case $name in
    projects/*) ;;
    *) name="projects/$FF_GCP_PROJECT/secrets/$name" ;;
  esac
  case $name in
    */versions/*) ;;
    *) name="$name/versions/latest" ;;
  esac
  _ff_gcp_curl --max-time 30 "$FF_GCP_SECRETS_API/$name:access" \
    | python3 -c 'import base64, json, sys; sys.stdout.buffer.write(base64.b64decode(json.load(sys.stdin)["payload"]["data"]))'
}

ff_object_put() {
  local name
  name=$(_ff_urlencode "$3") || return 1
  _ff_gcp_curl --max-time 3600 -o /dev/null -X POST -H 'Content-Type: application/octet-stream' \
    --data-binary "@$1" "$FF_GCS_API/upload/storage/v1/b/$2/o?uploadType=media&name=$name"
}

ff_object_get() {
  local name
  name=$(_ff_urlencode "$2") || return 1
  _ff_gcp_curl --max-time 3600 -o "$3" "$FF_GCS_API/storage/v1/b/$1/o/$name?alt=media"
}

_ff_gcp_metadata() {
  curl -fsS --max-time 5 -H 'Metadata-Flavor: Google' "$FF_GCP_METADATA/$1"
}

# gce://<project>/<zone>/<instance name>, from the metadata server.
ff_provider_id() {
  local project zone name
  project=$(_ff_gcp_metadata project/project-id) || return 1
  zone=$(_ff_gcp_metadata instance/zone) || return 1
  name=$(_ff_gcp_metadata instance/name) || return 1
  printf 'gce://%s/%s/%s\n' "$project" "${zone##*/}" "$name"
}
"""


def common_library() -> str:
    """``lib.sh``: the cloud-neutral boot helpers (identical for every cloud and role)."""
    return _LIB_SH


_AWS_WRITE_SH = r"""
# ff_secret_write ID <VALUE: a new current value (control-plane replicas rotate the
# bootstrap token; only their identity may). The value travels in a 0600 file, never
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

_GCP_WRITE_SH = r"""
# ff_secret_write ID <VALUE: a new version (control-plane replicas rotate the bootstrap
# token; only their identity may); readers take versions/latest.
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


def cloud_library(store: SecretStore) -> str:
    """``cloud.sh``: secret and object access for ``store.cloud`` with the node's identity."""
    if store.cloud == "aws":
        return _AWS_SH.replace("@REGION@", shlex.quote(store.region)) + _AWS_WRITE_SH
    assert store.project is not None  # validated by SecretStore
    return _GCP_SH.replace("@PROJECT@", shlex.quote(store.project)) + _GCP_WRITE_SH


def library_files(store: SecretStore) -> list[File]:
    return [
        File(COMMON_LIB, common_library(), "0644"),
        File(CLOUD_LIB, cloud_library(store), "0644"),
    ]


def script_prelude(title: str) -> str:
    """First lines of every generated script: strict mode, then both libraries."""
    return (
        "#!/bin/bash\n"
        f"# {title} (generated by fleetform; do not edit)\n"
        "set -euo pipefail\n"
        f". {COMMON_LIB}\n"
        f". {CLOUD_LIB}\n"
    )


def api_pin_lines(name: str, port: int, ca_path: str, addresses: Sequence[str]) -> list[str]:
    """Before a control-plane join: wait until one of ``addresses`` serves the API, and
    resolve ``name`` to it (``/etc/hosts``) until ``api_unpin_lines``."""
    args = " ".join(shlex.quote(v) for v in (name, str(port), ca_path, *addresses))
    return [
        "# The API name resolves to a replica that already serves until the local API server",
        "# is ready: through the load balancer this machine could reach itself (on GCP it always",
        "# does), and kubeadm keeps using the name after discovery (cluster-info's server).",
        f'ff_wait "a ready API server at {" ".join(addresses)}" 3600 ff_api_pin {args}',
    ]


def api_unpin_lines(name: str, port: int, ca_path: str) -> list[str]:
    """After the join: once this machine's own API server is ready, drop the pin, so the
    name resolves through DNS to the load balancer again (which may hand this backend its
    own, now serving, API server)."""
    args = " ".join(shlex.quote(v) for v in (name, str(port), ca_path))
    return [
        f'ff_wait "the local API server" 3600 ff_api_ready {args} 127.0.0.1',
        f"ff_hosts_unpin {shlex.quote(name)}",
        f'ff_log "{name} resolves through DNS again"',
    ]


def secret_fetch_commands(files: Sequence[SecretFile]) -> list[str]:
    """One ``ff_fetch_secret`` line per secret, sorted by path (order is not semantic)."""
    paths = [f.path for f in files]
    if len(set(paths)) != len(paths):
        raise ValueError(f"two secrets target the same path: {sorted(paths)}")
    return [
        "ff_fetch_secret "
        + " ".join(shlex.quote(v) for v in (f.secret_id, f.path, f.mode, f.owner))
        for f in sorted(files, key=lambda f: f.path)
    ]
