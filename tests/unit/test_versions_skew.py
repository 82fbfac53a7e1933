"""Property tests of the Kubernetes version-skew rules over the supported window."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleetform.catalog.versions import ETCD_VERSION, KUBERNETES_PATCHES, SUPPORTED_MINORS
from fleetform.plan.versions_skew import (
    ClusterVersions,
    SkewError,
    Version,
    apiserver_spread_problem,
    control_plane_step_problem,
    etcd_problem,
    kubelet_problem,
    supported_versions,
    upgrade_path,
)

VERSIONS = supported_versions()
pairs = st.tuples(st.sampled_from(VERSIONS), st.sampled_from(VERSIONS))
# Versions beyond the window, for the rules that are pure arithmetic.
any_version = st.builds(lambda mi, p: f"1.{mi}.{p}", st.integers(20, 60), st.integers(0, 20))


def minors(a: str, b: str) -> int:
    return Version.parse(b).minors_after(Version.parse(a))


def test_the_window_is_three_minors_and_every_pin_is_ordered() -> None:
    assert len(SUPPORTED_MINORS) == 3
    assert list(VERSIONS) == sorted(VERSIONS, key=Version.parse)
    assert set(KUBERNETES_PATCHES) == set(SUPPORTED_MINORS)


@given(pairs)
def test_a_path_moves_one_minor_per_step_and_ends_at_the_target(pair: tuple[str, str]) -> None:
    a, b = pair
    if Version.parse(b) < Version.parse(a):
        with pytest.raises(SkewError, match="cannot be downgraded"):
            upgrade_path(a, b)
        return
    path = upgrade_path(a, b)
    if a == b:
        assert path == ()
        return
    assert path[-1] == b
    assert len(path) == max(minors(a, b), 1)
    hops = list(zip((a, *path), path, strict=False))
    assert all(control_plane_step_problem(x, y) is None for x, y in hops)
    # Intermediate minors are taken at their newest pinned patch.
    for v in path[:-1]:
        assert v == KUBERNETES_PATCHES[Version.parse(v).line][-1]


@given(pairs)
def test_the_control_plane_step_rule(pair: tuple[str, str]) -> None:
    a, b = pair
    why = control_plane_step_problem(a, b)
    legal = Version.parse(b) >= Version.parse(a) and minors(a, b) <= 1
    assert (why is None) == legal
    if why is not None and Version.parse(b) > Version.parse(a):
        # The message gives the allowed path.
        assert " -> ".join((a, *upgrade_path(a, b))) in why


def test_one_three_five_to_one_three_seven_gets_the_two_step_path() -> None:
    newest = {m: KUBERNETES_PATCHES[m][-1] for m in SUPPORTED_MINORS}
    assert upgrade_path("1.35", "1.37") == (newest["1.36"], newest["1.37"])
    why = control_plane_step_problem("1.35", "1.37")
    assert why is not None
    assert f"{newest['1.35']} -> {newest['1.36']} -> {newest['1.37']}" in why


@given(any_version, any_version)
def test_the_kubelet_rule(apiserver: str, kubelet: str) -> None:
    lag = minors(kubelet, apiserver)
    assert (kubelet_problem(apiserver, kubelet) is None) == (0 <= lag <= 3)


@given(st.lists(any_version, min_size=1, max_size=5))
def test_the_ha_rule(apiservers: list[str]) -> None:
    spread = max(Version.parse(v).minor for v in apiservers) - min(Version.parse(v).minor for v in apiservers)
    assert (apiserver_spread_problem(apiservers) is None) == (spread <= 1)


def test_the_etcd_rule() -> None:
    for minor in SUPPORTED_MINORS:
        assert etcd_problem(f"{minor}.0") is None, f"the pinned etcd {ETCD_VERSION} must support {minor}"
        assert etcd_problem(f"{minor}.0", "3.4.30") is not None
    why = etcd_problem("1.37.0", "3.5.24")
    assert why is not None and "upgrade etcd first" in why


def roll_states(current: str, target: str, replicas: int, workers: int) -> list[ClusterVersions]:
    """Every state of the roll as the add-on runs it: each replica moves its API server,
    then its kubelet; once every replica has, the workers one by one."""
    cp = {f"cp-{i}": (current, current) for i in range(replicas)}
    ws = {f"w-{i}": current for i in range(workers)}
    states = [ClusterVersions(dict(cp), dict(ws))]
    for r in sorted(cp):
        cp[r] = (target, current)
        states.append(ClusterVersions(dict(cp), dict(ws)))
        cp[r] = (target, target)
        states.append(ClusterVersions(dict(cp), dict(ws)))
    for w in sorted(ws):
        ws[w] = target
        states.append(ClusterVersions(dict(cp), dict(ws)))
    return states


@given(pairs, st.sampled_from([1, 3, 5]), st.integers(0, 3))
def test_every_state_of_a_roll_obeys_every_rule(pair: tuple[str, str], replicas: int, workers: int) -> None:
    a, b = sorted(pair, key=Version.parse)
    for step_from, step_to in zip((a, *upgrade_path(a, b)), upgrade_path(a, b), strict=False):
        for state in roll_states(step_from, step_to, replicas, workers):
            assert state.problems() == []


def test_workers_before_the_control_plane_break_the_kubelet_rule() -> None:
    for a, b in itertools.pairwise(SUPPORTED_MINORS):
        state = ClusterVersions({"cp-0": (f"{a}.0", f"{a}.0")}, {"w-0": f"{b}.0"})
        assert any("newer than the API server" in p for p in state.problems())


def test_replicas_two_minors_apart_break_the_ha_rule() -> None:
    state = ClusterVersions({"cp-0": ("1.35.0", "1.35.0"), "cp-1": ("1.37.0", "1.37.0")}, {})
    assert any("more than one minor apart" in p for p in state.problems())


def test_every_pair_of_the_window_exhaustively() -> None:
    """The same properties over all pairs (the window is small enough to enumerate)."""
    for a, b in itertools.product(VERSIONS, repeat=2):
        test_a_path_moves_one_minor_per_step_and_ends_at_the_target.hypothesis.inner_test((a, b))  # type: ignore[attr-defined]
        test_the_control_plane_step_rule.hypothesis.inner_test((a, b))  # type: ignore[attr-defined]
        if Version.parse(a) <= Version.parse(b):
            for x, y in zip((a, *upgrade_path(a, b)), upgrade_path(a, b), strict=False):
                for state in roll_states(x, y, 3, 2):
                    assert state.problems() == [], (a, b, state)
