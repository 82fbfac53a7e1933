"""What every rule stands on: the values a rule cannot see, what a rule sees (Subject,
Options, Context), the rule registry and the facts fleetform's resources carry (types,
roles, tags). Nothing here imports Pulumi."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

# ---------------------------------------------------------------- values we cannot see


# libyaml's parser (in the pinned PyYAML wheel) under the same SafeLoader constructors
# and resolvers: the same values, ~10x faster than the pure-Python reader, scanner and
# parser, which were most of a policy pass over large fleets' boot documents.
_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load(text)`` on libyaml."""
    return yaml.load(text, Loader=_SAFE_LOADER)


def load_yaml_all(text: str) -> Iterator[Any]:
    """``yaml.safe_load_all(text)`` on libyaml."""
    return yaml.load_all(text, Loader=_SAFE_LOADER)


class _UnknownValue:
    """A value the engine does not know yet (``pulumi preview`` of a new resource)."""

    _instance: _UnknownValue | None = None

    def __new__(cls) -> _UnknownValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN: Any = _UnknownValue()
# How the offline engine shows a secret input (fleetform.engine.records.SECRET_MASK).
MASKED = "[secret]"


class Unknown(Exception):
    """A rule needed a value that is unknown (preview) or masked (secret)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def _seen(value: Any, what: str) -> Any:
    if value is UNKNOWN or value == MASKED:
        raise Unknown(what)
    return value


# ---------------------------------------------------------------- what a rule sees


@dataclass(frozen=True)
class Options:
    """The resource options and graph facts a rule may use."""

    urn: str = ""
    name: str = ""
    parent: str | None = None
    protect: bool = False
    dependencies: tuple[str, ...] = ()
    # property name -> URNs its value came from (CrossGuard stack validation knows them).
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # True when secret values are masked in ``inputs`` (the offline engine): every other
    # string is then known to be stored in plain text and may be scanned for secrets.
    secrets_masked: bool = False


@dataclass(frozen=True)
class Subject:
    """One resource: its type, its properties and its options."""

    type: str
    inputs: Mapping[str, Any]
    options: Options

    @property
    def urn(self) -> str:
        return self.options.urn


@dataclass(frozen=True)
class Context:
    """Stack-wide facts that are not resource data."""

    # Clusters (names or incarnation keys) with ``decommission: true``: their etcd data
    # disks are deliberately unprotected (step one of the two-step removal).
    decommissioning: frozenset[str] = frozenset()
    # A production stack (``is_production_stack``): controls that protect against
    # accidents (deletion protection) are mandatory there.
    production: bool = False


PRODUCTION_STACKS = ("prod", "production")


def is_production_stack(stack: str) -> bool:
    """``prod``, ``production`` and their suffixed forms (``prod-eu``) are production."""
    return any(stack == s or stack.startswith(f"{s}-") for s in PRODUCTION_STACKS)


ResourceCheck = Callable[[str, Mapping[str, Any], Options], Iterable[str]]
StackCheck = Callable[[Sequence[Subject], Context], Iterable[tuple[str, str]]]


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    # Which promise of docs/security.md the rule keeps, and the CIS items it covers.
    cis: tuple[str, ...] = ()
    enforcement: str = "mandatory"
    resource_check: ResourceCheck | None = None
    stack_check: StackCheck | None = None


RuleDecorator = Callable[..., Callable[[Any], Any]]


def registry(into: list[Rule]) -> RuleDecorator:
    """A ``rule`` decorator that registers into ``into`` (each concern module keeps its
    own list; the package lists them in the pack's order)."""

    def rule(name: str, description: str, *, cis: Sequence[str] = (), stack: bool = False,
             enforcement: str = "mandatory") -> Callable[[Any], Any]:
        """Register a check function as a rule (``stack=True``: a stack rule)."""

        def register(fn: Any) -> Any:
            into.append(Rule(
                name=name, description=description, cis=tuple(cis), enforcement=enforcement,
                resource_check=None if stack else fn, stack_check=fn if stack else None))
            return fn

        return register

    return rule


# ---------------------------------------------------------------- resource facts

AWS_INSTANCE = "aws:ec2/instance:Instance"
AWS_SPOT = "aws:ec2/spotInstanceRequest:SpotInstanceRequest"
AWS_LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
AWS_LAUNCH_CONFIGURATION = "aws:ec2/launchConfiguration:LaunchConfiguration"
AWS_VOLUME = "aws:ebs/volume:Volume"
AWS_VOLUME_ATTACHMENT = "aws:ec2/volumeAttachment:VolumeAttachment"
AWS_SG = "aws:ec2/securityGroup:SecurityGroup"
AWS_SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
AWS_SG_INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
AWS_SUBNET = "aws:ec2/subnet:Subnet"
AWS_EIP = "aws:ec2/eip:Eip"
AWS_EIP_ASSOCIATION = "aws:ec2/eipAssociation:EipAssociation"
GCP_INSTANCE = "gcp:compute/instance:Instance"
GCP_TEMPLATE = "gcp:compute/instanceTemplate:InstanceTemplate"
GCP_REGION_TEMPLATE = "gcp:compute/regionInstanceTemplate:RegionInstanceTemplate"
GCP_FROM_TEMPLATE = "gcp:compute/instanceFromTemplate:InstanceFromTemplate"
GCP_DISK = "gcp:compute/disk:Disk"
GCP_REGION_DISK = "gcp:compute/regionDisk:RegionDisk"
GCP_FIREWALL = "gcp:compute/firewall:Firewall"
TLS_SELF_SIGNED = "tls:index/selfSignedCert:SelfSignedCert"
TLS_PRIVATE_KEY = "tls:index/privateKey:PrivateKey"
# Dynamic resources (the phase gates: migration, CA rotation, upgrades).
DYNAMIC = "pulumi-python:dynamic:Resource"

AWS_MACHINES = frozenset({AWS_INSTANCE, AWS_SPOT, AWS_LAUNCH_TEMPLATE, AWS_LAUNCH_CONFIGURATION})
GCP_MACHINES = frozenset({GCP_INSTANCE, GCP_TEMPLATE, GCP_REGION_TEMPLATE, GCP_FROM_TEMPLATE})
MACHINES = AWS_MACHINES | GCP_MACHINES
ETCD_DISKS = frozenset({AWS_VOLUME, GCP_DISK, GCP_REGION_DISK})

ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
ROLES = ("etcd", "control_plane", "worker")
_PLANE_COMPONENTS = {
    "fleetform:index:EtcdDataPlane": "etcd",
    "fleetform:index:ControlPlane": "control_plane",
    "fleetform:index:WorkerPlane": "worker",
}


def urn_type(urn: str) -> str:
    """The resource's own type token from its URN ('' if it is no URN)."""
    parts = urn.split("::")
    return parts[2].split("$")[-1] if len(parts) >= 4 else ""


def ancestry(urn: str) -> tuple[str, ...]:
    """The type tokens of the resource's parents, outermost first, then its own."""
    parts = urn.split("::")
    return tuple(parts[2].split("$")) if len(parts) >= 4 else ()


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    if isinstance(value, list | tuple):
        return list(value)
    return [] if value is None else [value]


def tags(inputs: Mapping[str, Any]) -> dict[str, str]:
    """AWS tags (``tagsAll`` under ``tags``) or GCP labels, as strings."""
    merged: dict[str, str] = {}
    for key in ("tagsAll", "tags", "labels"):
        for k, v in _dict(inputs.get(key)).items():
            if isinstance(v, str):
                merged[str(k)] = v
    return merged


def machine_role(type_: str, inputs: Mapping[str, Any], options: Options) -> str | None:
    """etcd / control_plane / worker, from fleetform's ``plane`` tag or the component tree."""
    plane = tags(inputs).get("plane")
    if plane in ROLES:
        return plane
    if "etcd-member" in tags(inputs):
        return "etcd"
    for component in reversed(ancestry(options.urn)):
        if component in _PLANE_COMPONENTS:
            return _PLANE_COMPONENTS[component]
    return None


def incarnation(inputs: Mapping[str, Any]) -> str:
    t = tags(inputs)
    return t.get("incarnation") or t.get("cluster") or ""



def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"

