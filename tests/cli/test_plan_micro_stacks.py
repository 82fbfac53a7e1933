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
