"""The one place resource names are made.

Names derive only from stable keys (fleet, cluster, cloud, region, plane, zone,
member, pool), never from list positions or cloud ids, so URNs survive reordering.
"""

from __future__ import annotations

import hashlib
import re


def incarnation(cluster: str, cloud: str, region: str) -> str:
    """A cluster as it runs in one place. A native cluster and a migrated one that has
    landed in the same place get the same key, hence the same URNs."""
    return f"{cluster}-{cloud}-{region}"


def incarnation_context(cluster: str, cloud: str, region: str) -> str:
    """Kube context of the incarnation that does not carry the cluster's name in a move."""
    return f"{cluster}@{cloud}-{region}"


def upgrade_gate(fleet: str) -> str:
    """The resource that remembers what the fleet's last `pulumi up` applied (upgrades)."""
    return f"{fleet}-upgrades"


def migration_gate(cluster: str) -> str:
    """The resource that remembers a cluster's migration phase (one per logical cluster)."""
    return f"{cluster}-migration"


def rotation_gate(cluster: str) -> str:
    """The resource that remembers a cluster's CA rotation phase (one per logical cluster)."""
    return f"{cluster}-ca-rotation"


def root_rotation_gate(fleet: str) -> str:
    """The resource that remembers the fleet root's rotation phase: a child of the
    fleet's shared identity (``<fleet>-identity``), never a cluster's gate (those end in
    ``-ca-rotation``)."""
    return child(child(fleet, "identity"), "root-rotation")


def etcd_member(index: int) -> str:
    return f"etcd-{index}"


def control_plane_replica(index: int) -> str:
    return f"cp-{index}"


def part(value: str) -> str:
    """A name part from plan data (roles, CIDRs, policy ARNs, object names): runs of
    anything but [a-z0-9] (after lowercasing) become one '-'."""
    return re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")


def child(parent: str, *parts: str | int) -> str:
    """Pulumi resource name of a child: derived from its parent's name."""
    return "-".join([parent, *(str(p) for p in parts)])


def physical(*parts: str, limit: int = 63) -> str:
    """A cloud-side name: lowercase [a-z0-9-], at most ``limit`` characters.

    Too-long names keep their readable start and end in a short hash of the whole,
    so two long names never collide after truncation.
    """
    name = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    name = re.sub(r"-{2,}", "-", name)
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:7]
    return f"{name[: limit - 8].rstrip('-')}-{digest}"


def elbv2(*parts: str) -> str:
    """An ELBv2 load balancer or target group name: at most 32 of [a-z0-9-], not ending
    in '-' and never starting with "internal-" (ELBv2 keeps that prefix for the DNS
    names of internal load balancers)."""
    name = physical(*parts, limit=32)
    if name.startswith("internal-"):
        name = physical("lb", *parts, limit=32)
    return name


def machine_role(fleet: str, key: str, who: str) -> str:
    """AWS: the IAM role and instance profile of a plane's machines, or of one etcd member
    (``who``: a plane role or a member name). IAM is global to the account, so the name
    carries fleet and incarnation; roles allow 64 characters (profiles 128)."""
    return physical(fleet, key, who, limit=64)


# [a-z][-a-z0-9]{4,28}[a-z0-9]: a GCP service account's id.
_ACCOUNT_ID = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")


def machine_account(key: str, who: str) -> str:
    """GCP: the service-account id of a plane's machines or of one etcd member (``who``:
    a short role or a member name, first, so that it stays readable when a long
    incarnation key is shortened with a hash to fit 6-30 characters)."""
    account_id = physical(who, key, limit=30)
    if not _ACCOUNT_ID.match(account_id):
        raise ValueError(f"service-account id {account_id!r} ({who} of {key}) is not 6-30 of [a-z0-9-] "
                         "starting with a letter")
    return account_id


def cluster_domain(cluster: str, fleet_domain: str) -> str:
    """Private DNS zone of a cluster (each incarnation's network carries its own copy)."""
    return f"{cluster}.{fleet_domain}"


def etcd_dns(member: str, cluster: str, fleet_domain: str) -> str:
    return f"{member}.{cluster_domain(cluster, fleet_domain)}"


def api_dns(cluster: str, fleet_domain: str) -> str:
    """The cluster's logical API name: follows the active incarnation."""
    return f"api.{cluster_domain(cluster, fleet_domain)}"


def incarnation_api_dns(cluster: str, cloud: str, region: str, fleet_domain: str) -> str:
    """The API name of one incarnation (stays put during a migration)."""
    return f"api-{cloud}-{region}.{cluster_domain(cluster, fleet_domain)}"


def zonal_worker_group(key: str, pool: str, zone: str) -> str:
    """GCP: the zonal managed instance group of one pool in one zone. cluster-autoscaler
    scales zonal MIGs only, and names each by URL (its add-on reads this name)."""
    return physical(key, "workers", pool, zone)


def node_network_tag(key: str) -> str:
    """GCP: the network tag on every node of an incarnation; the cloud controller manager
    opens load-balancer health checks and traffic to it."""
    return physical(key, "node")


def log_group(fleet: str, stack: str) -> str:
    """The fleet's CloudWatch Logs group (up to 512 characters of [.-_/#A-Za-z0-9])."""
    return f"/fleetform/{fleet}/{stack}"


def log_bucket(fleet: str, stack: str) -> str:
    """The fleet's Cloud Logging bucket id (up to 100 characters of [A-Za-z0-9_-])."""
    return physical("fleetform", fleet, stack, limit=100)
