"""Kubernetes version skew: which version changes are legal, and the path between two.

The rules (upstream's version-skew policy and kubeadm's upgrade rules):

- the control plane moves **one minor per step** (a patch change is a step of its own;
  no downgrade of a minor);
- a **kubelet** is never newer than the API servers, and at most three minors older;
- the **API servers** of one HA control plane stay within one minor of each other;
- the **etcd** release must be one the Kubernetes release supports
  (``catalog.versions.ETCD_SUPPORTED``).

:func:`upgrade_path` turns one version edit (1.35 -> 1.37) into the minor-by-minor steps
(1.36.x, then 1.37.x), each at the newest patch pinned in the catalog; the in-cluster
roll (``fleetform/addons/upgrades.py``) executes them in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from fleetform.catalog.versions import (
    ETCD_SUPPORTED,
    ETCD_VERSION,
    KUBERNETES_PATCHES,
    SUPPORTED_MINORS,
)

# A kubelet may be this many minors older than the oldest API server it talks to.
KUBELET_MAX_LAG = 3
# API servers of one control plane may differ by this many minors (during a roll).
APISERVER_MAX_SPREAD = 1
DOCS = "docs/upgrades.md"


@dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int
    patch: int

    @staticmethod
    def parse(text: str) -> Version:
        """'1.37.1', 'v1.37.1' -> Version; '1.37' -> its newest pinned patch (or .0
        outside the window). Raises ValueError."""
        parts = text.removeprefix("v").split(".")
        if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts):
            raise ValueError(f"{text!r} is not a Kubernetes version like '1.37' or '1.37.1'")
        major, minor = int(parts[0]), int(parts[1])
        if len(parts) == 3:
            return Version(major, minor, int(parts[2]))
        patches = KUBERNETES_PATCHES.get(f"{major}.{minor}")
        return Version.parse(patches[-1]) if patches else Version(major, minor, 0)

    @property
    def line(self) -> str:
        """The minor line, '1.37'."""
        return f"{self.major}.{self.minor}"

    def minors_after(self, other: Version) -> int:
        """How many minors this is newer than ``other`` (negative when older)."""
        if self.major != other.major:
            return (self.major - other.major) * 1000
        return self.minor - other.minor

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


class SkewError(ValueError):
    """A version change no path can make (a downgrade, a version outside the window)."""


def newest_patch(line: str) -> str:
    """The newest pinned patch of a minor line of the supported window."""
    if line not in KUBERNETES_PATCHES:
        raise SkewError(f"{line} is outside the supported window ({', '.join(SUPPORTED_MINORS)})")
    return KUBERNETES_PATCHES[line][-1]


def upgrade_path(current: str, target: str) -> tuple[str, ...]:
    """The versions the control plane passes through from ``current`` to ``target``,
    ``target`` last: one per minor, each intermediate minor at its newest pinned patch.
    Empty when nothing changes; one entry for a patch release. Raises SkewError for a
    downgrade or a minor outside the supported window."""
    cur, tgt = Version.parse(current), Version.parse(target)
    if tgt == cur:
        return ()
    if tgt < cur:
        raise SkewError(
            f"{tgt} is older than {cur}: Kubernetes cannot be downgraded in place "
            "(restore the control plane from an etcd snapshot taken before the upgrade)")
    if tgt.major != cur.major:
        raise SkewError(f"{cur} -> {tgt} changes the major version: no supported path")
    steps = [newest_patch(f"{cur.major}.{m}") for m in range(cur.minor + 1, tgt.minor)]
    return (*steps, str(tgt))


def describe_path(current: str, path: Sequence[str]) -> str:
    return " -> ".join([str(Version.parse(current)), *path])


def control_plane_step_problem(old: str, new: str) -> str | None:
    """Whether one roll of the control plane may go from ``old`` to ``new``; the message
    gives the allowed path when it may not."""
    o, n = Version.parse(old), Version.parse(new)
    if n < o:
        return f"{o} -> {n} is a downgrade: Kubernetes cannot be downgraded in place"
    jump = n.minors_after(o)
    if jump > 1:
        try:
            path = upgrade_path(old, new)
        except SkewError as exc:
            return str(exc)
        return (f"{o} -> {n} jumps {jump} minors, but the control plane moves one minor per step: "
                f"take the path {describe_path(old, path)} (one step per `pulumi up`, or one fleet "
                f"target that the in-cluster roll walks step by step); see {DOCS}")
    return None


def kubelet_problem(apiserver: str, kubelet: str) -> str | None:
    """The kubelet rule: not newer than the API server, at most three minors older."""
    a, k = Version.parse(apiserver), Version.parse(kubelet)
    if k.minors_after(a) > 0:
        return (f"kubelet {k} is newer than the API server {a}: the control plane upgrades first, "
                "then the workers")
    if a.minors_after(k) > KUBELET_MAX_LAG:
        return (f"kubelet {k} is {a.minors_after(k)} minors behind the API server {a} (at most "
                f"{KUBELET_MAX_LAG}): upgrade the workers before moving the control plane further")
    return None


def apiserver_spread_problem(versions: Iterable[str]) -> str | None:
    """The HA rule: the API servers of one control plane stay within one minor."""
    parsed = sorted({Version.parse(v) for v in versions})
    if len(parsed) < 2:
        return None
    if parsed[-1].minors_after(parsed[0]) > APISERVER_MAX_SPREAD:
        return (f"API servers at {parsed[0]} and {parsed[-1]} are more than one minor apart: "
                "replicas of one control plane upgrade one minor at a time, all of them before the next")
    return None


def etcd_problem(kubernetes: str, etcd: str = ETCD_VERSION) -> str | None:
    """The etcd rule: the data plane's release is one the Kubernetes release supports."""
    k, e = Version.parse(kubernetes), Version.parse(etcd)
    supported = ETCD_SUPPORTED.get(k.line)
    if supported is None:
        return f"no etcd support is known for Kubernetes {k.line} (outside the supported window)"
    lines, minimum = supported
    if e.line not in lines or e < Version.parse(minimum):
        return (f"etcd {e} is not supported by Kubernetes {k.line} (it needs etcd {minimum} or newer "
                f"of the {'/'.join(lines)} line): upgrade etcd first (etcd.roll, docs/rolling-safety.md)")
    return None


