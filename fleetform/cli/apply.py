"""``fleetform up | preview | destroy --stack ENV [--cluster NAME]... [--wave NAME]``.

Runs the fleet's micro-stacks (fleetform/plan/stacks.py) through Pulumi's Automation
API: the fleet stack first, then the cluster stacks, at most ``--concurrency`` at a
time (``destroy`` the other way round). Every line a stack prints is prefixed with its
name; a summary says what succeeded, failed and did not start. Exit codes: 0 every
stack succeeded, 2 invalid input (an unknown cluster or wave, a fleet stack never
applied, no Pulumi CLI), 4 a stack failed, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from fleetform.cli.common import EXIT_INVALID, EXIT_OK, EXIT_STACK_FAILED, Subparsers
from fleetform.engine.orchestrate import (
    Journal,
    Outcome,
    Summary,
    dependents_left,
    fingerprint,
    orchestrate,
    orphans,
    select,
    unmet_prerequisites,
    waiting_on_preview,
)
from fleetform.engine.runner import OnOutput, Operation, Runner, RunnerError
from fleetform.plan.fleet import plan_fleet
from fleetform.plan.load import load_stack_file
from fleetform.plan.model import FleetPlan
from fleetform.plan.stacks import MicroStack, parse_stack, stack_layout
from fleetform.spec.errors import FleetError, Problem
from fleetform.spec.stackfiles import project_root, resolve

DEFAULT_CONCURRENCY = 4
EXIT_INTERRUPTED = 130

HELP = {
    "preview": "preview the fleet's stacks through the Pulumi CLI (changes nothing)",
    "up": "apply the fleet's stacks through the Pulumi CLI: the fleet stack, then the clusters",
    "destroy": "destroy the fleet's stacks through the Pulumi CLI: the clusters, then the fleet stack",
}
VERB = {"preview": "preview", "up": "apply", "destroy": "destroy"}


def add_parser(sub: Subparsers) -> None:
    for operation in ("preview", "up", "destroy"):
        _add(sub, operation)


def _add(sub: Subparsers, operation: Operation) -> None:
    p = sub.add_parser(
        operation, help=HELP[operation],
        description=f"{HELP[operation][0].upper()}{HELP[operation][1:]} (Pulumi's Automation API; needs the `pulumi` CLI and the "
                    "fleet's backend). With `stacks: per-cluster` every cluster is its own stack "
                    "(docs/stacks.md); with `stacks: single` the fleet is one stack.")
    p.add_argument("--stack", metavar="ENV", required=True,
                   help="the fleet: stacks/Pulumi.ENV.yaml (a cluster stack name ENV.CLUSTER means --cluster)")
    p.add_argument("--cluster", metavar="NAME", action="append", default=[],
                   help="only this cluster's stack (repeatable)")
    p.add_argument("--wave", metavar="NAME", help="only the stacks of this upgrade wave's clusters (docs/upgrades.md)")
    p.add_argument("--with-fleet", action="store_true",
                   help="with --cluster/--wave: run the fleet stack too, first (last for destroy)")
    p.add_argument("--concurrency", metavar="N", type=_positive, default=DEFAULT_CONCURRENCY,
                   help=f"stacks run at the same time (default {DEFAULT_CONCURRENCY})")
    if operation != "preview":
        p.add_argument("--yes", action="store_true", help=f"{VERB[operation]} without asking")
        p.add_argument("--resume", action="store_true",
                       help=f"skip the stacks the last unfinished `{operation}` completed, if the plan is unchanged")
    p.set_defaults(run=run, operation=operation)


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def make_runner(project: Path) -> Runner:
    """The real runner; imported here so other commands never load the Automation API."""
    from fleetform.engine.automation import AutomationRunner

    return AutomationRunner(project)


def load_plan(env: str, clusters: list[str]) -> tuple[FleetPlan, list[str]]:
    """The plan of ``--stack``; ``ENV.CLUSTER`` (a cluster stack's name) selects that
    cluster. Pulumi writes a settings file for a cluster stack it creates
    (``stacks/Pulumi.ENV.CLUSTER.yaml``): the cluster of ENV's fleet wins over it."""
    base, cluster = parse_stack(env)
    if cluster is not None and (project_root() / "stacks" / f"Pulumi.{base}.yaml").is_file():
        path, label = resolve(base, None)
        plan = plan_fleet(load_stack_file(path, label=label))
        if cluster in {c.name for c in plan.clusters}:
            return plan, [*clusters, cluster]
    path, label = resolve(env, None)
    return plan_fleet(load_stack_file(path, label=label)), clusters


def run(args: argparse.Namespace) -> int:
    operation: Operation = args.operation
    plan, clusters = load_plan(args.stack, args.cluster)
    if operation != "destroy":  # destroy may also name a removed cluster's stack: below
        selected = select(plan, clusters=clusters, wave=args.wave, with_fleet=args.with_fleet)
    root = project_root()
    try:
        runner = make_runner(root)
        strays = orphans(plan, runner.stack_names())
        if operation == "destroy":
            selected = select(plan, clusters=clusters, wave=args.wave, with_fleet=args.with_fleet, extra=strays)
        problems = unmet_prerequisites(selected, runner, operation)
        if operation == "destroy":
            problems += dependents_left(selected, (*stack_layout(plan), *strays), runner)
        hold = waiting_on_preview(selected, runner) if operation == "preview" else {}
    except RunnerError as exc:
        print(f"fleetform {operation}: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if problems:
        raise FleetError(problems)
    for stray in strays if operation != "destroy" else ():
        print(f"warning: stack {stray.name!r} exists but cluster {stray.cluster!r} is no longer in the stack file: "
              f"its resources keep running; remove them with `fleetform destroy --stack {plan.stack} "
              f"--cluster {stray.cluster}`", file=sys.stderr)
    journal = Journal.of(root, plan.stack, operation, fingerprint(plan, operation))
    done: set[str] = set()
    if operation != "preview":
        done = journal.resume() if args.resume else set()
        if not args.yes and not _confirm(operation, [s for s in selected if s.name not in done]):
            print(f"{operation} cancelled: nothing ran", file=sys.stderr)
            return EXIT_OK
    printer = _Printer()
    completed = set(done)

    def finished(outcome: Outcome) -> None:
        printer.finished(outcome)
        if operation != "preview" and outcome.status == "succeeded":
            completed.add(outcome.stack)
            journal.record(completed)

    try:
        summary = orchestrate(selected, operation, runner, concurrency=args.concurrency, output_for=printer.output,
                              on_start=printer.started, on_finish=finished, done=done, hold=hold)
    except RunnerError as exc:
        print(f"fleetform {operation}: {exc}", file=sys.stderr)
        return EXIT_INVALID
    print_summary(summary, plan.stack)
    if operation != "preview" and summary.ok:
        journal.clear()
    if summary.interrupted:
        return EXIT_INTERRUPTED
    # A preview leaves out, and says why, the stacks that read a never-applied fleet stack:
    # not a failure. Any other stack left out is.
    left_out = [o for o in summary.by_status("not started") if o.stack not in hold]
    return EXIT_OK if not summary.by_status("failed") and not left_out else EXIT_STACK_FAILED


def _confirm(operation: Operation, stacks: list[MicroStack]) -> bool:
    names = ", ".join(s.name for s in stacks)
    if not sys.stdin.isatty():
        raise FleetError([Problem("--yes", "-", f"`fleetform {operation}` changes real infrastructure ({names}): "
                                  "confirm with --yes when not at a terminal (preview first)")])
    answer = input(f"{VERB[operation]} {len(stacks)} stack(s): {names}? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


class _Printer:
    """Each stack's lines prefixed with its name, whole lines only (several stacks print
    at once)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def _line(self, text: str) -> None:
        with self._lock:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()

    def output(self, name: str) -> OnOutput:
        def line(text: str) -> None:
            for part in text.rstrip("\n").splitlines() or [""]:
                self._line(f"[{name}] {part}")
        return line

    def started(self, stack: MicroStack) -> None:
        self._line(f"[{stack.name}] started")

    def finished(self, outcome: Outcome) -> None:
        detail = changes_text(outcome.changes) if outcome.status == "succeeded" else outcome.message.splitlines()[0] \
            if outcome.message else ""
        self._line(f"[{outcome.stack}] {outcome.status}{': ' + detail if detail else ''}")


def changes_text(changes: dict[str, int] | object) -> str:
    if not isinstance(changes, dict) or not changes:
        return "no changes"
    return ", ".join(f"{n} {op}" for op, n in sorted(changes.items()))


def print_summary(summary: Summary, env: str) -> None:
    lines = [f"{summary.operation} {env}: {len(summary.by_status('succeeded'))} succeeded, "
             f"{len(summary.by_status('failed'))} failed, {len(summary.by_status('not started'))} not started"
             + (f", {len(summary.by_status('skipped'))} skipped (--resume)" if summary.by_status("skipped") else "")
             + (" (interrupted)" if summary.interrupted else "")]
    width = max(len(o.stack) for o in summary.outcomes)
    for o in summary.outcomes:
        detail = changes_text(dict(o.changes)) if o.status == "succeeded" else o.message
        first, *rest = (detail or "-").splitlines()
        lines.append(f"  {o.status:<11}  {o.stack:<{width}}  {first}")
        lines += [f"  {'':<11}  {'':<{width}}  {more}" for more in rest]
    if summary.by_status("failed") and summary.operation != "preview":
        lines.append("run the same command with --resume to skip the stacks that succeeded")
    print("\n".join(lines), file=sys.stderr)
