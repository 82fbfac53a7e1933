"""What the offline engine records: one ``Resource`` per registration, the
``ProgramResult`` of a run, property values as plain JSON with secret and unknown
sentinels, URNs, and the canonical registration order (depends only on the graph)."""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import struct_pb2  # type: ignore[import-untyped]
from pulumi.runtime import settings as pulumi_settings

SECRET_MASK = "[secret]"
UNKNOWN_MASK = "[unknown]"

# Pulumi's property-value sentinels (sdk/go/common/resource/properties.go). They are wire
# protocol, stable across SDK versions; the Python SDK only has them as private names.
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
_ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"
_ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7"
_OUTPUT_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

_STACK_TYPE = "pulumi:pulumi:Stack"


# --------------------------------------------------------------------------------------
# Public records


@dataclass(frozen=True)
class Resource:
    """One RegisterResource request, as the engine would have received it."""

    urn: str
    type: str
    name: str
    parent: str | None
    provider: str | None
    dependencies: tuple[str, ...]
    inputs: dict[str, Any]
    custom: bool
    protect: bool
    ignore_changes: tuple[str, ...]
    aliases: tuple[str, ...]
    # Replacement options and per-input dependencies, straight from the request (not in
    # `to_json`: the recorded graph's files stay as they are).
    delete_before_replace: bool = False
    replace_on_changes: tuple[str, ...] = ()
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "provider": self.provider,
            "dependencies": list(self.dependencies),
            "inputs": self.inputs,
            "protect": self.protect,
            "ignore_changes": list(self.ignore_changes),
            "aliases": list(self.aliases),
        }

    def to_full_json(self) -> dict[str, Any]:
        """Every field, for a run reused as it was (``from_full_json`` reads it back equal)."""
        return {
            **self.to_json(),
            "custom": self.custom,
            "delete_before_replace": self.delete_before_replace,
            "replace_on_changes": list(self.replace_on_changes),
            "property_dependencies": {k: list(v) for k, v in self.property_dependencies.items()},
        }

    @classmethod
    def from_full_json(cls, data: Mapping[str, Any]) -> Resource:
        return cls(
            urn=data["urn"], type=data["type"], name=data["name"], parent=data["parent"],
            provider=data["provider"], dependencies=tuple(data["dependencies"]), inputs=data["inputs"],
            custom=data["custom"], protect=data["protect"], ignore_changes=tuple(data["ignore_changes"]),
            aliases=tuple(data["aliases"]), delete_before_replace=data["delete_before_replace"],
            replace_on_changes=tuple(data["replace_on_changes"]),
            property_dependencies={k: tuple(v) for k, v in data["property_dependencies"].items()},
        )


@dataclass(frozen=True)
class StackOutput:
    """One stack output as a StackReference reads it (like ``pulumi.automation.OutputValue``)."""

    value: Any
    secret: bool = False


@dataclass(frozen=True)
class ProgramResult:
    resources: tuple[Resource, ...]
    outputs: dict[str, Any]
    secret_outputs: dict[str, Any]
    # Invoke tokens the mocks had no answer for (they returned {}); worth a warning.
    unknown_invokes: tuple[str, ...] = field(default=())
    # The outputs that are secret (whole or in part), as the engine lists them.
    secret_output_names: tuple[str, ...] = field(default=())

    def stack_outputs(self) -> dict[str, StackOutput]:
        """The outputs as another stack's StackReference reads them, secrets kept secret
        (``run_program(stack_outputs={name: result.stack_outputs()})``)."""
        return {k: StackOutput(v, k in self.secret_output_names) for k, v in self.secret_outputs.items()}


class DuplicateResourceError(RuntimeError):
    """Two resources registered the same URN; `pulumi up` refuses this too."""


# --------------------------------------------------------------------------------------
# Property values: protobuf struct <-> plain JSON with sentinels


