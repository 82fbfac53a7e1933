"""The cluster's network and security: network, private DNS zone, the machine
identities (one per plane, and one per etcd member), and the plan's firewall rules."""

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

# Planes whose machines share one identity; each etcd member has its own.
SHARED_ROLES = ("control_plane", "worker")


@dataclass(frozen=True)
class NetworkArgs:
    plan: ClusterPlan
    adapter: CloudAdapter


class Network(pulumi.ComponentResource):
    handle: NetworkHandle
    zone: DnsZoneHandle
    identities: dict[str, MachineIdentity]
    etcd_identities: dict[str, MachineIdentity]
    firewall: FirewallHandle

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleetform:index:Network", name, None, opts)
        adapter, plan = args.adapter, args.plan
        self.handle = adapter.network(names.child(name, "vpc"), self)
        self.zone = adapter.dns_zone(names.child(name, "dns"), self.handle, self)
        # Identities live here because firewall rules name them (GCP targets service
        # accounts); each plane's machines attach their own. etcd members each get one
        # (and read only their own secrets): a member that is broken into reads no
        # other member's keys.
        self.identities = {
            role: adapter.identity(names.child(name, role.replace("_", "-")), role, self)  # type: ignore[arg-type]
            for role in SHARED_ROLES
        }
        self.etcd_identities = {
            m.name: adapter.identity(names.child(name, m.name), "etcd", self, member=m.name)
            for m in plan.etcd.members
        }
        worn: dict[str, list[MachineIdentity]] = {
            "etcd": list(self.etcd_identities.values()),
            **{role: [ident] for role, ident in self.identities.items()},
        }
        self.firewall = adapter.firewall(names.child(name, "fw"), plan.firewall, self.handle, worn, self)
        self.register_outputs({"network_id": self.handle.id, "dns_zone": self.zone.name})
