"""Pinned versions and the supported Kubernetes window: the one place they live.

The window is the three newest upstream minors. Each minor resolves to the newest
patch we have tested; a stack file may pin a patch explicitly. Moving the window is a
one-line change here (and the PyPI ``kubernetes-validate`` pin in requirements).
"""

from __future__ import annotations

# minor -> newest patch release we pin for it (upstream release notes, 2026-11).
KUBERNETES_PATCHES: dict[str, tuple[str, ...]] = {
    "1.35": ("1.35.0", "1.35.1", "1.35.2", "1.35.3", "1.35.4", "1.35.5", "1.35.6"),
    "1.36": ("1.36.0", "1.36.1", "1.36.2", "1.36.3"),
    "1.37": ("1.37.0", "1.37.1"),
}
SUPPORTED_MINORS: tuple[str, ...] = tuple(sorted(KUBERNETES_PATCHES, key=lambda v: tuple(map(int, v.split(".")))))
DEFAULT_MINOR: str = SUPPORTED_MINORS[-1]

# etcd on the dedicated data plane: the official release tarball. Nodes verify it
# against the release's own SHA256SUMS unless a stack pins `etcd.sha256` (we cannot
# fetch release assets from build machines to pin a digest here ourselves).
ETCD_VERSION = "3.6.5"
# Kubernetes minor -> (etcd minor lines it supports, the oldest etcd release it takes):
# kubeadm's SupportedEtcdVersion is 3.6.x for 1.34 and later (upstream constants.go).
ETCD_SUPPORTED: dict[str, tuple[tuple[str, ...], str]] = {
    "1.35": (("3.6",), "3.6.4"),
    "1.36": (("3.6",), "3.6.5"),
    "1.37": (("3.6",), "3.6.5"),
}

# In-place upgrades (fleetform/addons/upgrades.py): Rancher's system-upgrade-controller,
# applied from its repository at this tag (CRD and controller), and the image of the
# upgrade Jobs' containers (they only hand the script to the node and chroot into it).
# Pinned by tag: digests cannot be fetched from build machines here.
SYSTEM_UPGRADE_CONTROLLER = "v0.17.0"
UPGRADE_JOB_IMAGE = "docker.io/library/busybox:1.37.0"

# The container runtime of Kubernetes nodes (Ubuntu 24.04's containerd is 1.7, which the
# window's Kubernetes releases no longer support): upstream release assets for amd64,
# with their sha256. containerd: containerd-<v>-linux-amd64.tar.gz (the release's
# .sha256sum; also pinned by kubespray's checksums.yml); runc: runc.amd64 (the release's
# runc.sha256sum, as pinned in kubespray's checksums.yml).
CONTAINERD_VERSION = "2.2.1"
CONTAINERD_SHA256 = "f5d8e90ecb6c1c7e33ecddf8cc268a93b9e5b54e0e850320d765511d76624f41"
RUNC_VERSION = "1.3.4"
RUNC_SHA256 = "5966ca40b6187b30e33bfc299c5f1fe72e8c1aa01cf3fefdadf391668f47f103"

# CNI Helm charts, pinned: plugin -> charts in install order, each (release, chart,
# version, repository). Checked 2026-11: Cilium 1.20.2 (1.20 is the stable line since
# 2026-07-29); Calico 3.32.2, whose CRDs ship as their own chart since 3.32 (installed
# first); Flannel v0.28.9 (the chart's version follows the flannel release tag).
CNI_CHARTS: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "cilium": (("cilium", "cilium", "1.20.2", "https://helm.cilium.io/"),),
    "calico": (
        (
            "calico-crds",
            "crd.projectcalico.org.v1",
            "v3.32.2",
            "https://docs.tigera.io/calico/charts",
        ),
        ("calico", "tigera-operator", "v3.32.2", "https://docs.tigera.io/calico/charts"),
    ),
    "flannel": (("flannel", "flannel", "v0.28.9", "https://flannel-io.github.io/flannel/"),),
}


