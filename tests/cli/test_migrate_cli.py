"""`fleetform migrate plan` and the migration-phase check of `plan --against`, as a user
runs them (subprocesses through `python -m fleetform`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cli_support import copy_dev_stack, fleetform, no_traceback

TO = {"cloud": "gcp", "region": "europe-west4"}


def moving(phase: str | None, **extra: Any) -> Any:
    def edit(fleet: dict[str, Any]) -> None:
        if phase is not None:
            fleet["clusters"][0]["migrate"] = {"to": TO, "phase": phase, **extra}

    return edit


def test_migrate_plan_prod_tells_the_phase_and_the_next_step() -> None:
    out = fleetform("migrate", "plan", "--stack", "prod", "edge-fra")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "cluster edge-fra: moving to gcp europe-west3, phase prepare (data: etcd-snapshot)"
    assert lines[1] == "previous phase: none (no migration) (the phase before the written one)"
    assert any("edge-fra-gcp-europe-west3: gcp europe-west3, context 'edge-fra@gcp-europe-west3'" in line
               for line in lines)
    assert any(line.startswith("this `pulumi up`: ") and " 0 to remove" in line for line in lines)
    assert "!! DELETES DATA" not in out.stdout  # preparing deletes nothing
    assert lines[-1].startswith("next: `pulumi up`; check the target (`kubectl --context edge-fra@gcp-europe-west3")


def test_migrate_plan_json_and_each_phase(tmp_path: Path) -> None:
    for phase, extra in (("cutover", {}), ("cutover", {"release_source": True}),
                         ("finalize", {"release_source": True})):
        d = tmp_path / f"{phase}-{bool(extra)}"
        path = copy_dev_stack(d, moving(phase, **extra))
        out = fleetform("migrate", "plan", "--file", str(path), "dev-aws", "--json")
        assert out.returncode == 0, out.stderr
        report = json.loads(out.stdout)
        assert report["allowed"] and report["phase"] == phase
        serving = [i["key"] for i in report["incarnations"] if i["serving"]]
        assert serving == ["dev-aws-gcp-europe-west4"]
        if phase == "cutover" and not extra:
            assert report["resources"]["add"] == 0 and report["resources"]["remove"] == 0
            assert not report["releases_data"] and not report["deletes_data"]
        elif phase == "cutover":
            assert report["releases_data"] == [
                "dev-aws-aws-eu-west-1: etcd disks unprotected (the next removal deletes its data)"]
        else:
            assert report["resources"]["remove"] > 0
            assert any("etcd data disk dev-aws-aws-eu-west-1-etcd-etcd-0-data" in d.get("pending", "")
                       for d in report["deletes_data"])
            assert "network: {\"index\": " in report["next"] and "cloud: gcp" in report["next"]


def test_bad_migrate_plan_requests(tmp_path: Path) -> None:
    out = fleetform("migrate", "plan", "--stack", "prod", "edge-frx")
    assert out.returncode == 2 and "no such cluster (did you mean 'edge-fra'?)" in out.stderr
    no_traceback(out)
    out = fleetform("migrate", "plan", "--stack", "prod", "eu-core")
    assert out.returncode == 2 and "cluster 'eu-core' has no `migrate` block" in out.stderr
    no_traceback(out)


def test_skipping_a_phase_is_refused_against_the_applied_stack(tmp_path: Path) -> None:
    before = copy_dev_stack(tmp_path / "before", moving("prepare"))
    synth = tmp_path / "applied"
    assert fleetform("synth", "--file", str(before), "--out", str(synth)).returncode == 0
    skip = copy_dev_stack(tmp_path / "skip", moving("finalize", release_source=True))
    out = fleetform("plan", "--file", str(skip), "--against", str(synth))
    assert out.returncode == 2
    assert out.stderr.strip().endswith(
        "fleet.clusters[0].migrate.phase: cluster 'dev-aws': `phase: finalize` cannot follow `phase: prepare`: "
        "the next phase is `cutover`; see docs/migration.md")
    no_traceback(out)
    refused = fleetform("migrate", "plan", "--file", str(skip), "dev-aws", "--against", str(synth))
    assert refused.returncode == 3 and "REFUSED: cluster 'dev-aws': `phase: finalize` cannot follow" in refused.stdout
    # The next phase is fine.
    ok = copy_dev_stack(tmp_path / "ok", moving("cutover"))
    out = fleetform("plan", "--file", str(ok), "--against", str(synth), "--json")
    assert out.returncode == 0, out.stderr