@dataclass(frozen=True)
class ClusterVersions:
    """The versions running in one cluster at one moment of a roll."""

    # replica -> (its API server, its kubelet). A control-plane node's kubelet talks to
    # its own API server (kubeadm's ControlPlaneKubeletLocalMode), so it is checked
    # against that one.
    control_plane: Mapping[str, tuple[str, str]]
    workers: Mapping[str, str]  # node -> kubelet version
    etcd: str = ETCD_VERSION

    def problems(self) -> list[str]:
        """Every skew rule this state breaks (empty: a legal state)."""
        out = []
        apiservers = [a for a, _ in self.control_plane.values()]
        if (p := apiserver_spread_problem(apiservers)) is not None:
            out.append(p)
        for replica, (apiserver, kubelet) in sorted(self.control_plane.items()):
            if (p := kubelet_problem(apiserver, kubelet)) is not None:
                out.append(f"{replica}: {p}")
        # A worker reaches any API server through the load balancer: not newer than the
        # oldest, not too far behind the newest.
        oldest, newest = min(apiservers, key=Version.parse), max(apiservers, key=Version.parse)
        for node, kubelet in sorted(self.workers.items()):
            for apiserver in (oldest, newest):
                if (p := kubelet_problem(apiserver, kubelet)) is not None:
                    out.append(f"{node}: {p}")
                    break
        for v in sorted(set(apiservers), key=Version.parse):
            if (p := etcd_problem(v, self.etcd)) is not None:
                out.append(p)
        return out


def supported_versions() -> tuple[str, ...]:
    """Every pinned patch release of the window, oldest first."""
    return tuple(v for line in SUPPORTED_MINORS for v in KUBERNETES_PATCHES[line])
