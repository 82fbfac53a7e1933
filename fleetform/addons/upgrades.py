"""The in-place upgrade add-on: Rancher's system-upgrade-controller and our Plans.

A version change never replaces a running machine (control_plane.roll, etcd.roll);
each cluster upgrades itself in place, from its own add-on bundle:

- the **control plane** first, one replica at a time (Plan ``fleetform-control-plane``,
  concurrency 1): ``kubeadm upgrade apply`` on the first replica, ``kubeadm upgrade node``
  on the others, each drained first and checked after (API ``/readyz``, etcd health, the
  node Ready at the new version) before the next one starts;
- then the **workers**, pool after pool (one Plan per pool, concurrency 1): each node is
  drained through the eviction API (PodDisruptionBudgets are respected: no ``force``,
  no ``disableEviction``), upgraded with ``kubeadm upgrade node`` and its kubelet,
  uncordoned, checked. A node's ``prepare`` container holds its drain until the whole
  control plane and every earlier pool run the new version.

The per-node script (``upgrade.sh``) is rendered here and shipped in a Secret the Plans
mount; docs/upgrades.md says why in place and not machine replacement.
"""

from __future__ import annotations

import functools
import shlex
from dataclasses import dataclass
from typing import Any

from fleetform.addons.model import Addon, AddonFile
from fleetform.bootstrap.document import dump_as_written
from fleetform.catalog.versions import SYSTEM_UPGRADE_CONTROLLER, UPGRADE_JOB_IMAGE
from fleetform.plan.model import ClusterPlan

NAME = "upgrades"
NAMESPACE = "system-upgrade"
SERVICE_ACCOUNT = "fleetform-upgrade"
SCRIPT_SECRET = "fleetform-upgrade-script"
SCRIPT_MOUNT = "/run/fleetform-upgrade-script"
HOST_DIR = "/run/fleetform-upgrade"  # on the node (tmpfs): the script and the Job's token
CONTROL_PLANE_PLAN = "fleetform-control-plane"
POOL_LABEL = "node.fleetform.io/pool"
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
SUC_REPOSITORY = "https://github.com/rancher/system-upgrade-controller"
# A Job may wait this long for its turn (prepare) and for its health gate.
JOB_DEADLINE_SECONDS = 7200


@dataclass(frozen=True)
class RollInputs:
    """What the in-cluster roll of one cluster needs, as plain values from its plan."""

    cluster: str
    version: str  # the Kubernetes version the cluster converges to
    api_server: str  # https://api.<cluster>.<domain>:6443
    etcd_endpoints: tuple[str, ...]  # https://<member dns>:2379
    pools: tuple[str, ...]  # in upgrade order


