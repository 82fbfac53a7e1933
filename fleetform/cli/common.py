"""What every command shares: exit codes, the --stack/--file source, loading, the
program run with its progress bar, and writing a result to a file or stdout."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias

from fleetform.cli.render import engine_progress
from fleetform.engine import policy
from fleetform.engine import reuse as reuse_engine
from fleetform.engine.stacks import evaluate_stacks, merged
from fleetform.engine.synth import Stack, evaluate
from fleetform.plan.load import load_stack_file
from fleetform.plan.model import FleetPlan
from fleetform.spec.errors import FleetError, Problem
from fleetform.spec.messages import did_you_mean
from fleetform.spec.models import FleetSpec
from fleetform.spec.stackfiles import is_production_stack, resolve

EXIT_OK, EXIT_INTERNAL, EXIT_INVALID, EXIT_CHECK = 0, 1, 2, 3
# `up`/`preview`/`destroy`: a stack failed, so others did not run (docs/cli.md).
EXIT_STACK_FAILED = 4
# The type every gate (migration, CA rotation, upgrades) is recorded under: a dynamic resource.
GATE_TYPE = "pulumi-python:dynamic:Resource"

# argparse only declares the type parameter for type checkers.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class _Once(argparse.Action):
    """An option that may be given once: a second value is an error, not a silent override."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        before = getattr(namespace, self.dest, None)
        if before is not None:
            parser.error(f"{option_string} given twice ({before!r} and {values!r}): give it once")
        setattr(namespace, self.dest, values)


def add_source(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    src = p.add_mutually_exclusive_group(required=required)
    src.add_argument("--stack", metavar="NAME", action=_Once, help="stack name: stacks/Pulumi.NAME.yaml")
    src.add_argument("--file", metavar="PATH", action=_Once, help="path to a stack file")


def load(args: argparse.Namespace) -> FleetSpec:
    """The validated spec of --stack/--file."""
    path, label = resolve(args.stack, args.file)
    return load_stack_file(path, label=label)


def need_source(args: argparse.Namespace, command: str) -> None:
    if args.stack is None and args.file is None:
        raise FleetError([Problem(command, "-", "one of --stack NAME or --file PATH is required")])


def unknown_cluster(plan: FleetPlan, cluster: str) -> Problem:
    names = list(dict.fromkeys(c.name for c in plan.clusters))
    return Problem("--cluster", cluster, f"no such cluster{did_you_mean(cluster, names)} (clusters: {', '.join(names)})")


def focus(plan: FleetPlan, cluster: str | None) -> dict[str, Any]:
    data = plan.to_json()
    if cluster is not None:
        if cluster not in [c["name"] for c in data["clusters"]]:
            raise FleetError([unknown_cluster(plan, cluster)])
        data["clusters"] = [c for c in data["clusters"] if c["name"] == cluster]
    return data


def add_reuse(p: argparse.ArgumentParser) -> None:
    p.add_argument("--reuse", metavar="DIR", help="a previous `fleetform synth --out DIR` of this fleet: micro-stacks "
                   "whose inputs are unchanged are read from it instead of run (stacks: per-cluster only)")


def run_stacks(stack: Stack, reuse: str | None = None) -> reuse_engine.Outcome:
    """Every micro-stack of a ``stacks: per-cluster`` fleet, with a progress bar; with
    ``reuse``, those whose inputs did not change since that synth are read from it."""
    with engine_progress(f"evaluating {stack.label}") as tick:
        return reuse_engine.evaluate(stack, reuse=Path(reuse) if reuse is not None else None,
                                     on_resource=lambda _stack, r: tick(r))


def run_engine(stack: Stack, reuse: str | None = None) -> Any:
    """Run the program for a loaded stack, with a progress bar on an interactive stderr.
    A ``stacks: per-cluster`` fleet runs as its micro-stacks (the fleet stack, then the
    cluster stacks on every core), merged into one result (``stacks.merged``); with
    ``reuse`` (a previous synth), only those whose inputs changed run."""
    if reuse is not None and stack.plan.stacks == "per-cluster":
        result = merged(run_stacks(stack, reuse).results)
    else:
        with engine_progress(f"evaluating {stack.label}") as tick:
            if stack.plan.stacks == "per-cluster":
                result = merged(evaluate_stacks(stack, on_resource=lambda _stack, r: tick(r)))
            else:
                result = evaluate(stack, on_resource=tick)
    for token in result.unknown_invokes:
        print(f"warning: offline engine: no mock answer for data source {token!r}", file=sys.stderr)
    return result


def write_or_print(text: str, output: str | None, what: str) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    try:
        Path(output).write_text(text, encoding="utf-8", newline="\n")
    except OSError as exc:
        raise FleetError([Problem("--output", output, f"cannot write: {exc.strerror or exc}")]) from None
    print(f"wrote {output} ({what})", file=sys.stderr)


def violations(result: Any, plan: FleetPlan) -> list[policy.Violation]:
    """Policy violations of a program run."""
    return list(policy.evaluate(result.resources, outputs=result.outputs, decommissioning=policy.released(plan),
                                production=is_production_stack(plan.stack)))


def gate_inputs(resources: Sequence[Mapping[str, Any]], name: str) -> Mapping[str, Any] | None:
    """The inputs the gate named ``name`` holds among recorded resources (a synth's or a
    stack export's), or None when there is no such gate."""
    for r in resources:
        if r.get("type") == GATE_TYPE and r.get("name") == name:
            return r.get("inputs") or {}
    return None

