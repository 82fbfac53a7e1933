"""``fleetform plan``: the resolved plan and the resources ``pulumi up`` would create."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from fleetform.addons.build import cluster_addons
from fleetform.cli.against import read_previous, removals, warn
from fleetform.cli.common import (
    EXIT_CHECK,
    EXIT_OK,
    Subparsers,
    add_reuse,
    add_source,
    focus,
    gate_inputs,
    run_engine,
    violations,
)
from fleetform.cli.migrate import phase_problems
from fleetform.cli.render import console, print_counts, print_plan, print_policy, print_tree
from fleetform.engine.policy import exit_code
from fleetform.engine.synth import (
    Stack,
    attribute_plan,
    load_stack,
    resource_json,
    resource_record,
    stack_summary,
)
from fleetform.plan.credentials import Inventory, fleet_inventory, grouped, render
from fleetform.plan.identity import plan_identity
from fleetform.plan.names import root_rotation_gate, rotation_gate
from fleetform.plan.pki import root_rotation_state, rotation_states
from fleetform.plan.rotation import ROOT, RotationState, check_transition
from fleetform.spec.errors import FleetError, Problem
from fleetform.spec.load import origins, read_yaml
from fleetform.spec.models import FleetSpec
from fleetform.spec.stackfiles import secrets_provider_warning


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser("plan", help="the resolved plan and the resources `pulumi up` would create",
                       description="The plan of a stack, from the real program run offline: a table "
                                   "of clusters (fitted to the terminal's width), the estimated cost, the "
                                   "warnings, one line of resource counts per cluster and the policy "
                                   "verdict; --tree adds every resource (fleet > cluster > plane > "
                                   "counts by type) and every credential with its lifetime and renewal.")
    add_source(p)
    add_reuse(p)
    p.add_argument("--json", action="store_true", help="machine-readable JSON (docs/cli.md)")
    p.add_argument("--cluster", metavar="NAME", help="only this cluster")
    p.add_argument("--tree", action="store_true",
                   help="also every resource (fleet > cluster > plane > counts by type) and every "
                        "credential with its lifetime and renewal")
    p.add_argument("--no-resources", action="store_true",
                   help="skip the program run: the plan only (fast; no resource tree, no policy)")
    p.add_argument("--against", metavar="DIR",
                   help="warn (stderr) when a stateful resource of this synth directory would be removed")
    p.add_argument("--strict", action="store_true",
                   help="with --against: exit 3 when a stateful resource would be removed")
    p.set_defaults(run=run)


def add_addons(stack: Stack, data: dict[str, Any]) -> None:
    """Each incarnation's add-ons (bundle contents, bootstrap order) and what they run."""
    identity = plan_identity(stack.spec, stack.plan)
    by_key = {c.key: c for c in stack.plan.clusters}
    for c in data["clusters"]:
        c["addons"] = [{"name": name, "runs": what}
                       for name, what in cluster_addons(stack.plan, by_key[c["key"]], identity)]


def run(args: argparse.Namespace) -> int:
    previous = None
    if args.against is not None:
        if args.no_resources:
            raise FleetError([Problem("--against", args.against, "needs the program run: drop --no-resources")])
        previous = read_previous(args.against)  # before the (slow) run: a bad DIR fails fast
    elif args.strict:
        raise FleetError([Problem("--strict", "-", "goes with --against DIR")])
    stack = load_stack(args.stack, args.file)
    unsafe_state = secrets_provider_warning(read_yaml(stack.path, stack.label), stack.label, stack.name)
    if unsafe_state is not None:
        print(f"warning: {unsafe_state}", file=sys.stderr)
    if previous is not None:  # a skipped phase is refused like the gates refuse it
        problems = [*phase_problems(stack.spec, previous.resources),
                    *rotation_problems(stack.spec, previous.resources)]
        if problems:
            raise FleetError(problems)
    data = focus(stack.plan, args.cluster)
    add_addons(stack, data)
    credentials = fleet_inventory(stack.spec.identity.pki, stack.plan)
    if args.cluster is not None:
        credentials = Inventory(
            tuple(c for c in credentials.credentials if c.scope in ("fleet", args.cluster)),
            tuple(w for w in credentials.warnings if w.startswith(f"{args.cluster}:")))
    data["credentials"] = credentials.to_json()
    if args.no_resources:
        if args.json:
            sys.stdout.write(json.dumps(data, indent=2) + "\n")
            return EXIT_OK
        print_plan(stack.plan, data)
        print_credentials(credentials, detail=True)
        return EXIT_OK
    result = run_engine(stack, args.reuse)
    micro = None
    if stack.plan.stacks == "per-cluster":
        micro = [m for m in stack_summary(stack.plan, result.resources)
                 if args.cluster is None or m["cluster"] in (None, args.cluster)]
    records = [resource_json(r) for r in result.resources]
    places = attribute_plan(records, stack.plan)
    if args.cluster is not None:
        records = [r for r in records if places[r["urn"]].cluster == args.cluster]
    found = violations(result, stack.plan)
    shown = found if args.cluster is None else [
        v for v in found if v.urn not in places or places[v.urn].cluster in (args.cluster, None)]
    code = EXIT_CHECK if exit_code(found) else EXIT_OK
    removed = None
    if previous is not None:  # every removal, also with --cluster: a gone cluster has no name to focus on
        removed = removals(previous, stack.plan.to_json(), [resource_record(r) for r in result.resources])
        if args.strict and removed.any:
            code = EXIT_CHECK
    if args.json:
        if micro is not None:
            data["stacks"] = micro
        data["resources"] = records
        data["policy"] = [v.to_json() for v in shown]
        if removed is not None:
            data["against"] = removed.to_json()
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        print_plan(stack.plan, data, detail=args.tree)
        print_credentials(credentials, detail=args.tree)
        if args.tree:
            print_tree(stack.plan, data, records)
        else:
            print_counts(data, records, fleet_wide=args.cluster is None)
        if micro is not None:
            print_stacks(micro, detail=args.tree)
        print_policy(shown)
    if removed is not None:
        sys.stdout.flush()
        warn(removed, f"--stack {args.stack}" if args.stack else f"--file {args.file}", strict=args.strict)
    return code


