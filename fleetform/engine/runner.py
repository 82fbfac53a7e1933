"""What running a Pulumi stack takes, as a small interface: the orchestration
(``fleetform/engine/orchestrate.py``) drives any ``Runner``; the real one goes through
Pulumi's Automation API (``fleetform/engine/automation.py``), tests use a fake.

A runner never raises for a stack that fails: a failed operation is a ``StackResult``
with ``ok=False`` and the reason. It raises ``RunnerError`` only when it cannot run at
all (no Pulumi CLI, a project it cannot open): the run stops before any stack starts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import yaml

from fleetform.plan.stacks import MicroStack

Operation = Literal["preview", "up", "destroy"]
OPERATIONS: tuple[Operation, ...] = ("preview", "up", "destroy")

# One line of a stack's output (Pulumi's own progress), as it is printed.
OnOutput = Callable[[str], None]


class RunnerError(Exception):
    """The runner cannot run stacks at all; the message says what to do."""


@dataclass(frozen=True)
class StackResult:
    stack: str
    ok: bool
    # Pulumi's resource changes by operation ("create", "update", "delete", "same", ...).
    changes: Mapping[str, int] = field(default_factory=dict)
    message: str = ""  # why it failed (empty when ok)


class Runner(Protocol):
    def preview(self, stack: MicroStack, on_output: OnOutput) -> StackResult: ...

    def up(self, stack: MicroStack, on_output: OnOutput) -> StackResult: ...

    def destroy(self, stack: MicroStack, on_output: OnOutput) -> StackResult: ...

    def outputs(self, stack_name: str) -> Mapping[str, Any] | None:
        """The stack's outputs as its last update left them ({} if it was never
        applied); None when the stack does not exist."""
        ...

    def stack_names(self) -> Sequence[str]:
        """Every stack of the project in the backend (plain stack names)."""
        ...


def run_one(runner: Runner, operation: Operation, stack: MicroStack, on_output: OnOutput) -> StackResult:
    if operation == "preview":
        return runner.preview(stack, on_output)
    if operation == "up":
        return runner.up(stack, on_output)
    return runner.destroy(stack, on_output)


def applied(runner: Runner, stack_name: str) -> bool:
    """Whether the stack exists and an update left outputs in it (what a
    StackReference to it reads)."""
    return bool(runner.outputs(stack_name))


def secrets_provider(project: Path, env: str) -> str | None:
    """The ``secretsprovider`` of ``stacks/Pulumi.<env>.yaml`` (None: Pulumi's default)."""
    path = project / "stacks" / f"Pulumi.{env}.yaml"
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None  # loading the stack file reported it already
    value = doc.get("secretsprovider") if isinstance(doc, dict) else None
    return value if isinstance(value, str) else None
