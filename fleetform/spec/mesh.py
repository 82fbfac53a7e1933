"""Stack format: multi-cluster networking (fleet-level ``mesh``).

``mesh: {clusters: [eu-core, us-core]}`` joins the listed clusters with Cilium
ClusterMesh. Fleet-wide rules (members exist, all use Cilium, cluster ids unique) live in
``validate_cni.py``; what the mesh changes in each member's plan lives in ``mesh.py``.
"""

from __future__ import annotations

from pydantic import Field

from fleetform.spec.base import DnsLabel, Model

# Smallest MTU on any path between two members' nodes. Mesh traffic leaves the VPC
# (peering, VPN, interconnect); IPsec VPNs carry less than 1500 bytes (AWS site-to-site
# VPN: 1446), so the default leaves room for them. Raise it when every path allows more.
DEFAULT_PATH_MTU = 1400


class MeshSpec(Model):
    # Clusters joined by Cilium ClusterMesh (all must use Cilium; at least two).
    clusters: tuple[DnsLabel, ...] = ()
    # The members' pods use min(node MTU, path_mtu) - 50 (VXLAN) so that encapsulated
    # packets cross the inter-cluster network unfragmented.
    path_mtu: int = Field(default=DEFAULT_PATH_MTU, ge=1280, le=9001)
