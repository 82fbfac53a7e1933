"""Plain, frozen inputs of the bootstrap renderers.

Components build these inside ``Output.all(...).apply(...)``, so every field is a plain
Python value by the time a renderer sees it. Validation happens here, at construction,
so a bad plan fails ``pulumi preview`` instead of a machine's first boot.

Secrets never appear in these objects: only the *id* of a secret in the cloud's secret
store (an AWS Secrets Manager name/ARN or a GCP Secret Manager secret name). Public
certificates are passed as PEM text and written inline.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from fleetform.catalog.versions import ETCD_VERSION
from fleetform.plan.handoff import ManagementPlan
from fleetform.plan.identity import OIDC, ServiceAccountIssuer
from fleetform.spec.identity import BOOTSTRAP_TOKEN_TTL_HOURS, KUBEADM_RENEW_BEFORE_DAYS

Cloud = Literal["aws", "gcp"]
Arch = Literal["amd64", "arm64"]

_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)
_SEMVER = re.compile(r"^\d+\.\d+\.\d+$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MODE = re.compile(r"^0[0-7]{3}$")
_OWNER = re.compile(r"^[a-z_][a-z0-9_-]*:[a-z_][a-z0-9_-]*$")
# Secret ids go into shell scripts (quoted) and URLs: keep them to what both clouds allow.
_SECRET_ID = re.compile(r"^[A-Za-z0-9/_+=.@:-]{1,2048}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
_OBJECT_KEY = re.compile(r"^[A-Za-z0-9!_.*'()/-]{1,1024}$")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _check_pem(pem: str, what: str, kind: str = "CERTIFICATE") -> None:
    _require(
        f"-----BEGIN {kind}-----" in pem and f"-----END {kind}-----" in pem,
        f"{what}: expected a PEM {kind.lower()}",
    )
    _require(
        "PRIVATE KEY" not in pem, f"{what}: contains a private key; pass its secret id instead"
    )


def _check_absolute(path: str, what: str) -> None:
    # Paths end up in shell scripts and traps: keep them to plain characters.
    _require(
        bool(re.match(r"^/[A-Za-z0-9._/@+:-]*$", path)) and ".." not in path.split("/"),
        f"{what}: {path!r} must be an absolute path of plain characters without '..'",
    )


def _check_hostname(name: str, what: str) -> None:
    _require(bool(_HOSTNAME.match(name)), f"{what}: {name!r} is not a lowercase DNS name")


def _check_version(version: str, what: str) -> None:
    _require(bool(_SEMVER.match(version)), f"{what}: {version!r} must look like 1.2.3")


@dataclass(frozen=True)
class SecretStore:
    """Where a node fetches its secrets from, with its own identity.

    ``region`` is the AWS region of Secrets Manager and S3. GCP's Secret Manager and
    Cloud Storage endpoints are global, so there ``project`` is what matters and
    ``region`` is informational.
    """

    cloud: Cloud
    region: str
    project: str | None = None

    def __post_init__(self) -> None:
        _require(self.cloud in ("aws", "gcp"), f"secret store: unknown cloud {self.cloud!r}")
        _require(
            bool(re.match(r"^[a-z0-9-]+$", self.region)),
            f"secret store: bad region {self.region!r}",
        )
        if self.cloud == "gcp":
            _require(
                self.project is not None
                and bool(re.match(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$", self.project)),
                f"secret store: GCP needs a valid project id, got {self.project!r}",
            )


@dataclass(frozen=True)
class SecretFile:
    """One secret fetched at boot and written to ``path`` with ``mode`` and ``owner``."""

    secret_id: str
    path: str
    mode: str = "0600"
    owner: str = "root:root"

    def __post_init__(self) -> None:
        _require(
            bool(_SECRET_ID.match(self.secret_id)),
            f"secret id {self.secret_id!r} has unexpected characters",
        )
        _check_absolute(self.path, "secret file path")
        _require(
            bool(_MODE.match(self.mode)), f"secret file mode {self.mode!r} must look like 0600"
        )
        _require(
            int(self.mode, 8) & 0o007 == 0,
            f"secret file {self.path}: mode {self.mode} is world-accessible",
        )
        _require(
            bool(_OWNER.match(self.owner)), f"secret file owner {self.owner!r} must be user:group"
        )


@dataclass(frozen=True)
class ObjectLocation:
    """An object in the cluster's bucket (S3 on AWS, Cloud Storage on GCP)."""

    bucket: str
    key: str

    def __post_init__(self) -> None:
        _require(bool(_BUCKET.match(self.bucket)), f"bucket name {self.bucket!r} is not valid")
        _require(
            bool(_OBJECT_KEY.match(self.key)) and not self.key.startswith("/"),
            f"object key {self.key!r} must be a relative path of safe characters",
        )


