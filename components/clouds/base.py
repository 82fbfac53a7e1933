"""The cloud adapter contract: what planes may ask of a cloud, in cloud-neutral terms.

One adapter per cluster incarnation, bound to its (cloud, region) and owning one
explicit provider. Every method creates resources as children of the ``parent`` it is
given (a plane component), with names derived from the ``name`` it is given, and
returns a small handle of Outputs. Planes never import a cloud SDK.

Keep it narrow: when a plane needs something new, add it here for both clouds.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pulumi

from components.dynamic import ImagePin
from fleetform.bootstrap.inputs import SecretStore
from fleetform.plan import names
from fleetform.plan.firewall import FirewallRule, Role
from fleetform.plan.model import ClusterPlan, FleetPlan, PoolPlan


@dataclass(frozen=True)
class ClusterContext:
    """Everything an adapter needs to know about the incarnation it serves."""

    fleet: FleetPlan
    plan: ClusterPlan
    # Component that owns the adapter's provider (the Cluster).
    owner: pulumi.Resource
    # What the cloud must have before anything of it is used (GCP: the project's APIs);
    # the adapter's provider depends on it, so every resource and lookup waits for it.
    requires: tuple[pulumi.Resource, ...] = ()


# ---------------------------------------------------------------- handles


@dataclass(frozen=True)
class NetworkHandle:
    id: pulumi.Output[str]  # VPC id / network self-link
    # zone -> private subnet id (GCP: the one regional subnetwork for every zone)
    private_subnets: Mapping[str, pulumi.Output[str]]
    public_subnets: Mapping[str, pulumi.Output[str]]


@dataclass(frozen=True)
class DnsZoneHandle:
    id: pulumi.Output[str]
    name: str  # e.g. "eu-core.fleet.acme.example"


@dataclass(frozen=True)
class MachineIdentity:
    # A plane's role (firewall.Role), or the name of a federated workload given access.
    role: str
    # AWS: IAM role ARN; GCP: service-account email. Used in grants.
    principal: pulumi.Output[str]
    # AWS: instance profile name; GCP: service-account email (what a machine attaches).
    attachable: pulumi.Output[str]
    # Resources a grant must wait for (e.g. the instance profile).
    resources: Sequence[pulumi.Resource] = ()
    # The etcd member whose own identity this is (each member has one and reads only its
    # own secrets); None for a plane's shared identity or a federated workload.
    member: str | None = None

    @property
    def grantee(self) -> str:
        """The stable key of this identity in grant names: its member, else its role."""
        return self.member or self.role


@dataclass(frozen=True)
class FirewallHandle:
    # AWS: security-group id per role (machines attach what they get here); GCP: the
    # service accounts are the targets, so this maps a role worn by one identity (control
    # plane, workers) to its email; etcd members wear one account each, none here.
    by_role: Mapping[str, pulumi.Output[str]]
    resources: Sequence[pulumi.Resource] = ()


@dataclass(frozen=True)
class SecretRef:
    """A secret a machine fetches at boot with its own identity."""

    key: str  # stable logical key, e.g. "etcd-0-server-key"
    secret_id: pulumi.Output[str]  # AWS: secret ARN; GCP: secret id (name)
    resources: Sequence[pulumi.Resource] = ()


@dataclass(frozen=True)
class DiskHandle:
    id: pulumi.Output[str]
    # The device path the guest sees (AWS: /dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol…;
    # GCP: /dev/disk/by-id/google-<device name>).
    device_path: pulumi.Output[str]
    resource: pulumi.Resource


@dataclass(frozen=True)
class MachineHandle:
    id: pulumi.Output[str]
    private_ip: pulumi.Output[str]
    resource: pulumi.Resource


@dataclass(frozen=True)
class MachineGroupHandle:
    """One pool's cloud groups, by what each covers: AWS one Auto Scaling group over all
    the pool's zones (keyed by the region); GCP one zonal managed instance group per zone
    (keyed by the zone; cluster-autoscaler scales zonal MIGs only)."""

    groups: Mapping[str, pulumi.Output[str]]  # scope -> group id
    resources: Sequence[pulumi.Resource]


@dataclass(frozen=True)
class LoadBalancerHandle:
    # AWS: NLB DNS name; GCP: forwarding-rule IP address.
    address: pulumi.Output[str]
    kind: Literal["dns", "ip"]
    resources: Sequence[pulumi.Resource]
    # AWS: (hosted zone id of the LB) for alias records.
    zone_id: pulumi.Output[str] | None = None


@dataclass(frozen=True)
class BucketHandle:
    name: pulumi.Output[str]
    url: pulumi.Output[str]  # s3://… or gs://…
    resources: Sequence[pulumi.Resource]


# ---------------------------------------------------------------- requests


@dataclass(frozen=True)
class MachineRequest:
    """One fixed machine (an etcd member or a control-plane replica)."""

    name: str  # Pulumi resource name (stable key)
    role: Role
    zone: str
    machine_type: str
    user_data: pulumi.Output[str]
    identity: MachineIdentity
    firewall: FirewallHandle
    network: NetworkHandle
    private_ip: str | None = None
    data_disk: DiskHandle | None = None
    # Rolling safety: False -> user-data changes are ignored (no restart); True ->
    # a changed user-data replaces the machine (delete before replace, so the fixed IP
    # and the data disk move to the new one).
    roll: bool = True
    protect: bool = False
    depends_on: Sequence[pulumi.Resource] = ()
    tags: Mapping[str, str] = field(default_factory=dict)


def cluster_ownership_tag(cluster: str) -> str:
    """The tag key the AWS cloud controller manager looks for (value ``owned``)."""
    return f"kubernetes.io/cluster/{cluster}"


class CloudAdapter(abc.ABC):
    """One per cluster incarnation. Implementations: aws.AwsAdapter, gcp.GcpAdapter."""

    cloud: Literal["aws", "gcp"]

    def __init__(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
        self._image_pin: ImagePin | None = None

    def pinned_image(self, latest: pulumi.Output[str]) -> pulumi.Output[str]:
        """The incarnation's machine image: the stack file's ``image``, else ``latest``
        (the cloud's newest Ubuntu 24.04) as of the first `pulumi up`, kept in the state
        (``components/dynamic.py``), so a newly published image replaces no machine.
        When the lookup finds another image than the one in use, the preview says so."""
        if self._image_pin is None:
            plan = self.ctx.plan
            self._image_pin = ImagePin(names.child(plan.key, "image"), plan.key, latest, plan.image,
                                       pulumi.ResourceOptions(parent=self.ctx.owner))

            def report(v: list[str]) -> None:
                in_use, newest = v
                if in_use and newest and in_use != newest:
                    pulumi.log.warn(f"{plan.key}: a newer machine image exists ({newest}; in use: {in_use}); "
                                    f"set `image: {newest}` on cluster {plan.name!r} to move its machines to it")

            pulumi.Output.all(self._image_pin.image, latest).apply(report)
        return self._image_pin.image

    # -- facts (no resources)
    @property
    @abc.abstractmethod
    def provider(self) -> pulumi.ProviderResource:
        """The explicit provider every resource of this incarnation uses."""

    @property
    @abc.abstractmethod
    def secret_store(self) -> SecretStore:
        """How bootstrap documents fetch secrets on this cloud."""

    def opts(self, parent: pulumi.Resource, **kw: object) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=parent, provider=self.provider, **kw)  # type: ignore[arg-type]

    def tags(self, plane: str, **extra: str) -> dict[str, str]:
        """Labels on everything: fleet, cluster, plane (+ the fleet's defaults and, on AWS,
        the cluster's labels; fleetform's own keys win, then the cluster's)."""
        t = {**dict(self.ctx.fleet.aws_default_tags), **dict(self.ctx.plan.labels)} if self.cloud == "aws" else {}
        t.update({"fleet": self.ctx.fleet.fleet, "cluster": self.ctx.plan.name, "plane": plane,
                  "incarnation": self.ctx.plan.key})
        if self.cloud == "aws":
            # The AWS cloud controller manager (and the EBS CSI driver) only use subnets,
            # security groups and instances tagged as the cluster's own.
            t[cluster_ownership_tag(self.ctx.plan.name)] = "owned"
        t.update(extra)
        return t

    # -- resources
    @abc.abstractmethod
    def network(self, name: str, parent: pulumi.Resource) -> NetworkHandle:
        """VPC/network from the plan's node CIDR, a private (and on AWS public) subnet
        per planned zone, egress NAT per the plan's ``nat`` setting."""

    @abc.abstractmethod
    def dns_zone(self, name: str, network: NetworkHandle, parent: pulumi.Resource) -> DnsZoneHandle:
        """The cluster's private zone (plan.dns_zone) visible inside its network."""

    @abc.abstractmethod
    def dns_record(self, name: str, zone: DnsZoneHandle, fqdn: str,
                   target: MachineHandle | LoadBalancerHandle, parent: pulumi.Resource) -> pulumi.Resource:
        """An A record (or alias) for a machine's private IP or a load balancer."""

    @abc.abstractmethod
    def public_dns_record(self, name: str, fqdn: str, target: LoadBalancerHandle,
                          parent: pulumi.Resource, *, replace_first: bool = False) -> pulumi.Resource:
        """A record in the fleet domain's existing public zone (looked up by name).
        ``replace_first``: a replacement deletes the old record before creating the new
        one (a name handed between incarnations in one zone cannot exist twice)."""

    @abc.abstractmethod
    def identity(self, name: str, role: Role, parent: pulumi.Resource,
                 member: str | None = None) -> MachineIdentity:
        """A machine identity for a plane (or, with ``member``, for one etcd member) with
        no permissions yet; grants come from ``secret`` and ``bucket`` readers/writers
        (least privilege)."""

    @abc.abstractmethod
    def firewall(self, name: str, rules: Sequence[FirewallRule], network: NetworkHandle,
                 identities: Mapping[str, Sequence[MachineIdentity]], parent: pulumi.Resource) -> FirewallHandle:
        """Exactly ``rules`` (plan data) and nothing more; egress per the plan.
        ``identities``: every identity that wears each role (etcd: one per member)."""

    @abc.abstractmethod
    def secret(self, name: str, key: str, value: pulumi.Output[str],
               readers: Sequence[MachineIdentity], parent: pulumi.Resource, *,
               writers: Sequence[MachineIdentity] = ()) -> SecretRef:
        """Store ``value`` (a secret Output) and let only ``readers`` read it, and only
        ``writers`` add versions to it (nothing else: no delete, no policy change)."""

    @abc.abstractmethod
    def data_disk(self, name: str, zone: str, size_gb: int, protect: bool,
                  parent: pulumi.Resource) -> DiskHandle:
        """An encrypted data disk in ``zone`` (etcd data), protected unless decommissioning."""

    @abc.abstractmethod
    def machine(self, req: MachineRequest, parent: pulumi.Resource) -> MachineHandle:
        """One machine: hardened image (Ubuntu 24.04 LTS), encrypted root disk,
        metadata service locked down, ``identity`` attached, ``data_disk`` attached."""

    @abc.abstractmethod
    def machine_group(self, name: str, pool: PoolPlan, role: Role, user_data: pulumi.Output[str],
                      identity: MachineIdentity, firewall: FirewallHandle, network: NetworkHandle,
                      parent: pulumi.Resource, depends_on: Sequence[pulumi.Resource] = ()) -> MachineGroupHandle:
        """Autoscaled workers for one pool across its zones, min/max from the plan (GCP:
        one zonal group per zone, sized by ``fleetform.plan.pools``)."""

    @abc.abstractmethod
    def load_balancer(self, name: str, port: int, targets: Sequence[MachineHandle | MachineGroupHandle],
                      network: NetworkHandle, firewall: FirewallHandle, public: bool,
                      parent: pulumi.Resource, *, plane: str = "control_plane",
                      peers: bool = False, internal_ip: str | None = None,
                      zone_ips: Mapping[str, str] | None = None) -> LoadBalancerHandle:
        """A TCP load balancer on ``port`` in front of ``targets`` with health checks
        (internal unless ``public``; who may connect is the firewall's job).

        ``targets``: fixed machines, or machine groups (every machine a group starts
        becomes a target; the same ``port`` on the machines). ``plane`` labels it.

        ``peers``: the load balancer serves other networks (ClusterMesh peers reaching
        it over routed private connectivity, never the internet): clients keep their
        own source addresses up to the targets, so the rules *targeting the targets'
        role* decide who connects (AWS: no security group on the NLB, client IP
        preserved; GCP: passthrough as always, plus global access so that clients from
        any region of a VPN/peering reach it). Without ``peers`` the AWS NLB wears the
        ``api_lb`` role's group and connects to its targets itself.

        ``internal_ip``: the planned address of the internal load balancer (GCP reserves
        it; AWS's NLB takes one address per subnet and keeps them off the planned
        fixed addresses by reserving those first).

        ``zone_ips``: the internal load balancer's planned addresses by zone, one for
        every zone of the cluster (AWS: the NLB's ``subnet_mappings``, each address
        reserved in its subnet by the network; GCP: the first zone's is ``internal_ip``)."""

    @abc.abstractmethod
    def bucket(self, name: str, writers: Sequence[MachineIdentity], readers: Sequence[MachineIdentity],
               parent: pulumi.Resource, retention_days: int | None = None) -> BucketHandle:
        """Private, encrypted object storage (etcd snapshots, identity documents)."""

    @abc.abstractmethod
    def bucket_object(self, name: str, bucket: BucketHandle, key: str, content: pulumi.Input[str],
                      parent: pulumi.Resource, depends_on: Sequence[pulumi.Resource] = ()) -> pulumi.Resource:
        """One object (text) at ``key`` in a bucket made by ``bucket`` (the add-on bundle's
        files); it inherits the bucket's encryption and access."""
