"""``fleetform`` / ``python -m fleetform``: see the fleet before anything exists.

Exit codes: 0 ok, 2 invalid input (``<file>: <path>: <message>`` per line on stderr),
3 a mandatory policy rule fails (``plan``) or a stateful resource would be removed
(``diff --strict``, ``plan --against DIR --strict``), 4 a stack failed (``up``, ``preview``,
``destroy``), 1 internal error. User errors never print a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import platform
import sys
from collections.abc import Callable, Sequence
from importlib import metadata

from fleetform import __version__
from fleetform.cli import (
    apply,
    cost,
    diff,
    graph,
    inventory,
    kubeconfig,
    migrate,
    operator,
    plan,
    schema,
    stacks,
    status,
    synth,
    upgrade,
    validate,
)
from fleetform.cli.common import EXIT_INTERNAL, EXIT_INVALID, EXIT_OK, Subparsers
from fleetform.cli.examples import epilog
from fleetform.engine.checks import ProviderCheckError
from fleetform.spec.errors import FleetError

# One module per command, in the order `fleetform --help` lists them.
COMMANDS = (validate, plan, synth, diff, graph, inventory, schema, cost, kubeconfig, migrate, status, upgrade, apply,
            operator, stacks)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fleetform",
        description="Plan and inspect fleets of Kubernetes clusters offline, before `pulumi up` "
                    "(no cloud credentials, no Pulumi CLI). See docs/cli.md.",
        epilog="Exit codes: 0 ok, 2 invalid input, 3 a check failed (policy, diff --strict, plan --against --strict), "
               "4 a stack failed (up, preview, destroy), 1 internal error. Colours are off when output is not a terminal or NO_COLOR is set.",
    )
    parser.add_argument("--version", action="version", version=version_text())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    _add_examples(sub)
    return parser


def version_text() -> str:
    try:
        sdk = metadata.version("pulumi")
    except metadata.PackageNotFoundError:
        sdk = "not installed"
    return f"fleetform {__version__} (Python {platform.python_version()}, Pulumi SDK {sdk})"


def _add_examples(sub: Subparsers, prefix: str = "") -> None:
    """Every command's help ends with its examples (fleetform/cli/examples.py)."""
    for name, p in sub.choices.items():
        text = epilog(prefix + name)
        if text is not None:
            p.epilog = text
            p.formatter_class = argparse.RawDescriptionHelpFormatter
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                _add_examples(action, f"{prefix}{name} ")


def main(argv: Sequence[str] | None = None) -> int:
    # A short-lived process that builds large graphs: collect cyclic garbage rarely (the
    # offline engine does the same while a program runs; see fleetform/engine/run.py).
    gc.set_threshold(50_000, 20, 100)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # bare `fleetform`: what it can do, not a usage error
        parser.print_help()
        return EXIT_OK
    try:
        run: Callable[[argparse.Namespace], int] = args.run
        return run(args)
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
    except ProviderCheckError as exc:
        # What a real preview would refuse, in the provider's words as `pulumi preview`
        # prints them. Input that validates never gets here: the fix is ours (exit 1).
        for refused in exc.problems:
            print(f"error: {refused}", file=sys.stderr)
        return EXIT_INTERNAL
    except Exception as exc:  # an internal error is ours, not the user's: say so
        if os.environ.get("FLEETFORM_DEBUG"):
            raise
        print(f"fleetform: internal error: {type(exc).__name__}: {exc} "
              "(set FLEETFORM_DEBUG=1 for a traceback)", file=sys.stderr)
        return EXIT_INTERNAL
