"""The ``upgrades`` block: waves, exceptions, located errors, and the wave gate."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from fleetform.catalog.versions import KUBERNETES_PATCHES
from fleetform.plan.upgrade_gate import GateState, check_gate, gate_since
from fleetform.plan.upgrades import plan_upgrades, upgrade_problems

from .helpers import ROOT, load, problems

FIXTURE = ROOT / "tests" / "fixtures" / "upgrades" / "Pulumi.waves.yaml"
V36, V37 = KUBERNETES_PATCHES["1.36"][-1], KUBERNETES_PATCHES["1.37"][-1]
V35 = KUBERNETES_PATCHES["1.35"][-1]

FLEET = """\
apiVersion: fleetform/v1
name: acme
domain: fleet.acme.example
defaults:
  kubernetes_version: "1.36"
  etcd: {members: 1, size: small, disk_gb: 20}
  control_plane: {replicas: 1, size: small}
clusters:
  - {name: dev-eu, cloud: aws, region: eu-west-1, labels: {env: dev}}
  - {name: prod-eu, cloud: aws, region: eu-west-2, labels: {env: prod}}
  - {name: prod-us, cloud: aws, region: us-east-1, labels: {env: prod}}
upgrades:
"""


def upgrade_problems_of(tmp_path: Path, upgrades: str, *, defaults_version: str = "1.36") -> list[str]:
    body = FLEET.replace('kubernetes_version: "1.36"', f'kubernetes_version: "{defaults_version}"')
    return problems(tmp_path, body + "\n".join("  " + line for line in upgrades.strip().splitlines()),
                    base=None, base_text=None)


def test_the_fixture_fleet_in_the_middle_of_a_rollout() -> None:
    plan = plan_upgrades(load(FIXTURE))
    assert plan is not None
    by = {c.cluster: c for c in plan.clusters}
    assert {n: (c.status, c.version) for n, c in by.items()} == {
        "dev-eu": ("done", V37), "stg-eu": ("rolling", V37), "prod-eu": ("pending", V36),
        "prod-us": ("held", V36), "prod-ap": ("skipped", V36), "lab": ("unassigned", V36)}
    assert by["stg-eu"].path == (V37,)
    assert "the next edit (`current_wave: prod`)" in by["prod-eu"].next_edit
    assert "payments freeze" in by["prod-us"].next_edit
    assert "`current_wave: prod` once wave 'staging' is applied and has soaked 2d" in plan.next_edit
    assert [w.required for w in plan.waves] == [("dev-eu",), ("stg-eu",), ("prod-eu",)]
    assert plan.warnings == (f"cluster 'lab' is in no wave of `upgrades`: it stays at {V36}",)


def test_a_two_minor_jump_is_refused_with_the_path(tmp_path: Path) -> None:
    out = upgrade_problems_of(tmp_path, """
target: {kubernetes_version: "1.37"}
current_wave: all
waves: [{name: all, clusters: [dev-eu]}]
""", defaults_version="1.35")
    assert out == [
        f"stacks/Pulumi.t.yaml: fleet.upgrades.target.kubernetes_version: cluster 'dev-eu' runs {V35}: "
        f"{V37} is 2 minors ahead, but the control plane moves one minor per step: take the path "
        f"{V35} -> {V36} -> {V37} (set the target to `1.36` `1.37` in turn, each through the waves); "
        "see docs/upgrades.md"]


def test_a_hold_without_a_reason(tmp_path: Path) -> None:
    out = upgrade_problems_of(tmp_path, """
target: {kubernetes_version: "1.37"}
current_wave: all
waves: [{name: all, selector: {env: prod}}]
exceptions: [{cluster: prod-us, hold: {version: "1.36"}}]
""")
    assert out == ["stacks/Pulumi.t.yaml: fleet.upgrades.exceptions[0].hold.reason: a hold needs a reason "
                   "(who asked for it and why), so the exception can be reviewed"]


def test_an_expired_hold(tmp_path: Path) -> None:
    out = upgrade_problems_of(tmp_path, """
target: {kubernetes_version: "1.37"}
current_wave: all
waves: [{name: all, selector: {env: prod}}]
exceptions: [{cluster: prod-us, hold: {version: "1.36", reason: "audit", until: 2020-01-31}}]
""")
    assert out == ["stacks/Pulumi.t.yaml: fleet.upgrades.exceptions[0].hold.until: the hold of 'prod-us' at "
                   "1.36 expired on 2020-01-31: extend `until` (a reviewed decision) or remove the hold so the "
                   "cluster follows its wave"]


def test_a_selector_matching_no_cluster(tmp_path: Path) -> None:
    out = upgrade_problems_of(tmp_path, """
target: {kubernetes_version: "1.37"}
current_wave: canary
waves: [{name: canary, clusters: [dev-eu]}, {name: prod, selector: {env: production}}]
""")
    assert out == ["stacks/Pulumi.t.yaml: fleet.upgrades.waves[1].selector: selects no cluster (env=production): "
                   "no cluster carries all these labels"]


def test_a_cluster_in_two_waves(tmp_path: Path) -> None:
    out = upgrade_problems_of(tmp_path, """
