"""``fleetform stacks (--stack NAME | --file PATH) [--json] [--moves]``.

The Pulumi stacks a fleet is deployed as (``fleetform/plan/stacks.py``): their names,
what each holds and what must be applied first. ``--moves`` prints the commands that
move an existing single-stack deployment's resources into its cluster stacks without
replacing any (docs/stacks.md, "Moving a single stack"): which URNs go to which stack
comes from running the micro-stacks offline, so it is exactly what the program will
declare there.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys

from fleetform.cli.common import EXIT_OK, Subparsers, add_source, load
from fleetform.engine.records import ProgramResult
from fleetform.engine.stacks import run_fleet_stacks
from fleetform.engine.synth import PROJECT, Stack, program_config, program_root
from fleetform.plan import names
from fleetform.plan.fleet import plan_fleet
from fleetform.plan.model import FleetPlan
from fleetform.plan.stacks import stack_layout
from fleetform.spec.stackfiles import resolve

FLEET_TYPE = "fleetform:index:Fleet"


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser(
        "stacks", help="the Pulumi stacks of a fleet, and how to move a single stack into them",
        description="The Pulumi stacks a fleet is deployed as (fleet key `stacks`): each stack's name, what it "
                    "holds and its prerequisites. --moves: the `pulumi state move` commands that split an existing "
                    "single stack into the fleet stack and one stack per cluster without replacing a resource "
                    "(docs/stacks.md).",
    )
    add_source(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--moves", action="store_true",
                   help="the state moves from the single stack to the per-cluster stacks (runs the program offline)")
    p.set_defaults(run=run)


def moves(plan: FleetPlan, results: dict[str, ProgramResult]) -> dict[str, list[str]]:
    """Cluster stack -> the URNs (in the single stack ``plan.stack``) to move into it:
    the Fleet component's children the cluster stack declares (each with its whole
    subtree; `pulumi state move` takes children along and copies providers), not the
    upgrade gate (each cluster stack starts its own; the single stack's is deleted by
    the fleet stack's next `pulumi up`)."""
    env = plan.stack
    gate = names.upgrade_gate(plan.fleet)
    out: dict[str, list[str]] = {}
    for micro in stack_layout(plan):
        if micro.scope != "cluster":
            continue
        result = results[micro.name]
        fleet = next(r.urn for r in result.resources if r.type == FLEET_TYPE)
        prefix = f"urn:pulumi:{micro.name}::"
        out[micro.name] = [
            f"urn:pulumi:{env}::" + r.urn.removeprefix(prefix) for r in result.resources
            if r.parent == fleet and not r.type.startswith("pulumi:providers:") and r.name != gate
        ]
    return out


def run(args: argparse.Namespace) -> int:
    spec = load(args)
    path, label = resolve(args.stack, args.file)
    plan = plan_fleet(spec)
    if args.moves:
        split = dataclasses.replace(plan, stacks="per-cluster")
        stack = Stack(path=path, label=label, name=plan.stack, spec=spec, plan=plan)
        root = program_root()
        config = program_config(stack, root)
        config["fleetform:fleet"] = {**config["fleetform:fleet"], "stacks": "per-cluster"}
        results = run_fleet_stacks(root, project=PROJECT, plan=split, config=config)
        moved = moves(split, results)
        if args.json:
            print(json.dumps(moved, indent=2))
            return EXIT_OK
        print(f"# Move the single stack {plan.stack!r} into per-cluster stacks (docs/stacks.md); then set "
              f"`stacks: per-cluster` in {label}.")
        for name, urns in moved.items():
            print(f"pulumi stack init {shlex.quote(name)}")
            print(f"pulumi state move --source {shlex.quote(plan.stack)} --dest {shlex.quote(name)} --yes \\\n  "
                  + " \\\n  ".join(shlex.quote(u) for u in urns))
        return EXIT_OK
    layout = stack_layout(plan)
    if args.json:
        print(json.dumps([s.to_json() for s in layout], indent=2))
        return EXIT_OK
    width = max(len(s.name) for s in layout)
    for s in layout:
        holds = {"all": "the whole fleet", "fleet": "shared identity, federation, fleet logs, fleet outputs",
                 "cluster": f"cluster {s.cluster} (every incarnation)"}[s.scope]
        after = f"  after {', '.join(s.prerequisites)}" if s.prerequisites else ""
        print(f"{s.name:<{width}}  {holds}{after}")
    print(f"{len(layout)} stack(s) ({plan.stacks})", file=sys.stderr)
    return EXIT_OK
