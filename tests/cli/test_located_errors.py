"""Nothing `validate` accepts fails in `plan`: limits on derived values are checked by
`validate`, and a resource the provider refuses while the program runs is reported at
the place in the stack file it comes from, exit 2, through the real entry points."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cli_support import copy_dev_stack, fleetform, no_traceback

from fleetform.cli.main import main
from fleetform.engine.mocks.base import RESOURCE_MOCKS, ResourceCall

LONG = "a" * 45  # a valid cluster name (DNS label); its etcd member names make 71-character CNs


def _long_cluster(fleet: dict[str, Any]) -> None:
    fleet["clusters"] = fleet["clusters"][:1]
    fleet["clusters"][0]["name"] = LONG


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_a_long_cluster_name_is_refused_by_validate_and_plan_with_what_to_change(
        tmp_path: Path, command: str) -> None:
    path = copy_dev_stack(tmp_path, _long_cluster)
    out = fleetform(command, "--file", str(path))
    no_traceback(out)
    assert out.returncode == 2, out.stderr
    assert "internal error" not in out.stderr
    line = next(line for line in out.stderr.splitlines() if "certificates' common name" in line)
    assert line.startswith(f"{path}: fleet.clusters[0].name: the etcd-0-server and etcd-0-peer certificates'")
    assert "shorten the cluster name to at most 38 characters" in line


def test_the_longest_accepted_cluster_name_plans(tmp_path: Path) -> None:
    """38 characters is what the message asks for: it validates and the program runs."""
    def edit(fleet: dict[str, Any]) -> None:
        fleet["clusters"] = fleet["clusters"][:1]
        fleet["clusters"][0]["name"] = "a" * 38
    path = copy_dev_stack(tmp_path, edit)
    out = fleetform("plan", "--file", str(path))
    no_traceback(out)
    assert out.returncode == 0, out.stderr


def test_a_resource_the_provider_refuses_is_located_at_its_cluster(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A provider check the offline engine enforces fails `plan` at the cluster the
    resource belongs to, exit 2: the input cannot be deployed as written."""
    def refuse(_c: ResourceCall) -> tuple[str, dict[str, Any]]:
        raise ValueError("Error: invalid value for name (must be a match of regex '^[a-z]([-a-z0-9]*[a-z0-9])?$')")

    monkeypatch.setitem(RESOURCE_MOCKS, "gcp:compute/network:Network", refuse)
    code = main(["plan", "--stack", "dev"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "internal error" not in err and "Traceback" not in err
    lines = [line for line in err.splitlines() if "cannot be deployed" in line]
    assert len(lines) == 1
    assert lines[0].startswith("stacks/Pulumi.dev.yaml: fleet.clusters[1]: cluster 'dev-gcp' cannot be deployed: "
                               "the provider refuses gcp:compute/network:Network 'dev-gcp-")
    assert lines[0].endswith("must be a match of regex '^[a-z]([-a-z0-9]*[a-z0-9])?$')")


def test_a_bug_of_ours_stays_an_internal_error(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def broken(_c: ResourceCall) -> tuple[str, dict[str, Any]]:
        raise KeyError("selfLink")

    monkeypatch.setitem(RESOURCE_MOCKS, "gcp:compute/network:Network", broken)
    monkeypatch.delenv("FLEETFORM_DEBUG", raising=False)
    code = main(["plan", "--stack", "dev"])
    err = capsys.readouterr().err
    assert code == 1
    assert "internal error: KeyError" in err