target: {kubernetes_version: "1.37"}
current_wave: canary
waves: [{name: canary, clusters: [prod-eu]}, {name: prod, selector: {env: prod}}]
""")
    assert out == ["stacks/Pulumi.t.yaml: fleet.upgrades.waves[1].selector: cluster 'prod-eu' is already in wave "
                   "'canary' (fleet.upgrades.waves[0].clusters[0]): a cluster belongs to one wave"]


def test_other_mistakes_are_located(tmp_path: Path) -> None:
    out = upgrade_problems_of(tmp_path, """
target: {kubernetes_version: "1.39"}
current_wave: prd
waves: [{name: canary, clusters: [dev-eux]}, {name: prod, selector: {env: prod}}]
exceptions:
  - {cluster: prod-eu, skip: canary}
  - {cluster: prod-us}
""")
    assert out == [
        "stacks/Pulumi.t.yaml: fleet.upgrades.current_wave: no wave named 'prd' (did you mean 'prod'?) "
        "(waves: canary, prod)",
        "stacks/Pulumi.t.yaml: fleet.upgrades.exceptions[0].skip: cluster 'prod-eu' is not in wave 'canary' "
        "(it is in wave 'prod'): skip the cluster's own wave",
        "stacks/Pulumi.t.yaml: fleet.upgrades.exceptions[1]: an exception either holds the cluster (`hold`) "
        "or skips its wave (`skip`)",
        "stacks/Pulumi.t.yaml: fleet.upgrades.target.kubernetes_version: '1.39' is outside the supported "
        "window (1.35, 1.36, 1.37); the newest is the default",
        "stacks/Pulumi.t.yaml: fleet.upgrades.waves[0].clusters[0]: no cluster named 'dev-eux' in this fleet "
        "(did you mean 'dev-eu'?)",
    ]


def test_a_malformed_soak_is_a_schema_error(tmp_path: Path) -> None:
    out = upgrade_problems_of(tmp_path, """
target: {kubernetes_version: "1.37"}
current_wave: prod
waves: [{name: prod, selector: {env: prod}, soak: 2 days}]
""")
    assert out == ["stacks/Pulumi.t.yaml: fleet.upgrades.waves[0].soak: '2 days' is not a duration like '30m', "
                   "'24h', '2d' or '1d12h'"]


def test_the_fast_path_shortens_every_soak(tmp_path: Path) -> None:
    from .helpers import stack_text, write_stack

    spec = load(write_stack(tmp_path, stack_text((FLEET + """\
  target: {kubernetes_version: "1.36.2"}
  current_wave: canary
  waves: [{name: canary, clusters: [dev-eu], soak: 24h}, {name: prod, selector: {env: prod}, soak: 30m}]
  urgent: {reason: "CVE-2026-0001 in kube-apiserver", soak: 1h}
