"""Deterministic, realistic provider outputs for the offline engine.

`FleetMocks` answers the two questions the Pulumi SDK asks of a mock engine: what a
resource looks like once its provider has created it (`new_resource`) and what a data
source returns (`call`). Every value is derived from a SHA-256 of the resource's URN (or
the invoke's arguments), never from randomness or the clock, so two runs of the same
program produce byte-identical results.

Both tables are plain dicts from a Pulumi type token to a function, so other modules
can add types with the `resource_mock` / `invoke_mock` decorators; unknown types fall
back per package (AWS: id + ARN, GCP: name + id + selfLink, Kubernetes: metadata,
anything else: an id), unknown invokes answer `{}` and are recorded. Tokens and output
property names follow the installed SDKs (pulumi-aws 7, pulumi-gcp 10, pulumi-tls 5,
pulumi-random 4, pulumi-kubernetes 4); outputs use Pulumi's wire (camelCase) names.

A resource handler receives a `ResourceCall` and returns `(id, computed)`; the inputs
are echoed under the computed properties. Handlers see plain inputs: secrets already
unwrapped, resource references as URNs. TLS resources return real, parseable (but
deterministic, hence never secret) keys and certificates, because programs parse them.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import functools
import hashlib
import ipaddress
import json
import re
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
    PrivateKeyTypes,
    PublicKeyTypes,
)
from cryptography.x509.oid import NameOID
from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks

__all__ = [
    "ACCOUNT_ID",
    "INVOKE_MOCKS",
    "RESOURCE_MOCKS",
    "FleetMocks",
    "InvokeCall",
    "ResourceCall",
    "invoke_mock",
    "resource_mock",
]

ACCOUNT_ID = "123456789012"
DEFAULT_AWS_REGION = "us-east-1"
DEFAULT_GCP_PROJECT = "fleetform-offline"
DEFAULT_GCP_REGION = "us-central1"
# Fixed instant for every timestamp the mocks hand out (creation times, cert validity).
EPOCH = "2025-01-01T00:00:00Z"
EPOCH_YEAR = 2025
_GOOGLEAPIS = "https://www.googleapis.com"

# Pulumi's wire sentinels; the mocks only need them to unwrap inputs when they are used
# with the SDK's stock MockMonitor instead of the offline engine.
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


# --------------------------------------------------------------------------------------
# Deterministic building blocks


def digest(*parts: object) -> bytes:
    """SHA-256 over the parts; the only source of "randomness" in the mocks."""
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()


def stream(n: int, *parts: object) -> bytes:
    """`n` deterministic bytes (SHA-256 in counter mode)."""
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += digest(*parts, counter)
        counter += 1
    return bytes(out[:n])


def hexstr(n: int, *parts: object) -> str:
    return stream((n + 1) // 2, *parts).hex()[:n]


def number(n_digits: int, *parts: object) -> str:
    """A decimal string of exactly `n_digits` digits, no leading zero."""
    value = int.from_bytes(stream(16, *parts), "big")
    low = 10 ** (n_digits - 1)
    return str(low + value % (9 * low))


def fake_uuid(*parts: object) -> str:
    h = hexstr(32, *parts)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def _plain(value: Any) -> Any:
    """Unwrap Pulumi secret sentinels (present when used under the stock MockMonitor)."""
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return _plain(value.get("value"))
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _provider_urn(ref: str | None) -> str | None:
    """A provider reference is "<urn>::<id>"; URNs themselves contain "::"."""
    if not ref:
        return None
    return ref.rsplit("::", 1)[0]


# --------------------------------------------------------------------------------------
# Handler context


@dataclass
class ResourceCall:
    """Everything a resource handler may use to compute outputs."""

    type: str
    name: str
    urn: str
    inputs: dict[str, Any]
    provider_inputs: Mapping[str, Any]
    mocks: FleetMocks

    @property
    def seed(self) -> str:
        return self.urn

    def hex(self, n: int, *salt: object) -> str:
        return hexstr(n, self.seed, *salt)

    def number(self, n_digits: int, *salt: object) -> str:
        return number(n_digits, self.seed, *salt)

    def uuid(self, *salt: object) -> str:
        return fake_uuid(self.seed, *salt)

    def get(self, key: str, default: Any = None) -> Any:
        value = self.inputs.get(key)
        return default if value is None else value

    # ---- naming
    def autoname(self, key: str = "name", *, sep: str = "-", max_len: int | None = None) -> str:
        """Given name, or Pulumi-style auto-name: logical name + "-" + 7 hex chars."""
        given = self.inputs.get(key)
        if isinstance(given, str) and given:
            return given
        suffix = self.hex(7, "autoname")
        base = self.name
        if max_len is not None:
            base = base[: max(1, max_len - len(suffix) - len(sep))]
        return f"{base}{sep}{suffix}"

    # ---- AWS
    @property
    def region(self) -> str:
        return str(
            self.inputs.get("region")
            or self.provider_inputs.get("region")
            or self.mocks.config_str("aws:region")
            or DEFAULT_AWS_REGION
        )

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return ":".join(
            [
                "arn:aws",
                service,
                self.region if region else "",
                ACCOUNT_ID if account else "",
                resource,
            ]
        )

    # ---- GCP
    @property
    def project(self) -> str:
        return str(
            self.inputs.get("project")
            or self.provider_inputs.get("project")
            or self.mocks.config_str("gcp:project")
            or DEFAULT_GCP_PROJECT
        )

    @property
    def gcp_region(self) -> str:
        region = self.inputs.get("region")
        if isinstance(region, str) and region:
            return region.rsplit("/", 1)[-1]
        zone = self.inputs.get("zone")
        if isinstance(zone, str) and zone.count("-") >= 2:
            return zone.rsplit("/", 1)[-1].rsplit("-", 1)[0]
        return str(
            self.provider_inputs.get("region")
            or self.mocks.config_str("gcp:region")
            or DEFAULT_GCP_REGION
        )

    @property
    def gcp_zone(self) -> str:
        zone = self.inputs.get("zone")
        if isinstance(zone, str) and zone:
            return zone.rsplit("/", 1)[-1]
        return str(
            self.provider_inputs.get("zone")
            or self.mocks.config_str("gcp:zone")
            or f"{self.gcp_region}-a"
        )


@dataclass
class InvokeCall:
    """Everything an invoke handler may use."""

    token: str
    args: dict[str, Any]
    provider_inputs: Mapping[str, Any]
    mocks: FleetMocks

    def hex(self, n: int, *salt: object) -> str:
        return hexstr(n, self.token, json.dumps(self.args, sort_keys=True, default=str), *salt)

    @property
    def region(self) -> str:
        return str(
            self.args.get("region")
            or self.provider_inputs.get("region")
            or self.mocks.config_str("aws:region")
            or DEFAULT_AWS_REGION
        )

    @property
    def project(self) -> str:
        return str(
            self.args.get("project")
            or self.args.get("projectId")
            or self.provider_inputs.get("project")
            or self.mocks.config_str("gcp:project")
            or DEFAULT_GCP_PROJECT
        )

    @property
    def gcp_region(self) -> str:
        return str(
            self.args.get("region")
            or self.provider_inputs.get("region")
            or self.mocks.config_str("gcp:region")
            or DEFAULT_GCP_REGION
        )


ResourceHandler = Callable[[ResourceCall], tuple[str, dict[str, Any]]]
InvokeHandler = Callable[[InvokeCall], dict[str, Any]]

RESOURCE_MOCKS: dict[str, ResourceHandler] = {}
INVOKE_MOCKS: dict[str, InvokeHandler] = {}


def resource_mock(*tokens: str) -> Callable[[ResourceHandler], ResourceHandler]:
    """Register a handler for one or more resource type tokens."""

    def register(fn: ResourceHandler) -> ResourceHandler:
        for token in tokens:
            RESOURCE_MOCKS[token] = fn
        return fn

    return register


def invoke_mock(*tokens: str) -> Callable[[InvokeHandler], InvokeHandler]:
    """Register a handler for one or more invoke tokens."""

    def register(fn: InvokeHandler) -> InvokeHandler:
        for token in tokens:
            INVOKE_MOCKS[token] = fn
        return fn

    return register


# --------------------------------------------------------------------------------------
# The Mocks implementation


@dataclass
class FleetMocks(Mocks):
    """Table-driven mocks with a per-run memory of what has been created.

    The memory (providers' inputs; resources by type and id / ARN / self-link / name)
    lets an instance get an address inside the subnet it names and a resource the region
    of the provider it was created with. Lookups are scoped by type and nothing depends
    on the order in which resources were created, because the SDK does not register
    independent resources in a fixed order.
    """

    config: Mapping[str, Any] = field(default_factory=dict)
    unknown_invokes: list[str] = field(default_factory=list)
    invokes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _providers: dict[str, dict[str, Any]] = field(default_factory=dict)
    _index: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def config_str(self, key: str) -> str | None:
        value = self.config.get(key)
        return value if isinstance(value, str) and value else None

    # ---- memory
    def lookup(self, ref: Any, *types: str) -> dict[str, Any] | None:
        """State of a created resource of one of `types`, by id, ARN, self-link or name."""
        if not isinstance(ref, str) or not ref:
            return None
        for key in (ref, ref.rsplit("/", 1)[-1]):
            for type_ in types:
                hit = self._index.get((type_, key))
                if hit is not None:
                    return hit
        return None

    def _remember(self, type_: str, state: dict[str, Any], *keys: Any) -> None:
        for key in keys:
            if isinstance(key, str) and key:
                self._index.setdefault((type_, key), state)

    @staticmethod
    def allocate_ip(cidr: str | None, seed: str, requested: Any = None) -> str:
        """The requested address, else one inside `cidr` picked by hash.

        A pure function of its arguments (no probing around addresses already handed
        out, which would depend on creation order); two machines may, rarely, collide.
        """
        if isinstance(requested, str) and requested:
            return requested
        net = ipaddress.ip_network(cidr or "172.31.0.0/16", strict=False)
        # Skip the first four and the last address: AWS reserves them, GCP a subset.
        span = max(1, net.num_addresses - 5)
        offset = int.from_bytes(digest(seed, "ip")[:8], "big") % span
        return str(net.network_address + 4 + offset)

    # ---- pulumi.runtime.Mocks
    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs: dict[str, Any] = _plain(dict(args.inputs or {}))
        urn = str(getattr(args, "urn", "") or f"{args.typ}::{args.name}")
        if args.custom is False:
            return "", {}  # components: the engine computes nothing for them
        provider_inputs = self._providers.get(_provider_urn(args.provider) or "", {})
        call = ResourceCall(args.typ, args.name, urn, inputs, provider_inputs, self)

        handler = RESOURCE_MOCKS.get(args.typ) or _fallback_handler(args.typ)
        resource_id, computed = handler(call)
        if args.resource_id and resource_id:
            # A read or import of an existing resource: its id wins, also inside ARNs.
            computed = {
                k: v.replace(resource_id, args.resource_id) if isinstance(v, str) else v
                for k, v in computed.items()
            }
            resource_id = args.resource_id
        state = {**inputs, **computed}
        if args.typ.startswith("pulumi:providers:"):
            self._providers[urn] = inputs
        self._remember(
            args.typ,
            state,
            resource_id,
            state.get("arn"),
            state.get("selfLink"),
            state.get("name"),
        )
        return resource_id, state

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        plain_args: dict[str, Any] = {
            k: v for k, v in _plain(dict(args.args or {})).items() if v is not None
        }
        self.invokes.append((args.token, plain_args))
        handler = INVOKE_MOCKS.get(args.token)
        if handler is None:
            self.unknown_invokes.append(args.token)
            return {}, None
        provider_inputs = self._providers.get(_provider_urn(args.provider) or "", {})
        return handler(InvokeCall(args.token, plain_args, provider_inputs, self)), None


# --------------------------------------------------------------------------------------
# Fallbacks


def _fallback_handler(token: str) -> ResourceHandler:
    if token.startswith("pulumi:providers:"):
        return _provider
    if token.startswith("aws:"):
        return _aws_generic
    if token.startswith("gcp:"):
        return _gcp_generic
    if token.startswith("kubernetes:"):
        return _kubernetes
    return _generic


def _generic(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    return f"{c.name}-{c.hex(8)}", {}


def _provider(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    return c.uuid("provider"), {}


@resource_mock("pulumi:pulumi:StackReference")
def _stack_reference(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    """Another stack's outputs are unknowable offline: an empty set."""
    return str(c.get("name", c.name)), {"outputs": {}, "secretOutputNames": []}


def _type_parts(token: str) -> tuple[str, str, str]:
    """'aws:ec2/securityGroup:SecurityGroup' -> ('aws', 'ec2', 'SecurityGroup')."""
    pkg, mod, kind = token.split(":", 2)
    return pkg, mod.split("/", 1)[0], kind


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def _tags(c: ResourceCall) -> dict[str, Any]:
    """tagsAll = provider default tags under the resource's own tags."""
    default_tags: Any = c.provider_inputs.get("defaultTags") or {}
    if isinstance(default_tags, str):
        try:
            default_tags = json.loads(default_tags)
        except ValueError:
            default_tags = {}
    merged: dict[str, Any] = {}
    if isinstance(default_tags, dict):
        merged.update(default_tags.get("tags") or {})
    merged.update(c.get("tags", {}))
    return {"tagsAll": merged}


def _aws_generic(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    _, service, kind = _type_parts(c.type)
    rid = f"{_kebab(kind)}-{c.hex(17)}"
    return rid, {"arn": c.arn(service, f"{_kebab(kind)}/{rid}"), **_tags(c)}


_GCP_ZONAL = {
    "instance",
    "disk",
    "instanceGroup",
    "instanceGroupManager",
    "instanceFromTemplate",
    "nodeGroup",
    "networkEndpointGroup",
    "targetInstance",
}
_GCP_REGIONAL = {
    "subnetwork",
    "address",
    "forwardingRule",
    "targetPool",
    "router",
    "vpnGateway",
    "vpnTunnel",
    "interconnectAttachment",
}


def _gcp_location(c: ResourceCall) -> tuple[str, str]:
    """(collection, location path) for a compute resource, e.g. ('subnetworks', 'regions/r')."""
    _, _, kind = _type_parts(c.type)
    simple = kind[0].lower() + kind[1:]
    if simple.startswith("region") and simple != "region":
        simple = simple[6].lower() + simple[7:]
        scope = f"regions/{c.gcp_region}"
    elif simple.startswith("global") and simple != "global":
        simple = simple[6].lower() + simple[7:]
        scope = "global"
    elif simple in _GCP_ZONAL:
        scope = f"zones/{c.gcp_zone}"
    elif simple in _GCP_REGIONAL:
        scope = f"regions/{c.gcp_region}"
    else:
        scope = "global"
    plural = simple + ("es" if simple.endswith("s") else "s")
    return plural, scope


def _gcp_labels(c: ResourceCall) -> dict[str, Any]:
    labels = dict(c.get("labels", {}))
    return {
        "effectiveLabels": {**labels, "goog-pulumi-provisioned": "true"},
        "pulumiLabels": {**labels, "goog-pulumi-provisioned": "true"},
    }


def _gcp_generic(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    _, service, kind = _type_parts(c.type)
    name = c.autoname()
    out: dict[str, Any] = {"name": name, "project": c.project}
    if service == "compute":
        collection, scope = _gcp_location(c)
        rid = f"projects/{c.project}/{scope}/{collection}/{name}"
        out["selfLink"] = f"{_GOOGLEAPIS}/compute/v1/{rid}"
        out["creationTimestamp"] = EPOCH
        if scope.startswith("regions/"):
            out["region"] = c.gcp_region
        if scope.startswith("zones/"):
            out["zone"] = c.gcp_zone
    else:
        rid = f"projects/{c.project}/{_kebab(kind)}s/{name}"
    if "labels" in c.inputs:
        out.update(_gcp_labels(c))
    return rid, out


# --------------------------------------------------------------------------------------
# AWS


def _aws_ec2(prefix: str, kind: str) -> ResourceHandler:
    def handler(c: ResourceCall) -> tuple[str, dict[str, Any]]:
        rid = f"{prefix}-{c.hex(17)}"
        return rid, {"arn": c.arn("ec2", f"{kind}/{rid}"), "ownerId": ACCOUNT_ID, **_tags(c)}

    return handler


for _token, _prefix, _kind in [
    ("aws:ec2/securityGroup:SecurityGroup", "sg", "security-group"),
    ("aws:ec2/internetGateway:InternetGateway", "igw", "internet-gateway"),
    ("aws:ec2/routeTable:RouteTable", "rtb", "route-table"),
    ("aws:ec2/networkAcl:NetworkAcl", "acl", "network-acl"),
    ("aws:ec2/placementGroup:PlacementGroup", "pg", "placement-group"),
    ("aws:ec2/vpcEndpoint:VpcEndpoint", "vpce", "vpc-endpoint"),
]:
    resource_mock(_token)(_aws_ec2(_prefix, _kind))


@resource_mock("aws:ec2/vpc:Vpc")
def _aws_vpc(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    rid = f"vpc-{c.hex(17)}"
    return rid, {
        "arn": c.arn("ec2", f"vpc/{rid}"),
        "ownerId": ACCOUNT_ID,
        "defaultNetworkAclId": f"acl-{c.hex(17, 'acl')}",
        "defaultRouteTableId": f"rtb-{c.hex(17, 'rtb')}",
        "mainRouteTableId": f"rtb-{c.hex(17, 'rtb')}",
        "defaultSecurityGroupId": f"sg-{c.hex(17, 'sg')}",
        "dhcpOptionsId": f"dopt-{c.hex(17, 'dopt')}",
        "instanceTenancy": c.get("instanceTenancy", "default"),
        "enableDnsSupport": c.get("enableDnsSupport", True),
        **_tags(c),
    }


@resource_mock("aws:ec2/subnet:Subnet")
def _aws_subnet(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    rid = f"subnet-{c.hex(17)}"
    az = c.get("availabilityZone", f"{c.region}a")
    return rid, {
        "arn": c.arn("ec2", f"subnet/{rid}"),
        "ownerId": ACCOUNT_ID,
        "availabilityZone": az,
        "availabilityZoneId": f"{_az_id_prefix(c.region)}-az{(ord(az[-1]) - ord('a')) % 6 + 1}",
        **_tags(c),
    }


def _az_id_prefix(region: str) -> str:
    """us-east-1 -> use1 (the prefix of AWS zone ids)."""
    parts = region.split("-")
    if len(parts) < 3:
        return region
    return parts[0] + "".join(p[0] for p in parts[1:-1]) + parts[-1]


@resource_mock("aws:ec2/securityGroupRule:SecurityGroupRule")
def _aws_sg_rule(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    return f"sgrule-{c.number(10)}", {"securityGroupRuleId": f"sgr-{c.hex(17)}"}


@resource_mock(
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
)
def _aws_vpc_sg_rule(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    rid = f"sgr-{c.hex(17)}"
    return rid, {
        "arn": c.arn("ec2", f"security-group-rule/{rid}"),
        "securityGroupRuleId": rid,
        **_tags(c),
    }


def _subnet_cidr(c: ResourceCall, subnet_ref: Any) -> str | None:
    subnet = c.mocks.lookup(subnet_ref, "aws:ec2/subnet:Subnet")
    cidr = (subnet or {}).get("cidrBlock") or (subnet or {}).get("ipCidrRange")
    return cidr if isinstance(cidr, str) else None


def _private_dns(region: str, ip: str) -> str:
    domain = "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"
    return f"ip-{ip.replace('.', '-')}.{domain}"


def _public_ip(seed: str) -> str:
    """A TEST-NET-3 address (RFC 5737): realistic-looking, never routable."""
    return f"203.0.113.{int.from_bytes(digest(seed, 'public-ip')[:2], 'big') % 254 + 1}"


@resource_mock("aws:ec2/instance:Instance")
def _aws_instance(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    rid = f"i-{c.hex(17)}"
    subnet = c.mocks.lookup(c.get("subnetId"), "aws:ec2/subnet:Subnet")
    ip = c.mocks.allocate_ip(_subnet_cidr(c, c.get("subnetId")), c.seed, c.get("privateIp"))
    out: dict[str, Any] = {
        "arn": c.arn("ec2", f"instance/{rid}"),
        "privateIp": ip,
        "privateDns": _private_dns(c.region, ip),
        "primaryNetworkInterfaceId": f"eni-{c.hex(17, 'eni')}",
        "instanceState": "running",
        "availabilityZone": c.get(
            "availabilityZone", (subnet or {}).get("availabilityZone", f"{c.region}a")
        ),
        "publicIp": "",
        "publicDns": "",
        **_tags(c),
    }
    if c.get("associatePublicIpAddress"):
        out["publicIp"] = _public_ip(c.seed)
        out["publicDns"] = f"ec2-{out['publicIp'].replace('.', '-')}.compute-1.amazonaws.com"
    return rid, out


@resource_mock("aws:ec2/networkInterface:NetworkInterface")
def _aws_eni(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    rid = f"eni-{c.hex(17)}"
    ips = c.get("privateIps") or []
    ip = c.mocks.allocate_ip(
        _subnet_cidr(c, c.get("subnetId")), c.seed, c.get("privateIp") or (ips[0] if ips else None)
    )
    return rid, {
        "arn": c.arn("ec2", f"network-interface/{rid}"),
        "privateIp": ip,
        "privateIps": ips or [ip],
        "privateDnsName": _private_dns(c.region, ip),
        "macAddress": ":".join(c.hex(12, "mac")[i : i + 2] for i in range(0, 12, 2)),
        "ownerId": ACCOUNT_ID,
        **_tags(c),
    }


@resource_mock("aws:ec2/eip:Eip")
def _aws_eip(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    rid = f"eipalloc-{c.hex(17)}"
    ip = _public_ip(c.seed)
    return rid, {
        "arn": c.arn("ec2", f"elastic-ip/{rid}"),
        "allocationId": rid,
        "publicIp": ip,
        "publicDns": f"ec2-{ip.replace('.', '-')}.compute-1.amazonaws.com",
        "domain": c.get("domain", "vpc"),
        **_tags(c),
    }


@resource_mock("aws:ec2/natGateway:NatGateway")
def _aws_nat(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    rid = f"nat-{c.hex(17)}"
    eip = c.mocks.lookup(c.get("allocationId"), "aws:ec2/eip:Eip") or {}
    return rid, {
        "networkInterfaceId": f"eni-{c.hex(17, 'eni')}",
        "publicIp": eip.get("publicIp", _public_ip(c.seed)),
        "privateIp": c.mocks.allocate_ip(_subnet_cidr(c, c.get("subnetId")), c.seed),
        **_tags(c),
    }


@resource_mock("aws:ec2/route:Route")
def _aws_route(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    dest = c.get("destinationCidrBlock") or c.get("destinationIpv6CidrBlock") or ""
    return f"r-{c.get('routeTableId', '')}{digest(dest).hex()[:10]}", {
        "origin": "CreateRoute",
        "state": "active",
    }


@resource_mock("aws:ec2/routeTableAssociation:RouteTableAssociation")
def _aws_rtb_assoc(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    return f"rtbassoc-{c.hex(17)}", {}


@resource_mock("aws:ebs/volume:Volume")
def _aws_volume(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    rid = f"vol-{c.hex(17)}"
    return rid, {
        "arn": c.arn("ec2", f"volume/{rid}"),
        "createTime": EPOCH,
        "type": c.get("type", "gp3"),
        "encrypted": c.get("encrypted", False),
        **_tags(c),
    }


@resource_mock("aws:ec2/volumeAttachment:VolumeAttachment")
def _aws_volume_attachment(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    return f"vai-{c.number(10)}", {}


@resource_mock("aws:ec2/launchTemplate:LaunchTemplate")
def _aws_launch_template(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    rid = f"lt-{c.hex(17)}"
    return rid, {
        "arn": c.arn("ec2", f"launch-template/{rid}"),
        "name": c.autoname(max_len=128),
        "latestVersion": 1,
        "defaultVersion": 1,
        **_tags(c),
    }


@resource_mock("aws:ec2/keyPair:KeyPair")
def _aws_key_pair(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    name = c.autoname("keyName")
    return name, {
        "arn": c.arn("ec2", f"key-pair/{name}"),
        "keyName": name,
        "keyPairId": f"key-{c.hex(17)}",
        "keyType": "ed25519" if str(c.get("publicKey", "")).startswith("ssh-ed25519") else "rsa",
        "fingerprint": ":".join(c.hex(32, "fp")[i : i + 2] for i in range(0, 32, 2)),
        **_tags(c),
    }


@resource_mock("aws:autoscaling/group:Group")
def _aws_asg(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    name = c.autoname(max_len=255)
    return name, {
        "name": name,
        "arn": c.arn(
            "autoscaling", f"autoScalingGroup:{c.uuid('asg')}:autoScalingGroupName/{name}"
        ),
    }


def _lb_kind(c: ResourceCall) -> str:
    return {"network": "net", "gateway": "gwy"}.get(
        str(c.get("loadBalancerType", "application")), "app"
    )


@resource_mock("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
def _aws_lb(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    name = c.autoname(max_len=32)
    suffix = f"{_lb_kind(c)}/{name}/{c.hex(16)}"
    arn = c.arn("elasticloadbalancing", f"loadbalancer/{suffix}")
    internal = "internal-" if c.get("internal") else ""
    subnets = c.get("subnets") or []
    vpc = (
        (c.mocks.lookup(subnets[0], "aws:ec2/subnet:Subnet") or {}).get("vpcId")
        if subnets
        else None
    )
    return arn, {
        "arn": arn,
        "arnSuffix": suffix,
        "name": name,
        "dnsName": f"{internal}{name}-{c.hex(16, 'dns')}.elb.{c.region}.amazonaws.com",
        # Canonical hosted zone of the ELB service; per region in reality, fixed shape here.
        "zoneId": "Z" + c.hex(13, "zone").upper(),
        "vpcId": vpc or f"vpc-{c.hex(17, 'vpc')}",
        "loadBalancerType": c.get("loadBalancerType", "application"),
        **_tags(c),
    }


@resource_mock("aws:lb/targetGroup:TargetGroup", "aws:alb/targetGroup:TargetGroup")
def _aws_target_group(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    name = c.autoname(max_len=32)
    suffix = f"targetgroup/{name}/{c.hex(16)}"
    arn = c.arn("elasticloadbalancing", suffix)
    return arn, {"arn": arn, "arnSuffix": suffix, "name": name, "loadBalancerArns": [], **_tags(c)}


@resource_mock("aws:lb/listener:Listener", "aws:alb/listener:Listener")
def _aws_listener(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    lb_arn = str(c.get("loadBalancerArn", ""))
    lb_part = (
        lb_arn.split(":loadbalancer/", 1)[-1]
        if ":loadbalancer/" in lb_arn
        else f"app/lb/{c.hex(16, 'lb')}"
    )
    arn = c.arn("elasticloadbalancing", f"listener/{lb_part}/{c.hex(16)}")
    return arn, {"arn": arn, **_tags(c)}


@resource_mock("aws:lb/targetGroupAttachment:TargetGroupAttachment")
def _aws_tg_attachment(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    return f"{c.get('targetGroupArn', 'tg')}-{c.number(20)}", {}


@resource_mock("aws:route53/zone:Zone")
def _aws_zone(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    zone_id = "Z" + base64.b32encode(digest(c.seed, "zone")).decode()[:20]
    n = int.from_bytes(digest(c.seed, "ns")[:4], "big")
    name_servers = [
        f"ns-{(n + i * 517) % 2048}.awsdns-{(n >> 11) % 64 + i:02d}.{tld}"
        for i, tld in enumerate(["com", "net", "org", "co.uk"])
    ]
    return zone_id, {
        "zoneId": zone_id,
        "arn": f"arn:aws:route53:::hostedzone/{zone_id}",
        "nameServers": name_servers,
        "primaryNameServer": name_servers[0],
        "name": str(c.get("name", c.name)).rstrip("."),
        **_tags(c),
    }


@resource_mock("aws:route53/record:Record")
def _aws_record(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    name = str(c.get("name", c.name)).rstrip(".")
    zone = c.mocks.lookup(c.get("zoneId"), "aws:route53/zone:Zone") or {}
    zone_name = str(zone.get("name", ""))
    fqdn = name if not zone_name or name.endswith(zone_name) else f"{name}.{zone_name}"
    return f"{c.get('zoneId', '')}_{name}_{c.get('type', 'A')}", {"fqdn": fqdn}


def _iam_named(kind: str, *, id_is_arn: bool = False, prefix: str = "AROA") -> ResourceHandler:
    def handler(c: ResourceCall) -> tuple[str, dict[str, Any]]:
        name = c.autoname(max_len=64)
        path = str(c.get("path", "/"))
        arn = f"arn:aws:iam::{ACCOUNT_ID}:{kind}{path}{name}"
        out = {
            "name": name,
            "arn": arn,
            "createDate": EPOCH,
            "uniqueId": prefix + base64.b32encode(digest(c.seed, "uid")).decode()[:17],
            **_tags(c),
        }
        return (arn if id_is_arn else name), out

    return handler


resource_mock("aws:iam/role:Role")(_iam_named("role"))
resource_mock("aws:iam/instanceProfile:InstanceProfile")(
    _iam_named("instance-profile", prefix="AIPA")
)
resource_mock("aws:iam/user:User")(_iam_named("user", prefix="AIDA"))


@resource_mock("aws:iam/policy:Policy")
def _aws_iam_policy(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    name = c.autoname(max_len=128)
    arn = f"arn:aws:iam::{ACCOUNT_ID}:policy{c.get('path', '/')}{name}"
    return arn, {
        "name": name,
        "arn": arn,
        "policyId": "ANPA" + base64.b32encode(digest(c.seed, "pid")).decode()[:17],
        "attachmentCount": 0,
        **_tags(c),
    }


@resource_mock("aws:iam/rolePolicy:RolePolicy")
def _aws_role_policy(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    name = c.autoname()
    return f"{c.get('role', '')}:{name}", {"name": name}


@resource_mock("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
def _aws_role_policy_attachment(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    return f"{c.get('role', '')}-{c.number(20)}", {}


@resource_mock("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
def _aws_oidc(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    url = str(c.get("url", c.name)).removeprefix("https://")
    arn = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{url}"
    return arn, {"arn": arn, **_tags(c)}


@resource_mock("aws:secretsmanager/secret:Secret")
def _aws_secret(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    name = c.autoname(max_len=512)
    suffix = "".join(string.ascii_letters[b % 52] for b in digest(c.seed, "secret")[:6])
    arn = c.arn("secretsmanager", f"secret:{name}-{suffix}")
    return arn, {"arn": arn, "name": name, **_tags(c)}


@resource_mock("aws:secretsmanager/secretVersion:SecretVersion")
def _aws_secret_version(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    secret = c.mocks.lookup(c.get("secretId"), "aws:secretsmanager/secret:Secret") or {}
    secret_arn = str(secret.get("arn") or c.get("secretId", ""))
    version = c.uuid("version")
    return f"{secret_arn}|{version}", {
        "arn": secret_arn,
        "secretArn": secret_arn,
        "versionId": version,
        "versionStages": c.get("versionStages") or ["AWSCURRENT"],
    }


@resource_mock("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
def _aws_bucket(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    name = c.autoname("bucket", max_len=63).lower()
    return name, {
        "bucket": name,
        "arn": f"arn:aws:s3:::{name}",
        "bucketDomainName": f"{name}.s3.amazonaws.com",
        "bucketRegionalDomainName": f"{name}.s3.{c.region}.amazonaws.com",
        "bucketRegion": c.region,
        "region": c.region,
        "hostedZoneId": "Z3AQBSTGFYJSTF",
        **_tags(c),
    }


@resource_mock("aws:kms/key:Key")
def _aws_kms_key(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    key_id = c.uuid("kms")
    return key_id, {"keyId": key_id, "arn": c.arn("kms", f"key/{key_id}"), **_tags(c)}


@resource_mock("aws:ssm/parameter:Parameter")
def _aws_ssm_parameter(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    name = c.autoname()
    return name, {
        "name": name,
        "arn": c.arn("ssm", f"parameter/{name.lstrip('/')}"),
        "version": 1,
        **_tags(c),
    }


# --------------------------------------------------------------------------------------
# GCP


def _project_number(project: str) -> str:
    return number(12, "project-number", project)


def _gcp_compute(
    extra: Callable[[ResourceCall, dict[str, Any]], dict[str, Any]] | None = None,
) -> ResourceHandler:
    def handler(c: ResourceCall) -> tuple[str, dict[str, Any]]:
        rid, out = _gcp_generic(c)
        if extra is not None:
            out.update(extra(c, out))
        return rid, out

    return handler


resource_mock("gcp:compute/network:Network")(
    _gcp_compute(lambda c, _o: {"networkId": c.number(19, "id"), "numericId": c.number(19, "id")})
)


@resource_mock("gcp:compute/subnetwork:Subnetwork")
def _gcp_subnetwork(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    rid, out = _gcp_generic(c)
    cidr = c.get("ipCidrRange")
    gateway = ""
    if isinstance(cidr, str):
        gateway = str(ipaddress.ip_network(cidr, strict=False).network_address + 1)
    out.update(
        {
            "gatewayAddress": gateway,
            "subnetworkId": int(c.number(18, "id")),
            "fingerprint": c.hex(16, "fp"),
            "state": "READY",
        }
    )
    return rid, out


def _gcp_network_interfaces(c: ResourceCall) -> list[dict[str, Any]]:
    nics: list[dict[str, Any]] = []
    for i, nic in enumerate(c.get("networkInterfaces", []) or []):
        nic = dict(nic)
        subnet = c.mocks.lookup(nic.get("subnetwork"), "gcp:compute/subnetwork:Subnetwork") or {}
        nic["networkIp"] = c.mocks.allocate_ip(
            subnet.get("ipCidrRange") or "10.128.0.0/20", f"{c.seed}#{i}", nic.get("networkIp")
        )
        nic.setdefault("name", f"nic{i}")
        if subnet:
            nic["subnetwork"] = subnet.get("selfLink", nic.get("subnetwork"))
            nic.setdefault("network", subnet.get("network"))
        nic["accessConfigs"] = [
            {**ac, "natIp": ac.get("natIp") or _public_ip(f"{c.seed}#{i}#{j}")}
            for j, ac in enumerate(nic.get("accessConfigs") or [])
        ]
        nics.append(nic)
    return nics


@resource_mock("gcp:compute/instance:Instance")
def _gcp_instance(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    rid, out = _gcp_generic(c)
    out.update(
        {
            "networkInterfaces": _gcp_network_interfaces(c),
            "instanceId": c.number(19, "id"),
            "currentStatus": "RUNNING",
            "cpuPlatform": "Intel Cascade Lake",
            "metadataFingerprint": c.hex(16, "mfp"),
            "labelFingerprint": c.hex(16, "lfp"),
            "tagsFingerprint": c.hex(16, "tfp"),
            **_gcp_labels(c),
        }
    )
    return rid, out


def _template_extra(c: ResourceCall, out: dict[str, Any]) -> dict[str, Any]:
    return {
        "selfLinkUnique": f"{out.get('selfLink')}?uniqueId={c.number(19, 'uid')}",
        "numericId": c.number(19, "id"),
        "metadataFingerprint": c.hex(16, "mfp"),
        "tagsFingerprint": c.hex(16, "tfp"),
        **_gcp_labels(c),
    }


resource_mock(
    "gcp:compute/instanceTemplate:InstanceTemplate",
    "gcp:compute/regionInstanceTemplate:RegionInstanceTemplate",
)(_gcp_compute(_template_extra))


def _igm_extra(c: ResourceCall, out: dict[str, Any]) -> dict[str, Any]:
    group = str(out.get("selfLink", "")).replace("/instanceGroupManagers/", "/instanceGroups/")
    return {
        "instanceGroup": group,
        "instanceGroupManagerId": int(c.number(18, "id")),
        "fingerprint": c.hex(16, "fp"),
        "statuses": [{"isStable": True}],
    }


resource_mock(
    "gcp:compute/instanceGroupManager:InstanceGroupManager",
    "gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager",
)(_gcp_compute(_igm_extra))


resource_mock("gcp:compute/disk:Disk")(
    _gcp_compute(
        lambda c, _o: {
            "diskId": c.number(19, "id"),
            "labelFingerprint": c.hex(16, "lfp"),
            "users": [],
            **_gcp_labels(c),
        }
    )
)


def _gcp_ip(c: ResourceCall, requested_key: str) -> str:
    requested = c.get(requested_key)
    if c.get("addressType") == "INTERNAL" or str(c.get("loadBalancingScheme", "")).startswith(
        "INTERNAL"
    ):
        subnet = c.mocks.lookup(c.get("subnetwork"), "gcp:compute/subnetwork:Subnetwork") or {}
        return c.mocks.allocate_ip(subnet.get("ipCidrRange") or "10.128.0.0/20", c.seed, requested)
    return str(requested or _public_ip(c.seed))


resource_mock("gcp:compute/address:Address", "gcp:compute/globalAddress:GlobalAddress")(
    _gcp_compute(
        lambda c, _o: {
            "address": _gcp_ip(c, "address"),
            "addressId": int(c.number(18, "id")),
            "users": [],
            "labelFingerprint": c.hex(16, "lfp"),
            **_gcp_labels(c),
        }
    )
)


def _forwarding_rule_extra(c: ResourceCall, _out: dict[str, Any]) -> dict[str, Any]:
    requested = c.get("ipAddress")
    address = c.mocks.lookup(
        requested, "gcp:compute/address:Address", "gcp:compute/globalAddress:GlobalAddress"
    )
    ip = str(address.get("address")) if address else _gcp_ip(c, "ipAddress")
    return {
        "ipAddress": ip,
        "forwardingRuleId": int(c.number(18, "id")),
        "labelFingerprint": c.hex(16, "lfp"),
        "pscConnectionStatus": "",
        **_gcp_labels(c),
    }


resource_mock(
    "gcp:compute/forwardingRule:ForwardingRule",
    "gcp:compute/globalForwardingRule:GlobalForwardingRule",
)(_gcp_compute(_forwarding_rule_extra))

resource_mock(
    "gcp:compute/backendService:BackendService",
    "gcp:compute/regionBackendService:RegionBackendService",
)(
    _gcp_compute(
        lambda c, _o: {"generatedId": int(c.number(9, "id")), "fingerprint": c.hex(16, "fp")}
    )
)


@resource_mock(
    "gcp:compute/healthCheck:HealthCheck", "gcp:compute/regionHealthCheck:RegionHealthCheck"
)
def _gcp_health_check(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    rid, out = _gcp_generic(c)
    kinds = ["tcp", "http", "https", "http2", "ssl", "grpc"]
    kind = next((k for k in kinds if c.get(f"{k}HealthCheck")), "tcp")
    out.update({"type": kind.upper(), "healthCheckId": int(c.number(18, "id"))})
    return rid, out


@resource_mock("gcp:compute/routerNat:RouterNat")
def _gcp_router_nat(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    name = c.autoname()
    return f"{c.project}/{c.gcp_region}/{c.get('router', '')}/{name}", {
        "name": name,
        "project": c.project,
        "region": c.gcp_region,
    }


@resource_mock("gcp:compute/attachedDisk:AttachedDisk")
def _gcp_attached_disk(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    instance = str(c.get("instance", "")).rsplit("/", 1)[-1]
    disk = str(c.get("disk", "")).rsplit("/", 1)[-1]
    return f"projects/{c.project}/zones/{c.gcp_zone}/instances/{instance}/{disk}", {
        "project": c.project,
        "zone": c.gcp_zone,
        "deviceName": c.get("deviceName", disk),
    }


@resource_mock("gcp:dns/managedZone:ManagedZone")
def _gcp_managed_zone(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    name = c.autoname()
    shard = int.from_bytes(digest(c.seed, "ns")[:1], "big") % 5 + 1
    return f"projects/{c.project}/managedZones/{name}", {
        "name": name,
        "project": c.project,
        "managedZoneId": int(c.number(18, "id")),
        "nameServers": [f"ns-cloud-{x}{shard}.googledomains.com." for x in "abcd"],
        "creationTime": EPOCH,
        "visibility": c.get("visibility", "public"),
        **_gcp_labels(c),
    }


@resource_mock("gcp:dns/recordSet:RecordSet")
def _gcp_record_set(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    zone = str(c.get("managedZone", "")).rsplit("/", 1)[-1]
    return (
        f"projects/{c.project}/managedZones/{zone}/rrsets/{c.get('name', c.name)}/{c.get('type', 'A')}",
        {"project": c.project},
    )


@resource_mock("gcp:serviceaccount/account:Account")
def _gcp_service_account(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    account_id = str(c.get("accountId", c.name))
    email = f"{account_id}@{c.project}.iam.gserviceaccount.com"
    rid = f"projects/{c.project}/serviceAccounts/{email}"
    return rid, {
        "email": email,
        "name": rid,
        "member": f"serviceAccount:{email}",
        "uniqueId": c.number(21, "uid"),
        "project": c.project,
    }


def _gcp_iam_member(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    target = next(
        (
            str(c.inputs[k])
            for k in (
                "serviceAccountId",
                "secretId",
                "bucket",
                "project",
                "cryptoKeyId",
                "instanceName",
            )
            if c.inputs.get(k)
        ),
        c.project,
    )
    etag = "BwY" + base64.b64encode(digest(c.seed, "etag")[:6]).decode()
    return f"{target}/{c.get('role', '')}/{c.get('member', '')}", {"etag": etag}


for _token in [
    "gcp:projects/iAMMember:IAMMember",
    "gcp:serviceaccount/iAMMember:IAMMember",
    "gcp:serviceaccount/iAMBinding:IAMBinding",
    "gcp:secretmanager/secretIamMember:SecretIamMember",
    "gcp:storage/bucketIAMMember:BucketIAMMember",
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember",
]:
    resource_mock(_token)(_gcp_iam_member)


@resource_mock("gcp:secretmanager/secret:Secret")
def _gcp_secret(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    secret_id = str(c.get("secretId", c.name))
    return f"projects/{c.project}/secrets/{secret_id}", {
        "name": f"projects/{_project_number(c.project)}/secrets/{secret_id}",
        "project": c.project,
        "createTime": EPOCH,
        **_gcp_labels(c),
    }


@resource_mock("gcp:secretmanager/secretVersion:SecretVersion")
def _gcp_secret_version(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    secret = c.mocks.lookup(c.get("secret"), "gcp:secretmanager/secret:Secret") or {}
    secret_name = str(secret.get("name") or c.get("secret", ""))
    name = f"{secret_name}/versions/1"
    return name, {
        "name": name,
        "version": "1",
        "createTime": EPOCH,
        "enabled": c.get("enabled", True),
    }


@resource_mock("gcp:storage/bucket:Bucket")
def _gcp_bucket(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    name = c.autoname().lower()
    return name, {
        "name": name,
        "project": c.project,
        "url": f"gs://{name}",
        "selfLink": f"{_GOOGLEAPIS}/storage/v1/b/{name}",
        "projectNumber": int(_project_number(c.project)),
        "timeCreated": EPOCH,
        **_gcp_labels(c),
    }


@resource_mock("gcp:iam/workloadIdentityPool:WorkloadIdentityPool")
def _gcp_wif_pool(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    pool = str(c.get("workloadIdentityPoolId", c.name))
    return f"projects/{c.project}/locations/global/workloadIdentityPools/{pool}", {
        "name": f"projects/{_project_number(c.project)}/locations/global/workloadIdentityPools/{pool}",
        "state": "ACTIVE",
        "project": c.project,
    }


@resource_mock("gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider")
def _gcp_wif_provider(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    pool = str(c.get("workloadIdentityPoolId", "pool"))
    provider = str(c.get("workloadIdentityPoolProviderId", c.name))
    path = f"locations/global/workloadIdentityPools/{pool}/providers/{provider}"
    return f"projects/{c.project}/{path}", {
        "name": f"projects/{_project_number(c.project)}/{path}",
        "state": "ACTIVE",
        "project": c.project,
    }


@resource_mock("gcp:kms/keyRing:KeyRing")
def _gcp_key_ring(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    name = c.autoname()
    return f"projects/{c.project}/locations/{c.get('location', 'global')}/keyRings/{name}", {
        "name": name,
        "project": c.project,
    }


@resource_mock("gcp:kms/cryptoKey:CryptoKey")
def _gcp_crypto_key(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    name = c.autoname()
    return f"{c.get('keyRing', '')}/cryptoKeys/{name}", {"name": name, **_gcp_labels(c)}


# --------------------------------------------------------------------------------------
# TLS: real, parseable key material, because the program parses it (kubeadm's CA cert
# hash, JWKS from public keys). Deterministic all the same: Ed25519 and ECDSA keys come
# straight from a seed, RSA primes from a seeded search, ECDSA signatures use RFC 6979,
# OpenSSH check-ints are seeded and certificates start at EPOCH. Never secret (anyone
# with the URN can recompute them), so certificates say so in a Netscape comment.
# If an input PEM cannot be parsed, PEM-shaped placeholders stand in.

_PEM_MARK = "FLEETFORM+OFFLINE+MOCK+NOT+A+REAL+"
_MOCK_COMMENT = b"fleetform offline mock - deterministic, not a real certificate"
_EPOCH_DT = datetime.datetime(EPOCH_YEAR, 1, 1, tzinfo=datetime.UTC)
_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "P224": ec.SECP224R1,
    "P256": ec.SECP256R1,
    "P384": ec.SECP384R1,
    "P521": ec.SECP521R1,
}
_KEY_USAGES = {
    "digital_signature": "digital_signature",
    "content_commitment": "content_commitment",
    "key_encipherment": "key_encipherment",
    "data_encipherment": "data_encipherment",
    "key_agreement": "key_agreement",
    "cert_signing": "key_cert_sign",
    "crl_signing": "crl_sign",
    "encipher_only": "encipher_only",
    "decipher_only": "decipher_only",
}
_EXT_KEY_USAGES = {
    "any_extended": "2.5.29.37.0",
    "server_auth": "1.3.6.1.5.5.7.3.1",
    "client_auth": "1.3.6.1.5.5.7.3.2",
    "code_signing": "1.3.6.1.5.5.7.3.3",
    "email_protection": "1.3.6.1.5.5.7.3.4",
    "ipsec_end_system": "1.3.6.1.5.5.7.3.5",
    "ipsec_tunnel": "1.3.6.1.5.5.7.3.6",
    "ipsec_user": "1.3.6.1.5.5.7.3.7",
    "timestamping": "1.3.6.1.5.5.7.3.8",
    "ocsp_signing": "1.3.6.1.5.5.7.3.9",
    "microsoft_server_gated_crypto": "1.3.6.1.4.1.311.10.3.3",
    "netscape_server_gated_crypto": "2.16.840.1.113730.4.1",
}
_SUBJECT_FIELDS = [
    ("country", NameOID.COUNTRY_NAME),
    ("province", NameOID.STATE_OR_PROVINCE_NAME),
    ("locality", NameOID.LOCALITY_NAME),
    ("streetAddresses", NameOID.STREET_ADDRESS),
    ("postalCode", NameOID.POSTAL_CODE),
    ("organization", NameOID.ORGANIZATION_NAME),
    ("organizationalUnit", NameOID.ORGANIZATIONAL_UNIT_NAME),
    ("commonName", NameOID.COMMON_NAME),
    ("serialNumber", NameOID.SERIAL_NUMBER),
    ("emailAddress", NameOID.EMAIL_ADDRESS),
]


def mock_pem(label: str, seed: str, lines: int = 6) -> str:
    """A PEM-shaped placeholder whose base64 body spells out that it is a mock."""
    what = {"CERTIFICATE": "CERT", "CERTIFICATE REQUEST": "CSR", "PUBLIC KEY": "PUBKEY"}.get(
        label, "KEY"
    )
    body = _PEM_MARK + what + "+" + base64.b64encode(stream(48 * lines, label, seed)).decode()
    body = body[: (len(body) // 4) * 4]
    wrapped = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {label}-----\n{wrapped}\n-----END {label}-----\n"


def _small_primes(limit: int) -> list[int]:
    flags = bytearray([1]) * limit
    flags[0:2] = b"\0\0"
    for i in range(2, int(limit**0.5) + 1):
        if flags[i]:
            flags[i * i :: i] = bytearray(len(flags[i * i :: i]))
    return [i for i, flag in enumerate(flags) if flag]


_ODD_PRIMES = _small_primes(1 << 15)[1:]


def _miller_rabin(n: int, bases: Iterable[int]) -> bool:
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for a in bases:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


# Bases that confirm a candidate which passed the base-2 test. A random composite of
# 512+ bits passes one strong base-2 test with probability far below 2^-40, so two
# more bases find the same "first probable prime" as twenty did (every mock key stays
# byte-identical) at a third of the cost: key generation was the largest single cost of
# an offline run (see docs/benchmarks.md).
_CONFIRM_BASES = (3, 5)


def _seeded_prime(bits: int, *seed: object) -> int:
    """The first probable prime at or after a seeded odd start with the top two bits set
    (so p*q has exactly 2*bits bits); a sieve over a window keeps Miller-Rabin rare."""
    start = int.from_bytes(stream(bits // 8, *seed), "big") | (3 << (bits - 2)) | 1
    window = 1 << 12
    while True:
        candidates = bytearray([1]) * window  # candidates[k] stands for start + 2k
        for p in _ODD_PRIMES:
            first = (-start * pow(2, -1, p)) % p
            candidates[first::p] = bytearray(len(candidates[first::p]))
        for k, alive in enumerate(candidates):
            n = start + 2 * k
            if alive and _miller_rabin(n, [2]) and _miller_rabin(n, _CONFIRM_BASES):
                return n
        start += 2 * window


@functools.lru_cache(maxsize=64)
def _rsa_key(bits: int, seed: str) -> rsa.RSAPrivateKey:
    e = 65537
    p = q = 0
    for attempt in range(64):
        p = _seeded_prime(bits // 2, seed, "rsa-p", attempt)
        if (p - 1) % e:
            break
    for attempt in range(64):
        q = _seeded_prime(bits - bits // 2, seed, "rsa-q", attempt)
        if q != p and (q - 1) % e:
            break
    d = pow(e, -1, (p - 1) * (q - 1))
    public = rsa.RSAPublicNumbers(e, p * q)
    numbers = rsa.RSAPrivateNumbers(
        p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q), public
    )
    return numbers.private_key()


def _private_key(algorithm: str, curve: str, rsa_bits: int, seed: str) -> PrivateKeyTypes:
    if algorithm == "ED25519":
        return ed25519.Ed25519PrivateKey.from_private_bytes(stream(32, seed, "ed25519"))
    if algorithm == "ECDSA":
        curve_obj = _CURVES.get(curve, ec.SECP224R1)()
        size = curve_obj.key_size
        # One bit short of the curve size keeps the scalar below the group order.
        raw = int.from_bytes(stream(size // 8 + 1, seed, "ecdsa"), "big")
        scalar = raw >> ((size // 8 + 1) * 8 - (size - 1))
        return ec.derive_private_key(max(scalar, 1), curve_obj)
    return _rsa_key(rsa_bits, seed)


def _algorithm_of(key: PrivateKeyTypes | PublicKeyTypes) -> str:
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "RSA"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return "ECDSA"
    return "ED25519"


def _seeded_openssh(pem: bytes, seed: str) -> str:
    """OpenSSH private key with its random check-ints replaced by seeded ones."""
    lines = pem.decode().strip().splitlines()
    blob = bytearray(base64.b64decode("".join(lines[1:-1])))
    pos = len(b"openssh-key-v1\0")
    for _ in range(3):  # cipher name, kdf name, kdf options
        pos += 4 + int.from_bytes(blob[pos : pos + 4], "big")
    pos += 4  # number of keys
    pos += 4 + int.from_bytes(blob[pos : pos + 4], "big")  # public key
    pos += 4  # length of the private section, which starts with check-int twice
    check = digest(seed, "openssh-check")[:4]
    blob[pos : pos + 8] = check + check
    body = base64.b64encode(bytes(blob)).decode()
    wrapped = "\n".join(body[i : i + 70] for i in range(0, len(body), 70))
    return f"{lines[0]}\n{wrapped}\n{lines[-1]}\n"


def _key_outputs(key: PrivateKeyTypes, seed: str) -> dict[str, Any]:
    none = serialization.NoEncryption()
    pem = serialization.Encoding.PEM
    legacy = (
        serialization.PrivateFormat.PKCS8
        if isinstance(key, ed25519.Ed25519PrivateKey)
        else serialization.PrivateFormat.TraditionalOpenSSL
    )
    public = key.public_key()
    public_pem = public.public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    out: dict[str, Any] = {
        "privateKeyPem": key.private_bytes(pem, legacy, none).decode(),
        "privateKeyPemPkcs8": key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, none
        ).decode(),
        "publicKeyPem": public_pem,
        # As the provider: empty where OpenSSH has no format (ECDSA P224).
        "privateKeyOpenssh": "",
        "publicKeyOpenssh": "",
        "publicKeyFingerprintMd5": "",
        "publicKeyFingerprintSha256": "",
    }
    try:
        openssh = public.public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        ).decode()
        private_openssh = key.private_bytes(pem, serialization.PrivateFormat.OpenSSH, none)
    except ValueError:
        return out
    blob = base64.b64decode(openssh.split()[1])
    out.update(
        {
            "privateKeyOpenssh": _seeded_openssh(private_openssh, seed),
            "publicKeyOpenssh": openssh + "\n",
            "publicKeyFingerprintMd5": ":".join(
                f"{b:02x}" for b in hashlib.md5(blob, usedforsecurity=False).digest()
            ),
            "publicKeyFingerprintSha256": "SHA256:"
            + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("="),
        }
    )
    return out


@resource_mock("tls:index/privateKey:PrivateKey")
def _tls_private_key(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    algorithm = str(c.get("algorithm", "RSA")).upper()
    curve = str(c.get("ecdsaCurve", "P224"))
    rsa_bits = int(c.get("rsaBits", 2048))
    outputs = _key_outputs(_private_key(algorithm, curve, rsa_bits, c.seed), c.seed)
    rid = hashlib.sha1(outputs["publicKeyPem"].encode(), usedforsecurity=False).hexdigest()
    return rid, {"algorithm": algorithm, "ecdsaCurve": curve, "rsaBits": rsa_bits, **outputs}


def _load_key(pem: Any) -> CertificateIssuerPrivateKeyTypes | None:
    try:
        key = serialization.load_pem_private_key(str(pem).encode(), password=None)
    except (ValueError, TypeError):
        return None
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        return key
    return None


def _x509_name(subject: Any) -> x509.Name:
    subject = subject if isinstance(subject, dict) else {}
    attributes: list[x509.NameAttribute[str]] = []
    for key, oid in _SUBJECT_FIELDS:
        values = subject.get(key)
        for value in values if isinstance(values, list) else [values]:
            if value:
                attributes.append(x509.NameAttribute(oid, str(value)))
    return x509.Name(attributes)


def _sans(dns: Any, ips: Any, uris: Any) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName(str(d)) for d in dns or []]
    names += [x509.IPAddress(ipaddress.ip_address(str(ip))) for ip in ips or []]
    names += [x509.UniformResourceIdentifier(str(u)) for u in uris or []]
    return names


def _sign_kwargs(key: CertificateIssuerPrivateKeyTypes) -> dict[str, Any]:
    """Hash and options the provider (Go's crypto/x509) would pick, deterministic ECDSA."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return {"algorithm": None}
    if isinstance(key, ec.EllipticCurvePrivateKey):
        hash_ = {384: hashes.SHA384(), 521: hashes.SHA512()}.get(
            key.curve.key_size, hashes.SHA256()
        )
        return {"algorithm": hash_, "ecdsa_deterministic": True}
    return {"algorithm": hashes.SHA256()}


def _certificate(
    c: ResourceCall,
    *,
    subject: x509.Name,
    public_key: CertificatePublicKeyTypes,
    issuer: x509.Name,
    signer: CertificateIssuerPrivateKeyTypes,
    issuer_ski: bytes | None,
    sans: list[x509.GeneralName],
) -> x509.Certificate:
    is_ca = bool(c.get("isCaCertificate", False))
    uses = [str(u) for u in c.get("allowedUses", []) or []]
    hours = int(c.get("validityPeriodHours", 0) or 0)
    serial = int.from_bytes(digest(c.seed, "serial")[:16], "big") >> 1 | 1
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(_EPOCH_DT)
        .not_valid_after(_EPOCH_DT + datetime.timedelta(hours=hours))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    flags = {attr: False for attr in _KEY_USAGES.values()}
    flags.update({_KEY_USAGES[u]: True for u in uses if u in _KEY_USAGES})
    if not flags["key_agreement"]:
        flags["encipher_only"] = flags["decipher_only"] = False
    if any(flags.values()):
        builder = builder.add_extension(x509.KeyUsage(**flags), critical=True)
    ext_uses = [x509.ObjectIdentifier(_EXT_KEY_USAGES[u]) for u in uses if u in _EXT_KEY_USAGES]
    if ext_uses:
        builder = builder.add_extension(x509.ExtendedKeyUsage(ext_uses), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    ski = x509.SubjectKeyIdentifier.from_public_key(public_key)
    if is_ca or c.get("setSubjectKeyId"):
        builder = builder.add_extension(ski, critical=False)
    if issuer_ski is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier(issuer_ski, None, None), critical=False
        )
    comment = bytes([0x16, len(_MOCK_COMMENT)]) + _MOCK_COMMENT  # DER IA5String
    builder = builder.add_extension(
        x509.UnrecognizedExtension(x509.ObjectIdentifier("2.16.840.1.113730.1.13"), comment),
        critical=False,
    )
    return builder.sign(signer, **_sign_kwargs(signer))


def _cert_outputs(c: ResourceCall, cert: x509.Certificate | None) -> dict[str, Any]:
    hours = int(c.get("validityPeriodHours", 0) or 0)
    end = _EPOCH_DT + datetime.timedelta(hours=hours)
    pem = (
        cert.public_bytes(serialization.Encoding.PEM).decode()
        if cert is not None
        else mock_pem("CERTIFICATE", c.seed, lines=10)
    )
    return {
        "certPem": pem,
        "validityStartTime": EPOCH,
        "validityEndTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "readyForRenewal": False,
    }


def _serial_id(cert: x509.Certificate | None, c: ResourceCall) -> str:
    return str(cert.serial_number) if cert is not None else c.number(38, "serial")


@resource_mock("tls:index/selfSignedCert:SelfSignedCert")
def _tls_self_signed(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    key = _load_key(c.get("privateKeyPem"))
    cert = None
    if key is not None:
        name = _x509_name(c.get("subject"))
        cert = _certificate(
            c,
            subject=name,
            public_key=key.public_key(),
            issuer=name,
            signer=key,
            issuer_ski=None,
            sans=_sans(c.get("dnsNames"), c.get("ipAddresses"), c.get("uris")),
        )
    algorithm = _algorithm_of(key) if key is not None else "RSA"
    return _serial_id(cert, c), {"keyAlgorithm": algorithm, **_cert_outputs(c, cert)}


@resource_mock("tls:index/locallySignedCert:LocallySignedCert")
def _tls_locally_signed(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    ca_key = _load_key(c.get("caPrivateKeyPem"))
    cert = None
    csr: x509.CertificateSigningRequest | None = None
    ca_cert: x509.Certificate | None = None
    with contextlib.suppress(ValueError):
        csr = x509.load_pem_x509_csr(str(c.get("certRequestPem", "")).encode())
        ca_cert = x509.load_pem_x509_certificate(str(c.get("caCertPem", "")).encode())
    if ca_key is not None and csr is not None and ca_cert is not None:
        try:
            sans = list(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
        except x509.ExtensionNotFound:
            sans = []
        try:
            issuer_ski: bytes | None = ca_cert.extensions.get_extension_for_class(
                x509.SubjectKeyIdentifier
            ).value.digest
        except x509.ExtensionNotFound:
            issuer_ski = None
        cert = _certificate(
            c,
            subject=csr.subject,
            public_key=csr.public_key(),
            issuer=ca_cert.subject,
            signer=ca_key,
            issuer_ski=issuer_ski,
            sans=sans,
        )
    algorithm = _algorithm_of(ca_key) if ca_key is not None else "RSA"
    return _serial_id(cert, c), {"caKeyAlgorithm": algorithm, **_cert_outputs(c, cert)}


@resource_mock("tls:index/certRequest:CertRequest")
def _tls_cert_request(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    key = _load_key(c.get("privateKeyPem"))
    if key is None:
        pem = mock_pem("CERTIFICATE REQUEST", c.seed, lines=8)
        algorithm = "RSA"
    else:
        builder = x509.CertificateSigningRequestBuilder().subject_name(_x509_name(c.get("subject")))
        sans = _sans(c.get("dnsNames"), c.get("ipAddresses"), c.get("uris"))
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        csr = builder.sign(key, **_sign_kwargs(key))
        pem = csr.public_bytes(serialization.Encoding.PEM).decode()
        algorithm = _algorithm_of(key)
    rid = hashlib.sha1(pem.encode(), usedforsecurity=False).hexdigest()
    return rid, {"certRequestPem": pem, "keyAlgorithm": algorithm}


# --------------------------------------------------------------------------------------
# random


_SPECIAL = "!@#$%&*()-_=+[]{}<>:?"


def _random_chars(c: ResourceCall) -> str:
    length = int(c.get("length", 16))
    classes: list[tuple[str, int]] = []
    if c.get("upper", True):
        classes.append((string.ascii_uppercase, int(c.get("minUpper", 0))))
    if c.get("lower", True):
        classes.append((string.ascii_lowercase, int(c.get("minLower", 0))))
    if c.get("numeric", c.get("number", True)):
        classes.append((string.digits, int(c.get("minNumeric", 0))))
    if c.get("special", True):
        classes.append((str(c.get("overrideSpecial") or _SPECIAL), int(c.get("minSpecial", 0))))
    alphabet = "".join(chars for chars, _ in classes) or string.ascii_letters
    data = stream(length * 2 + 64, c.seed, "chars")
    out = [alphabet[b % len(alphabet)] for b in data[:length]]
    # Satisfy the minimums deterministically by overwriting from the front.
    pos = 0
    for chars, minimum in classes:
        for k in range(minimum):
            if pos < length:
                out[pos] = chars[data[length + pos + k] % len(chars)]
                pos += 1
    return "".join(out)


@resource_mock("random:index/randomPassword:RandomPassword")
def _random_password(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    result = _random_chars(c)
    bcrypt = "$2a$10$" + base64.b64encode(digest(c.seed, "bcrypt") * 2).decode()[:53]
    return "none", {"result": result, "bcryptHash": bcrypt}


@resource_mock("random:index/randomString:RandomString")
def _random_string(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    result = _random_chars(c)
    return result, {"result": result}


@resource_mock("random:index/randomId:RandomId")
def _random_id(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    raw = stream(int(c.get("byteLength", 8)), c.seed, "id")
    prefix = str(c.get("prefix", ""))
    b64url = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return prefix + b64url, {
        "hex": prefix + raw.hex(),
        "b64Std": prefix + base64.b64encode(raw).decode(),
        "b64Url": prefix + b64url,
        "dec": prefix + str(int.from_bytes(raw, "big")),
    }


@resource_mock("random:index/randomBytes:RandomBytes")
def _random_bytes(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    raw = stream(int(c.get("length", 32)), c.seed, "bytes")
    return "none", {"base64": base64.b64encode(raw).decode(), "hex": raw.hex()}


@resource_mock("random:index/randomInteger:RandomInteger")
def _random_integer(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    low, high = int(c.get("min", 0)), int(c.get("max", 0))
    result = low + int.from_bytes(digest(c.seed, "int")[:8], "big") % max(1, high - low + 1)
    return str(result), {"result": result}


@resource_mock("random:index/randomUuid:RandomUuid")
def _random_uuid(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    result = c.uuid("uuid")
    return result, {"result": result}


_PET_ADJECTIVES = [
    "brave",
    "calm",
    "eager",
    "fancy",
    "gentle",
    "happy",
    "jolly",
    "keen",
    "lucky",
    "proud",
]
_PET_NAMES = [
    "otter",
    "lynx",
    "heron",
    "panda",
    "koala",
    "falcon",
    "badger",
    "gecko",
    "walrus",
    "yak",
]


@resource_mock("random:index/randomPet:RandomPet")
def _random_pet(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    length = int(c.get("length", 2))
    data = digest(c.seed, "pet")
    words = [_PET_ADJECTIVES[data[i] % len(_PET_ADJECTIVES)] for i in range(length - 1)]
    words.append(_PET_NAMES[data[-1] % len(_PET_NAMES)])
    if c.get("prefix"):
        words.insert(0, str(c.get("prefix")))
    return str(c.get("separator", "-")).join(words), {}


@resource_mock("random:index/randomShuffle:RandomShuffle")
def _random_shuffle(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    items = list(c.get("inputs", []))
    ordered = sorted(items, key=lambda v: digest(c.seed, "shuffle", v))
    count = int(c.get("resultCount", len(ordered)) or len(ordered))
    return "-", {"results": ordered[:count]}


# --------------------------------------------------------------------------------------
# Kubernetes


def _kubernetes(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    metadata = dict(c.get("metadata", {}) or {})
    if not metadata.get("name"):
        metadata["name"] = f"{c.name}-{c.hex(8, 'k8s')}"
    metadata.update(
        {
            "uid": c.uuid("uid"),
            "resourceVersion": str(int(c.number(6, "rv"))),
            "generation": 1,
            "creationTimestamp": EPOCH,
        }
    )
    namespace = metadata.get("namespace")
    rid = f"{namespace}/{metadata['name']}" if namespace else str(metadata["name"])
    return rid, {"metadata": metadata}


# --------------------------------------------------------------------------------------
# Invokes


@invoke_mock("aws:ec2/getAmi:getAmi")
def _get_ami(i: InvokeCall) -> dict[str, Any]:
    filters = {f.get("name"): f.get("values", []) for f in i.args.get("filters", []) or []}
    name_pattern = (filters.get("name") or [i.args.get("nameRegex", "fleetform-node-*")])[0]
    arch = (filters.get("architecture") or ["x86_64"])[0]
    owners = i.args.get("owners") or ["099720109477"]
    owner = next((o for o in owners if str(o).isdigit()), "099720109477")
    image_id = f"ami-{i.hex(17)}"
    name = re.sub(r"[*?]", "", str(name_pattern)).strip("-_.") + "-20250101"
    return {
        "id": image_id,
        "imageId": image_id,
        "arn": f"arn:aws:ec2:{i.region}::image/{image_id}",
        "name": name,
        "architecture": arch,
        "ownerId": owner,
        "owners": owners,
        "imageOwnerAlias": "amazon" if owner == "amazon" else "",
        "imageLocation": f"{owner}/{name}",
        "imageType": "machine",
        "creationDate": "2025-01-01T00:00:00.000Z",
        "description": f"{name} (fleetform offline mock)",
        "rootDeviceName": "/dev/sda1",
        "rootDeviceType": "ebs",
        "rootSnapshotId": f"snap-{i.hex(17, 'snap')}",
        "virtualizationType": "hvm",
        "hypervisor": "xen",
        "enaSupport": True,
        "bootMode": "uefi-preferred",
        "platformDetails": "Linux/UNIX",
        "usageOperation": "RunInstances",
        "state": "available",
        "public": True,
        "mostRecent": bool(i.args.get("mostRecent", False)),
        "region": i.region,
        "filters": i.args.get("filters", []),
        "tags": {},
        "blockDeviceMappings": [
            {
                "deviceName": "/dev/sda1",
                "ebs": {"volume_size": "8", "volume_type": "gp3", "delete_on_termination": "true"},
                "noDevice": "",
                "virtualName": "",
            }
        ],
        "productCodes": [],
        "stateReason": {"code": "UNSET", "message": "UNSET"},
    }


@invoke_mock("aws:index/getAvailabilityZones:getAvailabilityZones")
def _get_azs(i: InvokeCall) -> dict[str, Any]:
    region = i.region
    excluded = set(i.args.get("excludeNames", []) or [])
    excluded_ids = set(i.args.get("excludeZoneIds", []) or [])
    zones = [
        (f"{region}{letter}", f"{_az_id_prefix(region)}-az{n}")
        for n, letter in enumerate("abc", start=1)
    ]
    zones = [(z, zid) for z, zid in zones if z not in excluded and zid not in excluded_ids]
    return {
        "id": region,
        "names": [z for z, _ in zones],
        "zoneIds": [zid for _, zid in zones],
        "groupNames": [region] * len(zones),
        "state": i.args.get("state", "available"),
        "region": region,
    }


@invoke_mock("aws:index/getCallerIdentity:getCallerIdentity")
def _get_caller_identity(_i: InvokeCall) -> dict[str, Any]:
    return {
        "id": ACCOUNT_ID,
        "accountId": ACCOUNT_ID,
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/fleetform-offline",
        "userId": "AIDAFLEETFORMOFFLINE",
    }


@invoke_mock("aws:index/getRegion:getRegion")
def _get_region(i: InvokeCall) -> dict[str, Any]:
    region = str(i.args.get("name") or i.region)
    return {
        "id": region,
        "name": region,
        "region": region,
        "endpoint": f"ec2.{region}.amazonaws.com",
        "description": f"{region} (fleetform offline mock)",
    }


@invoke_mock("aws:route53/getZone:getZone")
def _get_zone(i: InvokeCall) -> dict[str, Any]:
    """An existing hosted zone, found by name or id."""
    name = str(i.args.get("name") or "example.com").rstrip(".")
    zone_id = str(
        i.args.get("zoneId") or "Z" + base64.b32encode(digest("zone", name)).decode()[:20]
    )
    n = int.from_bytes(digest(zone_id, "ns")[:4], "big")
    name_servers = [
        f"ns-{(n + k * 517) % 2048}.awsdns-{(n >> 11) % 64 + k:02d}.{tld}"
        for k, tld in enumerate(["com", "net", "org", "co.uk"])
    ]
    return {
        "id": zone_id,
        "zoneId": zone_id,
        "name": name,
        "arn": f"arn:aws:route53:::hostedzone/{zone_id}",
        "nameServers": name_servers,
        "primaryNameServer": name_servers[0],
        "privateZone": bool(i.args.get("privateZone", False)),
        "vpcId": i.args.get("vpcId", ""),
        "comment": "fleetform offline mock",
        "callerReference": f"fleetform-{zone_id}",
        "resourceRecordSetCount": 2,
        "tags": i.args.get("tags", {}),
        "linkedServiceDescription": "",
        "linkedServicePrincipal": "",
    }


def _one_or_many(values: Iterable[Any]) -> Any:
    """The AWS provider renders a single-element set as a bare string."""
    items = list(values)
    return items[0] if len(items) == 1 else items


def _policy_statement(raw: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if raw.get("sid"):
        out["Sid"] = raw["sid"]
    out["Effect"] = raw.get("effect") or "Allow"
    for key, wire in [
        ("actions", "Action"),
        ("notActions", "NotAction"),
        ("resources", "Resource"),
        ("notResources", "NotResource"),
    ]:
        if raw.get(key):
            out[wire] = _one_or_many(raw[key])
    for key, wire in [("principals", "Principal"), ("notPrincipals", "NotPrincipal")]:
        principals = raw.get(key) or []
        if not principals:
            continue
        if any(p.get("type") == "*" for p in principals):
            out[wire] = "*"
            continue
        by_type: dict[str, list[Any]] = {}
        for p in principals:
            by_type.setdefault(str(p.get("type")), []).extend(p.get("identifiers") or [])
        out[wire] = {t: _one_or_many(ids) for t, ids in by_type.items()}
    conditions = raw.get("conditions") or []
    if conditions:
        cond: dict[str, dict[str, Any]] = {}
        for item in conditions:
            cond.setdefault(str(item.get("test")), {})[str(item.get("variable"))] = _one_or_many(
                item.get("values") or []
            )
        out["Condition"] = cond
    return out


def _merge_by_sid(base: list[dict[str, Any]], extra: list[dict[str, Any]]) -> list[dict[str, Any]]:
    merged = list(base)
    for statement in extra:
        sid = statement.get("Sid")
        index = next((n for n, s in enumerate(merged) if sid and s.get("Sid") == sid), None)
        if index is None:
            merged.append(statement)
        else:
            merged[index] = statement
    return merged


@invoke_mock("aws:iam/getPolicyDocument:getPolicyDocument")
def _get_policy_document(i: InvokeCall) -> dict[str, Any]:
    """A real IAM JSON policy, merged like the provider does (source <- own <- override)."""
    statements: list[dict[str, Any]] = []
    for doc in i.args.get("sourcePolicyDocuments", []) or []:
        statements = _merge_by_sid(statements, json.loads(doc).get("Statement", []))
    statements = _merge_by_sid(
        statements, [_policy_statement(s) for s in i.args.get("statements", []) or []]
    )
    for doc in i.args.get("overridePolicyDocuments", []) or []:
        statements = _merge_by_sid(statements, json.loads(doc).get("Statement", []))
    policy: dict[str, Any] = {"Version": i.args.get("version") or "2012-10-17"}
    if i.args.get("policyId"):
        policy["Id"] = i.args["policyId"]
    policy["Statement"] = statements
    text = json.dumps(policy, indent=2)
    return {
        "id": str(int.from_bytes(digest(text)[:4], "big")),
        "json": text,
        "minifiedJson": json.dumps(policy, separators=(",", ":")),
        "statements": i.args.get("statements", []),
        "version": policy["Version"],
    }


@invoke_mock("gcp:compute/getImage:getImage")
def _gcp_get_image(i: InvokeCall) -> dict[str, Any]:
    project = str(i.args.get("project") or i.project)
    family = i.args.get("family")
    name = str(i.args.get("name") or f"{family or 'image'}-v20250101")
    rid = f"projects/{project}/global/images/{name}"
    return {
        "id": rid,
        "name": name,
        "family": family or "",
        "project": project,
        "selfLink": f"{_GOOGLEAPIS}/compute/v1/{rid}",
        "imageId": number(19, "image", rid),
        "diskSizeGb": 10,
        "archiveSizeBytes": 0,
        "status": "READY",
        "creationTimestamp": EPOCH,
        "description": f"{name} (fleetform offline mock)",
        "labels": {},
        "licenses": [],
        "labelFingerprint": i.hex(16, "lfp"),
        "sourceDisk": "",
        "sourceDiskId": "",
        "sourceImageId": "",
    }


@invoke_mock("gcp:compute/getZones:getZones")
def _gcp_get_zones(i: InvokeCall) -> dict[str, Any]:
    region = i.gcp_region
    return {
        "id": f"projects/{i.project}/regions/{region}",
        "names": [f"{region}-{letter}" for letter in "abc"],
        "project": i.project,
        "region": region,
        "status": i.args.get("status", "UP"),
    }


@invoke_mock("gcp:organizations/getProject:getProject")
def _gcp_get_project(i: InvokeCall) -> dict[str, Any]:
    project = i.project
    return {
        "id": f"projects/{project}",
        "projectId": project,
        "name": project,
        "number": _project_number(project),
        "orgId": number(12, "org"),
        "autoCreateNetwork": True,
        "labels": {},
        "effectiveLabels": {},
        "pulumiLabels": {},
    }
