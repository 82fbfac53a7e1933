"""Evaluate a stack offline and turn the result into reviewable artifacts.

`evaluate` runs the real Pulumi program (`__main__.py`) under the offline engine with
the stack file's config; `synth` writes what it registered as a directory of files
meant for code review (like `cdk synth`): the plan, the resource graph, every rendered
bootstrap document, the offline kubeconfig and an Ansible inventory. Everything written
is deterministic (same stack file, same bytes) and carries no secret: secret inputs and
outputs are masked by the engine, the kubeconfig holds placeholders, and any PEM
private key that reached a document would be masked here too.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import re
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleetform.addons.model import PUBLICATION_TYPE
from fleetform.engine.inventory import build_inventory
from fleetform.engine.records import SECRET_MASK, ProgramResult, Resource
from fleetform.engine.refusal import ResourceRefused, locate
from fleetform.engine.run import run_program
from fleetform.plan.fleet import plan_fleet
from fleetform.plan.identity import plan_identity
from fleetform.plan.kubeconfig import layout, people_kubeconfig
from fleetform.plan.load import load_stack_file
from fleetform.plan.model import FleetPlan
from fleetform.plan.stacks import stack_layout
from fleetform.spec.errors import FleetError, Loc, Problem
from fleetform.spec.layering import merge_all, to_node, to_plain
from fleetform.spec.load import BASE_KEY, FLEET_KEY, read_yaml, stack_name_of
from fleetform.spec.models import FleetSpec
from fleetform.spec.stackfiles import project_root, resolve

PROJECT = "fleetform"
STACK_TYPE = "pulumi:pulumi:Stack"
CLUSTER_TYPE = "fleetform:index:Cluster"
CLUSTER_IDENTITY_TYPE = "fleetform:index:ClusterIdentity"

# Component type -> the plane (or fleet-wide part) its resources belong to.
PLANES: dict[str, str] = {
    "fleetform:index:Network": "network",
    "fleetform:index:EtcdDataPlane": "etcd",
    "fleetform:index:ControlPlane": "control-plane",
    "fleetform:index:WorkerPlane": "workers",
    "fleetform:index:Cni": "cni",
    "fleetform:index:AddonPublication": "addons",
    "fleetform:index:SnapshotStore": "migration",
    "fleetform:index:ClusterName": "cluster",
    "fleetform:index:ClusterMeshEndpoint": "cni",
    "fleetform:index:ClusterIdentity": "identity",
    "fleetform:index:SharedIdentity": "identity",
    "fleetform:index:Federation": "federation",
    "fleetform:index:AwsFederation": "federation",
    "fleetform:index:GcpFederation": "federation",
    CLUSTER_TYPE: "cluster",
    "fleetform:index:Fleet": "fleet",
}
# Plane order in human views (others after these, alphabetically).
PLANE_ORDER = ("identity", "network", "etcd", "control-plane", "workers", "cni", "addons",
               "migration", "cluster", "federation", "fleet")

# Files and folders `synth` owns inside its output directory (nothing else is touched).
SYNTH_FILES = ("plan.json", "resources.json", "outputs.json", "inventory.json", "kubeconfig.yaml",
               "stacks.json", "stack-inputs.json")
SYNTH_DIRS = ("bootstrap", "addons", "reuse")


# --------------------------------------------------------------------------------------
# Loading and evaluating a stack


@dataclass(frozen=True)
class Stack:
    """A stack file, loaded, validated and planned."""

    path: Path
    label: str
    name: str
    spec: FleetSpec
    plan: FleetPlan


def load_stack(stack: str | None, file: str | None) -> Stack:
    """Raises FleetError with located problems (exit 2) for invalid input."""
    path, label = resolve(stack, file)
    spec = load_stack_file(path, label=label)
    return Stack(path=path, label=label, name=stack_name_of(path), spec=spec, plan=plan_fleet(spec))


def program_root() -> Path:
    """The Pulumi project whose `__main__.py` is evaluated: the current project when it
    has one, else the project this package belongs to."""
    here = project_root()
    if (here / "__main__.py").is_file() and (here / "Pulumi.yaml").is_file():
        return here
    return Path(__file__).resolve().parents[2]  # fleetform/engine/synth.py -> the project


def program_config(stack: Stack, root: Path) -> dict[str, Any]:
    """The config `pulumi up` would hand the program: the stack file's `config` block.

    The program reads the base file from its own `stacks/` folder. A stack file that
    lives elsewhere (`--file`) gets its base layered in here instead, exactly as the
    CLI's loader layered it, so the program sees the same fleet."""
    doc = read_yaml(stack.path, stack.label)
    config = dict(doc.get("config") or {})
    base = config.get(BASE_KEY)
    stacks_dir = (root / "stacks").resolve()
    if base is not None and stack.path.resolve().parent != stacks_dir:
        base_doc = read_yaml(stack.path.parent / base, str(Path(stack.label).parent / base))
        merged = merge_all([to_node(base_doc["fleet"], Loc(str(base), "fleet")),
                            to_node(config[FLEET_KEY], Loc(stack.label, "fleet"))])
        config[FLEET_KEY] = _lists(to_plain(merged))
        del config[BASE_KEY]
    return config