# ---------------------------------------------------------------- add-on bundle
# Charts: (chart, version, repository). Images: (repository, tag, digest or None). A
# digest is pinned only where it was read from a published source; elsewhere the tag is
# pinned and the image resolves through it (docs/addons.md, "Images").
# Checked 2026-11 against the charts' own Chart.yaml (../shared/ref/SOURCES.md).
ADDON_CHARTS: dict[str, tuple[str, str, str]] = {
    "aws-cloud-controller-manager": (
        "aws-cloud-controller-manager", "0.0.11", "https://kubernetes.github.io/cloud-provider-aws"),
    "aws-ebs-csi-driver": (
        "aws-ebs-csi-driver", "2.64.0", "https://kubernetes-sigs.github.io/aws-ebs-csi-driver"),
    "cluster-autoscaler": ("cluster-autoscaler", "9.59.0", "https://kubernetes.github.io/autoscaler"),
    "metrics-server": ("metrics-server", "3.13.1", "https://kubernetes-sigs.github.io/metrics-server/"),
    # postfinance kubelet-csr-approver: approves kubelet serving-certificate CSRs (app v1.1.0).
    "kubelet-csr-approver": (
        "kubelet-csr-approver", "1.1.0", "https://postfinance.github.io/kubelet-csr-approver"),
}

ADDON_IMAGES: dict[str, tuple[str, str, str | None]] = {
    # The charts' appVersions; no published digest found for these two.
    "aws-cloud-controller-manager": ("registry.k8s.io/provider-aws/cloud-controller-manager", "v1.35.0", None),
    "aws-ebs-csi-driver": ("public.ecr.aws/ebs-csi-driver/aws-ebs-csi-driver", "v1.64.0", None),
    # The chart's appVersion, where upstream publishes it; no digest recorded here.
    "kubelet-csr-approver": ("ghcr.io/postfinance/kubelet-csr-approver", "v1.1.0", None),
    # Multi-arch manifest digest of the release tag.
    "cluster-autoscaler": (
        "registry.k8s.io/autoscaling/cluster-autoscaler", "v1.35.0",
        "sha256:2fc9433dd3b47baef0e68d6b1110b770a3c93db10c7bead4c5bc6cb21c72b875"),
    "metrics-server": (
        "registry.k8s.io/metrics-server/metrics-server", "v0.8.1",
        "sha256:b2d2efaf5ac3b366ed0f839d2412a2c4279d4fc2a2a733f12c52133faed36c41"),
    # No charts upstream: fleetform renders their manifests (cloud-provider-gcp's
    # deploy/packages/default, the PD CSI driver's stable overlay); no published digest
    # found for these two tags.
    "gcp-cloud-controller-manager": ("registry.k8s.io/cloud-provider-gcp/cloud-controller-manager", "v35.0.5", None),
    "gcp-pd-csi-driver": (
        "registry.k8s.io/cloud-provider-gcp/gcp-compute-persistent-disk-csi-driver", "v1.26.0", None),
    # CSI sidecars (kubernetes-csi releases; the same versions aws-ebs-csi-driver 2.64.0 ships).
    # Digests as IBM/ibm-spectrum-scale-csi pins these exact tags
    # (operator/controllers/config/constants.go, the tag beside each digest).
    "csi-provisioner": (
        "registry.k8s.io/sig-storage/csi-provisioner", "v6.3.0",
        "sha256:a4b0b1a37605b7b04a293e136edf7006ec1786a8eb3f4e5a945f81d667dcc371"),
    "csi-attacher": (
        "registry.k8s.io/sig-storage/csi-attacher", "v4.12.0",
        "sha256:b9dc9a714a484ccdeeb6f86d88d4db9b7a5ecfc5a55da6db3a60bb3fa33c278a"),
    "csi-resizer": (
        "registry.k8s.io/sig-storage/csi-resizer", "v2.2.1",
        "sha256:ea1d25e23479000c7e8eeb92d827df66258df4e482ca054c5e7ce3fc0f5c41a5"),
    "csi-node-driver-registrar": (
        "registry.k8s.io/sig-storage/csi-node-driver-registrar", "v2.17.0",
        "sha256:f9de845b170155199f2a2a3f9531cf13d78e31235e9db6b6582a8b0db0a50dad"),
    # The log shipper (addons/logging.py); no published digest found for this tag.
    "fluent-bit": ("cr.fluentbit.io/fluent/fluent-bit", "4.0.3", None),
}

