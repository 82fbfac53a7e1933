"""The dev stack's resource graph against its golden file (docs/golden-files.md).

Regenerate after an intended change with ``make golden`` (``python -m tests.golden``)
and review the diff of ``tests/golden/dev-graph.json`` like code.
"""

from __future__ import annotations

import json
from pathlib import Path

from planes_support import GOLDEN_FIELDS, StackRun, graph

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "dev-graph.json"


def test_dev_graph_matches_the_golden_file(dev: StackRun) -> None:
    expected = json.loads(GOLDEN.read_text())
    actual = graph(dev.resources)
    old = {e["urn"]: e for e in expected}
    new = {e["urn"]: e for e in actual}
    changes = [f"+ {u}" for u in sorted(set(new) - set(old))]
    changes += [f"- {u}" for u in sorted(set(old) - set(new))]
    changes += [f"~ {u}: {k}: {old[u].get(k)!r} -> {new[u][k]!r}"
                for u in sorted(set(old) & set(new)) for k in GOLDEN_FIELDS if old[u].get(k) != new[u][k]]
    assert changes == [], (
        "the dev graph differs from tests/golden/dev-graph.json; if intended, run `make golden` "
        "(python -m tests.golden) and review the diff:\n" + "\n".join(changes[:60]))
    assert expected == actual  # also the order and the exact fields


def test_golden_file_is_sorted_and_has_only_structural_fields() -> None:
    entries = json.loads(GOLDEN.read_text())
    assert [e["urn"] for e in entries] == sorted(e["urn"] for e in entries)
    assert all(tuple(e) == GOLDEN_FIELDS for e in entries)
    # References are URNs of resources in the same graph (provider ids are not kept).
    urns = {e["urn"] for e in entries}
    assert all(e["provider"] is None or e["provider"] in urns for e in entries)
    assert all(e["parent"] is None or e["parent"] in urns for e in entries)
