"""The GCP adapter's shared state: the one provider of the incarnation, the image, labels,
physical names, and the helpers and constants every part of the adapter uses."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_gcp as gcp

from components.clouds.base import (
    CloudAdapter,
    ClusterContext,
    LoadBalancerHandle,
    MachineHandle,
)
from fleetform.bootstrap.inputs import SecretStore
from fleetform.plan import names
from fleetform.plan.firewall import FirewallRule, Role

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


class GcpBase(CloudAdapter):
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
        # Planned internal load-balancer addresses the network reserved, by address.
        self._reserved_lb: dict[str, gcp.compute.Address] = {}
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
                opts=pulumi.ResourceOptions(parent=self.ctx.owner, depends_on=list(self.ctx.requires)),
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
        # Looked up once per incarnation and pinned at its first `pulumi up` (ImagePin).
        if self._image is None:
            self._image = self.pinned_image(gcp.compute.get_image_output(
                family=IMAGE_FAMILY, project=IMAGE_PROJECT, opts=self._invoke()).self_link)
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


    # -------------------------------------------------------------------- DNS





    # --------------------------------------------------------------- identity


    # --------------------------------------------------------------- firewall



    # ---------------------------------------------------------------- secrets


    # ------------------------------------------------------------------ disks


    # --------------------------------------------------------------- machines



    # ---------------------------------------------------------- load balancer



    # ---------------------------------------------------------------- buckets

