"""``clouds.aws.secret_recovery_days``: 0 (no recovery) or AWS's 7-30, into the plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import STACK, plan_text, problems

CLUSTER = "clusters:\n  - {name: a, cloud: aws, region: eu-west-1, network: {index: 1}}\n"


@pytest.mark.parametrize("days", [0, 7, 30])
def test_recovery_window_reaches_the_plan(tmp_path: Path, days: int) -> None:
    plan = plan_text(tmp_path, f"clouds: {{aws: {{secret_recovery_days: {days}}}}}\n" + CLUSTER)
    assert plan.aws_secret_recovery_days == days


def test_default_recovery_window_is_awss_minimum(tmp_path: Path) -> None:
    assert plan_text(tmp_path, CLUSTER).aws_secret_recovery_days == 7


@pytest.mark.parametrize("days", [3, 31])
def test_a_window_aws_refuses_is_refused_where_written(tmp_path: Path, days: int) -> None:
    (line,) = problems(tmp_path, f"clouds: {{aws: {{secret_recovery_days: {days}}}}}\n" + CLUSTER)
    assert line.startswith(f"{STACK}: fleet.clouds.aws.secret_recovery_days: ")
    assert "0 (delete at once, no recovery) or 7 to 30 days" in line
