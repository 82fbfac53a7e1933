"""The cloud controller manager: node provider IDs and addresses, removal of deleted
machines' nodes, ``LoadBalancer`` Services. For clusters whose kubelet, API server and
controller manager run with ``--cloud-provider=external``.

AWS: the upstream aws-cloud-controller-manager chart. GCP: cloud-provider-gcp ships no
chart, only a manifest whose ``args`` tooling fills in; fleetform renders that DaemonSet
with its arguments, the cloud config as a ConfigMap (not a host file) and RBAC.
"""

from __future__ import annotations

from typing import Any

from fleetform.catalog.versions import ADDON_CHARTS, ADDON_IMAGES, image_ref

from .context import CCM, SERVICE_ACCOUNTS, AddonContext
from .model import Addon
from .render import (
    CONTROL_PLANE_TOLERATIONS,
    credentials_configmap,
    file,
    helm_release,
    helm_repository,
    identity_env,
    identity_mounts,
    identity_volumes,
    meta,
)

NAME = "cloud-controller-manager"
NAMESPACE = "kube-system"
CREDENTIALS_CONFIGMAP = "cloud-controller-manager-credentials"
CREDENTIALS_DIR = "/etc/fleetform/credentials"
CLOUD_CONFIG = "cloud-controller-manager-config"
CLOUD_CONFIG_PATH = "/etc/kubernetes/cloud.config"
AWS_RELEASE = "aws-cloud-controller-manager"


def aws_values(ctx: AddonContext) -> dict[str, Any]:
    chart_sa = SERVICE_ACCOUNTS[("aws", CCM)][1]
    repo, tag, _ = ADDON_IMAGES["aws-cloud-controller-manager"]
    values: dict[str, Any] = {
        "args": [
            "--v=2",
            "--cloud-provider=aws",
            # Resources carry kubernetes.io/cluster/<cluster>; the CCM finds them by it.
            f"--cluster-name={ctx.cluster}",
            # Pod traffic rides the CNI's overlay: no VPC routes per node.
            "--configure-cloud-routes=false",
        ],
        "image": {"repository": repo, "tag": tag},
        "serviceAccountName": chart_sa,
        # It reads the instance identity (region, VPC) from the metadata service, which
        # answers one hop only (IMDSv2): on the host network. Its calls still use its
        # federated role (the web-identity variables come first in the SDK's chain).
        # The chart's template reads this key; its values.yaml does not list it.
        "hostNetworking": True,
    }
    w = ctx.identity(CCM)
    if w is not None:
        values["env"] = identity_env(w, CREDENTIALS_DIR)
        values["extraVolumes"] = identity_volumes(w, CREDENTIALS_CONFIGMAP)
        values["extraVolumeMounts"] = identity_mounts(w, CREDENTIALS_DIR)
    return values


def gce_cloud_config(ctx: AddonContext) -> str:
    """The GCE provider's gcfg file. ``token-url = nil`` makes it use Application Default
    Credentials (the federated identity's credential file) instead of the metadata
    server's machine identity."""
    lines = [
        "[global]",
        f"project-id = {ctx.project}",
        f"network-name = {ctx.network}",
        f"subnetwork-name = {ctx.subnetwork}",
        f"node-tags = {ctx.node_tag}",
        "multizone = true",
    ]
    if ctx.identity(CCM) is not None:
        lines.append("token-url = nil")
    return "\n".join(lines) + "\n"


def _gcp_rbac(sa: str) -> list[dict[str, Any]]:
    # The upstream manifest's system:cloud-controller-manager rules, plus what its
    # service and node controllers need when they run under this one account.
    rules: list[dict[str, Any]] = [
        {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch", "update"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
         "verbs": ["create", "get", "list", "watch", "update"]},
        {"apiGroups": [""], "resources": ["endpoints", "serviceaccounts"], "verbs": ["create", "get", "update"]},
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch", "update", "patch", "delete"]},
        {"apiGroups": [""], "resources": ["nodes/status"], "verbs": ["patch", "update"]},
        {"apiGroups": [""], "resources": ["services"], "verbs": ["get", "list", "watch", "update", "patch"]},
        {"apiGroups": [""], "resources": ["services/status"], "verbs": ["patch", "update"]},
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "create", "update"]},
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]},
        {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
        {"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"], "verbs": ["create"]},
        {"apiGroups": ["*"], "resources": ["*"], "verbs": ["list", "watch"]},
    ]
    subject = [{"kind": "ServiceAccount", "name": sa, "namespace": NAMESPACE}]
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(sa, NAMESPACE)},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": meta("system:cloud-controller-manager"), "rules": rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": meta("system:cloud-controller-manager"),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": "system:cloud-controller-manager"}, "subjects": subject},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": meta("cloud-controller-manager:apiserver-authentication-reader", NAMESPACE),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                     "name": "extension-apiserver-authentication-reader"}, "subjects": subject},
    ]


