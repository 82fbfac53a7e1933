"""The worker pool: the same results whatever the worker count, failures reported for the
first failing job in job order, and real stacks planned in forked workers byte for byte
as in this process."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from fleetform.engine import pool
from fleetform.engine.records import ProgramResult

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.skipif(sys.platform == "win32", reason="the pool forks"),
]

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from plan_scale import fleet_config  # noqa: E402


class Odd(Exception):
    def __init__(self, n: int, why: str) -> None:  # not what pickle calls it with
        self.n = n
        super().__init__(f"{n}: {why}")


def test_results_in_job_order_whatever_the_worker_count() -> None:
    offset = 1000  # a closure: reaches the workers by the fork, never pickled

    def task(n: int) -> tuple[int, int]:
        return n + offset, os.getpid()

    jobs = list(range(40, 0, -1))
    seen: list[int] = []
    stats = pool.PoolStats()
    results = pool.map_jobs(task, jobs, workers=3, on_done=lambda i, r: seen.append(i), stats=stats)
    assert [r[0] for r in results] == [n + offset for n in jobs]
    assert sorted(seen) == list(range(len(jobs)))
    assert stats.workers == 3 and 1 <= len(stats.peak_kib) <= 3
    assert os.getpid() not in {pid for _, pid in results}
    assert stats.workers_peak_kib > 0
    one = pool.map_jobs(task, jobs, workers=1)
    assert [r[0] for r in one] == [r[0] for r in results] and {pid for _, pid in one} == {os.getpid()}


def test_the_first_failure_in_job_order_is_raised_after_every_job_ran(tmp_path: Path) -> None:
    def task(n: int) -> int:
        (tmp_path / str(n)).touch()
        if n in (3, 7):
            raise KeyError(f"job {n}")
        if n == 5:
            raise Odd(n, "odd")
        return n

    for workers in (1, 2):
        with pytest.raises(KeyError, match="job 3"):
            pool.map_jobs(task, list(range(10)), workers=workers)
    assert sorted(int(p.name) for p in tmp_path.iterdir()) == list(range(10))
    with pytest.raises(Odd, match=r"^5: odd$") as info:  # its __init__ wants other arguments
        pool.map_jobs(task, [5, 6], workers=2)
    assert info.value.n == 5

    def unpicklable(n: int) -> int:
        exc = ValueError(f"job {n}")
        exc.callback = lambda: n  # type: ignore[attr-defined]
        raise exc

    with pytest.raises(pool.JobFailed, match=r"(?s)^ValueError: job 1\nTraceback.*raise exc"):
        pool.map_jobs(unpicklable, [1, 2], workers=2)


def test_worker_count_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(pool.WORKERS_ENV, "3")
    assert pool.default_workers() == 3
    for bad in ("0", "many"):
        monkeypatch.setenv(pool.WORKERS_ENV, bad)
        with pytest.raises(ValueError, match=pool.WORKERS_ENV):
            pool.default_workers()
    monkeypatch.delenv(pool.WORKERS_ENV)
    assert pool.default_workers() >= 1


def _bytes(results: dict[str, ProgramResult]) -> str:
    return json.dumps({name: {"resources": [r.to_json() for r in result.resources],
                              "outputs": result.outputs, "secret_outputs": result.secret_outputs}
                       for name, result in results.items()}, sort_keys=True)


def test_real_stacks_plan_the_same_in_one_or_two_workers() -> None:
    """The real program over three one-cluster fleets: one worker (this process) and two
    forked workers give the same bytes, in stack-name order."""
    jobs = [pool.StackJob(f"bench-{p}", fleet_config(1, prefix=p)) for p in ("z", "a", "m")]
    done: list[str] = []
    one = pool.plan_stacks(ROOT, jobs, project="fleetform", workers=1)
    two = pool.plan_stacks(ROOT, jobs, project="fleetform", workers=2, on_done=lambda s, r: done.append(s))
    assert list(one) == list(two) == ["bench-a", "bench-m", "bench-z"]
    assert sorted(done) == ["bench-a", "bench-m", "bench-z"]
    assert _bytes(one) == _bytes(two)
    assert all(len(r.resources) > 100 for r in two.values())
    stacks: Any = {r.urn.split("::")[0] for result in two.values() for r in result.resources}
    assert stacks == {"urn:pulumi:bench-a", "urn:pulumi:bench-m", "urn:pulumi:bench-z"}


def test_duplicate_stack_names_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate stack names"):
        pool.plan_stacks(ROOT, [pool.StackJob("a", {}), pool.StackJob("a", {})], project="fleetform")


def test_micro_stacks_plan_the_same_in_one_or_two_workers() -> None:
    """`run_fleet_stacks`: the fleet stack here, the cluster stacks in the pool; one worker
    and two give the same bytes, in layout order, and every registration is seen."""
    import copy

    import yaml

    from fleetform.engine.stacks import run_fleet_stacks
    from fleetform.plan.fleet import plan_fleet
    from fleetform.plan.load import load_config

    config = copy.deepcopy(yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())["config"])
    config["fleetform:fleet"]["stacks"] = "per-cluster"
    plan = plan_fleet(load_config(config["fleetform:fleet"], config.get("fleetform:base"), stack="dev",
                                  label="stacks/Pulumi.dev.yaml", stacks_dir=ROOT / "stacks"))
    seen: list[tuple[str, str]] = []
    one = run_fleet_stacks(ROOT, project="fleetform", plan=plan, config=config, workers=1)
    two = run_fleet_stacks(ROOT, project="fleetform", plan=plan, config=config, workers=2,
                           on_resource=lambda m, r: seen.append((m.name, r.urn)))
    assert list(one) == list(two) == ["dev", "dev.dev-aws", "dev.dev-gcp"]
    assert _bytes(one) == _bytes(two)
    assert sorted(seen) == sorted((name, r.urn) for name, result in two.items() for r in result.resources)
