"""Running a fleet's micro-stacks behind the runner interface: order (fleet stack first,
destroy in reverse), bounded concurrency, a clean stop on failure, the summary, resume,
and the selection's errors. A fake runner records what ran when."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from fleetform.engine.orchestrate import (
    Journal,
    dependents_left,
    fingerprint,
    orchestrate,
    orphans,
    select,
    unmet_prerequisites,
    waiting_on_preview,
)
from fleetform.plan.fleet import plan_fleet
from fleetform.plan.load import load_stack_file
from fleetform.plan.model import FleetPlan
from fleetform.plan.stacks import stack_layout
from fleetform.spec.errors import FleetError
from tests.engine.fake_runner import FakeRunner

ROOT = Path(__file__).resolve().parents[2]
WAVES = ROOT / "tests" / "fixtures" / "upgrades" / "Pulumi.waves.yaml"
CLUSTERS = ["dev-eu", "stg-eu", "prod-eu", "prod-us", "prod-ap", "lab"]


def _plan(stacks: str = "per-cluster") -> FleetPlan:
    return dataclasses.replace(plan_fleet(load_stack_file(WAVES)), stacks=stacks)  # type: ignore[arg-type]


def test_up_runs_the_fleet_stack_alone_first_then_clusters_within_the_bound() -> None:
    layout = stack_layout(_plan())
    runner = FakeRunner(delay=0.05)
    lines: list[str] = []
    summary = orchestrate(layout, "up", runner, concurrency=2, output_for=lambda n: lines.append)
    assert summary.ok and [o.status for o in summary.outcomes] == ["succeeded"] * 7
    assert [o.stack for o in summary.outcomes] == ["waves", *(f"waves.{c}" for c in CLUSTERS)]
    assert runner.events[:2] == [("start", "waves"), ("end", "waves")]
    assert runner.peak == 2  # bounded, and the bound is used
    assert sorted(lines) == sorted(f"up {s.name}" for s in layout)


def test_destroy_runs_every_cluster_stack_before_the_fleet_stack() -> None:
    layout = stack_layout(_plan())
    runner = FakeRunner(applied=[s.name for s in layout], delay=0.01)
    summary = orchestrate(layout, "destroy", runner, concurrency=3)
    assert summary.ok
    assert runner.events[-2:] == [("start", "waves"), ("end", "waves")]
    assert runner.applied == set()


def test_a_failed_fleet_stack_starts_no_cluster() -> None:
    runner = FakeRunner(fail=["waves"])
    summary = orchestrate(stack_layout(_plan()), "up", runner, concurrency=4)
    assert not summary.ok
    assert runner.started() == ["waves"]
    assert summary.outcomes[0].status == "failed" and "boom" in summary.outcomes[0].message
    assert {o.status for o in summary.outcomes[1:]} == {"not started"}


def test_after_a_failure_no_stack_starts_and_the_running_ones_finish() -> None:
    # Concurrency 2: prod-eu fails while its neighbour still runs; nothing starts after.
    runner = FakeRunner(fail=["waves.stg-eu"], delay=0.05)
    # What the orchestrator did, in its own order: a stack may start between the failing
    # stack's end and the moment the orchestrator collects it, never after.
    seen: list[tuple[str, str]] = []
    summary = orchestrate(stack_layout(_plan()), "up", runner, concurrency=2,
                          on_start=lambda s: seen.append(("start", s.name)),
                          on_finish=lambda o: seen.append((o.status, o.stack)))
    status = {o.stack: o.status for o in summary.outcomes}
    failed_at = seen.index(("failed", "waves.stg-eu"))
    assert all(event != "start" for event, _ in seen[failed_at:])
    assert status["waves.stg-eu"] == "failed"
    for name in runner.started():
        if name != "waves.stg-eu":
            assert status[name] == "succeeded", name  # running ones finished
            assert ("end", name) in runner.events
    assert summary.by_status("not started") and all(
        o.message == "a stack failed" for o in summary.by_status("not started"))
    assert len(runner.started()) < 7


def test_concurrency_one_runs_in_layout_order() -> None:
    runner = FakeRunner()
    orchestrate(stack_layout(_plan()), "up", runner, concurrency=1)
    assert runner.started() == [s.name for s in stack_layout(_plan())]
    assert runner.peak == 1


def test_resume_skips_what_the_interrupted_run_did(tmp_path: Path) -> None:
    plan = _plan()
    layout = stack_layout(plan)
    journal = Journal.of(tmp_path, plan.stack, "up", fingerprint(plan, "up"))
    done: set[str] = set()

    def record(outcome: Any) -> None:
        if outcome.status == "succeeded":
            done.add(outcome.stack)
            journal.record(done)

    first = orchestrate(layout, "up", FakeRunner(fail=["waves.prod-eu"]), concurrency=1, on_finish=record)
    assert not first.ok
    assert journal.resume() == {"waves", "waves.dev-eu", "waves.stg-eu"}

    runner = FakeRunner(applied=done)
    second = orchestrate(layout, "up", runner, concurrency=1, done=journal.resume())
    assert second.ok
    assert runner.started() == ["waves.prod-eu", "waves.prod-us", "waves.prod-ap", "waves.lab"]
    assert [o.status for o in second.outcomes[:3]] == ["skipped"] * 3

    journal.clear()
    with pytest.raises(FleetError, match="no unfinished run to resume"):
        journal.resume()


def test_resume_refuses_a_changed_plan(tmp_path: Path) -> None:
    plan = _plan()
    Journal.of(tmp_path, plan.stack, "up", fingerprint(plan, "up")).record(["waves"])
    changed = dataclasses.replace(plan, domain="other.example")
    with pytest.raises(FleetError, match="changed since the unfinished run"):
        Journal.of(tmp_path, plan.stack, "up", fingerprint(changed, "up")).resume()
    assert fingerprint(plan, "up") != fingerprint(plan, "destroy")


def test_selection_by_cluster_and_wave() -> None:
    plan = _plan()
    assert [s.name for s in select(plan)] == [s.name for s in stack_layout(plan)]
    assert [s.name for s in select(plan, clusters=["lab"])] == ["waves.lab"]
    assert [s.name for s in select(plan, clusters=["lab"], with_fleet=True)] == ["waves", "waves.lab"]
    # Wave `prod` selects by label: prod-eu, prod-us, prod-ap (held and skipped ones too).
    assert [s.name for s in select(plan, wave="prod")] == ["waves.prod-eu", "waves.prod-us", "waves.prod-ap"]


def test_selection_errors_name_the_option() -> None:
    plan = _plan()
    with pytest.raises(FleetError) as exc:
        select(plan, clusters=["dev-ue"])
    assert str(exc.value.problems[0]).startswith("--cluster: dev-ue: no such cluster (did you mean 'dev-eu'?)")
    with pytest.raises(FleetError, match="no such wave"):
        select(plan, wave="canry")
    with pytest.raises(FleetError, match="`stacks: single`"):
        select(_plan("single"), clusters=["lab"])
    assert [s.name for s in select(_plan("single"))] == ["waves"]
    no_waves = dataclasses.replace(plan, upgrades=None)
    with pytest.raises(FleetError, match="no `upgrades` block"):
        select(no_waves, wave="prod")


def test_a_cluster_stack_needs_its_fleet_stack_applied() -> None:
    plan = _plan()
    only = select(plan, clusters=["lab", "dev-eu"])
    (problem,) = unmet_prerequisites(only, FakeRunner(), "up")
    assert "stack 'waves' (read by waves.dev-eu, waves.lab) has not been applied" in str(problem)
    assert unmet_prerequisites(only, FakeRunner(applied=["waves"]), "up") == []
    assert unmet_prerequisites(only, FakeRunner(), "destroy") == []
    assert unmet_prerequisites(stack_layout(plan), FakeRunner(), "up") == []  # the fleet stack runs first


def test_preview_of_a_new_fleet_previews_the_fleet_stack_and_says_why_not_the_clusters() -> None:
    layout = stack_layout(_plan())
    runner = FakeRunner()
    hold = waiting_on_preview(layout, runner)
    assert set(hold) == {f"waves.{c}" for c in CLUSTERS}
    summary = orchestrate(layout, "preview", runner, concurrency=4, hold=hold)
    assert runner.started() == ["waves"]
    assert summary.outcomes[1].status == "not started"
    assert summary.outcomes[1].message == "reads waves, which has not been applied yet"
    assert waiting_on_preview(layout, FakeRunner(applied=["waves"])) == {}


def test_preview_runs_stacks_side_by_side() -> None:
    runner = FakeRunner(applied=["waves"], delay=0.05)
    assert orchestrate(stack_layout(_plan()), "preview", runner, concurrency=7).ok
    assert runner.peak == 7


def test_the_fleet_stack_is_not_destroyed_under_live_cluster_stacks() -> None:
    plan = _plan()
    layout = stack_layout(plan)
    subset = select(plan, clusters=["lab"], with_fleet=True)
    runner = FakeRunner(applied=["waves", "waves.lab", "waves.dev-eu"])
    (problem,) = dependents_left(subset, layout, runner)
    assert str(problem) == ("--stack: waves: stack 'waves' is read by waves.dev-eu, which still exist: destroy them "
                            "first, or destroy the whole fleet")
    assert dependents_left(layout, layout, runner) == []
    assert dependents_left(subset, layout, FakeRunner(applied=["waves", "waves.lab"])) == []


def test_a_removed_clusters_stack_is_found_destroyed_and_keeps_the_fleet_stack_alive() -> None:
    plan = _plan()
    runner = FakeRunner(applied=["waves", "waves.lab", "waves.gone", "other.gone", "waves"])
    strays = orphans(plan, runner.stack_names())
    assert [(s.name, s.cluster, s.prerequisites) for s in strays] == [("waves.gone", "gone", ("waves",))]
    assert orphans(_plan("single"), runner.stack_names()) == ()
    # destroy may name it; without it, the fleet stack stays while it exists.
    assert [s.name for s in select(plan, clusters=["gone"], extra=strays)] == ["waves.gone"]
    layout = (*stack_layout(plan), *strays)
    fleet_only = select(plan, clusters=["lab"], with_fleet=True)
    assert any("waves.gone" in str(p) for p in dependents_left(fleet_only, layout, runner))
    everything = select(plan, extra=strays)
    assert everything[-1].name == "waves.gone"
    assert orchestrate(everything, "destroy", runner, concurrency=3).ok
    assert runner.index("end", "waves.gone") < runner.index("start", "waves")
