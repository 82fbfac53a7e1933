"""Micro-stacks: the Pulumi stacks a fleet is deployed as, and the order they apply in.

A fleet with ``stacks: single`` is one stack, named after its stack file (``dev``). With
``stacks: per-cluster`` it is a fleet stack (``prod``: the shared identity, federation,
fleet logs and the fleet's outputs) and one stack per logical cluster
(``prod.<cluster>``: every incarnation of that cluster, so a migration stays inside one
stack). Cluster stacks read what they need from the fleet stack through a
StackReference, so the fleet stack is every cluster stack's prerequisite.

Names derive from the stack file's name and the cluster's name, never from positions, so
adding or removing a cluster never renames another cluster's stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fleetform.plan.model import FleetPlan

SEPARATOR = "."
# Pulumi's stack-name rule: letters, digits, '-', '_', '.'; at most 100 characters.
MAX_STACK_NAME = 100

Scope = Literal["all", "fleet", "cluster"]


@dataclass(frozen=True)
class MicroStack:
    name: str  # the Pulumi stack name
    env: str  # the stack file's name (`stacks/Pulumi.<env>.yaml`)
    scope: Scope  # "all": the single stack; "fleet": the fleet stack; "cluster": one cluster
    cluster: str | None  # the logical cluster a cluster stack holds
    prerequisites: tuple[str, ...]  # stacks that must be applied first

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "env": self.env, "scope": self.scope, "cluster": self.cluster,
                "prerequisites": list(self.prerequisites)}


def fleet_stack(env: str) -> str:
    return env


def cluster_stack(env: str, cluster: str) -> str:
    name = f"{env}{SEPARATOR}{cluster}"
    if len(name) > MAX_STACK_NAME:
        raise ValueError(f"stack name {name!r} is longer than {MAX_STACK_NAME} characters")
    return name


def parse_stack(name: str) -> tuple[str, str | None]:
    """``prod`` -> (``prod``, None); ``prod.eu-1`` -> (``prod``, ``eu-1``). Cluster names are
    DNS labels (no dots), so the last separator splits the name."""
    env, sep, cluster = name.rpartition(SEPARATOR)
    return (env, cluster) if sep and env and cluster else (name, None)


def stack_layout(plan: FleetPlan) -> tuple[MicroStack, ...]:
    """Every stack of the fleet, the fleet stack first, clusters in the plan's order."""
    env = plan.stack
    if plan.stacks == "single":
        return (MicroStack(env, env, "all", None, ()),)
    root = fleet_stack(env)
    clusters = dict.fromkeys(c.name for c in plan.clusters)
    return (MicroStack(root, env, "fleet", None, ()),
            *(MicroStack(cluster_stack(env, c), env, "cluster", c, (root,)) for c in clusters))


def resolve(plan: FleetPlan, stack: str) -> MicroStack:
    """The micro-stack a Pulumi stack name denotes in this fleet (KeyError if none)."""
    for s in stack_layout(plan):
        if s.name == stack:
            return s
    raise KeyError(stack)


class StackReferenceError(Exception):
    """A micro-stack reads what its prerequisite does not (yet) hold: bad input of the run
    (apply the fleet stack first), not a bug."""


class StackNotApplied(StackReferenceError):
    def __init__(self, stack: str) -> None:
        self.stack = stack
        super().__init__(f"stack {stack!r} has no outputs: apply it first (it is a prerequisite of the "
                         "cluster stacks, docs/stacks.md)")


class StackOutputMissing(StackReferenceError):
    def __init__(self, stack: str, output: str) -> None:
        self.stack, self.output = stack, output
        super().__init__(f"stack {stack!r} has no output {output!r}: apply stack {stack!r} again with this "
                         "version of fleetform before its cluster stacks (docs/stacks.md)")
