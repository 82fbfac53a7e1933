"""The fleetform Pulumi program: load -> plan -> components -> exports."""

from pathlib import Path

import pulumi

from components.exports import export_fleet
from components.fleet import Fleet
from components.identity import fleet_identity
from fleetform.plan.fleet import plan_fleet
from fleetform.plan.load import load_config

config = pulumi.Config("fleetform")
stack = pulumi.get_stack()
spec = load_config(
    config.require_object("fleet"),
    config.get("base"),
    stack=stack,
    label=f"stacks/Pulumi.{stack}.yaml",
    stacks_dir=Path(__file__).parent / "stacks",
)
plan = plan_fleet(spec)
fleet = Fleet(plan.fleet, plan, identity=fleet_identity(plan, spec))
export_fleet(plan, fleet)
