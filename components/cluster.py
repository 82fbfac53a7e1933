"""One cluster incarnation: its network, etcd data plane, control plane and worker
pools, all through one cloud adapter bound to one explicit provider."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from fleetform import names
from fleetform.plan import ClusterPlan, FleetPlan

from .clouds import adapter_for
from .clouds.base import ClusterContext
from .cni import Cni, CniArgs
from .control_plane import ControlPlane
from .etcd import EtcdDataPlane, PlaneArgs
from .identity import ClusterIdentity
from .kube import KubeAccess
from .network import Network, NetworkArgs
from .workers import WorkerPlane


@dataclass(frozen=True)
class ClusterArgs:
    fleet: FleetPlan
    plan: ClusterPlan
    identity: ClusterIdentity


class Cluster(pulumi.ComponentResource):
    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleetform:index:Cluster", name, None, opts)
        plan = args.plan
        self.plan = plan
        # Shared identity (issue 5): decide the fleet's identity plan before any plane
        # renders: control planes read their SSO and service-account issuer from it.
        from .identity import fleet_identity

        self.identity_plan = fleet_identity(args.fleet)
        self.adapter = adapter_for(ClusterContext(args.fleet, plan, owner=self))
        child = pulumi.ResourceOptions(parent=self)
        self.network = Network(names.child(name, "network"), NetworkArgs(plan, self.adapter), child)
        plane = PlaneArgs(args.fleet, plan, self.adapter, self.network, args.identity)
        self.etcd = EtcdDataPlane(names.child(name, "etcd"), plane, child)
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
        # The network plugin (issue 6): Helm releases through self.kube, after its gate.
        self.cni = Cni(names.child(name, "cni"), CniArgs(args.fleet.fleet, plan, self.kube, args.identity),
                       opts=child)
        self.register_outputs({
            "endpoint": f"https://{plan.api.dns}:6443",
            "cloud": plan.cloud,
            "region": plan.region,
        })