_SCRIPT = r'''#!/bin/bash
# fleetform: in-place Kubernetes upgrade of one node (generated; see docs/upgrades.md).
# Run by the system-upgrade-controller, one node at a time per Plan, on the host (chroot):
#   upgrade_node.sh gate    NODE control-plane|worker [POOL]  (Plan prepare: before the drain)
#   upgrade_node.sh upgrade NODE control-plane|worker [POOL]  (Plan upgrade: after the drain)
# A failed health gate exits non-zero: the Job fails, the controller keeps the node (no
# other node of the Plan starts) and retries it; finished steps are remembered on the
# node, so a retry resumes where the last attempt stopped.
set -euo pipefail

# ---- rendered by fleetform for this cluster
TARGET=@TARGET@
CLUSTER=@CLUSTER@
API_SERVER=@API_SERVER@
ETCD_ENDPOINTS=(@ETCD_ENDPOINTS@)
POOLS=(@POOLS@)
# ----

# Settings below are only overridden by tests.
STATE_ROOT=${FF_UPGRADE_STATE:-/var/lib/fleetform/upgrade}
TOKEN_FILE=${FF_UPGRADE_TOKEN:-/run/fleetform-upgrade/token}
WAIT=${FF_UPGRADE_WAIT:-1800}
INTERVAL=${FF_UPGRADE_INTERVAL:-10}
PKI=${FF_PKI_DIR:-/etc/kubernetes/pki}
WORKER_CA=${FF_WORKER_CA:-/etc/kubernetes/fleetform/cluster-ca.crt}
APT_KEYRING=${FF_APT_KEYRING:-/etc/apt/keyrings/kubernetes-apt-keyring.gpg}
APT_SOURCE=${FF_APT_SOURCE:-/etc/apt/sources.list.d/kubernetes.list}
POOL_LABEL=node.fleetform.io/pool

log() { printf 'fleetform-upgrade %s: %s\n' "${NODE:-?}" "$*" >&2; }
stop() {
  log "STOP: $*"
  exit 1
}

minor_of() { printf '%s\n' "$1" | cut -d. -f1,2; }
minor_number() { printf '%s\n' "$1" | cut -d. -f2; }

ca_file() {
  if [ -f "$PKI/ca.crt" ]; then printf '%s\n' "$PKI/ca.crt"; else printf '%s\n' "$WORKER_CA"; fi
}

# The API, as the Job's service account (nodes: get/list; /readyz).
kube() {
  local token
  token=$(cat "$TOKEN_FILE")
  kubectl --server "$API_SERVER" --certificate-authority "$(ca_file)" --token "$token" "$@"
}

# One line per node: name role pool kubelet-version ready.
nodes_report() {
  kube get nodes -o json | python3 -c '
import json, sys
for n in json.load(sys.stdin)["items"]:
    labels = n["metadata"].get("labels", {})
    role = "control-plane" if "node-role.kubernetes.io/control-plane" in labels else "worker"
    ready = next((c["status"] for c in n["status"].get("conditions", []) if c["type"] == "Ready"), "Unknown")
    print(n["metadata"]["name"], role, labels.get(sys.argv[1], "-"),
          n["status"]["nodeInfo"]["kubeletVersion"].lstrip("v"), ready)
' "$POOL_LABEL"
}

# wait_until WHAT CMD...: poll CMD until it succeeds; false after $WAIT seconds.
wait_until() {
  local what=$1 waited=0
  shift
  until "$@"; do
    if [ "$waited" -ge "$WAIT" ]; then
      log "$what: not true after ${WAIT}s"
      return 1
    fi
    sleep "$INTERVAL"
    waited=$((waited + INTERVAL))
  done
}

api_ready() { kube get --raw /readyz >/dev/null 2>&1; }

# Every etcd member answers healthy (from a control-plane node, with the API server's
# etcd client certificate), and the API server's own view of etcd is ready.
etcd_healthy() {
  local ep
  if [ -f "$PKI/apiserver-etcd-client.key" ]; then
    for ep in "${ETCD_ENDPOINTS[@]}"; do
      if [[ "$(curl -fsS --max-time 5 --cacert "$PKI/etcd/ca.crt" --cert "$PKI/apiserver-etcd-client.crt" \
        --key "$PKI/apiserver-etcd-client.key" "$ep/health" 2>/dev/null)" != *'"health":"true"'* ]]; then
        return 1
      fi
    done
  fi
  kube get --raw /readyz/etcd >/dev/null 2>&1
}

# nodes_at ROLE POOL VERSION [EXCEPT]: every node of ROLE (and POOL, "-" for any) is
# Ready, and at VERSION unless VERSION is "-"; EXCEPT is left out.
nodes_at() {
  nodes_report | awk -v role="$1" -v pool="$2" -v version="$3" -v except="${4:-}" '
    $2 == role && (pool == "-" || $3 == pool) && $1 != except {
      seen = 1
      if ($5 != "True" || (version != "-" && $4 != version)) { bad = 1; print "  " $1 " at " $4 ", Ready=" $5 > "/dev/stderr" }
    }
    END { exit (bad || (role == "control-plane" && !seen)) }'
}

node_ready_at() {
  nodes_report | awk -v n="$NODE" -v v="$TARGET" '$1 == n && $4 == v && $5 == "True" { ok = 1 } END { exit !ok }'
}

my_version() {
  nodes_report | awk -v n="$NODE" '$1 == n { print $4 }'
}

# The cluster's version as kubeadm recorded it (moves with the first `upgrade apply`).
cluster_version() {
  kube -n kube-system get configmap kubeadm-config -o jsonpath='{.data.ClusterConfiguration}' |
    awk '$1 == "kubernetesVersion:" { sub(/^v/, "", $2); print $2 }'
}

# ---- gates

gate_before() {
  wait_until "API server ready" api_ready || stop "the API server is not ready: nothing is upgraded"
  if [ "$ROLE" = control-plane ]; then
    wait_until "etcd healthy" etcd_healthy || stop "etcd is not healthy: the control plane is not touched"
    # One replica at a time: every other replica is up before this one goes down.
    wait_until "other control-plane replicas Ready" nodes_at control-plane - - "$NODE" ||
      stop "another control-plane replica is not Ready: waiting for it before taking this one down"
    return 0
  fi
  # Workers follow the whole control plane, and each pool the pools before it.
  wait_until "control plane at $TARGET" nodes_at control-plane - "$TARGET" ||
    stop "the control plane is not at $TARGET yet: workers wait for it"
  local p
  for p in "${POOLS[@]}"; do
    [ "$p" = "$POOL" ] && break
    wait_until "pool $p at $TARGET" nodes_at worker "$p" "$TARGET" ||
      stop "pool $p is not at $TARGET yet: pool $POOL waits for it"
  done
}

gate_after() {
  wait_until "node $NODE Ready at $TARGET" node_ready_at ||
    stop "health gate: $NODE is not Ready at $TARGET after the upgrade; the roll stops here"
  wait_until "API server ready" api_ready || stop "health gate: the API server is not ready after upgrading $NODE"
  if [ "$ROLE" = control-plane ]; then
    wait_until "etcd healthy" etcd_healthy || stop "health gate: etcd is not healthy after upgrading $NODE"
  fi
}

# ---- steps (each remembered on the node once done)

step() {
  local name=$1
  shift
  if [ -f "$STATE/$name" ]; then
    log "$name: done by an earlier attempt"
    return 0
  fi
  log "$name"
  "$@"
  touch "$STATE/$name"
}

apt_repository() {
  local repo
  repo="https://pkgs.k8s.io/core:/stable:/v$(minor_of "$TARGET")/deb/"
  install -d -m 0755 "$(dirname "$APT_KEYRING")"
  curl -fsSL --max-time 60 --retry 5 -o "$STATE/release.key" "${repo}Release.key"
  gpg --batch --yes --dearmor -o "$APT_KEYRING" "$STATE/release.key"
  printf 'deb [signed-by=%s] %s /\n' "$APT_KEYRING" "$repo" >"$APT_SOURCE"
  apt-get update -q
}

install_packages() {
  local pkgs=() p
  for p in "$@"; do pkgs+=("$p=$TARGET-*"); done
  apt-mark unhold "$@" >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --allow-change-held-packages "${pkgs[@]}"
  apt-mark hold "$@" >/dev/null
}

kubeadm_upgrade() {
  if [ "$ROLE" = control-plane ] && [ "$(cluster_version)" != "$TARGET" ]; then
    # The first replica moves the cluster: configuration, control-plane pods, add-ons.
    kubeadm upgrade apply "v$TARGET" --yes
  else
    kubeadm upgrade node
  fi
}

restart_kubelet() {
  systemctl daemon-reload
  systemctl restart kubelet
}

upgrade() {
  local from
  from=$(my_version)
  [ -n "$from" ] || stop "node $NODE is not registered in the cluster"
  if [ -f "$STATE/done" ] && [ "$from" = "$TARGET" ]; then
    log "already at $TARGET"
    return 0
  fi
  if [ "$ROLE" = control-plane ] && [ "$from" != "$TARGET" ] &&
    [ $(($(minor_number "$TARGET") - $(minor_number "$from"))) -gt 1 ]; then
    stop "$from -> $TARGET jumps more than one minor: the control plane moves one minor per step"
  fi
  gate_before
  log "upgrading $ROLE node $NODE of $CLUSTER: $from -> $TARGET"
  step apt-repository apt_repository
  step kubeadm-package install_packages kubeadm
  step kubeadm-upgrade kubeadm_upgrade
  if [ "$ROLE" = control-plane ]; then
    step kubelet-package install_packages kubelet kubectl
  else
    step kubelet-package install_packages kubelet
  fi
  step kubelet-restart restart_kubelet
  gate_after
  touch "$STATE/done"
  log "done: $NODE runs $TARGET"
}

main() {
  [ $# -ge 3 ] || stop "usage: $0 gate|upgrade NODE control-plane|worker [POOL]"
  ACTION=$1 NODE=$2 ROLE=$3 POOL=${4:-}
  case "$ROLE" in
    control-plane) ;;
    worker) [ -n "$POOL" ] || stop "a worker needs its pool" ;;
    *) stop "unknown role $ROLE" ;;
  esac
  STATE="$STATE_ROOT/$TARGET"
  install -d -m 0700 "$STATE"
  case "$ACTION" in
    gate)
      if [ "$(my_version)" = "$TARGET" ] && [ -f "$STATE/done" ]; then exit 0; fi
      gate_before
      ;;
    upgrade) upgrade ;;
    *) stop "unknown action $ACTION" ;;
  esac
}

main "$@"
'''