# --------------------------------------------------------------------------- etcd


@dataclass(frozen=True)
class EtcdMember:
    """One member of the dedicated etcd plane: its etcd name, DNS name and private IP."""

    name: str
    dns_name: str
    ip: str

    def __post_init__(self) -> None:
        _require(
            bool(_DNS_LABEL.match(self.name)), f"etcd member name {self.name!r} must be a DNS label"
        )
        _check_hostname(self.dns_name, f"etcd member {self.name} dns_name")
        try:
            ipaddress.ip_address(self.ip)
        except ValueError as err:
            raise ValueError(f"etcd member {self.name}: {self.ip!r} is not an IP address") from err


@dataclass(frozen=True)
class EtcdTLS:
    """Certificates of one etcd member (public PEM) and the secret ids of their keys.

    ``ca_cert_pem`` must be the *cluster's* etcd CA only, never the fleet root: etcd
    trusts every client certificate that chains to it, and the root also signs every
    other cluster's etcd CA. Server certificates need both serverAuth and clientAuth
    (etcd's gRPC gateway dials the member with the server certificate).
    """

    ca_cert_pem: str
    server_cert_pem: str
    server_key_secret: str
    peer_cert_pem: str
    peer_key_secret: str
    client_cert_pem: str
    client_key_secret: str

    def __post_init__(self) -> None:
        _check_pem(self.ca_cert_pem, "etcd CA")
        _check_pem(self.server_cert_pem, "etcd server certificate")
        _check_pem(self.peer_cert_pem, "etcd peer certificate")
        _check_pem(self.client_cert_pem, "etcd client certificate")


@dataclass(frozen=True)
class EtcdBackup:
    """Where ``etcd-snapshot-save`` uploads, and how often (systemd OnCalendar)."""

    bucket: str
    prefix: str
    on_calendar: str = "hourly"

    def __post_init__(self) -> None:
        ObjectLocation(self.bucket, self.prefix.strip("/") + "/x")  # validates both
        _require(
            bool(re.match(r"^[A-Za-z0-9*:/ ,.~-]+$", self.on_calendar)),
            f"backup schedule {self.on_calendar!r} is not a systemd calendar expression",
        )


@dataclass(frozen=True)
class EtcdNodeInputs:
    """Everything the user-data of one etcd member depends on.

    ``sha256`` pins the release tarball. ``None`` (or ``""``) means unpinned: the node
    then checks the tarball against the release's own SHA256SUMS asset, which guards
    against a corrupt download but not against a tampered release -- pin in production.
    """

    cluster_name: str
    member_name: str
    members: Sequence[EtcdMember]
    version: str
    sha256: str | None
    data_device: str
    tls: EtcdTLS
    secret_store: SecretStore
    arch: Arch = "amd64"
    restore_from: ObjectLocation | None = None
    backup: EtcdBackup | None = None
    extra_secrets: Sequence[SecretFile] = ()
    # The member's credentials in the secret store (JSON: CA bundle, leaves, keys), which
    # `pulumi up` keeps current; a timer installs changes (fleetform/bootstrap/renewal.py).
    credentials_secret: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "members", tuple(self.members))
        object.__setattr__(self, "extra_secrets", tuple(self.extra_secrets))
        _require(
            bool(_DNS_LABEL.match(self.cluster_name)),
            f"cluster name {self.cluster_name!r} must be a DNS label",
        )
        names = [m.name for m in self.members]
        _require(len(set(names)) == len(names), f"etcd member names are not unique: {names}")
        _require(
            len(self.members) % 2 == 1,
            f"an etcd cluster needs an odd number of members (got {len(self.members)}): "
            "an even count adds no fault tolerance",
        )
        _require(
            self.member_name in names, f"etcd member {self.member_name!r} is not one of {names}"
        )
        _require(
            len({m.dns_name for m in self.members}) == len(names)
            and len({m.ip for m in self.members}) == len(names),
            "etcd members must have distinct DNS names and IPs",
        )
        _check_version(self.version, "etcd version")
        if not self.sha256:
            object.__setattr__(self, "sha256", None)
        else:
            _require(
                bool(_SHA256.match(self.sha256)),
                f"etcd sha256 {self.sha256!r} must be 64 lowercase hex digits",
            )
        _check_absolute(self.data_device, "etcd data device")
        _require(self.arch in ("amd64", "arm64"), f"unsupported arch {self.arch!r}")

    @property
    def member(self) -> EtcdMember:
        return next(m for m in self.members if m.name == self.member_name)


