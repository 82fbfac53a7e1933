"""metrics-server: resource metrics for ``kubectl top`` and the Horizontal Pod Autoscaler."""

from __future__ import annotations

from typing import Any

from fleetform.catalog.versions import ADDON_CHARTS, ADDON_IMAGES

from .context import AddonContext
from .model import Addon
from .render import file, helm_release, helm_repository

NAME = "metrics-server"
NAMESPACE = "kube-system"


def values(ctx: AddonContext) -> dict[str, Any]:
    repo, tag, digest = ADDON_IMAGES["metrics-server"]
    return {
        "image": {"repository": repo, "tag": f"{tag}@{digest}" if digest else tag},
        # Two replicas and a disruption budget: the HPA keeps its metrics while a node drains.
        "replicas": 2,
        "podDisruptionBudget": {"enabled": True, "minAvailable": 1},
        # kubeadm's kubelet serving certificates are self-signed unless serverTLSBootstrap is
        # on; metrics-server dials the node's InternalIP, which the CCM sets.
        "args": ["--kubelet-insecure-tls"],
    }


def render(ctx: AddonContext) -> Addon:
    chart, version, url = ADDON_CHARTS["metrics-server"]
    docs = [helm_repository(NAME, url),
            helm_release(NAME, chart=chart, version=version, repository=NAME, target_namespace=NAMESPACE,
                         values=values(ctx))]
    return Addon(NAME, version, NAMESPACE, ("cloud-controller-manager",), (file(f"{NAME}/release.yaml", docs),))
