"""The reference pages stay honest: every field docs/stack-reference.md documents is
accepted, every field of the JSON schema is documented there, its examples and YAML
claims hold, and docs/cli.md names every field of `plan --json`'s cluster objects."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "stack-reference.md"
SCHEMA = ROOT / "docs" / "fleetform.schema.json"

# Sections whose tables name keys relative to a block (the heading's words -> prefix).
RELATIVE = {"workers": "workers[].", "Moving a cluster": "migrate."}
FLEET_SECTIONS = ("Fleet keys",)  # this section and its subsections are fleet-level
CLUSTER_SECTIONS = ("Cluster settings", "Moving a cluster")


def _rows(markdown: str) -> list[tuple[str, str]]:
    """(heading path, first cell) of every row of every `| key | ...` table."""
    rows: list[tuple[str, str]] = []
    h2 = h3 = ""
    in_key_table = False
    for line in markdown.splitlines():
        if line.startswith("## "):
            h2, h3 = line[3:], ""
        elif line.startswith("### "):
            h3 = line[4:]
        if not line.startswith("|"):
            in_key_table = False
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == "key":
            in_key_table = True
        elif in_key_table and not set(cells[0]) <= {"-", ":"}:
            rows.append((f"{h2} / {h3}", cells[0]))
    return rows


def documented_fields() -> dict[str, set[str]]:
    """{"fleet": {...}, "cluster": {...}}: dotted paths, list items as `[]`, map keys as `*`."""
    found: dict[str, set[str]] = {"fleet": set(), "cluster": set()}
    for heading, cell in _rows(REFERENCE.read_text()):
        h2 = heading.split(" / ")[0]
        scope = ("fleet" if h2.startswith(FLEET_SECTIONS)
                 else "cluster" if h2.startswith(CLUSTER_SECTIONS) else None)
        if scope is None:
            continue  # the files table: Pulumi's config keys, not the fleet
        prefix = next((p for words, p in RELATIVE.items() if words in heading), "")
        for key in re.findall(r"`([^`]+)`", cell):
            found[scope].add(prefix + re.sub(r"<[^>]+>", "*", key))
    return found


def schema_fields() -> dict[str, dict[str, bool]]:
    """{"fleet": {path: is_leaf}, "cluster": {...}} from the committed JSON schema."""
    schema = json.loads(SCHEMA.read_text())
    defs = schema["$defs"]

    def resolve(node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node:
            node = defs[node["$ref"].rsplit("/", 1)[-1]]
        return node

    def walk(node: Any, path: str, out: dict[str, bool], depth: int = 0) -> None:
        node = resolve(node)
        if not isinstance(node, dict) or depth > 12:
            return
        for alt in node.get("anyOf", []) + node.get("oneOf", []) + node.get("allOf", []):
            walk(alt, path, out, depth + 1)
        for key, sub in node.get("properties", {}).items():
            child = f"{path}.{key}" if path else key
            out.setdefault(child, True)
            if path:
                out[path.removesuffix("[]").removesuffix(".*")] = False
            walk(sub, child, out, depth + 1)
        if "items" in node:
            walk(node["items"], path + "[]", out, depth + 1)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            walk(extra, path + ".*", out, depth + 1)

    cluster: dict[str, bool] = {}
    walk(defs["ClusterEntry"], "", cluster)
    fleet_all: dict[str, bool] = {}
    walk(resolve(schema["properties"]["fleet"]), "", fleet_all)
    # defaults/profiles are cluster settings and clusters are clusters: documented once, there
    fleet = {p: leaf for p, leaf in fleet_all.items()
             if not p.startswith(("defaults.", "profiles.", "clusters["))}
    return {"fleet": fleet, "cluster": cluster}


def test_every_documented_field_is_accepted() -> None:
    docs, schema = documented_fields(), schema_fields()
    assert len(docs["fleet"]) > 20 and len(docs["cluster"]) > 30, docs  # the parser found the tables
    for scope in ("fleet", "cluster"):
        unknown = sorted(p for p in docs[scope] if p not in schema[scope])
        assert not unknown, f"docs/stack-reference.md documents {scope} fields the stack format rejects: {unknown}"


def test_every_schema_field_is_documented() -> None:
    docs, schema = documented_fields(), schema_fields()
    for scope in ("fleet", "cluster"):
        missing = sorted(p for p, leaf in schema[scope].items() if leaf and p not in docs[scope])
        assert not missing, (f"{scope} fields in docs/fleetform.schema.json missing from "
                             f"docs/stack-reference.md: {missing}")


def _yaml_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```yaml\n(.*?)^```", markdown, re.MULTILINE | re.DOTALL)


def _fleetform(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fleetform", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def _plan(stack: Path) -> dict[str, Any]:
    out = _fleetform("plan", "--no-resources", "--json", "--file", str(stack))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_the_layering_example_plans_as_described(tmp_path: Path) -> None:
    """The base/stack example of the layering section plans, with the result its comments say."""
    blocks = [b for b in _yaml_blocks(REFERENCE.read_text()) if b.startswith(("# stacks/fleet.yaml",
                                                                             "# stacks/Pulumi.prod.yaml"))]
    base = next(b for b in blocks if b.startswith("# stacks/fleet.yaml"))
    stacks = [b for b in blocks if b.startswith("# stacks/Pulumi.prod.yaml")]
    assert len(stacks) == 2
    (tmp_path / "fleet.yaml").write_text(base)
    for i, stack in enumerate(stacks):
        (tmp_path / f"Pulumi.ex{i}.yaml").write_text(stack)
        _plan(tmp_path / f"Pulumi.ex{i}.yaml")
    edge = _plan(tmp_path / "Pulumi.ex1.yaml")["clusters"][0]
    pools = {p["name"]: p for p in edge["workers"]}
    assert list(pools) == ["general", "gpu"]  # the new pool is appended
    assert (pools["general"]["min"], pools["general"]["max"]) == (1, 8)  # only max changed
    assert edge["etcd"]["members"] == 3  # members stay


def test_merge_keys_override_what_they_bring_in(tmp_path: Path) -> None:
    """As the reference says: `<<: *anchor` works, and a key set beside it wins."""
    (tmp_path / "fleet.yaml").write_text((ROOT / "stacks" / "fleet.yaml").read_text())
    stack = tmp_path / "Pulumi.merge.yaml"
    stack.write_text(
        "config:\n"
        "  fleetform:base: fleet.yaml\n"
        "  fleetform:fleet:\n"
        "    clusters:\n"
        "      - &one\n"
        "        name: one\n"
        "        cloud: aws\n"
        "        region: eu-west-1\n"
        "        network: {index: 1}\n"
        "        workers:\n"
        "          - &pool {name: general, size: small, min: 1, max: 2}\n"
        "      - <<: *one\n"
        "        name: two\n"
        "        network: {index: 2}\n"
        "        workers:\n"
        "          - <<: *pool\n"
        "            max: 5\n")
    reference = " ".join(REFERENCE.read_text().split())
    assert "merge keys: `<<: *anchor` brings in the anchor's keys, and a key the mapping sets itself overrides" in reference
    clusters = {c["name"]: c for c in _plan(stack)["clusters"]}
    assert clusters["two"]["region"] == "eu-west-1"
    assert clusters["two"]["network"]["node_cidr"] != clusters["one"]["network"]["node_cidr"]
    assert [(p["name"], p["max"]) for p in clusters["two"]["workers"]] == [("general", 5)]
    assert [(p["name"], p["max"]) for p in clusters["one"]["workers"]] == [("general", 2)]


def test_reference_says_the_schema_is_generated() -> None:
    reference = REFERENCE.read_text()
    assert "not generated" not in reference
    assert "fleetform schema -o docs/fleetform.schema.json" in reference
    assert "reported as a duplicate key" not in reference  # merge-key overrides work


CLI_DOC = ROOT / "docs" / "cli.md"


def _cli_table(section: str) -> set[str]:
    """Field names of the table that follows the line starting with `section`."""
    text = CLI_DOC.read_text()
    start = text.index(section)
    table = re.search(r"\n(\|.*\n)+", text[start:])
    assert table is not None, section
    return {name for line in table.group(0).strip().splitlines()[2:]
            for name in re.findall(r"`([^`]+)`", line.split("|")[1])}


@pytest.fixture(scope="module")
def prod_cluster() -> dict[str, Any]:
    return _plan(ROOT / "stacks" / "Pulumi.prod.yaml")["clusters"][0]  # type: ignore[no-any-return]


@pytest.mark.parametrize("section, key", [
    ("### A cluster", None), ("`network`:", "network"), ("`etcd` (the arrays", "etcd"),
    ("`control_plane`:", "control_plane"), ("A `workers` element:", "workers"), ("`api`:", "api"),
    ("`cost` (an estimate", "cost"),
])
def test_cli_doc_names_every_plan_json_field(prod_cluster: dict[str, Any], section: str,
                                             key: str | None) -> None:
    obj = prod_cluster if key is None else prod_cluster[key]
    if isinstance(obj, list):
        obj = obj[0]
    documented = _cli_table(section)
    fields = set(obj) - {"migration"}  # only while a cluster moves; documented in the table
    assert fields <= documented, f"docs/cli.md {section!r} misses {sorted(fields - documented)}"
