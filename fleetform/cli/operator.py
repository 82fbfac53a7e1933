"""``fleetform operator --stack ENV --out DIR --repo URL``: the fleet's micro-stacks as
Pulumi Kubernetes Operator v2 ``Stack`` objects, one file per stack, for a management
cluster to run (docs/stacks.md, "On a management cluster").

Files ``DIR`` holds from an earlier run (they start with the generated header) whose
stack left the fleet are removed, so ``kubectl apply --prune`` or a GitOps sync of DIR
sees the fleet as it is now; other files in DIR are left alone.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fleetform.cli.common import EXIT_OK, Subparsers
from fleetform.engine.operator import HEADER, OPERATOR_VERSION, Source, render, stack_objects
from fleetform.engine.runner import secrets_provider
from fleetform.plan.fleet import plan_fleet
from fleetform.plan.load import load_stack_file
from fleetform.plan.stacks import stack_layout
from fleetform.spec.errors import FleetError, Problem
from fleetform.spec.stackfiles import project_root, resolve


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser(
        "operator", help="Pulumi Kubernetes Operator objects: a Stack per micro-stack, for a management cluster",
        description=f"Writes a Pulumi Kubernetes Operator {OPERATOR_VERSION.split('.')[0]} `Stack` object "
                    "(pulumi.com/v1) per micro-stack of the fleet to DIR: the program and stack files come from "
                    "your git repository, cluster stacks wait for the fleet stack (prerequisites), and deleting "
                    "an object never destroys anything. Apply with `kubectl apply -f DIR`.")
    p.add_argument("--stack", metavar="ENV", required=True, help="the fleet: stacks/Pulumi.ENV.yaml")
    p.add_argument("--out", metavar="DIR", required=True, help="directory to write the objects to (created)")
    p.add_argument("--repo", metavar="URL", required=True, help="git URL of the repository holding this project")
    p.add_argument("--branch", metavar="NAME", default="main", help="branch the operator follows (default main)")
    p.add_argument("--path", metavar="DIR", help="directory of Pulumi.yaml in the repository (default its root)")
    p.add_argument("--namespace", metavar="NS", default="pulumi", help="namespace of the objects (default pulumi)")
    p.add_argument("--service-account", metavar="NAME", default="pulumi",
                   help="service account of the workspace pods (default pulumi)")
    p.add_argument("--backend", metavar="URL", help="Pulumi state backend (s3://…, gs://…; default Pulumi Cloud)")
    p.add_argument("--org", metavar="NAME", help="Pulumi Cloud organization: stacks are then ORG/STACK")
    p.add_argument("--token-secret", metavar="NAME",
                   help="Secret (key accessToken) holding PULUMI_ACCESS_TOKEN for Pulumi Cloud")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    path, label = resolve(args.stack, None)
    plan = plan_fleet(load_stack_file(path, label=label))
    source = Source(repo=args.repo, branch=args.branch, path=args.path, namespace=args.namespace,
                    service_account=args.service_account, backend=args.backend, organization=args.org,
                    token_secret=args.token_secret)
    files = render(stack_objects(stack_layout(plan), source, secrets_provider(project_root(), plan.stack)))
    write(Path(args.out), files)
    print(f"wrote {len(files)} Stack object(s) to {args.out} (Pulumi Kubernetes Operator {OPERATOR_VERSION}); "
          f"apply with: kubectl apply -f {args.out}", file=sys.stderr)
    return EXIT_OK


def write(out: Path, files: dict[str, str]) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        for stale in sorted(out.glob("*.yaml")):
            if stale.name not in files and stale.read_text(encoding="utf-8").startswith(HEADER):
                stale.unlink()
        for name, text in files.items():
            (out / name).write_text(text, encoding="utf-8", newline="\n")
    except OSError as exc:
        raise FleetError([Problem("--out", str(out), f"cannot write: {exc.strerror or exc}")]) from None
