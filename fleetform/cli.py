"""``fleetform`` / ``python -m fleetform``: see the fleet before anything exists.

Exit codes: 0 ok, 2 invalid input (``<file>: <path>: <message>`` per line on stderr),
1 internal error. User errors never print a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from . import cli_kubeconfig
from .errors import FleetError
from .load import load_stack_file
from .plan import FleetPlan, plan_fleet
from .spec import FleetSpec
from .stackfiles import resolve

EXIT_OK, EXIT_INTERNAL, EXIT_INVALID = 0, 1, 2


def _add_source(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--stack", metavar="NAME", help="stack name: stacks/Pulumi.NAME.yaml")
    src.add_argument("--file", metavar="PATH", help="path to a stack file")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fleetform",
        description="Plan and inspect fleets of Kubernetes clusters offline, before `pulumi up`.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check a stack file; exit 2 with every problem")
    _add_source(p)

    p = sub.add_parser("plan", help="the resolved plan of a stack")
    _add_source(p)
    p.add_argument("--json", action="store_true", help="machine-readable JSON (docs/cli.md)")
    p.add_argument("--cluster", metavar="NAME", help="only this cluster")
    cli_kubeconfig.add_parser(sub, _add_source)
    return parser


def load(args: argparse.Namespace) -> FleetSpec:
    path, label = resolve(args.stack, args.file)
    return load_stack_file(path, label=label)


def cmd_validate(args: argparse.Namespace) -> int:
    spec = load(args)
    plan = plan_fleet(spec)
    for w in plan.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(f"{len(plan.clusters)} cluster(s) valid in fleet {plan.fleet!r} (stack {plan.stack!r})")
    return EXIT_OK


def _focus(plan: FleetPlan, cluster: str | None) -> dict[str, Any]:
    data = plan.to_json()
    if cluster is not None:
        names = [c["name"] for c in data["clusters"]]
        if cluster not in names:
            raise FleetError([_unknown_cluster(plan, cluster)])
        data["clusters"] = [c for c in data["clusters"] if c["name"] == cluster]
    return data


def _unknown_cluster(plan: FleetPlan, cluster: str) -> Any:
    from .errors import Problem
    from .load import did_you_mean

    names = [c.name for c in plan.clusters]
    return Problem("--cluster", cluster, f"no such cluster{did_you_mean(cluster, names)} (clusters: {', '.join(names)})")


def cmd_plan(args: argparse.Namespace) -> int:
    spec = load(args)
    plan = plan_fleet(spec)
    data = _focus(plan, args.cluster)
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=False))
        return EXIT_OK
    from .render import print_plan

    print_plan(plan, data)
    return EXIT_OK


COMMANDS = {"validate": cmd_validate, "plan": cmd_plan, "kubeconfig": cli_kubeconfig.cmd_kubeconfig}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except FleetError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # an internal error is ours, not the user's: say so
        if os.environ.get("FLEETFORM_DEBUG"):
            raise
        print(f"fleetform: internal error: {type(exc).__name__}: {exc} "
              "(set FLEETFORM_DEBUG=1 for a traceback)", file=sys.stderr)
        return EXIT_INTERNAL
