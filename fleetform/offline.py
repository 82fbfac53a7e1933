"""The offline engine: run the real Pulumi program under the SDK's mocks and record it.

`run_program` executes a program's `__main__.py` the way the Python language host does
(`pulumi.runtime.run_in_stack` around `runpy`), but against a `RecordingMonitor`: a
`MockMonitor` subclass that sees every RegisterResource request whole (parent, provider,
dependencies, protect, ignoreChanges, aliases, and the property struct with its secret
sentinels) and answers with `FleetMocks` outputs, so every `apply` downstream runs.

Determinism: the SDK performs each monitor RPC through `loop.run_in_executor`; here the
executor runs it inline on the loop's thread, so a run is one single-threaded asyncio
schedule with no thread timing in it. The SDK still awaits dependencies in the iteration
order of sets of objects (hashed by address), so the raw order of registrations can vary
between runs; `ProgramResult.resources` is therefore put in `canonical_order`, a valid
registration order that depends only on the graph. Mock values are hashes of URNs and
inputs, never of creation order (see `mocks.py`).

Isolation: each run happens on a fresh thread. A new thread starts with an empty
`contextvars.Context` (the Pulumi runtime keeps its settings, config and root stack in
context variables) and no event loop, so nothing leaks between runs or into the caller,
and the caller may itself be inside an event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import heapq
import json
import logging
import os
import runpy
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, cast

from google.protobuf import empty_pb2, struct_pb2  # type: ignore[import-untyped]
from pulumi.runtime import MockCallArgs, MockResourceArgs, run_in_stack, set_all_config, set_mocks
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.proto import alias_pb2, provider_pb2, resource_pb2
from pulumi.runtime.rpc_manager import RPCManager

from fleetform.mocks import FleetMocks
from fleetform.offline_sdk import sdk_shortcuts

__all__ = [
    "SECRET_MASK",
    "UNKNOWN_MASK",
    "DuplicateResourceError",
    "ProgramResult",
    "RecordingMonitor",
    "Resource",
    "canonical_order",
    "run_program",
]

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
_PULUMI_LOG = logging.getLogger("fleetform.offline.pulumi")
# Runs share process-wide state (cwd, sys.path, sys.modules["__main__"]): one at a time.
_RUN_LOCK = threading.Lock()


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


@dataclass(frozen=True)
class ProgramResult:
    resources: tuple[Resource, ...]
    outputs: dict[str, Any]
    secret_outputs: dict[str, Any]
    # Invoke tokens the mocks had no answer for (they returned {}); worth a warning.
    unknown_invokes: tuple[str, ...] = field(default=())


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
        resource_id, state = self.mocks.new_resource(args)
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
        resource_id, state = self.mocks.new_resource(args)
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


# --------------------------------------------------------------------------------------
# Running a program

_P = ParamSpec("_P")
_T = TypeVar("_T")


class _InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs each job at submission on the calling (event loop) thread.

    asyncio insists the default executor be a ThreadPoolExecutor, hence the subclass;
    no worker thread is ever started.
    """

    def submit(
        self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> concurrent.futures.Future[_T]:
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future


def _main_file(program: Path) -> Path:
    path = program / "__main__.py" if program.is_dir() else program
    if not path.is_file():
        raise FileNotFoundError(f"no Pulumi program at {path}")
    return path.resolve()


def _config_value(value: Any) -> str:
    """Config the way the Pulumi CLI hands it to a program: strings, structured as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, dict | list) else str(value)


def _owned_by(module: Any, root: str) -> bool:
    """Whether a module was loaded from the program's own source tree (not a venv).

    String checks only: this runs over every module imported during the run.
    """
    file = getattr(module, "__file__", None)
    if not isinstance(file, str):
        return False
    path = os.path.abspath(file)
    return (
        path.startswith(root + os.sep)
        and f"{os.sep}site-packages{os.sep}" not in path
        and not path.startswith(sys.prefix + os.sep)
    )


@contextlib.contextmanager
def _program_environment(root: Path) -> Iterator[None]:
    """cwd and sys.path as under `pulumi up`; afterwards forget the program's own modules.

    Packages of the program's tree that the caller had not imported are dropped, so the
    next run re-executes them (no module-level state survives, and another program's
    same-named module is not picked up). Packages the caller already uses (say `fleetform`
    or `components` in a test) are kept whole, so the classes the program raises or
    returns are the caller's.
    """
    before = set(sys.modules)
    caller_packages = {name.partition(".")[0] for name in before}
    cwd = Path.cwd()
    sys.path.insert(0, str(root))
    os.chdir(root)
    try:
        yield
    finally:
        os.chdir(cwd)
        with contextlib.suppress(ValueError):
            sys.path.remove(str(root))
        for name in set(sys.modules) - before:
            if name.partition(".")[0] not in caller_packages and _owned_by(
                sys.modules[name], str(root)
            ):
                del sys.modules[name]


class _CauseKeepingRPCManager(RPCManager):
    """An RPCManager that remembers each failed RPC's `__cause__`.

    `wait_for_rpcs` re-raises a failed registration as `raise exn from exn`, which
    overwrites the cause (the exception the program actually raised) with the exception
    itself; this keeps the original link so `_unwrap` can repair the chain.
    """

    def __init__(self) -> None:
        self.causes: dict[int, BaseException | None] = {}
        self._unhandled: Exception | None = None
        super().__init__()

    @property
    def unhandled_exception(self) -> Exception | None:
        return self._unhandled

    @unhandled_exception.setter
    def unhandled_exception(self, exn: Exception | None) -> None:
        self._unhandled = exn
        if exn is not None and exn.__cause__ is not exn:
            self.causes.setdefault(id(exn), exn.__cause__)


def _unwrap(exc: BaseException, causes: Mapping[int, BaseException | None]) -> BaseException:
    """The exception the program raised, without the SDK's re-wrapping.

    `register_resource` and `serialize_properties` re-raise a ValueError/AssertionError met
    while preparing a resource (e.g. raised inside an apply feeding one of its inputs) as a
    new exception of the base class with the original as `__cause__`, once per level; that
    would hide a custom subclass such as the loader's validation error.
    """
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        if exc.__cause__ is exc:
            exc.__cause__ = causes.get(id(exc))
        cause = exc.__cause__
        if (
            cause is not None
            and type(exc) in (ValueError, AssertionError)
            and str(exc).startswith(("While processing resource", "While processing input"))
        ):
            exc = cause
            continue
        break
    return exc


def _quiet_failures(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Drop "exception was never retrieved" reports: when a program fails, every output
    derived from the failure faults too, and the failure itself reaches the caller."""
    if "exception" not in context:
        loop.default_exception_handler(context)


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel whatever a failed program left pending, then close (as the language host does)."""
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.close()


# Cyclic-GC thresholds during a run (CPython's defaults: 700, 10, 10). A run allocates
# millions of short-lived objects (Outputs, tasks, closures) on top of a large heap of
# long-lived ones (the provider SDKs' modules); with the defaults, collections of the
# older generations rescan that heap again and again and took ~45% of a 10-cluster run.
# Cycles that die young are still collected (generation 0, every 50 000 allocations).
# Generations 1 and 2 do not run during a run (1000: every 50M allocations; a
# 100-cluster fleet makes ~6M): nearly everything that survives a young collection
# (resources, their Outputs and futures, records) lives until the run ends, so each
# generation-1 pass (every ~1M allocations with 20) rescanned a growing heap for almost
# nothing (~1 s of a 50-cluster run); the caller's thresholds take over afterwards.
# Peak memory unchanged within a few MiB (docs/benchmarks.md).
_RUN_GC_THRESHOLDS = (50_000, 1000, 1000)


@contextlib.contextmanager
def _gc_tuned() -> Iterator[None]:
    """Fewer garbage collections while a program runs; the caller's settings after."""
    before = gc.get_threshold()
    gc.set_threshold(*_RUN_GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _reset_runtime_state(root: Path) -> None:
    """Fresh per-run SDK state that set_mocks leaves alone.

    Settings the current context never set fall back to a default shared by every thread
    (the SDK's ContextProperty keeps the first value ever assigned as the default), so a
    run on a fresh thread would otherwise inherit, e.g., the pending-output set a failed
    earlier run left behind.
    """
    settings = pulumi_settings.SETTINGS
    settings.rpc_manager = _CauseKeepingRPCManager()
    settings.outputs = set()
    settings.package_refs = {}
    settings.base_providers_by_ref = {}
    settings.root_directory = str(root)


def _run(
    main_file: Path,
    project: str,
    stack: str,
    config: Mapping[str, Any],
    on_resource: Callable[[Resource], None] | None,
) -> ProgramResult:
    root = main_file.parent
    mocks = FleetMocks(config=dict(config))
    monitor = RecordingMonitor(mocks, on_resource)
    loop = asyncio.new_event_loop()
    loop.set_default_executor(_InlineExecutor(max_workers=1))
    loop.set_exception_handler(_quiet_failures)
    asyncio.set_event_loop(loop)
    try:
        # set_mocks registers and immediately finishes a Stack of its own when none exists:
        # exports made after that would never reach RegisterResourceOutputs and `pulumi.run`
        # would be refused. Occupy the root slot while it runs so `run_in_stack` creates the
        # real Stack, exactly as the language host does.
        token = pulumi_settings.ROOT.set(cast(Any, object()))
        try:
            set_mocks(mocks, project, stack, preview=False, logger=_PULUMI_LOG, monitor=monitor)
        finally:
            pulumi_settings.ROOT.reset(token)
        _reset_runtime_state(root)
        set_all_config({key: _config_value(value) for key, value in config.items()})

        def program() -> None:
            runpy.run_path(str(main_file), run_name="__main__")

        with _program_environment(root), sdk_shortcuts():
            # run_in_stack waits for every RPC and every Output (hence every apply) to settle.
            loop.run_until_complete(run_in_stack(program))
    except BaseException as exc:
        manager = pulumi_settings.SETTINGS.rpc_manager
        causes = manager.causes if isinstance(manager, _CauseKeepingRPCManager) else {}
        original = _unwrap(exc, causes)
        if original is exc:
            raise
        raise original from original.__cause__
    finally:
        _close_loop(loop)
        asyncio.set_event_loop(None)

    raw_outputs = monitor.stack_outputs
    return ProgramResult(
        resources=canonical_order(monitor.records),
        outputs=_plain(raw_outputs, reveal=False),
        secret_outputs=_plain(raw_outputs, reveal=True),
        unknown_invokes=tuple(sorted(set(mocks.unknown_invokes))),
    )


def run_program(
    program: Path,
    *,
    project: str,
    stack: str,
    config: Mapping[str, Any],
    on_resource: Callable[[Resource], None] | None = None,
) -> ProgramResult:
    """Run a Pulumi program offline and return everything it registered and exported.

    `program` is the project directory (holding `__main__.py`) or the file itself.
    `config` maps full keys ("fleetform:fleet", "aws:region") to strings or structured
    values. `on_resource` is called once per registration as it happens (on the engine's
    thread, in the raw order); `ProgramResult.resources` holds the same records in
    `canonical_order`. Exceptions from the program (top level or inside an apply)
    propagate as the program raised them.
    """
    main_file = _main_file(Path(program))
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            # The GC setting covers the records' post-processing too (canonical_order).
            with _gc_tuned():
                outcome["result"] = _run(main_file, project, stack, config, on_resource)
        except BaseException as exc:
            outcome["error"] = exc

    with _RUN_LOCK:
        thread = threading.Thread(target=target, name="fleetform-offline", daemon=True)
        thread.start()
        thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return cast(ProgramResult, outcome["result"])
