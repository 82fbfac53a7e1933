"""The GCP adapter's machines: service accounts, Compute Engine instances (Shielded VM, OS Login), persistent disks, zonal managed instance groups."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_gcp as gcp

from components.clouds.base import (
    DiskHandle,
    FirewallHandle,
    MachineGroupHandle,
    MachineHandle,
    MachineIdentity,
    MachineRequest,
    NetworkHandle,
)
from components.clouds.gcp_base import (
    _BY_ID_PREFIX,
    BOOT_DISK_GB,
    DISK_TYPE,
    SCOPES,
    GcpBase,
    GcpMachineHandle,
)
from fleetform.bootstrap.inputs import gcp_disk_device_path
from fleetform.plan import names
from fleetform.plan.firewall import NODE_ROLES, Role
from fleetform.plan.model import PoolPlan
from fleetform.plan.pools import zonal_groups


class GcpCompute(GcpBase):
    def identity(self, name: str, role: Role, parent: pulumi.Resource,
                 member: str | None = None) -> MachineIdentity:
        short = member or {"control_plane": "cp", "api_lb": "api-lb"}.get(role, role)
        whose = f"etcd member {member}" if member else f"{role} plane"
        account = gcp.serviceaccount.Account(
            name,
            account_id=names.machine_account(self.ctx.plan.key, short),
            display_name=f"fleetform {self.ctx.plan.key} {member or role}"[:100],
            description=(f"Machine identity of the {whose} of {self.ctx.plan.key}; "
                         "its grants are the secrets and buckets it reads or writes, and log writing.")[:256],
            project=self.project,
            # Secret Manager and Storage grants are per resource (secret(), bucket()).
            opts=self.opts(parent),
        )
        resources: tuple[pulumi.Resource, ...] = (account,)
        if role in ("control_plane", "worker") and self.ctx.fleet.logging.on("gcp") is not None:
            # The log shipper on Kubernetes nodes writes with the node's identity (Fluent
            # Bit's Cloud Logging output takes no federated credential): write, never read.
            resources += (gcp.projects.IAMMember(
                names.child(name, "log-writer"), project=self.project, role="roles/logging.logWriter",
                member=account.email.apply(lambda e: f"serviceAccount:{e}"), opts=self.opts(parent)),)
        return MachineIdentity(role=role, principal=account.email, attachable=account.email,
                               resources=resources, member=member)

    def data_disk(self, name: str, zone: str, size_gb: int, protect: bool,
                  parent: pulumi.Resource) -> DiskHandle:
        physical = self._physical(name)
        disk = gcp.compute.Disk(
            name,
            name=physical,
            zone=zone,
            size=size_gb,
            type=DISK_TYPE,
            # Google-managed keys unless the cluster names its own (encryption.kms); the
            # Compute Engine service agent must be allowed to use that key.
            disk_encryption_key=(gcp.compute.DiskDiskEncryptionKeyArgs(kms_key_self_link=self.ctx.plan.kms_key)
                                 if self.ctx.plan.kms_key else None),
            labels=self._labels("etcd"),
            opts=self.opts(parent, protect=protect),
        )
        # Attached under its own name as device name: the guest sees it at a path that
        # is known before the instance exists and survives the machine's replacement.
        return DiskHandle(id=disk.id, device_path=pulumi.Output.from_input(gcp_disk_device_path(physical)),
                          resource=disk)

    def machine(self, req: MachineRequest, parent: pulumi.Resource) -> MachineHandle:
        plan = self.ctx.plan
        if req.zone not in req.network.private_subnets:
            raise ValueError(f"{req.name}: zone {req.zone!r} is not one of the network's {sorted(req.network.private_subnets)}")
        subnet = req.network.private_subnets[req.zone]
        physical = self._physical(req.name)
        network_ip: pulumi.Input[str] | None = None
        if req.private_ip is not None:
            # Reserved, so the address stays the member's across replacements.
            address = gcp.compute.Address(
                names.child(req.name, "ip"),
                name=self._physical(req.name, "ip"),
                address_type="INTERNAL",
                purpose="GCE_ENDPOINT",
                address=req.private_ip,
                subnetwork=subnet,
                region=plan.region,
                labels=self._labels(req.role),
                opts=self.opts(parent, protect=req.protect),
            )
            network_ip = address.address
        attached: list[gcp.compute.InstanceAttachedDiskArgs] = []
        if req.data_disk is not None:
            disk = req.data_disk.resource
            source = disk.self_link if isinstance(disk, gcp.compute.Disk) else req.data_disk.id
            attached.append(gcp.compute.InstanceAttachedDiskArgs(
                source=source,
                device_name=req.data_disk.device_path.apply(lambda p: p.removeprefix(_BY_ID_PREFIX)),
                mode="READ_WRITE",
            ))

        rolling: dict[str, Any]
        if req.roll:
            # A changed user-data replaces the machine (cloud-init runs once per instance);
            # delete first: the name, the reserved IP and the data disk belong to one
            # instance at a time.
            # The image is still pinned to the one the machine was built from: a newly
            # published Ubuntu image must not replace every replica in one `pulumi up`.
            rolling = {"replace_on_changes": ["metadata"], "delete_before_replace": True,
                       "ignore_changes": ["bootDisk.initializeParams.image"]}
        else:
            # Frozen: a user-data, image (a newly published Ubuntu image), boot-disk or
            # machine-type change would restart or replace every member at once; they
            # apply when the member is rolled. Any other replacement fails loudly
            # (create-before-delete meets the taken name) instead of deleting a member.
            rolling = {"ignore_changes": ["metadata", "bootDisk", "machineType"]}
        instance = gcp.compute.Instance(
            req.name,
            name=physical,
            zone=req.zone,
            machine_type=req.machine_type,
            boot_disk=gcp.compute.InstanceBootDiskArgs(
                auto_delete=True,
                initialize_params=gcp.compute.InstanceBootDiskInitializeParamsArgs(
                    image=self._image_link(), size=BOOT_DISK_GB, type=DISK_TYPE),
            ),
            attached_disks=attached,
            # No access_configs: no public IP; egress through Cloud NAT.
            network_interfaces=[gcp.compute.InstanceNetworkInterfaceArgs(subnetwork=subnet, network_ip=network_ip)],
            service_account=gcp.compute.InstanceServiceAccountArgs(email=req.identity.attachable, scopes=list(SCOPES)),
            shielded_instance_config=gcp.compute.InstanceShieldedInstanceConfigArgs(**self._shielded()),
            metadata=self._metadata(req.user_data),
            labels=self._labels(req.role, **req.tags),
            # Kubernetes nodes carry the tag the cloud controller manager opens
            # load-balancer traffic and health checks to.
            tags=[names.node_network_tag(self.ctx.plan.key)] if req.role in NODE_ROLES else None,
            # Only a machine being rolled may be stopped for an in-place change.
            allow_stopping_for_update=req.roll,
            opts=self.opts(
                parent,
                protect=req.protect,
                depends_on=[*req.depends_on, *req.identity.resources, *req.firewall.resources, *self._egress],
                **rolling,
            ),
        )
        private_ip: pulumi.Output[str] = (
            pulumi.Output.from_input(network_ip) if network_ip is not None
            else instance.network_interfaces.apply(lambda nics: str(nics[0].network_ip))
        )
        return GcpMachineHandle(id=instance.id, private_ip=private_ip, resource=instance, zone=req.zone)

    def machine_group(self, name: str, pool: PoolPlan, role: Role, user_data: pulumi.Output[str],
                      identity: MachineIdentity, firewall: FirewallHandle, network: NetworkHandle,
                      parent: pulumi.Resource, depends_on: Sequence[pulumi.Resource] = ()) -> MachineGroupHandle:
        plan = self.ctx.plan
        subnet = network.private_subnets[pool.zones[0]]  # regional: the same for every zone
        # cluster-autoscaler's GCE auto-discovery reads these labels of the group's template.
        labels = self._labels(role, pool=pool.name, **{"cluster-autoscaler-enabled": "true",
                                                       "cluster-autoscaler-name": plan.name})
        # Templates are immutable: every change makes a new one (unique name from the
        # prefix, created before the old one is deleted) and the group rolls to it.
        template = gcp.compute.InstanceTemplate(
            names.child(name, "template"),
            name_prefix=self._physical(name, limit=36) + "-",
            machine_type=pool.machine_type,
            disks=[gcp.compute.InstanceTemplateDiskArgs(
                boot=True, auto_delete=True, source_image=self._image_link(),
                disk_size_gb=BOOT_DISK_GB, disk_type=DISK_TYPE, labels=labels)],
            # No access_configs: no public IP; egress through Cloud NAT.
            network_interfaces=[gcp.compute.InstanceTemplateNetworkInterfaceArgs(subnetwork=subnet)],
            service_account=gcp.compute.InstanceTemplateServiceAccountArgs(
                email=identity.attachable, scopes=list(SCOPES)),
            shielded_instance_config=gcp.compute.InstanceTemplateShieldedInstanceConfigArgs(**self._shielded()),
            metadata=self._metadata(user_data),
            labels=labels,
            tags=[names.node_network_tag(plan.key)],
            opts=self.opts(parent, depends_on=list(identity.resources)),
        )
        # One zonal group per zone: cluster-autoscaler scales zonal MIGs only, and finds
        # each by the name its add-on renders (plan.pools, the same split of min/max).
        groups: dict[str, gcp.compute.InstanceGroupManager] = {}
        for share in zonal_groups(plan.key, pool):
            groups[share.zone] = gcp.compute.InstanceGroupManager(
                names.child(name, share.zone),
                name=share.name,
                # Instances are named <base>-<4 random characters>, at most 63 in all.
                base_instance_name=names.physical(share.name, limit=58),
                zone=share.zone,
                versions=[gcp.compute.InstanceGroupManagerVersionArgs(
                    name="primary", instance_template=template.self_link_unique)],
                update_policy=gcp.compute.InstanceGroupManagerUpdatePolicyArgs(
                    type="PROACTIVE",
                    minimal_action="REPLACE",
                    # Surge one new node first, never below capacity (a zonal group has
                    # no per-zone surge constraint, unlike a regional one).
                    max_surge_fixed=1,
                    max_unavailable_fixed=0,
                    replacement_method="SUBSTITUTE",
                ),
                # The group starts at its zone's share of the pool's minimum; from then on
                # the cluster-autoscaler (in the cluster, from its add-on bundle) owns the
                # size. `pulumi up` does not wait for nodes, which only turn healthy once
                # the control plane answers.
                target_size=share.min,
                wait_for_instances=False,
                opts=self.opts(parent, depends_on=[*depends_on, *identity.resources, *firewall.resources,
                                                   *self._egress], ignore_changes=["targetSize"]),
            )
        return MachineGroupHandle(groups={z: g.id for z, g in groups.items()}, resources=(template, *groups.values()))
