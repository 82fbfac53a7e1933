"""The real ``Runner``: Pulumi's Automation API on the project directory.

Each micro-stack is a stack of the one project (``Pulumi.yaml``, ``stackConfigDir:
stacks``) run by the Pulumi CLI; the program finds its part of the fleet from the stack
name. A cluster stack has no stack file of its own: it is created with the secrets
provider of its env's stack file (``secretsprovider:`` in ``stacks/Pulumi.<env>.yaml``),
so every micro-stack of a fleet encrypts its secrets with the same KMS key. Pulumi
records that provider in ``stacks/Pulumi.<env>.<cluster>.yaml`` when it creates the
stack (its own settings, no configuration).
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from fleetform.engine.runner import OnOutput, RunnerError, StackResult, secrets_provider
from fleetform.plan.stacks import MicroStack

INSTALL_HINT = "install it (https://www.pulumi.com/docs/iac/download-install/) and log in to the fleet's backend"


def _changes(summary: Mapping[Any, int] | None) -> dict[str, int]:
    # OpType keys are str enums; keep their plain value.
    return {str(getattr(op, "value", op)): n for op, n in (summary or {}).items() if n}


def _failure(exc: Exception) -> str:
    """The last lines of Pulumi's stderr: a CommandError's text is the whole command
    result (``code: …\n stdout: …\n stderr: …``), and the error is at the end."""
    text = str(exc)
    _, found, stderr = text.rpartition(" stderr: ")
    lines = [line.rstrip() for line in (stderr if found else text).strip().splitlines() if line.strip()]
    return "\n".join(lines[-8:]) or type(exc).__name__


class AutomationRunner:
    """Runs micro-stacks with the Pulumi CLI found on PATH (RunnerError without one)."""

    def __init__(self, project: Path) -> None:
        self.project = project
        try:
            self.command = auto.PulumiCommand()
        except FileNotFoundError:
            raise RunnerError(f"no Pulumi CLI: `pulumi` is not on PATH; {INSTALL_HINT}") from None
        except (subprocess.CalledProcessError, auto.errors.InvalidVersionError, OSError) as exc:
            raise RunnerError(f"the Pulumi CLI cannot run: {exc}") from None
        # `pulumi stack select` and `stack init` write shared files (the workspace's
        # current stack, stacks/Pulumi.<stack>.yaml): one at a time.
        self._select = threading.Lock()

    def _options(self, stack: MicroStack) -> auto.LocalWorkspaceOptions:
        return auto.LocalWorkspaceOptions(work_dir=str(self.project), pulumi_command=self.command,
                                          secrets_provider=secrets_provider(self.project, stack.env))

    def _stack(self, stack: MicroStack) -> auto.Stack:
        with self._select:
            return auto.create_or_select_stack(stack.name, work_dir=str(self.project), opts=self._options(stack))

    def preview(self, stack: MicroStack, on_output: OnOutput) -> StackResult:
        try:
            result = self._stack(stack).preview(on_output=on_output, color="never")
        except auto.errors.CommandError as exc:
            return StackResult(stack.name, False, message=_failure(exc))
        return StackResult(stack.name, True, _changes(result.change_summary))

    def up(self, stack: MicroStack, on_output: OnOutput) -> StackResult:
        try:
            result = self._stack(stack).up(on_output=on_output, color="never")
        except auto.errors.CommandError as exc:
            return StackResult(stack.name, False, message=_failure(exc))
        return StackResult(stack.name, True, _changes(result.summary.resource_changes))

    def destroy(self, stack: MicroStack, on_output: OnOutput) -> StackResult:
        try:
            with self._select:
                target = auto.select_stack(stack.name, work_dir=str(self.project), opts=self._options(stack))
        except auto.errors.StackNotFoundError:
            return StackResult(stack.name, True, message="no such stack: nothing to destroy")
        except auto.errors.CommandError as exc:
            return StackResult(stack.name, False, message=_failure(exc))
        try:
            result = target.destroy(on_output=on_output, color="never")
        except auto.errors.CommandError as exc:
            return StackResult(stack.name, False, message=_failure(exc))
        return StackResult(stack.name, True, _changes(result.summary.resource_changes))

    def outputs(self, stack_name: str) -> Mapping[str, Any] | None:
        workspace = auto.LocalWorkspace(work_dir=str(self.project), pulumi_command=self.command)
        try:
            with self._select:
                stack = auto.Stack.select(stack_name, workspace)
            return {k: v.value for k, v in stack.outputs().items()}
        except auto.errors.StackNotFoundError:
            return None
        except auto.errors.CommandError as exc:
            raise RunnerError(f"cannot read the outputs of stack {stack_name!r}: {_failure(exc)}") from None

    def stack_names(self) -> Sequence[str]:
        workspace = auto.LocalWorkspace(work_dir=str(self.project), pulumi_command=self.command)
        try:
            summaries = workspace.list_stacks()
        except auto.errors.CommandError as exc:
            raise RunnerError(f"cannot list the project's stacks: {_failure(exc)}") from None
        # A cloud backend may print `org/project/stack`: the stack is the last part.
        return [summary.name.rpartition("/")[2] for summary in summaries]
