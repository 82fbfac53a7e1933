"""``fleetform migrate plan (--stack|--file) CLUSTER [--against DIR] [--json]``.

For the phase written in the cluster's ``migrate`` block: what this `pulumi up` creates,
switches and removes compared with the phase before it (the same stack file with the
previous phase written in, run through the offline engine), everything that would delete
data, and the operator's next step with the exact stack-file edit.

Which phase came before: the one before the written phase (prepare: no migration), unless
``--against DIR`` (a ``fleetform synth`` of the stack as last applied) says otherwise; the
move is then checked like the migration gate checks it in ``pulumi up``.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from fleetform.cli.common import (
    EXIT_CHECK,
    EXIT_OK,
    Subparsers,
    add_source,
    gate_inputs,
    need_source,
    run_engine,
)
from fleetform.engine.diff import diff_synth
from fleetform.engine.policy import pending_removals
from fleetform.engine.run import run_program
from fleetform.engine.synth import (
    BASE_KEY,
    FLEET_KEY,
    PROJECT,
    load_stack,
    program_config,
    program_root,
    read_synth,
    resource_record,
)
from fleetform.plan.fleet import plan_fleet
from fleetform.plan.load import load_config
from fleetform.plan.migrate import DOCS, PhaseState, check_transition
from fleetform.plan.model import ClusterPlan, FleetPlan
from fleetform.plan.names import migration_gate
from fleetform.spec.errors import FleetError, Problem
from fleetform.spec.load import origins
from fleetform.spec.messages import did_you_mean
from fleetform.spec.models import ClusterSpec, FleetSpec


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser("migrate", help="moving a cluster between clouds or regions (see docs/migration.md)",
                       description="A cluster moves by editing its stack file: `migrate: {to: ..., phase: "
                                   "prepare}`, then cutover, then finalize, one `pulumi up` each "
                                   "(docs/migration.md). `migrate plan` shows what a phase does.")
    msub = p.add_subparsers(dest="migrate_command", required=True, metavar="COMMAND")
    q = msub.add_parser("plan", help="what this phase creates, switches and removes, and the next step",
                        description="What the current phase of a moving cluster creates, switches and "
                                    "removes, what deletes data, and the next edit of the stack file.")
    add_source(q)
    q.add_argument("cluster", metavar="CLUSTER", help="the cluster being moved")
    q.add_argument("--against", metavar="DIR",
                   help="a `fleetform synth` of the stack as last applied: its phase is the previous one")
    q.add_argument("--json", action="store_true", help="machine-readable JSON")
    p.set_defaults(run=run)


def gate_state(resources: Sequence[Mapping[str, Any]], cluster: str) -> PhaseState | None:
    """The phase the migration gate of ``cluster`` holds among recorded resources."""
    inputs = gate_inputs(resources, migration_gate(cluster))
    return None if inputs is None else PhaseState.from_json(inputs)


def previous_state(directory: str, cluster: str) -> PhaseState | None:
    """The phase the migration gate of ``cluster`` held in a synthesized stack."""

    return gate_state(read_synth(directory).resources, cluster)


def phase_problems(spec: FleetSpec, previous: Sequence[Mapping[str, Any]]) -> list[Problem]:
    """What the migration gates would refuse in `pulumi up`, against a previous synth:
    located at each cluster's `migrate.phase` (or the cluster, when the block is gone)."""

    where = origins(spec)
    problems = []
    for c in spec.clusters:
        why = check_transition(c.name, gate_state(previous, c.name), PhaseState.of(c))
        if why is not None:
            loc = where.cluster_loc(c.name, "migrate", "phase") if c.migrate else where.cluster_loc(c.name)
            problems.append(loc.problem(why))
    return problems


def previous_block(c: ClusterSpec) -> dict[str, Any] | None:
    """The migrate block of the phase before the one written (None: no migration yet)."""
    assert c.migrate is not None
    m = c.migrate
    if m.phase == "prepare":
        return None
    block = m.model_dump(mode="json", exclude_defaults=True)
    block["phase"] = "prepare" if m.phase == "cutover" else "cutover"
    if m.phase == "cutover":
        block.pop("release_source", None)  # prepare never releases the source
    else:
        block["release_source"] = True  # finalize follows a released cutover
    return block


