"""The in-cluster reconciler, installed by the first control-plane replica after ``kubeadm init``.

Only what must exist before pods can run is installed from the machine; everything else
comes from the cluster's add-on bundle, which Flux reads from the cluster's own bucket
with the control-plane machine's identity:

1. the Flux CLI of the pinned release, checked against its published sha256;
2. Flux's source-, kustomize- and helm-controller, rendered by that CLI
   (``flux install --export``) and patched as Flux's bootstrap-customization docs
   describe (kustomize patches on the controllers' Deployments): on the host network,
   on control-plane nodes, tolerating not-ready and uninitialized nodes, talking to the
   API server by its name. With no CNI yet, that is how they can install the CNI;
3. the ClusterMesh CA values of a mesh member, from the secret store into a Secret
   (``valuesFrom`` of the CNI's HelmRelease; never in the bundle);
4. the ``Bucket`` source on the cluster's bucket;
5. the bundle's CNI ``Kustomization`` (the very object the bundle holds, read from the
   bucket with the machine's identity), and a wait until it is Ready;
6. the root ``Kustomization`` (``./flux`` of the bundle): every other add-on.

The installer is one bash script run by a restartable systemd unit: every step is
idempotent (server-side apply; the CLI is downloaded once and verified), a failed step
is retried with backoff (``ff_retry``) and, past its attempts, fails the unit, which
systemd restarts -- nothing is ever skipped.

Controllers on the host network share the node's ports: each one gets its own metrics
and health ports, and source-controller serves artifacts on the node's address
(``FLUX_ARTIFACT_PORT``, opened between control-plane nodes by the firewall plan).
"""

from __future__ import annotations

import shlex
from typing import Any

from fleetform.bootstrap.document import LIB_DIR, File, dump_yaml, dump_yaml_documents
from fleetform.bootstrap.inputs import AddonSource
from fleetform.bootstrap.shell import script_prelude
from fleetform.catalog.versions import FLUX_CLI_SHA256, FLUX_VERSION
from fleetform.plan.firewall import API_PORT, FLUX_ARTIFACT_PORT

FLUX_NAMESPACE = "flux-system"
FLUX_COMPONENTS = ("source-controller", "kustomize-controller", "helm-controller")
# Names the bundle shares (fleetform/addons/model.py): the Bucket source every
# Kustomization of the bundle reads, the folder of the Flux objects, the Secret the
# CNI's HelmRelease reads ClusterMesh values from.
BUCKET_SOURCE = "fleetform-addons"
ROOT_KUSTOMIZATION = "fleetform-addons"
BUNDLE_FLUX_DIR = "flux"
CNI_SECRET_VALUES = "fleetform-cni-secret-values"
FIELD_MANAGER = "fleetform-boot"

# Ports on the host network: (metrics, health) per controller, plus source-controller's
# artifact server, which the other controllers fetch from on the node's address.
FLUX_PORTS: dict[str, dict[str, int]] = {
    "source-controller": {"http": FLUX_ARTIFACT_PORT, "http-prom": 9791, "healthz": 9792},
    "kustomize-controller": {"http-prom": 9793, "healthz": 9794},
    "helm-controller": {"http-prom": 9795, "healthz": 9796},
}
_FLAGS = {"http": "--storage-addr", "http-prom": "--metrics-addr", "healthz": "--health-addr"}

INSTALLER = f"{LIB_DIR}/addons-install.sh"
UNIT = "fleetform-addons.service"
UNIT_PATH = f"/etc/systemd/system/{UNIT}"
CONFIG_DIR = "/etc/fleetform/addons"
FLUX_HOME = f"{LIB_DIR}/flux"
ADMIN_KUBECONFIG = "/etc/kubernetes/admin.conf"

# Taints a control-plane node carries before the CNI runs and the cloud controller
# manager initialized it (with --cloud-provider=external).
TOLERATIONS: tuple[dict[str, str], ...] = (
    {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.cloudprovider.kubernetes.io/uninitialized", "operator": "Exists", "effect": "NoSchedule"},
)


def flux_cli_url(version: str = FLUX_VERSION, arch: str = "amd64") -> str:
    return f"https://github.com/fluxcd/flux2/releases/download/v{version}/flux_{version}_linux_{arch}.tar.gz"


# ------------------------------------------------------------------ objects


def bucket_source(src: AddonSource) -> dict[str, Any]:
    """The Flux ``Bucket`` on the cluster's bucket, authenticated as the node (the
    controllers run on the host network of control-plane nodes, whose identity alone
    may read the bucket)."""
    endpoint = f"s3.{src.region}.amazonaws.com" if src.cloud == "aws" else "storage.googleapis.com"
    spec: dict[str, Any] = {"bucketName": src.bucket, "endpoint": endpoint, "provider": src.cloud,
                            "interval": src.interval, "timeout": "120s"}
    if src.cloud == "aws":
        spec["region"] = src.region
    return {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "Bucket",
            "metadata": {"name": BUCKET_SOURCE, "namespace": FLUX_NAMESPACE}, "spec": spec}


def root_kustomization(src: AddonSource) -> dict[str, Any]:
    """Applies the bundle's Flux objects (one Kustomization per add-on, ordered by
    ``dependsOn``) and prunes what the bundle no longer holds."""
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": ROOT_KUSTOMIZATION, "namespace": FLUX_NAMESPACE},
        "spec": {"interval": "10m", "retryInterval": "1m", "path": f"./{BUNDLE_FLUX_DIR}", "prune": True,
                 "sourceRef": {"kind": "Bucket", "name": BUCKET_SOURCE}, "timeout": "5m"},
    }


