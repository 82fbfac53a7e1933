"""Mutations of the example stack files, and the checks every run of the CLI must pass.

A mutation starts from one of the project's own stack files (``stacks/Pulumi.*.yaml``
and the shared ``stacks/fleet.yaml``) and breaks it the way people do: a wrong type, a
missing or unknown key, broken YAML, huge numbers, unicode, empty lists, duplicate
names, overlapping address ranges.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
STACKS = ROOT / "stacks"
STACK_NAMES = ("dev", "staging", "prod")
BASE_NAME = "fleet.yaml"
FLEET_KEY = "fleetform:fleet"

Path_ = tuple[str | int, ...]


def load(name: str) -> Any:
    return yaml.safe_load((STACKS / name).read_text(encoding="utf-8"))


def stack_doc(stack: str) -> Any:
    return load(f"Pulumi.{stack}.yaml")


def base_doc() -> Any:
    return load(BASE_NAME)


# ---------------------------------------------------------------- tree helpers


def paths(node: Any, prefix: Path_ = ()) -> Iterator[Path_]:
    """Every path into ``node`` (the root included)."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from paths(v, (*prefix, i))


def get(node: Any, path: Path_) -> Any:
    for key in path:
        node = node[key]
    return node


def put(root: Any, path: Path_, value: Any) -> Any:
    if not path:
        return value
    get(root, path[:-1])[path[-1]] = value
    return root


# ---------------------------------------------------------------- value strategies

UNICODE = st.sampled_from([
    "", " ", "é", "ü-cluster", "クラスタ", "кластер", "集群", "🚀", "a\u200bb", "\u202eevil",
    "Ω≈ç√", "tab\there", "new\nline", "nul\x00byte", "\ufeffbom", "ﬁ", "İstanbul", "e\u0301",
    "x" * 300, "${HOME}", "{{fleetform:bootstrap-token}}", "'quoted'", "\"dq\"", "- dash",
    "a: b", "#comment", "*alias", "&anchor", "!tag", "%percent", "@at", "`tick`",
])
HUGE = st.sampled_from([
    0, -1, -(2**31), 2**31, 2**53 + 1, 2**63, -(2**63) - 1, 10**30, 10**400, 1e308, -1e308,
    math.inf, -math.inf, math.nan, 0.5, 1e-300, 3.0, 2**64,
])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**20), max_value=10**20), HUGE,
    st.floats(allow_nan=True, allow_infinity=True), UNICODE, st.text(max_size=20),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.one_of(UNICODE, st.text(max_size=8)), inner, max_size=3)),
    max_leaves=6,
)
KEYS = st.one_of(UNICODE, st.text(min_size=1, max_size=12), st.sampled_from([
    "nmae", "clusters ", "Name", "cloud:", "region\n", "etcd.members", "decommision", "fleetform:fleat",
    "profiles", "defaults", "apiVersion", "__proto__", "<<",
]), st.integers(), st.booleans())
BAD_CIDRS = st.sampled_from([
    "10.0.0.0/8", "10.0.0.0/30", "10.3.0.0/16", "0.0.0.0/0", "::/0", "10.0.0.0/33", "10.0.0.1/8",
    "256.0.0.0/8", "not-a-cidr", "10.0.0.0", "fe80::/10", "10.0.0.0/8\n", "１０.0.0.0/8",
])
YAML_NOISE = st.sampled_from([
    ":", ": ", "-", "- ", "[", "]", "{", "}", "\t", "\"", "'", "&a", "*a", "!!python/object:os.system",
    "%YAML 1.1", "@", "`", "|", ">", "#", "\n", "  ", "---", "...", "? ", "<<: *x", "\x00", "\ufeff",
    "\r", "\u2028", "key: value", "a: [", "{a: 1,", "\\",
])


@dataclass(frozen=True)
class Case:
    """A mutated stack file (and base file) as text, and what was done."""

    stack_text: str
    base_text: str
    what: str


def dump(doc: Any) -> str:
    try:
        return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    except (yaml.YAMLError, ValueError, RecursionError):
        return yaml.safe_dump(repr(doc))


