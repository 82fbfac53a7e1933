"""The add-on bundle's data model: plain files per add-on, versioned by their content.

A bundle is what one cluster's reconciler (Flux) applies from the cluster's own bucket.
Every add-on lives under its own folder; the bundle adds one Flux ``Kustomization`` per
add-on (under ``flux/``) that points at that folder and orders it with ``dependsOn``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

# Where the Flux objects that tie the add-ons together live in the bundle: the boot
# installer applies one root Kustomization (path ``./flux``) on the Bucket source below.
FLUX_DIR = "flux"
# Flux's own namespace; every Flux object of the bundle lives in it.
FLUX_NAMESPACE = "flux-system"
# The Bucket source (the cluster's own bucket) the boot installer creates; every
# Kustomization of the bundle reads from it.
BUCKET_SOURCE = "fleetform-addons"
# Secret values the boot installer writes from the secret store and HelmReleases read
# with ``valuesFrom`` (never in the bundle): the ClusterMesh CA of a Cilium mesh member,
# under key ``values.yaml``, in the flux-system namespace.
CNI_SECRET_VALUES = "fleetform-cni-secret-values"
# The component that publishes a bundle: one bucket object per file, whose key (S3) or
# name (Cloud Storage) is the file's path and whose content is the file. `synth` reads
# the bundle back from exactly these objects.
PUBLICATION_TYPE = "fleetform:index:AddonPublication"


@dataclass(frozen=True)
class AddonFile:
    """One file of an add-on; ``path`` is relative to the bundle root (``cni/helmrelease.yaml``)."""

    path: str
    text: str


@dataclass(frozen=True)
class Addon:
    """One add-on: its files, the namespace it runs in and the add-ons it waits for."""

    name: str
    version: str
    namespace: str
    depends_on: tuple[str, ...]
    files: tuple[AddonFile, ...]


@dataclass(frozen=True)
class Bundle:
    """Every add-on of one cluster. ``version`` is a hash of the content, stable across runs."""

    cluster: str
    version: str
    addons: tuple[Addon, ...]
    # The Flux objects tying the add-ons together (one Kustomization per add-on), by path.
    flux: tuple[AddonFile, ...] = ()

    def files(self) -> dict[str, str]:
        """Every file of the bundle by path, sorted: each add-on's files and the Flux objects."""
        out: dict[str, str] = {}
        for f in (*(f for a in self.addons for f in a.files), *self.flux):
            if f.path in out:
                raise ValueError(f"bundle of {self.cluster}: two files at {f.path}")
            out[f.path] = f.text
        return dict(sorted(out.items()))

    def addon(self, name: str) -> Addon:
        for a in self.addons:
            if a.name == name:
                return a
        raise KeyError(name)


def content_version(files: dict[str, str]) -> str:
    """A short, stable hash over paths and texts: changes exactly when a byte of the bundle does."""
    h = hashlib.sha256()
    for path in sorted(files):
        h.update(path.encode())
        h.update(b"\0")
        h.update(files[path].encode())
        h.update(b"\0")
    return h.hexdigest()[:16]
