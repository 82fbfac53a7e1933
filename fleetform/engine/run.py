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
import json
import logging
import os
import runpy
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, cast

from pulumi.runtime import run_in_stack, set_all_config, set_mocks
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.rpc_manager import RPCManager

# Registers the dynamic-resource handler with the mocks (imported for that effect).
import fleetform.engine.dynamic_mock  # noqa: F401
from fleetform.engine.mocks.fleet import FleetMocks
from fleetform.engine.monitor import RecordingMonitor
from fleetform.engine.records import (
    ProgramResult,
    Resource,
    _contains_secret,
    _plain,
    canonical_order,
)
from fleetform.engine.sdk import sdk_shortcuts

_PULUMI_LOG = logging.getLogger("fleetform.engine.run.pulumi")
# Runs share process-wide state (cwd, sys.path, sys.modules["__main__"]): one at a time.
_RUN_LOCK = threading.Lock()


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
    stack_outputs: Mapping[str, Mapping[str, Any]],
    seed_stack: str | None,
) -> ProgramResult:
    root = main_file.parent
    mocks = FleetMocks(config=dict(config), seed_stack=seed_stack, stack_outputs=stack_outputs)
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
        secret_output_names=tuple(sorted(k for k, v in raw_outputs.items() if _contains_secret(v))),
    )


def run_program(
    program: Path,
    *,
    project: str,
    stack: str,
    config: Mapping[str, Any],
    on_resource: Callable[[Resource], None] | None = None,
    stack_outputs: Mapping[str, Mapping[str, Any]] | None = None,
    seed_stack: str | None = None,
) -> ProgramResult:
    """Run a Pulumi program offline and return everything it registered and exported.

    `program` is the project directory (holding `__main__.py`) or the file itself.
    `config` maps full keys ("fleetform:fleet", "aws:region") to strings or structured
    values. `on_resource` is called once per registration as it happens (on the engine's
    thread, in the raw order); `ProgramResult.resources` holds the same records in
    `canonical_order`. Exceptions from the program (top level or inside an apply)
    propagate as the program raised them.

    `stack_outputs` (stack name -> its outputs, a secret one as
    `records.StackOutput(value, secret=True)`, e.g. `ProgramResult.stack_outputs()`) is
    what the program's StackReferences read; a reference to a stack not in it raises
    `fleetform.plan.stacks.StackNotApplied`. `seed_stack`: the stack name the mocks hash
    every URN with instead of `stack`, so one fleet's micro-stacks get the values of its
    single stack (`fleetform.engine.stacks`).
    """
    main_file = _main_file(Path(program))
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            # The GC setting covers the records' post-processing too (canonical_order).
            with _gc_tuned():
                outcome["result"] = _run(main_file, project, stack, config, on_resource,
                                         stack_outputs or {}, seed_stack)
        except BaseException as exc:
            outcome["error"] = exc

    with _RUN_LOCK:
        thread = threading.Thread(target=target, name="fleetform-offline", daemon=True)
        thread.start()
        thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return cast(ProgramResult, outcome["result"])
