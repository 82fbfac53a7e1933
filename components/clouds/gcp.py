"""The GCP adapter: the cloud contract of ``base.py`` in a custom-mode VPC, firewall
rules on service accounts, Compute Engine (Shielded VM, OS Login), persistent disks,
regional passthrough TCP load balancers, Cloud DNS, Secret Manager and Cloud Storage.

One adapter per cluster incarnation, one explicit ``gcp.Provider`` for it (project from
the fleet, region from the plan). Nothing here decides what the plan already decided
(zones, CIDRs, addresses, rules, sizes): it only translates plan data into resources.
No resource is ever created inside ``apply``.

Cloud-side names come from ``names.physical`` on the stable Pulumi names (which start
with the incarnation key), so they are readable, deterministic and never random.
Encryption at rest: every persistent disk, secret and object is encrypted with
Google-managed keys by default; customer-managed keys (CMEK) are not wired yet.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_gcp as gcp

from fleetform import names
from fleetform.bootstrap.inputs import SecretStore, gcp_disk_device_path
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

# Ubuntu 24.04 LTS (noble), published by Canonical in its public image project.
IMAGE_PROJECT = "ubuntu-os-cloud"
IMAGE_FAMILY = "ubuntu-2404-lts-amd64"
# The image's 10 GB root does not hold container images, logs and the kubelet's state.
BOOT_DISK_GB = 50
# pd-balanced: SSD-backed, the price the plan's cost estimate assumes (sizes.py).
DISK_TYPE = "pd-balanced"
# The node's own service account with the cloud-platform scope: IAM (not scopes)
# decides what it may do, and it may do only what secret/bucket grants give it.
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
# Node network MTU: matches cni.NODE_MTU["gcp"], from which the CNI's MTU is derived.
NETWORK_MTU = 1460

# Google's health-check probers, by load-balancer kind (cloud.google.com/load-balancing/
# docs/health-check-concepts#ip-ranges). Internal passthrough NLBs are probed from the
# first set; backend-service-based external passthrough NLBs from the second.
HEALTH_CHECK_RANGES_INTERNAL: tuple[str, ...] = ("35.191.0.0/16", "130.211.0.0/22")
HEALTH_CHECK_RANGES_EXTERNAL: tuple[str, ...] = ("35.191.0.0/16", "209.85.152.0/22", "209.85.204.0/22")

# Passthrough load balancers are not proxies: packets reach the backends with the
# client's own source address. So a rule *to* a load balancer is a rule to its backends
# (GCP has no firewall on the load balancer itself), and a rule *from* it has nothing to
# match and is dropped.
LB_BACKENDS: Mapping[str, Role] = {"api_lb": "control_plane"}

# Noncurrent object versions (overwritten or expired snapshots) are kept this long.
NONCURRENT_VERSION_DAYS = 7
# Metadata values are capped at 256 KB by Compute Engine.
USER_DATA_LIMIT = 256 * 1024

# gcp_disk_device_path(name) == _BY_ID_PREFIX + name
_BY_ID_PREFIX = "/dev/disk/by-id/google-"
_LABEL_BAD = re.compile(r"[^a-z0-9_-]+")



def _label(value: str) -> str:
    """A GCP label value: lowercase letters, digits, '_' and '-', at most 63 characters."""
    return _LABEL_BAD.sub("-", value.lower())[:63]


def _labels(raw: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in raw.items():
        key = _label(k)
        if not key or not key[0].isalpha():
            key = f"l-{key}"[:63]
        out[key] = _label(v)
    return out


def _member(email: pulumi.Output[str]) -> pulumi.Output[str]:
    return pulumi.Output.concat("serviceAccount:", email)


def check_user_data(text: str) -> str:
    """User-data goes into instance metadata, readable by anything on the node: it
    must carry secret *ids* only (fetched at boot from Secret Manager), never keys."""
    if "PRIVATE KEY-----" in text:
        raise ValueError("user-data contains a private key; store it with secret() and pass its id")
    size = len(text.encode())
    if size > USER_DATA_LIMIT:
        raise ValueError(f"user-data is {size} bytes; a GCP metadata value holds at most {USER_DATA_LIMIT}")
    return text


def _ports(rules: Sequence[FirewallRule]) -> list[gcp.compute.FirewallAllowArgs]:
    """One allow block per protocol, ports sorted ("6443" or "30000-32767")."""
    by_proto: dict[str, set[str]] = {}
    for r in rules:
        lo, hi = r.ports
        by_proto.setdefault(r.protocol, set()).add(str(lo) if lo == hi else f"{lo}-{hi}")
    allows: list[gcp.compute.FirewallAllowArgs] = []
    for proto, ports in sorted(by_proto.items()):
        ordered: list[str] = sorted(ports, key=lambda p: int(p.split("-")[0]))
        allows.append(gcp.compute.FirewallAllowArgs(protocol=proto, ports=ordered))
    return allows


@dataclass(frozen=True)
class GcpMachineHandle(MachineHandle):
    """A machine plus its zone: unmanaged instance groups (load-balancer backends) are zonal."""

    zone: str = ""


@dataclass(frozen=True)
class GcpLoadBalancerHandle(LoadBalancerHandle):
    """A public API load balancer also gets an internal twin on the same backends: in-VPC
    clients (nodes without public IPs) would reach the external address through Cloud NAT,
    with the NAT's address as source, which no service-account firewall rule matches.
    Private DNS records point at ``internal_address``; public records at ``address``."""

    internal_address: pulumi.Output[str] | None = None


class GcpAdapter(CloudAdapter):
    cloud: Literal["aws", "gcp"] = "gcp"

    def __init__(self, ctx: ClusterContext) -> None:
        super().__init__(ctx)
        if not ctx.fleet.gcp_project:
            raise ValueError(f"cluster {ctx.plan.name!r} runs on GCP but the fleet sets no clouds.gcp.project")
        self.project: str = ctx.fleet.gcp_project
        self._provider: gcp.Provider | None = None
        self._image: pulumi.Output[str] | None = None
        # Cloud NAT: a machine's first boot installs packages, so it waits for egress
        # (NetworkHandle carries ids only, not the resources behind them).
        self._egress: list[pulumi.Resource] = []
        self._secret_ids: set[str] = set()

    # ------------------------------------------------------------------ facts

    @property
    def provider(self) -> pulumi.ProviderResource:
        if self._provider is None:
            plan = self.ctx.plan
            self._provider = gcp.Provider(
                names.child(plan.key, "gcp"),
                project=self.project,
                region=plan.region,
                default_labels=_labels({
                    **dict(self.ctx.fleet.gcp_default_labels),
                    **dict(plan.labels),
                    "fleet": self.ctx.fleet.fleet,
                    "cluster": plan.name,
                    "incarnation": plan.key,
                    "managed-by": "fleetform",
                }),
                opts=pulumi.ResourceOptions(parent=self.ctx.owner),
            )
        return self._provider

    @property
    def secret_store(self) -> SecretStore:
        return SecretStore(cloud="gcp", region=self.ctx.plan.region, project=self.project)

    def _invoke(self) -> pulumi.InvokeOptions:
        return pulumi.InvokeOptions(provider=self.provider)

    def _labels(self, plane: str, **extra: str) -> dict[str, str]:
        # The fleet's clouds.gcp.default_labels and the cluster's labels are also the
        # provider's default_labels; written on each resource too, so that the plan (and
        # policies) see them as they see AWS's default tags. Ours win on a clash.
        return _labels({**dict(self.ctx.fleet.gcp_default_labels), **dict(self.ctx.plan.labels),
                        **self.tags(plane, **extra)})

    def _physical(self, resource_name: str, *parts: str, limit: int = 63) -> str:
        """Cloud-side name of a resource: its Pulumi name (which starts with the
        incarnation key, unique per project) made GCP-valid."""
        key = self.ctx.plan.key
        base = resource_name if resource_name.startswith(key) else names.child(key, resource_name)
        return names.physical(base, *parts, limit=limit)

    def _image_link(self) -> pulumi.Output[str]:
        # Looked up once per incarnation: every machine of one `pulumi up` sees one image.
        if self._image is None:
            self._image = gcp.compute.get_image_output(
                family=IMAGE_FAMILY, project=IMAGE_PROJECT, opts=self._invoke()).self_link
        return self._image

    def _shielded(self) -> dict[str, bool]:
        return {"enable_secure_boot": True, "enable_vtpm": True, "enable_integrity_monitoring": True}

    def _metadata(self, user_data: pulumi.Output[str]) -> dict[str, pulumi.Input[str]]:
        return {
            "user-data": user_data.apply(check_user_data),
            # SSH only through OS Login (IAM-governed, audited); project-wide keys ignored.
            "enable-oslogin": "TRUE",
            "block-project-ssh-keys": "TRUE",
        }

    # ---------------------------------------------------------------- network

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

    # -------------------------------------------------------------------- DNS

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

    # --------------------------------------------------------------- identity

    def identity(self, name: str, role: Role, parent: pulumi.Resource) -> MachineIdentity:
        short = {"control_plane": "cp", "api_lb": "api-lb"}.get(role, role)
        # 6-30 characters, [a-z][-a-z0-9]{4,28}[a-z0-9]; the role first so it stays
        # readable when a long incarnation key is shortened (with a hash) to fit.
        account_id = names.physical(short, self.ctx.plan.key, limit=30)
        account = gcp.serviceaccount.Account(
            name,
            account_id=account_id,
            display_name=f"fleetform {self.ctx.plan.key} {role}"[:100],
            description=(f"Machine identity of the {role} plane of {self.ctx.plan.key}; "
                         "its only grants are the secrets and buckets it reads or writes.")[:256],
            project=self.project,
            # No project roles: Secret Manager and Storage grants are per resource
            # (secret(), bucket()); nothing on the node needs project-wide access.
            opts=self.opts(parent),
        )
        return MachineIdentity(role=role, principal=account.email, attachable=account.email,
                               resources=(account,))

    # --------------------------------------------------------------- firewall

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

    # ---------------------------------------------------------------- secrets

    def secret(self, name: str, key: str, value: pulumi.Output[str],
               readers: Sequence[MachineIdentity], parent: pulumi.Resource) -> SecretRef:
        secret_id = names.physical(self.ctx.fleet.fleet, self.ctx.plan.key, key, limit=255)
        if secret_id in self._secret_ids:
            raise ValueError(f"secret key {key!r} is used twice in {self.ctx.plan.key}")
        self._secret_ids.add(secret_id)
        secret = gcp.secretmanager.Secret(
            name,
            secret_id=secret_id,
            project=self.project,
            # Stored only in the cluster's region (data residency, e.g. GDPR clusters).
            replication=gcp.secretmanager.SecretReplicationArgs(
                user_managed=gcp.secretmanager.SecretReplicationUserManagedArgs(
                    replicas=[gcp.secretmanager.SecretReplicationUserManagedReplicaArgs(
                        location=self.ctx.plan.region)])),
            labels=self._labels("secrets", key=key),
            opts=self.opts(parent),
        )
        data: pulumi.Output[str] = pulumi.Output.secret(value)
        version = gcp.secretmanager.SecretVersion(
            names.child(name, "version"),
            secret=secret.id,
            secret_data=data,
            opts=self.opts(parent),
        )
        resources: list[pulumi.Resource] = [secret, version]
        for role, reader in sorted({r.role: r for r in readers}.items()):
            resources.append(gcp.secretmanager.SecretIamMember(
                names.child(name, "reader", names.part(role)),
                project=self.project,
                secret_id=secret.secret_id,
                role="roles/secretmanager.secretAccessor",
                member=_member(reader.principal),
                opts=self.opts(parent, depends_on=list(reader.resources)),
            ))
        return SecretRef(key=key, secret_id=secret.secret_id, resources=resources)

    # ------------------------------------------------------------------ disks

    def data_disk(self, name: str, zone: str, size_gb: int, protect: bool,
                  parent: pulumi.Resource) -> DiskHandle:
        physical = self._physical(name)
        disk = gcp.compute.Disk(
            name,
            name=physical,
            zone=zone,
            size=size_gb,
            type=DISK_TYPE,
            # Google-managed encryption at rest (the default); no CMEK yet.
            labels=self._labels("etcd"),
            opts=self.opts(parent, protect=protect),
        )
        # Attached under its own name as device name: the guest sees it at a path that
        # is known before the instance exists and survives the machine's replacement.
        return DiskHandle(id=disk.id, device_path=pulumi.Output.from_input(gcp_disk_device_path(physical)),
                          resource=disk)

    # --------------------------------------------------------------- machines

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
        zones = list(pool.zones)
        subnet = network.private_subnets[zones[0]]  # regional: the same for every zone
        labels = self._labels(role, pool=pool.name)
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
            opts=self.opts(parent, depends_on=list(identity.resources)),
        )
        group = gcp.compute.RegionInstanceGroupManager(
            name,
            name=self._physical(name),
            base_instance_name=self._physical(name, limit=58),
            region=plan.region,
            distribution_policy_zones=zones,
            versions=[gcp.compute.RegionInstanceGroupManagerVersionArgs(
                name="primary", instance_template=template.self_link_unique)],
            update_policy=gcp.compute.RegionInstanceGroupManagerUpdatePolicyArgs(
                type="PROACTIVE",
                minimal_action="REPLACE",
                instance_redistribution_type="PROACTIVE",
                # Surge first, never below capacity. Regional groups need fixed values
                # of 0 or at least the number of zones.
                max_surge_fixed=len(zones),
                max_unavailable_fixed=0,
                replacement_method="SUBSTITUTE",
            ),
            # The autoscaler owns the size (no target_size here); and `pulumi up` does not
            # wait for nodes, which only turn healthy once the control plane answers.
            wait_for_instances=False,
            opts=self.opts(parent, depends_on=[*depends_on, *identity.resources, *firewall.resources,
                                               *self._egress]),
        )
        autoscaler = gcp.compute.RegionAutoscaler(
            names.child(name, "autoscaler"),
            name=self._physical(name, "autoscaler"),
            region=plan.region,
            target=group.self_link,
            autoscaling_policy=gcp.compute.RegionAutoscalerAutoscalingPolicyArgs(
                min_replicas=pool.min,
                max_replicas=pool.max,
                cooldown_period=120,
                cpu_utilization=gcp.compute.RegionAutoscalerAutoscalingPolicyCpuUtilizationArgs(target=0.7),
                # Scale-in does not drain nodes: remove at most one per 10 minutes.
                scale_in_control=gcp.compute.RegionAutoscalerAutoscalingPolicyScaleInControlArgs(
                    max_scaled_in_replicas=gcp.compute.RegionAutoscalerAutoscalingPolicyScaleInControlMaxScaledInReplicasArgs(
                        fixed=1),
                    time_window_sec=600,
                ),
            ),
            opts=self.opts(parent),
        )
        return MachineGroupHandle(id=group.id, resources=(template, group, autoscaler))

    # ---------------------------------------------------------- load balancer

    def _forwarding(self, name: str, port: int, scheme: Literal["INTERNAL", "EXTERNAL"],
                    groups: Sequence[pulumi.Input[str]], health: gcp.compute.RegionHealthCheck,
                    network: NetworkHandle, parent: pulumi.Resource, plane: str = "control_plane",
                    global_access: bool = False) -> tuple[pulumi.Output[str], list[pulumi.Resource]]:
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
        address = gcp.compute.Address(
            names.child(name, "ip"),
            name=self._physical(name, "ip"),
            region=plan.region,
            address_type=scheme,
            # A stable address: DNS records and kubeconfigs outlive a forwarding rule.
            **({"subnetwork": subnet, "purpose": "GCE_ENDPOINT"} if internal else {"network_tier": "PREMIUM"}),
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
            opts=self.opts(parent),
        )
        return rule.ip_address, [backend, address, rule]

    def load_balancer(self, name: str, port: int, targets: Sequence[MachineHandle | MachineGroupHandle],
                      network: NetworkHandle, firewall: FirewallHandle, public: bool,
                      parent: pulumi.Resource, *, plane: str = "control_plane",
                      peers: bool = False) -> LoadBalancerHandle:
        plan = self.ctx.plan
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
                # A regional managed group is a backend itself: every instance it starts serves.
                mig = next((r for r in t.resources if isinstance(r, gcp.compute.RegionInstanceGroupManager)), None)
                if mig is None:
                    raise TypeError("load_balancer targets must be machine groups made by this adapter")
                managed.append(mig.instance_group)
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
                                              network, parent, plane, peers)
            return GcpLoadBalancerHandle(address=address, kind="ip", resources=[*resources, *parts],
                                         internal_address=address)
        external, ext_parts = self._forwarding(names.child(name, "external"), port, "EXTERNAL", backends, health,
                                               network, parent, plane)
        internal, int_parts = self._forwarding(names.child(name, "internal"), port, "INTERNAL", backends, health,
                                               network, parent, plane, peers)
        return GcpLoadBalancerHandle(address=external, kind="ip", resources=[*resources, *ext_parts, *int_parts],
                                     internal_address=internal)

    # ---------------------------------------------------------------- buckets

    def bucket(self, name: str, writers: Sequence[MachineIdentity], readers: Sequence[MachineIdentity],
               parent: pulumi.Resource, retention_days: int | None = None) -> BucketHandle:
        # Bucket names are global across all of GCP: prefixed with the project id.
        short = name[len(self.ctx.plan.key) + 1:] if name.startswith(self.ctx.plan.key + "-") else name
        bucket_name = names.physical(self.project, self.ctx.plan.key, short, limit=63)
        rules = [gcp.storage.BucketLifecycleRuleArgs(
            action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
            condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                with_state="ARCHIVED", days_since_noncurrent_time=NONCURRENT_VERSION_DAYS),
        )]
        if retention_days is not None:
            rules.insert(0, gcp.storage.BucketLifecycleRuleArgs(
                action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                condition=gcp.storage.BucketLifecycleRuleConditionArgs(age=retention_days),
            ))
        bucket = gcp.storage.Bucket(
            name,
            name=bucket_name,
            project=self.project,
            location=self.ctx.plan.region.upper(),
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning=gcp.storage.BucketVersioningArgs(enabled=True),
            lifecycle_rules=rules,
            force_destroy=False,
            # Google-managed encryption at rest (the default); no CMEK yet.
            labels=self._labels("storage"),
            opts=self.opts(parent),
        )
        resources: list[pulumi.Resource] = [bucket]
        grants = [(w, "roles/storage.objectCreator", "writer") for w in writers] + \
                 [(r, "roles/storage.objectViewer", "reader") for r in readers]
        seen: set[tuple[str, str]] = set()
        for ident, role, kind in grants:
            if (ident.role, role) in seen:
                continue
            seen.add((ident.role, role))
            resources.append(gcp.storage.BucketIAMMember(
                names.child(name, kind, names.part(ident.role)),
                bucket=bucket.name,
                role=role,
                member=_member(ident.principal),
                opts=self.opts(parent, depends_on=list(ident.resources)),
            ))
        return BucketHandle(name=bucket.name, url=bucket.url, resources=resources)
