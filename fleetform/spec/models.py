"""The stack-file format as frozen, strict pydantic models (``apiVersion: fleetform/v1``).

Strict: ``"3"`` is not a number and ``"true"`` is not a boolean; unknown keys are
rejected. Cross-field and fleet-wide rules live in ``validate.py``; layering
(defaults <- profiles <- cluster) and error locations live in ``load.py``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PrivateAttr, field_validator

from fleetform.catalog.sizes import Size
from fleetform.spec.base import (
    Cidr,
    Cloud,
    CniPlugin,
    DnsLabel,
    DnsName,
    Labels,
    Model,
)
from fleetform.spec.cni import CalicoOptions, CiliumOptions, FlannelOptions
from fleetform.spec.handoff import ManagementSpec
from fleetform.spec.identity import IdentitySpec, TenantSpec, WorkloadIdentitySpec
from fleetform.spec.logging import LoggingSpec
from fleetform.spec.mesh import MeshSpec
from fleetform.spec.migrate import MigrateSpec, SnapshotsSpec
from fleetform.spec.upgrades import UpgradesSpec

# ---------------------------------------------------------------- cluster settings


class CniSpec(Model):
    plugin: CniPlugin = "cilium"
    # Options of the chosen plugin (models in cni_spec.py). Options written for another
    # plugin are an error (validate_cni.py), so a typo in `plugin` never goes unnoticed.
    cilium: CiliumOptions | None = None
    calico: CalicoOptions | None = None
    flannel: FlannelOptions | None = None

    @property
    def cilium_options(self) -> CiliumOptions:
        return self.cilium or CiliumOptions()

    @property
    def calico_options(self) -> CalicoOptions:
        return self.calico or CalicoOptions()


class EtcdSpec(Model):
    members: int = 3
    size: Size = "medium"
    disk_gb: int = Field(default=50, ge=10, le=16384)
    # Optional pin of the etcd release tarball digest (otherwise checked against the
    # release's SHA256SUMS at boot).
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    # Rolling safety: a changed member configuration reaches only the members listed
    # here (at most (members-1)/2 per `pulumi up`); the others keep running as they are.
    roll: tuple[str, ...] = ()


class ControlPlaneSpec(Model):
    replicas: int = Field(default=3, ge=1, le=9)
    size: Size = "medium"
    # Rolling safety, like etcd.roll: a changed replica document (size, image, flags)
    # replaces only the replicas listed here (one per `pulumi up`); a Kubernetes version
    # change never replaces any (it rolls in place: docs/upgrades.md).
    roll: tuple[str, ...] = ()


class WorkerPoolSpec(Model):
    name: DnsLabel
    size: Size | None = None
    machine_type: str | None = Field(default=None, min_length=1, max_length=64)
    min: int = Field(default=1, ge=0, le=1000)
    max: int = Field(default=3, ge=1, le=1000)
    labels: Labels = Field(default_factory=dict)


class ApiSpec(Model):
    # CIDRs outside the cluster allowed to reach the API on 6443. Empty: private only.
    allowed_cidrs: tuple[Cidr, ...] = ()
    # An internet-facing load balancer (still limited to allowed_cidrs).
    public: bool = False


class EncryptionSpec(Model):
    # A customer-managed key for the cluster's etcd data disks and its secrets in the
    # cloud's secret store: an AWS KMS key ARN or a GCP Cloud KMS crypto key name, in the
    # cluster's region. Unset: the cloud's own keys.
    kms: str | None = None


class ClusterNetworkSpec(Model):
    index: int | None = Field(default=None, ge=0)
    node_cidr: Cidr | None = None
    pod_cidr: Cidr | None = None
    service_cidr: Cidr | None = None
    # One NAT per zone (HA egress) or a single one (small, cheap stacks).
    nat: Literal["per_zone", "single"] = "per_zone"


IMAGE_PATTERN = (r"^(ami-[0-9a-f]{8,17}|projects/[a-z][-a-z0-9]{4,28}[a-z0-9]/global/images/"
                 r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?)$")


def image_cloud(image: str) -> str:
    """The cloud an image reference belongs to."""
    return "aws" if image.startswith("ami-") else "gcp"


class ClusterSpec(Model):
    """One cluster after layering (defaults <- profiles <- the cluster's own keys)."""

    name: DnsLabel
    cloud: Cloud
    region: str
    profiles: tuple[str, ...] = ()
    compliance: tuple[str, ...] = ()
    zones: tuple[str, ...] | None = None
    kubernetes_version: str | None = None
    cni: CniSpec = Field(default_factory=CniSpec)
    etcd: EtcdSpec = Field(default_factory=EtcdSpec)
    control_plane: ControlPlaneSpec = Field(default_factory=ControlPlaneSpec)
    workers: tuple[WorkerPoolSpec, ...] = (WorkerPoolSpec(name="general", size="medium", min=1, max=3),)
    api: ApiSpec = Field(default_factory=ApiSpec)
    network: ClusterNetworkSpec = Field(default_factory=ClusterNetworkSpec)
    encryption: EncryptionSpec = Field(default_factory=EncryptionSpec)
    labels: Labels = Field(default_factory=dict)
    # The machine image, pinned: an AMI id (AWS, per region) or a GCP image
    # (projects/<project>/global/images/<name>). Unset: the newest Ubuntu 24.04 image at
    # the incarnation's first `pulumi up`, kept in the state afterwards (ImagePin);
    # setting it is how machines move to another image.
    image: str | None = Field(default=None, pattern=IMAGE_PATTERN)
    # Step one of removing a cluster: stateful resources lose `protect` so that
    # deleting the entry in a later `pulumi up` can remove them.
    decommission: bool = False
    # GitOps registration in the fleet's management cluster (spec/handoff.py): every
    # cluster by default when `management` is set; false keeps this one out.
    gitops: bool | None = None
    # Moving this cluster to another cloud or region (spec_migrate.py, docs/migration.md).
    migrate: MigrateSpec | None = None


# Keys a defaults/profile block may not set (they identify a cluster or a decision
# about this one cluster).
CLUSTER_ONLY_KEYS: frozenset[str] = frozenset({"name", "profiles", "decommission", "migrate"})

# ---------------------------------------------------------------- fleet level


class AwsCloudSpec(Model):
    default_tags: dict[str, str] = Field(default_factory=dict)
    # Days a deleted Secrets Manager secret stays recoverable (0: deleted at once, no
    # recovery; else 7-30, AWS's range). Secret names carry a random suffix kept in the
    # state, so a re-created cluster never meets its own soft-deleted names.
    secret_recovery_days: int = 7

    @field_validator("secret_recovery_days")
    @classmethod
    def _recovery_window(cls, v: int) -> int:
        if v != 0 and not 7 <= v <= 30:
            raise ValueError("0 (delete at once, no recovery) or 7 to 30 days (AWS's recovery window)")
        return v


class GcpCloudSpec(Model):
    project: str | None = Field(default=None, pattern=r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")
    default_labels: dict[str, str] = Field(default_factory=dict)


class CloudsSpec(Model):
    aws: AwsCloudSpec = Field(default_factory=AwsCloudSpec)
    gcp: GcpCloudSpec = Field(default_factory=GcpCloudSpec)


class FleetNetworkSpec(Model):
    supernet: Cidr = "10.0.0.0/8"
    # Each cluster gets one /cluster_prefix slot of the supernet (pods, nodes, services).
    # At most /22: the node CIDR (a quarter of the slot) must hold 8 zone subnets.
    cluster_prefix: int = Field(default=16, ge=8, le=22)


class ComplianceRule(Model):
    regions: tuple[str, ...] = Field(min_length=1)


class FleetDoc(Model):
    """The fleet document without its cluster settings (validated separately, layered)."""

    api_version: Literal["fleetform/v1"] = Field(alias="apiVersion")
    name: DnsLabel
    domain: DnsName
    clouds: CloudsSpec = Field(default_factory=CloudsSpec)
    network: FleetNetworkSpec = Field(default_factory=FleetNetworkSpec)
    compliance: dict[str, ComplianceRule] = Field(default_factory=dict)
    identity: IdentitySpec = Field(default_factory=lambda: IdentitySpec())
    tenants: tuple[TenantSpec, ...] = ()
    workload_identities: tuple[WorkloadIdentitySpec, ...] = ()
    mesh: MeshSpec = Field(default_factory=lambda: MeshSpec())
    snapshots: SnapshotsSpec = Field(default_factory=lambda: SnapshotsSpec())
    management: ManagementSpec | None = None
    logging: LoggingSpec = Field(default_factory=lambda: LoggingSpec())
    # Fleet upgrades in waves (spec/upgrades.py, docs/upgrades.md).
    upgrades: UpgradesSpec | None = None
    # How the fleet is deployed: one Pulumi stack, or a fleet stack plus one per cluster
    # (plan/stacks.py, docs/stacks.md).
    stacks: Literal["single", "per-cluster"] = "single"
    defaults: dict[str, Any] = Field(default_factory=dict)
    profiles: dict[str, dict[str, Any]] = Field(default_factory=dict)
    clusters: tuple[dict[str, Any], ...] = ()


class FleetSpec(Model):
    """The validated, layered fleet: what the planner consumes."""

    api_version: str
    name: str
    domain: str
    stack: str
    clouds: CloudsSpec
    network: FleetNetworkSpec
    compliance: dict[str, ComplianceRule]
    identity: IdentitySpec
    tenants: tuple[TenantSpec, ...]
    workload_identities: tuple[WorkloadIdentitySpec, ...]
    mesh: MeshSpec
    clusters: tuple[ClusterSpec, ...]
    snapshots: SnapshotsSpec = Field(default_factory=lambda: SnapshotsSpec())
    management: ManagementSpec | None = None
    logging: LoggingSpec = Field(default_factory=lambda: LoggingSpec())
    upgrades: UpgradesSpec | None = None
    stacks: Literal["single", "per-cluster"] = "single"

    # Where each cluster's values came from (file + path), for plan-time errors.
    _origins: Any = PrivateAttr(default=None)

    def cluster(self, name: str) -> ClusterSpec:
        for c in self.clusters:
            if c.name == name:
                return c
        raise KeyError(name)




ClusterSpec.model_rebuild()
FleetDoc.model_rebuild()
FleetSpec.model_rebuild()
