"""``fleetform cost``: estimated monthly cost per cluster and in total, or the price table."""

from __future__ import annotations

import argparse
import json
import sys

from fleetform.cli.common import EXIT_OK, Subparsers, add_source, focus, load, need_source
from fleetform.cli.cost_report import cost_json, prices_json
from fleetform.cli.render import print_cost, print_prices
from fleetform.plan.fleet import plan_fleet


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser("cost", help="estimated monthly cost per cluster and in total (an estimate)",
                       description="Monthly cost from on-demand list prices (fleetform/catalog/sizes.py; date and "
                                   "source shown). Always an estimate; see docs/cost.md.")
    add_source(p, required=False)
    p.add_argument("--cluster", metavar="NAME", help="only this cluster")
    p.add_argument("--json", action="store_true", help="machine-readable JSON")
    p.add_argument("--prices", action="store_true", help="print the price table instead (no stack needed)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.prices:
        if args.json:
            sys.stdout.write(json.dumps(prices_json(), indent=2) + "\n")
        else:
            print_prices()
        return EXIT_OK
    need_source(args, "cost")
    plan = plan_fleet(load(args))
    data = focus(plan, args.cluster)
    if args.json:
        sys.stdout.write(json.dumps(cost_json(data), indent=2) + "\n")
        return EXIT_OK
    print_cost(plan, data)
    return EXIT_OK
