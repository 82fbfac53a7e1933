"""The fleetform Pulumi program: load -> plan -> components -> exports.

One program for every stack of a fleet (``fleetform/plan/stacks.py``, docs/stacks.md):
the stack `<env>` is configured by its stack file `stacks/Pulumi.<env>.yaml`; a cluster
stack `<env>.<cluster>` has no configuration of its own and reads that same file, plans
the whole fleet (pure) and builds only its cluster."""

from pathlib import Path

import pulumi

from components.exports import export_fleet
from components.fleet import Fleet
from components.identity import fleet_identity
from fleetform.plan.fleet import plan_fleet
from fleetform.plan.load import load_config, program_config, resolve_stack

stacks_dir = Path(__file__).parent / "stacks"
stack = pulumi.get_stack()
config = pulumi.Config("fleetform")
env, fleet_config, base = program_config(stack, config.get_object("fleet"), config.get("base"), stacks_dir)
spec = load_config(fleet_config, base, stack=env, label=f"stacks/Pulumi.{env}.yaml", stacks_dir=stacks_dir)
plan = plan_fleet(spec)
micro = resolve_stack(plan, stack)
fleet = Fleet(plan.fleet, plan, identity=fleet_identity(plan, spec), scope=micro.scope, cluster=micro.cluster,
              fleet_stack=micro.prerequisites[0] if micro.prerequisites else None)
export_fleet(plan, fleet)
