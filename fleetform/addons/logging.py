"""Central audit and system logs: Fluent Bit on every node ships the API server's audit
log (control-plane nodes) and the node's system journal (kubelet, containerd, etcd,
fleetform's boot units) to the fleet's one destination per cloud.

- AWS: CloudWatch Logs, the fleet's log group (``LogDestination.group``) in its region,
  one stream per cluster and node; credentials through the fleet's workload identity
  federation (the shipper's own role, web identity from its projected token).
- GCP: Cloud Logging of the fleet's project, logs ``fleetform-audit`` and
  ``fleetform-node`` routed to the fleet's log bucket (retention there); credentials from
  the node's service account through the metadata server, which only host-network
  system pods may reach (Fluent Bit's Cloud Logging output takes no federated
  credential file).
"""

from __future__ import annotations

from typing import Any

import yaml

from fleetform.catalog.versions import ADDON_IMAGES, image_ref
from fleetform.plan.logging import SHIPPER_NAMESPACE, SHIPPER_SERVICE_ACCOUNT

from .context import LOG_SHIPPER, AddonContext, LogDestination, Workload
from .model import Addon
from .render import file, identity_env, identity_mounts, identity_volumes, meta, namespace

NAME = "log-shipper"
NAMESPACE = SHIPPER_NAMESPACE
SERVICE_ACCOUNT = SHIPPER_SERVICE_ACCOUNT
CONFIG_PATH = "/fluent-bit/etc/fluent-bit.yaml"
STATE_DIR = "/var/lib/fluent-bit"
AUDIT_LOG = "/var/log/kubernetes/audit/audit.log"
# The units whose journal is shipped (system logs of every node).
UNITS = ("kubelet.service", "containerd.service", "etcd.service", "fleetform-bootstrap.service",
         "kubeadm-certs-renew.service", "ssh.service")
AUDIT_TAG, NODE_TAG = "fleetform-audit", "fleetform-node"
HEALTH_PORT = 2020


def config(ctx: AddonContext, dest: LogDestination) -> dict[str, Any]:
    """Fluent Bit's YAML configuration (pipeline of inputs, filters, outputs)."""
    inputs = [
        {"name": "tail", "tag": AUDIT_TAG, "path": AUDIT_LOG, "parser": "json",
         "db": f"{STATE_DIR}/audit.db", "mem_buf_limit": "50MB", "skip_long_lines": "on",
         "refresh_interval": 10},
        {"name": "systemd", "tag": NODE_TAG, "db": f"{STATE_DIR}/journal.db", "read_from_tail": "on",
         "strip_underscores": "on", "systemd_filter": [f"_SYSTEMD_UNIT={u}" for u in UNITS]},
    ]
    filters = [{"name": "record_modifier", "match": "*",
                "record": [f"cluster {ctx.cluster}", f"incarnation {ctx.key}", "node ${NODE_NAME}"]}]
    outputs: list[dict[str, Any]]
    if dest.cloud == "aws":
        outputs = [{"name": "cloudwatch_logs", "match": "*", "region": dest.region,
                    "log_group_name": dest.group, "log_stream_prefix": f"{ctx.cluster}.",
                    "auto_create_group": "off", "retry_limit": "no_limits"}]
    else:
        outputs = [{"name": "stackdriver", "match": tag, "resource": "generic_node", "location": ctx.region,
                    "namespace": ctx.cluster, "node_id": "${NODE_NAME}", "export_to_project_id": dest.project,
                    "retry_limit": "no_limits"} for tag in (AUDIT_TAG, NODE_TAG)]
    return {
        "service": {"flush": 5, "log_level": "info", "http_server": "on", "http_port": HEALTH_PORT,
                    "health_check": "on", "parsers_file": "/fluent-bit/etc/parsers.conf",
                    "storage.path": f"{STATE_DIR}/buffer"},
        "pipeline": {"inputs": inputs, "filters": filters, "outputs": outputs},
    }


