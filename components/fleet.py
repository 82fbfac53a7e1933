"""The fleet: one shared identity and one Cluster per incarnation."""

from __future__ import annotations

import pulumi
import pulumi_random as random
import pulumi_tls as tls

from components.clouds.gcp_services import ProjectServices
from components.cluster import Cluster, ClusterArgs, SnapshotFacts
from components.federation import Federation
from components.identity import SharedIdentity, fleet_identity
from components.logs import FleetLogs
from components.management import Management
from components.migration import ClusterName
from components.snapshots import SnapshotSource
from components.upgrades import upgrade_gate
from fleetform.plan import names
from fleetform.plan.handoff import registrations
from fleetform.plan.identity import IdentityPlan
from fleetform.plan.model import ClusterPlan, FleetPlan
from fleetform.plan.snapshots import SnapshotTransfer, transfer


class Fleet(pulumi.ComponentResource):
    """``identity``: the fleet's identity plan (``components.identity.fleet_identity``
    of the plan and its spec); by default made from the stack's configuration."""

    def __init__(self, name: str, plan: FleetPlan, opts: pulumi.ResourceOptions | None = None, *,
                 identity: IdentityPlan | None = None) -> None:
        super().__init__("fleetform:index:Fleet", name, None, opts)

        self.identity_plan = identity if identity is not None else fleet_identity(plan)
        # Explicit providers for the non-cloud packages too; children inherit them.
        self.tls_provider = tls.Provider(names.child(name, "tls"), opts=pulumi.ResourceOptions(parent=self))
        self.random_provider = random.Provider(names.child(name, "random"), opts=pulumi.ResourceOptions(parent=self))
        child = pulumi.ResourceOptions(parent=self, providers=[self.tls_provider, self.random_provider])
        self.identity = SharedIdentity(names.child(name, "identity"), plan.fleet, child,
                                       settings=self.identity_plan.pki,
                                       migrating=any(c.migration is not None and c.migration.phase != "finalize"
                                                     for c in plan.clusters))
        # Shared identity: workload identity federation for every cluster's
        # issuer, made before the clusters (a migration's snapshot writer is one of its
        # grants), and fleet RBAC + tenants in each incarnation's add-on bundle.

        # The GCP project's APIs, on before any GCP resource (every GCP provider waits).
        self.gcp_services: ProjectServices | None = None
        if plan.gcp_project and (any(c.cloud == "gcp" for c in plan.clusters)
                                 or "gcp" in self.identity_plan.federation_clouds
                                 or plan.logging.on("gcp") is not None):
            self.gcp_services = ProjectServices(names.child(name, "gcp-services"), plan.gcp_project, plan.fleet, child)
        gcp_requires = tuple(self.gcp_services.resources) if self.gcp_services is not None else ()
        self.federation = Federation(names.child(name, "federation"), plan, self.identity_plan, self.identity, child,
                                     gcp_requires=gcp_requires,
                                     gcp_provider=self.gcp_services.provider if self.gcp_services else None)
        # Central audit and system logs: the destinations exist before any shipper runs.
        self.logs = FleetLogs(names.child(name, "logs"), plan, child, gcp_requires=gcp_requires,
                              gcp_provider=self.gcp_services.provider if self.gcp_services else None)
        self.clusters: dict[str, Cluster] = {}
        for c in plan.clusters:  # a migration's source comes before its target
            self.clusters[c.key] = Cluster(
                c.key, ClusterArgs(plan, c, self.identity.cluster(c.name), self._snapshot_source(plan, c),
                                   cloud_requires=gcp_requires if c.cloud == "gcp" else ()), child)
        # Add-on bundles last: a ClusterMesh member's values name its peers' ClusterMesh
        # API load balancers, which exist once every cluster does (components/mesh.py).
        mesh_endpoints = {cl.plan.name: cl.mesh_endpoint.handle for cl in self.clusters.values()
                          if cl.mesh_endpoint is not None}
        snapshot = {t.source_key: f for t, f in self._snapshot_facts(plan)}
        for key, cluster in self.clusters.items():
            cluster.install_addons(mesh_endpoints, self.federation, snapshot.get(key))
        # What belongs to a cluster's name, not to one incarnation (migration.py).

        self.names = {
            name: ClusterName(name, {k: v for k, v in self.clusters.items() if v.plan.name == name}, child)
            for name in dict.fromkeys(c.name for c in plan.clusters)
        }
        self.management: Management | None = None
        mgmt = self.identity_plan.management
        if mgmt is not None:
            tenants_of = {c: tuple(t.name for t in self.identity_plan.tenants_on(c))
                          for c in dict.fromkeys(c.name for c in plan.clusters)}
            host = next((c for c in plan.clusters if c.name == mgmt.cluster and c.serving), None)
            self.management = Management(
                names.child(name, "management"), mgmt, registrations(plan, mgmt, tenants_of),
                self.identity.clusters, host,
                pulumi.ResourceOptions(parent=self, depends_on=list(self.clusters.values())))
        # What this `pulumi up` applied (versions, the upgrade wave), recorded after every
        # cluster: its check refuses an illegal wave advance or version jump (upgrades.py).
        self.upgrade_gate = upgrade_gate(names.upgrade_gate(plan.fleet), plan,
                                        [*self.clusters.values(),
                                         *([self.management] if self.management else [])],
                                        pulumi.ResourceOptions(parent=self))
        self.register_outputs({"root_ca": self.identity.root.cert_pem})

    def _snapshot_source(self, plan: FleetPlan, c: ClusterPlan) -> SnapshotSource | None:
        """For a migration target with `data: etcd-snapshot` (before finalize): the source
        cluster, the snapshot settings and the federated writer."""
        m = c.migration
        if m is None or not m.receives_snapshot:
            return None
        source = self.clusters[m.source_key]
        t = transfer(source.plan, c, schedule=plan.snapshot_schedule, retention_days=plan.snapshot_retention_days)
        writer = self.federation.writer(t.grant, c.cloud)
        creds = self.federation.credential_config(t.grant, c.name) if c.cloud == "gcp" else None
        return SnapshotSource(t, writer, creds)

    def _snapshot_facts(self, plan: FleetPlan) -> list[tuple[SnapshotTransfer, SnapshotFacts]]:
        """Each migration source's snapshot Job needs its target's bucket and writer."""
        out = []
        for c in plan.clusters:
            target = self.clusters[c.key]
            m = c.migration
            if m is None or not m.receives_snapshot or target.snapshot_bucket is None:
                continue
            source = self.clusters[m.source_key]
            t = transfer(source.plan, c, schedule=plan.snapshot_schedule, retention_days=plan.snapshot_retention_days)
            writer = self.federation.writer(t.grant, c.cloud)
            creds = self.federation.credential_config(t.grant, c.name) if c.cloud == "gcp" else None
            out.append((t, SnapshotFacts(target.snapshot_bucket.name, writer.principal, creds)))
        return out