# --------------------------------------------------------------------- Kubernetes


@dataclass(frozen=True)
class ControlPlanePKI:
    """Pre-issued cluster PKI: public parts inline, private keys by secret id.

    Every replica gets the same CAs and service-account key pair, so all replicas are
    symmetric and ``kubeadm join --control-plane`` needs no ``--certificate-key``.
    """

    ca_cert_pem: str
    ca_key_secret: str
    front_proxy_ca_cert_pem: str
    front_proxy_ca_key_secret: str
    sa_public_key_pem: str
    sa_private_key_secret: str
    etcd_ca_cert_pem: str
    apiserver_etcd_client_cert_pem: str
    apiserver_etcd_client_key_secret: str

    def __post_init__(self) -> None:
        _check_pem(self.ca_cert_pem, "cluster CA")
        _check_pem(self.front_proxy_ca_cert_pem, "front-proxy CA")
        _check_pem(self.sa_public_key_pem, "service-account public key", kind="PUBLIC KEY")
        _check_pem(self.etcd_ca_cert_pem, "etcd CA")
        _check_pem(self.apiserver_etcd_client_cert_pem, "apiserver-etcd-client certificate")


@dataclass(frozen=True)
class AuditLog:
    """kube-apiserver audit log rotation (``audit-log-maxage/maxbackup/maxsize``)."""

    max_age_days: int = 30
    max_backups: int = 10
    max_size_mb: int = 100

    def __post_init__(self) -> None:
        _require(
            self.max_age_days > 0 and self.max_backups > 0 and self.max_size_mb > 0,
            "audit log rotation values must be positive",
        )


def _check_cidr(cidr: str, what: str) -> None:
    try:
        ipaddress.ip_network(cidr)
    except ValueError as err:
        raise ValueError(f"{what}: {cidr!r} is not a CIDR") from err


@dataclass(frozen=True)
class AddonSource:
    """Where one cluster's bundle lives and how Flux reaches the API server."""

    cloud: Literal["aws", "gcp"]
    bucket: str
    region: str  # the bucket's region (AWS: the S3 endpoint's)
    api_host: str  # the API server's name (the control-plane endpoint)
    # The bundle's CNI Kustomization: its object key in the bucket and its name.
    cni_object: str = "flux/cni.yaml"
    cni_kustomization: str = "cni"
    # A ClusterMesh member: the secret-store id of the CNI's secret values (YAML).
    cni_secret_values: str | None = None
    interval: str = "1m"

    def __post_init__(self) -> None:
        _require(bool(self.bucket) and bool(self.api_host), "an add-on source needs a bucket and the API server's name")
        _check_hostname(self.api_host, "API server name")
        if self.cni_secret_values is not None:
            _require(bool(_SECRET_ID.match(self.cni_secret_values)),
                     f"secret id {self.cni_secret_values!r} has unexpected characters")