def _daemonset(ctx: AddonContext, identity: Workload | None) -> dict[str, Any]:
    env: list[dict[str, Any]] = [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]
    mounts: list[dict[str, Any]] = [
        {"name": "config", "mountPath": "/fluent-bit/etc/fluent-bit.yaml", "subPath": "fluent-bit.yaml",
         "readOnly": True},
        {"name": "audit", "mountPath": "/var/log/kubernetes/audit", "readOnly": True},
        {"name": "journal", "mountPath": "/var/log/journal", "readOnly": True},
        {"name": "machine-id", "mountPath": "/etc/machine-id", "readOnly": True},
        {"name": "state", "mountPath": STATE_DIR},
    ]
    volumes: list[dict[str, Any]] = [
        {"name": "config", "configMap": {"name": NAME}},
        {"name": "audit", "hostPath": {"path": "/var/log/kubernetes/audit", "type": "DirectoryOrCreate"}},
        {"name": "journal", "hostPath": {"path": "/var/log/journal", "type": "DirectoryOrCreate"}},
        {"name": "machine-id", "hostPath": {"path": "/etc/machine-id", "type": "File"}},
        {"name": "state", "hostPath": {"path": STATE_DIR, "type": "DirectoryOrCreate"}},
    ]
    if identity is not None:
        env += identity_env(identity, "/fleetform/cloud")
        mounts += identity_mounts(identity, "/fleetform/cloud")
        volumes += identity_volumes(identity, f"{NAME}-cloud")
    pod: dict[str, Any] = {
        "serviceAccountName": SERVICE_ACCOUNT,
        "automountServiceAccountToken": False,
        "priorityClassName": "system-node-critical",
        # Every node: control-plane nodes hold the audit log.
        "tolerations": [{"operator": "Exists"}],
        "containers": [{
            "name": "fluent-bit",
            "image": image_ref("fluent-bit"),
            "args": ["-c", CONFIG_PATH],
            "env": env,
            "ports": [{"name": "http", "containerPort": HEALTH_PORT}],
            "livenessProbe": {"httpGet": {"path": "/", "port": "http"}},
            "readinessProbe": {"httpGet": {"path": "/api/v1/health", "port": "http"}},
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
            "securityContext": {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}},
            "volumeMounts": mounts,
        }],
        "volumes": volumes,
    }
    if ctx.cloud == "gcp":
        # Cloud Logging credentials come from the node's metadata server, which only
        # host-network system pods may reach.
        pod["hostNetwork"] = True
        pod["dnsPolicy"] = "ClusterFirstWithHostNet"
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": meta(NAME, NAMESPACE),
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": NAME}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}},
            "template": {"metadata": {"labels": {"app.kubernetes.io/name": NAME}}, "spec": pod},
        },
    }


def render(ctx: AddonContext) -> Addon | None:
    """The shipper's namespace (privileged: it reads host logs), account, configuration
    and DaemonSet; None when the fleet ships no logs."""
    dest = ctx.logs
    if dest is None:
        return None
    identity = ctx.identity(LOG_SHIPPER) if ctx.cloud == "aws" else None
    if ctx.cloud == "aws" and identity is None:
        raise ValueError(f"cluster {ctx.key}: the log shipper needs its federated identity on AWS (its pods "
                         "cannot reach the instance role: IMDSv2, hop limit 1)")
    text = yaml.safe_dump(config(ctx, dest), sort_keys=False)
    docs: list[dict[str, Any]] = [
        namespace(NAMESPACE, {"pod-security.kubernetes.io/enforce": "privileged"}),
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(SERVICE_ACCOUNT, NAMESPACE),
         "automountServiceAccountToken": False},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(NAME, NAMESPACE),
         "data": {"fluent-bit.yaml": text}},
        _daemonset(ctx, identity),
    ]
    _, tag, _ = ADDON_IMAGES["fluent-bit"]
    return Addon(NAME, tag, NAMESPACE, (), (file(f"{NAME}/shipper.yaml", docs),))
