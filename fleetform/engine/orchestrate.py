"""Running a fleet's micro-stacks in order: which stacks a command selects, the order
they run in (prerequisites first; ``destroy`` the other way round), bounded concurrency,
a clean stop on failure, the summary, and the journal ``--resume`` reads.

Pure apart from the ``Runner`` it drives (``fleetform/engine/runner.py``): tests run it
with a fake runner. Threads, not processes: a stack's work happens in the Pulumi CLI
the runner starts, so a thread per running stack only waits.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any, Literal

from fleetform import __version__
from fleetform.engine.runner import OnOutput, Operation, Runner, StackResult, applied, run_one
from fleetform.plan.model import FleetPlan
from fleetform.plan.stacks import MicroStack, fleet_stack, parse_stack, stack_layout
from fleetform.spec.errors import FleetError, Problem
from fleetform.spec.messages import did_you_mean

Status = Literal["succeeded", "failed", "not started", "skipped"]


# ---------------------------------------------------------------- selection


def orphans(plan: FleetPlan, existing: Iterable[str]) -> tuple[MicroStack, ...]:
    """Cluster stacks of this fleet that exist in the backend but whose cluster is no
    longer in the stack file: their resources keep running until they are destroyed."""
    if plan.stacks == "single":
        return ()
    known = {s.name for s in stack_layout(plan)}
    found = []
    for name in sorted(set(existing)):
        env, cluster = parse_stack(name)
        if env == plan.stack and cluster is not None and name not in known:
            found.append(MicroStack(name, env, "cluster", cluster, (fleet_stack(env),)))
    return tuple(found)


def select(plan: FleetPlan, *, clusters: Sequence[str] = (), wave: str | None = None,
           with_fleet: bool = False, extra: Sequence[MicroStack] = ()) -> tuple[MicroStack, ...]:
    """The stacks a command runs, in layout order (the fleet stack first). No
    ``clusters``/``wave``: every stack. Otherwise those clusters' stacks, and the fleet
    stack only with ``with_fleet``. FleetError (exit 2) for a name that does not exist.
    ``extra``: stacks outside the layout the command may also run (``destroy``: the
    :func:`orphans`), after the layout's cluster stacks."""
    layout = stack_layout(plan)
    if extra:
        layout = (*layout, *extra)
    wanted = list(clusters)
    if wave is not None:
        wanted += _wave_clusters(plan, wave)
    if not wanted and wave is None:
        return layout
    if plan.stacks == "single":
        option = "--wave" if wave is not None else "--cluster"
        raise FleetError([Problem(option, wave if wave is not None else wanted[0],
                                  f"fleet {plan.stack!r} is one stack (`stacks: single`): {option} needs "
                                  "`stacks: per-cluster` (docs/stacks.md); run the whole stack without it")])
    by_cluster = {s.cluster: s for s in layout if s.cluster is not None}
    names = [c for c in by_cluster if c is not None]
    problems = [Problem("--cluster", c, f"no such cluster{did_you_mean(c, names)} (clusters: {', '.join(names)})")
                for c in dict.fromkeys(wanted) if c not in by_cluster]
    if problems:
        raise FleetError(problems)
    chosen = set(wanted)
    return tuple(s for s in layout if (s.scope == "fleet" and with_fleet) or s.cluster in chosen)


def _wave_clusters(plan: FleetPlan, wave: str) -> list[str]:
    if plan.upgrades is None:
        raise FleetError([Problem("--wave", wave, f"fleet {plan.stack!r} has no `upgrades` block: it has no waves "
                                  "(docs/upgrades.md)")])
    waves = {w.name: w for w in plan.upgrades.waves}
    if wave not in waves:
        raise FleetError([Problem("--wave", wave, f"no such wave{did_you_mean(wave, list(waves))} "
                                  f"(waves: {', '.join(waves)})")])
    return list(waves[wave].clusters)


