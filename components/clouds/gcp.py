"""The GCP adapter: the cloud contract of ``base.py`` in a custom-mode VPC, firewall
rules on service accounts, Compute Engine (Shielded VM, OS Login), persistent disks,
regional passthrough TCP load balancers, Cloud DNS, Secret Manager and Cloud Storage.

One adapter per cluster incarnation, one explicit ``gcp.Provider`` for it (project from
the fleet, region from the plan). Nothing here decides what the plan already decided
(zones, CIDRs, addresses, rules, sizes): it only translates plan data into resources.
No resource is ever created inside ``apply``.

Cloud-side names come from ``names.physical`` on the stable Pulumi names (which start
with the incarnation key), so they are readable, deterministic and never random.
Encryption at rest: every persistent disk, secret and object is encrypted with
Google-managed keys by default; customer-managed keys (CMEK) are not wired yet.
The contract is implemented by concern, one module each: ``gcp_base`` (provider, image,
labels, shared helpers), ``gcp_network``, ``gcp_edge`` (DNS, load balancers),
``gcp_compute`` (identities, machines, disks, groups) and ``gcp_storage`` (secrets, buckets).
"""

from __future__ import annotations

from components.clouds.gcp_base import (
    HEALTH_CHECK_RANGES_EXTERNAL,
    HEALTH_CHECK_RANGES_INTERNAL,
    IMAGE_FAMILY,
    IMAGE_PROJECT,
    LB_BACKENDS,
    check_user_data,
)
from components.clouds.gcp_compute import GcpCompute
from components.clouds.gcp_edge import GcpEdge
from components.clouds.gcp_network import GcpNetworking
from components.clouds.gcp_storage import GcpStorage

__all__ = [
    "HEALTH_CHECK_RANGES_EXTERNAL",
    "HEALTH_CHECK_RANGES_INTERNAL",
    "IMAGE_FAMILY",
    "IMAGE_PROJECT",
    "LB_BACKENDS",
    "GcpAdapter",
    "check_user_data",
]


class GcpAdapter(GcpNetworking, GcpEdge, GcpCompute, GcpStorage):
    """Every method of the cloud contract, on GCP."""