def _controller_patch(name: str, api_host: str) -> dict[str, Any]:
    ports = FLUX_PORTS[name]
    container_ports = [{"name": p, "containerPort": n, "protocol": "TCP"} for p, n in ports.items()]
    args = [f"{_FLAGS[p]}=:{n}" for p, n in ports.items()]
    env: list[dict[str, Any]] = [
        {"name": "KUBERNETES_SERVICE_HOST", "value": api_host},
        {"name": "KUBERNETES_SERVICE_PORT", "value": str(API_PORT)},
    ]
    if name == "source-controller":
        # Artifacts are fetched by the other controllers on this node's address: no
        # cluster DNS or service routing is needed before the CNI runs.
        env.append({"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}})
        args.append(f"--storage-adv-addr=$(HOST_IP):{FLUX_ARTIFACT_PORT}")
    # JSON patches: the later flag wins (pflag), so appended flags override the defaults.
    ops: list[dict[str, Any]] = [
        {"op": "replace", "path": "/spec/template/spec/containers/0/ports", "value": container_ports},
        *({"op": "add", "path": "/spec/template/spec/containers/0/args/-", "value": a} for a in args),
        *({"op": "add", "path": "/spec/template/spec/containers/0/env/-", "value": e} for e in env),
    ]
    return {"target": {"kind": "Deployment", "name": name}, "patch": dump_yaml_documents([ops]).strip()}


def flux_kustomization(api_host: str) -> dict[str, Any]:
    """``kustomization.yaml`` over the CLI's manifests: the patches for a cluster
    without a CNI yet (every controller), then each controller's own ports."""
    common = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "all"},
        "spec": {"template": {"spec": {
            "hostNetwork": True,
            "dnsPolicy": "Default",
            "nodeSelector": {"node-role.kubernetes.io/control-plane": ""},
            "tolerations": [dict(t) for t in TOLERATIONS],
        }}},
    }
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": ["components.yaml"],
        "patches": [
            {"target": {"kind": "Deployment", "labelSelector": "app.kubernetes.io/part-of=flux"},
             "patch": dump_yaml(common).strip()},
            *(_controller_patch(c, api_host) for c in FLUX_COMPONENTS),
        ],
    }


# ------------------------------------------------------------------ the installer


