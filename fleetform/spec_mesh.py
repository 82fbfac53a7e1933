"""Stack format: multi-cluster networking (fleet-level ``mesh``)."""

from __future__ import annotations

from .spec import Model


class MeshSpec(Model):
    # Clusters joined by Cilium ClusterMesh (all must use Cilium).
    clusters: tuple[str, ...] = ()
