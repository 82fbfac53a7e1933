"""Running a fleet's micro-stacks offline (``stacks: per-cluster``, ``fleetform/plan/stacks.py``).

Each micro-stack is one run of the same program (``run.run_program``) under its own
Pulumi stack name: the fleet stack ``<env>`` first, then every cluster stack
``<env>.<cluster>``, whose StackReference reads the fleet stack's outputs from that
run (secrets stay secret). The mocks hash every URN with the fleet's stack name
(``seed_stack``), so a resource gets the same values in its micro-stack as in the
single stack of the same fleet: the micro-stacks' graphs together are the single
stack's graph, but for the stack part of each URN (tests/engine/test_micro_stacks.py).

Cluster stacks are independent of one another once the fleet stack has run: a caller
may run them in any order or in parallel processes (``run_micro_stack`` with the fleet
stack's ``ProgramResult.stack_outputs()``); ``run_fleet_stacks`` runs them in the worker
pool (``pool.py``), every core, with the same results as one after the other.

``evaluate_stacks`` does this for a loaded stack file, as ``synth.evaluate`` does for
one stack. ``config``: the configuration of the fleet's stack file (its ``config`` block, e.g.
``synth.program_config``). Under `pulumi up` a cluster stack has none and reads its
fleet's stack file itself (``fleetform.plan.load.program_config``); offline every
micro-stack gets the same block, so a stack file outside ``stacks/`` works too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from fleetform.engine import pool
from fleetform.engine.records import ProgramResult, Resource
from fleetform.engine.refusal import ResourceRefused, locate
from fleetform.engine.run import run_program
from fleetform.engine.synth import PROJECT, Stack, program_config, program_root
from fleetform.plan.model import FleetPlan
from fleetform.plan.stacks import MicroStack, StackReferenceError, resolve, stack_layout
from fleetform.spec.errors import FleetError, Problem


def run_micro_stack(program: Path, *, project: str, plan: FleetPlan, stack: str, config: Mapping[str, Any],
                    fleet_outputs: Mapping[str, Any] | None = None,
                    on_resource: Callable[[Resource], None] | None = None) -> ProgramResult:
    """Run one micro-stack of ``plan``'s fleet (``stack``: a name of ``stack_layout(plan)``;
    KeyError otherwise). ``fleet_outputs``: the fleet stack's outputs
    (``ProgramResult.stack_outputs()`` of its run), which a cluster stack needs: without
    them its StackReference raises ``StackNotApplied``; an output it reads that is not
    there raises ``StackOutputMissing`` (both name the stack)."""
    micro = resolve(plan, stack)
    outputs = {p: fleet_outputs for p in micro.prerequisites} if fleet_outputs is not None else {}
    return run_program(program, project=project, stack=micro.name, config=config, on_resource=on_resource,
                       stack_outputs=outputs, seed_stack=plan.stack)


def run_fleet_stacks(program: Path, *, project: str, plan: FleetPlan, config: Mapping[str, Any],
                     clusters: Iterable[str] | None = None,
                     on_resource: Callable[[MicroStack, Resource], None] | None = None,
                     workers: int | None = None,
                     fleet: ProgramResult | None = None,
                     ) -> dict[str, ProgramResult]:
    """Every micro-stack of the fleet, in ``stack_layout`` order (the fleet stack first);
    ``clusters``: only the stacks of these logical clusters (and the fleet stack, whose
    outputs they read). Keyed by stack name. With ``stacks: single``, the one stack.

    The fleet stack runs here; the cluster stacks then run in ``workers`` forked
    processes (``pool.map_jobs``; default: ``$FLEETFORM_WORKERS`` or every core; 1: one
    after the other, here). The results are the same whatever the count; if stacks fail,
    the failure of the first in layout order is raised, as it would be one by one.
    ``on_resource`` sees the fleet stack's registrations as they happen and a cluster
    stack's when its run is back (in ``canonical_order``). ``fleet``: the fleet stack's
    result from an earlier run (``reuse.py``): it is not run again, its outputs (the
    secret ones the cluster stacks read revealed) feed the cluster stacks, and it is not
    in the returned results."""
    wanted = set(clusters) if clusters is not None else None
    layout = [m for m in stack_layout(plan)
              if not (m.scope == "cluster" and wanted is not None and m.cluster not in wanted)]
    results: dict[str, ProgramResult] = {}
    fleet_outputs: dict[str, Any] | None = None
    if fleet is not None:
        layout = [m for m in layout if m.scope != "fleet"]
        fleet_outputs = dict(fleet.stack_outputs())
    for micro in [m for m in layout if m.scope != "cluster"]:
        tick = (lambda r, m=micro: on_resource(m, r)) if on_resource is not None else None
        result = run_micro_stack(program, project=project, plan=plan, stack=micro.name, config=config,
                                 fleet_outputs=fleet_outputs, on_resource=tick)
        if micro.scope == "fleet":
            fleet_outputs = dict(result.stack_outputs())
        results[micro.name] = result
    jobs = [m for m in layout if m.scope == "cluster"]
    if not jobs:
        return results
    pool.preload(pool.DEFAULT_PRELOAD, program)

    def run(micro: MicroStack) -> ProgramResult:  # in a worker: reaches it by the fork
        return run_micro_stack(program, project=project, plan=plan, stack=micro.name, config=config,
                               fleet_outputs=fleet_outputs)

    def done(index: int, result: ProgramResult) -> None:
        if on_resource is not None:
            for r in result.resources:
                on_resource(jobs[index], r)

    for micro, result in zip(jobs, pool.map_jobs(run, jobs, workers=workers, on_done=done), strict=True):
        results[micro.name] = result
    return results


def evaluate_stacks(stack: Stack, *, clusters: Iterable[str] | None = None,
                    on_resource: Callable[[MicroStack, Resource], None] | None = None,
                    ) -> dict[str, ProgramResult]:
    """``synth.evaluate`` for every micro-stack of a loaded stack file (``run_fleet_stacks``
    on the project's program with the file's configuration). What the input causes is
    FleetError (exit 2): a resource a provider refuses, located at its cluster; a cluster
    stack reading what its fleet stack lacks, at the file's ``stacks`` key."""
    root = program_root()
    try:
        return run_fleet_stacks(root, project=PROJECT, plan=stack.plan, config=program_config(stack, root),
                                clusters=clusters, on_resource=on_resource)
    except ResourceRefused as refused:
        raise FleetError([locate(stack.spec, stack.plan, refused)]) from None
    except StackReferenceError as exc:
        raise FleetError([Problem(stack.label, "fleet.stacks", str(exc))]) from None


def merged(results: Mapping[str, ProgramResult]) -> ProgramResult:
    """The micro-stacks' runs as one result, for what reads a fleet whole (plan, synth,
    diff, policy): every stack's resources in the given (layout) order, each stack's in
    its canonical order (URNs carry their stack's name); outputs by stack name."""
    return ProgramResult(
        resources=tuple(r for result in results.values() for r in result.resources),
        outputs={name: result.outputs for name, result in results.items()},
        secret_outputs={name: result.secret_outputs for name, result in results.items()},
        unknown_invokes=tuple(sorted({t for result in results.values() for t in result.unknown_invokes})),
        secret_output_names=tuple(f"{name}.{o}" for name, result in results.items()
                                  for o in result.secret_output_names),
    )

