"""Plan many stacks at once: a pool of worker processes forked with the SDK imported.

A fleet of micro-stacks is planned as the fleet stack first, then one offline run per
cluster stack; those runs are independent, so they go to worker processes, one per core.
The workers are forked (not spawned) after the parent imported the Pulumi SDK, the
provider SDKs and the program's own packages (``preload``), so a worker starts in
milliseconds and never imports anything again; each worker runs one stack at a time
through the engine's run function and sends the result back pickled.

The output does not depend on the worker count: every run is deterministic on its own
(``run.py``: canonical order, mock values hashed from URNs and inputs), results are
returned in job order whatever order they finish in, and a failure is reported for the
first failing job in job order (every job runs, so which one fails first in time does
not matter).

Where ``fork`` is not available (Windows), or with one worker or one job, the jobs run
one after another in this process: same results.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import multiprocessing
import os
import pickle
import resource
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from fleetform.engine.records import ProgramResult
from fleetform.engine.run import run_program

J = TypeVar("J")
R = TypeVar("R")

WORKERS_ENV = "FLEETFORM_WORKERS"
# What every run of this project's program imports: loaded once, before the fork.
DEFAULT_PRELOAD = ("pulumi", "pulumi_tls", "pulumi_random", "pulumi_aws", "pulumi_gcp", "components")


def default_workers() -> int:
    """``$FLEETFORM_WORKERS`` if set, else the cores this process may run on."""
    value = os.environ.get(WORKERS_ENV, "").strip()
    if value:
        try:
            count = int(value)
        except ValueError:
            raise ValueError(f"{WORKERS_ENV}={value!r}: not a whole number") from None
        if count < 1:
            raise ValueError(f"{WORKERS_ENV}={value!r}: needs at least 1")
        return count
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class JobFailed(Exception):
    """A job raised, and its exception could not travel back from the worker as itself."""


@dataclass
class PoolStats:
    """What a pool run cost: the workers used and each one's peak memory (KiB, ``ru_maxrss``)."""

    workers: int = 0
    peak_kib: dict[int, int] = field(default_factory=dict)  # worker pid -> its own peak

    @property
    def workers_peak_kib(self) -> int:
        """The workers' peaks summed: an upper bound of their memory at any one time
        (pages shared with the parent since the fork are counted in each)."""
        return sum(self.peak_kib.values())


@dataclass(frozen=True)
class _Outcome(Generic[R]):
    index: int
    pid: int
    peak_kib: int
    result: R | None = None
    error: bytes | None = None  # a pickled exception


# Set in the parent right before the fork, inherited by the workers (never pickled: a
# closure or a program's config travels for free).
_TASK: Callable[[Any], Any] | None = None
_JOBS: Sequence[Any] = ()


def _peak_kib() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # Linux: KiB


def _rebuilt(cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]) -> BaseException:
    """An exception of ``cls`` with these ``args`` and attributes, without calling its
    ``__init__`` (which may want other arguments than ``args``)."""
    exc = cls.__new__(cls, *args)
    exc.args = args
    exc.__dict__.update(state)
    return exc


def _pickled_error(exc: BaseException) -> bytes:
    """The exception as itself, pickled: by pickle's own means, else by class, args and
    attributes (an exception whose ``__init__`` takes other arguments than its message,
    like ``ResourceRefused``), else as JobFailed with its traceback's text."""
    for attempt in (lambda: pickle.dumps(exc),
                    lambda: pickle.dumps((_rebuilt, (type(exc), exc.args, dict(exc.__dict__))))):
        try:
            data = attempt()
            _unpickled_error(data)
            return data
        except Exception:
            continue
    text = "".join(traceback.format_exception(exc)).rstrip()
    return pickle.dumps(JobFailed(f"{type(exc).__name__}: {exc}\n{text}"))


def _unpickled_error(data: bytes) -> BaseException:
    value = pickle.loads(data)
    if isinstance(value, tuple):
        rebuild, arguments = value
        value = rebuild(*arguments)
    if not isinstance(value, BaseException):
        raise TypeError(f"not an exception: {value!r}")
    return value


