"""One worker pool: an autoscaled group of nodes joining with the bootstrap token."""

from __future__ import annotations

from typing import Any

import pulumi

from components.clouds.base import MachineGroupHandle
from components.control_plane import ControlPlane
from components.etcd import PlaneArgs
from fleetform.bootstrap import render_worker
from fleetform.bootstrap.nodes import worker_node
from fleetform.plan import names
from fleetform.plan.model import PoolPlan


class WorkerPlane(pulumi.ComponentResource):
    group: MachineGroupHandle

    def __init__(self, name: str, args: PlaneArgs, pool: PoolPlan, control_plane: ControlPlane,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleetform:index:WorkerPlane", name, None, opts)
        plan, adapter, net = args.plan, args.adapter, args.network
        store_info = adapter.secret_store
        token = control_plane.bootstrap_token

        def render(a: dict[str, Any]) -> str:
            return render_worker(worker_node(plan, pool, store_info, a["ca"], a["token"]))

        user_data = pulumi.Output.all(
            ca=args.identity.bundle("kubernetes-ca"), token=token.secret_id).apply(render)
        self.group = adapter.machine_group(
            names.child(name, "group"), pool, "worker", user_data, net.identities["worker"], net.firewall,
            net.handle, self, depends_on=[*token.resources, *control_plane.load_balancer.resources])
        self.register_outputs({"groups": self.group.groups, "min": pool.min, "max": pool.max})