@dataclass(frozen=True)
class ControlPlaneInputs:
    """Everything the user-data of one control-plane replica depends on.

    Replica 0 runs ``kubeadm init``; the others ``kubeadm join --control-plane``.
    ``control_plane_endpoint`` is the load balancer's DNS name (port 6443 is added).
    ``etcd_endpoints`` are the etcd members' DNS names.

    ``join_via`` (replicas >= 1): fixed addresses of replicas that run before this one
    (replica 0's first). The joining replica is a backend of the API load balancer, and
    GCP's internal passthrough load balancer hands a backend's connections to the
    forwarding-rule address back to the backend itself, where no API server runs yet.
    So during the join the API name resolves (``/etc/hosts``) to the first of these that
    serves, and back to DNS (the load balancer) once the local API server is ready.
    """

    cluster_name: str
    replica: int
    kubernetes_version: str
    control_plane_endpoint: str
    etcd_endpoints: Sequence[str]
    pod_subnet: str
    service_subnet: str
    pki: ControlPlanePKI
    bootstrap_token_secret: str
    encryption_key_secret: str
    secret_store: SecretStore
    advertise_address: str | None = None
    oidc: OIDC | None = None
    service_account_issuer: ServiceAccountIssuer | None = None
    management: ManagementPlan | None = None
    skip_kube_proxy: bool = False
    cert_sans: Sequence[str] = ()
    audit: AuditLog = field(default_factory=AuditLog)
    dns_domain: str = "cluster.local"
    # The join credential expires: the init token and every token the rotation timer
    # creates live this long; joining machines read the current one from the secret store.
    bootstrap_token_ttl_hours: int = BOOTSTRAP_TOKEN_TTL_HOURS
    # kubeadm's certificates are renewed by the replica's timer this long before expiry.
    kubeadm_renew_before_hours: int = KUBEADM_RENEW_BEFORE_DAYS * 24
    # The etcd release whose etcdctl the renewal timers use for their lock (the one the
    # etcd members run); sha256 as for members (None: checked against SHA256SUMS).
    etcd_version: str = ETCD_VERSION
    etcd_sha256: str | None = None
    arch: Arch = "amd64"
    # The API server's etcd client credentials in the secret store (JSON: ca, cert, key),
    # kept current by `pulumi up`; the renewal timer installs changes one replica at a time.
    etcd_client_credentials_secret: str | None = None
    # The service-account keys in the secret store (JSON: key, pub), kept current by
    # `pulumi up` through a rotation; the renewal timer installs them in two steps, and
    # the names of every replica of the control plane (the step waits for all of them).
    service_account_keys_secret: str | None = None
    replica_names: Sequence[str] = ()
    extra_secrets: Sequence[SecretFile] = ()
    join_via: Sequence[str] = ()
    # Replica 0: where the cluster's add-on bundle lives (its boot installs Flux on it).
    addons: AddonSource | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "etcd_endpoints", tuple(self.etcd_endpoints))
        object.__setattr__(self, "join_via", tuple(self.join_via))
        object.__setattr__(self, "cert_sans", tuple(self.cert_sans))
        object.__setattr__(self, "replica_names", tuple(self.replica_names))
        object.__setattr__(self, "extra_secrets", tuple(self.extra_secrets))
        _require(
            bool(_DNS_LABEL.match(self.cluster_name)),
            f"cluster name {self.cluster_name!r} must be a DNS label",
        )
        _require(self.replica >= 0, f"replica {self.replica} must be >= 0")
        _check_version(self.kubernetes_version, "kubernetes version")
        _check_hostname(self.control_plane_endpoint, "control plane endpoint")
        _require(len(self.etcd_endpoints) > 0, "control plane needs at least one etcd endpoint")
        for endpoint in self.etcd_endpoints:
            _check_hostname(endpoint, "etcd endpoint")
        _check_cidr(self.pod_subnet, "pod subnet")
        _check_cidr(self.service_subnet, "service subnet")
        for secret in (self.bootstrap_token_secret, self.encryption_key_secret):
            _require(
                bool(_SECRET_ID.match(secret)), f"secret id {secret!r} has unexpected characters"
            )
        if self.advertise_address is not None:
            ipaddress.ip_address(self.advertise_address)
        _require(
            self.replica > 0 or not self.join_via,
            "replica 0 creates the cluster: it has no replica to join through",
        )
        for address in self.join_via:
            try:
                ipaddress.IPv4Address(address)
            except ValueError as err:
                raise ValueError(f"join_via: {address!r} is not an IPv4 address") from err
        _require(
            len(set(self.join_via)) == len(self.join_via), f"join_via repeats an address: {list(self.join_via)}"
        )
        _require(
            self.advertise_address is None or self.advertise_address not in self.join_via,
            f"join_via: {self.advertise_address} is this replica's own address",
        )
        _require(
            1 <= self.bootstrap_token_ttl_hours <= 168,
            f"bootstrap token ttl {self.bootstrap_token_ttl_hours}h must be between 1 and 168 hours: "
            "a token that never expires is a permanent join credential",
        )
        _require(self.kubeadm_renew_before_hours >= 24,
                 "renew kubeadm certificates at least a day before they expire")
        _check_version(self.etcd_version, "etcd version")
        if not self.etcd_sha256:
            object.__setattr__(self, "etcd_sha256", None)
        else:
            _require(bool(_SHA256.match(self.etcd_sha256)),
                     f"etcd sha256 {self.etcd_sha256!r} must be 64 lowercase hex digits")
        _require(self.arch in ("amd64", "arm64"), f"unsupported arch {self.arch!r}")
        for sid in (self.etcd_client_credentials_secret, self.service_account_keys_secret):
            if sid is not None:
                _require(bool(_SECRET_ID.match(sid)), f"secret id {sid!r} has unexpected characters")
        _check_hostname(self.dns_domain, "cluster DNS domain")


