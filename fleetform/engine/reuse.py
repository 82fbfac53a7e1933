"""Incremental offline plans of a ``stacks: per-cluster`` fleet: reuse a previous synth's
micro-stack runs whose inputs did not change (``incremental.stack_digest``).

``synth`` of such a fleet writes, besides its usual files, ``reuse/<stack>.json`` per
micro-stack (every field of every record, the outputs as synth shows them, which are
secret, unknown invokes) and ``stack-inputs.json`` (each stack's digest).
``plan|synth --reuse DIR`` computes the digests again and loads the stacks whose digest
DIR holds; the others run (``stacks.run_fleet_stacks``).

What each digest covers (besides the program's source and the tool versions):

- the fleet stack: the stack file's fleet-level settings and every cluster's entry but
  its ``workers`` (the fleet scope builds identities, federation grants, logs, the mesh
  CA and outside-management registrations from the clusters' names, clouds, regions,
  migrations, add-ons, CNI and versions; never from worker pools). Conservative: any
  other edit of a cluster runs the fleet stack again, and then only the cluster stacks
  whose fleet outputs changed run too.
- a cluster stack: the fleet-level settings, its entry and its plans (every
  incarnation), and the fleet outputs it reads (its ``cluster_identity:``,
  ``cluster_keys:`` and ``cluster_federation:`` outputs, the mesh CA, ``root_ca``); the
  management cluster's stack registers every cluster, so its digest covers every entry,
  plan and fleet output.

Secrets. synth writes no secret in clear, and neither does this: a secret fleet output
(a cluster's private keys, the mesh CA key) is stored as its sha256 (for the digests)
and as a recipe that names, for each key it holds, the ``tls`` ``PrivateKey`` resource
whose mock value it is (a URN and an output name). The offline engine's keys are a pure
function of the URN (``mocks/tls.py``: anyone with the URN can recompute them), so a
cluster stack that must run again gets its keys re-derived from the recipe, for that
cluster only. A secret output that is not such a key cannot be re-derived: the fleet
stack is then not reusable and runs again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleetform.engine import incremental
from fleetform.engine.mocks.base import RESOURCE_MOCKS, ResourceCall
from fleetform.engine.mocks.fleet import FleetMocks
from fleetform.engine.records import SECRET_MASK, ProgramResult, Resource
from fleetform.engine.refusal import ResourceRefused, locate
from fleetform.engine.stacks import run_fleet_stacks, run_micro_stack
from fleetform.engine.synth import PROJECT, Stack, program_config, program_root
from fleetform.plan.identity import plan_identity
from fleetform.plan.model import FleetPlan
from fleetform.plan.stacks import MicroStack, StackReferenceError, stack_layout
from fleetform.spec.errors import FleetError, Problem

REUSE_DIR = "reuse"
FORMAT = 1
PRIVATE_KEY = "tls:index/privateKey:PrivateKey"
FLEET_KEY = "fleetform:fleet"
# The fleet stack's outputs a cluster stack reads (components/fleet_reference.py).
IDENTITY, KEYS, FEDERATION = "cluster_identity:", "cluster_keys:", "cluster_federation:"
SHARED_READS = ("clustermesh_ca", "clustermesh_ca_key", "root_ca")
# A leaf of a secret output's recipe: the private key resource and output it comes from.
_DERIVED = "$derived"


def _sha(value: Any) -> str:
    return hashlib.sha256(incremental.canonical(value)).hexdigest()


# --------------------------------------------------------------------------------------
# One micro-stack's run, stored


@dataclass(frozen=True)
class Stored:
    """A micro-stack's run as stored: the result (secret outputs masked) plus, per secret
    output, its sha256 and its recipe (None: not re-derivable)."""

    result: ProgramResult
    secret_digests: dict[str, str] = field(default_factory=dict)
    recipes: dict[str, Any] = field(default_factory=dict)

    def derivable(self) -> bool:
        """Whether every secret output a cluster stack may read can be re-derived."""
        return all(self.recipes.get(n) is not None for n in self.secret_digests if readable(n))


def _key_values(resources: Iterable[Resource], seed_stack: str) -> dict[str, tuple[str, str]]:
    """Every string output of every mock private key among ``resources``: value -> (URN, output)."""
    mocks = FleetMocks(seed_stack=seed_stack)
    found: dict[str, tuple[str, str]] = {}
    for r in resources:
        if r.type == PRIVATE_KEY:
            _, outputs = RESOURCE_MOCKS[PRIVATE_KEY](ResourceCall(r.type, r.name, mocks._seed_urn(r.urn),
                                                                  dict(r.inputs), {}, mocks))
            for key, value in outputs.items():
                if isinstance(value, str) and value:
                    found.setdefault(value, (r.urn, key))
    return found


def _recipe(value: Any, keys: Mapping[str, tuple[str, str]]) -> Any:
    """``value`` with every key replaced by where it comes from; None if a leaf is neither a
    derivable key nor empty."""
    if isinstance(value, dict):
        out = {k: _recipe(v, keys) for k, v in value.items()}
        return None if any(v is None and value[k] is not None for k, v in out.items()) else out
    if isinstance(value, list):
        items = [_recipe(v, keys) for v in value]
        return None if any(v is None and o is not None for v, o in zip(items, value, strict=True)) else items
    if isinstance(value, str) and value in keys:
        urn, output = keys[value]
        return {_DERIVED: {"urn": urn, "output": output}}
    return None


def _derive(recipe: Any, resources: Mapping[str, Resource], seed_stack: str) -> Any:
    if isinstance(recipe, dict) and set(recipe) == {_DERIVED}:
        source = recipe[_DERIVED]
        r = resources[source["urn"]]
        mocks = FleetMocks(seed_stack=seed_stack)
        _, outputs = RESOURCE_MOCKS[PRIVATE_KEY](ResourceCall(r.type, r.name, mocks._seed_urn(r.urn),
                                                              dict(r.inputs), {}, mocks))
        return outputs[source["output"]]
    if isinstance(recipe, dict):
        return {k: _derive(v, resources, seed_stack) for k, v in recipe.items()}
    if isinstance(recipe, list):
        return [_derive(v, resources, seed_stack) for v in recipe]
    return recipe


def store(result: ProgramResult, *, seed_stack: str, recipes: bool = True) -> Stored:
    """What is written of a run: secret outputs as digests and (``recipes``: the fleet
    stack's, which cluster stacks read) recipes."""
    secret = {name: result.secret_outputs[name] for name in result.secret_output_names
              if name in result.secret_outputs}
    keys = _key_values(result.resources, seed_stack) if secret and recipes else {}
    return Stored(result, {n: _sha(v) for n, v in secret.items()},
                  {n: _recipe(v, keys) for n, v in secret.items() if readable(n)} if recipes else {})


def dumps(stored: Stored) -> str:
    r = stored.result
    return json.dumps({
        "format": FORMAT,
        "resources": [x.to_full_json() for x in r.resources],
        "outputs": r.outputs,
        "secret_output_names": list(r.secret_output_names),
        "unknown_invokes": list(r.unknown_invokes),
        "secret_digests": stored.secret_digests,
        "secret_recipes": stored.recipes,
    }, ensure_ascii=False, separators=(",", ":")) + "\n"


def loads(text: str) -> Stored | None:
    """A stored run, its secret outputs masked (``revealed`` fills them); None when the
    text is not of this format."""
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            return None
        outputs = data["outputs"]
        secret_names = tuple(data["secret_output_names"])
        result = ProgramResult(
            resources=tuple(Resource.from_full_json(x) for x in data["resources"]),
            outputs=outputs,
            secret_outputs={k: (SECRET_MASK if k in secret_names else v) for k, v in outputs.items()},
            unknown_invokes=tuple(data["unknown_invokes"]),
            secret_output_names=secret_names,
        )
        return Stored(result, dict(data["secret_digests"]), dict(data["secret_recipes"]))
    except (ValueError, KeyError, TypeError):
        return None


def revealed(stored: Stored, names: Iterable[str], *, seed_stack: str) -> ProgramResult:
    """The stored result with the secret outputs ``names`` re-derived (the others stay masked)."""
    by_urn = {r.urn: r for r in stored.result.resources}
    secret_outputs = dict(stored.result.secret_outputs)
    for name in names:
        recipe = stored.recipes.get(name)
        if name in secret_outputs and recipe is not None:
            secret_outputs[name] = _derive(recipe, by_urn, seed_stack)
    r = stored.result
    return ProgramResult(r.resources, r.outputs, secret_outputs, r.unknown_invokes, r.secret_output_names)


def file_of(directory: Path, stack: str) -> Path:
    return directory / REUSE_DIR / f"{stack}.json"


def read_stored(directory: Path, stack: str) -> Stored | None:
    try:
        return loads(file_of(directory, stack).read_text(encoding="utf-8"))
    except OSError:
        return None


# --------------------------------------------------------------------------------------
# Digests


def _entries(fleet: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(c.get("name")): c for c in fleet.get("clusters") or [] if isinstance(c, Mapping)}


def fleet_digest(plan: FleetPlan, fleet: Mapping[str, Any], program: str) -> str:
    """The fleet stack's inputs: fleet settings, every cluster's entry but its worker pools."""
    clusters = [{k: v for k, v in entry.items() if k != "workers"} for entry in fleet.get("clusters") or []]
    return incremental.stack_digest(stack=plan.stack, program=program, settings=incremental.fleet_settings(fleet),
                                    cluster=clusters, fleet_outputs={})


def readable(name: str) -> bool:
    """Whether a fleet output is one cluster stacks read (the fleet stack's other outputs,
    kubeconfigs and the like, are for people)."""
    return name.startswith((IDENTITY, KEYS, FEDERATION)) or name in SHARED_READS


def reads(micro: MicroStack, everything: bool) -> list[str] | None:
    """The fleet outputs a cluster stack reads (None: every readable one)."""
    if everything:
        return None
    c = str(micro.cluster)
    return [IDENTITY + c, KEYS + c, FEDERATION + c, *SHARED_READS]


def management_cluster(plan: FleetPlan, spec: Any) -> str | None:
    mgmt = plan_identity(spec, plan).management
    return None if mgmt is None else mgmt.cluster


def cluster_digest(micro: MicroStack, plan: FleetPlan, fleet: Mapping[str, Any], program: str,
                   fleet_view: Mapping[str, Any], mgmt: str | None) -> str:
    """``fleet_view``: output name -> its value, a secret one by its sha256."""
    entries = _entries(fleet)
    everything = micro.cluster == mgmt
    names = list(entries) if everything else [str(micro.cluster)]
    cluster: list[Any] = []
    for n in names:
        cluster.append(entries.get(n, {"name": n}))
        cluster += [c.to_json() for c in plan.clusters if c.name == n]
    wanted = reads(micro, everything)
    outputs = ({k: v for k, v in fleet_view.items() if readable(k)} if wanted is None
               else {k: fleet_view.get(k) for k in wanted})
    return incremental.stack_digest(stack=micro.name, program=program, settings=incremental.fleet_settings(fleet),
                                    cluster=cluster, fleet_outputs=outputs)


def fleet_view(stored: Stored) -> dict[str, Any]:
    """The fleet outputs as the digests see them: values, a secret one as its sha256."""
    r = stored.result
    return {k: ({"sha256": stored.secret_digests[k]} if k in stored.secret_digests else v)
            for k, v in r.outputs.items()}


# --------------------------------------------------------------------------------------
# Planning with reuse


@dataclass
class Outcome:
    """The micro-stacks' results in layout order, what ran, each stack's digest and stored form."""

    results: dict[str, ProgramResult]
    ran: list[str]
    digests: dict[str, str]
    stored: dict[str, Stored]


def plan_stacks(program_root: Path, *, project: str, plan: FleetPlan, spec: Any, config: Mapping[str, Any],
                reuse: Path | None = None, on_resource: Callable[[MicroStack, Resource], None] | None = None,
                workers: int | None = None) -> Outcome:
    """Every micro-stack's result, reusing from ``reuse`` (a previous synth) the stacks whose
    digest it holds; ``reuse`` None (or a directory without digests of this schema): all run."""
    fleet = config.get(FLEET_KEY) or {}
    program = incremental.program_digest(program_root)
    previous = incremental.read_digests(reuse) if reuse is not None else {}
    layout = stack_layout(plan)
    fleet_micro = next(m for m in layout if m.scope == "fleet")
    digests = {fleet_micro.name: fleet_digest(plan, fleet, program)}
    ran: list[str] = []
    stored_fleet = None
    if reuse is not None and previous.get(fleet_micro.name) == digests[fleet_micro.name]:
        stored_fleet = read_stored(reuse, fleet_micro.name)
        if stored_fleet is not None and not stored_fleet.derivable():
            stored_fleet = None
    if stored_fleet is None:
        tick = (lambda r: on_resource(fleet_micro, r)) if on_resource is not None else None
        fresh = run_micro_stack(program_root, project=project, plan=plan, stack=fleet_micro.name, config=config,
                                on_resource=tick)
        stored_fleet = store(fresh, seed_stack=plan.stack)
        ran.append(fleet_micro.name)
    elif on_resource is not None:
        for r in stored_fleet.result.resources:
            on_resource(fleet_micro, r)
    view = fleet_view(stored_fleet)
    mgmt = management_cluster(plan, spec)
    loaded: dict[str, Stored] = {fleet_micro.name: stored_fleet}
    stale: list[MicroStack] = []
    for micro in layout:
        if micro.scope != "cluster":
            continue
        digests[micro.name] = cluster_digest(micro, plan, fleet, program, view, mgmt)
        hit = read_stored(reuse, micro.name) if reuse is not None and previous.get(micro.name) == digests[
            micro.name] else None
        if hit is None:
            stale.append(micro)
        else:
            loaded[micro.name] = hit
            if on_resource is not None:
                for r in hit.result.resources:
                    on_resource(micro, r)
    if stale:
        if fleet_micro.name in ran:
            fleet_result = stored_fleet.result  # this run's, secrets revealed
        else:
            needed = {n for m in stale for n in (reads(m, m.cluster == mgmt) or stored_fleet.recipes)}
            fleet_result = revealed(stored_fleet, needed, seed_stack=plan.stack)
        fresh_runs = run_fleet_stacks(program_root, project=project, plan=plan, config=config,
                                      clusters=[str(m.cluster) for m in stale], on_resource=on_resource,
                                      workers=workers, fleet=fleet_result)
        for micro in stale:
            loaded[micro.name] = store(fresh_runs[micro.name], seed_stack=plan.stack, recipes=False)
            ran.append(micro.name)
    results = {m.name: loaded[m.name].result for m in layout}
    return Outcome(results, ran, digests, {m.name: loaded[m.name] for m in layout})


def write(outcome: Outcome) -> dict[str, str]:
    """The files of ``outcome`` a synth directory holds for a later ``--reuse``: relative path -> text."""
    files = {f"{REUSE_DIR}/{name}.json": dumps(s) for name, s in outcome.stored.items()}
    files[incremental.INPUTS_FILE] = incremental.digests_text(outcome.digests)
    return files


def evaluate(stack: Stack, *, reuse: Path | None = None,
             on_resource: Callable[[MicroStack, Resource], None] | None = None) -> Outcome:
    """``stacks.evaluate_stacks`` reusing what ``reuse`` holds (same errors, exit 2)."""
    root = program_root()
    try:
        return plan_stacks(root, project=PROJECT, plan=stack.plan, spec=stack.spec,
                           config=program_config(stack, root), reuse=reuse, on_resource=on_resource)
    except ResourceRefused as refused:
        raise FleetError([locate(stack.spec, stack.plan, refused)]) from None
    except StackReferenceError as exc:
        raise FleetError([Problem(stack.label, "fleet.stacks", str(exc))]) from None