def unmet_prerequisites(selected: Sequence[MicroStack], runner: Runner, operation: Operation) -> list[Problem]:
    """Stacks the selection reads but does not run, and that were never applied: a
    cluster stack cannot run without its fleet stack's outputs. ``destroy`` reads
    nothing (Pulumi destroys from the state, without the program)."""
    if operation == "destroy":
        return []
    inside = {s.name for s in selected}
    outside = dict.fromkeys(p for s in selected for p in s.prerequisites if p not in inside)
    return [Problem("--stack", name,
                    f"stack {name!r} (read by {', '.join(s.name for s in selected if name in s.prerequisites)}) "
                    f"has not been applied: run `fleetform up --stack {name}` first, or add --with-fleet")
            for name in outside if not applied(runner, name)]


def dependents_left(selected: Sequence[MicroStack], layout: Sequence[MicroStack], runner: Runner) -> list[Problem]:
    """``destroy`` only: a selected stack that stacks outside the selection still read
    (they exist). Destroying the fleet stack under live cluster stacks would take the
    identity they run on."""
    inside = {s.name for s in selected}
    problems = []
    for s in selected:
        readers = [o.name for o in layout
                   if s.name in o.prerequisites and o.name not in inside and runner.outputs(o.name) is not None]
        if readers:
            problems.append(Problem("--stack", s.name, f"stack {s.name!r} is read by {', '.join(readers)}, which "
                                    "still exist: destroy them first, or destroy the whole fleet"))
    return problems


def waiting_on_preview(selected: Sequence[MicroStack], runner: Runner) -> dict[str, str]:
    """Preview only: stacks whose prerequisite (selected too) was never applied. Their
    program reads its outputs, which exist only once it is applied: they are not
    previewed, and the summary says why."""
    names = {s.name for s in selected}
    missing = {p for s in selected for p in s.prerequisites if p in names and not applied(runner, p)}
    return {s.name: f"reads {', '.join(sorted(missing & set(s.prerequisites)))}, which has not been applied yet"
            for s in selected if missing & set(s.prerequisites)}


# ---------------------------------------------------------------- the run


@dataclass(frozen=True)
class Outcome:
    stack: str
    status: Status
    changes: Mapping[str, int] = field(default_factory=dict)
    message: str = ""


@dataclass(frozen=True)
class Summary:
    operation: Operation
    outcomes: tuple[Outcome, ...]  # in the selection's order
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(o.status in ("succeeded", "skipped") for o in self.outcomes)

    def by_status(self, status: Status) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == status]


def dependencies(selected: Sequence[MicroStack], operation: Operation) -> dict[str, set[str]]:
    """stack -> the stacks that must finish before it starts. ``up``: its prerequisites;
    ``destroy``: the stacks that have it as a prerequisite (clusters before the fleet);
    ``preview``: none (a preview changes nothing another stack reads)."""
    names = {s.name for s in selected}
    graph: dict[str, set[str]] = {s.name: set() for s in selected}
    if operation == "preview":
        return graph
    for s in selected:
        for p in s.prerequisites:
            if p in names:
                if operation == "up":
                    graph[s.name].add(p)
                else:
                    graph[p].add(s.name)
    return graph


