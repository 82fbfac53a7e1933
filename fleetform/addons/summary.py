"""Which add-ons a cluster gets and at which versions, from plain plan values (what
``fleetform plan`` lists; the bundle itself also needs the cloud's facts)."""

from __future__ import annotations

from fleetform.catalog.versions import ADDON_CHARTS, ADDON_IMAGES, SYSTEM_UPGRADE_CONTROLLER


def _chart(key: str) -> str:
    chart, version, _ = ADDON_CHARTS[key]
    return f"{chart} {version} ({ADDON_IMAGES[key][1]})"


def _image(key: str, what: str) -> str:
    return f"{what} {ADDON_IMAGES[key][1]}"


def planned_addons(cloud: str, cni: str, cni_version: str, *, access: bool,
                   snapshots: bool, logs: bool = False,
                   kubernetes_version: str | None = None) -> tuple[tuple[str, str], ...]:
    """(add-on, what runs) in bootstrap order."""
    aws = cloud == "aws"
    out = [
        ("cni", f"{cni} {cni_version}"),
        ("cloud-controller-manager", _chart("aws-cloud-controller-manager") if aws
         else _image("gcp-cloud-controller-manager", "cloud-provider-gcp")),
        ("csi", _chart("aws-ebs-csi-driver") if aws else _image("gcp-pd-csi-driver", "gcp-pd-csi-driver")),
        ("cluster-autoscaler", _chart("cluster-autoscaler")),
        ("kubelet-csr-approver", _chart("kubelet-csr-approver")),
        ("metrics-server", _chart("metrics-server")),
    ]
    if access:
        out.append(("access", "fleet RBAC and tenants"))
    if snapshots:
        out.append(("etcd-snapshots", "migration snapshot Job and CronJob"))
    if logs:
        out.append(("log-shipper", _image("fluent-bit", "fluent-bit")))
    if kubernetes_version is not None:
        out.append(("upgrade-controller", f"system-upgrade-controller {SYSTEM_UPGRADE_CONTROLLER}"))
        out.append(("upgrades", f"in-place Kubernetes {kubernetes_version}: control plane, then each pool"))
    return tuple(out)