def render_script(inputs: RollInputs) -> str:
    """The per-node upgrade script of this cluster (bash; shellcheck-clean)."""
    values = {
        "@TARGET@": shlex.quote(inputs.version),
        "@CLUSTER@": shlex.quote(inputs.cluster),
        "@API_SERVER@": shlex.quote(inputs.api_server),
        "@ETCD_ENDPOINTS@": " ".join(shlex.quote(e) for e in inputs.etcd_endpoints),
        "@POOLS@": " ".join(shlex.quote(p) for p in inputs.pools),
    }
    text = _SCRIPT
    for key, value in values.items():
        text = text.replace(key, value)
    return text


_MANAGED = {"app.kubernetes.io/managed-by": "fleetform", "app.kubernetes.io/part-of": "fleetform-upgrades"}


def _meta(name: str, namespace: str | None = None) -> dict[str, Any]:
    m: dict[str, Any] = {"name": name}
    if namespace is not None:
        m["namespace"] = namespace
    m["labels"] = dict(_MANAGED)
    return m


def _dump(docs: list[dict[str, Any]]) -> str:
    return "---\n".join(dump_as_written(d, literal=False) for d in docs)


def launcher(action: str, role: str, pool: str | None = None) -> str:
    """The Job container's command: hand the script and the Job's token to the host,
    then run the script there (the controller mounts the host's root at /host)."""
    tail = " ".join(shlex.quote(a) for a in (role, *((pool,) if pool else ())))
    return "\n".join([
        "set -eu",
        f"mkdir -p /host{HOST_DIR}",
        f"cp {SCRIPT_MOUNT}/upgrade.sh /host{HOST_DIR}/upgrade.sh",
        f"cat /var/run/secrets/kubernetes.io/serviceaccount/token >/host{HOST_DIR}/token",
        f"chmod 0600 /host{HOST_DIR}/token",
        f'exec chroot /host /bin/bash {HOST_DIR}/upgrade.sh {action} "$SYSTEM_UPGRADE_NODE_NAME" {tail}',
    ]) + "\n"


