"""Comparing a fleet's micro-stack graphs with its single-stack graph.

A resource of a micro-stack is compared with the same resource of the single stack
with the stack part of every URN normalized to the fleet's stack name (what
`pulumi state move` changes, and only that), and with dependencies restricted to the
resources of the micro-stack itself: a dependency on a resource of another stack is
what the StackReference (and the fleet stack being a prerequisite) stands for.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from fleetform.engine.records import ProgramResult, Resource

STACK_TYPE = "pulumi:pulumi:Stack"
ROOT = "<stack root>"
_URN = re.compile(r"urn:pulumi:([^:]+)::")


def normalize(text: str, env: str) -> str:
    return _URN.sub(f"urn:pulumi:{env}::", text)


def _norm(value: Any, env: str) -> Any:
    return json.loads(normalize(json.dumps(value, sort_keys=True), env))


def _parent(parent: str | None, env: str) -> str | None:
    if parent is None:
        return None
    return ROOT if parent.split("::")[2] == STACK_TYPE else normalize(parent, env)


def shape(r: Resource, env: str, local: set[str]) -> dict[str, Any]:
    """Everything the engine receives for ``r`` but its stack: type, name, inputs and
    options, dependencies on resources of the same stack only (``local``, normalized)."""
    def deps(urns: tuple[str, ...]) -> list[str]:
        return sorted(u for u in (normalize(x, env) for x in urns) if u in local)

    return {
        "urn": normalize(r.urn, env), "type": r.type, "name": r.name,
        "parent": _parent(r.parent, env),
        "provider": normalize(r.provider.rsplit("::", 1)[0], env) if r.provider else None,
        "provider_id": r.provider.rsplit("::", 1)[1] if r.provider else None,
        "dependencies": deps(r.dependencies),
        "property_dependencies": {k: deps(v) for k, v in sorted(r.property_dependencies.items())},
        "inputs": _norm(r.inputs, env), "custom": r.custom, "protect": r.protect,
        "ignore_changes": sorted(r.ignore_changes), "aliases": sorted(normalize(a, env) for a in r.aliases),
        "delete_before_replace": r.delete_before_replace, "replace_on_changes": sorted(r.replace_on_changes),
    }


def compare(env: str, single: ProgramResult, stacks: Mapping[str, ProgramResult], gate: str) -> list[str]:
    """Differences between the union of ``stacks`` and ``single``, one line each (empty:
    equal resource for resource, the stack roots and the upgrade gates (named ``gate``)
    aside)."""
    def compared(r: Resource) -> bool:
        return r.type != STACK_TYPE and r.name != gate

    problems: list[str] = []
    by_urn = {normalize(r.urn, env): r for r in single.resources if compared(r)}
    seen: set[str] = set()
    for name, result in stacks.items():
        mine = [r for r in result.resources if compared(r)]
        local = {normalize(r.urn, env) for r in result.resources}
        for r in mine:
            urn = normalize(r.urn, env)
            seen.add(urn)
            want = by_urn.get(urn)
            if want is None:
                problems.append(f"{name}: {urn}: not in the single stack")
                continue
            got, expected = shape(r, env, local), shape(want, env, local)
            for key in got:
                if got[key] != expected[key]:
                    problems.append(f"{name}: {urn}: {key}: {str(got[key])[:300]} != {str(expected[key])[:300]}")
    problems += [f"{urn}: in no micro-stack" for urn in sorted(set(by_urn) - seen)]
    return problems