def _with_block(config: dict[str, Any], cluster: str, block: dict[str, Any] | None) -> dict[str, Any]:

    out = copy.deepcopy(config)
    for entry in out[FLEET_KEY].get("clusters") or []:
        if isinstance(entry, dict) and entry.get("name") == cluster:
            if block is None:
                entry.pop("migrate", None)
            else:
                entry["migrate"] = block
    return out


def next_step(c: ClusterSpec, plan: FleetPlan) -> str:
    assert c.migrate is not None
    m = c.migrate
    if m.phase == "prepare":
        return ("`pulumi up`; check the target (`kubectl --context "
                f"{c.name}@{m.to.cloud}-{m.to.region} get nodes`), then set `phase: cutover` and `pulumi up`: "
                f"{c.name}'s name moves to the target")
    if m.phase == "cutover" and not m.release_source:
        return ("`pulumi up`; once the target serves well, add `release_source: true` and `pulumi up` (the "
                "source's etcd disks lose protection); or go back with `phase: prepare`")
    if m.phase == "cutover":
        return "`pulumi up`; then set `phase: finalize` and `pulumi up`: the source and its data are deleted"
    target = next(p for p in plan.incarnations(c.name) if p.migration and p.migration.role == "target")
    edit: dict[str, Any] = {"cloud": m.to.cloud, "region": m.to.region}
    if m.to.zones is not None:
        edit["zones"] = list(m.to.zones)
    edit["network"] = {"index": target.network.slot}
    lines = "\n".join(f"    {k}: {json.dumps(v) if not isinstance(v, str) else v}" for k, v in edit.items())
    return ("`pulumi up`; then in the cluster's entry replace `cloud`, `region`"
            f"{', `zones`' if m.to.zones is not None else ''} and `network` by the target's and delete the "
            f"`migrate` block:\n{lines}\n  `pulumi up` after that changes nothing (the target's URNs are the "
            f"cluster's own); `fleetform diff --against DIR` proves it before you apply")


def _summary(plan: ClusterPlan) -> dict[str, Any]:
    return {"key": plan.key, "cloud": plan.cloud, "region": plan.region, "serving": plan.serving,
            "context": plan.context, "protect_data": plan.protect_data,
            "node_cidr": plan.network.node_cidr, "pod_cidr": plan.network.pod_cidr}


