"""Shortcuts the offline engine takes through the Pulumi SDK's runtime while a program runs.

Each one replaces an SDK function, for the duration of one run only (`sdk_shortcuts`),
with one that gives the program the same values, dependencies, secretness, known-ness
and errors, at a lower cost; `tests/test_offline_sdk.py` holds each to that. What each
one saves, measured, is in docs/benchmarks.md. Nothing here changes what a program
registers: the recorded graph and every rendered document stay byte for byte the same
(golden files; `fleetform synth` before and after).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pulumi
from pulumi import Output
from pulumi import _types as pulumi_types
from pulumi import output as pulumi_output
from pulumi.runtime import _depends_on as pulumi_depends_on
from pulumi.runtime import known_types as pulumi_known_types
from pulumi.runtime import resource as pulumi_resource
from pulumi.runtime import rpc as pulumi_rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime import stack as pulumi_stack
from pulumi.runtime.proto import source_pb2

__all__ = ["sdk_shortcuts"]


async def _wait_for_rpcs(await_all_outstanding_tasks: bool = True) -> None:
    """`pulumi.runtime.stack.wait_for_rpcs`, with outstanding Outputs awaited per round.

    The SDK's version waits for the set of outstanding Outputs with
    `asyncio.wait(..., FIRST_COMPLETED)` in a loop: every completion re-registers a
    done-callback on every other pending Output, so a program with P Outputs pays
    O(P) per completed Output -- most of a large fleet's run time. Here each round waits
    for all of them at once (`FIRST_EXCEPTION`: a failure still surfaces at once), then
    picks up the Outputs created meanwhile, until no RPC or Output is left. Same
    end state, same exceptions, linear cost.
    """
    rpc_manager = pulumi_stack._get_rpc_manager()
    settings = pulumi_settings.SETTINGS
    while True:
        while len(rpc_manager.rpcs) > 0:
            await asyncio.sleep(0)
            try:
                await rpc_manager.rpcs.pop()
            except Exception as exn:
                if rpc_manager.unhandled_exception is not None:
                    cause = rpc_manager.unhandled_exception.with_traceback(
                        rpc_manager.exception_traceback
                    )
                    raise exn from cause
                raise
        if rpc_manager.unhandled_exception is not None:
            raise rpc_manager.unhandled_exception.with_traceback(rpc_manager.exception_traceback)
        if await_all_outstanding_tasks:
            while True:
                with settings.lock:
                    if len(settings.outputs) == 0:
                        break
                    pending: list[asyncio.Task[Any]] = list(settings.outputs)
                    settings.outputs.clear()
                done, not_done = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
                for task in done:
                    await task  # re-raises a failed Output here, as the SDK does
                if not_done:
                    with settings.lock:
                        settings.outputs.update(not_done)
        if len(rpc_manager.rpcs) == 0:
            break


def _no_stack_trace() -> source_pb2.StackTrace:
    """The SDK walks and formats the whole Python stack (reading source lines) for every
    resource, to tell the engine where it was declared; nothing here reads that."""
    return source_pb2.StackTrace()


def _memoized(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``fn`` (a pure function of a type annotation) with its answers kept per annotation
    object. Keyed by identity, not equality: ``Union[A, B] == Union[B, A]``, but the
    functions read the order of the arguments. Annotations are few and long-lived (the
    SDKs' own, and typing caches ``X[...]``); past ``_MEMO_LIMIT`` entries nothing more is kept."""
    cache: dict[int, tuple[Any, Any]] = {}

    def memo(val: Any) -> Any:
        hit = cache.get(id(val))
        if hit is not None and hit[0] is val:
            return hit[1]
        result = fn(val)
        if len(cache) < _MEMO_LIMIT:
            cache[id(val)] = (val, result)  # holding `val` keeps its id from being reused
        return result

    memo.__wrapped__ = fn  # type: ignore[attr-defined]
    return memo


