"""`fleetform plan` and `synth` on a `stacks: per-cluster` fleet plan every micro-stack:
the fleet stack, then the cluster stacks in the worker pool; the output does not depend
on the worker count."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cli_support import copy_dev_stack, fleetform, no_traceback


def _per_cluster(fleet: Any) -> None:
    fleet["stacks"] = "per-cluster"


def test_plan_json_holds_every_micro_stack_whatever_the_worker_count(tmp_path: Path) -> None:
    path = copy_dev_stack(tmp_path, _per_cluster)
    runs = [fleetform("plan", "--file", str(path), "--json", env={"FLEETFORM_WORKERS": n}) for n in ("1", "2")]
    for out in runs:
        no_traceback(out)
        assert out.returncode in (0, 3), out.stderr
    assert runs[0].stdout == runs[1].stdout
    data = json.loads(runs[1].stdout)
    assert [(s["name"], s["scope"]) for s in data["stacks"]] == [
        ("dev", "fleet"), ("dev.dev-aws", "cluster"), ("dev.dev-gcp", "cluster")]
    by_stack: dict[str, int] = {}
    for r in data["resources"]:
        if r["type"] != "pulumi:pulumi:Stack":
            stack = r["urn"].split("::", 1)[0].removeprefix("urn:pulumi:")
            by_stack[stack] = by_stack.get(stack, 0) + 1
    assert by_stack == {s["name"]: s["resources"] for s in data["stacks"]}
    assert by_stack["dev.dev-aws"] > 100 and by_stack["dev.dev-gcp"] > 100

    text = fleetform("plan", "--file", str(path), "--tree")
    no_traceback(text)
    assert "stacks: 3 (fleet stack and 2 cluster stacks, stacks: per-cluster)" in text.stdout
    assert any(line.split()[:2] == ["dev.dev-gcp", "cluster"] for line in text.stdout.splitlines())

    out = tmp_path / "synth"
    synth = fleetform("synth", "--file", str(path), "--out", str(out))
    no_traceback(synth)
    assert synth.returncode == 0, synth.stderr
    assert json.loads((out / "stacks.json").read_text()) == data["stacks"]
    assert set(json.loads((out / "outputs.json").read_text())) == {"dev", "dev.dev-aws", "dev.dev-gcp"}


def _files(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_reuse_re_plans_only_the_changed_cluster_and_gives_a_full_re_plans_bytes(tmp_path: Path) -> None:
    path = copy_dev_stack(tmp_path / "before", _per_cluster)
    previous = tmp_path / "previous"
    first = fleetform("synth", "--file", str(path), "--out", str(previous))
    no_traceback(first)
    assert first.returncode == 0, first.stderr
    written = _files(previous)
    assert json.loads(written["stack-inputs.json"])["stacks"].keys() == {"dev", "dev.dev-aws", "dev.dev-gcp"}
    assert {f for f in written if f.startswith("reuse/")} == {
        "reuse/dev.json", "reuse/dev.dev-aws.json", "reuse/dev.dev-gcp.json"}
    assert not any(b"PRIVATE KEY-----" in text for name, text in written.items() if name.startswith("reuse/"))

    def bigger_pool(fleet: Any) -> None:
        _per_cluster(fleet)
        fleet["clusters"][1]["workers"] = [{"name": "general", "min": 1, "max": 6}]

    edited = copy_dev_stack(tmp_path / "after", bigger_pool)
    reused, full = tmp_path / "reused", tmp_path / "full"
    for out, extra in ((reused, ["--reuse", str(previous)]), (full, [])):
        run = fleetform("synth", "--file", str(edited), *extra, "--out", str(out))
        no_traceback(run)
        assert run.returncode == 0, run.stderr
    assert _files(reused) == _files(full)
    assert _files(reused)["reuse/dev.dev-aws.json"] == written["reuse/dev.dev-aws.json"]
    assert _files(reused)["reuse/dev.dev-gcp.json"] != written["reuse/dev.dev-gcp.json"]
    plans = [fleetform("plan", "--file", str(edited), "--json", *extra) for extra in (["--reuse", str(previous)], [])]
    assert plans[0].returncode in (0, 3), plans[0].stderr
    assert plans[0].stdout == plans[1].stdout