def _from_value(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return _from_struct(value.struct_value)
    if kind == "list_value":
        return [_from_value(v) for v in value.list_value.values]
    if kind == "number_value":
        number = value.number_value
        # The wire only has doubles; give integral values back as ints for readable JSON.
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    return None


def _from_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    # Protobuf map order is unspecified; sort so records are byte-stable.
    return {key: _from_value(struct.fields[key]) for key in sorted(struct.fields)}


def _to_struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(dict(values))
    return struct


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(_SIG_KEY) == _SECRET_SIG


def _contains_secret(value: Any) -> bool:
    if _is_secret(value):
        return True
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _OUTPUT_SIG and value.get("secret"):
            return True
        return any(_contains_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_secret(v) for v in value)
    return False


def _plain(value: Any, *, reveal: bool) -> Any:
    """Replace sentinels by plain JSON: secrets masked (or revealed), references by URN."""
    if isinstance(value, list):
        return [_plain(v, reveal=reveal) for v in value]
    if value == _UNKNOWN:
        return UNKNOWN_MASK
    if not isinstance(value, dict):
        return value
    sig = value.get(_SIG_KEY)
    if sig is None:
        return {k: _plain(v, reveal=reveal) for k, v in value.items()}
    if sig == _SECRET_SIG:
        return _plain(value.get("value"), reveal=reveal) if reveal else SECRET_MASK
    if sig == _RESOURCE_SIG:
        return value.get("urn")
    if sig == _OUTPUT_SIG:
        if value.get("secret") and not reveal:
            return SECRET_MASK
        return _plain(value["value"], reveal=reveal) if "value" in value else UNKNOWN_MASK
    if sig in (_ASSET_SIG, _ARCHIVE_SIG):
        kind = "asset" if sig == _ASSET_SIG else "archive"
        return {kind: {k: _plain(v, reveal=reveal) for k, v in value.items() if k != _SIG_KEY}}
    return {k: _plain(v, reveal=reveal) for k, v in value.items() if k != _SIG_KEY}


def _secret(value: Any) -> dict[str, Any]:
    return {_SIG_KEY: _SECRET_SIG, "value": value}


def secret_value(value: Any) -> dict[str, Any]:
    """``value`` as a secret on the wire (what a mock returns for a secret output)."""
    return _secret(value)


# --------------------------------------------------------------------------------------
# URNs: urn:pulumi:<stack>::<project>::<qualified type>::<name>


def _urn_type(urn: str) -> str:
    """The resource's own type (the last segment of the qualified type)."""
    return urn.split("::")[2].split("$")[-1]


def _urn_name(urn: str) -> str:
    return urn.split("::", 3)[3]


def _urn(
    parent: str, type_: str, name: str, *, stack: str | None = None, project: str | None = None
) -> str:
    """The engine's generateURN: parent's qualified type + "$" + type, the Stack excepted."""
    if parent:
        parent_type = parent.split("::")[2]
        if parent_type != _STACK_TYPE:
            type_ = f"{parent_type}${type_}"
    stack = stack or pulumi_settings.get_stack()
    project = project or pulumi_settings.get_project()
    return f"urn:pulumi:{stack}::{project}::{type_}::{name}"


def _inherited_alias(child_type: str, child_name: str, parent_name: str, parent_alias: str) -> str:
    """The engine's inheritedChildAlias: re-parent under the alias, renaming a child whose
    name starts with its parent's name."""
    if child_name.startswith(parent_name):
        child_name = _urn_name(parent_alias) + child_name[len(parent_name) :]
    stack, project, qualified_type, _ = parent_alias.removeprefix("urn:pulumi:").split("::", 3)
    if qualified_type != _STACK_TYPE:
        child_type = f"{qualified_type}${child_type}"
    return f"urn:pulumi:{stack}::{project}::{child_type}::{child_name}"


# --------------------------------------------------------------------------------------
# Registration order


def canonical_order(records: Sequence[Resource]) -> tuple[Resource, ...]:
    """A registration order that does not depend on scheduling.

    The SDK awaits dependency URNs in the iteration order of sets of Resource objects
    (hashed by address), so which of two independent resources reaches the monitor first
    varies from run to run, even in one process. This re-derives an order the engine
    could equally have seen: every resource after its parent, its provider and its
    dependencies; among those ready, children of the most recently placed parent first
    (so a component's children follow it), then by URN.
    """
    by_urn = {r.urn: r for r in records}
    waiting: dict[str, int] = {}
    unblocks: dict[str, list[str]] = {}
    for r in records:
        provider = r.provider.rsplit("::", 1)[0] if r.provider else None
        before = {u for u in (r.parent, provider, *r.dependencies) if u in by_urn and u != r.urn}
        waiting[r.urn] = len(before)
        for u in before:
            unblocks.setdefault(u, []).append(r.urn)
    position: dict[str, int] = {}
    ready = [(1, r.urn) for r in records if waiting[r.urn] == 0]
    heapq.heapify(ready)
    ordered: list[Resource] = []
    while ready:
        _, urn = heapq.heappop(ready)
        position[urn] = len(ordered)
        ordered.append(by_urn[urn])
        for nxt in unblocks.get(urn, ()):
            waiting[nxt] -= 1
            if waiting[nxt] == 0:
                parent = by_urn[nxt].parent
                heapq.heappush(ready, (-position.get(parent or "", -1), nxt))
    if len(ordered) != len(records):  # a cycle cannot come from a real run; keep them all
        seen = set(position)
        ordered += [r for r in records if r.urn not in seen]
    return tuple(ordered)