_MEMO_LIMIT = 20_000
# `pulumi._types` helpers that unwrap `Output[T]`, `Input[T]`, `Optional[T]`: `rpc`
# calls them (via the module) for every property of every typed input and output object,
# and they call each other through the module's globals. Pure; ~4% of a run, mostly
# `typing.get_origin`.
_TYPE_HELPERS = {name: _memoized(getattr(pulumi_types, name))
                 for name in ("unwrap_type", "unwrap_optional_type", "_is_optional_type", "_is_union_type")
                 if callable(getattr(pulumi_types, name, None))}


def _contains_unknowns(value: Any) -> bool:
    """`pulumi.runtime.rpc.contains_unknowns` without its garbage.

    The SDK's version builds a recursive closure (a reference cycle, with its annotations
    evaluated into new objects) on every call -- once per Output -- which only the cyclic
    GC can free: two thirds of a run's garbage. Same answer: any unknown anywhere in
    nested dicts and lists, each container visited once.
    """
    is_unknown = pulumi_known_types.is_unknown
    if not isinstance(value, dict | list):
        return is_unknown(value)
    stack: list[Any] = [value]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        if is_unknown(item):
            return True
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


_Settled = tuple[Any, bool, bool, Any, "Exception | None"]


def _settle(data: asyncio.Future[Any], res: Any, settled: _Settled) -> None:
    value, is_known, is_secret, deps, failed = settled
    if failed is not None:
        data.set_exception(failed)
        return
    resources = set(deps) if deps else set()
    resources.add(res)
    data.set_result(pulumi_output._OutputData(resources=resources, value=value,
                                               is_known=is_known, is_secret=is_secret))


# Where a resource keeps the declared properties not yet asked for (in its __dict__,
# like everything the SDK keeps on a resource).
_DECLARED = "_fleetform_declared_outputs"


class _DeclaredOutputs:
    """A resource's declared properties and their Outputs.

    The SDK gives every property four futures (value, known, secret, dependencies) and an
    `Output` whose data is a task awaiting them. Here a property's Output has the single
    `_OutputData` future the SDK itself uses for a resource's `urn` and `id`
    (`resource.resource_output`), settled to the same `_OutputData` the SDK's task would
    compute: resources = the given dependencies plus the resource, value, known and
    secret as given (its `__post_init__` still marks a value holding unknowns as not
    known); on failure it fails with the same exception. Tracked in `SETTINGS.outputs`
    as every Output is (`Output._from_data`).

    A provider class declares every output of its resource (~100 for an
    `aws.ec2.Instance`) and a run reads few of them, so `output(name)` is called on
    first read through a generated getter (`pulumi.get`, see `_lazy_property`): already
    settled if the registration came back, else settled when it does. Any other
    property (read as a plain attribute, or by a hand-written getter) gets its Output at
    registration (`_transfer_properties`). Each resolver call is kept here.
    """

    __slots__ = ("names", "res", "settled", "waiting")

    def __init__(self, res: Any, names: list[str]) -> None:
        self.res = res
        self.names = dict.fromkeys(names)  # ordered, for the resolvers' iteration order
        self.settled: dict[str, _Settled] = {}
        self.waiting: dict[str, asyncio.Future[Any]] = {}

    def resolve(self, name: str, value: Any, is_known: bool, is_secret: bool, deps: Any,
                failed: Exception | None) -> None:
        if name in self.settled:
            raise asyncio.InvalidStateError("invalid state")  # what the SDK's future says
        settled = (value, is_known, is_secret, deps, failed)
        self.settled[name] = settled
        data = self.waiting.pop(name, None)
        if data is not None:
            _settle(data, self.res, settled)

    def output(self, name: str) -> Any:
        data: asyncio.Future[Any] = asyncio.Future()
        settled = self.settled.get(name)
        if settled is not None:
            _settle(data, self.res, settled)
        else:
            self.waiting[name] = data
        out = Output._from_data(data)
        self.res.__dict__[name] = out
        return out


