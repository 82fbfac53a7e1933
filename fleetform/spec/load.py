"""Load stack files: read YAML, layer base <- stack and defaults <- profiles <- cluster,
validate into frozen models, and report every problem as ``<file>: <path>: <message>``.

Two entry points: ``load_stack_file`` for the CLI (straight from a stack file) and
``load_config`` for the Pulumi program (the ``fleetform:fleet`` config object).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from fleetform.spec.base import API_VERSION
from fleetform.spec.errors import FleetError, Loc, Problem
from fleetform.spec.layering import Node, locate, merge, merge_all, to_node, to_plain
from fleetform.spec.messages import describe, did_you_mean, error_message
from fleetform.spec.models import (
    CLUSTER_ONLY_KEYS,
    ClusterSpec,
    FleetDoc,
    FleetSpec,
)
from fleetform.spec.yamlerrors import explain

CONFIG_NAMESPACE = "fleetform"
FLEET_KEY = "fleetform:fleet"
BASE_KEY = "fleetform:base"
# Top-level keys Pulumi itself writes into stack files.
PULUMI_STACK_KEYS = frozenset(
    {"config", "encryptionsalt", "secretsprovider", "encryptedkey", "environment"}
)


# ---------------------------------------------------------------- YAML


@dataclass(frozen=True)
class FleetRules:
    """The semantic rules a loaded fleet must pass (addresses, placement, identity...).

    They need the planner (IPAM, regions, CNI ports), which sits above this layer, so
    the plan layer hands them in (``fleetform.plan.load.RULES``)."""

    fleet: Callable[..., list[Problem]]
    settings: Callable[[ClusterSpec, Callable[..., Loc]], list[Problem]]


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys instead of silently keeping the last."""


