"""The GCP adapter's edge: Cloud DNS zones and record sets, and the API's passthrough TCP load balancers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pulumi
import pulumi_gcp as gcp

from components.clouds.base import (
    DnsZoneHandle,
    FirewallHandle,
    LoadBalancerHandle,
    MachineGroupHandle,
    MachineHandle,
    NetworkHandle,
)
from components.clouds.gcp_base import (
    GcpBase,
    GcpLoadBalancerHandle,
    GcpMachineHandle,
)
from fleetform.plan import names
from fleetform.spec.stackfiles import is_production_stack


class GcpEdge(GcpBase):
    def dns_zone(self, name: str, network: NetworkHandle, parent: pulumi.Resource) -> DnsZoneHandle:
        plan = self.ctx.plan
        zone = gcp.dns.ManagedZone(
            name,
            name=self._physical(name),
            dns_name=plan.dns_zone.rstrip(".") + ".",
            description=f"fleetform: private zone of {plan.name} in {plan.key}",
            visibility="private",
            private_visibility_config=gcp.dns.ManagedZonePrivateVisibilityConfigArgs(
                networks=[gcp.dns.ManagedZonePrivateVisibilityConfigNetworkArgs(network_url=network.id)]),
            labels=self._labels("network"),
            opts=self.opts(parent),
        )
        # Records name their zone by its managed-zone name.
        return DnsZoneHandle(id=zone.name, name=plan.dns_zone.rstrip("."))

    @staticmethod
    def _private_address(target: MachineHandle | LoadBalancerHandle) -> pulumi.Output[str]:
        if isinstance(target, MachineHandle):
            return target.private_ip
        if isinstance(target, GcpLoadBalancerHandle) and target.internal_address is not None:
            return target.internal_address
        return target.address

    def dns_record(self, name: str, zone: DnsZoneHandle, fqdn: str,
                   target: MachineHandle | LoadBalancerHandle, parent: pulumi.Resource) -> pulumi.Resource:
        fqdn = fqdn.rstrip(".")
        if not (fqdn == zone.name or fqdn.endswith("." + zone.name)):
            raise ValueError(f"{fqdn!r} is not inside the zone {zone.name!r}")
        return gcp.dns.RecordSet(
            name,
            managed_zone=zone.id,
            name=fqdn + ".",
            type="A",
            ttl=60,
            rrdatas=[self._private_address(target)],
            opts=self.opts(parent),
        )

    def public_dns_record(self, name: str, fqdn: str, target: LoadBalancerHandle,
                          parent: pulumi.Resource, *, replace_first: bool = False) -> pulumi.Resource:
        domain = self.ctx.fleet.domain.rstrip(".")
        fqdn = fqdn.rstrip(".")
        if not fqdn.endswith("." + domain):
            raise ValueError(f"{fqdn!r} is not inside the fleet domain {domain!r}")
        # Cloud DNS looks zones up by managed-zone name, not DNS name: the fleet's public
        # zone must be named after its domain with dots as dashes
        # (fleet.acme.example -> fleet-acme-example) and live in the fleet's project.
        zone_name = domain.replace(".", "-")
        public = gcp.dns.get_managed_zone_output(name=zone_name, project=self.project, opts=self._invoke())

        def checked(z: Any) -> str:
            if z.dns_name and z.dns_name.rstrip(".") != domain:
                raise ValueError(f"Cloud DNS zone {zone_name!r} serves {z.dns_name!r}, not {domain!r}")
            if z.visibility and z.visibility != "public":
                raise ValueError(f"Cloud DNS zone {zone_name!r} is {z.visibility}, not public")
            return str(z.name or zone_name)

        return gcp.dns.RecordSet(
            name,
            managed_zone=public.apply(checked),
            name=fqdn + ".",
            type="A",
            ttl=60,
            rrdatas=[target.address],
            opts=self.opts(parent, delete_before_replace=replace_first),
        )

    def _forwarding(self, name: str, port: int, scheme: Literal["INTERNAL", "EXTERNAL"],
                    groups: Sequence[pulumi.Input[str]], health: gcp.compute.RegionHealthCheck,
                    network: NetworkHandle, parent: pulumi.Resource, plane: str = "control_plane",
                    global_access: bool = False,
                    internal_ip: str | None = None) -> tuple[pulumi.Output[str], list[pulumi.Resource]]:
        """Backend service + reserved address + forwarding rule of one passthrough LB
        (``groups``: instance-group URLs)."""
        plan = self.ctx.plan
        subnet = network.private_subnets[plan.zones[0]]
        backend = gcp.compute.RegionBackendService(
            names.child(name, "backend"),
            name=self._physical(name, "backend"),
            region=plan.region,
            protocol="TCP",
            load_balancing_scheme=scheme,
            health_checks=health.id,
            backends=[gcp.compute.RegionBackendServiceBackendArgs(group=g, balancing_mode="CONNECTION")
                      for g in groups],
            connection_draining_timeout_sec=30,
            opts=self.opts(parent),
        )
        internal = scheme == "INTERNAL"
        # A planned address the network reserved already (a ClusterMesh endpoint's).
        reserved = self._reserved_lb.get(internal_ip) if internal and internal_ip else None
        address = reserved or gcp.compute.Address(
            names.child(name, "ip"),
            name=self._physical(name, "ip"),
            region=plan.region,
            address_type=scheme,
            # A stable address: DNS records and kubeconfigs outlive a forwarding rule.
            **({"subnetwork": subnet, "purpose": "GCE_ENDPOINT"} if internal else {"network_tier": "PREMIUM"}),
            # The planned internal address: left to GCP, it could take one a member or
            # replica is planned to reserve later.
            address=internal_ip if internal and internal_ip else None,
            labels=self._labels(plane),
            opts=self.opts(parent),
        )
        # Global access: clients in other regions (VPN tunnels, peered networks) reach an
        # internal passthrough LB only with it.
        reach: dict[str, Any] = {"allow_global_access": True} if internal and global_access else {}
        rule = gcp.compute.ForwardingRule(
            names.child(name, "rule"),
            name=self._physical(name, "rule"),
            region=plan.region,
            load_balancing_scheme=scheme,
            backend_service=backend.id,
            ip_protocol="TCP",
            ports=[str(port)],
            ip_address=address.address,
            **({"network": network.id, "subnetwork": subnet} if internal else {"network_tier": "PREMIUM"}),
            **reach,
            labels=self._labels(plane),
            # Production: no single update deletes the cluster's front door (forwarding
            # rules have no deletion-protection setting of their own).
            opts=self.opts(parent, protect=is_production_stack(self.ctx.fleet.stack)),
        )
        return rule.ip_address, [backend, *(() if reserved else (address,)), rule]

    def load_balancer(self, name: str, port: int, targets: Sequence[MachineHandle | MachineGroupHandle],
                      network: NetworkHandle, firewall: FirewallHandle, public: bool,
                      parent: pulumi.Resource, *, plane: str = "control_plane",
                      peers: bool = False, internal_ip: str | None = None,
                      zone_ips: Mapping[str, str] | None = None) -> LoadBalancerHandle:
        plan = self.ctx.plan
        # One regional subnetwork: the first zone's planned address is the LB's own.
        internal_ip = internal_ip or (zone_ips or {}).get(plan.zones[0])
        # Who may connect is the firewall's job: passthrough LBs have no firewall of their
        # own, the rules targeting the LB's role target its backends' service account.
        health = gcp.compute.RegionHealthCheck(
            names.child(name, "health"),
            name=self._physical(name, "health"),
            region=plan.region,
            tcp_health_check=gcp.compute.RegionHealthCheckTcpHealthCheckArgs(port=port),
            check_interval_sec=5,
            timeout_sec=5,
            healthy_threshold=2,
            unhealthy_threshold=3,
            opts=self.opts(parent),
        )
        by_zone: dict[str, list[MachineHandle]] = {}
        managed: list[pulumi.Input[str]] = []
        for t in targets:
            if isinstance(t, MachineGroupHandle):
                # Each zonal managed group is a backend itself: every instance it starts serves.
                migs = [r for r in t.resources if isinstance(r, gcp.compute.InstanceGroupManager)]
                if not migs:
                    raise TypeError("load_balancer targets must be machine groups made by this adapter")
                managed += [m.instance_group for m in migs]
                continue
            if not isinstance(t, GcpMachineHandle) or not t.zone:
                raise TypeError("load_balancer targets must be machines made by this adapter (their zone is needed)")
            by_zone.setdefault(t.zone, []).append(t)
        groups: list[gcp.compute.InstanceGroup] = []
        for zone, members in sorted(by_zone.items()):
            groups.append(gcp.compute.InstanceGroup(
                names.child(name, "group", zone),
                name=self._physical(name, zone),
                zone=zone,
                network=network.id,
                instances=[m.resource.self_link for m in members if isinstance(m.resource, gcp.compute.Instance)],
                description=f"fleetform: {name} backends in {zone}",
                opts=self.opts(parent),
            ))
        backends: list[pulumi.Input[str]] = [*(g.self_link for g in groups), *managed]
        resources: list[pulumi.Resource] = [health, *groups]
        if not public:
            address, parts = self._forwarding(names.child(name, "internal"), port, "INTERNAL", backends, health,
                                              network, parent, plane, peers, internal_ip)
            return GcpLoadBalancerHandle(address=address, kind="ip", resources=[*resources, *parts],
                                         internal_address=address)
        external, ext_parts = self._forwarding(names.child(name, "external"), port, "EXTERNAL", backends, health,
                                               network, parent, plane)
        internal, int_parts = self._forwarding(names.child(name, "internal"), port, "INTERNAL", backends, health,
                                               network, parent, plane, peers, internal_ip)
        return GcpLoadBalancerHandle(address=external, kind="ip", resources=[*resources, *ext_parts, *int_parts],
                                     internal_address=internal)
