"""What every provider's mocks share: deterministic values, the handler contexts and
the tables that map a type token to its handler."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from fleetform.engine.checks import autoname as provider_autoname

ACCOUNT_ID = "123456789012"
DEFAULT_AWS_REGION = "us-east-1"
DEFAULT_GCP_PROJECT = "fleetform-offline"
DEFAULT_GCP_REGION = "us-central1"
# Fixed instant for every timestamp the mocks hand out (creation times, cert validity).
EPOCH = "2025-01-01T00:00:00Z"
EPOCH_YEAR = 2025
GOOGLEAPIS = "https://www.googleapis.com"

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


def plain_value(value: Any) -> Any:
    """Unwrap Pulumi secret sentinels (present when used under the stock MockMonitor)."""
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return plain_value(value.get("value"))
        return {k: plain_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_value(v) for v in value]
    return value


def provider_urn(ref: str | None) -> str | None:
    """A provider reference is "<urn>::<id>"; URNs themselves contain "::"."""
    if not ref:
        return None
    return ref.rsplit("::", 1)[0]


# --------------------------------------------------------------------------------------
# Handler context


class MockMemory(Protocol):
    """What a handler may ask of the running mocks (`fleet.FleetMocks`): the run's
    configuration and the resources created so far."""

    def config_str(self, key: str) -> str | None: ...

    def lookup(self, ref: Any, *types: str) -> dict[str, Any] | None: ...

    def allocate_ip(self, cidr: str | None, seed: str, requested: Any = None) -> str: ...



@dataclass
class ResourceCall:
    """Everything a resource handler may use to compute outputs."""

    type: str
    name: str
    urn: str
    inputs: dict[str, Any]
    provider_inputs: Mapping[str, Any]
    mocks: MockMemory

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
    @property
    def autoname_suffix(self) -> str:
        """The auto-name's "random" part: 7 hex characters, as tfbridge draws them."""
        return self.hex(7, "autoname")

    def autoname(self, key: str = "name") -> str:
        """The given value, else the provider's auto-name: the URN name (lowercased where
        the provider does so), "-" and the suffix. Never shortened or corrected: a name
        that cannot fit was refused by the provider checks before any handler runs."""
        given = self.inputs.get(key)
        if isinstance(given, str) and given:
            return given
        prefix = self.inputs.get(f"{key}Prefix")
        if isinstance(prefix, str) and prefix:
            # The provider's `<key>_prefix`: the prefix and a unique id (PrefixedUniqueId).
            return prefix + self.number(18, "unique-id") + self.hex(8, "unique-id")
        rule = provider_autoname(self.type)
        if rule is not None and rule.prop == key:
            return rule.value(self.name, self.autoname_suffix)
        return f"{self.name}-{self.autoname_suffix}"

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
    mocks: MockMemory

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



def generic(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    return f"{c.name}-{c.hex(8)}", {}


def provider_handler(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    return c.uuid("provider"), {}


def type_parts(token: str) -> tuple[str, str, str]:
    """'aws:ec2/securityGroup:SecurityGroup' -> ('aws', 'ec2', 'SecurityGroup')."""
    pkg, mod, kind = token.split(":", 2)
    return pkg, mod.split("/", 1)[0], kind


def kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()

def public_ip(seed: str) -> str:
    """A TEST-NET-3 address (RFC 5737): realistic-looking, never routable."""
    return f"203.0.113.{int.from_bytes(digest(seed, 'public-ip')[:2], 'big') % 254 + 1}"