def gcp_objects(ctx: AddonContext) -> list[dict[str, Any]]:
    sa = SERVICE_ACCOUNTS[("gcp", CCM)][1]
    w = ctx.identity(CCM)
    labels = {"component": "cloud-controller-manager"}
    env: list[dict[str, Any]] = [
        # Host network on the control plane: the local API server, not the Service.
        {"name": "KUBERNETES_SERVICE_HOST", "value": "127.0.0.1"},
        {"name": "KUBERNETES_SERVICE_PORT", "value": str(ctx.api_port)},
    ]
    volumes: list[dict[str, Any]] = [{"name": "cloudconfig", "configMap": {"name": CLOUD_CONFIG}}]
    mounts: list[dict[str, Any]] = [
        {"name": "cloudconfig", "mountPath": CLOUD_CONFIG_PATH, "subPath": "cloud.config", "readOnly": True}]
    if w is not None:
        env += identity_env(w, CREDENTIALS_DIR)
        volumes += identity_volumes(w, CREDENTIALS_CONFIGMAP)
        mounts += identity_mounts(w, CREDENTIALS_DIR)
    daemonset = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": meta("cloud-controller-manager", NAMESPACE, labels),
        "spec": {
            "selector": {"matchLabels": labels},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": {**labels, "tier": "control-plane"}},
                "spec": {
                    "nodeSelector": {"node-role.kubernetes.io/control-plane": ""},
                    "tolerations": [*CONTROL_PLANE_TOLERATIONS,
                                    {"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                                     "effect": "NoSchedule"}],
                    "serviceAccountName": sa,
                    "hostNetwork": True,
                    "priorityClassName": "system-cluster-critical",
                    "containers": [{
                        "name": "cloud-controller-manager",
                        "image": image_ref("gcp-cloud-controller-manager"),
                        # The image's entrypoint is the binary; upstream leaves args to tooling.
                        "args": [
                            "--v=2",
                            "--cloud-provider=gce",
                            f"--cloud-config={CLOUD_CONFIG_PATH}",
                            f"--cluster-name={ctx.key}",
                            "--leader-elect=true",
                            # Pod CIDRs come from kube-controller-manager and the CNI.
                            "--allocate-node-cidrs=false",
                            "--configure-cloud-routes=false",
                        ],
                        "env": env,
                        "livenessProbe": {
                            "httpGet": {"host": "127.0.0.1", "path": "/healthz", "port": 10258, "scheme": "HTTPS"},
                            "initialDelaySeconds": 15, "periodSeconds": 10, "timeoutSeconds": 15,
                            "failureThreshold": 3},
                        "resources": {"requests": {"cpu": "200m", "memory": "128Mi"}},
                        "volumeMounts": mounts,
                    }],
                    "volumes": volumes,
                },
            },
        },
    }
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(CLOUD_CONFIG, NAMESPACE),
              "data": {"cloud.config": gce_cloud_config(ctx)}}
    creds = credentials_configmap(w, CREDENTIALS_CONFIGMAP, NAMESPACE) if w is not None else []
    return [*_gcp_rbac(sa), config, *creds, daemonset]


def render(ctx: AddonContext) -> Addon:
    if ctx.cloud == "aws":
        chart, version, url = ADDON_CHARTS["aws-cloud-controller-manager"]
        w = ctx.identity(CCM)
        docs = [
            *(credentials_configmap(w, CREDENTIALS_CONFIGMAP, NAMESPACE) if w is not None else []),
            helm_repository(AWS_RELEASE, url),
            helm_release(AWS_RELEASE, chart=chart, version=version, repository=AWS_RELEASE,
                         target_namespace=NAMESPACE, values=aws_values(ctx)),
        ]
        return Addon(NAME, version, NAMESPACE, ("cni",), (file(f"{NAME}/aws.yaml", docs),))
    return Addon(NAME, ADDON_IMAGES["gcp-cloud-controller-manager"][1], NAMESPACE, ("cni",),
                 (file(f"{NAME}/gcp.yaml", gcp_objects(ctx)),))
