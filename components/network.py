"""The cluster's network and security: network, private DNS zone, one machine
identity per plane, and the plan's firewall rules."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.clouds.base import (
    CloudAdapter,
    DnsZoneHandle,
    FirewallHandle,
    MachineIdentity,
    NetworkHandle,
)
from fleetform.plan import names
from fleetform.plan.model import ClusterPlan

PLANE_ROLES = ("etcd", "control_plane", "worker")


@dataclass(frozen=True)
class NetworkArgs:
    plan: ClusterPlan
    adapter: CloudAdapter


class Network(pulumi.ComponentResource):
    handle: NetworkHandle
    zone: DnsZoneHandle
    identities: dict[str, MachineIdentity]
    firewall: FirewallHandle

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleetform:index:Network", name, None, opts)
        adapter, plan = args.adapter, args.plan
        self.handle = adapter.network(names.child(name, "vpc"), self)
        self.zone = adapter.dns_zone(names.child(name, "dns"), self.handle, self)
        # Identities live here because firewall rules name them (GCP targets service
        # accounts); each plane's machines attach their own.
        self.identities = {
            role: adapter.identity(names.child(name, role.replace("_", "-")), role, self)  # type: ignore[arg-type]
            for role in PLANE_ROLES
        }
        self.firewall = adapter.firewall(names.child(name, "fw"), plan.firewall, self.handle, self.identities, self)
        self.register_outputs({"network_id": self.handle.id, "dns_zone": self.zone.name})
