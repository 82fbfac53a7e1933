"""What the bundle needs to know about one cluster, as plain values.

``AddonContext`` is built from the plan (cluster, network, CNI, pools, identity) plus the
few facts only the cloud knows (``CloudFacts``: role ARNs, credential files, the
network's and the snapshot bucket's names), which the publishing component resolves
before it renders the bundle. Rendering itself never looks anything up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from fleetform.plan.logging import SHIPPER

from .upgrades import RollInputs

Cloud = Literal["aws", "gcp"]

# The controllers that call a cloud API, each with its own Kubernetes service account
# (and, with the fleet's federation, its own cloud identity).
CCM = "cloud-controller-manager"
CSI = "csi-controller"
AUTOSCALER = "cluster-autoscaler"
CONTROLLERS: tuple[str, ...] = (CCM, CSI, AUTOSCALER)
# The log shipper (addons/logging.py): a federated identity on AWS only (on GCP it uses
# the node's service account through the metadata server, on the host network).
LOG_SHIPPER = SHIPPER
# (cloud, controller) -> the (namespace, service account) its pods run as: the subject
# a federated identity of that controller trusts.
SERVICE_ACCOUNTS: dict[tuple[str, str], tuple[str, str]] = {
    ("aws", CCM): ("kube-system", "cloud-controller-manager"),
    ("aws", CSI): ("kube-system", "ebs-csi-controller-sa"),
    ("aws", AUTOSCALER): ("kube-system", "cluster-autoscaler"),
    ("gcp", CCM): ("kube-system", "cloud-controller-manager"),
    ("gcp", CSI): ("gce-pd-csi-driver", "csi-gce-pd-controller-sa"),
    ("gcp", AUTOSCALER): ("kube-system", "cluster-autoscaler"),
}


@dataclass(frozen=True)
class ChartRelease:
    """One Helm release: chart pin and values (plain data from the plan)."""

    release: str
    chart: str
    version: str
    repository: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CniContext:
    plugin: Literal["cilium", "calico", "flannel"]
    namespace: str
    releases: tuple[ChartRelease, ...]  # install order; the last is the plugin itself
    # A ClusterMesh member: the mesh CA reaches the release from a Secret the boot
    # installer writes (model.CNI_SECRET_VALUES), never from the bundle.
    secret_values: bool = False


@dataclass(frozen=True)
class NodeGroup:
    """One autoscaled group of a pool: an ASG (AWS, all the pool's zones) or a zonal MIG."""

    pool: str
    name: str  # the group's cloud name
    min: int
    max: int
    zone: str | None = None  # GCP: the MIG's zone


@dataclass(frozen=True)
class Workload:
    """A controller's cloud identity through the fleet's workload identity federation:
    its pod mounts a projected service-account token for ``audience`` at ``token_path``
    and exchanges it for the AWS role or the GCP service account."""

    token_path: str
    audience: str
    aws_role_arn: str | None = None
    # GCP external-account credential configuration (JSON; points at the projected
    # token, holds no key).
    gcp_credentials: str | None = None


@dataclass(frozen=True)
class LogDestination:
    """The fleet's log destination on this cluster's cloud (fleetform/plan/logging.py)."""

    cloud: Cloud
    region: str  # AWS: the log group's region; GCP: the log bucket's location
    group: str  # AWS: log group name; GCP: log bucket id
    project: str | None = None  # GCP project


@dataclass(frozen=True)
class AddonContext:
    cluster: str  # logical name (tags, autoscaler discovery, CCM's cluster name)
    key: str  # incarnation key
    cloud: Cloud
    region: str
    zones: tuple[str, ...]
    kubernetes_version: str  # "1.37.1"
    pod_cidr: str
    service_cidr: str
    # The nodes' subnet (the kubelet serving-certificate approver admits only its addresses).
    node_cidr: str
    api_host: str
    api_port: int
    cni: CniContext
    node_groups: tuple[NodeGroup, ...]
    # GCP only: project, VPC and subnetwork names, the nodes' network tag (the CCM
    # opens load-balancer health checks to it).
    project: str | None = None
    network: str | None = None
    subnetwork: str | None = None
    node_tag: str | None = None
    # Fleet RBAC and the tenants selected for this cluster, as manifests (identity plan).
    access: tuple[dict[str, Any], ...] = ()
    tenants: tuple[str, ...] = ()
    # A migration source's etcd snapshot objects (ServiceAccount, ConfigMap, Job, CronJob).
    snapshots: tuple[dict[str, Any], ...] = ()
    # Controller (CONTROLLERS) -> its federated identity. Missing: the controller runs on
    # the control plane and uses the control-plane machine's identity.
    identities: tuple[tuple[str, Workload], ...] = ()
    # Where the log shipper sends audit and system logs; None: shipping is off.
    logs: LogDestination | None = None
    # The in-place upgrade roll (addons/upgrades.py): the version the cluster converges to.
    roll: RollInputs | None = None

    @property
    def minor(self) -> str:
        return ".".join(self.kubernetes_version.split(".")[:2])

    def identity(self, controller: str) -> Workload | None:
        return dict(self.identities).get(controller)