def _construct_mapping(
    loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False
) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # `<<: *anchor`: merged keys may be overridden by explicit ones
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a list or mapping cannot be used as a key", key_node.start_mark
            ) from None
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first on line {seen[key] + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    loader.flatten_mapping(node)
    return loader.construct_mapping(node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
# Unquoted dates (`until: 2027-01-31`) stay strings, as Pulumi's own YAML reader passes
# them to the program: the config object travels as JSON, which has no date type.
_UniqueKeyLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def read_yaml(path: Path, label: str) -> Any:
    """Parse one YAML file; syntax errors name the file and the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FleetError([Problem(label, "-", "file not found")]) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise FleetError([Problem(label, "-", f"cannot read file: {exc}")]) from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.constructor.ConstructorError as exc:  # ours: duplicate keys, unhashable keys
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "-"
        what = " ".join(s for s in (exc.context, exc.problem) if s) or str(exc)
        raise FleetError([Problem(label, where, f"YAML syntax error: {what}")]) from None
    except yaml.MarkedYAMLError as exc:
        where, what = explain(exc)
        raise FleetError([Problem(label, where, f"YAML syntax error: {what}")]) from None
    except yaml.YAMLError as exc:
        # One problem, one line: the reader's message spans several.
        raise FleetError([Problem(label, "-", "YAML error: " + " ".join(str(exc).split()))]) from None


def _validate(
    model: type[BaseModel], node: Node, *, partial: bool = False
) -> tuple[Any, list[Problem]]:
    """Validate ``node`` with ``model``; problems are located through the node tree."""
    plain = to_plain(node)
    try:
        return model.model_validate(plain), []
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            if partial and err["type"] == "missing":
                continue
            problems.append(locate(node, err["loc"]).problem(error_message(err, model)))
        return None, problems


# ---------------------------------------------------------------- documents


def _expect_mapping(value: Any, loc: Loc, what: str) -> list[Problem]:
    if not isinstance(value, dict):
        return [loc.problem(f"expected {what} (a mapping), got {describe(value)}")]
    return []


def stack_name_of(path: Path) -> str:
    m = re.fullmatch(r"Pulumi\.(.+)\.ya?ml", path.name)
    return m.group(1) if m else path.stem


def load_stack_file(path: Path, *, rules: FleetRules, label: str | None = None) -> FleetSpec:
    """Load ``stacks/Pulumi.<stack>.yaml`` (and the base file it names)."""
    label = label or str(path)
    doc = read_yaml(path, label)
    root = Loc(label, "")
    problems = _expect_mapping(
        doc, root.child("config") if doc is None else Loc(label, "-"), "a Pulumi stack file"
    )
    if problems:
        raise FleetError(problems)
    for key in doc:
        if key not in PULUMI_STACK_KEYS:
            problems.append(
                Loc(label, "").child(str(key)).problem(
                    f"unknown top-level key{did_you_mean(str(key), sorted(PULUMI_STACK_KEYS))}; "
                    "the fleet lives under config: fleetform:fleet"
                )
            )
    config = doc.get("config")
    if config is None:
        problems.append(
            Loc(label, "config").problem(f"required: a config block with {FLEET_KEY!r}")
        )
        raise FleetError(problems)
    problems += _expect_mapping(config, Loc(label, "config"), "the config block")
    if problems:
        raise FleetError(problems)
    for key in config:
        if str(key).startswith(f"{CONFIG_NAMESPACE}:") and key not in (FLEET_KEY, BASE_KEY):
            problems.append(
                Loc(label, f"config.{key}").problem(
                    f"unknown fleetform setting{did_you_mean(str(key), [FLEET_KEY, BASE_KEY])}"
                )
            )
    if FLEET_KEY not in config:
        problems.append(Loc(label, f"config.{FLEET_KEY}").problem("required: the fleet definition"))
    if problems:
        raise FleetError(problems)
    return load_config(
        config[FLEET_KEY],
        config.get(BASE_KEY),
        stack=stack_name_of(path),
        label=label,
        stacks_dir=path.parent,
        rules=rules,
    )


def load_config(
    fleet: Any, base: Any, *, stack: str, label: str, stacks_dir: Path, rules: FleetRules
) -> FleetSpec:
    """Build the FleetSpec from the ``fleetform:fleet`` object (+ optional base file)."""
    layers: list[Node] = []
    problems: list[Problem] = []
    if base is not None:
        if (
            not isinstance(base, str)
            or not base
            or re.search(r"[\s\x00-\x1f]", base)
            or Path(base).is_absolute()
            or ".." in Path(base).parts
        ):
            raise FleetError(
                [
                    Loc(label, f"config.{BASE_KEY}").problem(
                        "expected a file name relative to stacks/, like 'fleet.yaml'"
                    )
                ]
            )
        base_label = str(Path(label).parent / base)
        if not (stacks_dir / base).is_file():
            raise FleetError([Loc(label, f"config.{BASE_KEY}").problem(
                f"the base file {base!r} does not exist (looked for {base_label}); fix the name or "
                f"remove {BASE_KEY}")])
        base_doc = read_yaml(stacks_dir / base, base_label)
        problems += _expect_mapping(base_doc, Loc(base_label, "-"), "a base file")
        if not problems:
            for key in base_doc:
                if key != "fleet":
                    problems.append(
                        Loc(base_label, "").child(str(key)).problem(
                            f"unknown top-level key{did_you_mean(str(key), ['fleet'])}; a base file holds one key, 'fleet'"
                        )
                    )
            if "fleet" in base_doc:
                problems += _expect_mapping(
                    base_doc["fleet"], Loc(base_label, "fleet"), "the fleet"
                )
                if not problems:
                    layers.append(to_node(base_doc["fleet"], Loc(base_label, "fleet")))
    problems += _expect_mapping(fleet, Loc(label, "fleet"), "the fleet")
    if problems:
        raise FleetError(problems)
    layers.append(to_node(fleet, Loc(label, "fleet")))
    return build_spec(merge_all(layers), stack=stack, rules=rules)


def _prune(plain: Any, loc: tuple[str | int, ...]) -> bool:
    """Remove the value at ``loc`` from plain data (so the rest can still be checked)."""
    if not loc:
        return False
    parent = plain
    for key in loc[:-1]:
        try:
            parent = parent[key]
        except (KeyError, IndexError, TypeError):
            return False
    if isinstance(parent, dict) and loc[-1] in parent:
        del parent[loc[-1]]
        return True
    return False


def _best_effort(model: type[BaseModel], node: Node, fill: dict[str, Any] | None = None) -> Any:
    """The model built from ``node`` without the values it rejects (None if a required
    key is missing): used only to run the remaining rules, so one mistake does not
    hide the others."""
    plain = _thaw(to_plain(node))
    if not isinstance(plain, dict):
        return None
    for _ in range(8):
        for key, value in (fill or {}).items():
            plain.setdefault(key, value)
        try:
            return model.model_validate(_freeze(plain))
        except ValidationError as exc:
            if not any(
                _prune(plain, tuple(e["loc"])) for e in exc.errors() if e["type"] != "missing"
            ):
                return None
    return None


def _thaw(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _freeze(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def build_spec(fleet: Node, *, stack: str, rules: FleetRules) -> FleetSpec:

    doc, problems = _validate(FleetDoc, fleet)
    header_ok = doc is not None
    if doc is None:
        doc = _best_effort(FleetDoc, fleet, {"apiVersion": API_VERSION, "name": "fleet", "domain": "fleet.invalid"})
    fleet_map: dict[str, Node] = fleet.value
    defaults = fleet_map.get("defaults", Node({}, fleet.loc.child("defaults")))
    profiles_node = fleet_map.get("profiles")
    profiles: dict[str, Node] = (
        profiles_node.value
        if profiles_node is not None and isinstance(profiles_node.value, dict)
        else {}
    )
    blocks = [b for b in [defaults, *profiles.values()] if isinstance(b.value, dict)]

    # Settings blocks are checked on their own so that a mistake is reported once,
    # where it is written, even in a profile no cluster uses yet.
    for block in blocks:
        for key in block.value:
            if key in CLUSTER_ONLY_KEYS:
                problems.append(
                    block.value[key].loc.problem(f"{key!r} can only be set on a cluster")
                )
        _, block_problems = _validate(ClusterSpec, block, partial=True)
        problems += block_problems

    clusters: list[ClusterSpec] = []
    origins: dict[str, Node] = {}
    schema_ok = True
    clusters_node = fleet_map.get("clusters")
    cluster_nodes: list[Node] = (
        clusters_node.value
        if clusters_node is not None and isinstance(clusters_node.value, list)
        else []
    )
    if not cluster_nodes and (clusters_node is None or isinstance(clusters_node.value, list)):
        problems.append(
            fleet.loc.child("clusters").problem("the fleet has no clusters; add at least one")
        )
    seen_names: dict[str, int] = {}
    for i, node in enumerate(cluster_nodes):
        name_node = node.value.get("name") if isinstance(node.value, dict) else None
        if name_node is not None and isinstance(name_node.value, str):
            if name_node.value in seen_names:
                problems.append(
                    name_node.loc.problem(
                        f"duplicate cluster name {name_node.value!r} (also fleet.clusters[{seen_names[name_node.value]}])"
                    )
                )
                continue
            seen_names[name_node.value] = i
        if not isinstance(node.value, dict):
            schema_ok = False  # the fleet model reports "expected a mapping" here
            continue
        layers = [defaults] if isinstance(defaults.value, dict) else []
        listed = node.value.get("profiles")
        if listed is not None and isinstance(listed.value, list):
            for item in listed.value:
                if not isinstance(item.value, str):
                    continue  # reported by the model: profiles is a list of names
                if item.value in profiles:
                    if isinstance(profiles[item.value].value, dict):
                        layers.append(profiles[item.value])
                else:
                    problems.append(
                        item.loc.problem(
                            f"unknown profile {item.value!r}{did_you_mean(str(item.value), [str(k) for k in profiles])}"
                            + (f" (profiles: {', '.join(str(k) for k in profiles)})" if profiles
                               else "; the fleet defines no profiles")
                        )
                    )
        layers.append(node)
        merged = merge_all(layers)
        # The cluster's own location wins for the cluster as a whole (missing keys).
        merged = Node(merged.value, node.loc)
        spec, cluster_problems = _validate(ClusterSpec, merged)
        if spec is None:
            schema_ok = False
            # Keep checking what is valid so every mistake shows in one run.
            spec = _best_effort(ClusterSpec, merged, {"name": f"invalid-cluster-{i}"})
        problems += cluster_problems
        if spec is not None:
            clusters.append(spec)
            origins[spec.name] = merged

    # A profile no cluster uses yet still gets the rules that need no cloud or region
    # (used blocks are checked through the clusters that inherit them).
    used = {item.value for node in cluster_nodes if isinstance(node.value, dict)
            for item in (node.value["profiles"].value if "profiles" in node.value
                         and isinstance(node.value["profiles"].value, list) else [])
            if isinstance(item.value, str)}
    for pname, block in profiles.items():
        if pname not in used and isinstance(block.value, dict):
            settings = _best_effort(ClusterSpec, block, {"name": "profile", "cloud": "aws", "region": "us-east-1"})
            if settings is not None:
                problems += rules.settings(settings, lambda *p, _b=block: locate(_b, p))

    if doc is None:
        raise FleetError(sorted(set(problems), key=_problem_order))
    assert isinstance(doc, FleetDoc)
    result = FleetSpec(
        api_version=doc.api_version,
        name=doc.name,
        domain=doc.domain,
        stack=stack,
        clouds=doc.clouds,
        network=doc.network,
        compliance=doc.compliance,
        identity=doc.identity,
        tenants=doc.tenants,
        workload_identities=doc.workload_identities,
        mesh=doc.mesh,
        clusters=tuple(clusters),
        snapshots=doc.snapshots,
        management=doc.management,
        logging=doc.logging,
        upgrades=doc.upgrades,
        stacks=doc.stacks,
    )
    result._origins = Origins(fleet, origins)
    # Fleet-wide rules run on every cluster we could read; address allocation only when
    # the whole fleet is valid (it needs every cluster).
    problems += rules.fleet(result, complete=header_ok and schema_ok and not problems)
    if problems:
        raise FleetError(sorted(set(problems), key=_problem_order))
    return result


def _problem_order(p: Problem) -> tuple[str, list[tuple[int, int | str]], str]:
    # Natural order (clusters[2] before clusters[10]); the message breaks ties so the
    # same input always prints the same lines in the same order.
    parts = re.split(r"(\d+)", p.path)
    return p.file, [(1, int(x)) if x.isdigit() else (0, x) for x in parts], p.message


class Origins:
    """Answers "where was this value written?" for the fleet and each cluster."""

    def __init__(self, fleet: Node, clusters: dict[str, Node]) -> None:
        self.fleet = fleet
        self.clusters = clusters

    def fleet_loc(self, *path: str | int) -> Loc:
        return locate(self.fleet, path)

    def cluster_loc(self, cluster: str, *path: str | int) -> Loc:
        return locate(self.clusters[cluster], path)


def origins(spec: FleetSpec) -> Origins:
    o = spec._origins
    if o is None:  # built in code (tests, benchmarks): synthesize locations
        node = to_node(spec.model_dump(mode="json"), Loc("<fleet>", "fleet"))
        o = Origins(
            node,
            {
                c.name: to_node(c.model_dump(mode="json"), Loc("<fleet>", f"fleet.clusters[{i}]"))
                for i, c in enumerate(spec.clusters)
            },
        )
        spec._origins = o
    assert isinstance(o, Origins)
    return o


__all__ = ["FleetError", "load_config", "load_stack_file", "merge", "origins", "read_yaml"]
