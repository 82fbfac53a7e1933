"""Load a stack file or config object into a fully validated FleetSpec.

The spec layer reads, layers and type-checks; the fleet-wide rules (addresses,
placement, CNI, identity, migration) need the planner, so this is the one entry point
every caller uses to get a spec that is known to plan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fleetform.plan.model import FleetPlan
from fleetform.plan.stacks import MicroStack, parse_stack, resolve, stack_layout
from fleetform.plan.validate.fleet import check_fleet, settings_rules
from fleetform.spec import load as spec_load
from fleetform.spec.errors import FleetError, Problem
from fleetform.spec.load import BASE_KEY, FLEET_KEY, read_yaml
from fleetform.spec.models import FleetSpec

RULES = spec_load.FleetRules(fleet=check_fleet, settings=settings_rules)


def load_stack_file(path: Path, *, label: str | None = None) -> FleetSpec:
    """``stacks/Pulumi.<stack>.yaml`` (and the base file it names), fully validated."""
    return spec_load.load_stack_file(path, label=label, rules=RULES)


def load_config(fleet: Any, base: Any, *, stack: str, label: str, stacks_dir: Path) -> FleetSpec:
    """The Pulumi program's ``fleetform:fleet`` config object (+ base file), fully validated."""
    return spec_load.load_config(
        fleet, base, stack=stack, label=label, stacks_dir=stacks_dir, rules=RULES
    )


def program_config(stack: str, fleet: Any, base: Any, stacks_dir: Path) -> tuple[str, Any, Any]:
    """(env, ``fleetform:fleet``, ``fleetform:base``) for the Pulumi stack ``stack``.

    ``fleet``/``base``: the stack's own configuration, if any. A name ``<env>.<cluster>``
    is a cluster stack when its configuration (or, without one, the stack file
    ``stacks/Pulumi.<env>.yaml``) says ``stacks: per-cluster``: a cluster stack has no
    fleet configuration of its own (`pulumi stack init` may write a
    ``stacks/Pulumi.<env>.<cluster>.yaml`` holding only its secrets settings) and reads its
    fleet's stack file, the one place a user writes. Any other stack is read as given."""
    env, cluster = parse_stack(stack)
    if fleet is not None:
        split = cluster is not None and _stacks_setting(fleet, base, stacks_dir) == "per-cluster"
        return (env if split else stack), fleet, base
    label = f"stacks/Pulumi.{env}.yaml"
    if cluster is None or not (stacks_dir / f"Pulumi.{env}.yaml").is_file():
        raise FleetError([Problem(f"stacks/Pulumi.{stack}.yaml", f"config.{FLEET_KEY}",
                                  f"required: stack {stack!r} has no fleet configuration")])
    doc = read_yaml(stacks_dir / f"Pulumi.{env}.yaml", label)
    config = doc.get("config") if isinstance(doc, dict) else None
    if not isinstance(config, dict) or config.get(FLEET_KEY) is None:
        raise FleetError([Problem(label, f"config.{FLEET_KEY}", f"required: the cluster stack {stack!r} reads "
                                  "its fleet from this file")])
    return env, config[FLEET_KEY], config.get(BASE_KEY)


def _stacks_setting(fleet: Any, base: Any, stacks_dir: Path) -> Any:
    """The fleet key ``stacks`` as written in the configuration, else in its base file."""
    if isinstance(fleet, dict) and "stacks" in fleet:
        return fleet["stacks"]
    if isinstance(base, str) and (stacks_dir / base).is_file():
        doc = read_yaml(stacks_dir / base, base)
        inner = doc.get("fleet") if isinstance(doc, dict) else None
        return inner.get("stacks") if isinstance(inner, dict) else None
    return None


def resolve_stack(plan: FleetPlan, stack: str) -> MicroStack:
    """The micro-stack ``stack`` is of ``plan``'s fleet; a name that is none of its
    stacks is the stack file's error (a cluster that is not in it, or ``stacks: single``)."""
    try:
        return resolve(plan, stack)
    except KeyError:
        names = ", ".join(s.name for s in stack_layout(plan))
        raise FleetError([Problem(f"stacks/Pulumi.{plan.stack}.yaml", "fleet.stacks",
                                  f"stack {stack!r} is not a stack of this fleet (stacks: {plan.stacks}: "
                                  f"{names})")]) from None
