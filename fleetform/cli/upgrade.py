"""``fleetform upgrade plan (--stack|--file) [--against DIR] [--json]``.

Per cluster: the version it runs, the fleet target, the minor-by-minor path, its wave,
a hold or skip, and what the next edit changes; then the fleet's next edit. With
``--against DIR`` (a ``fleetform synth`` of the stack as last applied) the edit is
checked like the upgrade gate checks it in ``pulumi up`` (the soak excepted: a synth
records no apply time): a refused edit is a located error, exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from fleetform.cli.common import EXIT_OK, Subparsers, add_source, gate_inputs, load, need_source
from fleetform.engine.synth import read_synth
from fleetform.plan.fleet import plan_fleet
from fleetform.plan.model import FleetPlan
from fleetform.plan.names import upgrade_gate
from fleetform.plan.upgrade_gate import GateState, gate_refusals, human
from fleetform.plan.upgrades import UpgradePlan
from fleetform.plan.versions_skew import describe_path, upgrade_path
from fleetform.spec.errors import FleetError, Problem
from fleetform.spec.load import origins
from fleetform.spec.models import FleetSpec


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser("upgrade", help="fleet upgrades in waves (see docs/upgrades.md)",
                       description="The fleet's `upgrades` block rolls one target through ordered waves; "
                                   "`current_wave` moves by an edit the upgrade gate checks "
                                   "(docs/upgrades.md). `upgrade plan` shows the rollout.")
    usub = p.add_subparsers(dest="upgrade_command", required=True, metavar="COMMAND")
    q = usub.add_parser("plan", help="per cluster: version, target, path, wave, hold or skip, and the next edit",
                        description="Per cluster: the version it runs, the version this `pulumi up` gives it, "
                                    "the minor-by-minor path, its wave, a hold or skip, and what the next edit "
                                    "changes; then the fleet's next edit.")
    add_source(q, required=False)
    q.add_argument("--against", metavar="DIR",
                   help="a `fleetform synth` of the stack as last applied: check the edit like the gate does")
    q.add_argument("--json", action="store_true", help="machine-readable JSON")
    p.set_defaults(run=run)


def gate_state(resources: Sequence[Mapping[str, Any]], fleet: str) -> GateState | None:
    """The state the upgrade gate of ``fleet`` holds among recorded resources."""
    inputs = gate_inputs(resources, upgrade_gate(fleet))
    return None if inputs is None else GateState.from_json(inputs)


def current_state(plan: FleetPlan) -> GateState:
    if plan.upgrades is not None:
        return plan.upgrades.gate_state()
    return GateState.without_upgrades({c.name: c.target_version for c in plan.clusters if c.serving})


def against_problems(spec: FleetSpec, plan: FleetPlan, directory: str) -> list[Problem]:
    """The gate's refusals of going from the synth in ``directory`` to ``plan``, located
    where the stack file says what changed."""
    old = gate_state(read_synth(directory).resources, spec.name)
    where = origins(spec)
    out = []
    for r in gate_refusals(old, current_state(plan), None):
        if r.field == "versions" and r.cluster is not None:
            up = plan.upgrades
            if up is not None and up.cluster(r.cluster).version == up.target:
                loc = where.fleet_loc("upgrades", "target", "kubernetes_version")
            else:
                loc = where.cluster_loc(r.cluster, "kubernetes_version")
        elif r.field == "wave" and spec.upgrades is not None:
            loc = where.fleet_loc("upgrades", "current_wave")
        else:
            loc = where.fleet_loc("upgrades")
        out.append(loc.problem(r.message))
    return out


def _row(values: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()


def render_text(up: UpgradePlan) -> str:
    lines = [f"upgrade to {up.target}" + (f" (image {up.image})" if up.image else "")
             + f" · current wave: {up.current_wave} ({up.wave_index + 1} of {len(up.waves)})"]
    if up.urgent:
        lines.append(f"URGENT (fast path, soaks shortened): {up.urgent}")
    lines.append("")
    rows: list[tuple[str, ...]] = [("wave", "state", "soak", "clusters")]
    for w in up.waves:
        state = "done" if w.index < up.wave_index else "current" if w.index == up.wave_index else "next" \
            if w.index == up.wave_index + 1 else "later"
        rows.append((f"{w.index + 1}. {w.name}", state, human(w.soak_seconds), " ".join(w.clusters) or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines += [_row(r, widths) for r in rows]
    lines.append("")
    rows = [("cluster", "runs", "this run", "path to target", "wave", "status", "next edit")]
    for c in up.clusters:
        goal = c.hold[0] if c.hold is not None else c.target
        path = describe_path(c.current, upgrade_path(c.current, goal)) if goal != c.current else "-"
        status = c.status + (f" at {c.hold[0]}" if c.hold is not None else "")
        rows.append((c.cluster, c.current, c.version, path, c.wave or "-", status, c.next_edit))
    widths = [max(len(r[i]) for r in rows) for i in range(7)]
    lines += [_row(r, widths) for r in rows]
    lines += ["", f"next edit: {up.next_edit}"]
    lines += [f"warning: {w}" for w in up.warnings]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    need_source(args, "upgrade plan")
    spec = load(args)
    plan = plan_fleet(spec)
    if args.against:
        problems = against_problems(spec, plan, args.against)
        if problems:
            raise FleetError(problems)
    up = plan.upgrades
    if args.json:
        data: dict[str, Any] = {"stack": plan.stack, "upgrades": up.to_json() if up else None,
                                "versions": {c.name: c.target_version for c in plan.clusters if c.serving}}
        if args.against:
            data["against"] = args.against
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return EXIT_OK
    if up is None:
        versions = ", ".join(f"{c.name} {c.kubernetes_version}" for c in plan.clusters if c.serving)
        sys.stdout.write(f"no `upgrades` block in stack {plan.stack}: every cluster runs its own "
                         f"kubernetes_version ({versions}); see docs/upgrades.md\n")
        return EXIT_OK
    sys.stdout.write(render_text(up))
    if args.against:
        print(f"checked against {args.against}: the gate allows this edit (the soak is checked by "
              "`pulumi up`)", file=sys.stderr)
    return EXIT_OK
