"""``cloud-init schema`` (the real cloud-init, 22.4 here) accepts every rendered document."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from bootstrap_helpers import require_tool

pytestmark = pytest.mark.integration


def test_cloud_init_schema_accepts_every_document(documents: dict[str, str], tmp_path: Path) -> None:
    cloud_init = require_tool("cloud-init")

    def validate(item: tuple[str, str]) -> tuple[str, subprocess.CompletedProcess[str]]:
        name, text = item
        path = tmp_path / (name.replace("/", "_") + ".yaml")
        path.write_text(text)
        result = subprocess.run(
            [cloud_init, "schema", "--config-file", str(path)], capture_output=True, text=True, timeout=60
        )
        return name, result

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(validate, sorted(documents.items())))
    assert len(results) == 10
    for name, result in results:
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"
        assert "Valid cloud-config" in result.stdout, name
        # Deprecated keys would stop validating on a newer cloud-init.
        assert "deprecat" not in (result.stdout + result.stderr).lower(), name
