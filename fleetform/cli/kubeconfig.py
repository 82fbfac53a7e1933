"""``fleetform kubeconfig (--stack NAME | --file PATH) [--admin] [-o FILE]``.

Writes the fleet kubeconfig of a stack offline, from its plan: every cluster and
context exactly as ``pulumi up`` exports them (``kubeconfig`` / ``admin_kubeconfig``),
with placeholders for what only exists after ``pulumi up`` (cluster CAs, the admin
client certificates). Inspect it with ``kubectl config get-contexts``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from fleetform.cli.common import EXIT_OK, Subparsers, add_source, load
from fleetform.plan.fleet import plan_fleet
from fleetform.plan.identity import plan_identity
from fleetform.plan.kubeconfig import fleet_admin_kubeconfig, layout, people_kubeconfig


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser(
        "kubeconfig", help="the fleet kubeconfig of a stack (offline, placeholder certificates)",
        description="The fleet kubeconfig of a stack, from its plan: every cluster and context "
                    "exactly as `pulumi up` exports them, with placeholders for what only exists "
                    "after `pulumi up` (cluster CAs, admin client certificates). The default signs "
                    "people in through the fleet's SSO (kubectl oidc-login); --admin gives the "
                    "client-certificate contexts.",
    )
    add_source(p)
    p.add_argument(
        "--admin",
        action="store_true",
        help="the admin kubeconfig (client certificates) instead of the SSO one",
    )
    p.add_argument(
        "-o", "--output", metavar="FILE", help="write to FILE (mode 0600) instead of stdout"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    spec = load(args)
    plan = plan_fleet(spec)
    identity = plan_identity(spec, plan)
    if args.admin:
        text = fleet_admin_kubeconfig(layout(identity, plan, admin=True), {})
    else:
        text = people_kubeconfig(layout(identity, plan), {})
    if args.output:
        path = Path(args.output)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"wrote {path} ({len(plan.clusters)} cluster(s))", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK
