"""The AWS adapter's network: VPC, subnets, NAT, routes, reserved fixed addresses, security groups."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from components.clouds.aws_base import (
    AwsBase,
    _sg_description,
)
from components.clouds.base import (
    FirewallHandle,
    MachineIdentity,
    NetworkHandle,
)
from fleetform.plan import names
from fleetform.plan.firewall import LB_HEALTH_CHECKS, ROLES, FirewallRule, egress_rules

# VPC flow logs: kept this long in their CloudWatch log group, aggregated per minute.
FLOW_LOG_RETENTION_DAYS = 90
FLOW_LOG_INTERVAL_SECONDS = 60
_ASSUME_ROLE_FLOW_LOGS = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Allow",
        "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }],
})


class AwsNetworking(AwsBase):
    def network(self, name: str, parent: pulumi.Resource) -> NetworkHandle:
        net = self.ctx.plan.network
        vpc = aws.ec2.Vpc(
            names.child(name, "vpc"),
            cidr_block=net.node_cidr,
            enable_dns_hostnames=True,  # private zones and instance names resolve
            enable_dns_support=True,
            tags=self.tags("network", Name=names.child(self.ctx.plan.key)),
            opts=self.opts(parent),
        )
        self._harden_vpc(name, vpc, parent)
        igw = aws.ec2.InternetGateway(
            names.child(name, "igw"),
            vpc_id=vpc.id,
            tags=self.tags("network", Name=names.child(self.ctx.plan.key, "igw")),
            opts=self.opts(parent),
        )
        public_rt = aws.ec2.RouteTable(
            names.child(name, "rt", "public"),
            vpc_id=vpc.id,
            tags=self.tags("network", Name=names.child(self.ctx.plan.key, "public")),
            opts=self.opts(parent),
        )
        public_default = aws.ec2.Route(
            names.child(name, "route", "public", "default"),
            route_table_id=public_rt.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=igw.id,
            opts=self.opts(parent),
        )
        self._egress += [igw, public_default]

        private: dict[str, pulumi.Output[str]] = {}
        public: dict[str, pulumi.Output[str]] = {}
        nats: dict[str, aws.ec2.NatGateway] = {}
        # A single NAT lives in the first planned zone and keeps that zone's name, so
        # switching between per_zone and single keeps its URN.
        nat_zones = [s.zone for s in net.subnets] if net.nat == "per_zone" else [net.subnets[0].zone]
        for s in net.subnets:
            zone = s.zone
            pub = aws.ec2.Subnet(
                names.child(name, "public", zone),
                vpc_id=vpc.id,
                cidr_block=s.public_cidr,
                availability_zone=zone,
                # Only NAT gateways and the public NLB live here; neither needs it.
                map_public_ip_on_launch=False,
                tags=self.tags("network", Name=names.child(self.ctx.plan.key, "public", zone),
                               **{"kubernetes.io/role/elb": "1"}),
                opts=self.opts(parent),
            )
            priv = aws.ec2.Subnet(
                names.child(name, "private", zone),
                vpc_id=vpc.id,
                cidr_block=s.private_cidr,
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags=self.tags("network", Name=names.child(self.ctx.plan.key, "private", zone),
                               **{"kubernetes.io/role/internal-elb": "1"}),
                opts=self.opts(parent),
            )
            self._reserved += self._reserve_fixed_addresses(name, zone, priv, parent)
            public_assoc = aws.ec2.RouteTableAssociation(
                names.child(name, "rta", "public", zone),
                subnet_id=pub.id,
                route_table_id=public_rt.id,
                opts=self.opts(parent),
            )
            self._egress.append(public_assoc)
            public[zone] = pub.id
            private[zone] = priv.id
            if zone in nat_zones:
                eip = aws.ec2.Eip(
                    names.child(name, "nat-eip", zone),
                    domain="vpc",
                    tags=self.tags("network", Name=names.child(self.ctx.plan.key, "nat", zone)),
                    opts=self.opts(parent),
                )
                nats[zone] = aws.ec2.NatGateway(
                    names.child(name, "nat", zone),
                    allocation_id=eip.allocation_id,
                    subnet_id=pub.id,
                    tags=self.tags("network", Name=names.child(self.ctx.plan.key, "nat", zone)),
                    # A NAT gateway only forwards once the VPC has its internet gateway.
                    opts=self.opts(parent, depends_on=[igw]),
                )

        for s in net.subnets:
            zone = s.zone
            nat = nats.get(zone) or nats[nat_zones[0]]
            rt = aws.ec2.RouteTable(
                names.child(name, "rt", "private", zone),
                vpc_id=vpc.id,
                tags=self.tags("network", Name=names.child(self.ctx.plan.key, "private", zone)),
                opts=self.opts(parent),
            )
            route = aws.ec2.Route(
                names.child(name, "route", "private", zone, "default"),
                route_table_id=rt.id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=nat.id,
                opts=self.opts(parent),
            )
            assoc = aws.ec2.RouteTableAssociation(
                names.child(name, "rta", "private", zone),
                subnet_id=private[zone],
                route_table_id=rt.id,
                opts=self.opts(parent),
            )
            self._egress += [nat, route, assoc]
        return NetworkHandle(id=vpc.id, private_subnets=private, public_subnets=public)

    def _harden_vpc(self, name: str, vpc: aws.ec2.Vpc, parent: pulumi.Resource) -> None:
        """The VPC's default security group loses every rule (nothing attached to it by
        mistake can talk), and all its traffic is flow-logged to a log group with retention."""
        key = self.ctx.plan.key
        aws.ec2.DefaultSecurityGroup(
            names.child(name, "default-sg"),
            vpc_id=vpc.id,
            ingress=[],
            egress=[],
            tags=self.tags("network", Name=names.child(key, "default-unused")),
            opts=self.opts(parent),
        )
        group = aws.cloudwatch.LogGroup(
            names.child(name, "flow-logs"),
            name=f"/fleetform/{self.ctx.fleet.fleet}/{key}/vpc-flow-logs",
            retention_in_days=FLOW_LOG_RETENTION_DAYS,
            tags=self.tags("network"),
            opts=self.opts(parent),
        )
        role = aws.iam.Role(
            names.child(name, "flow-logs-role"),
            name=names.physical(self.ctx.fleet.fleet, key, "flow-logs", limit=64),
            description=f"fleetform {key}: VPC flow logs delivery",
            assume_role_policy=_ASSUME_ROLE_FLOW_LOGS,
            tags=self.tags("network"),
            opts=self.opts(parent),
        )
        policy = aws.iam.RolePolicy(
            names.child(name, "flow-logs-policy"),
            role=role.id,
            policy=group.arn.apply(lambda arn: json.dumps({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                    "Resource": [arn, f"{arn}:*"],
                }],
            })),
            opts=self.opts(parent),
        )
        aws.ec2.FlowLog(
            names.child(name, "flow-log"),
            vpc_id=vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=FLOW_LOG_INTERVAL_SECONDS,
            tags=self.tags("network", Name=names.child(key, "flow-log")),
            opts=self.opts(parent, depends_on=[policy]),
        )

    def firewall(self, name: str, rules: Sequence[FirewallRule], network: NetworkHandle,
                 identities: Mapping[str, Sequence[MachineIdentity]], parent: pulumi.Resource) -> FirewallHandle:
        # Security groups are per role: every etcd member (each with its own IAM role)
        # wears its plane's group, so the identities play no part here.
        groups: dict[str, aws.ec2.SecurityGroup] = {}
        resources: list[pulumi.Resource] = []
        for role in ROLES:
            sg = aws.ec2.SecurityGroup(
                names.child(name, names.part(role)),
                vpc_id=network.id,
                description=_sg_description(f"fleetform {self.ctx.plan.key} {role}"),
                revoke_rules_on_delete=True,
                tags=self.tags(role, Name=names.child(self.ctx.plan.key, names.part(role))),
                opts=self.opts(parent),
            )
            groups[role] = sg
            resources.append(sg)
        resources += self._egress_rules(name, groups, parent)

        # EC2 rejects two identical permissions, so rules that differ only in `why`
        # become one rule whose description names every reason.
        merged: dict[tuple[str, str, str, int, int], list[str]] = {}
        for r in sorted(rules):
            if r.target not in groups:
                raise ValueError(f"firewall rule targets unknown role {r.target!r}")
            if not (r.source_is_role or r.source_is_cidr or r.source == LB_HEALTH_CHECKS):
                raise ValueError(f"firewall rule source {r.source!r} is no role, CIDR or {LB_HEALTH_CHECKS}")
            whys = merged.setdefault((r.target, r.source, r.protocol, r.ports[0], r.ports[1]), [])
            if r.why not in whys:
                whys.append(r.why)

        for (target, source, protocol, low, high), whys in merged.items():
            ports = str(low) if low == high else f"{low}-{high}"
            group: pulumi.Output[str] | None = None
            cidr: str | None = None
            if source in groups:
                group = groups[source].id
            elif source == LB_HEALTH_CHECKS:
                # NLB health checks come from the load balancer's nodes inside the VPC.
                cidr = self.ctx.plan.network.node_cidr
            else:
                cidr = source
            rule = aws.vpc.SecurityGroupIngressRule(
                names.child(name, names.part(target), "from", names.part(source), protocol, ports),
                security_group_id=groups[target].id,
                ip_protocol=protocol,
                referenced_security_group_id=group,
                cidr_ipv4=cidr,
                from_port=low,
                to_port=high,
                description=_sg_description("; ".join(whys)),
                opts=self.opts(parent),
            )
            resources.append(rule)
        return FirewallHandle(by_role={role: sg.id for role, sg in groups.items()}, resources=resources)

    def _egress_rules(self, name: str, groups: Mapping[str, aws.ec2.SecurityGroup],
                      parent: pulumi.Resource) -> list[pulumi.Resource]:
        """The plan's egress per role (``firewall.egress_rules``) as security-group egress
        rules; a group with none sends nothing (the provider removes EC2's default allow)."""
        plan = self.ctx.plan
        peers = tuple((p.cluster, p.node_cidr) for p in plan.cni.mesh.peers) if plan.cni.mesh is not None else ()
        out: list[pulumi.Resource] = []
        for r in egress_rules(plan.network.node_cidr, plan.network.pod_cidr, peers):
            everything = r.protocol == "all"
            ports = () if everything else (str(r.ports[0]) if r.ports[0] == r.ports[1] else f"{r.ports[0]}-{r.ports[1]}",)
            # The worker's rule keeps the name every group's single open rule had.
            rule_name = (names.child(name, names.part(r.source), "egress-all") if r.source == "worker"
                         else names.child(name, names.part(r.source), "egress", r.protocol, *ports,
                                          "to", names.part(r.label)))
            out.append(aws.vpc.SecurityGroupEgressRule(
                rule_name,
                security_group_id=groups[r.source].id,
                ip_protocol="-1" if everything else r.protocol,
                from_port=None if everything else r.ports[0],
                to_port=None if everything else r.ports[1],
                referenced_security_group_id=groups[r.destination].id if r.destination_is_role else None,
                cidr_ipv4=None if r.destination_is_role else r.destination,
                description=_sg_description(r.why),
                opts=self.opts(parent),
            ))
        return out

    def _reserve_fixed_addresses(self, name: str, zone: str, subnet: aws.ec2.Subnet,
                                 parent: pulumi.Resource) -> list[pulumi.Resource]:
        """An explicit /32 reservation per planned fixed address in ``zone`` (etcd members,
        control-plane replicas, a ClusterMesh member's API load balancer): AWS then never hands one to another interface -- a
        worker, a load balancer node -- before (or while) its machine does not hold it,
        e.g. during a delete-first replacement. GCP reserves the same addresses as
        `compute.Address` resources."""
        plan = self.ctx.plan
        fixed = [*((m.name, m.ip) for m in plan.etcd.members if m.zone == zone),
                 *((r.name, r.ip) for r in plan.control_plane.replicas if r.zone == zone)]
        if plan.cni.mesh is not None:
            # Its NLB takes it through a subnet mapping, after the workers started.
            fixed += [(names.child("clustermesh-lb", z), ip) for z, ip in plan.cni.mesh.lb_ips if z == zone]
        return [
            aws.ec2.SubnetCidrReservation(
                names.child(name, "ip", member),
                subnet_id=subnet.id,
                cidr_block=f"{ip}/32",
                reservation_type="explicit",
                description=f"fixed address of {plan.key} {member}",
                opts=self.opts(parent),
            )
            for member, ip in fixed
        ]
