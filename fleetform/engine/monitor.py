"""The recording monitor: a ``MockMonitor`` that sees every RegisterResource request whole
(parent, provider, dependencies, protect, ignoreChanges, aliases, the property struct
with its secret sentinels) and answers with the mocks' outputs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from google.protobuf import empty_pb2  # type: ignore[import-untyped]
from pulumi.runtime import MockCallArgs, MockResourceArgs
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.proto import alias_pb2, provider_pb2, resource_pb2

from fleetform.engine.mocks.fleet import FleetMocks
from fleetform.engine.records import (
    _STACK_TYPE,
    DuplicateResourceError,
    Resource,
    _contains_secret,
    _from_struct,
    _inherited_alias,
    _is_secret,
    _plain,
    _secret,
    _to_struct,
    _urn,
    _urn_name,
    _urn_type,
)
from fleetform.engine.refusal import ResourceRefused

# --------------------------------------------------------------------------------------
# The monitor


class _RecordingResourceArgs(MockResourceArgs):
    """MockResourceArgs plus the URN, so mocks can hash something unique per resource."""

    def __init__(self, urn: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.urn = urn


class RecordingMonitor(MockMonitor):
    """A MockMonitor that records every request and answers without blocking.

    Each RPC completes synchronously and never pumps the event loop (the stock
    MockMonitor serialises through `_sync_await`, which would re-enter the loop once the
    RPCs run inline on the loop's thread).
    """

    mocks: FleetMocks

    def __init__(
        self, mocks: FleetMocks, on_resource: Callable[[Resource], None] | None = None
    ) -> None:
        super().__init__(mocks)
        self.records: list[Resource] = []
        self.registered_outputs: dict[str, dict[str, Any]] = {}
        self._on_resource = on_resource
        self._stack_urn: str | None = None
        self._alias_urns: dict[str, tuple[str, ...]] = {}

    @property
    def stack_outputs(self) -> dict[str, Any]:
        """The stack's outputs with secret sentinels intact."""
        return self.registered_outputs.get(self._stack_urn or "", {})

    # ---- helpers
    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """The URN the engine generates (the stock mock keeps only the last parent type
        and prefixes top-level resources with the Stack's type; the engine does neither)."""
        return _urn(parent, type_, name)

    def _aliases(self, request: Any, urn: str) -> tuple[str, ...]:
        """Alias URNs as the engine resolves them: the resource's own aliases, plus one per
        alias of its parent (children follow a renamed or moved parent automatically)."""
        result: dict[str, None] = {}
        own = [self._collapse_alias(a, request) for a in request.aliases]
        own += list(request.aliasURNs)
        result.update(dict.fromkeys(own))
        parent_name = _urn_name(request.parent) if request.parent else ""
        for parent_alias in self._alias_urns.get(request.parent, ()):
            result[_inherited_alias(request.type, request.name, parent_name, parent_alias)] = None
            for alias in own:
                result[
                    _inherited_alias(_urn_type(alias), _urn_name(alias), parent_name, parent_alias)
                ] = None
        result.pop(urn, None)
        self._alias_urns[urn] = tuple(result)
        return tuple(result)

    @staticmethod
    def _collapse_alias(alias: alias_pb2.Alias, request: Any) -> str:
        """An alias spec as a URN; unset fields default to the resource's current ones."""
        if alias.WhichOneof("alias") == "urn":
            return alias.urn
        spec = alias.spec
        parent = "" if spec.noParent else (spec.parentUrn or request.parent)
        return _urn(
            parent,
            spec.type or request.type,
            spec.name or request.name,
            stack=spec.stack or None,
            project=spec.project or None,
        )

    def _record(self, record: Resource) -> None:
        self.records.append(record)
        if self._on_resource is not None:
            self._on_resource(record)

    # ---- RPCs
    def RegisterResource(self, request: Any) -> resource_pb2.RegisterResourceResponse:
        urn = self.make_urn(request.parent, request.type, request.name)
        if urn in self.resources or urn == self._stack_urn:
            raise DuplicateResourceError(
                f"Duplicate resource URN '{urn}'; try giving it a unique name"
            )
        raw = _from_struct(request.object)
        record = Resource(
            urn=urn,
            type=request.type,
            name=request.name,
            parent=request.parent or None,
            provider=request.provider or None,
            # The SDK collects dependencies in a set; sort for a stable record.
            dependencies=tuple(sorted(set(request.dependencies))),
            inputs=_plain(raw, reveal=False),
            custom=bool(request.custom),
            protect=bool(request.protect),
            ignore_changes=tuple(request.ignoreChanges),
            aliases=self._aliases(request, urn),
            delete_before_replace=bool(request.deleteBeforeReplace),
            replace_on_changes=tuple(request.replaceOnChanges),
            property_dependencies={key: tuple(sorted(set(deps.urns))) if deps.urns else ()
                                   for key, deps in request.propertyDependencies.items()},
        )
        if request.type == _STACK_TYPE:
            self._stack_urn = urn
            self._record(record)
            return resource_pb2.RegisterResourceResponse(urn=urn)

        plain_inputs = _plain(raw, reveal=True)
        args = _RecordingResourceArgs(
            urn,
            typ=request.type,
            name=request.name,
            inputs=plain_inputs,
            provider=request.provider or None,
            resource_id=request.importId or None,
            custom=bool(request.custom),
        )
        try:
            resource_id, state = self.mocks.new_resource(args)
        except ValueError as exc:
            # The provider refuses these inputs: the stack file's to change (located by
            # the CLI), not a crash of ours.
            raise ResourceRefused(urn, request.type, request.name, str(exc)) from exc
        outputs = self._outputs(raw, plain_inputs, state, request.additionalSecretOutputs)
        self.resources[urn] = MockMonitor.ResourceRegistration(urn, resource_id or "", outputs)
        self._record(record)
        return resource_pb2.RegisterResourceResponse(
            urn=urn, id=resource_id or "", object=_to_struct(outputs)
        )

    @staticmethod
    def _outputs(
        raw: dict[str, Any],
        plain_inputs: dict[str, Any],
        state: Mapping[str, Any],
        additional_secrets: Any,
    ) -> dict[str, Any]:
        """Mock state, made to look like the engine's answer.

        Echoed inputs keep their wire form (secret/asset/reference sentinels intact);
        outputs named in additionalSecretOutputs, or computed from a secret input of the
        same name, come back secret, as the engine would return them.
        """
        outputs: dict[str, Any] = {}
        for key, value in state.items():
            if key in raw and plain_inputs.get(key) == value:
                outputs[key] = raw[key]
            elif key in raw and _contains_secret(raw[key]):
                outputs[key] = _secret(value)
            else:
                outputs[key] = value
        for key in additional_secrets:
            if key in outputs and not _is_secret(outputs[key]):
                outputs[key] = _secret(outputs[key])
        return outputs

    def RegisterResourceOutputs(self, request: Any) -> empty_pb2.Empty:
        self.registered_outputs[request.urn] = _from_struct(request.outputs)
        return empty_pb2.Empty()

    def ReadResource(self, request: Any) -> resource_pb2.ReadResourceResponse:
        urn = self.make_urn(request.parent, request.type, request.name)
        raw = _from_struct(request.properties)
        plain_inputs = _plain(raw, reveal=True)
        args = _RecordingResourceArgs(
            urn,
            typ=request.type,
            name=request.name,
            inputs=plain_inputs,
            provider=request.provider or None,
            resource_id=request.id,
            custom=True,
        )
        try:
            resource_id, state = self.mocks.new_resource(args)
        except ValueError as exc:
            # The provider refuses these inputs: the stack file's to change (located by
            # the CLI), not a crash of ours.
            raise ResourceRefused(urn, request.type, request.name, str(exc)) from exc
        outputs = self._outputs(raw, plain_inputs, state, request.additionalSecretOutputs)
        self.resources[urn] = MockMonitor.ResourceRegistration(urn, resource_id or "", outputs)
        return resource_pb2.ReadResourceResponse(urn=urn, properties=_to_struct(outputs))

    def Invoke(self, request: Any) -> resource_pb2.ResourceInvokeResponse:
        args = _plain(_from_struct(request.args), reveal=True)
        if request.tok == "pulumi:pulumi:getResource":
            registered = self.resources.get(args.get("urn", ""))
            if registered is None:
                raise Exception(f"unknown resource {args.get('urn')}")
            result: Mapping[str, Any] = {
                "urn": registered.urn,
                "id": registered.id,
                "state": registered.state,
            }
            return resource_pb2.ResourceInvokeResponse(**{"return": _to_struct(result)})
        answer = self.mocks.call(
            MockCallArgs(token=request.tok, args=args, provider=request.provider)
        )
        ret, failures = answer if isinstance(answer, tuple) else (answer, None)
        return resource_pb2.ResourceInvokeResponse(
            **{
                "return": _to_struct(ret),
                "failures": [
                    provider_pb2.CheckFailure(property=prop, reason=reason)
                    for prop, reason in failures or []
                ],
            }
        )


