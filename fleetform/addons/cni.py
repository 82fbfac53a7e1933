"""The CNI add-on: the plugin's Helm releases with the values the plan decides.

The boot installer installs the same releases (same names, namespace and values) before
Flux runs; the HelmReleases here then adopt and keep them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fleetform.catalog.versions import CILIUM_IMAGE_DIGESTS

from .context import AddonContext, ChartRelease
from .model import CNI_SECRET_VALUES, Addon
from .render import file, helm_release, helm_repository, namespace

NAME = "cni"
# Namespaces the plugin's chart does not create itself (kube-system exists); Flannel
# runs privileged pods: its namespace carries the Pod Security label its docs prescribe.
NAMESPACE_LABELS: dict[str, dict[str, str]] = {
    "calico": {},
    "flannel": {"pod-security.kubernetes.io/enforce": "privileged"},
}


def repository_name(plugin: str) -> str:
    return {"cilium": "cilium", "calico": "projectcalico", "flannel": "flannel"}[plugin]


def release_values(ctx: AddonContext, release: str, values: dict[str, Any]) -> dict[str, Any]:
    """The plan's values plus the image pins fleetform keeps beside the chart's."""
    if ctx.cni.plugin == "cilium" and release == ctx.cni.releases[-1].release:
        return {
            **values,
            "image": {**values.get("image", {}), "useDigest": True, "digest": CILIUM_IMAGE_DIGESTS["cilium"]},
            "operator": {**values.get("operator", {}), "image": {
                "useDigest": True, "genericDigest": CILIUM_IMAGE_DIGESTS["operator-generic"]}},
        }
    return values


def render(ctx: AddonContext) -> Addon:
    cni = ctx.cni
    docs: list[dict[str, Any]] = []
    if cni.plugin in NAMESPACE_LABELS:
        docs.append(namespace(cni.namespace, NAMESPACE_LABELS[cni.plugin]))
    repo = repository_name(cni.plugin)
    docs.append(helm_repository(repo, cni.releases[-1].repository))
    previous: tuple[str, ...] = ()
    for r in cni.releases:
        plugin_release = r is cni.releases[-1]
        values_from: tuple[dict[str, Any], ...] = ()
        if plugin_release and cni.secret_values:
            values_from = ({"kind": "Secret", "name": CNI_SECRET_VALUES, "valuesKey": "values.yaml"},)
        docs.append(helm_release(r.release, chart=r.chart, version=r.version, repository=repo,
                                 target_namespace=cni.namespace, values=release_values(ctx, r.release, r.values),
                                 depends_on=previous, values_from=values_from))
        previous = (r.release,)
    return Addon(name=NAME, version=cni.releases[-1].version, namespace=cni.namespace, depends_on=(),
                 files=(file(f"{NAME}/{cni.plugin}.yaml", docs),))


def boot_releases(ctx: AddonContext) -> tuple[ChartRelease, ...]:
    """The CNI releases exactly as the bundle declares them (install order): what the
    boot installer installs before Flux, so the HelmReleases adopt them unchanged."""
    return tuple(replace(r, values=release_values(ctx, r.release, r.values)) for r in ctx.cni.releases)
