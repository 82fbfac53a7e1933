"""Credentials of the control-plane replicas that renew themselves: kubeadm's
certificates and kubeconfigs, the bootstrap token, and the kubelet serving certificates
(built on the renewal library of ``renewal.py``)."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from fleetform.bootstrap.document import LIB_DIR, File
from fleetform.bootstrap.renewal import (
    RENEW_LIB,
    STATE_DIR,
    _prelude,
    renew_library,
    timer_units,
    trust_prefix,
)

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
    # The service-account keys in the secret store (JSON: ``key``, the signing key;
    # ``pub``, every key that verifies, the signing one first) and every replica of the
    # control plane: a new signing key is used only once every replica trusts it.
    service_account_secret: str | None = None
    replicas: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.renew_before_hours < 24:
            raise ValueError("renew kubeadm certificates at least a day before they expire")
        if self.service_account_secret is not None and self.replica not in self.replicas:
            raise ValueError("the service-account key step needs every replica of the control plane")


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
    sa_sync = _service_account_sync(r) if r.service_account_secret is not None else (
        "\nsa_fetch() { :; }\nsa_due() { return 1; }\nsa_install() { :; }\nsa_ack() { :; }\n")
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
{etcd_sync}{sa_sync}
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
  sa_ack
}}

if [ -d "$PARKED" ]; then unpark; fi
if [ "${{1:-}}" != "--locked" ]; then
  etcd_client_fetch
  sa_fetch
  if ! kubeadm_due && ! etcd_client_due && ! sa_due; then
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
if sa_due; then
  sa_install
fi
restart_static_pods
ack
rm -rf "$STAGE"
ff_log "control-plane replica {r.replica} runs its renewed certificates"
"""
    )


def service_account_trust_prefix(cluster: str) -> str:
    """Where each control-plane replica records the service-account keys it accepts."""
    return f"fleetform/{cluster}/service-account-trust"


def _service_account_sync(r: KubeadmRenewal) -> str:
    """The service-account keys from the secret store, in two steps on every replica: the
    new public keys at once (``sa.pub``: accepting more tokens is always safe), the new
    signing key (``sa.key``) only once every other replica accepts it, so no API server
    refuses a token another one signed. ``complete`` (one key in ``pub``) installs at once."""
    q = shlex.quote
    assert r.service_account_secret is not None
    return f"""
SA_TRUST={q(service_account_trust_prefix(r.cluster))}
REPLICA={q(r.replica)}
REPLICAS=({" ".join(q(x) for x in r.replicas)})

sa_fetch() {{
  install -d -m 0700 "$STAGE" "$STAGE/sa"
  ff_retry "read secret {r.service_account_secret}" _ff_secret_once {q(r.service_account_secret)} "$STAGE/sa.json"
  ff_split_credentials "$STAGE/sa.json" "$STAGE/sa" key=sa.key pub=sa.pub
  rm -f "$STAGE/sa.json"
}}

_sa_etcdctl() {{
  "$FF_ETCDCTL" --endpoints="$ENDPOINTS" --cacert="$PKI/etcd/ca.crt" --cert="$PKI/apiserver-etcd-client.crt" \
    --key="$PKI/apiserver-etcd-client.key" --dial-timeout=5s "$@"
}}

# Every other replica runs exactly the new sa.pub (it recorded its hash after restarting).
sa_trusted() {{
  local want other got
  want=$(sha256sum <"$STAGE/sa/sa.pub" | cut -c1-64)
  for other in "${{REPLICAS[@]}}"; do
    [ "$other" = "$REPLICA" ] && continue
    got=$(_sa_etcdctl get --print-value-only "$SA_TRUST/$other") || return 1
    [ "$got" = "$want" ] || return 1
  done
}}

sa_due() {{
  install -d -m 0700 "$STAGE/sa/next"
  cp "$STAGE/sa/sa.pub" "$STAGE/sa/next/sa.pub"
  if cmp -s "$STAGE/sa/sa.key" "$PKI/sa.key" || sa_trusted; then
    cp "$STAGE/sa/sa.key" "$STAGE/sa/next/sa.key"
  else
    # Keep signing with the current key (sa.pub still holds it during prepare).
    cp "$PKI/sa.key" "$STAGE/sa/next/sa.key"
  fi
  ! {{ cmp -s "$STAGE/sa/next/sa.key" "$PKI/sa.key" && cmp -s "$STAGE/sa/next/sa.pub" "$PKI/sa.pub"; }}
}}

sa_install() {{
  ff_install_file "$STAGE/sa/next/sa.pub" "$PKI/sa.pub" 0644
  ff_install_file "$STAGE/sa/next/sa.key" "$PKI/sa.key" 0600
  if cmp -s "$STAGE/sa/next/sa.key" "$STAGE/sa/sa.key"; then
    ff_log "service-account keys installed from the secret store"
  else
    ff_log "service-account keys: accepting the new key, signing with the current one until every replica accepts it"
  fi
}}

sa_ack() {{
  _sa_etcdctl put "$SA_TRUST/$REPLICA" "$(sha256sum <"$PKI/sa.pub" | cut -c1-64)" >/dev/null
}}
"""


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

# One line per token with an expiry: its id, the seconds it has left (0 when none) and
# whether it has expired (1/0). `kubeadm token list -o json` prints one object per token.
token_lifetimes() {{
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
    if tok.get("expires"):
        exp = dt.datetime.fromisoformat(tok["expires"].replace("Z", "+00:00"))
        print(tok.get("token", "").split(".")[0], max(0, int((exp - now).total_seconds())), int(exp <= now))'
}}

# Seconds the token published in the secret store has left (0: unknown to the cluster).
published_left() {{
  local current
  current=$(ff_secret_read {q(t.secret_id)} 2>/dev/null) || {{ echo 0; return; }}
  token_lifetimes | awk -v want="${{current%%.*}}" '$1 == want {{ left = $2 }} END {{ print left + 0 }}'
}}

# Tokens that expired (the token cleaner deletes them too; this does not wait for it).
delete_expired() {{
  token_lifetimes | awk '$3 == 1 {{ print $1 }}' | while read -r id; do
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


def token_rotate_files(t: TokenRotation) -> list[File]:
    """The script writes the secret with ``ff_secret_write`` of cloud.sh (only the
    control-plane identity may add versions to it)."""
    return [
        File(RENEW_LIB, renew_library(), "0644"),
        File(TOKEN_ROTATE_PATH, token_rotate_script(t), "0755"),
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
