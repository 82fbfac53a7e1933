"""A fake ``Runner`` for the orchestration tests: records what ran when."""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Mapping
from typing import Any

from fleetform.engine.runner import OnOutput, Operation, StackResult
from fleetform.plan.stacks import MicroStack


class FakeRunner:
    """Records (event, stack) in order; each operation takes ``delay`` seconds; stacks in
    ``fail`` fail; ``up`` makes a stack applied, ``destroy`` removes it."""

    def __init__(self, *, fail: Collection[str] = (), applied: Collection[str] = (), delay: float = 0.0) -> None:
        self.fail, self.delay = set(fail), delay
        self.applied = set(applied)
        self.events: list[tuple[str, str]] = []
        self.active = self.peak = 0
        self._lock = threading.Lock()

    def _run(self, op: Operation, stack: MicroStack, on_output: OnOutput) -> StackResult:
        with self._lock:
            self.events.append(("start", stack.name))
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(self.delay)
        on_output(f"{op} {stack.name}")
        with self._lock:
            self.active -= 1
            self.events.append(("end", stack.name))
            if stack.name in self.fail:
                return StackResult(stack.name, False, message=f"{stack.name}: boom\nsecond line")
            if op == "up":
                self.applied.add(stack.name)
            elif op == "destroy":
                self.applied.discard(stack.name)
        return StackResult(stack.name, True, {"create": 2} if op != "destroy" else {"delete": 2})

    def preview(self, stack: MicroStack, on_output: OnOutput) -> StackResult:
        return self._run("preview", stack, on_output)

    def up(self, stack: MicroStack, on_output: OnOutput) -> StackResult:
        return self._run("up", stack, on_output)

    def destroy(self, stack: MicroStack, on_output: OnOutput) -> StackResult:
        return self._run("destroy", stack, on_output)

    def outputs(self, stack_name: str) -> Mapping[str, Any] | None:
        return {"fleet": "acme"} if stack_name in self.applied else None

    def stack_names(self) -> list[str]:
        return sorted(self.applied)

    def started(self) -> list[str]:
        return [name for event, name in self.events if event == "start"]

    def index(self, event: str, name: str) -> int:
        return self.events.index((event, name))