def print_stacks(micro: list[dict[str, Any]], *, detail: bool) -> None:
    """The micro-stacks planned: one line, or (``detail``) one line each."""
    out = console()
    clusters = sum(1 for m in micro if m["scope"] == "cluster")
    out.print(f"stacks: {len(micro)} (fleet stack and {clusters} cluster stack{'s' * (clusters != 1)}, "
              "stacks: per-cluster)" + ("" if detail else "; --tree or --json lists each"),
              markup=False, highlight=False)
    if detail:
        width = max(len(m["name"]) for m in micro)
        for m in micro:
            out.print(f"  {m['name']:<{width}}  {m['scope']:<7}  {m['resources']:>5} resources", markup=False,
                      highlight=False)


def print_credentials(inv: Inventory, *, detail: bool) -> None:
    """Every credential with its lifetime and renewal (``detail``), else one line; then
    a warning for each thing nothing renews."""
    out = console()
    if not detail:
        kinds = sorted({c.kind for c in inv.credentials})
        out.print(f"credentials: {sum(c.count for c in inv.credentials)} ({', '.join(kinds)}); "
                  "--tree or --json lists each with its lifetime and renewal", markup=False, highlight=False)
    for line in render(inv) if detail else [f"warning: {w}" for w in grouped(inv.warnings, sorted({c.scope for c in inv.credentials} - {"fleet"}))]:
        if line.startswith("warning: "):
            out.print(f"[yellow]warning:[/yellow] {line.removeprefix('warning: ')}", markup=True, highlight=False)
        else:
            out.print(line, markup=False, highlight=False)


def rotation_state(resources: Sequence[Mapping[str, Any]], cluster: str) -> RotationState | None:
    """The CA rotation the gate of ``cluster`` holds among recorded resources."""
    inputs = gate_inputs(resources, rotation_gate(cluster))
    return None if inputs is None else RotationState.from_json(inputs)


def root_rotation_recorded(resources: Sequence[Mapping[str, Any]], fleet: str) -> RotationState | None:
    """The fleet root's rotation its gate holds among recorded resources."""
    inputs = gate_inputs(resources, root_rotation_gate(fleet))
    return None if inputs is None else RotationState.from_json(inputs)


def rotation_problems(spec: FleetSpec, previous: Sequence[Mapping[str, Any]]) -> list[Problem]:
    """What the CA rotation gates would refuse in `pulumi up`, against a previous synth,
    located at ``identity.pki.rotate.<cluster>``."""
    where = origins(spec)
    states = rotation_states(spec.identity.pki)
    problems = []
    for c in spec.clusters:
        new = states.get(c.name, RotationState())
        why = check_transition(c.name, rotation_state(previous, c.name), new, migrating=c.migrate is not None)
        if why is not None:
            path = ("identity", "pki", "rotate", c.name) if c.name in states else ("identity", "pki")
            problems.append(where.fleet_loc(*path).problem(why))
    root = root_rotation_state(spec.identity.pki)
    why = check_transition(ROOT, root_rotation_recorded(previous, spec.name), root,
                           migrating=any(c.migrate is not None for c in spec.clusters))
    if why is not None:
        root_path = ("identity", "pki", "rotate_root") if spec.identity.pki.rotate_root is not None \
            else ("identity", "pki")
        problems.append(where.fleet_loc(*root_path).problem(why))
    return problems
