"""Shared harness of the cloud adapter tests (test_aws_adapter.py, test_gcp_adapter.py).

Each test module writes a small Pulumi program that builds the `ClusterContext` of one
planned cluster and calls every adapter method; `run_adapter` runs it under the offline
engine, with the given data-source answers recorded, and returns the recorded graph.
Replacement options (`delete_before_replace`, `replace_on_changes`) are on each recorded
`fleetform.engine.records.Resource`.

Imported as a plain module (`from adapter_harness import ...`): pytest puts this
directory on `sys.path` (no `__init__.py` here -- it would shadow the `components`
package).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from fleetform.engine.mocks import base as fleet_mocks
from fleetform.engine.records import Resource
from fleetform.engine.run import run_program
from fleetform.plan.fleet import plan_fleet
from fleetform.plan.load import load_stack_file
from fleetform.plan.model import ClusterPlan, FleetPlan

Handler = Callable[[fleet_mocks.InvokeCall], dict[str, Any]]


@dataclass
class Run:
    """One adapter program run."""

    fleet: FleetPlan
    plan: ClusterPlan
    resources: tuple[Resource, ...]
    outputs: dict[str, Any]
    # (token, provider inputs, args) per invoke
    invokes: list[tuple[str, dict[str, Any], dict[str, Any]]]

    def of_type(self, token: str) -> list[Resource]:
        return [r for r in self.resources if r.type == token]

    def one(self, token: str, name: str) -> Resource:
        [hit] = [r for r in self.of_type(token) if r.name == name]
        return hit

    def of_cloud(self, cloud: str) -> list[Resource]:
        """The cloud provider's resources (``aws:...`` / ``gcp:...``)."""
        return [r for r in self.resources if r.type.startswith(f"{cloud}:")]


R = TypeVar("R", bound=Run)


def original_handlers(tokens: tuple[str, ...], fallback: Handler) -> dict[str, Handler]:
    """The shared mocks' handlers for `tokens` (`fallback` where they have none). Take
    them at import time: each run then wraps these, never an earlier run's wrapper."""
    return {token: fleet_mocks.INVOKE_MOCKS.get(token, fallback) for token in tokens}


def run_adapter(cls: type[R], tmp: Path, monkeypatch: pytest.MonkeyPatch, program: str, stack_file: Path,
                cluster: str, handlers: Mapping[str, Handler], *, reverse: bool = False) -> R:
    """Run `program` (config `test:stack_file`, `test:cluster`, `test:reverse`) with the
    invokes of `handlers` answered by them and recorded."""
    fleet = plan_fleet(load_stack_file(stack_file))
    plan = fleet.cluster(cluster)
    invokes: list[tuple[str, dict[str, Any], dict[str, Any]]] = []

    def recording(token: str, handler: Handler) -> None:
        def wrapped(i: fleet_mocks.InvokeCall) -> dict[str, Any]:
            invokes.append((token, dict(i.provider_inputs), dict(i.args)))
            return handler(i)

        monkeypatch.setitem(fleet_mocks.INVOKE_MOCKS, token, wrapped)

    for token, handler in handlers.items():
        recording(token, handler)

    program_dir = tmp / "program"
    program_dir.mkdir()
    (program_dir / "__main__.py").write_text(program)
    result = run_program(
        program_dir,
        project="fleetform",
        stack="test",
        config={"test:stack_file": str(stack_file), "test:cluster": cluster,
                "test:reverse": "true" if reverse else "false"},
    )
    return cls(fleet, plan, result.resources, result.outputs, invokes)
