"""The AWS adapter's edge: Route 53 zones and records, and the API's network load balancers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from components.clouds.aws_base import (
    AwsBase,
)
from components.clouds.base import (
    DnsZoneHandle,
    FirewallHandle,
    LoadBalancerHandle,
    MachineGroupHandle,
    MachineHandle,
    NetworkHandle,
)
from fleetform.plan import names
from fleetform.spec.stackfiles import is_production_stack


class AwsEdge(AwsBase):
    def dns_zone(self, name: str, network: NetworkHandle, parent: pulumi.Resource) -> DnsZoneHandle:
        zone = aws.route53.Zone(
            name,
            name=self.ctx.plan.dns_zone,
            comment=f"fleetform {self.ctx.fleet.fleet} {self.ctx.plan.key} (private)",
            vpcs=[aws.route53.ZoneVpcArgs(vpc_id=network.id)],
            tags=self.tags("network"),
            opts=self.opts(parent),
        )
        return DnsZoneHandle(id=zone.zone_id, name=self.ctx.plan.dns_zone)

    def dns_record(self, name: str, zone: DnsZoneHandle, fqdn: str,
                   target: MachineHandle | LoadBalancerHandle, parent: pulumi.Resource) -> pulumi.Resource:
        return self._record(name, zone.id, fqdn, target, parent)

    def public_dns_record(self, name: str, fqdn: str, target: LoadBalancerHandle,
                          parent: pulumi.Resource, *, replace_first: bool = False) -> pulumi.Resource:
        entry = self._public_lbs.get(id(target))
        if entry is None or entry[0] is not target:
            raise ValueError(f"{name}: {fqdn} needs a load balancer created with public=True")
        outside = entry[1]
        if self._public_zone is None:
            # The fleet domain's public zone exists already (delegated by its owner).
            self._public_zone = aws.route53.get_zone_output(
                name=self.ctx.fleet.domain, private_zone=False, opts=self._invoke()).zone_id
        public = LoadBalancerHandle(address=outside.dns_name, kind="dns", resources=[outside],
                                    zone_id=outside.zone_id)
        return self._record(name, self._public_zone, fqdn, public, parent, replace_first=replace_first)

    def _record(self, name: str, zone_id: pulumi.Input[str], fqdn: str,
                target: MachineHandle | LoadBalancerHandle, parent: pulumi.Resource, *,
                replace_first: bool = False) -> aws.route53.Record:
        if isinstance(target, LoadBalancerHandle) and target.kind == "dns":
            if target.zone_id is None:
                raise ValueError(f"{name}: an alias record needs the load balancer's hosted zone id")
            return aws.route53.Record(
                name, zone_id=zone_id, name=fqdn, type="A",
                aliases=[aws.route53.RecordAliasArgs(
                    name=target.address, zone_id=target.zone_id, evaluate_target_health=True)],
                opts=self.opts(parent, delete_before_replace=replace_first),
            )
        address = target.private_ip if isinstance(target, MachineHandle) else target.address
        return aws.route53.Record(
            name, zone_id=zone_id, name=fqdn, type="A", ttl=60, records=[address],
            opts=self.opts(parent, delete_before_replace=replace_first),
        )

    def load_balancer(self, name: str, port: int, targets: Sequence[MachineHandle | MachineGroupHandle],
                      network: NetworkHandle, firewall: FirewallHandle, public: bool,
                      parent: pulumi.Resource, *, plane: str = "control_plane",
                      peers: bool = False, internal_ip: str | None = None,
                      zone_ips: Mapping[str, str] | None = None) -> LoadBalancerHandle:
        # The cluster always talks to an internal NLB. Nodes reaching an internet-facing
        # NLB would leave through NAT and arrive from the NAT's public address, which no
        # security-group reference matches; so a public API gets a second, internet-facing
        # NLB that only the public DNS record points at (see public_dns_record).
        resources, internal = self._nlb(name, port, targets, network, firewall, False, parent, plane, peers,
                                        zone_ips)
        outside: aws.lb.LoadBalancer | None = None
        if public:
            extra, outside = self._nlb(names.child(name, "public"), port, targets, network, firewall, True,
                                       parent, plane, peers)
            resources += extra
        handle = LoadBalancerHandle(address=internal.dns_name, kind="dns", resources=resources,
                                    zone_id=internal.zone_id)
        if outside is not None:
            self._public_lbs[id(handle)] = (handle, outside)
        return handle

    def _nlb(self, name: str, port: int, targets: Sequence[MachineHandle | MachineGroupHandle],
             network: NetworkHandle, firewall: FirewallHandle, public: bool, parent: pulumi.Resource,
             plane: str = "control_plane", peers: bool = False,
             zone_ips: Mapping[str, str] | None = None) -> tuple[list[pulumi.Resource], aws.lb.LoadBalancer]:
        subnets = network.public_subnets if public else network.private_subnets
        zones = [s.zone for s in self.ctx.plan.network.subnets]
        subnet_ids: list[pulumi.Input[str]] | None = [subnets[z] for z in zones]
        mappings: list[aws.lb.LoadBalancerSubnetMappingArgs] | None = None
        if zone_ips and not public:
            if missing := [z for z in zones if z not in zone_ips]:
                raise ValueError(f"{name}: no planned address in zone(s) {', '.join(missing)}")
            # Planned addresses, one per zone subnet (the network reserved them): known
            # before the NLB exists, so peers name them without reading this stack.
            # The API refuses subnet mappings together with subnets.
            subnet_ids, mappings = None, [
                aws.lb.LoadBalancerSubnetMappingArgs(subnet_id=subnets[z], private_ipv4_address=zone_ips[z])
                for z in zones]
        lb = aws.lb.LoadBalancer(
            name,
            # Explicit: ELBv2 allows 32 characters, which Pulumi's auto-name would exceed.
            name=names.elbv2(self.ctx.fleet.fleet, name),
            load_balancer_type="network",
            internal=not public,
            subnets=subnet_ids,
            subnet_mappings=mappings,
            # Peers' load balancer: no group of its own, so the clients' addresses reach
            # the targets and the targets' rules (from the peers' CIDRs) decide.
            security_groups=None if peers else [firewall.by_role["api_lb"]],
            enable_cross_zone_load_balancing=True,
            # Production: no single update (or console click) deletes the cluster's front door.
            enable_deletion_protection=is_production_stack(self.ctx.fleet.stack),
            tags=self.tags(plane),
            # Internal: its interfaces take addresses in the private subnets.
            opts=self.opts(parent, depends_on=None if public else list(self._reserved)),
        )
        group = aws.lb.TargetGroup(
            names.child(name, "tg"),
            name=names.elbv2(self.ctx.fleet.fleet, name, "tg"),
            port=port,
            protocol="TCP",
            target_type="instance",
            vpc_id=network.id,
            # API: without this a control-plane node reaching the API through the NLB can
            # be routed to itself and the connection fails (NLB hairpinning). Peers: their
            # clients are in other networks (no hairpin), and the targets' security group
            # must see the peers' own addresses.
            preserve_client_ip="true" if peers else "false",
            deregistration_delay=30,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                enabled=True, protocol="TCP", port="traffic-port",
                healthy_threshold=3, unhealthy_threshold=3, interval=10),
            tags=self.tags(plane),
            opts=self.opts(parent),
        )
        listener = aws.lb.Listener(
            names.child(name, "listener"),
            load_balancer_arn=lb.arn,
            port=port,
            protocol="TCP",
            default_actions=[aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=group.arn)],
            tags=self.tags(plane),
            opts=self.opts(parent),
        )
        resources: list[pulumi.Resource] = [lb, group, listener]
        for t in targets:
            if isinstance(t, MachineGroupHandle):
                # Every instance the group starts registers itself (and leaves on scale-in).
                asg = next((r for r in t.resources if isinstance(r, aws.autoscaling.Group)), None)
                if asg is None:
                    raise TypeError("load_balancer targets must be machine groups made by this adapter")
                resources.append(aws.autoscaling.Attachment(
                    names.child(name, "target", self._short(asg.pulumi_resource_name)),
                    autoscaling_group_name=asg.name,
                    lb_target_group_arn=group.arn,
                    opts=self.opts(parent),
                ))
                continue
            resources.append(aws.lb.TargetGroupAttachment(
                names.child(name, "target", self._short(t.resource.pulumi_resource_name)),
                target_group_arn=group.arn,
                target_id=t.id,
                port=port,
                opts=self.opts(parent),
            ))
        return resources, lb
