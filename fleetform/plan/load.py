"""Load a stack file or config object into a fully validated FleetSpec.

The spec layer reads, layers and type-checks; the fleet-wide rules (addresses,
placement, CNI, identity, migration) need the planner, so this is the one entry point
every caller uses to get a spec that is known to plan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fleetform.plan.validate.fleet import check_fleet, settings_rules
from fleetform.spec import load as spec_load
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