def installer_script(src: AddonSource, arch: str = "amd64") -> str:
    q = shlex.quote
    components = ",".join(FLUX_COMPONENTS)
    crds = " ".join(f"crd/{c}" for c in ("buckets.source.toolkit.fluxcd.io", "kustomizations.kustomize.toolkit.fluxcd.io",
                                         "helmreleases.helm.toolkit.fluxcd.io"))
    secret_step = ""
    if src.cni_secret_values is not None:
        secret_step = f"""
# The CNI's secret values (ClusterMesh CA) from the secret store, into a Secret.
cni_secret_values() {{
  local tmp rc=0
  tmp=$(mktemp "$FF_STATE/.cni-values.XXXXXX")
  if ff_secret_read {q(src.cni_secret_values)} >"$tmp" && [ -s "$tmp" ]; then
    kubectl -n {FLUX_NAMESPACE} create secret generic {CNI_SECRET_VALUES} --from-file=values.yaml="$tmp" \\
      --dry-run=client -o yaml | ff_apply - || rc=$?
  else
    rc=1
  fi
  rm -f "$tmp"
  return "$rc"
}}
ff_retry "the CNI's secret values" cni_secret_values
"""
    body = f"""
FF_CONFIG=${{FF_CONFIG:-{CONFIG_DIR}}}
FF_FLUX_HOME=${{FF_FLUX_HOME:-{FLUX_HOME}}}
FF_STATE=${{FF_STATE:-/run/fleetform/addons}}
export KUBECONFIG=${{KUBECONFIG:-{ADMIN_KUBECONFIG}}}
FLUX_VERSION={q(FLUX_VERSION)}
FLUX_URL={q(flux_cli_url(FLUX_VERSION, arch))}
FLUX_SHA256={q(FLUX_CLI_SHA256[arch])}
FLUX=$FF_FLUX_HOME/$FLUX_VERSION/flux
install -d -m 0700 "$FF_STATE"
ff_cloud_prepare  # the cloud's CLI/tools for reading the bucket with this machine's identity

# Server-side apply: a re-run with the same objects changes nothing.
ff_apply() {{
  kubectl apply --server-side --force-conflicts --field-manager={FIELD_MANAGER} -f "$1"
}}

ff_wait "the API server" 3600 kubectl get --raw=/readyz

# The Flux CLI of the pinned release, verified before it is unpacked (once).
flux_cli() {{
  local tmp
  if [ -x "$FLUX" ]; then return 0; fi
  tmp=$(mktemp -d "$FF_STATE/.flux.XXXXXX")
  if curl -fsSL --max-time 300 -o "$tmp/flux.tar.gz" "$FLUX_URL" \\
    && printf '%s  %s\\n' "$FLUX_SHA256" "$tmp/flux.tar.gz" | sha256sum -c --quiet - \\
    && tar -xzf "$tmp/flux.tar.gz" -C "$tmp" flux \\
    && install -D -m 0755 "$tmp/flux" "$FLUX.new" && mv -f "$FLUX.new" "$FLUX"; then
    rm -rf "$tmp"
    return 0
  fi
  ff_log "flux $FLUX_VERSION: download or checksum check failed"
  rm -rf "$tmp"
  return 1
}}
ff_retry "the Flux CLI $FLUX_VERSION" flux_cli

# The controllers, patched for a cluster without a CNI (kustomization.yaml beside).
flux_controllers() {{
  "$FLUX" install --export --components={components} --namespace={FLUX_NAMESPACE} \\
    --network-policy=false >"$FF_CONFIG/flux/components.yaml.new" \\
    && mv -f "$FF_CONFIG/flux/components.yaml.new" "$FF_CONFIG/flux/components.yaml" \\
    && kubectl kustomize "$FF_CONFIG/flux" >"$FF_STATE/flux.yaml" \\
    && ff_apply "$FF_STATE/flux.yaml"
}}
ff_retry "the Flux controllers" flux_controllers
ff_retry "the Flux CRDs" kubectl wait --for=condition=Established --timeout=60s {crds}
{secret_step}
# The cluster's bucket as Flux's source.
ff_retry "the Bucket source" ff_apply "$FF_CONFIG/source.yaml"

# The CNI first: the bundle's own CNI Kustomization, read from the bucket with this
# machine's identity, applied alone; nothing else of the bundle exists until it is Ready.
cni_kustomization() {{
  ff_object_get {q(src.bucket)} {q(src.cni_object)} "$FF_STATE/cni.yaml" && ff_apply "$FF_STATE/cni.yaml"
}}
ff_retry "the CNI's Kustomization" cni_kustomization
ff_retry "the CNI" kubectl -n {FLUX_NAMESPACE} wait kustomization/{src.cni_kustomization} \\
  --for=condition=Ready --timeout=600s

# Everything else: the root Kustomization of the bundle.
ff_retry "the root Kustomization" ff_apply "$FF_CONFIG/root.yaml"
ff_log "add-ons: Flux reconciles the bundle of bucket {src.bucket}"
"""
    return script_prelude("in-cluster reconciler (Flux) and its sources") + body


def installer_unit() -> str:
    """Restartable: a step that keeps failing fails the unit, systemd starts it again."""
    return f"""[Unit]
Description=fleetform: the in-cluster reconciler (Flux) and the cluster's add-on sources
After=network-online.target kubelet.service
Wants=network-online.target
ConditionPathExists={ADMIN_KUBECONFIG}
StartLimitIntervalSec=0

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/bash {INSTALLER}
Restart=on-failure
RestartSec=30

[Install]
WantedBy=multi-user.target
"""


def installer_files(src: AddonSource, arch: str = "amd64") -> list[File]:
    """The files the first control-plane replica writes (cloud-init ``write_files``)."""
    return [
        File(INSTALLER, installer_script(src, arch), "0700"),
        File(UNIT_PATH, installer_unit()),
        File(f"{CONFIG_DIR}/flux/kustomization.yaml", dump_yaml(flux_kustomization(src.api_host))),
        File(f"{CONFIG_DIR}/source.yaml", dump_yaml(bucket_source(src))),
        File(f"{CONFIG_DIR}/root.yaml", dump_yaml(root_kustomization(src))),
    ]


def installer_start_lines() -> list[str]:
    """The bootstrap script's last lines on the first replica: hand over to the unit
    (enabled, so a reboot runs it again; a re-run changes nothing)."""
    return [
        "# The in-cluster reconciler and the add-on sources: their own restartable unit.",
        "systemctl daemon-reload",
        f"systemctl enable --now --no-block {UNIT}",
    ]