# Cilium's own chart pins its images by digest; pinned here too, so a chart bump that
# moved them is a visible change. Read from the rendered 1.20.2 chart.
CILIUM_IMAGE_DIGESTS: dict[str, str] = {
    "cilium": "sha256:2939231d0d3e3ebddcd80fffa168b7ddcc78fdf0dc864d1c8c126ff523c54f01",
    "operator-generic": "sha256:64d8798350e8569b8e7622563fed6e44dce2625f311e4651b774816516c744fc",
}


def image_ref(key: str) -> str:
    """``repository:tag`` or ``repository:tag@digest``: what a manifest names."""
    repo, tag, digest = ADDON_IMAGES[key]
    return f"{repo}:{tag}@{digest}" if digest else f"{repo}:{tag}"


def resolve_kubernetes_version(value: str | None) -> str:
    """'1.37' -> newest pinned patch of 1.37; '1.37.1' -> itself. Raises ValueError."""
    if value is None:
        return KUBERNETES_PATCHES[DEFAULT_MINOR][-1]
    parts = value.split(".")
    if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts):
        raise ValueError(f"{value!r} is not a Kubernetes version like '1.37' or '1.37.1'")
    minor = ".".join(parts[:2])
    if minor not in KUBERNETES_PATCHES:
        raise ValueError(
            f"{value!r} is outside the supported window "
            f"({', '.join(SUPPORTED_MINORS)}); the newest is the default"
        )
    if len(parts) == 2:
        return KUBERNETES_PATCHES[minor][-1]
    if value not in KUBERNETES_PATCHES[minor]:
        raise ValueError(
            f"{value!r} is not a known {minor} patch release "
            f"(known: {', '.join(KUBERNETES_PATCHES[minor])})"
        )
    return value


# Images fleetform's own workloads run, pinned by digest (the tag is kept for readers;
# the digest is what the runtime pulls). The etcd snapshot Job: a shell-capable image
# with the target cloud's CLI. Digests as published for these tags by the projects' own
# registries (public.ecr.aws/aws-cli, gcr.io/google.com/cloudsdktool).
AWS_CLI_IMAGE = ("public.ecr.aws/aws-cli/aws-cli:2.27.49"
                 "@sha256:bad3346a39098ab077be6ed58c7e1fe68321a4a844c7c740318100013e6c3581")
GCLOUD_IMAGE = ("gcr.io/google.com/cloudsdktool/google-cloud-cli:562.0.0-slim"
                "@sha256:0da2de42ae51cd6092b5caf7c96d25003659fd15548760eb4c50c2623e7bf9c2")

# Flux, the in-cluster reconciler installed at boot (fleetform/bootstrap/flux.py). The
# CLI embeds the controllers' manifests of its own release, so its archive is what is
# pinned: sha256 of flux_<v>_linux_<arch>.tar.gz, GoReleaser's values as published in
# fluxcd/homebrew-tap (Formula/flux@2.8.rb, the release's own checksums).
FLUX_VERSION = "2.8.8"
FLUX_CLI_SHA256: dict[str, str] = {
    "amd64": "3791d8fbb73b967ada021186f7b46686a2b180ce206d3c279c3f2ad183877a7f",
    "arm64": "738604ab040055ace69777988a24def98ada1aff14ae4726e733089dc8cc5e12",
}
