"""The real runner (Pulumi's Automation API) against a stand-in `pulumi` on PATH that
knows no stack: a missing CLI is a RunnerError with a clear message, a stack that does
not exist has no outputs and nothing to destroy, and a failed command is a failed
StackResult carrying Pulumi's error, never an exception."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetform.engine.automation import AutomationRunner
from fleetform.engine.runner import RunnerError, applied, secrets_provider
from fleetform.plan.stacks import MicroStack

ROOT = Path(__file__).resolve().parents[2]
# A version, a refused `stack init` (echoing its arguments), and "no stack named X
# found" (Pulumi's own words) for anything else.
FAKE_PULUMI = """#!/bin/sh
for a in "$@"; do [ "$a" = version ] && { echo v3.200.0; exit 0; }; done
for a in "$@"; do [ "$a" = init ] && { echo "error: refused: $*" >&2; exit 255; }; done
name=unknown; prev=
for a in "$@"; do [ "$prev" = --stack ] && name=$a; prev=$a; done
echo "error: no stack named '$name' found" >&2
exit 255
"""
CLUSTER = MicroStack("prod.eu-core", "prod", "cluster", "eu-core", ("prod",))


@pytest.fixture
def fake_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    pulumi = tmp_path / "pulumi"
    pulumi.write_text(FAKE_PULUMI)
    pulumi.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "home"))
    return tmp_path


def test_no_pulumi_on_path_is_a_clear_runner_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RunnerError, match=r"no Pulumi CLI: `pulumi` is not on PATH; install it"):
        AutomationRunner(ROOT)


def test_a_stack_that_does_not_exist(fake_cli: Path) -> None:
    runner = AutomationRunner(ROOT)
    assert runner.outputs("prod") is None and not applied(runner, "prod")
    gone = runner.destroy(CLUSTER, lambda _line: None)
    assert gone.ok and gone.message == "no such stack: nothing to destroy"


def test_a_failed_command_is_a_failed_result(fake_cli: Path) -> None:
    result = AutomationRunner(ROOT).up(CLUSTER, lambda _line: None)
    assert not result.ok and result.stack == "prod.eu-core"
    # Created with the env's secrets provider: one KMS key for every micro-stack.
    assert result.message == ("error: refused: --non-interactive stack init prod.eu-core --secrets-provider "
                              "awskms://alias/fleetform-prod?region=eu-west-1")


def test_cluster_stacks_take_the_env_files_secrets_provider() -> None:
    assert secrets_provider(ROOT, "prod") == "awskms://alias/fleetform-prod?region=eu-west-1"
    assert secrets_provider(ROOT, "nosuch") is None