class _Resolvers(Mapping[str, Callable[..., None]]):
    """The resolver table `transfer_properties` returns: `rpc.resolve_properties` and
    `resolve_outputs_due_to_exception` look resolvers up by name and iterate them."""

    __slots__ = ("declared",)

    def __init__(self, declared: _DeclaredOutputs) -> None:
        self.declared = declared

    def __getitem__(self, name: str) -> Callable[..., None]:
        if name in self.declared.names:
            return functools.partial(self.declared.resolve, name)
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.declared.names)

    def __len__(self) -> int:
        return len(self.declared.names)


_LAZY_PROPERTY: dict[tuple[type, str], bool] = {}


def _lazy_property(cls: type, name: str) -> bool:
    """Whether every read of `name` on instances of `cls` goes through `pulumi.get`.

    True when the class resolves `name` to a property (a data descriptor: the instance
    dict is never consulted for it) whose getter is a generated one: `@pulumi.getter`
    on a body that is exactly `return pulumi.get(self, "<name>")`. Anything else -- a
    plain attribute, a hand-written property -- keeps its Output made at registration.
    """
    key = (cls, name)
    known = _LAZY_PROPERTY.get(key)
    if known is None:
        attr = next((klass.__dict__[name] for klass in cls.__mro__ if name in klass.__dict__), None)
        fget = attr.fget if isinstance(attr, property) else None
        code = getattr(fget, "__code__", None)
        known = (code is not None and hasattr(fget, pulumi_types._PULUMI_NAME)
                 and code.co_names == ("pulumi", "get") and name in code.co_consts
                 and code.co_argcount == 1)
        _LAZY_PROPERTY[key] = known
    return known


def _transfer_properties(res: Any, props: Any, custom: bool) -> Mapping[str, Callable[..., None]]:
    """`pulumi.runtime.rpc.transfer_properties`: an Output per declared property, made now
    or, for a generated getter's property, when first read (`_DeclaredOutputs`)."""
    cls = type(res)
    # urn and (for a custom resource) id are handled by the SDK's caller, as in the original.
    names = [name for name in props if not (name == "urn" or (name == "id" and custom))]
    declared = _DeclaredOutputs(res, names)
    for name in names:
        if _lazy_property(cls, name):
            res.__dict__.pop(name, None)
        else:
            declared.output(name)
    res.__dict__[_DECLARED] = declared
    return _Resolvers(declared)


_sdk_get = pulumi_types.get


def _get(self: Any, name: str) -> Any:
    """`pulumi.get`, making a declared Output on its first read."""
    attrs = getattr(self, "__dict__", None)
    if attrs is not None:
        declared = attrs.get(_DECLARED)
        if declared is not None and name not in attrs and name in declared.names:
            return declared.output(name)
    return _sdk_get(self, name)


# Where `pulumi.runtime.resource_cycle_breaker` keeps a resource's direct dependencies,
# and where the run keeps the reverse edges.
_DEPENDENCIES = "_direct_computed_dependencies"
_DEPENDENTS = "_fleetform_dependents"


def _declare_dependency(from_resource: Any, to_resource: Any) -> bool:
    """`resource_cycle_breaker.declare_dependency`: record `from_resource` -> `to_resource`
    unless `from_resource` is already reachable from `to_resource` (a cycle).

    The SDK answers by walking everything `to_resource` transitively depends on, with
    nested generators, for every edge: ~390 000 generator steps in a 20-cluster run,
    growing with the depth of the graph. The same question walks the other way here:
    can `to_resource` be reached from `from_resource` over reverse edges (what depends
    on it)? The resource being prepared has few or no dependents yet, so this is short.
    Same answer, same edges recorded where the SDK records them.
    """
    if _depends_on(to_resource, from_resource):
        return False
    deps = getattr(from_resource, _DEPENDENCIES, None)
    if deps is None:
        setattr(from_resource, _DEPENDENCIES, {to_resource})
    else:
        deps.add(to_resource)
    dependents = getattr(to_resource, _DEPENDENTS, None)
    if dependents is None:
        setattr(to_resource, _DEPENDENTS, {from_resource})
    else:
        dependents.add(from_resource)
    return True


