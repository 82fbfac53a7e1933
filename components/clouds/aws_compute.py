"""The AWS adapter's machines: IAM roles and instance profiles, EC2 instances, EBS data disks, autoscaling groups."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from components.clouds.aws_base import (
    _ASSUME_ROLE_EC2,
    DATA_DEVICE_NAME,
    IMDS_HOP_LIMIT,
    IMDS_TOKENS,
    ROOT_VOLUME_GB,
    AwsBase,
)
from components.clouds.base import (
    DiskHandle,
    FirewallHandle,
    MachineGroupHandle,
    MachineHandle,
    MachineIdentity,
    MachineRequest,
    NetworkHandle,
)
from fleetform.bootstrap.document import user_data_base64
from fleetform.bootstrap.inputs import aws_ebs_device_path
from fleetform.plan import names
from fleetform.plan.firewall import Role
from fleetform.plan.model import PoolPlan


class AwsCompute(AwsBase):
    def identity(self, name: str, role: Role, parent: pulumi.Resource,
                 member: str | None = None) -> MachineIdentity:
        # IAM is global to the account: the name carries fleet, incarnation and role (or
        # etcd member: each member has its own role and reads only its own secrets).
        physical = names.machine_role(self.ctx.fleet.fleet, self.ctx.plan.key, member or role)
        extra = {"etcd-member": member} if member else {}
        iam_role = aws.iam.Role(
            name,
            name=physical,
            description=f"fleetform {self.ctx.plan.key} {member or role} machines",
            assume_role_policy=_ASSUME_ROLE_EC2,
            tags=self.tags(role, **extra),
            opts=self.opts(parent),
        )
        profile = aws.iam.InstanceProfile(
            names.child(name, "profile"),
            name=physical,
            role=iam_role.name,
            tags=self.tags(role, **extra),
            opts=self.opts(parent),
        )
        resources: tuple[pulumi.Resource, ...] = (iam_role, profile)
        key = self.ctx.plan.kms_key
        if key is not None:
            # The secrets it reads are wrapped by the cluster's key: decrypt, through
            # Secrets Manager only. Control-plane replicas also write a new version of
            # the bootstrap token (its secret's policy names them), which needs a data key.
            actions = ["kms:Decrypt", "kms:GenerateDataKey"] if role == "control_plane" else "kms:Decrypt"
            resources += (aws.iam.RolePolicy(
                names.child(name, "kms"),
                role=iam_role.id,
                policy=json.dumps({"Version": "2012-10-17", "Statement": [{
                    "Sid": "SecretsOfThisCluster", "Effect": "Allow", "Action": actions, "Resource": key,
                    "Condition": {"StringEquals": {
                        "kms:ViaService": f"secretsmanager.{self.ctx.plan.region}.amazonaws.com"}}}]}),
                opts=self.opts(parent),
            ),)
        return MachineIdentity(role=role, principal=iam_role.arn, attachable=profile.name,
                               resources=resources, member=member)

    def data_disk(self, name: str, zone: str, size_gb: int, protect: bool,
                  parent: pulumi.Resource) -> DiskHandle:
        volume = aws.ebs.Volume(
            name,
            availability_zone=zone,
            size=size_gb,
            type="gp3",
            encrypted=True,
            kms_key_id=self.ctx.plan.kms_key,  # None: the account's default EBS key
            tags=self.tags("etcd", Name=names.child(self.ctx.plan.key, self._short(name))),
            opts=self.opts(parent, protect=protect),
        )
        return DiskHandle(id=volume.id, device_path=volume.id.apply(aws_ebs_device_path), resource=volume)

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
            # Explicit: a long cluster and pool name would push the auto-name past 125.
            name=names.physical(self.ctx.fleet.fleet, names.child(name, "lt"), limit=125),
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
        # One group over every zone of the pool: AWS's cluster-autoscaler scales it as one.
        return MachineGroupHandle(groups={self.ctx.plan.region: group.id}, resources=(template, group))