""").replace('kubernetes_version: "1.36"\n', 'kubernetes_version: "1.36.1"\n', 1), base=None),
                             base_text=None))
    plan = plan_upgrades(spec)
    assert plan is not None
    assert [w.soak_seconds for w in plan.waves] == [3600, 1800]
    assert plan.urgent == "CVE-2026-0001 in kube-apiserver"
    assert plan.cluster("dev-eu").path == ("1.36.2",)  # a patch release: one step


# ------------------------------------------------------------------ the gate

WAVES = ("canary", "staging", "prod")


def state(wave: str, versions: dict[str, str], *, target: str = V37, since: float | None = 1000.0,
          required: dict[str, tuple[str, ...]] | None = None) -> GateState:
    return GateState(target, wave, WAVES, {"canary": 3600, "staging": 7200, "prod": 7200},
                     required or {"canary": ("a",), "staging": ("b",), "prod": ("c",)}, versions, since,
                     tuple(c for c, v in versions.items() if v == target))


APPLIED_CANARY = {"a": V37, "b": V36, "c": V36}


def test_gate_allows_advancing_an_applied_soaked_wave() -> None:
    old = state("canary", APPLIED_CANARY)
    new = state("staging", {"a": V37, "b": V37, "c": V36})
    assert check_gate(old, new, 1000.0 + 3600) == []
    assert gate_since(old, new, 5000.0) == 5000.0
    assert gate_since(old, state("canary", APPLIED_CANARY), 5000.0) == 1000.0


def test_gate_allows_a_new_stack_and_staying() -> None:
    assert check_gate(None, state("prod", {"a": V37}), 0.0) == []
    assert check_gate(state("staging", APPLIED_CANARY), state("staging", APPLIED_CANARY), 0.0) == []


def test_gate_refuses_advancing_past_an_unapplied_wave() -> None:
    old = state("canary", {"a": V36, "b": V36, "c": V36})
    why = check_gate(old, state("staging", {"a": V37, "b": V37, "c": V36}), 99999.0)
    assert why == [f"wave 'canary' has not been applied: a does not run {V37} yet (the last `pulumi up` left "
                   f"a at {V36}); apply wave 'canary' before `current_wave: staging`"]


def test_gate_refuses_removing_a_skip_while_advancing() -> None:
    old = state("canary", {"a": V36, "b": V36, "c": V36}, required={"canary": ()})
    new = state("staging", {"a": V37, "b": V37, "c": V36})
    assert "wave 'canary' has not been applied: a does not run" in check_gate(old, new, 99999.0)[0]


def test_gate_refuses_skipping_the_soak() -> None:
    why = check_gate(state("canary", APPLIED_CANARY), state("staging", {"a": V37, "b": V37, "c": V36}), 1000.0 + 600)
    assert why == ["wave 'canary' soaks 1h and was applied 10m ago: `current_wave: staging` is refused for another "
                   "50m (the fast path `urgent` shortens the soak); see docs/upgrades.md"]


def test_gate_refuses_skipping_a_wave() -> None:
    why = check_gate(state("canary", APPLIED_CANARY), state("prod", {"a": V37, "b": V37, "c": V37}), 99999.0)
    assert why == ["`current_wave: prod` skips wave(s) 'staging': advance one wave at a time (next: 'staging'); "
                   "see docs/upgrades.md"]


def test_gate_refuses_a_new_target_not_at_the_first_wave() -> None:
    old = state("prod", {"a": V37, "b": V37, "c": V37}, target=V37)
    new = state("staging", {"a": "1.37.0", "b": V37, "c": V37}, target="1.37.0")
    assert any("a rollout to 1.37.0 starts at the first wave 'canary'" in w for w in check_gate(old, new, 1e9))


def test_gate_refuses_a_two_minor_jump_and_a_downgrade() -> None:
    old = GateState.without_upgrades({"a": V35, "b": V37})
    new = GateState.without_upgrades({"a": V37, "b": V36})
    why = check_gate(old, new, 0.0)
    assert len(why) == 2
    assert why[0].startswith(f"cluster 'a' runs {V35}: {V35} -> {V37} jumps 2 minors")
    assert f"take the path {V35} -> {V36} -> {V37}" in why[0]
    assert why[1] == f"cluster 'b' runs {V37}: {V37} -> {V36} is a downgrade: Kubernetes cannot be downgraded in place"


def test_gate_refuses_dropping_the_block_mid_rollout() -> None:
    why = check_gate(state("staging", APPLIED_CANARY), GateState.without_upgrades(APPLIED_CANARY), 0.0)
    assert why == [f"the upgrade to {V37} is in wave 'staging', not the last: removing the `upgrades` block leaves "
                   "the fleet half upgraded; finish the waves (or hold the rest) first; see docs/upgrades.md"]


def test_the_gate_state_round_trips_through_json() -> None:
    s = state("staging", APPLIED_CANARY)
    assert GateState.from_json(s.to_json()) == s
    assert GateState.from_json({}) is None


def test_upgrade_problems_use_the_given_day(tmp_path: Path) -> None:
    spec = load(FIXTURE)
    assert upgrade_problems(spec, today=dt.date(2099, 1, 31)) == []
    out = upgrade_problems(spec, today=dt.date(2099, 2, 1))
    assert [p.path for p in out] == ["fleet.upgrades.exceptions[0].hold.until"]


@pytest.mark.parametrize("text", ["1d12h", "30m", "0s"])
def test_durations(text: str) -> None:
    from fleetform.spec.upgrades import duration_seconds

    assert duration_seconds(text) == {"1d12h": 129600, "30m": 1800, "0s": 0}[text]


def test_the_last_wave_tells_the_final_edit(tmp_path: Path) -> None:
    import yaml

    doc = yaml.safe_load(FIXTURE.read_text())
    doc["config"]["fleetform:fleet"]["upgrades"]["current_wave"] = "prod"
    path = tmp_path / "Pulumi.waves.yaml"
    path.write_text(yaml.safe_dump(doc))
    plan = plan_upgrades(load(path))
    assert plan is not None
    assert {c.cluster: c.status for c in plan.clusters}["prod-eu"] == "rolling"
    assert plan.cluster("prod-us").version == V36  # held at its own version
    assert plan.next_edit == (
        "the last wave: once it has soaked 2d, write `kubernetes_version: 1.37` where the clusters' version is "
        "set (no cluster's version changes; new machines boot at it) before the next target; still behind: "
        "prod-us, prod-ap, lab (holds, skips, no wave)")


def test_gate_refuses_raising_a_version_by_hand_and_allows_the_final_edit() -> None:
    old = GateState.without_upgrades({"a": V36})
    why = check_gate(old, GateState.without_upgrades({"a": V37}), 0.0)
    assert why == [f"cluster 'a' runs {V36}: raise it to {V37} through `upgrades.target` (the control plane first, "
                   "in place, wave by wave), not by editing its kubernetes_version; write that only once the cluster "
                   "runs the version; see docs/upgrades.md"]
    # Through the fleet upgrade: allowed.
    assert check_gate(old, state("canary", {"a": V37}, since=None), 0.0) == []
    # The final edit (kubernetes_version written as the target, the block removed): no change.
    done = GateState(V37, "prod", WAVES, {}, {}, {"a": V37}, 5.0, ("a",))
    assert check_gate(done, GateState.without_upgrades({"a": V37}), 0.0) == []
