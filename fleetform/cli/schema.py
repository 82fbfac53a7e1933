"""``fleetform schema``: the JSON Schema of the stack format (for editors)."""

from __future__ import annotations

import argparse

from fleetform.cli.common import EXIT_OK, Subparsers, write_or_print
from fleetform.spec.schema import schema_text


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser("schema", help="JSON Schema of the stack format (for editors)",
                       description="Print the JSON Schema of stack and base files (docs/fleetform.schema.json; "
                                   "the example stacks point at it with a yaml-language-server modeline).")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    write_or_print(schema_text(), args.output, "JSON Schema")
    return EXIT_OK
