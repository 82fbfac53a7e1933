"""The fleet: one shared identity and one Cluster per incarnation."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pulumi
import pulumi_random as random
import pulumi_tls as tls

from components.clouds.gcp_services import ProjectServices
from components.cluster import Cluster, ClusterArgs, SnapshotFacts
from components.federation import Federation, FederationReads
from components.fleet_reference import FleetReference, RemoteFederation, RemoteIdentities
from components.identity import ClusterCredentials, IssuedCert, SharedIdentity, fleet_identity
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
from fleetform.plan.stacks import Scope


class Fleet(pulumi.ComponentResource):
    """``identity``: the fleet's identity plan (``components.identity.fleet_identity``
    of the plan and its spec); by default made from the stack's configuration.

    ``scope`` (``fleetform.plan.stacks``): ``all``, the whole fleet in one stack;
    ``fleet``, the fleet stack (providers, shared identity, GCP project services,
    federation, fleet logs, an outside management cluster's registrations); ``cluster``,
    the stack of the logical cluster ``cluster`` (its incarnations, its name, the
    management registrations if it hosts them, its upgrade gate), which reads the fleet
    stack ``fleet_stack`` through ``components.fleet_reference``. Every scope builds this
    component under the same name, so each resource keeps its URN but for the stack.
    ``identity`` and ``federation`` exist in the ``all`` and ``fleet`` scopes only."""

    identity: SharedIdentity
    federation: Federation
    logs: FleetLogs

    def __init__(self, name: str, plan: FleetPlan, opts: pulumi.ResourceOptions | None = None, *,
                 identity: IdentityPlan | None = None, scope: Scope = "all", cluster: str | None = None,
                 fleet_stack: str | None = None) -> None:
        super().__init__("fleetform:index:Fleet", name, None, opts)
        if (scope == "cluster") != (cluster is not None):
            raise ValueError(f"scope {scope!r}: a cluster stack, and only it, names its cluster")
        self.scope, self.scoped_cluster = scope, cluster
        self.identity_plan = identity if identity is not None else fleet_identity(plan)
        # Explicit providers for the non-cloud packages too; children inherit them.
        self.tls_provider = tls.Provider(names.child(name, "tls"), opts=pulumi.ResourceOptions(parent=self))
        self.random_provider = random.Provider(names.child(name, "random"), opts=pulumi.ResourceOptions(parent=self))
        child = pulumi.ResourceOptions(parent=self, providers=[self.tls_provider, self.random_provider])
        logical = tuple(dict.fromkeys(c.name for c in plan.clusters))
        self.gcp_services: ProjectServices | None = None
        self.reference: FleetReference | None = None
        self.mesh_ca: IssuedCert | None = None  # the fleet stack's, for its cluster stacks
        gcp_requires: tuple[pulumi.Resource, ...] = ()
        identities: Mapping[str, ClusterCredentials]
        federation: FederationReads
        if scope != "cluster":
            self.identity = SharedIdentity(names.child(name, "identity"), plan.fleet, child,
                                           settings=self.identity_plan.pki,
                                           migrating=any(c.migration is not None and c.migration.phase != "finalize"
                                                         for c in plan.clusters))
            # Shared identity: workload identity federation for every cluster's
            # issuer, made before the clusters (a migration's snapshot writer is one of its
            # grants), and fleet RBAC + tenants in each incarnation's add-on bundle.

            # The GCP project's APIs, on before any GCP resource (every GCP provider waits).
            if plan.gcp_project and (any(c.cloud == "gcp" for c in plan.clusters)
                                     or "gcp" in self.identity_plan.federation_clouds
                                     or plan.logging.on("gcp") is not None):
                self.gcp_services = ProjectServices(names.child(name, "gcp-services"), plan.gcp_project, plan.fleet,
                                                    child)
            gcp_requires = tuple(self.gcp_services.resources) if self.gcp_services is not None else ()
            self.federation = Federation(names.child(name, "federation"), plan, self.identity_plan, self.identity,
                                         child, gcp_requires=gcp_requires,
                                         gcp_provider=self.gcp_services.provider if self.gcp_services else None)
            # Central audit and system logs: the destinations exist before any shipper runs.
            self.logs = FleetLogs(names.child(name, "logs"), plan, child, gcp_requires=gcp_requires,
                                  gcp_provider=self.gcp_services.provider if self.gcp_services else None)
            identities, federation = _SharedIdentities(self.identity), self.federation
            if scope == "fleet":
                for n in logical:  # every cluster stack reads its own from here
                    self.identity.cluster(n)
                members = [c for c in plan.clusters if c.cni.mesh is not None]
                self.mesh_ca = self.identity.cluster(members[0].name).mesh_ca() if members else None
        else:
            # The fleet stack applied first holds the shared identity and federation; the
            # project services it turned on come with it (prerequisite, not depends_on).
            assert cluster is not None and fleet_stack is not None
            self.reference = FleetReference(plan.fleet, fleet_stack, pulumi.ResourceOptions(parent=self))
            identities = RemoteIdentities(self.reference, plan.fleet, logical, self.identity_plan.pki)
            federation = RemoteFederation(self.reference, self.identity_plan, cluster)
        self._federation_reads = federation
        self.clusters: dict[str, Cluster] = {}
        for c in plan.clusters:  # a migration's source comes before its target
            if scope == "fleet" or (scope == "cluster" and c.name != cluster):
                continue
            self.clusters[c.key] = Cluster(
                c.key, ClusterArgs(plan, c, identities[c.name], self._snapshot_source(plan, c),
                                   cloud_requires=gcp_requires if c.cloud == "gcp" else ()), child)
        # Add-on bundles last: a migration source's bundle names its target's snapshot
        # bucket and writer.
        snapshot = {t.source_key: f for t, f in self._snapshot_facts(plan)}
        for key, cl in self.clusters.items():
            cl.install_addons(federation, snapshot.get(key))
        # What belongs to a cluster's name, not to one incarnation (migration.py).

        self.names = {
            n: ClusterName(n, {k: v for k, v in self.clusters.items() if v.plan.name == n}, child)
            for n in dict.fromkeys(cl.plan.name for cl in self.clusters.values())
        }
        self.management: Management | None = None
        mgmt = self.identity_plan.management
        # The registrations go where their connection is: with the management cluster
        # when it is a fleet cluster (its stack), else (an outside context) in the fleet stack.
        if mgmt is not None and (scope == "all" or (scope == "cluster" and mgmt.cluster == cluster)
                                 or (scope == "fleet" and mgmt.cluster not in logical)):
            tenants_of = {c: tuple(t.name for t in self.identity_plan.tenants_on(c)) for c in logical}
            host = next((c for c in plan.clusters if c.name == mgmt.cluster and c.serving), None)
            self.management = Management(
                names.child(name, "management"), mgmt, registrations(plan, mgmt, tenants_of),
                self.identity.clusters if scope == "all" else identities, host,
                pulumi.ResourceOptions(parent=self, depends_on=list(self.clusters.values())))
        # What this `pulumi up` applied (versions, the upgrade wave), recorded after every
        # cluster: its check refuses an illegal wave advance or version jump (upgrades.py).
        # A cluster stack's gate records its own cluster (docs/stacks.md).
        self.upgrade_gate: pulumi.Resource | None = None
        if scope != "fleet":
            self.upgrade_gate = upgrade_gate(names.upgrade_gate(plan.fleet), plan,
                                             [*self.clusters.values(),
                                              *([self.management] if self.management else [])],
                                             pulumi.ResourceOptions(parent=self), cluster=cluster)
        root_ca = self.reference.output("root_ca") if self.reference is not None else self.identity.root.cert_pem
        self.register_outputs({"root_ca": root_ca})

    def _snapshot_source(self, plan: FleetPlan, c: ClusterPlan) -> SnapshotSource | None:
        """For a migration target with `data: etcd-snapshot` (before finalize): the source
        cluster, the snapshot settings and the federated writer."""
        m = c.migration
        if m is None or not m.receives_snapshot:
            return None
        source = self.clusters[m.source_key]
        t = transfer(source.plan, c, schedule=plan.snapshot_schedule, retention_days=plan.snapshot_retention_days)
        writer = self._federation_reads.writer(t.grant, c.cloud)
        creds = self._federation_reads.credential_config(t.grant, c.name) if c.cloud == "gcp" else None
        return SnapshotSource(t, writer, creds)

    def _snapshot_facts(self, plan: FleetPlan) -> list[tuple[SnapshotTransfer, SnapshotFacts]]:
        """Each migration source's snapshot Job needs its target's bucket and writer."""
        out = []
        for c in plan.clusters:
            if c.key not in self.clusters:  # another stack's
                continue
            target = self.clusters[c.key]
            m = c.migration
            if m is None or not m.receives_snapshot or target.snapshot_bucket is None:
                continue
            source = self.clusters[m.source_key]
            t = transfer(source.plan, c, schedule=plan.snapshot_schedule, retention_days=plan.snapshot_retention_days)
            writer = self._federation_reads.writer(t.grant, c.cloud)
            creds = self._federation_reads.credential_config(t.grant, c.name) if c.cloud == "gcp" else None
            out.append((t, SnapshotFacts(target.snapshot_bucket.name, writer.principal, creds)))
        return out


class _SharedIdentities(Mapping[str, ClusterCredentials]):
    """The shared identity's clusters, each made on first read (in the plan's order)."""

    def __init__(self, shared: SharedIdentity) -> None:
        self._shared = shared

    def __getitem__(self, cluster: str) -> ClusterCredentials:
        return self._shared.cluster(cluster)

    def __iter__(self) -> Iterator[str]:
        return iter(self._shared.clusters)

    def __len__(self) -> int:
        return len(self._shared.clusters)
