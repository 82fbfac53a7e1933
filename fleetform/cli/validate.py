"""``fleetform validate``: load, layer, validate and plan a stack file (no program run)."""

from __future__ import annotations

import argparse
import sys

from fleetform.cli.common import EXIT_OK, Subparsers, add_source, load
from fleetform.plan.fleet import plan_fleet


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser("validate", help="check a stack file; exit 2 with every problem",
                       description="Load, layer, validate and plan a stack file (no program run).")
    add_source(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    spec = load(args)
    plan = plan_fleet(spec)
    for w in plan.warnings:
        print(f"warning: {w}", file=sys.stderr)
    logical = len({c.name for c in plan.clusters})
    moving = "" if logical == len(plan.clusters) else f", {len(plan.clusters)} incarnations while moving"
    print(f"{logical} cluster(s) valid in fleet {plan.fleet!r} (stack {plan.stack!r}{moving})")
    return EXIT_OK
