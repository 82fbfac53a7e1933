"""One cluster incarnation: its network, etcd data plane, control plane and worker
pools, all through one cloud adapter bound to one explicit provider."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from components.clouds import adapter_for
from components.clouds.base import ClusterContext, LoadBalancerHandle
from components.cni import Cni, CniArgs
from components.control_plane import ControlPlane
from components.etcd import EtcdDataPlane, PlaneArgs
from components.identity import ClusterIdentity, fleet_identity
from components.kube import KubeAccess
from components.mesh import MeshEndpoint, MeshEndpointArgs
from components.network import Network, NetworkArgs
from components.snapshots import Restore, SnapshotJobs, SnapshotSource, SnapshotStore
from components.workers import WorkerPlane
from fleetform.plan import names
from fleetform.plan.model import ClusterPlan, FleetPlan


@dataclass(frozen=True)
class ClusterArgs:
    fleet: FleetPlan
    plan: ClusterPlan
    identity: ClusterIdentity
    # A migration target with `data: etcd-snapshot`: where its etcd data comes from.
    snapshot: SnapshotSource | None = None
    # What the cloud needs before any of this incarnation's resources (GCP: project APIs).
    cloud_requires: tuple[pulumi.Resource, ...] = ()


class Cluster(pulumi.ComponentResource):
    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleetform:index:Cluster", name, None, opts)
        plan = args.plan
        self.plan = plan
        self.identity = args.identity
        # Shared identity: decide the fleet's identity plan before any plane
        # renders: control planes read their SSO and service-account issuer from it.

        self.identity_plan = fleet_identity(args.fleet)
        self.adapter = adapter_for(ClusterContext(args.fleet, plan, owner=self, requires=args.cloud_requires))
        child = pulumi.ResourceOptions(parent=self)
        self.network = Network(names.child(name, "network"), NetworkArgs(plan, self.adapter), child)
        plane = PlaneArgs(args.fleet, plan, self.adapter, self.network, args.identity)
        restore = self._snapshot(name, args.snapshot) if args.snapshot else None
        self.etcd = EtcdDataPlane(names.child(name, "etcd"), plane, child, restore=restore)
        self.control_plane = ControlPlane(names.child(name, "control-plane"), plane, self.etcd, child)
        self.workers = {
            pool.name: WorkerPlane(names.child(name, "workers", pool.name), plane, pool, self.control_plane, child)
            for pool in plan.workers
        }
        # Kubernetes resources of this incarnation go through its own provider, after
        # the API answers (see kube.py); they talk to this incarnation's own API name.
        self.kube = KubeAccess(
            names.child(name, "kube"), plan, args.identity,
            server=f"https://{plan.api.incarnation_dns}:6443",
            depends_on=[*self.control_plane.load_balancer.resources,
                        *(m.resource for m in self.control_plane.replicas.values())],
            opts=child)
        # ClusterMesh members: the mesh API's load balancer in front of the workers and its
        # private DNS name (components/mesh.py). The network plugin itself comes with
        # install_cni, once every member's endpoint exists (its values name the peers').
        self.mesh_endpoint = MeshEndpoint(
            names.child(name, "clustermesh"),
            MeshEndpointArgs(plan, self.adapter, self.network, [w.group for w in self.workers.values()]),
            child) if plan.cni.mesh is not None else None
        self._cni_args = CniArgs(args.fleet.fleet, plan, self.kube, args.identity)
        self.cni: Cni | None = None
        self.register_outputs({
            "endpoint": f"https://{plan.api.dns}:6443",
            "cloud": plan.cloud,
            "region": plan.region,
        })

    def install_cni(self, mesh_endpoints: Mapping[str, LoadBalancerHandle]) -> Cni:
        """The network plugin: Helm releases through self.kube, after its gate;
        ``mesh_endpoints``: every mesh member's ClusterMesh API load balancer, by cluster."""
        if self.cni is None:
            self.cni = Cni(names.child(self.pulumi_resource_name, "cni"),
                           dataclasses.replace(self._cni_args, mesh_endpoints=dict(mesh_endpoints)),
                           opts=pulumi.ResourceOptions(parent=self))
        return self.cni

    def _snapshot(self, name: str, src: SnapshotSource) -> Restore:
        """The snapshot bucket (this target's cloud; written by the source's Job through
        federation, read by this etcd plane) and the Job that fills it.

        The target's etcd waits for the bucket, not for the Job: on the first `up` of a
        migrating cluster the source is brand new, and its Job runs only once the source
        can run pods. The target's members keep retrying the download at boot
        (``bootstrap/units.py``) until the Job has written the snapshot."""
        t = src.transfer
        bucket = SnapshotStore(names.child(name, "snapshots"), self.adapter, src, self.network.identities["etcd"],
                               pulumi.ResourceOptions(parent=self)).bucket
        SnapshotJobs(names.child(t.source_key, "snapshot"), src, bucket.name,
                     pulumi.ResourceOptions(parent=src.source, depends_on=list(bucket.resources)))
        return Restore(bucket.name, t.key, list(bucket.resources))
