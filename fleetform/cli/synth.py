"""``fleetform synth``: write a reviewable directory of everything the program makes."""

from __future__ import annotations

import argparse
from pathlib import Path

from fleetform.cli.common import EXIT_OK, Subparsers, add_reuse, add_source, run_engine, run_stacks
from fleetform.engine import reuse
from fleetform.engine.stacks import merged
from fleetform.engine.synth import artifacts, load_stack, write_synth
from fleetform.spec.errors import FleetError, Problem


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser("synth", help="write a reviewable directory: plan, resources, bootstrap documents, ...",
                       description="Run the program offline and write plan.json, resources.json, outputs.json, "
                                   "bootstrap/<cluster>/<role>.yaml, kubeconfig.yaml and inventory.json to DIR. "
                                   "Deterministic: the same stack file gives the same bytes.")
    add_source(p)
    add_reuse(p)
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (synth's own files are replaced)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    stack = load_stack(args.stack, args.file)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise FleetError([Problem("--out", args.out, "exists and is not a directory")])
    if stack.plan.stacks == "per-cluster":  # also what a later --reuse reads (engine/reuse.py)
        outcome = run_stacks(stack, args.reuse)
        result = merged(outcome.results)
        files = {**artifacts(stack, result), **reuse.write(outcome)}
    else:
        result = run_engine(stack)
        files = artifacts(stack, result)
    write_synth(out, files)
    docs = sum(1 for k in files if k.startswith("bootstrap/"))
    resources = len(result.resources)
    print(f"wrote {args.out}: plan.json ({len(stack.plan.clusters)} clusters), resources.json ({resources} "
          f"resources), outputs.json, inventory.json, kubeconfig.yaml, bootstrap/ ({docs} documents)")
    return EXIT_OK
