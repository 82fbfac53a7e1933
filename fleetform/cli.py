"""``fleetform`` / ``python -m fleetform``: see the fleet before anything exists.

Exit codes: 0 ok, 2 invalid input (``<file>: <path>: <message>`` per line on stderr),
3 a mandatory policy rule fails (``plan``) or a stateful resource would be removed
(``diff --strict``, ``plan --against DIR --strict``), 1 internal error. User errors never print a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import cli_kubeconfig, cli_migrate
from .errors import FleetError, Problem
from .load import load_stack_file
from .plan import FleetPlan, plan_fleet
from .spec import FleetSpec
from .stackfiles import resolve

EXIT_OK, EXIT_INTERNAL, EXIT_INVALID, EXIT_CHECK = 0, 1, 2, 3


def _add_source(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    src = p.add_mutually_exclusive_group(required=required)
    src.add_argument("--stack", metavar="NAME", help="stack name: stacks/Pulumi.NAME.yaml")
    src.add_argument("--file", metavar="PATH", help="path to a stack file")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fleetform",
        description="Plan and inspect fleets of Kubernetes clusters offline, before `pulumi up` "
                    "(no cloud credentials, no Pulumi CLI). See docs/cli.md.",
        epilog="Exit codes: 0 ok, 2 invalid input, 3 a check failed (policy, diff --strict, plan --against --strict), "
               "1 internal error. Colours are off when output is not a terminal or NO_COLOR is set.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check a stack file; exit 2 with every problem",
                       description="Load, layer, validate and plan a stack file (no program run).")
    _add_source(p)

    p = sub.add_parser("plan", help="the resolved plan and the resources `pulumi up` would create",
                       description="The plan of a stack: a table of clusters, the resource tree "
                                   "(fleet > cluster > plane > resource counts by type) and the policy "
                                   "check, from the real program run offline.")
    _add_source(p)
    p.add_argument("--json", action="store_true", help="machine-readable JSON (docs/cli.md)")
    p.add_argument("--cluster", metavar="NAME", help="only this cluster")
    p.add_argument("--no-resources", action="store_true",
                   help="skip the program run: the plan only (fast; no resource tree, no policy)")
    p.add_argument("--against", metavar="DIR",
                   help="warn (stderr) when a stateful resource of this synth directory would be removed")
    p.add_argument("--strict", action="store_true",
                   help="with --against: exit 3 when a stateful resource would be removed")

    p = sub.add_parser("synth", help="write a reviewable directory: plan, resources, bootstrap documents, ...",
                       description="Run the program offline and write plan.json, resources.json, outputs.json, "
                                   "bootstrap/<cluster>/<role>.yaml, kubeconfig.yaml and inventory.json to DIR. "
                                   "Deterministic: the same stack file gives the same bytes.")
    _add_source(p)
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (synth's own files are replaced)")

    p = sub.add_parser("diff", help="what a change would add, change and remove (stateful removals flagged)",
                       description="Compare two `fleetform synth` directories (OLD NEW), or a stack file "
                                   "against one (--against DIR with --stack/--file).")
    p.add_argument("old", nargs="?", metavar="OLD_DIR", help="synth directory before the change")
    p.add_argument("new", nargs="?", metavar="NEW_DIR", help="synth directory after the change")
    p.add_argument("--against", metavar="DIR", help="compare the stack (--stack/--file) against this synth directory")
    _add_source(p, required=False)
    p.add_argument("--json", action="store_true", help="machine-readable JSON")
    p.add_argument("--show-bootstrap", action="store_true", help="print the unified diff of changed bootstrap documents")
    p.add_argument("--strict", action="store_true", help="exit 3 when a stateful resource would be removed")
    p.add_argument("-v", "--verbose", action="store_true", help="list every resource of added and removed clusters")

    p = sub.add_parser("graph", help="the fleet as a picture: mermaid, dot or a self-contained html page",
                       description="Clusters grouped by cloud and region, planes inside, the identity root on top.")
    _add_source(p, required=False)
    p.add_argument("--from", dest="from_dir", metavar="DIR", help="draw a synth directory instead of a stack")
    p.add_argument("--format", choices=("mermaid", "dot", "html"), default="mermaid", help="default: mermaid")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    p.add_argument("--no-resources", action="store_true", help="skip the program run: no resource counts (fast)")

    p = sub.add_parser("inventory", help="Ansible dynamic inventory (--list, --host NAME)",
                       description="An Ansible dynamic inventory from the plan. Without --stack/--file it reads "
                                   "FLEETFORM_STACK or FLEETFORM_FILE (and FLEETFORM_OUTPUTS), so a two-line "
                                   "wrapper script can be given to `ansible -i` (docs/cli.md).")
    _add_source(p, required=False)
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--list", action="store_true", help="the whole inventory (groups and _meta.hostvars)")
    mode.add_argument("--host", metavar="NAME", help="the variables of one host")
    p.add_argument("--outputs", metavar="FILE",
                   help="`pulumi stack output --json` of the deployed stack: control-plane addresses")

    p = sub.add_parser("schema", help="JSON Schema of the stack format (for editors)",
                       description="Print the JSON Schema of stack and base files (docs/fleetform.schema.json; "
                                   "the example stacks point at it with a yaml-language-server modeline).")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")

    p = sub.add_parser("cost", help="estimated monthly cost per cluster and in total (an estimate)",
                       description="Monthly cost from on-demand list prices (fleetform/sizes.py; date and "
                                   "source shown). Always an estimate; see docs/cost.md.")
    _add_source(p, required=False)
    p.add_argument("--cluster", metavar="NAME", help="only this cluster")
    p.add_argument("--json", action="store_true", help="machine-readable JSON")
    p.add_argument("--prices", action="store_true", help="print the price table instead (no stack needed)")

    cli_kubeconfig.add_parser(sub, _add_source)
    cli_migrate.add_parser(sub, _add_source)
    return parser


# --------------------------------------------------------------------------------------
# Shared helpers


def load(args: argparse.Namespace) -> FleetSpec:
    """The validated spec of --stack/--file (used by cli_kubeconfig too)."""
    path, label = resolve(args.stack, args.file)
    return load_stack_file(path, label=label)


def _need_source(args: argparse.Namespace, command: str) -> None:
    if args.stack is None and args.file is None:
        raise FleetError([Problem(command, "-", "one of --stack NAME or --file PATH is required")])


def _unknown_cluster(plan: FleetPlan, cluster: str) -> Problem:
    from .load import did_you_mean

    names = list(dict.fromkeys(c.name for c in plan.clusters))
    return Problem("--cluster", cluster, f"no such cluster{did_you_mean(cluster, names)} (clusters: {', '.join(names)})")


def _focus(plan: FleetPlan, cluster: str | None) -> dict[str, Any]:
    data = plan.to_json()
    if cluster is not None:
        if cluster not in [c["name"] for c in data["clusters"]]:
            raise FleetError([_unknown_cluster(plan, cluster)])
        data["clusters"] = [c for c in data["clusters"] if c["name"] == cluster]
    return data


def _evaluate(stack: Any) -> Any:
    """Run the program for a loaded stack, with a progress bar on an interactive stderr."""
    from .render import engine_progress
    from .synth import evaluate

    with engine_progress(f"evaluating {stack.label}") as tick:
        result = evaluate(stack, on_resource=tick)
    for token in result.unknown_invokes:
        print(f"warning: offline engine: no mock answer for data source {token!r}", file=sys.stderr)
    return result


def _write_or_print(text: str, output: str | None, what: str) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    try:
        Path(output).write_text(text, encoding="utf-8", newline="\n")
    except OSError as exc:
        raise FleetError([Problem("--output", output, f"cannot write: {exc.strerror or exc}")]) from None
    print(f"wrote {output} ({what})", file=sys.stderr)


def _policy(result: Any, plan: FleetPlan) -> list[Any] | None:
    """Policy violations of a program run, or None when the policy pack is unavailable."""
    try:
        from . import policy
    except ImportError as exc:  # the pack is optional for the CLI
        print(f"warning: policy checks skipped: {exc}", file=sys.stderr)
        return None
    return list(policy.evaluate(result.resources, outputs=result.outputs, decommissioning=policy.released(plan)))


# --------------------------------------------------------------------------------------
# Commands


def cmd_validate(args: argparse.Namespace) -> int:
    spec = load(args)
    plan = plan_fleet(spec)
    for w in plan.warnings:
        print(f"warning: {w}", file=sys.stderr)
    logical = len({c.name for c in plan.clusters})
    moving = "" if logical == len(plan.clusters) else f", {len(plan.clusters)} incarnations while moving"
    print(f"{logical} cluster(s) valid in fleet {plan.fleet!r} (stack {plan.stack!r}{moving})")
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    from .synth import attribute_plan, load_stack, resource_json

    previous = None
    if args.against is not None:
        from .cli_against import read_previous

        if args.no_resources:
            raise FleetError([Problem("--against", args.against, "needs the program run: drop --no-resources")])
        previous = read_previous(args.against)  # before the (slow) run: a bad DIR fails fast
    elif args.strict:
        raise FleetError([Problem("--strict", "-", "goes with --against DIR")])
    stack = load_stack(args.stack, args.file)
    if previous is not None:  # a skipped migration phase is refused like the gate refuses it
        from .cli_migrate import phase_problems

        problems = phase_problems(stack.spec, previous.resources)
        if problems:
            raise FleetError(problems)
    data = _focus(stack.plan, args.cluster)
    if args.no_resources:
        if args.json:
            sys.stdout.write(json.dumps(data, indent=2) + "\n")
            return EXIT_OK
        from .render import print_plan

        print_plan(stack.plan, data)
        return EXIT_OK
    result = _evaluate(stack)
    records = [resource_json(r) for r in result.resources]
    places = attribute_plan(records, stack.plan)
    if args.cluster is not None:
        records = [r for r in records if places[r["urn"]].cluster == args.cluster]
    violations = _policy(result, stack.plan)
    code = EXIT_OK
    if violations is not None:
        from .policy import exit_code

        shown = violations if args.cluster is None else [
            v for v in violations if v.urn not in places or places[v.urn].cluster in (args.cluster, None)]
        code = EXIT_CHECK if exit_code(violations) else EXIT_OK
    removed = None
    if previous is not None:  # every removal, also with --cluster: a gone cluster has no name to focus on
        from .cli_against import removals
        from .synth import resource_record

        removed = removals(previous, stack.plan.to_json(), [resource_record(r) for r in result.resources])
        if args.strict and removed.any:
            code = EXIT_CHECK
    if args.json:
        data["resources"] = records
        if violations is not None:
            data["policy"] = [v.to_json() for v in shown]
        if removed is not None:
            data["against"] = removed.to_json()
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        from .render import print_plan, print_policy, print_tree

        print_plan(stack.plan, data)
        print_tree(stack.plan, data, records, places)
        if violations is not None:
            print_policy(shown)
    if removed is not None:
        from .cli_against import warn

        sys.stdout.flush()
        warn(removed, f"--stack {args.stack}" if args.stack else f"--file {args.file}", strict=args.strict)
    return code


def cmd_synth(args: argparse.Namespace) -> int:
    from .synth import artifacts, load_stack, write_synth

    stack = load_stack(args.stack, args.file)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise FleetError([Problem("--out", args.out, "exists and is not a directory")])
    result = _evaluate(stack)
    files = artifacts(stack, result)
    write_synth(out, files)
    docs = sum(1 for k in files if k.startswith("bootstrap/"))
    resources = len(result.resources)
    print(f"wrote {args.out}: plan.json ({len(stack.plan.clusters)} clusters), resources.json ({resources} "
          f"resources), outputs.json, inventory.json, kubeconfig.yaml, bootstrap/ ({docs} documents)")
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    from .diff import diff_synth
    from .synth import bootstrap_documents, load_stack, read_synth, resource_record

    if args.against is not None:
        if args.old is not None or args.new is not None:
            raise FleetError([Problem("diff", "-", "give either OLD_DIR NEW_DIR or --against DIR, not both")])
        _need_source(args, "diff --against")
        old = read_synth(args.against)
        stack = load_stack(args.stack, args.file)
        result = _evaluate(stack)
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
    dangers: list[str] = []
    try:
        from .policy import pending_removals

        dangers = [str(r) for r in pending_removals(old.resources, new_records)]
    except ImportError:
        pass
    if args.json:
        data = result_diff.to_json()
        data["old"], data["new"] = str(args.against or args.old), new_label
        data["dangers"] = dangers
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        from .render import print_diff

        print_diff(result_diff, dangers, str(args.against or args.old), new_label, args.show_bootstrap,
                   args.verbose)
    if args.strict and (result_diff.stateful_removals or dangers):
        return EXIT_CHECK
    return EXIT_OK


def cmd_graph(args: argparse.Namespace) -> int:
    from .graph import fleet_model, render
    from .synth import load_stack, read_synth, resource_record

    if args.from_dir is not None:
        if args.stack is not None or args.file is not None:
            raise FleetError([Problem("graph", "-", "give --from DIR or --stack/--file, not both")])
        synthesized = read_synth(args.from_dir)
        model = fleet_model(synthesized.plan, None if args.no_resources else synthesized.resources)
    else:
        _need_source(args, "graph")
        stack = load_stack(args.stack, args.file)
        records = None
        if not args.no_resources:
            records = [resource_record(r) for r in _evaluate(stack).resources]
        model = fleet_model(stack.plan.to_json(), records)
    _write_or_print(render(model, args.format), args.output, f"{args.format}, {len(model.clusters)} clusters")
    return EXIT_OK


def cmd_inventory(args: argparse.Namespace) -> int:
    from .inventory import build_inventory, host_vars, read_outputs, unmatched_outputs

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
        from .load import did_you_mean

        hosts = sorted(inventory["_meta"]["hostvars"])
        raise FleetError([Problem("--host", args.host, f"no such host{did_you_mean(args.host, hosts)} "
                                                       f"({len(hosts)} hosts; see --list)")])
    sys.stdout.write(json.dumps(hv, indent=2) + "\n")
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from .schema import schema_text

    _write_or_print(schema_text(), args.output, "JSON Schema")
    return EXIT_OK


def cmd_cost(args: argparse.Namespace) -> int:
    from .cli_cost import cost_json, prices_json

    if args.prices:
        if args.json:
            sys.stdout.write(json.dumps(prices_json(), indent=2) + "\n")
        else:
            from .render import print_prices

            print_prices()
        return EXIT_OK
    _need_source(args, "cost")
    plan = plan_fleet(load(args))
    data = _focus(plan, args.cluster)
    if args.json:
        sys.stdout.write(json.dumps(cost_json(data), indent=2) + "\n")
        return EXIT_OK
    from .render import print_cost

    print_cost(plan, data)
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "validate": cmd_validate,
    "plan": cmd_plan,
    "synth": cmd_synth,
    "diff": cmd_diff,
    "graph": cmd_graph,
    "inventory": cmd_inventory,
    "schema": cmd_schema,
    "cost": cmd_cost,
    "kubeconfig": cli_kubeconfig.cmd_kubeconfig,
    "migrate": cli_migrate.cmd_migrate,
}


def main(argv: Sequence[str] | None = None) -> int:
    # A short-lived process that builds large graphs: collect cyclic garbage rarely (the
    # offline engine does the same while a program runs; see fleetform/offline.py).
    gc.set_threshold(50_000, 20, 100)
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
        # The reader went away (`fleetform plan | head`): not an error; keep Python quiet.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return EXIT_OK
    except Exception as exc:  # an internal error is ours, not the user's: say so
        if os.environ.get("FLEETFORM_DEBUG"):
            raise
        print(f"fleetform: internal error: {type(exc).__name__}: {exc} "
              "(set FLEETFORM_DEBUG=1 for a traceback)", file=sys.stderr)
        return EXIT_INTERNAL