def _lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_lists(v) for v in value]
    return value


def evaluate(stack: Stack, on_resource: Callable[[Resource], None] | None = None) -> ProgramResult:
    """Run the real program offline for this stack (the stack file was validated first).

    A resource a provider refuses is the input's doing: FleetError, located at the
    cluster (or fleet) it belongs to. Anything else the run raises is ours."""
    root = program_root()
    try:
        return run_program(root, project=PROJECT, stack=stack.name, config=program_config(stack, root),
                           on_resource=on_resource)
    except ResourceRefused as refused:
        raise FleetError([locate(stack.spec, stack.plan, refused)]) from None


# --------------------------------------------------------------------------------------
# Resource records


def provider_urn(ref: str | None) -> str | None:
    """A provider reference is `<urn>::<id>`; URNs themselves contain `::`."""
    return ref.rsplit("::", 1)[0] if ref else None


def resource_json(r: Resource) -> dict[str, Any]:
    """The fields `plan --json` lists per resource (docs/cli.md), in this order."""
    return {
        "urn": r.urn,
        "type": r.type,
        "name": r.name,
        "parent": r.parent,
        "provider": provider_urn(r.provider),
        "dependencies": list(r.dependencies),
        "inputs": r.inputs,
    }


def resource_record(r: Resource) -> dict[str, Any]:
    """`resource_json` plus the resource options `synth` and `diff` use."""
    return {
        **resource_json(r),
        "custom": r.custom,
        "protect": r.protect,
        "ignore_changes": list(r.ignore_changes),
        "aliases": list(r.aliases),
    }


@dataclass(frozen=True)
class Place:
    """Where a resource belongs: a cluster (None: fleet-wide) and a plane."""

    cluster: str | None
    plane: str


def attribute(records: Sequence[Mapping[str, Any]], fleet: str, clusters: Mapping[str, str]) -> dict[str, Place]:
    """Cluster and plane of every resource, by URN, from the component tree.

    `clusters` maps incarnation keys to cluster names. A resource belongs to the cluster
    whose `Cluster` (or `ClusterIdentity`) component
    it descends from; fleet-wide resources made for one cluster (federation documents,
    identity providers) by their name. Its plane is the nearest plane component above it
    (`workers/<pool>` for a worker pool).
    """
    by_urn = {r["urn"]: r for r in records}
    by_key = dict(clusters)  # incarnation key -> cluster name
    names = sorted(set(by_key.values()), key=len, reverse=True)
    places: dict[str, Place] = {}

    def place(urn: str) -> Place:
        if urn in places:
            return places[urn]
        r = by_urn[urn]
        cluster: str | None = None
        plane: str | None = None
        node: Mapping[str, Any] | None = r
        while node is not None:
            t = node["type"]
            if plane is None and t in PLANES:  # plane components only (never a custom type)
                plane = PLANES[t]
                if plane == "workers":
                    cluster_key = _ancestor_name(node, by_urn, CLUSTER_TYPE)
                    prefix = f"{cluster_key}-workers-" if cluster_key else ""
                    plane = f"workers/{node['name'].removeprefix(prefix)}"
            if cluster is None and t == CLUSTER_TYPE:
                cluster = by_key.get(node["name"], node["name"])
            if cluster is None and t == CLUSTER_IDENTITY_TYPE:
                cluster = _cluster_in_name(node["name"], names, fleet)
            node = by_urn.get(node["parent"]) if node.get("parent") else None
        if cluster is None and r["type"] != STACK_TYPE:
            cluster = _cluster_in_name(r["name"], names, fleet)
        result = Place(cluster, plane or ("fleet" if r["type"] != STACK_TYPE else "stack"))
        places[urn] = result
        return result

    for r in records:
        place(r["urn"])
    return places


