"""A ClusterMesh member's API endpoint, without a cloud-controller-manager.

Cilium exposes its ClusterMesh API (``clustermesh-apiserver``) as a Service. A
``LoadBalancer`` Service needs the cloud's Kubernetes service controller, which
fleetform's self-managed clusters do not run, so the plan makes it a ``NodePort`` with a
fixed port (``fleetform.plan.cni.clustermesh_node_port``) and this component puts a cloud TCP
load balancer in front of the cluster's workers on that port, through the cluster's own
adapter and provider:

- the load balancer (``adapter.load_balancer(..., peers=True)``): internal, on the
  member's planned addresses (``MeshPlan.lb_ips``: AWS one per zone subnet, GCP one);
  every worker pool's machine group is a target, so nodes the autoscaler adds serve too;
  clients (the peers' nodes) keep their source addresses up to the workers, whose
  firewall admits exactly the peers' node CIDRs on that port (plan data,
  ``fleetform/plan/mesh.py``);
- ``clustermesh.<cluster>.<domain>`` in the cluster's private zone, pointing at it.

Peers name it by those planned addresses (``fleetform/plan/cni.py``), never by a cloud
output: a member's values are complete in its own stack, whichever stack holds the peer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from components.clouds.base import CloudAdapter, LoadBalancerHandle, MachineGroupHandle
from components.network import Network
from fleetform.plan import names
from fleetform.plan.model import ClusterPlan


@dataclass(frozen=True)
class MeshEndpointArgs:
    plan: ClusterPlan  # a mesh member's plan (plan.cni.mesh is set)
    adapter: CloudAdapter
    network: Network
    workers: Sequence[MachineGroupHandle]  # every worker pool's group


class MeshEndpoint(pulumi.ComponentResource):
    handle: LoadBalancerHandle
    record: pulumi.Resource

    def __init__(self, name: str, args: MeshEndpointArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleetform:index:ClusterMeshEndpoint", name, None, opts)
        mesh = args.plan.cni.mesh
        if mesh is None:
            raise ValueError(f"cluster {args.plan.name!r} is not a ClusterMesh member")
        if not args.workers:
            raise ValueError(f"cluster {args.plan.name!r}: the ClusterMesh API needs workers behind its load balancer")
        net = args.network
        self.handle = args.adapter.load_balancer(
            names.child(name, "lb"), mesh.port, list(args.workers), net.handle, net.firewall,
            False, self, plane="clustermesh", peers=True, zone_ips=dict(mesh.lb_ips))
        self.record = args.adapter.dns_record(names.child(name, "dns"), net.zone, mesh.address, self.handle, self)
        self.register_outputs({"address": self.handle.address, "port": mesh.port, "dns": mesh.address})
