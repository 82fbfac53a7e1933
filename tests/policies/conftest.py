"""Fixtures of the policy tests: the real program on the prod stack, once per session."""

from __future__ import annotations

import copy

import pytest
from policy_helpers import ROOT, Record, prod_config, records

from fleetform.engine.records import ProgramResult
from fleetform.engine.run import run_program


@pytest.fixture(scope="session")
def prod_result() -> ProgramResult:
    """The project's own __main__.py on stacks/Pulumi.prod.yaml under the offline engine."""
    return run_program(ROOT, project="fleetform", stack="prod", config=prod_config())


@pytest.fixture(scope="session")
def _prod_records(prod_result: ProgramResult) -> list[Record]:
    return records(prod_result.resources)


@pytest.fixture
def prod(_prod_records: list[Record]) -> list[Record]:
    """A private (mutable) copy of the prod records for one test."""
    return copy.deepcopy(_prod_records)