@st.composite
def tree_mutation(draw: st.DrawFn, stacks: tuple[str, ...] = STACK_NAMES) -> Case:
    """A structural mutation of the stack file or of the base file."""
    stack = draw(st.sampled_from(stacks))
    docs = {"stack": stack_doc(stack), "base": base_doc()}
    target = draw(st.sampled_from(["stack", "stack", "base"]))
    doc = docs[target]
    kind = draw(st.sampled_from([
        "wrong-type", "missing-key", "unknown-key", "huge-number", "unicode", "empty",
        "duplicate", "overlapping-cidrs", "same-network-index", "deep-garbage",
    ]))
    all_paths = list(paths(doc))
    what = f"{kind} in {target} of {stack}"
    if kind == "wrong-type":
        path = draw(st.sampled_from(all_paths))
        doc = put(doc, path, draw(VALUES))
        what += f" at {path}"
    elif kind == "missing-key":
        keyed = [p for p in all_paths if p and isinstance(get(doc, p[:-1]), dict)]
        path = draw(st.sampled_from(keyed))
        del get(doc, path[:-1])[path[-1]]
        what += f" at {path}"
    elif kind == "unknown-key":
        maps = [p for p in all_paths if isinstance(get(doc, p), dict)]
        path = draw(st.sampled_from(maps))
        get(doc, path)[draw(KEYS)] = draw(VALUES)
        what += f" at {path}"
    elif kind in ("huge-number", "unicode"):
        leaves = [p for p in all_paths if p and not isinstance(get(doc, p), dict | list)]
        path = draw(st.sampled_from(leaves))
        doc = put(doc, path, draw(HUGE if kind == "huge-number" else UNICODE))
        what += f" at {path}"
    elif kind == "empty":
        containers = [p for p in all_paths if isinstance(get(doc, p), dict | list)]
        path = draw(st.sampled_from(containers))
        doc = put(doc, path, [] if isinstance(get(doc, path), list) else {})
        what += f" at {path}"
    elif kind == "duplicate":
        lists = [p for p in all_paths if isinstance(get(doc, p), list) and get(doc, p)]
        if lists:
            path = draw(st.sampled_from(lists))
            items = get(doc, path)
            items.append(copy.deepcopy(items[draw(st.integers(0, len(items) - 1))]))
            what += f" at {path}"
    elif kind in ("overlapping-cidrs", "same-network-index"):
        fleet = _fleet(docs, target)
        clusters = fleet.get("clusters") if isinstance(fleet, dict) else None
        if kind == "overlapping-cidrs" and isinstance(fleet, dict):
            where = draw(st.sampled_from(["supernet", "allowed", "prefix"]))
            if where == "supernet":
                fleet.setdefault("network", {})["supernet"] = draw(BAD_CIDRS)
            elif where == "prefix":
                fleet.setdefault("network", {})["cluster_prefix"] = draw(st.integers(-5, 40))
            elif isinstance(clusters, list) and clusters and isinstance(clusters[0], dict):
                clusters[0]["api"] = {"allowed_cidrs": draw(st.lists(BAD_CIDRS, max_size=3))}
        elif isinstance(clusters, list) and len(clusters) > 1:
            index = draw(st.integers(-3, 300))
            for c in clusters[:2]:
                if isinstance(c, dict):
                    c["network"] = {"index": index}
        doc = docs[target]
    else:  # deep-garbage: a whole subtree replaced by a random structure
        path = draw(st.sampled_from(all_paths))
        doc = put(doc, path, draw(st.recursive(VALUES, lambda i: st.dictionaries(KEYS, i, max_size=4),
                                               max_leaves=12)))
        what += f" at {path}"
    docs[target] = doc
    return Case(dump(docs["stack"]), dump(docs["base"]), what)


def _fleet(docs: dict[str, Any], target: str) -> Any:
    if target == "base":
        return docs["base"].get("fleet") if isinstance(docs["base"], dict) else None
    config = docs["stack"].get("config") if isinstance(docs["stack"], dict) else None
    return config.get(FLEET_KEY) if isinstance(config, dict) else None


@st.composite
def text_mutation(draw: st.DrawFn) -> Case:
    """Broken YAML: characters inserted, deleted, lines duplicated or cut."""
    stack = draw(st.sampled_from(STACK_NAMES))
    texts = {"stack": (STACKS / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"),
             "base": (STACKS / BASE_NAME).read_text(encoding="utf-8")}
    target = draw(st.sampled_from(["stack", "stack", "base"]))
    text = texts[target]
    kind = draw(st.sampled_from(["insert", "delete", "duplicate-line", "truncate", "indent", "replace-line"]))
    at = draw(st.integers(0, len(text)))
    if kind == "insert":
        text = text[:at] + draw(st.one_of(YAML_NOISE, st.text(max_size=5))) + text[at:]
    elif kind == "delete":
        text = text[:at] + text[at + draw(st.integers(1, 40)):]
    elif kind == "truncate":
        text = text[:at]
    else:
        lines = text.splitlines(keepends=True)
        n = draw(st.integers(0, max(0, len(lines) - 1)))
        if kind == "duplicate-line":
            lines.insert(n, lines[n] if lines else "")
        elif kind == "indent":
            lines[n] = draw(st.sampled_from(["\t", " ", "   ", ""])) + lines[n].lstrip(" ")
        else:
            lines[n] = draw(st.one_of(YAML_NOISE, st.text(max_size=30))) + "\n"
        text = "".join(lines)
    texts[target] = text
    return Case(texts["stack"], texts["base"], f"{kind} in {target} of {stack}")


CASES = st.one_of(tree_mutation(), tree_mutation(), text_mutation())


# ---------------------------------------------------------------- running the CLI


def write(case: Case, root: Path) -> Path:
    stacks = root / "stacks"
    stacks.mkdir(parents=True, exist_ok=True)
    stack = stacks / "Pulumi.fuzz.yaml"
    stack.write_text(case.stack_text, encoding="utf-8")
    (stacks / BASE_NAME).write_text(case.base_text, encoding="utf-8")
    return stack


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str


def run_cli(*argv: str) -> Outcome:
    from fleetform.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse
            code = int(exc.code or 0)
    return Outcome(code, out.getvalue(), err.getvalue())


def problem_line(stack: Path) -> re.Pattern[str]:
    """``<file>: <path>: <message>``, the file being the stack file or the base file it
    names (``fleetform:base``, resolved next to the stack file, whatever its name)."""
    label = re.escape(str(stack))
    folder = re.escape(str(stack.parent) + "/") if str(stack.parent) != "." else ""
    return re.compile(rf"^(?:{label}|{folder}[^\n]+?): (?P<path>[^\n]+?): (?P<message>[^\n]+)$")
