"""The GCP adapter's network: custom-mode VPC, regional subnetwork, Cloud NAT, firewall rules on service accounts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_gcp as gcp

from components.clouds.base import (
    FirewallHandle,
    MachineIdentity,
    NetworkHandle,
)
from components.clouds.gcp_base import (
    HEALTH_CHECK_RANGES_EXTERNAL,
    HEALTH_CHECK_RANGES_INTERNAL,
    LB_BACKENDS,
    NETWORK_MTU,
    GcpBase,
    _ports,
)
from fleetform.plan import names
from fleetform.plan.firewall import LB_HEALTH_CHECKS, ROLES, FirewallRule


class GcpNetworking(GcpBase):
    def network(self, name: str, parent: pulumi.Resource) -> NetworkHandle:
        plan = self.ctx.plan
        vpc = gcp.compute.Network(
            name,
            name=self._physical(name),
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            mtu=NETWORK_MTU,
            description=f"fleetform {self.ctx.fleet.fleet}: cluster {plan.name} ({plan.key})",
            opts=self.opts(parent),
        )
        # GCP subnets are regional: one subnetwork from the plan's node CIDR serves every
        # zone (the plan's per-zone split is an AWS need; its addresses all fall inside).
        subnet = gcp.compute.Subnetwork(
            names.child(name, "nodes"),
            name=self._physical(name, "nodes"),
            network=vpc.id,
            region=plan.region,
            ip_cidr_range=plan.network.node_cidr,
            # Nodes have no public IPs; Google APIs (Secret Manager, Storage) stay reachable.
            private_ip_google_access=True,
            opts=self.opts(parent),
        )
        router = gcp.compute.Router(
            names.child(name, "router"),
            name=self._physical(name, "router"),
            network=vpc.id,
            region=plan.region,
            opts=self.opts(parent),
        )
        # Cloud NAT is a regional, distributed service with no per-zone gateway: one NAT
        # serves every zone with zonal fault isolation, so plan.network.nat
        # ("per_zone" | "single") needs no translation here.
        nat = gcp.compute.RouterNat(
            names.child(name, "nat"),
            name=self._physical(name, "nat"),
            router=router.name,
            region=plan.region,
            nat_ip_allocate_option="AUTO_ONLY",
            source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
            subnetworks=[gcp.compute.RouterNatSubnetworkArgs(
                name=subnet.id, source_ip_ranges_to_nats=["ALL_IP_RANGES"])],
            log_config=gcp.compute.RouterNatLogConfigArgs(enable=True, filter="ERRORS_ONLY"),
            opts=self.opts(parent),
        )
        self._egress.append(nat)
        by_zone = {zone: subnet.self_link for zone in plan.zones}
        return NetworkHandle(id=vpc.self_link, private_subnets=by_zone, public_subnets=dict(by_zone))

    def _health_check_ranges(self) -> tuple[str, ...]:
        # The only load balancer a cluster has is its API's: internal, or (api.public)
        # external plus its internal twin, probed from both sets.
        if not self.ctx.plan.api.public:
            return HEALTH_CHECK_RANGES_INTERNAL
        return tuple(dict.fromkeys(HEALTH_CHECK_RANGES_INTERNAL + HEALTH_CHECK_RANGES_EXTERNAL))

    def firewall(self, name: str, rules: Sequence[FirewallRule], network: NetworkHandle,
                 identities: Mapping[str, MachineIdentity], parent: pulumi.Resource) -> FirewallHandle:
        def sa(role: str) -> pulumi.Output[str]:
            if role not in identities:
                raise KeyError(f"firewall rule names role {role!r} but no identity was given for it")
            return identities[role].principal

        groups: dict[tuple[str, str], list[FirewallRule]] = {}
        for rule in rules:
            if rule.source in LB_BACKENDS:
                # The load balancer originates nothing on GCP (see LB_BACKENDS); the
                # clients it forwards are allowed by the rules whose target it is.
                continue
            groups.setdefault((rule.target, rule.source), []).append(rule)

        resources: list[pulumi.Resource] = []
        # One rule per (target, source) of the plan; names from those, never positions.
        for (target, source), group in sorted(groups.items()):
            src: dict[str, Any] = {}
            if source == LB_HEALTH_CHECKS:
                src["source_ranges"] = list(self._health_check_ranges())
            elif source in ROLES:
                src["source_service_accounts"] = [sa(source)]
            elif "/" in source:
                src["source_ranges"] = [source]
            else:
                raise ValueError(f"firewall rule source {source!r} is neither a role, a CIDR nor {LB_HEALTH_CHECKS}")
            rule_name = names.child(name, names.part(target), "from", names.part(source))
            resources.append(gcp.compute.Firewall(
                rule_name,
                name=self._physical(rule_name),
                network=network.id,
                direction="INGRESS",
                priority=1000,
                allows=_ports(group),
                target_service_accounts=[sa(LB_BACKENDS.get(target, target))],
                description="; ".join(sorted({r.why for r in group}))[:2048],
                opts=self.opts(parent),
                **src,
            ))
        return FirewallHandle(by_role={role: ident.principal for role, ident in identities.items()},
                              resources=resources)