def attribute_plan(records: Sequence[Mapping[str, Any]], plan: FleetPlan) -> dict[str, Place]:
    return attribute(records, plan.fleet, {c.key: c.name for c in plan.clusters})


def _ancestor_name(node: Mapping[str, Any], by_urn: Mapping[str, Mapping[str, Any]], type_: str) -> str | None:
    current = by_urn.get(node.get("parent") or "")
    while current is not None:
        if current["type"] == type_:
            return str(current["name"])
        current = by_urn.get(current.get("parent") or "")
    return None


def _cluster_in_name(name: str, clusters: Sequence[str], fleet: str) -> str | None:
    """The cluster a fleet-wide resource was made for, when its name says so
    (`acme-federation-aws-eu-core-jwks` -> `eu-core`); longest cluster name first."""
    rest = f"-{name.removeprefix(f'{fleet}-')}-"
    for c in clusters:
        if f"-{c}-" in rest:
            return c
    return None


def plane_sort_key(plane: str) -> tuple[int, str]:
    head = plane.split("/", 1)[0]
    return (PLANE_ORDER.index(head) if head in PLANE_ORDER else len(PLANE_ORDER), plane)


# --------------------------------------------------------------------------------------
# Bootstrap documents (user-data)

_PRIVATE_KEY = re.compile(r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?-----END \1PRIVATE KEY-----", re.S)
# (type, input path, encoding): where each machine resource carries its user-data.
_USER_DATA: dict[str, tuple[tuple[str, ...], str]] = {
    "aws:ec2/instance:Instance": (("userDataBase64",), "base64"),
    "aws:ec2/launchTemplate:LaunchTemplate": (("userData",), "base64"),
    "gcp:compute/instance:Instance": (("metadata", "user-data"), "text"),
    "gcp:compute/instanceTemplate:InstanceTemplate": (("metadata", "user-data"), "text"),
    "gcp:compute/instanceFromTemplate:InstanceFromTemplate": (("metadata", "user-data"), "text"),
}


def mask_private_keys(text: str) -> str:
    return _PRIVATE_KEY.sub(SECRET_MASK, text)


def user_data_text(type_: str, inputs: Mapping[str, Any]) -> str | None:
    """The readable user-data of a machine resource (AWS: base64, gzipped or not; GCP:
    the `user-data` metadata value), private keys masked; None if it has none."""
    where = _USER_DATA.get(type_)
    if where is None:
        return None
    path, encoding = where
    value: Any = inputs
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    if type_ == "aws:ec2/instance:Instance" and value is None and isinstance(inputs.get("userData"), str):
        value, encoding = inputs["userData"], "text"
    if not isinstance(value, str):
        return None
    if value == SECRET_MASK:
        return f"# {SECRET_MASK}: this user-data is a secret value; it is not shown\n"
    if encoding == "base64":
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return mask_private_keys(value)
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        value = data.decode("utf-8", errors="replace")
    return mask_private_keys(value)


def _tags(inputs: Mapping[str, Any]) -> Mapping[str, Any]:
    for key in ("tags", "labels"):
        tags = inputs.get(key)
        if isinstance(tags, Mapping) and tags:
            return tags
    return {}


def bootstrap_documents(records: Sequence[Mapping[str, Any]], plan: FleetPlan,
                        places: Mapping[str, Place] | None = None) -> dict[str, str]:
    """`bootstrap/<cluster>/<role>.yaml` -> text, for every machine that boots from
    user-data: `etcd-0.yaml` per etcd member, `cp-0.yaml` per control-plane replica,
    `worker-<pool>.yaml` per worker pool (its launch/instance template)."""
    places = places or attribute_plan(records, plan)
    # A moving cluster's incarnation that does not serve its name: `<cluster>@<cloud>-<region>/`.
    contexts = {c.key: c.context for c in plan.clusters}
    docs: dict[str, str] = {}
    for r in records:
        text = user_data_text(r["type"], r.get("inputs") or {})
        if text is None:
            continue
        tags = _tags(r.get("inputs") or {})
        cluster = str(contexts.get(str(tags.get("incarnation")))
                      or tags.get("cluster") or places[r["urn"]].cluster or "fleet")
        if "etcd-member" in tags:
            role = str(tags["etcd-member"])
        elif "replica" in tags:
            role = str(tags["replica"])
        elif "pool" in tags:
            role = f"worker-{tags['pool']}"
        else:
            role = str(tags.get("plane") or r["name"])
        path = f"bootstrap/{_safe(cluster)}/{_safe(role)}.yaml"
        if path in docs:  # two incarnations of one cluster: keep both, told apart by name
            path = f"bootstrap/{_safe(cluster)}/{_safe(r['name'])}.yaml"
        docs[path] = text if text.endswith("\n") else text + "\n"
    return dict(sorted(docs.items()))


def addon_bundles(records: Sequence[Mapping[str, Any]], plan: FleetPlan) -> dict[str, str]:
    """`addons/<cluster>/<path>` -> text: each incarnation's add-on bundle exactly as
    published (the bucket objects of its `AddonPublication`: key or name = path in the
    bundle, content = the file). A moving cluster's incarnation that does not serve its
    name: `addons/<cluster>@<cloud>-<region>/`."""
    by_urn = {r["urn"]: r for r in records}
    contexts = {c.key: c.context for c in plan.clusters}
    keys = sorted(contexts, key=len, reverse=True)
    out: dict[str, str] = {}
    for r in records:
        inputs = r.get("inputs") or {}
        content, path = inputs.get("content"), inputs.get("key", inputs.get("name"))
        source = inputs.get("source")
        if content is None and isinstance(source, dict):  # a text asset (Cloud Storage objects)
            content = (source.get("asset") or {}).get("text")
        if not isinstance(content, str) or not isinstance(path, str):
            continue
        publication = _ancestor(r, by_urn, PUBLICATION_TYPE)
        if publication is None:
            continue
        key = _ancestor_name(r, by_urn, CLUSTER_TYPE) or next(
            (k for k in keys if publication["name"] == k or publication["name"].startswith(f"{k}-")), None)
        folder = contexts.get(key or "", key or "fleet")
        rel = "/".join(_safe(part) for part in path.split("/") if part)
        out[f"addons/{_safe(folder)}/{rel}"] = content
    return dict(sorted(out.items()))


def _ancestor(node: Mapping[str, Any], by_urn: Mapping[str, Mapping[str, Any]],
              type_: str) -> Mapping[str, Any] | None:
    current = by_urn.get(node.get("parent") or "")
    while current is not None:
        if current["type"] == type_:
            return current
        current = by_urn.get(current.get("parent") or "")
    return None


def _safe(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9._@-]+", "_", part).strip(".") or "_"


# --------------------------------------------------------------------------------------
# synth


def dumps(value: Any) -> str:
    """The one JSON style of every file synth writes (stable, diff-friendly)."""
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def offline_kubeconfig(stack: Stack) -> str:
    """The fleet kubeconfig as `fleetform kubeconfig` writes it (placeholders for what
    only `pulumi up` knows)."""
    return people_kubeconfig(layout(plan_identity(stack.spec, stack.plan), stack.plan), {})


def stack_summary(plan: FleetPlan, resources: Iterable[Resource]) -> list[dict[str, Any]]:
    """Each micro-stack with its resources among ``resources`` (by the stack part of their
    URNs; stack roots not counted), in layout order; stacks with none are left out (a
    run restricted to some clusters)."""
    counts: dict[str, int] = {}
    for r in resources:
        if r.type != "pulumi:pulumi:Stack":
            name = r.urn.split("::", 1)[0].removeprefix("urn:pulumi:")
            counts[name] = counts.get(name, 0) + 1
    return [{**m.to_json(), "resources": counts[m.name]} for m in stack_layout(plan) if m.name in counts]


def artifacts(stack: Stack, result: ProgramResult) -> dict[str, str]:
    """Every file of a synth directory: relative path -> content."""

    records = [resource_record(r) for r in result.resources]
    plan_json = stack.plan.to_json()
    files = {
        "plan.json": dumps(plan_json),
        "resources.json": dumps(records),
        "outputs.json": dumps(result.outputs),
        "inventory.json": dumps(build_inventory(stack.plan)),
        "kubeconfig.yaml": offline_kubeconfig(stack),
    }
    if stack.plan.stacks == "per-cluster":  # outputs.json then holds each stack's, by name
        files["stacks.json"] = dumps(stack_summary(stack.plan, result.resources))
    files.update(bootstrap_documents(records, stack.plan))
    files.update(addon_bundles(records, stack.plan))
    return files


def write_synth(out: Path, files: Mapping[str, str]) -> None:
    """Replace synth's own files in `out` (other files there are left alone)."""
    if out.exists() and not out.is_dir():
        raise FleetError([Problem("--out", str(out), "exists and is not a directory")])
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name in SYNTH_FILES:
            (out / name).unlink(missing_ok=True)
        for name in SYNTH_DIRS:
            if (out / name).is_dir():
                shutil.rmtree(out / name)
        for rel, text in files.items():
            path = out / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8", newline="\n")
    except OSError as exc:
        raise FleetError([Problem("--out", str(out), f"cannot write: {exc.strerror or exc}")]) from None


# --------------------------------------------------------------------------------------
# Reading a synth directory back (diff, graph --from)


@dataclass(frozen=True)
class Synthesized:
    """A synth directory, read back."""

    root: Path
    plan: dict[str, Any]
    resources: list[dict[str, Any]]
    bootstrap: dict[str, str]


def read_synth(directory: str | Path, label: str | None = None) -> Synthesized:
    root = Path(directory)
    label = label or str(directory)
    if not root.is_dir():
        raise FleetError([Problem(label, "-", "no such directory (make one with `fleetform synth --out DIR`)")])
    problems: list[Problem] = []
    loaded: dict[str, Any] = {}
    for name in ("plan.json", "resources.json"):
        path = root / name
        shown = f"{label.rstrip('/')}/{name}"
        try:
            loaded[name] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            problems.append(Problem(shown, "-", "missing: not a `fleetform synth` directory"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            problems.append(Problem(shown, "-", f"cannot read: {exc}"))
    if problems:
        raise FleetError(problems)
    plan, resources = loaded["plan.json"], loaded["resources.json"]
    if not isinstance(plan, dict) or not isinstance(plan.get("clusters"), list):
        problems.append(Problem(f"{label.rstrip('/')}/plan.json", "clusters", "expected a list of clusters"))
    if not isinstance(resources, list) or not all(isinstance(r, dict) and "urn" in r and "type" in r
                                                  for r in resources):
        problems.append(Problem(f"{label.rstrip('/')}/resources.json", "-",
                                "expected a list of resources with urn and type"))
    if problems:
        raise FleetError(problems)
    bootstrap = {}
    if (root / "bootstrap").is_dir():
        for path in sorted((root / "bootstrap").rglob("*.yaml")):
            bootstrap[path.relative_to(root).as_posix()] = path.read_text(encoding="utf-8")
    return Synthesized(root, plan, resources, bootstrap)


def count_by_type(records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in records:
        counts[r["type"]] = counts.get(r["type"], 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
