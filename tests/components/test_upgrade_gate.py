"""The upgrade gate's provider: ``check`` refuses an illegal edit during the preview and
keeps the wave's start in the state; the rules themselves are tested in
tests/unit/test_upgrades_plan.py."""

from __future__ import annotations

import time
from typing import Any

from components.dynamic import UpgradeGateProvider as _GateProvider
from fleetform.plan.upgrade_gate import GateState

WAVES = ("canary", "prod")


def inputs(wave: str, versions: dict[str, str], target: str = "1.37.1") -> dict[str, Any]:
    return GateState(target, wave, WAVES, {"canary": 3600, "prod": 3600}, {"canary": ("a",), "prod": ("b",)},
                     versions, upgraded=tuple(c for c, v in versions.items() if v == target)).to_json()


def test_check_records_the_wave_start_and_keeps_it() -> None:
    provider = _GateProvider()
    first = provider.check({}, inputs("canary", {"a": "1.37.1", "b": "1.36.3"}))
    assert first.failures == []
    started = first.inputs["since"]
    assert abs(started - time.time()) < 60
    again = provider.check(first.inputs, inputs("canary", {"a": "1.37.1", "b": "1.36.3"}))
    assert again.inputs["since"] == started


def test_check_refuses_advancing_before_the_soak_and_allows_it_after() -> None:
    provider = _GateProvider()
    applied = {**inputs("canary", {"a": "1.37.1", "b": "1.36.3"}), "since": time.time() - 600}
    early = provider.check(applied, inputs("prod", {"a": "1.37.1", "b": "1.37.1"}))
    assert [f.property for f in early.failures] == ["wave"]
    assert "soaks 1h and was applied 10m ago" in early.failures[0].reason
    soaked = {**applied, "since": time.time() - 3601}
    later = provider.check(soaked, inputs("prod", {"a": "1.37.1", "b": "1.37.1"}))
    assert later.failures == []
    assert later.inputs["since"] > soaked["since"]  # the next wave starts now


def test_diff_and_update_carry_the_state() -> None:
    provider = _GateProvider()
    state = {**inputs("canary", {"a": "1.37.1"}), "since": 5.0}
    assert provider.diff("upgrades", state, state).changes is False
    assert provider.diff("upgrades", state, {**state, "wave": "prod"}).changes is True
    assert provider.create(state).outs == state
    assert provider.update("upgrades", state, state).outs == state


def test_check_names_the_property_at_fault() -> None:
    provider = _GateProvider()
    hand_edit = provider.check(GateState.without_upgrades({"a": "1.36.3"}).to_json(),
                               GateState.without_upgrades({"a": "1.37.1"}).to_json())
    assert [f.property for f in hand_edit.failures] == ["versions"]
