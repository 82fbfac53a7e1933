"""Block storage: the cloud's CSI driver and an encrypted default StorageClass.

AWS: the aws-ebs-csi-driver chart (gp3, encrypted). GCP: the Compute Persistent Disk CSI
driver has no chart; fleetform renders the objects of its stable kustomize overlay
(controller Deployment, node DaemonSet, CSIDriver, RBAC) in ``gce-pd-csi-driver``, minus
the snapshotter (no snapshot CRDs are installed) and the Windows node pieces.
"""

from __future__ import annotations

from typing import Any

from fleetform.catalog.versions import ADDON_CHARTS, ADDON_IMAGES, image_ref

from .context import CSI, SERVICE_ACCOUNTS, AddonContext
from .model import Addon
from .render import (
    CONTROL_PLANE_SELECTOR,
    CONTROL_PLANE_TOLERATIONS,
    credentials_configmap,
    file,
    helm_release,
    helm_repository,
    identity_env,
    identity_mounts,
    identity_volumes,
    meta,
    namespace,
)

NAME = "csi"
STORAGE_CLASS = "encrypted"
DEFAULT_CLASS = {"storageclass.kubernetes.io/is-default-class": "true"}
CREDENTIALS_CONFIGMAP = "csi-controller-credentials"
CREDENTIALS_DIR = "/etc/fleetform/credentials"
EBS_RELEASE = "aws-ebs-csi-driver"
EBS_PROVISIONER = "ebs.csi.aws.com"
PD_PROVISIONER = "pd.csi.storage.gke.io"
PD_NAMESPACE = SERVICE_ACCOUNTS[("gcp", CSI)][0]
PD_APP = {"app": "gcp-compute-persistent-disk-csi-driver"}


def storage_class(ctx: AddonContext) -> dict[str, Any]:
    """The default class: encrypted disks, created in the zone of the pod that claims
    them (WaitForFirstConsumer), expandable, deleted with their claim."""
    if ctx.cloud == "aws":
        provisioner = EBS_PROVISIONER
        parameters = {"type": "gp3", "encrypted": "true", "csi.storage.k8s.io/fstype": "ext4"}
    else:
        # Persistent Disk encrypts every disk at rest with Google-managed keys.
        provisioner = PD_PROVISIONER
        parameters = {"type": "pd-balanced", "csi.storage.k8s.io/fstype": "ext4"}
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {**meta(STORAGE_CLASS), "annotations": dict(DEFAULT_CLASS)},
        "provisioner": provisioner,
        "parameters": parameters,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer",
        "allowVolumeExpansion": True,
    }


def ebs_values(ctx: AddonContext) -> dict[str, Any]:
    sa = SERVICE_ACCOUNTS[("aws", CSI)][1]
    repo, tag, _ = ADDON_IMAGES["aws-ebs-csi-driver"]
    controller: dict[str, Any] = {
        "region": ctx.region,
        # Volumes carry kubernetes.io/cluster/<cluster>: owned (and so can be found and
        # cleaned up per cluster).
        "k8sTagClusterId": ctx.cluster,
        "extraVolumeTags": {"fleetform:cluster": ctx.cluster},
        "nodeSelector": dict(CONTROL_PLANE_SELECTOR),
        "tolerations": list(CONTROL_PLANE_TOLERATIONS),
        "serviceAccount": {"create": True, "name": sa},
    }
    w = ctx.identity(CSI)
    if w is not None:
        controller["env"] = identity_env(w, CREDENTIALS_DIR)
        controller["volumes"] = identity_volumes(w, CREDENTIALS_CONFIGMAP)
        controller["volumeMounts"] = identity_mounts(w, CREDENTIALS_DIR)
    return {
        "image": {"repository": repo, "tag": tag},
        "controller": controller,
        # fleetform declares the one default class itself (same manifest on both clouds).
        "storageClasses": [],
        "defaultStorageClass": {"enabled": False},
    }


