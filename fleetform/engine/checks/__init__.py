"""The providers' offline checks, as pure tables: what a real preview would refuse.

`check(type_token, urn_name, inputs)` returns the messages the provider and the engine
would print for one registration (empty when it passes). The engine calls it for every
registration and fails the run on the first refused one; nothing here changes a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fleetform.engine.checks import aws, gcp
from fleetform.engine.checks.common import AutoName, Rules, run

__all__ = ["RULES", "ProviderCheckError", "autoname", "check"]

RULES: dict[str, Rules] = {**aws.RULES, **gcp.RULES}


class ProviderCheckError(Exception):
    """A registration the provider would refuse in preview; the message is the engine's."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def check(
    type_token: str, urn_name: str, inputs: Mapping[str, Any], *, suffix: str | None = None
) -> list[str]:
    """The provider's objections to one registration; ``suffix`` is the auto-name's random
    part (a stand-in derived from the name when not given)."""
    return run(RULES, type_token, urn_name, inputs, suffix)


def autoname(type_token: str) -> AutoName | None:
    """How the provider names a resource of this type when the program does not."""
    rules = RULES.get(type_token)
    return rules.autoname if rules is not None else None
