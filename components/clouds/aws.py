"""The AWS adapter: the cloud contract of ``base.py`` in VPCs, security groups, IAM,
EC2, EBS, NLB, Route 53, Secrets Manager and S3.

One adapter per cluster incarnation, one explicit ``aws.Provider`` for it. Nothing here
decides anything the plan already decided (zones, CIDRs, addresses, rules, sizes): it
only translates plan data into resources. No resource is ever created inside ``apply``.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pulumi
import pulumi_aws as aws

from fleetform import names
from fleetform.bootstrap.document import user_data_base64
from fleetform.bootstrap.inputs import SecretStore, aws_ebs_device_path
from fleetform.firewall import LB_HEALTH_CHECKS, ROLES, FirewallRule, Role
from fleetform.plan import PoolPlan

from .base import (
    BucketHandle,
    CloudAdapter,
    ClusterContext,
    DiskHandle,
    DnsZoneHandle,
    FirewallHandle,
    LoadBalancerHandle,
    MachineGroupHandle,
    MachineHandle,
    MachineIdentity,
    MachineRequest,
    NetworkHandle,
    SecretRef,
)

# Ubuntu 24.04 LTS (noble), published by Canonical's own account.
CANONICAL_OWNER = "099720109477"
UBUNTU_NOBLE_AMI = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"
# The AMI's 8 GB root does not hold container images, logs and the kubelet's state.
ROOT_VOLUME_GB = 50
# The data disk's device name in the API; Nitro guests see it as NVMe (see DiskHandle).
DATA_DEVICE_NAME = "/dev/sdf"
# Minimum Secrets Manager allows: a deleted secret's name stays reserved this long.
SECRET_RECOVERY_DAYS = 7
# Characters EC2 accepts in security-group (rule) descriptions.
_SG_DESCRIPTION_BAD = re.compile(r"[^a-zA-Z0-9. _\-:/()#,@\[\]+=&;{}!$*]")

_ASSUME_ROLE_EC2 = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Allow",
        "Principal": {"Service": "ec2.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }],
})

# Instance metadata: session tokens only (IMDSv2) and one hop, so pods behind the
# node's network namespace cannot borrow the node's role.
IMDS_TOKENS = "required"
IMDS_HOP_LIMIT = 1



def _sg_description(text: str) -> str:
    return _SG_DESCRIPTION_BAD.sub(" ", text)[:255]


def _bucket_policy(bucket_arn: str, object_actions: Sequence[str]) -> str:
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "List", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn},
            {"Sid": "Objects", "Effect": "Allow", "Action": list(object_actions), "Resource": f"{bucket_arn}/*"},
        ],
    })


def _role_name_from_arn(arn: str) -> str:
    # arn:aws:iam::<account>:role[/path]/<name>
    return arn.rsplit("/", 1)[-1]


class AwsAdapter(CloudAdapter):
    cloud: Literal["aws", "gcp"] = "aws"

    def __init__(self, ctx: ClusterContext) -> None:
        super().__init__(ctx)
        self._provider: aws.Provider | None = None
        self._ami: pulumi.Output[str] | None = None
        self._public_zone: pulumi.Output[str] | None = None
        # Load-balancer handle (by identity; the entry keeps it alive) -> its
        # internet-facing twin.
        self._public_lbs: dict[int, tuple[LoadBalancerHandle, aws.lb.LoadBalancer]] = {}
        # Routes and NATs: a machine's first boot installs packages, so it must wait
        # for egress (NetworkHandle carries ids only, not the resources behind them).
        self._egress: list[pulumi.Resource] = []
        # Explicit subnet CIDR reservations of the plan's fixed addresses (network()):
        # whatever else places a network interface in a private subnet waits for them.
        self._reserved: list[pulumi.Resource] = []

    # ------------------------------------------------------------------ facts

    @property
    def provider(self) -> pulumi.ProviderResource:
        if self._provider is None:
            self._provider = aws.Provider(
                names.child(self.ctx.plan.key, "aws"),
                region=self.ctx.plan.region,
                # The cluster's labels too, so resources that take no explicit tags carry them.
                default_tags=aws.ProviderDefaultTagsArgs(
                    tags={**dict(self.ctx.fleet.aws_default_tags), **dict(self.ctx.plan.labels)}),
                opts=pulumi.ResourceOptions(parent=self.ctx.owner),
            )
        return self._provider

    @property
    def secret_store(self) -> SecretStore:
        return SecretStore(cloud="aws", region=self.ctx.plan.region, project=None)

    def _invoke(self) -> pulumi.InvokeOptions:
        return pulumi.InvokeOptions(provider=self.provider)

    def _short(self, resource_name: str) -> str:
        """A resource name without the incarnation prefix, to build child names from."""
        prefix = self.ctx.plan.key + "-"
        return resource_name[len(prefix):] if resource_name.startswith(prefix) else resource_name

    def _ami_id(self) -> pulumi.Output[str]:
        # Looked up once per incarnation: every machine of one `pulumi up` sees one image.
        if self._ami is None:
            self._ami = aws.ec2.get_ami_output(
                most_recent=True,
                owners=[CANONICAL_OWNER],
                filters=[
                    aws.ec2.GetAmiFilterArgs(name="name", values=[UBUNTU_NOBLE_AMI]),
                    aws.ec2.GetAmiFilterArgs(name="architecture", values=["x86_64"]),
                    aws.ec2.GetAmiFilterArgs(name="virtualization-type", values=["hvm"]),
                ],
                opts=self._invoke(),
            ).id
        return self._ami

    # ---------------------------------------------------------------- network

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

    # -------------------------------------------------------------------- DNS

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

    # --------------------------------------------------------------- identity

    def identity(self, name: str, role: Role, parent: pulumi.Resource) -> MachineIdentity:
        # IAM is global to the account: the name carries fleet, incarnation and role.
        physical = names.physical(self.ctx.fleet.fleet, self.ctx.plan.key, role, limit=64)
        iam_role = aws.iam.Role(
            name,
            name=physical,
            description=f"fleetform {self.ctx.plan.key} {role} machines",
            assume_role_policy=_ASSUME_ROLE_EC2,
            tags=self.tags(role),
            opts=self.opts(parent),
        )
        profile = aws.iam.InstanceProfile(
            names.child(name, "profile"),
            name=physical,
            role=iam_role.name,
            tags=self.tags(role),
            opts=self.opts(parent),
        )
        return MachineIdentity(role=role, principal=iam_role.arn, attachable=profile.name,
                               resources=(iam_role, profile))

    # --------------------------------------------------------------- firewall

    def firewall(self, name: str, rules: Sequence[FirewallRule], network: NetworkHandle,
                 identities: Mapping[str, MachineIdentity], parent: pulumi.Resource) -> FirewallHandle:
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
            egress = aws.vpc.SecurityGroupEgressRule(
                names.child(name, names.part(role), "egress-all"),
                security_group_id=sg.id,
                ip_protocol="-1",
                cidr_ipv4="0.0.0.0/0",
                description="egress open (packages, registries, AWS APIs)",
                opts=self.opts(parent),
            )
            groups[role] = sg
            resources += [sg, egress]

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

    # ---------------------------------------------------------------- secrets

    def secret(self, name: str, key: str, value: pulumi.Output[str],
               readers: Sequence[MachineIdentity], parent: pulumi.Resource) -> SecretRef:
        secret = aws.secretsmanager.Secret(
            name,
            name=f"{self.ctx.fleet.fleet}/{self.ctx.plan.key}/{key}",
            description=f"fleetform {self.ctx.plan.key}: {key}",
            recovery_window_in_days=SECRET_RECOVERY_DAYS,
            tags=self.tags("secrets", key=key),
            opts=self.opts(parent),
        )
        version = aws.secretsmanager.SecretVersion(
            names.child(name, "version"),
            secret_id=secret.id,
            # The SDK marks secret_string secret itself; it never reaches state in clear.
            secret_string=value,
            opts=self.opts(parent),
        )
        resources: list[pulumi.Resource] = [secret, version]
        if readers:
            policy = pulumi.Output.all(secret.arn, *(r.principal for r in readers)).apply(
                lambda v: json.dumps({
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Sid": "ReadersOnly",
                        "Effect": "Allow",
                        "Principal": {"AWS": sorted(set(v[1:]))},
                        "Action": "secretsmanager:GetSecretValue",
                        "Resource": v[0],
                    }],
                }))
            resources.append(aws.secretsmanager.SecretPolicy(
                names.child(name, "policy"),
                secret_arn=secret.arn,
                policy=policy,
                block_public_policy=True,
                # The role must exist before its ARN is accepted as a principal.
                opts=self.opts(parent, depends_on=[x for r in readers for x in r.resources]),
            ))
        return SecretRef(key=key, secret_id=secret.arn, resources=resources)

    # ----------------------------------------------------------------- disks

    def data_disk(self, name: str, zone: str, size_gb: int, protect: bool,
                  parent: pulumi.Resource) -> DiskHandle:
        volume = aws.ebs.Volume(
            name,
            availability_zone=zone,
            size=size_gb,
            type="gp3",
            encrypted=True,
            tags=self.tags("etcd", Name=names.child(self.ctx.plan.key, self._short(name))),
            opts=self.opts(parent, protect=protect),
        )
        return DiskHandle(id=volume.id, device_path=volume.id.apply(aws_ebs_device_path), resource=volume)

    # --------------------------------------------------------------- machines

    def machine(self, req: MachineRequest, parent: pulumi.Resource) -> MachineHandle:
        tags = self.tags(req.role, Name=names.child(self.ctx.plan.key, self._short(req.name)), **req.tags)
        # The AMI is "most recent" at lookup time: a new Canonical release is no change
        # to the stack and must never replace fixed machines on its own (it would hit
        # every replica or member at once). A machine keeps the image it was created with.
        ignore = ["ami"]
        replace: dict[str, Any] = {}
        if req.roll:
            if req.private_ip is not None or req.data_disk is not None:
                # A changed user-data replaces the member; delete first so the fixed
                # private IP is free and the data volume can move to the new instance.
                # (Without either, the default create-first keeps the old one serving.)
                replace["delete_before_replace"] = True
        else:
            # Frozen: a user-data or size change would restart every member at once
            # (EC2 stops/starts to apply either). They apply when the member is rolled.
            ignore += ["userDataBase64", "instanceType"]
        instance = aws.ec2.Instance(
            req.name,
            ami=self._ami_id(),
            instance_type=req.machine_type,
            subnet_id=req.network.private_subnets[req.zone],
            private_ip=req.private_ip,
            associate_public_ip_address=False,
            vpc_security_group_ids=[req.firewall.by_role[req.role]],
            iam_instance_profile=req.identity.attachable,
            # Gzipped: etcd and control-plane documents exceed EC2's 16 KB limit raw;
            # cloud-init detects and inflates gzip user data.
            user_data_base64=req.user_data.apply(user_data_base64),
            user_data_replace_on_change=req.roll,
            metadata_options=aws.ec2.InstanceMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens=IMDS_TOKENS, http_put_response_hop_limit=IMDS_HOP_LIMIT),
            root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(
                volume_type="gp3", volume_size=ROOT_VOLUME_GB, encrypted=True,
                delete_on_termination=True, tags=tags),
            tags=tags,
            opts=self.opts(parent, protect=req.protect,
                           depends_on=[*req.depends_on, *req.identity.resources, *self._egress, *self._reserved],
                           ignore_changes=ignore, **replace),
        )
        if req.data_disk is not None:
            aws.ec2.VolumeAttachment(
                names.child(req.name, "data"),
                device_name=DATA_DEVICE_NAME,
                instance_id=instance.id,
                volume_id=req.data_disk.id,
                # Stop the member before detaching, so etcd's data is flushed and the
                # filesystem is clean when the volume moves to a replacement.
                stop_instance_before_detaching=True,
                # A volume attaches to one instance at a time.
                opts=self.opts(parent, delete_before_replace=True),
            )
        return MachineHandle(id=instance.id, private_ip=instance.private_ip, resource=instance)

    def machine_group(self, name: str, pool: PoolPlan, role: Role, user_data: pulumi.Output[str],
                      identity: MachineIdentity, firewall: FirewallHandle, network: NetworkHandle,
                      parent: pulumi.Resource, depends_on: Sequence[pulumi.Resource] = ()) -> MachineGroupHandle:
        cluster = self.ctx.plan.name
        tags = self.tags(role, Name=names.child(self.ctx.plan.key, self._short(name)), pool=pool.name)
        template = aws.ec2.LaunchTemplate(
            names.child(name, "lt"),
            image_id=self._ami_id(),
            instance_type=pool.machine_type,
            iam_instance_profile=aws.ec2.LaunchTemplateIamInstanceProfileArgs(name=identity.attachable),
            network_interfaces=[aws.ec2.LaunchTemplateNetworkInterfaceArgs(
                device_index=0,
                associate_public_ip_address="false",
                delete_on_termination="true",
                security_groups=[firewall.by_role[role]],
            )],
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens=IMDS_TOKENS, http_put_response_hop_limit=IMDS_HOP_LIMIT),
            block_device_mappings=[aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                # Ubuntu's root device name.
                device_name="/dev/sda1",
                ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_type="gp3", volume_size=ROOT_VOLUME_GB, encrypted="true",
                    delete_on_termination="true"),
            )],
            user_data=user_data.apply(user_data_base64),
            update_default_version=True,
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=tags)
                for kind in ("instance", "volume", "network-interface")
            ],
            tags=tags,
            opts=self.opts(parent),
        )
        asg_tags = {
            **tags,
            "k8s.io/cluster-autoscaler/enabled": "true",
            f"k8s.io/cluster-autoscaler/{cluster}": "owned",
        }
        # Lets the cluster autoscaler scale a labelled pool up from zero.
        template_tags = {f"k8s.io/cluster-autoscaler/node-template/label/{k}": v for k, v in pool.labels}
        group = aws.autoscaling.Group(
            name,
            min_size=pool.min,
            max_size=pool.max,
            desired_capacity=pool.min,
            vpc_zone_identifiers=[network.private_subnets[z] for z in pool.zones],
            launch_template=aws.autoscaling.GroupLaunchTemplateArgs(
                id=template.id,
                # The concrete version (not "$Latest"): a new template version changes
                # this field, which is what starts the instance refresh below.
                version=template.latest_version.apply(str),
            ),
            instance_refresh=aws.autoscaling.GroupInstanceRefreshArgs(
                strategy="Rolling",
                preferences=aws.autoscaling.GroupInstanceRefreshPreferencesArgs(min_healthy_percentage=90),
            ),
            health_check_type="EC2",
            tags=[aws.autoscaling.GroupTagArgs(key=k, value=v, propagate_at_launch=True)
                  for k, v in sorted(asg_tags.items())]
                 + [aws.autoscaling.GroupTagArgs(key=k, value=v, propagate_at_launch=False)
                    for k, v in sorted(template_tags.items())],
            # The cluster autoscaler owns the desired size once the group exists.
            opts=self.opts(parent, ignore_changes=["desiredCapacity"],
                           depends_on=[*depends_on, *identity.resources, *self._egress, *self._reserved]),
        )
        return MachineGroupHandle(id=group.id, resources=(template, group))

    # ---------------------------------------------------------- load balancer

    def load_balancer(self, name: str, port: int, targets: Sequence[MachineHandle | MachineGroupHandle],
                      network: NetworkHandle, firewall: FirewallHandle, public: bool,
                      parent: pulumi.Resource, *, plane: str = "control_plane",
                      peers: bool = False) -> LoadBalancerHandle:
        # The cluster always talks to an internal NLB. Nodes reaching an internet-facing
        # NLB would leave through NAT and arrive from the NAT's public address, which no
        # security-group reference matches; so a public API gets a second, internet-facing
        # NLB that only the public DNS record points at (see public_dns_record).
        resources, internal = self._nlb(name, port, targets, network, firewall, False, parent, plane, peers)
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

    def _reserve_fixed_addresses(self, name: str, zone: str, subnet: aws.ec2.Subnet,
                                 parent: pulumi.Resource) -> list[pulumi.Resource]:
        """An explicit /32 reservation per planned fixed address in ``zone`` (etcd members,
        control-plane replicas): AWS then never hands one to another interface -- a
        worker, a load balancer node -- before (or while) its machine does not hold it,
        e.g. during a delete-first replacement. GCP reserves the same addresses as
        `compute.Address` resources."""
        plan = self.ctx.plan
        fixed = [*((m.name, m.ip) for m in plan.etcd.members if m.zone == zone),
                 *((r.name, r.ip) for r in plan.control_plane.replicas if r.zone == zone)]
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

    def _nlb(self, name: str, port: int, targets: Sequence[MachineHandle | MachineGroupHandle],
             network: NetworkHandle, firewall: FirewallHandle, public: bool, parent: pulumi.Resource,
             plane: str = "control_plane", peers: bool = False) -> tuple[list[pulumi.Resource], aws.lb.LoadBalancer]:
        subnets = network.public_subnets if public else network.private_subnets
        lb = aws.lb.LoadBalancer(
            name,
            load_balancer_type="network",
            internal=not public,
            subnets=[subnets[s.zone] for s in self.ctx.plan.network.subnets],
            # Peers' load balancer: no group of its own, so the clients' addresses reach
            # the targets and the targets' rules (from the peers' CIDRs) decide.
            security_groups=None if peers else [firewall.by_role["api_lb"]],
            enable_cross_zone_load_balancing=True,
            tags=self.tags(plane),
            # Internal: its interfaces take addresses in the private subnets.
            opts=self.opts(parent, depends_on=None if public else list(self._reserved)),
        )
        group = aws.lb.TargetGroup(
            names.child(name, "tg"),
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

    # ---------------------------------------------------------------- buckets

    def bucket(self, name: str, writers: Sequence[MachineIdentity], readers: Sequence[MachineIdentity],
               parent: pulumi.Resource, retention_days: int | None = None) -> BucketHandle:
        # Bucket names are global: a readable prefix plus a unique suffix from AWS.
        prefix = names.physical(self.ctx.fleet.fleet, self.ctx.plan.key, self._short(name), limit=36) + "-"
        bucket = aws.s3.Bucket(
            name,
            bucket_prefix=prefix,
            tags=self.tags("storage"),
            opts=self.opts(parent),
        )
        resources: list[pulumi.Resource] = [
            bucket,
            aws.s3.BucketPublicAccessBlock(
                names.child(name, "public-access-block"),
                bucket=bucket.id,
                block_public_acls=True,
                block_public_policy=True,
                ignore_public_acls=True,
                restrict_public_buckets=True,
                opts=self.opts(parent),
            ),
            aws.s3.BucketOwnershipControls(
                names.child(name, "ownership"),
                bucket=bucket.id,
                rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
                opts=self.opts(parent),
            ),
            aws.s3.BucketServerSideEncryptionConfiguration(
                names.child(name, "encryption"),
                bucket=bucket.id,
                rules=[aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=(
                        aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                            sse_algorithm="aws:kms")),
                    bucket_key_enabled=True,
                )],
                opts=self.opts(parent),
            ),
            aws.s3.BucketVersioning(
                names.child(name, "versioning"),
                bucket=bucket.id,
                versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
                opts=self.opts(parent),
            ),
        ]
        if retention_days is not None:
            resources.append(aws.s3.BucketLifecycleConfiguration(
                names.child(name, "lifecycle"),
                bucket=bucket.id,
                rules=[aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="retention",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=retention_days),
                    # Versioning keeps overwritten objects: expire those too.
                    noncurrent_version_expiration=(
                        aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                            noncurrent_days=retention_days)),
                    abort_incomplete_multipart_upload=(
                        aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                            days_after_initiation=1)),
                )],
                opts=self.opts(parent),
            ))

        # One inline policy per identity: the union of what it may do on this bucket only.
        grants: dict[str, tuple[MachineIdentity, set[str]]] = {}
        for ident, actions in [(w, {"s3:PutObject"}) for w in writers] + [(r, {"s3:GetObject"}) for r in readers]:
            grants.setdefault(ident.role, (ident, set()))[1].update(actions)
        for role, (ident, object_actions) in sorted(grants.items()):
            policy = bucket.arn.apply(functools.partial(_bucket_policy, object_actions=sorted(object_actions)))
            resources.append(aws.iam.RolePolicy(
                names.child(name, "access", names.part(role)),
                role=ident.principal.apply(_role_name_from_arn),
                policy=policy,
                opts=self.opts(parent),
            ))
        return BucketHandle(name=bucket.bucket, url=bucket.bucket.apply(lambda b: f"s3://{b}"),
                            resources=resources)