def _pd_rbac() -> list[dict[str, Any]]:
    ctl_sa = SERVICE_ACCOUNTS[("gcp", CSI)][1]
    node_sa = "csi-gce-pd-node-sa"
    rbac = "rbac.authorization.k8s.io"

    def role(name: str, rules: list[tuple[str, list[str], list[str]]]) -> dict[str, Any]:
        return {"apiVersion": f"{rbac}/v1", "kind": "ClusterRole", "metadata": meta(name),
                "rules": [{"apiGroups": [g], "resources": r, "verbs": v} for g, r, v in rules]}

    def bind(name: str, role_name: str, sa: str, kind: str = "ClusterRole") -> dict[str, Any]:
        out: dict[str, Any] = {
            "apiVersion": f"{rbac}/v1", "kind": "ClusterRoleBinding" if kind == "ClusterRole" else "RoleBinding",
            "metadata": meta(name, None if kind == "ClusterRole" else PD_NAMESPACE),
            "roleRef": {"apiGroup": rbac, "kind": kind, "name": role_name},
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": PD_NAMESPACE}]}
        return out

    watch = ["get", "list", "watch"]
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(ctl_sa, PD_NAMESPACE)},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(node_sa, PD_NAMESPACE)},
        role("csi-gce-pd-provisioner-role", [
            ("", ["persistentvolumes"], [*watch, "create", "delete"]),
            ("", ["persistentvolumeclaims"], [*watch, "update"]),
            ("storage.k8s.io", ["storageclasses"], watch),
            ("", ["events"], ["list", "watch", "create", "update", "patch"]),
            ("storage.k8s.io", ["csinodes"], watch),
            ("", ["nodes"], watch),
            ("storage.k8s.io", ["volumeattachments"], watch),
        ]),
        bind("csi-gce-pd-controller-provisioner-binding", "csi-gce-pd-provisioner-role", ctl_sa),
        role("csi-gce-pd-attacher-role", [
            ("", ["persistentvolumes"], [*watch, "update", "patch"]),
            ("", ["nodes"], watch),
            ("storage.k8s.io", ["csinodes"], watch),
            ("storage.k8s.io", ["volumeattachments"], [*watch, "update", "patch"]),
            ("storage.k8s.io", ["volumeattachments/status"], ["patch"]),
        ]),
        bind("csi-gce-pd-controller-attacher-binding", "csi-gce-pd-attacher-role", ctl_sa),
        role("csi-gce-pd-resizer-role", [
            ("", ["persistentvolumes"], [*watch, "update", "patch"]),
            ("", ["persistentvolumeclaims"], watch),
            ("", ["persistentvolumeclaims/status"], ["update", "patch"]),
            ("", ["events"], ["list", "watch", "create", "update", "patch"]),
            ("", ["pods"], watch),
        ]),
        bind("csi-gce-pd-resizer-binding", "csi-gce-pd-resizer-role", ctl_sa),
        role("csi-gce-pd-node-deploy", [("", ["nodes"], ["get", "list"])]),
        bind("csi-gce-pd-node", "csi-gce-pd-node-deploy", node_sa),
        bind("csi-gce-pd-controller", "csi-gce-pd-node-deploy", ctl_sa),
        {"apiVersion": f"{rbac}/v1", "kind": "Role",
         "metadata": meta("csi-gce-pd-leaderelection-role", PD_NAMESPACE),
         "rules": [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                    "verbs": ["get", "watch", "list", "delete", "update", "create"]}]},
        bind("csi-gce-pd-controller-leaderelection-binding", "csi-gce-pd-leaderelection-role", ctl_sa, "Role"),
    ]


def _sidecar(name: str, image: str, args: list[str], port: int) -> dict[str, Any]:
    return {
        "name": name,
        "image": image_ref(image),
        "args": ["--v=2", "--csi-address=/csi/csi.sock", f"--http-endpoint=:{port}", "--leader-election",
                 "--leader-election-namespace=$(PDCSI_NAMESPACE)", *args],
        "env": [{"name": "PDCSI_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
        "ports": [{"containerPort": port, "name": "http-endpoint", "protocol": "TCP"}],
        "livenessProbe": {"failureThreshold": 1, "httpGet": {"path": "/healthz/leader-election",
                                                             "port": "http-endpoint"},
                          "initialDelaySeconds": 10, "timeoutSeconds": 10, "periodSeconds": 20},
        "volumeMounts": [{"name": "socket-dir", "mountPath": "/csi"}],
    }


def _pd_controller(ctx: AddonContext) -> list[dict[str, Any]]:
    ctl_sa = SERVICE_ACCOUNTS[("gcp", CSI)][1]
    w = ctx.identity(CSI)
    driver: dict[str, Any] = {
        "name": "gce-pd-driver",
        "image": image_ref("gcp-pd-csi-driver"),
        "args": ["--v=2", "--endpoint=unix:/csi/csi.sock"],
        "volumeMounts": [{"name": "socket-dir", "mountPath": "/csi"}],
    }
    volumes: list[dict[str, Any]] = [{"name": "socket-dir", "emptyDir": {}}]
    if w is not None:
        driver["env"] = identity_env(w, CREDENTIALS_DIR)
        driver["volumeMounts"] += identity_mounts(w, CREDENTIALS_DIR)
        volumes += identity_volumes(w, CREDENTIALS_CONFIGMAP)
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta("csi-gce-pd-controller", PD_NAMESPACE),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": dict(PD_APP)},
            "template": {
                "metadata": {"labels": dict(PD_APP)},
                "spec": {
                    # Host network: the metadata server answers the machine identity there.
                    "hostNetwork": True,
                    "nodeSelector": {"kubernetes.io/os": "linux", **CONTROL_PLANE_SELECTOR},
                    "tolerations": list(CONTROL_PLANE_TOLERATIONS),
                    "serviceAccountName": ctl_sa,
                    "priorityClassName": "system-cluster-critical",
                    "containers": [
                        _sidecar("csi-provisioner", "csi-provisioner",
                                 ["--feature-gates=Topology=true", "--timeout=250s", "--extra-create-metadata",
                                  "--default-fstype=ext4", "--controller-publish-readonly=true"], 22011),
                        _sidecar("csi-attacher", "csi-attacher", ["--timeout=250s"], 22012),
                        _sidecar("csi-resizer", "csi-resizer", ["--handle-volume-inuse-error=false"], 22013),
                        driver,
                    ],
                    "volumes": volumes,
                },
            },
        },
    }
    creds = credentials_configmap(w, CREDENTIALS_CONFIGMAP, PD_NAMESPACE) if w is not None else []
    return [*creds, deployment]