def orchestrate(selected: Sequence[MicroStack], operation: Operation, runner: Runner, *,
                concurrency: int,
                output_for: Callable[[str], OnOutput] = lambda _name: lambda _line: None,
                on_start: Callable[[MicroStack], None] = lambda _s: None,
                on_finish: Callable[[Outcome], None] = lambda _o: None,
                done: Collection[str] = (),
                hold: Mapping[str, str] | None = None) -> Summary:
    """Run ``operation`` on ``selected``: at most ``concurrency`` stacks at a time, each
    once the stacks it depends on succeeded. After a failure (or Ctrl-C) no stack
    starts; the running ones finish. ``done``: stacks a previous run already did
    (skipped, counted as succeeded). ``hold``: stacks not to run, with the reason.

    ``on_start``/``on_finish`` are called from this thread; ``output_for(name)`` returns
    the line callback the runner calls from the stack's worker thread."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    hold = dict(hold or {})
    by_name = {s.name: s for s in selected}
    sorter = TopologicalSorter(dependencies(selected, operation))
    sorter.prepare()
    outcomes: dict[str, Outcome] = {}
    ready: deque[str] = deque()
    running: dict[Future[StackResult], str] = {}
    stop = interrupted = False

    def settle(name: str, outcome: Outcome, *, finished: bool) -> None:
        outcomes[name] = outcome
        on_finish(outcome)
        if finished:
            sorter.done(name)

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="stack") as pool:
        while True:
            freed = not stop
            while freed:  # a skipped stack frees the stacks after it at once
                freed = False
                for name in sorter.get_ready():
                    if name in done:
                        settle(name, Outcome(name, "skipped", message="done by the run --resume continues"),
                               finished=True)
                        freed = True
                    elif name in hold:
                        settle(name, Outcome(name, "not started", message=hold[name]), finished=False)
                    else:
                        ready.append(name)
            if not stop:
                while ready and len(running) < concurrency:
                    name = ready.popleft()
                    on_start(by_name[name])
                    running[pool.submit(run_one, runner, operation, by_name[name], output_for(name))] = name
            if not running:
                break
            try:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
            except KeyboardInterrupt:
                stop = interrupted = True  # let the running stacks finish: Pulumi holds their locks
                continue
            for future in sorted(finished, key=lambda f: running[f]):
                name = running.pop(future)
                try:
                    result = future.result()
                except Exception as exc:  # a runner bug must not lose the other stacks' results
                    result = StackResult(name, False, message=f"{type(exc).__name__}: {exc}")
                if result.ok:
                    settle(name, Outcome(name, "succeeded", result.changes), finished=True)
                else:
                    stop = True
                    settle(name, Outcome(name, "failed", result.changes, result.message), finished=False)
    reason = "interrupted" if interrupted else "a stack failed" if stop else "a prerequisite did not succeed"
    for s in selected:
        if s.name not in outcomes:
            outcomes[s.name] = Outcome(s.name, "not started", message=reason)
    return Summary(operation, tuple(outcomes[s.name] for s in selected), interrupted)


# ---------------------------------------------------------------- the journal


def fingerprint(plan: FleetPlan, operation: Operation) -> str:
    """What a resumed run must share with the interrupted one: the operation, the plan
    (every input the stack file gives) and fleetform's version."""
    text = json.dumps({"operation": operation, "version": __version__, "plan": plan.to_json()},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Journal:
    """``.fleetform/runs/<env>.<operation>.json``: the stacks the last unfinished run of
    this operation completed, and the fingerprint of its inputs. Written after every
    stack that succeeds; removed when a run completes."""

    path: Path
    fingerprint: str

    @classmethod
    def of(cls, root: Path, env: str, operation: Operation, key: str) -> Journal:
        return cls(root / ".fleetform" / "runs" / f"{env}.{operation}.json", key)

    def read(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise FleetError([Problem(str(self.path), "-", f"unreadable run journal ({exc}): delete it and "
                                      "run without --resume")]) from None
        return data if isinstance(data, dict) else None

    def resume(self) -> set[str]:
        """The stacks to skip; FleetError when there is nothing to resume or the inputs
        changed since (a resumed run must apply the same thing)."""
        data = self.read()
        if data is None:
            raise FleetError([Problem("--resume", "-", f"no unfinished run to resume ({self.path} does not "
                                      "exist): run without --resume")])
        if data.get("fingerprint") != self.fingerprint:
            raise FleetError([Problem("--resume", "-", "the plan or fleetform changed since the unfinished run: "
                                      "run without --resume (every stack runs again; Pulumi skips what is "
                                      "already up to date)")])
        return {str(s) for s in data.get("done", [])}

    def record(self, done: Iterable[str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"fingerprint": self.fingerprint, "done": sorted(done)}, indent=2) + "\n"
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".journal-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
