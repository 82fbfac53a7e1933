"""``fleetform status``: the fleet table from the stack's outputs, offline."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.table import Table

from fleetform.cli.common import EXIT_OK, Subparsers, add_source, load
from fleetform.cli.render import console
from fleetform.engine.status import read_stack_outputs, status_rows, unplanned
from fleetform.plan.fleet import plan_fleet


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser(
        "status", help="the deployed fleet from the stack's outputs (no cluster access)",
        description="One row per cluster incarnation: cloud, region, serving or not, Kubernetes version "
                    "planned and deployed, endpoint, migration phase, GitOps registration, add-on bundle "
                    "and certificate expiry where the outputs hold them. Reads `pulumi stack output --json` "
                    "saved to a file; without --outputs it shows the plan alone.",
        epilog="example: pulumi stack output --json --stack prod > prod.json && "
               "fleetform status --stack prod --outputs prod.json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_source(p)
    p.add_argument("--outputs", metavar="FILE", help="`pulumi stack output --json` of the stack")
    p.add_argument("--json", action="store_true", help="machine-readable JSON")
    p.set_defaults(run=run)


def _cell(value: Any) -> str:
    if value is None:
        return "?"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def run(args: argparse.Namespace) -> int:
    plan = plan_fleet(load(args))
    outputs = read_stack_outputs(args.outputs) if args.outputs else None
    rows = status_rows(plan, outputs)
    gone = unplanned(plan, outputs) if outputs is not None else []
    if args.json:
        sys.stdout.write(json.dumps({"fleet": plan.fleet, "stack": plan.stack, "incarnations": rows,
                                     "not_in_stack_file": gone}, indent=2) + "\n")
        return EXIT_OK
    out = console()
    table = Table(title=f"fleet {plan.fleet} (stack {plan.stack})", title_justify="left")
    for column in ("incarnation", "serving", "deployed", "kubernetes", "endpoint", "migration",
                   "gitops", "add-ons", "certs expire"):
        table.add_column(column, overflow="fold")
    for r in rows:
        k8s = r["kubernetes"]
        version = k8s["planned"] if k8s["deployed"] in (None, k8s["planned"]) else f"{k8s['deployed']} -> {k8s['planned']}"
        table.add_row(r["incarnation"], _cell(r["serving"]), _cell(r["deployed"] if outputs else None), version,
                      r["endpoint"], _cell(r["migration"]) if r["migration"] else "-", _cell(r["registered"]),
                      _cell(r["addons"]), _cell(r["certificates_expire"]))
    out.print(table)
    if outputs is None:
        out.print("no --outputs: the plan alone ('?' = known only after `pulumi up`)")
    for key in gone:
        out.print(f"warning: {key} is in the stack's outputs but no longer in the stack file "
                  "(being removed, or the file is ahead of the last `pulumi up`)")
    return EXIT_OK