# Labels the kubelet may set on its own Node (kubelet refuses to start with any other
# kubernetes.io / k8s.io label, and NodeRestriction would reject them anyway).
_KUBELET_ALLOWED_LABELS = frozenset(
    {
        "kubernetes.io/hostname",
        "kubernetes.io/arch",
        "kubernetes.io/os",
        "beta.kubernetes.io/arch",
        "beta.kubernetes.io/os",
        "beta.kubernetes.io/instance-type",
        "node.kubernetes.io/instance-type",
        "failure-domain.beta.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/zone",
        "topology.kubernetes.io/region",
        "topology.kubernetes.io/zone",
    }
)
_KUBELET_ALLOWED_PREFIXES = ("kubelet.kubernetes.io/", "node.kubernetes.io/")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?$")


def check_node_label(key: str, value: str) -> None:
    """Raise ValueError unless the kubelet can register its Node with ``key=value``."""
    prefix, _, name = key.rpartition("/")
    _require(
        bool(_LABEL_NAME.match(name)), f"node label {key!r}: name part is not a valid label name"
    )
    if prefix:
        _check_hostname(prefix, f"node label {key!r} prefix")
        namespace = any(
            prefix == ns or prefix.endswith("." + ns) for ns in ("kubernetes.io", "k8s.io")
        )
        if (
            namespace
            and key not in _KUBELET_ALLOWED_LABELS
            and not key.startswith(_KUBELET_ALLOWED_PREFIXES)
        ):
            raise ValueError(
                f"node label {key!r} is in a kubernetes.io/k8s.io namespace the kubelet may not set "
                "(it refuses to start; NodeRestriction forbids it). Use your own prefix, "
                "e.g. 'node.fleetform.io/role', or node-restriction.kubernetes.io/ via the API."
            )
    _require(
        bool(_LABEL_VALUE.match(value)),
        f"node label {key!r}: value {value!r} is not a valid label value",
    )
    _require(
        "," not in value and "=" not in value,
        f"node label {key!r}: value {value!r} breaks --node-labels",
    )


@dataclass(frozen=True)
class WorkerInputs:
    """Everything the user-data of a worker (one launch template, many nodes) depends on."""

    cluster_name: str
    kubernetes_version: str
    control_plane_endpoint: str
    ca_cert_pem: str
    bootstrap_token_secret: str
    secret_store: SecretStore
    node_labels: Mapping[str, str] = field(default_factory=dict)
    extra_secrets: Sequence[SecretFile] = ()

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "node_labels", MappingProxyType(dict(sorted(self.node_labels.items())))
        )
        object.__setattr__(self, "extra_secrets", tuple(self.extra_secrets))
        _require(
            bool(_DNS_LABEL.match(self.cluster_name)),
            f"cluster name {self.cluster_name!r} must be a DNS label",
        )
        _check_version(self.kubernetes_version, "kubernetes version")
        _check_hostname(self.control_plane_endpoint, "control plane endpoint")
        _check_pem(self.ca_cert_pem, "cluster CA")
        _require(
            bool(_SECRET_ID.match(self.bootstrap_token_secret)),
            "bootstrap token secret id has unexpected characters",
        )
        for key, value in self.node_labels.items():
            check_node_label(key, value)


# ------------------------------------------------------------------------ helpers


def aws_ebs_device_path(volume_id: str) -> str:
    """The stable by-id path of an attached EBS volume on Nitro (NVMe) instances.

    udev names it after the volume id *without* its dash: vol-0abc -> vol0abc.
    """
    _require(
        bool(re.match(r"^vol-[0-9a-f]{8,17}$", volume_id)), f"{volume_id!r} is not an EBS volume id"
    )
    return "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_" + volume_id.replace("-", "")


def gcp_disk_device_path(device_name: str) -> str:
    """The stable by-id path of a GCP persistent disk attached with ``device_name``."""
    _require(
        bool(_DNS_LABEL.match(device_name)), f"{device_name!r} is not a valid GCP disk device name"
    )
    return f"/dev/disk/by-id/google-{device_name}"
