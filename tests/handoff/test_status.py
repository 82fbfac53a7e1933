"""`fleetform status`: the fleet table from a stack's outputs, offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleetform.cli.main import main


@pytest.fixture(scope="module")
def dev_outputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The outputs the dev stack's program exports (offline engine, as `fleetform synth`)."""
    out = tmp_path_factory.mktemp("synth") / "dev"
    assert main(["synth", "--stack", "dev", "--out", str(out)]) == 0
    return out / "outputs.json"


def _status(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(["status", "--stack", "dev", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_outputs_mark_every_incarnation_deployed_with_its_version(
        dev_outputs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _status(capsys, "--outputs", str(dev_outputs))
    rows = data["incarnations"]
    assert rows and all(r["deployed"] for r in rows)
    assert all(r["kubernetes"]["deployed"] == r["kubernetes"]["planned"] for r in rows)
    assert data["not_in_stack_file"] == []


def test_an_incarnation_missing_from_the_outputs_is_not_deployed_and_an_extra_one_is_named(
        dev_outputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outputs = json.loads(dev_outputs.read_text())
    first = sorted(outputs["incarnations"])[0]
    outputs["incarnations"]["old-aws-us-west-2"] = outputs["incarnations"].pop(first)
    edited = tmp_path / "outputs.json"
    edited.write_text(json.dumps(outputs))
    data = _status(capsys, "--outputs", str(edited))
    row = next(r for r in data["incarnations"] if r["incarnation"] == first)
    assert row["deployed"] is False and row["kubernetes"]["deployed"] is None
    assert data["not_in_stack_file"] == ["old-aws-us-west-2"]


def test_without_outputs_nothing_is_claimed_deployed(capsys: pytest.CaptureFixture[str]) -> None:
    rows = _status(capsys)["incarnations"]
    assert rows and not any(r["deployed"] for r in rows)
    assert all(r["load_balancer"] is None for r in rows)


def test_a_file_that_is_not_stack_outputs_is_a_located_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "o.json"
    bad.write_text("{not json")
    assert main(["status", "--stack", "dev", "--outputs", str(bad)]) == 2
    assert capsys.readouterr().err.startswith(f"{bad}: line 1, column 2: not JSON")
