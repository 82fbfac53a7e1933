"""Outside a Pulumi project, the offline engine runs the project fleetform belongs to."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetform.engine.synth import program_root

ROOT = Path(__file__).resolve().parents[2]


def test_program_root_outside_a_project_is_the_package_project(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no Pulumi.yaml here or above
    root = program_root()
    assert root == ROOT
    assert (root / "Pulumi.yaml").is_file() and (root / "__main__.py").is_file()
    assert (root / "components").is_dir()  # the Pulumi program, not the CLI's __main__
