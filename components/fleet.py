"""The fleet: one shared identity and one Cluster per incarnation."""

from __future__ import annotations

import pulumi
import pulumi_random as random
import pulumi_tls as tls

from fleetform import names
from fleetform.plan import FleetPlan

from .cluster import Cluster, ClusterArgs
from .identity import SharedIdentity


class Fleet(pulumi.ComponentResource):
    def __init__(self, name: str, plan: FleetPlan, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleetform:index:Fleet", name, None, opts)
        # Explicit providers for the non-cloud packages too; children inherit them.
        self.tls_provider = tls.Provider(names.child(name, "tls"), opts=pulumi.ResourceOptions(parent=self))
        self.random_provider = random.Provider(names.child(name, "random"), opts=pulumi.ResourceOptions(parent=self))
        child = pulumi.ResourceOptions(parent=self, providers=[self.tls_provider, self.random_provider])
        self.identity = SharedIdentity(names.child(name, "identity"), plan.fleet, child)
        self.clusters: dict[str, Cluster] = {}
        for c in plan.clusters:
            self.clusters[c.key] = Cluster(c.key, ClusterArgs(plan, c, self.identity.cluster(c.name)), child)
        # Shared identity (issue 5): workload identity federation for every cluster's
        # issuer, and fleet RBAC + tenants on each incarnation (through its own provider).
        from .federation import Federation
        from .identity import fleet_identity
        from .rbac import ClusterAccess

        self.identity_plan = fleet_identity(plan)
        self.federation = Federation(names.child(name, "federation"), plan, self.identity_plan, self.identity, child)
        self.access = {key: ClusterAccess(names.child(key, "access"), cluster.plan, self.identity_plan, cluster.kube,
                                          pulumi.ResourceOptions(parent=cluster))
                       for key, cluster in self.clusters.items()}
        self.register_outputs({"root_ca": self.identity.root.cert_pem})