def _work(index: int) -> _Outcome[Any]:
    assert _TASK is not None
    try:
        result = _TASK(_JOBS[index])
    except BaseException as exc:  # every failure goes back to the parent
        return _Outcome(index, os.getpid(), _peak_kib(), error=_pickled_error(exc))
    return _Outcome(index, os.getpid(), _peak_kib(), result=result)


def preload(modules: Sequence[str], program: Path | None = None) -> None:
    """Import ``modules`` (those that exist) now, with the program's directory on the path
    so its own packages are found, so forked workers inherit them."""
    root = str(program.resolve() if program is not None and program.is_dir() else
               program.resolve().parent if program is not None else "")
    added = bool(root) and root not in sys.path
    if added:
        sys.path.insert(0, root)
    try:
        for name in modules:
            with contextlib.suppress(ImportError):
                importlib.import_module(name)
    finally:
        if added:
            with contextlib.suppress(ValueError):
                sys.path.remove(root)


@contextlib.contextmanager
def _frozen_heap() -> Iterator[None]:
    """Everything allocated so far moved out of the collector's reach while the workers
    fork: they inherit it frozen, so their collections never walk (and copy) the pages
    they share with the parent."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def map_jobs(
    task: Callable[[J], R],
    jobs: Sequence[J],
    *,
    workers: int | None = None,
    on_done: Callable[[int, R], None] | None = None,
    stats: PoolStats | None = None,
) -> list[R]:
    """``[task(job) for job in jobs]``, spread over ``workers`` forked processes.

    ``task`` and ``jobs`` reach the workers by the fork (they need not be picklable);
    each result comes back pickled. ``on_done(index, result)`` is called in this process
    as each job finishes (in finishing order: progress only). If jobs fail, every job
    still runs and the first failure in job order is raised.
    """
    global _TASK, _JOBS
    count = max(1, min(workers if workers is not None else default_workers(), len(jobs)))
    if stats is not None:
        stats.workers = count if count > 1 and "fork" in multiprocessing.get_all_start_methods() else 0
    if count == 1 or "fork" not in multiprocessing.get_all_start_methods():
        results: list[R] = []
        for i, job in enumerate(jobs):
            results.append(task(job))
            if on_done is not None:
                on_done(i, results[-1])
        return results
    outcomes: dict[int, _Outcome[R]] = {}
    _TASK, _JOBS = task, jobs
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        with _frozen_heap():
            pool = multiprocessing.get_context("fork").Pool(count)
        with pool:
            for outcome in pool.imap_unordered(_work, range(len(jobs)), chunksize=1):
                outcomes[outcome.index] = outcome
                if stats is not None:
                    stats.peak_kib[outcome.pid] = max(stats.peak_kib.get(outcome.pid, 0), outcome.peak_kib)
                if outcome.error is None and on_done is not None:
                    on_done(outcome.index, outcome.result)  # type: ignore[arg-type]
    finally:
        _TASK, _JOBS = None, ()
    for i in range(len(jobs)):
        error = outcomes[i].error
        if error is not None:
            raise _unpickled_error(error)
    return [outcomes[i].result for i in range(len(jobs))]  # type: ignore[misc]


# --------------------------------------------------------------------------------------
# Stacks: one offline run of the program per stack


@dataclass(frozen=True)
class StackJob:
    """One stack to plan: its Pulumi stack name and the config its program gets."""

    stack: str
    config: Mapping[str, Any]


def plan_stacks(
    program: Path,
    jobs: Sequence[StackJob],
    *,
    project: str,
    workers: int | None = None,
    preload_modules: Sequence[str] = DEFAULT_PRELOAD,
    on_done: Callable[[str, ProgramResult], None] | None = None,
    stats: PoolStats | None = None,
) -> dict[str, ProgramResult]:
    """Run ``program`` offline once per job, in parallel; the results by stack name, in
    stack-name order (the same whatever the worker count)."""
    names = [job.stack for job in jobs]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate stack names: {sorted(n for n in set(names) if names.count(n) > 1)}")
    preload(preload_modules, program)

    def task(job: StackJob) -> ProgramResult:
        return run_program(program, project=project, stack=job.stack, config=job.config)

    done = None if on_done is None else (lambda i, result: on_done(jobs[i].stack, result))
    results = map_jobs(task, jobs, workers=workers, on_done=done, stats=stats)
    return {name: results[i] for i, name in sorted(enumerate(names), key=lambda p: p[1])}
