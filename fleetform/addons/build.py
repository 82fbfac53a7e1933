"""The add-on context of one cluster incarnation, from the plan and the few facts only
its cloud knows (resolved by the publishing component, or by the offline engine)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fleetform.bootstrap.snapshots import snapshot_objects
from fleetform.plan import names
from fleetform.plan.cni import helm_values
from fleetform.plan.identity import (
    AWS_AUDIENCE,
    AWS_TOKEN_PATH,
    GCP_AUDIENCE,
    GCP_TOKEN_PATH,
    IdentityPlan,
)
from fleetform.plan.model import ClusterPlan, FleetPlan
from fleetform.plan.pools import zonal_groups
from fleetform.plan.snapshots import transfer

from .context import (
    CONTROLLERS,
    LOG_SHIPPER,
    AddonContext,
    ChartRelease,
    CniContext,
    LogDestination,
    NodeGroup,
    Workload,
)
from .rbac import cluster_objects
from .summary import planned_addons
from .upgrades import roll_inputs


@dataclass(frozen=True)
class CloudFacts:
    """What only the cloud knows about one incarnation."""

    # Controller (context.CONTROLLERS) -> its federated identity: the AWS role ARN, or the
    # GCP external-account credential file. Missing: the control-plane machine identity.
    identities: Mapping[str, str] = field(default_factory=dict)
    # GCP: the VPC's and the nodes' subnetwork's names.
    network: str | None = None
    subnetwork: str | None = None
    # A migration source: the target's snapshot bucket, the writer (AWS role ARN / GCP
    # service account) and, on GCP, its credential file.
    snapshot_bucket: str | None = None
    snapshot_writer: str | None = None
    snapshot_credentials: str | None = None
    # The CNI's values with what the plan cannot know (ClusterMesh peers' load-balancer
    # addresses), by release; missing: the planned values.
    cni_values: Mapping[str, dict[str, Any]] | None = None


def _workload(plan: ClusterPlan, ref: str) -> Workload:
    if plan.cloud == "aws":
        return Workload(AWS_TOKEN_PATH, AWS_AUDIENCE, aws_role_arn=ref)
    return Workload(GCP_TOKEN_PATH, GCP_AUDIENCE, gcp_credentials=ref)


def _node_groups(plan: ClusterPlan) -> tuple[NodeGroup, ...]:
    if plan.cloud == "aws":
        # Auto-discovery by tags: the groups' own min/max bound the autoscaler.
        return tuple(NodeGroup(p.name, p.name, p.min, p.max) for p in plan.workers)
    # One zonal MIG per pool and zone, named and sized as the adapter makes them.
    return tuple(NodeGroup(g.pool, g.name, g.min, g.max, g.zone) for p in plan.workers
                 for g in zonal_groups(plan.key, p))


def _snapshots(fleet: FleetPlan, plan: ClusterPlan, facts: CloudFacts) -> tuple[dict[str, Any], ...]:
    if not _snapshot_source(fleet, plan):
        return ()
    for target in fleet.clusters:
        m = target.migration
        if m is None or not m.receives_snapshot or m.source_key != plan.key:
            continue
        if facts.snapshot_bucket is None or facts.snapshot_writer is None:
            raise ValueError(f"cluster {plan.key}: its snapshot jobs need the target's bucket and writer")
        t = transfer(plan, target, schedule=fleet.snapshot_schedule, retention_days=fleet.snapshot_retention_days)
        return tuple(snapshot_objects(t, facts.snapshot_bucket, facts.snapshot_writer, facts.snapshot_credentials))
    return ()


def addon_context(fleet: FleetPlan, plan: ClusterPlan, identity: IdentityPlan, facts: CloudFacts) -> AddonContext:
    cni = plan.cni
    values = dict(facts.cni_values) if facts.cni_values is not None else helm_values(cni)
    # Fleet RBAC, the management controller's binding, and the tenants of this cluster.
    access = cluster_objects(identity, plan.name)
    tenants = identity.tenants_on(plan.name)
    unknown = set(facts.identities) - {*CONTROLLERS, LOG_SHIPPER}
    if unknown:
        raise ValueError(f"cluster {plan.key}: identities for unknown controllers {sorted(unknown)}")
    return AddonContext(
        cluster=plan.name,
        key=plan.key,
        cloud=plan.cloud,
        region=plan.region,
        zones=plan.zones,
        kubernetes_version=plan.kubernetes_version,
        pod_cidr=plan.network.pod_cidr,
        service_cidr=plan.network.service_cidr,
        api_host=plan.api.dns,
        api_port=plan.api.port,
        cni=CniContext(
            plugin=cni.plugin,
            namespace=cni.namespace,
            releases=tuple(ChartRelease(p.release, p.chart, p.version, p.repository, values.get(p.release, {}))
                           for p in cni.charts),
            secret_values=cni.mesh is not None,
        ),
        node_groups=_node_groups(plan),
        project=fleet.gcp_project if plan.cloud == "gcp" else None,
        network=facts.network,
        subnetwork=facts.subnetwork,
        node_tag=names.node_network_tag(plan.key) if plan.cloud == "gcp" else None,
        access=tuple(access),
        tenants=tuple(t.name for t in tenants),
        snapshots=_snapshots(fleet, plan, facts),
        identities=tuple((c, _workload(plan, ref)) for c, ref in sorted(facts.identities.items())),
        node_cidr=plan.network.node_cidr,
        logs=_logs(fleet, plan),
        roll=roll_inputs(plan),
    )


def _logs(fleet: FleetPlan, plan: ClusterPlan) -> LogDestination | None:
    dest = fleet.logging.on(plan.cloud)
    if dest is None:
        return None
    return LogDestination(plan.cloud, dest.region, dest.name, fleet.gcp_project if plan.cloud == "gcp" else None)


def _snapshot_source(fleet: FleetPlan, plan: ClusterPlan) -> bool:
    return any(t.migration is not None and t.migration.receives_snapshot and t.migration.source_key == plan.key
               for t in fleet.clusters)


def cluster_addons(fleet: FleetPlan, plan: ClusterPlan, identity: IdentityPlan) -> tuple[tuple[str, str], ...]:
    """(add-on, what runs) of one incarnation's bundle, in bootstrap order: what ``plan``
    lists. Needs no cloud fact; the bundle itself has exactly these add-ons."""
    access = bool(cluster_objects(identity, plan.name))
    return planned_addons(plan.cloud, plan.cni.plugin, plan.cni.chart_version, access=access,
                          snapshots=_snapshot_source(fleet, plan), logs=fleet.logging.on(plan.cloud) is not None,
                          kubernetes_version=plan.target_version)