def _container(action: str, role: str, pool: str | None) -> dict[str, Any]:
    return {"image": UPGRADE_JOB_IMAGE, "command": ["sh", "-c"], "args": [launcher(action, role, pool)]}


def plan_object(name: str, version: str, selector: list[dict[str, Any]], role: str, pool: str | None,
                tolerations: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        # One node at a time: the next starts only when this one's Job succeeded.
        "concurrency": 1,
        "version": f"v{version}",
        "nodeSelector": {"matchExpressions": selector},
        "serviceAccountName": SERVICE_ACCOUNT,
        "jobActiveDeadlineSecs": JOB_DEADLINE_SECONDS,
        "secrets": [{"name": SCRIPT_SECRET, "path": SCRIPT_MOUNT}],
        # Before the drain: wait for this node's turn (control plane first, pools in order).
        "prepare": _container("gate", role, pool),
        # Evictions, so PodDisruptionBudgets hold; never forced.
        "drain": {"ignoreDaemonSets": True, "deleteEmptydirData": True, "timeout": "15m"},
        "upgrade": _container("upgrade", role, pool),
    }
    if tolerations:
        spec["tolerations"] = tolerations
    return {"apiVersion": "upgrade.cattle.io/v1", "kind": "Plan", "metadata": _meta(name, NAMESPACE), "spec": spec}


def pool_plan_name(pool: str) -> str:
    return f"fleetform-pool-{pool}"


