"""``fleetform graph``: the fleet as a picture (mermaid, dot or a self-contained html page)."""

from __future__ import annotations

import argparse

from fleetform.cli.common import (
    EXIT_OK,
    Subparsers,
    add_source,
    need_source,
    run_engine,
    write_or_print,
)
from fleetform.cli.graph_render import fleet_model, render
from fleetform.engine.synth import load_stack, read_synth, resource_record
from fleetform.spec.errors import FleetError, Problem


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser("graph", help="the fleet as a picture: mermaid, dot or a self-contained html page",
                       description="Clusters grouped by cloud and region, planes inside, the identity root on top.")
    add_source(p, required=False)
    p.add_argument("--from", dest="from_dir", metavar="DIR", help="draw a synth directory instead of a stack")
    p.add_argument("--format", choices=("mermaid", "dot", "html"), default="mermaid", help="default: mermaid")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    p.add_argument("--no-resources", action="store_true", help="skip the program run: no resource counts (fast)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.from_dir is not None:
        if args.stack is not None or args.file is not None:
            raise FleetError([Problem("graph", "-", "give --from DIR or --stack/--file, not both")])
        synthesized = read_synth(args.from_dir)
        model = fleet_model(synthesized.plan, None if args.no_resources else synthesized.resources)
    else:
        need_source(args, "graph")
        stack = load_stack(args.stack, args.file)
        records = None
        if not args.no_resources:
            records = [resource_record(r) for r in run_engine(stack).resources]
        model = fleet_model(stack.plan.to_json(), records)
    write_or_print(render(model, args.format), args.output, f"{args.format}, {len(model.clusters)} clusters")
    return EXIT_OK
