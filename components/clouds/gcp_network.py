"""The GCP adapter's network: custom-mode VPC, regional subnetwork, Cloud NAT, firewall rules on service accounts."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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
from fleetform.plan.firewall import LB_HEALTH_CHECKS, ROLES, EgressRule, FirewallRule, egress_rules

# Subnet flow logs: sampled, aggregated, with metadata, routed by a sink to a log
# bucket of the incarnation that keeps them this long.
FLOW_LOG_RETENTION_DAYS = 90
FLOW_LOG_SAMPLING = 0.5
FLOW_LOG_INTERVAL = "INTERVAL_5_SEC"
# Egress of etcd and the control plane: the allows (plan's egress rules) win over a
# deny-all just above GCP's implied allow-all (65535).
EGRESS_ALLOW_PRIORITY = 1000
EGRESS_DENY_PRIORITY = 65000


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
            log_config=gcp.compute.SubnetworkLogConfigArgs(
                aggregation_interval=FLOW_LOG_INTERVAL, flow_sampling=FLOW_LOG_SAMPLING,
                metadata="INCLUDE_ALL_METADATA"),
            opts=self.opts(parent),
        )
        self._flow_log_destination(name, parent)
        if plan.cni.mesh is not None:
            for _, ip in plan.cni.mesh.lb_ips:
                self._reserve_mesh_address(ip, subnet, parent)
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

    def _reserve_mesh_address(self, ip: str, subnet: gcp.compute.Subnetwork, parent: pulumi.Resource) -> None:
        """The ClusterMesh API load balancer's planned address, reserved with the network:
        GCP hands any free address to an instance, and the workers start before their
        load balancer exists. Every machine waits for it; the endpoint's forwarding rule
        takes it (gcp_edge). Named as when the endpoint made it, so an existing address
        only changes parent (the alias), never its name or value."""
        plan = self.ctx.plan
        endpoint = names.child(plan.key, "clustermesh")
        forwarding = names.child(names.child(endpoint, "lb"), "internal")
        was = pulumi.create_urn(endpoint, "fleetform:index:ClusterMeshEndpoint", parent=self.ctx.owner)
        address = gcp.compute.Address(
            names.child(forwarding, "ip"),
            name=self._physical(forwarding, "ip"),
            region=plan.region,
            address_type="INTERNAL",
            subnetwork=subnet.id,
            purpose="GCE_ENDPOINT",
            address=ip,
            labels=self._labels("clustermesh"),
            opts=self.opts(parent, aliases=[pulumi.Alias(parent=was)]),
        )
        self._reserved_lb[ip] = address
        self._egress.append(address)

    def _flow_log_destination(self, name: str, parent: pulumi.Resource) -> None:
        """A log bucket with retention and a sink routing the subnetwork's flow logs to it
        (the subnetwork is named after the incarnation: its flows and nobody else's)."""
        subnet = self._physical(name, "nodes")
        bucket = gcp.logging.ProjectBucketConfig(
            names.child(name, "flow-logs"),
            project=self.ctx.fleet.gcp_project,
            location="global",
            bucket_id=self._physical(name, "flow-logs", limit=100),
            retention_days=FLOW_LOG_RETENTION_DAYS,
            description=f"fleetform {self.ctx.plan.key}: subnet flow logs",
            opts=self.opts(parent),
        )
        gcp.logging.ProjectSink(
            names.child(name, "flow-logs-sink"),
            name=self._physical(name, "flow-logs"),
            project=self.ctx.fleet.gcp_project,
            destination=pulumi.Output.concat("logging.googleapis.com/", bucket.id),
            filter=('resource.type="gce_subnetwork" AND logName:"compute.googleapis.com%2Fvpc_flows" '
                    f'AND resource.labels.subnetwork_name="{subnet}"'),
            unique_writer_identity=True,
            opts=self.opts(parent),
        )

    def _health_check_ranges(self) -> tuple[str, ...]:
        # The only load balancer a cluster has is its API's: internal, or (api.public)
        # external plus its internal twin, probed from both sets.
        if not self.ctx.plan.api.public:
            return HEALTH_CHECK_RANGES_INTERNAL
        return tuple(dict.fromkeys(HEALTH_CHECK_RANGES_INTERNAL + HEALTH_CHECK_RANGES_EXTERNAL))

    def firewall(self, name: str, rules: Sequence[FirewallRule], network: NetworkHandle,
                 identities: Mapping[str, Sequence[MachineIdentity]], parent: pulumi.Resource) -> FirewallHandle:
        def sa(role: str) -> list[pulumi.Output[str]]:
            # Every account that wears the role (etcd: one per member; at most 7, within
            # the API's 10 service accounts per rule).
            if not identities.get(role):
                raise KeyError(f"firewall rule names role {role!r} but no identity was given for it")
            return [i.principal for i in identities[role]]

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
                src["source_service_accounts"] = sa(source)
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
                target_service_accounts=sa(LB_BACKENDS.get(target, target)),
                description="; ".join(sorted({r.why for r in group}))[:2048],
                opts=self.opts(parent),
                **src,
            ))
        resources += self._egress_firewall(name, network, sa, parent)
        return FirewallHandle(by_role={role: worn[0].principal for role, worn in identities.items()
                                       if len(worn) == 1 and worn[0].member is None},
                              resources=resources)

    def _egress_firewall(self, name: str, network: NetworkHandle, sa: Callable[[str], list[pulumi.Output[str]]],
                         parent: pulumi.Resource) -> list[pulumi.Resource]:
        """The plan's egress of etcd and the control plane: their allows, then a deny-all
        just above GCP's implied allow-all. Other roles keep the implied rule (workers'
        egress is their workloads'; the load balancer originates nothing). GCP cannot
        name a service account as a destination: a role destination is the node CIDR."""
        plan = self.ctx.plan
        peers = tuple((p.cluster, p.node_cidr) for p in plan.cni.mesh.peers) if plan.cni.mesh is not None else ()
        allows: dict[tuple[str, str, str], list[EgressRule]] = {}
        for r in egress_rules(plan.network.node_cidr, plan.network.pod_cidr, peers):
            if r.source in ("etcd", "control_plane"):
                dest, label = (plan.network.node_cidr, "nodes") if r.destination_is_role else (r.destination, r.label)
                allows.setdefault((r.source, label, dest), []).append(r)
        out: list[pulumi.Resource] = []
        for (role, label, dest), group in sorted(allows.items()):
            rule_name = names.child(name, names.part(role), "egress", "to", names.part(label))
            protocols: dict[str, list[str]] = {}
            for r in group:
                listed = protocols.setdefault(r.protocol, [])
                if r.protocol != "all":
                    listed.append(str(r.ports[0]) if r.ports[0] == r.ports[1] else f"{r.ports[0]}-{r.ports[1]}")
            ordered: dict[str, list[str]] = {proto: sorted(listed, key=lambda x: int(x.split("-")[0]))
                                             for proto, listed in protocols.items()}
            blocks = [gcp.compute.FirewallAllowArgs(protocol=proto, ports=listed or None)
                      for proto, listed in sorted(ordered.items())]
            out.append(gcp.compute.Firewall(
                rule_name,
                name=self._physical(rule_name),
                network=network.id,
                direction="EGRESS",
                priority=EGRESS_ALLOW_PRIORITY,
                destination_ranges=[dest],
                allows=blocks,
                target_service_accounts=sa(role),
                description="; ".join(sorted({r.why for r in group}))[:2048],
                opts=self.opts(parent),
            ))
        for role in ("etcd", "control_plane"):
            rule_name = names.child(name, names.part(role), "egress", "deny-all")
            out.append(gcp.compute.Firewall(
                rule_name,
                name=self._physical(rule_name),
                network=network.id,
                direction="EGRESS",
                priority=EGRESS_DENY_PRIORITY,
                destination_ranges=["0.0.0.0/0"],
                denies=[gcp.compute.FirewallDenyArgs(protocol="all")],
                target_service_accounts=sa(role),
                description=f"{role}: nothing but the allows above",
                opts=self.opts(parent),
            ))
        return out
