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
