"""``fleetform diff``: what a change would add, change and remove (stateful removals flagged)."""

from __future__ import annotations

import argparse
import json
import sys

from fleetform.cli.common import (
    EXIT_CHECK,
    EXIT_OK,
    Subparsers,
    add_source,
    need_source,
    run_engine,
)
from fleetform.cli.danger import danger_lines
from fleetform.cli.render import print_diff
from fleetform.engine.diff import diff_synth
from fleetform.engine.policy import pending_removals
from fleetform.engine.synth import bootstrap_documents, load_stack, read_synth, resource_record
from fleetform.spec.errors import FleetError, Problem


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser("diff", help="what a change would add, change and remove (stateful removals flagged)",
                       description="Compare two `fleetform synth` directories (OLD NEW), or a stack file "
                                   "against one (--against DIR with --stack/--file).")
    p.add_argument("old", nargs="?", metavar="OLD_DIR", help="synth directory before the change")
    p.add_argument("new", nargs="?", metavar="NEW_DIR", help="synth directory after the change")
    p.add_argument("--against", metavar="DIR", help="compare the stack (--stack/--file) against this synth directory")
    add_source(p, required=False)
    p.add_argument("--json", action="store_true", help="machine-readable JSON")
    p.add_argument("--show-bootstrap", action="store_true", help="print the unified diff of changed bootstrap documents")
    p.add_argument("--strict", action="store_true", help="exit 3 when a stateful resource would be removed")
    p.add_argument("-v", "--verbose", action="store_true", help="list every resource of added and removed clusters")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.against is not None:
        if args.old is not None or args.new is not None:
            raise FleetError([Problem("diff", "-", "give either OLD_DIR NEW_DIR or --against DIR, not both")])
        need_source(args, "diff --against")
        old = read_synth(args.against)
        stack = load_stack(args.stack, args.file)
        result = run_engine(stack)
        new_plan = stack.plan.to_json()
        new_records = [resource_record(r) for r in result.resources]
        new_docs = bootstrap_documents(new_records, stack.plan)
        new_label = stack.label
    else:
        if args.old is None or args.new is None:
            raise FleetError([Problem("diff", "-", "give two synth directories (OLD_DIR NEW_DIR), "
                                                   "or --against DIR with --stack/--file")])
        if args.stack is not None or args.file is not None:
            raise FleetError([Problem("diff", "-", "--stack/--file go with --against DIR, not with two directories")])
        old = read_synth(args.old)
        new = read_synth(args.new)
        new_plan, new_records, new_docs, new_label = new.plan, new.resources, new.bootstrap, args.new
    result_diff = diff_synth(old.plan, old.resources, new_plan, new_records, old.bootstrap, new_docs)
    removals = pending_removals(old.resources, new_records)
    dangers = [str(r) for r in removals]
    if args.json:
        data = result_diff.to_json()
        data["old"], data["new"] = str(args.against or args.old), new_label
        data["dangers"] = dangers
        data["danger_summary"], data["advice"] = danger_lines(removals)
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        print_diff(result_diff, removals, str(args.against or args.old), new_label, args.show_bootstrap,
                   args.verbose)
    if args.strict and (result_diff.stateful_removals or dangers):
        return EXIT_CHECK
    return EXIT_OK