def _depends_on(start: Any, target: Any) -> bool:
    """Whether `target` is `start` or reachable from it over recorded dependencies,
    asked from `target`'s side (over dependents)."""
    if start == target:
        return True
    seen = {target}
    stack = [target]
    while stack:
        for dependent in getattr(stack.pop(), _DEPENDENTS, ()):
            if dependent == start:
                return True
            if dependent not in seen:
                seen.add(dependent)
                stack.append(dependent)
    return False


_sdk_resolve_depends_on = pulumi_depends_on._resolve_depends_on


async def _resolve_depends_on(depends_on: Any) -> set[Any]:
    """`_depends_on._resolve_depends_on` without two Outputs per listed resource.

    For a plain list of resources (what `ResourceOptions.depends_on` nearly always is)
    the SDK wraps the list and then each resource in a prompt Output, awaits each one's
    (empty) dependencies and its value, and collects the resources. The same set is built
    here the same way (a union with no dependencies, then the resource), without the
    Outputs; anything else (Outputs, awaitables) goes to the SDK.
    """
    if type(depends_on) is list and depends_on and all(isinstance(d, pulumi.Resource) for d in depends_on):
        resolved: set[Any] = set()
        for d in depends_on:
            resolved = resolved | set()  # as the SDK's `all_deps | more_deps`
            resolved.add(d)
        return resolved
    return await _sdk_resolve_depends_on(depends_on)


_sdk_serialize_properties = pulumi_rpc.serialize_properties


async def _serialize_properties(inputs: Any, property_deps: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
    """`rpc.serialize_properties` without a coroutine per property that is None.

    A provider class passes every property it declares, ~100 for an `aws.ec2.Instance`,
    mostly None (outputs, unset arguments). The SDK serializes a None to None and then
    treats it "as if it doesn't exist" (no field, no dependency entry), with no other
    effect; leaving those keys out of a plain dict beforehand gives the same struct and
    the same dependencies.
    """
    if type(inputs) is dict:
        inputs = {key: value for key, value in inputs.items() if value is not None}
    return await _sdk_serialize_properties(inputs, property_deps, *args, **kwargs)


@contextlib.contextmanager
def sdk_shortcuts() -> Iterator[None]:
    """For this run: `_wait_for_rpcs` (`run_pulumi_func` looks the name up per call), no
    source positions (`register_resource` looks `_get_stack_trace` up per call),
    `_contains_unknowns` (`Output` and `rpc` look it up on the `rpc` module per call),
    `_transfer_properties` (`resource` calls `rpc.transfer_properties` through the module),
    `_get` (generated getters call `pulumi.get`; `@pulumi.getter` on an empty body calls
    `_types.get`), `_declare_dependency` (`rpc` imported it by name),
    `_serialize_properties` (`resource` calls it through the `rpc` module),
    `_resolve_depends_on` (`_resolve_depends_on_urns` looks it up in its module), memoized `_types`
    helpers (`rpc` and `_types` look them up on the module per call)."""
    patches = [(pulumi_stack, "wait_for_rpcs", _wait_for_rpcs),
               (pulumi_resource, "_get_stack_trace", _no_stack_trace),
               (pulumi_rpc, "contains_unknowns", _contains_unknowns),
               (pulumi_rpc, "transfer_properties", _transfer_properties),
               (pulumi_rpc, "declare_dependency", _declare_dependency),
               (pulumi_rpc, "serialize_properties", _serialize_properties),
               (pulumi_depends_on, "_resolve_depends_on", _resolve_depends_on),
               (pulumi, "get", _get),
               (pulumi_types, "get", _get),
               *((pulumi_types, name, memo) for name, memo in _TYPE_HELPERS.items())]
    originals = [(module, name, getattr(module, name)) for module, name, _ in patches
                 if hasattr(module, name)]
    for module, name, value in patches:
        if hasattr(module, name):
            setattr(module, name, value)
    try:
        yield
    finally:
        for module, name, value in originals:
            setattr(module, name, value)