def _pd_node() -> dict[str, Any]:
    def host(name: str, path: str, kind: str = "Directory") -> dict[str, Any]:
        return {"name": name, "hostPath": {"path": path, "type": kind}}

    plugin = f"/var/lib/kubelet/plugins/{PD_PROVISIONER}"
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": meta("csi-gce-pd-node", PD_NAMESPACE),
        "spec": {
            "selector": {"matchLabels": dict(PD_APP)},
            "template": {
                "metadata": {"labels": dict(PD_APP)},
                "spec": {
                    "hostNetwork": True,
                    "priorityClassName": "system-node-critical",
                    "serviceAccountName": "csi-gce-pd-node-sa",
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    "containers": [
                        {
                            "name": "csi-driver-registrar",
                            "image": image_ref("csi-node-driver-registrar"),
                            "args": ["--v=2", "--csi-address=/csi/csi.sock",
                                     f"--kubelet-registration-path={plugin}/csi.sock"],
                            "env": [{"name": "KUBE_NODE_NAME",
                                     "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                            "volumeMounts": [{"name": "plugin-dir", "mountPath": "/csi"},
                                             {"name": "registration-dir", "mountPath": "/registration"}],
                        },
                        {
                            "name": "gce-pd-driver",
                            "image": image_ref("gcp-pd-csi-driver"),
                            "args": ["--v=2", "--endpoint=unix:/csi/csi.sock", "--run-controller-service=false",
                                     "--node-name=$(KUBE_NODE_NAME)"],
                            "securityContext": {"privileged": True},
                            "env": [{"name": "KUBE_NODE_NAME",
                                     "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                            "volumeMounts": [
                                {"name": "kubelet-dir", "mountPath": "/var/lib/kubelet",
                                 "mountPropagation": "Bidirectional"},
                                {"name": "plugin-dir", "mountPath": "/csi"},
                                {"name": "device-dir", "mountPath": "/dev"},
                                {"name": "udev-rules-etc", "mountPath": "/etc/udev"},
                                {"name": "udev-rules-lib", "mountPath": "/lib/udev"},
                                {"name": "udev-socket", "mountPath": "/run/udev"},
                                {"name": "sys", "mountPath": "/sys"},
                                {"name": "lib-modules", "mountPath": "/lib/modules"},
                            ],
                        },
                    ],
                    "volumes": [
                        host("registration-dir", "/var/lib/kubelet/plugins_registry/"),
                        host("kubelet-dir", "/var/lib/kubelet"),
                        host("plugin-dir", f"{plugin}/", "DirectoryOrCreate"),
                        host("device-dir", "/dev"),
                        host("udev-rules-etc", "/etc/udev"),
                        host("udev-rules-lib", "/lib/udev"),
                        host("udev-socket", "/run/udev"),
                        host("sys", "/sys"),
                        host("lib-modules", "/lib/modules"),
                    ],
                    # Every node, whatever its taints, must be able to mount volumes.
                    "tolerations": [{"operator": "Exists"}],
                },
            },
        },
    }


def gcp_objects(ctx: AddonContext) -> list[dict[str, Any]]:
    csidriver = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "CSIDriver",
        "metadata": meta(PD_PROVISIONER),
        "spec": {"attachRequired": True, "podInfoOnMount": False},
    }
    # The node plugin is privileged: its namespace allows it (Pod Security).
    ns = namespace(PD_NAMESPACE, {"pod-security.kubernetes.io/enforce": "privileged"})
    return [ns, *_pd_rbac(), csidriver, *_pd_controller(ctx), _pd_node()]


def render(ctx: AddonContext) -> Addon:
    sc = storage_class(ctx)
    if ctx.cloud == "aws":
        chart, version, url = ADDON_CHARTS["aws-ebs-csi-driver"]
        ns = SERVICE_ACCOUNTS[("aws", CSI)][0]
        w = ctx.identity(CSI)
        docs = [
            *(credentials_configmap(w, CREDENTIALS_CONFIGMAP, ns) if w is not None else []),
            helm_repository(EBS_RELEASE, url),
            helm_release(EBS_RELEASE, chart=chart, version=version, repository=EBS_RELEASE,
                         target_namespace=ns, values=ebs_values(ctx)),
            sc,
        ]
        return Addon(NAME, version, ns, ("cloud-controller-manager",), (file(f"{NAME}/aws.yaml", docs),))
    return Addon(NAME, ADDON_IMAGES["gcp-pd-csi-driver"][1], PD_NAMESPACE, ("cloud-controller-manager",),
                 (file(f"{NAME}/gcp.yaml", [*gcp_objects(ctx), sc]),))
