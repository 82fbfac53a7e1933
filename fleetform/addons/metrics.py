"""metrics-server: resource metrics for ``kubectl top`` and the Horizontal Pod Autoscaler."""

from __future__ import annotations

from typing import Any

from fleetform.catalog.versions import ADDON_CHARTS, ADDON_IMAGES

from . import csr_approver
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
        # No --kubelet-insecure-tls: kubelets serve certificates of the cluster CA
        # (serverTLSBootstrap, approved by the CSR approver), which metrics-server verifies
        # with its service account's CA; it dials the node's InternalIP first (the chart's
        # default address types), an IP SAN of those certificates.
    }


def render(ctx: AddonContext) -> Addon:
    chart, version, url = ADDON_CHARTS["metrics-server"]
    docs = [helm_repository(NAME, url),
            helm_release(NAME, chart=chart, version=version, repository=NAME, target_namespace=NAMESPACE,
                         values=values(ctx))]
    # The CCM sets the addresses kubelets put in their serving certificates; the approver
    # lets them have one.
    return Addon(NAME, version, NAMESPACE, ("cloud-controller-manager", csr_approver.NAME),
                 (file(f"{NAME}/release.yaml", docs),))
