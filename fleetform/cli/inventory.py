"""``fleetform inventory``: an Ansible dynamic inventory from the plan."""

from __future__ import annotations

import argparse
import json
import os
import sys

from fleetform.cli.common import EXIT_OK, Subparsers, add_source
from fleetform.engine.inventory import build_inventory, host_vars, read_outputs, unmatched_outputs
from fleetform.plan.fleet import plan_fleet
from fleetform.plan.load import load_stack_file
from fleetform.spec.errors import FleetError, Problem
from fleetform.spec.messages import did_you_mean
from fleetform.spec.stackfiles import resolve


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser("inventory", help="Ansible dynamic inventory (--list, --host NAME)",
                       description="An Ansible dynamic inventory from the plan. Without --stack/--file it reads "
                                   "FLEETFORM_STACK or FLEETFORM_FILE (and FLEETFORM_OUTPUTS), so a two-line "
                                   "wrapper script can be given to `ansible -i` (docs/cli.md).")
    add_source(p, required=False)
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--list", action="store_true", help="the whole inventory (groups and _meta.hostvars)")
    mode.add_argument("--host", metavar="NAME", help="the variables of one host")
    p.add_argument("--outputs", metavar="FILE",
                   help="`pulumi stack output --json` of the deployed stack: control-plane addresses")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    stack, file = args.stack, args.file
    if stack is None and file is None:
        stack = os.environ.get("FLEETFORM_STACK") or None
        file = None if stack else (os.environ.get("FLEETFORM_FILE") or None)
        if stack is None and file is None:
            raise FleetError([Problem("inventory", "-", "one of --stack NAME or --file PATH is required "
                                                        "(or FLEETFORM_STACK / FLEETFORM_FILE)")])
    path, label = resolve(stack, file)
    plan = plan_fleet(load_stack_file(path, label=label))
    outputs_file = args.outputs or os.environ.get("FLEETFORM_OUTPUTS") or None
    outputs = read_outputs(outputs_file) if outputs_file else None
    if outputs is not None:
        for w in unmatched_outputs(plan, outputs):
            print(f"warning: {w}", file=sys.stderr)
    inventory = build_inventory(plan, outputs)
    if args.list:
        sys.stdout.write(json.dumps(inventory, indent=2) + "\n")
        return EXIT_OK
    hv = host_vars(inventory, args.host)
    if hv is None:
        hosts = sorted(inventory["_meta"]["hostvars"])
        raise FleetError([Problem("--host", args.host, f"no such host{did_you_mean(args.host, hosts)} "
                                                       f"({len(hosts)} hosts; see --list)")])
    sys.stdout.write(json.dumps(hv, indent=2) + "\n")
    return EXIT_OK
