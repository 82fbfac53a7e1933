"""Regenerate (or check) the golden files: ``python -m tests.golden`` (``make golden``).

Golden files pin the *shape* of a stack's resource graph — every URN with its type,
parent, provider, ``protect`` and ``ignore_changes`` — so that any change to what
``pulumi up`` would manage shows up as a reviewable diff. See docs/golden-files.md.

    python -m tests.golden            # rewrite tests/golden/*.json from the current code
    python -m tests.golden --check    # exit 1 (with a summary) when they are out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tests.planes.planes_support import STACKS, graph, run_stack

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
# golden file -> the stack whose graph it pins
GOLDEN_STACKS = {"dev-graph.json": STACKS / "Pulumi.dev.yaml"}


def render(entries: list[dict[str, Any]]) -> str:
    """One key per line, stable order, trailing newline: diffs stay line-sized."""
    return json.dumps(entries, indent=2, sort_keys=False) + "\n"


def build(name: str) -> str:
    return render(graph(run_stack(GOLDEN_STACKS[name]).resources))


def summary(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> list[str]:
    """What changed between two graphs, by URN: added, removed, changed fields."""
    old = {e["urn"]: e for e in expected}
    new = {e["urn"]: e for e in actual}
    lines = [f"+ {urn}" for urn in sorted(set(new) - set(old))]
    lines += [f"- {urn}" for urn in sorted(set(old) - set(new))]
    for urn in sorted(set(old) & set(new)):
        for key in new[urn]:
            if old[urn].get(key) != new[urn][key]:
                lines.append(f"~ {urn}: {key}: {old[urn].get(key)!r} -> {new[urn][key]!r}")
    return lines


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.golden", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 when out of date")
    args = parser.parse_args(argv)
    GOLDEN_DIR.mkdir(exist_ok=True)
    stale = 0
    for name in GOLDEN_STACKS:
        path = GOLDEN_DIR / name
        text = build(name)
        current = path.read_text() if path.exists() else None
        if current == text:
            print(f"{_shown(path)}: up to date")
            continue
        if args.check:
            stale += 1
            changes = summary(json.loads(current) if current else [], json.loads(text))
            print(f"{_shown(path)}: out of date ({len(changes)} change(s)); run `make golden`")
            for line in changes[:50]:
                print(f"  {line}")
            continue
        path.write_text(text)
        print(f"{_shown(path)}: written ({len(json.loads(text))} resources); review `git diff {_shown(path)}`")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