def plans(inputs: RollInputs) -> list[dict[str, Any]]:
    """The control plane's Plan, then one per pool, in upgrade order."""
    out = [plan_object(
        CONTROL_PLANE_PLAN, inputs.version,
        [{"key": CONTROL_PLANE_LABEL, "operator": "Exists"}], "control-plane", None,
        [{"key": CONTROL_PLANE_LABEL, "operator": "Exists", "effect": "NoSchedule"}])]
    for pool in inputs.pools:
        out.append(plan_object(
            pool_plan_name(pool), inputs.version,
            [{"key": POOL_LABEL, "operator": "In", "values": [pool]},
             {"key": CONTROL_PLANE_LABEL, "operator": "DoesNotExist"}], "worker", pool, []))
    return out


def access_objects() -> list[dict[str, Any]]:
    """What the Jobs' service account may do: read nodes and the API's readiness, and
    kubeadm's recorded cluster version. Nothing else (kubeadm itself uses the node's
    own credentials)."""
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(SERVICE_ACCOUNT, NAMESPACE)},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": _meta(SERVICE_ACCOUNT),
         "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]},
                   {"nonResourceURLs": ["/readyz", "/readyz/*"], "verbs": ["get"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": _meta(SERVICE_ACCOUNT),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": SERVICE_ACCOUNT},
         "subjects": [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NAMESPACE}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": _meta(SERVICE_ACCOUNT, "kube-system"),
         "rules": [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["kubeadm-config"],
                    "verbs": ["get"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": _meta(SERVICE_ACCOUNT, "kube-system"),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": SERVICE_ACCOUNT},
         "subjects": [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NAMESPACE}]},
    ]


def controller_objects(flux_namespace: str = "flux-system") -> list[dict[str, Any]]:
    """The system-upgrade-controller, from its upstream repository at the pinned tag:
    its CRD first, then the controller (upstream's own kustomization)."""
    source = {"kind": "GitRepository", "name": "system-upgrade-controller"}
    common = {"interval": "1h", "retryInterval": "1m", "timeout": "10m", "prune": True, "wait": True,
              "sourceRef": source}
    return [
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
         "metadata": _meta("system-upgrade-controller", flux_namespace),
         "spec": {"interval": "24h", "url": SUC_REPOSITORY, "ref": {"tag": SYSTEM_UPGRADE_CONTROLLER}}},
        {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
         "metadata": _meta("system-upgrade-controller-crd", flux_namespace),
         "spec": {**common, "path": "./pkg/crds/yaml/generated"}},
        {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
         "metadata": _meta("system-upgrade-controller", flux_namespace),
         "spec": {**common, "path": "./", "dependsOn": [{"name": "system-upgrade-controller-crd"}]}},
    ]


CONTROLLER_ADDON = "upgrade-controller"


@functools.lru_cache(maxsize=1)
def _controller_files() -> tuple[AddonFile, ...]:
    return (AddonFile(f"{CONTROLLER_ADDON}/controller.yaml", _dump(controller_objects())),)


# A bundle renders both add-ons from the same inputs, and a program renders each cluster's
# bundle more than once (the user-data's paths, then the files): the same frozen values.
@functools.lru_cache(maxsize=16)
def render(inputs: RollInputs) -> tuple[Addon, Addon]:
    """Two add-ons: the controller (upstream), then our Plans, access and script."""
    controller_files = _controller_files()
    script = render_script(inputs)
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": _meta(SCRIPT_SECRET, NAMESPACE),
              "type": "Opaque", "stringData": {"upgrade.sh": script}}
    files = (
        AddonFile(f"{NAME}/access.yaml", _dump(access_objects())),
        AddonFile(f"{NAME}/script.yaml", _dump([secret])),
        AddonFile(f"{NAME}/plans.yaml", _dump(plans(inputs))),
    )
    return (
        Addon(CONTROLLER_ADDON, SYSTEM_UPGRADE_CONTROLLER, NAMESPACE, (),
              controller_files),
        Addon(NAME, inputs.version, NAMESPACE, (CONTROLLER_ADDON,), files),
    )


def roll_inputs(plan: ClusterPlan) -> RollInputs:
    """The roll of one incarnation: to the version its plan converges to (a fleet
    upgrade's, else its own), pools in the order the stack file lists them."""
    return RollInputs(
        cluster=plan.name,
        version=plan.target_version,
        api_server=f"https://{plan.api.dns}:{plan.api.port}",
        etcd_endpoints=tuple(f"https://{m.dns}:2379" for m in plan.etcd.members),
        pools=tuple(p.name for p in plan.workers),
    )