def run(args: argparse.Namespace) -> int:

    need_source(args, "migrate plan")
    stack = load_stack(args.stack, args.file)
    try:
        c = stack.spec.cluster(args.cluster)
    except KeyError:

        names = [x.name for x in stack.spec.clusters]
        raise FleetError([Problem(stack.label, args.cluster, f"no such cluster{did_you_mean(args.cluster, names)}")]) \
            from None
    if c.migrate is None:
        raise FleetError([Problem(stack.label, args.cluster,
                                  f"cluster {c.name!r} has no `migrate` block: nothing is moving (see {DOCS})")])
    m = c.migrate
    current = PhaseState.of(c)
    # The previous phase -- what the last applied stack held, or the one before the written
    # one -- and the migrate block that runs the program as it was then.
    assert current is not None
    if args.against is not None:
        old = previous_state(args.against, c.name)
        source_of_old = args.against
        block = None if old is None else {**m.model_dump(mode="json", exclude_defaults=True),
                                          "phase": old.phase, "release_source": old.release_source}
    else:
        block = previous_block(c)
        source_of_old = "the phase before the written one"
        old = None if block is None else PhaseState(block["phase"], current.target,
                                                    bool(block.get("release_source")))
    refusal = check_transition(c.name, old, current)

    # What changes: the program at the previous phase vs. at this one.

    root = program_root()
    before_config = _with_block(program_config(stack, root), c.name, block)
    before_plan = plan_fleet(load_config(before_config[FLEET_KEY], before_config.get(BASE_KEY), stack=stack.name,
                                         label=stack.label, stacks_dir=stack.path.parent))
    before = run_program(root, project=PROJECT, stack=stack.name, config=before_config)
    after = run_engine(stack)
    old_records = [resource_record(r) for r in before.resources]
    new_records = [resource_record(r) for r in after.resources]
    result = diff_synth(before_plan.to_json(), old_records, stack.plan.to_json(), new_records)
    dangers = [str(r) for r in pending_removals(old_records, new_records)]
    released = [f"{p.key}: etcd disks unprotected (the next removal deletes its data)"
                for p in stack.plan.incarnations(c.name) if not p.protect_data
                and any(q.key == p.key and q.protect_data for q in before_plan.incarnations(c.name))]
    mine = [ch for ch in result.changes if ch.cluster == c.name or ch.cluster is None]
    counts = {k: sum(1 for ch in mine if ch.kind == k) for k in ("add", "change", "move", "remove")}
    report = {
        "cluster": c.name,
        "phase": m.phase,
        "to": {"cloud": m.to.cloud, "region": m.to.region},
        "data": m.data,
        "previous": old.to_json() if old else None,
        "previous_from": source_of_old,
        "allowed": refusal is None,
        "refused": refusal,
        "incarnations": [_summary(p) for p in stack.plan.incarnations(c.name)],
        "resources": counts,
        "created": sorted({f"{ch.type}" for ch in mine if ch.kind == "add"}),
        "removed": [ch.to_json() for ch in mine if ch.kind == "remove"],
        "switched": [ch.to_json() for ch in mine if ch.kind in ("change", "move")],
        "deletes_data": [ch.to_json() for ch in result.stateful_removals] + [{"pending": d} for d in dangers],
        "releases_data": released,
        "next": next_step(c, stack.plan),
    }
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        _print(report)
    return EXIT_CHECK if refusal else EXIT_OK


def _print(r: dict[str, Any]) -> None:
    out = sys.stdout
    prev = r["previous"]
    out.write(f"cluster {r['cluster']}: moving to {r['to']['cloud']} {r['to']['region']}, phase {r['phase']} "
              f"(data: {r['data']})\n")
    out.write(f"previous phase: {prev['phase'] if prev else 'none (no migration)'} ({r['previous_from']})\n")
    if r["refused"]:
        out.write(f"REFUSED: {r['refused']}\n")
    for inc in r["incarnations"]:
        role = "serves the cluster's name" if inc["serving"] else "reachable as its own context"
        out.write(f"  {inc['key']}: {inc['cloud']} {inc['region']}, context {inc['context']!r}, {role}; "
                  f"nodes {inc['node_cidr']}, pods {inc['pod_cidr']}"
                  f"{'' if inc['protect_data'] else ', etcd data NOT protected'}\n")
    n = r["resources"]
    out.write(f"this `pulumi up`: {n['add']} to create, {n['change'] + n['move']} to change, "
              f"{n['remove']} to remove\n")
    for ch in r["switched"]:
        out.write(f"  ~ {ch['type']} {ch['name']} ({', '.join(ch.get('fields', []))})\n")
    if r["removed"]:
        out.write(f"  - removed: {len(r['removed'])} resources"
                  f" ({', '.join(sorted({ch['type'].split(':')[-1] for ch in r['removed']}))})\n")
    for line in r["releases_data"]:
        out.write(f"!! RELEASES DATA: {line}\n")
    pending = [d["pending"] for d in r["deletes_data"] if "pending" in d]
    stateful = [d for d in r["deletes_data"] if "pending" not in d]
    for text in pending:
        out.write(f"!! DELETES DATA: {text}\n")
    if stateful:
        out.write(f"!! {len(stateful)} stateful resources go with them (etcd members, their disks, addresses, "
                  "certificates and keys; `--json` lists each)\n")
    out.write(f"next: {r['next']}\n")
