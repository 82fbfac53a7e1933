"""End to end: a cold `fleetform plan --json` process on a generated fleet, against the
SDK's floor, measured from outside the process.

- **plan**: wall time, CPU time (user + system of the whole process tree) and peak memory
  of `fleetform plan --file <stack file> --json`, started cold (imports included), for a
  generated fleet (`stacks: per-cluster` by default: the fleet stack, then the cluster
  stacks in the worker pool; `--stacks single`: one program run) of HA clusters (`plan_scale.fleet_config`: 3 etcd members, 3
  control-plane replicas, NAT per zone, two worker pools, AWS and GCP alternating);
- **floor**: a fresh Python process that imports the offline engine and registers the
  same resources bare (`plan_scale.FLOOR_PROGRAM`: same type tokens, names, parents,
  providers and plain inputs, so the same URNs and the same mock work) -- what any
  program registering that many resources under these mocks costs, cold;
- **one cluster**: a cold `fleetform plan --json` of a fleet of one of those clusters:
  the least a re-plan of one changed cluster costs when it runs in a process of its own;
- **pool** (`--pool`): every cluster as a one-cluster stack of its own, all planned by
  `fleetform.engine.pool.plan_stacks` on every core (program runs only: no CLI, no
  policy pass): how cluster stacks spread over the cores.

Memory is the peak of the sum of the resident sets of the process and its descendants,
sampled from /proc every 50 ms (workers included; pages a forked worker shares with its
parent count in both, so this is an upper bound). Plan and floor alternate `--repeat` times per size; the table keeps each
one's fastest wall time, the ratio is the median of the back-to-back pairs' ratios.

    .venv/bin/python bench/stacks_scale.py                      # 6 and 100 clusters, 3 pairs; writes docs/benchmarks.md
    .venv/bin/python bench/stacks_scale.py --sizes 6,100,1000 --repeat 1
    .venv/bin/python bench/stacks_scale.py --sizes 2 --repeat 1 --no-write   # smoke

Not part of the test suite (minutes at 100 clusters on a shared 2-core machine).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plan_scale import DOC, FLOOR_PROGRAM, ROOT, STACK, fleet_config, machine

SIZES = (6, 100)
GOAL_WALL_S = {100: 15.0, 1000: 180.0}
GOAL_ONE_S = 3.0
GOAL_PEAK_MIB = 4096
FLEETFORM = [sys.executable, "-m", "fleetform"]


# --------------------------------------------------------------------------------------
# Measuring a process tree from outside


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", encoding="ascii") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _tree_rss_kib(root: int) -> int:
    tree, todo, total = _children(), [root], 0
    while todo:
        pid = todo.pop()
        todo.extend(tree.get(pid, ()))
        try:
            with open(f"/proc/{pid}/statm", encoding="ascii") as f:
                total += int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
        except (OSError, ValueError, IndexError):
            pass
    return total


def run_measured(cmd: list[str], *, env: dict[str, str] | None = None, stdout: Any = subprocess.DEVNULL) -> dict[str, Any]:
    """Wall time, CPU time of the tree, peak RSS (sampled tree sum, largest process)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=stdout, stderr=subprocess.PIPE, text=True)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss_kib(proc.pid))
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 3):  # 3: a policy verdict, still a full plan
        sys.stderr.write(err)
        raise SystemExit(f"{' '.join(cmd)} failed (exit {proc.returncode})")
    return {
        "wall_s": round(wall, 3),
        "cpu_s": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 3),
        "tree_peak_mib": round(peak[0] / 1024, 1),
    }


# --------------------------------------------------------------------------------------
# Inputs: stack files and the floor's records


STACKS_MODE = ["per-cluster"]  # the fleet key `stacks` of the generated fleets (--stacks)


def stack_file(workdir: Path, clusters: int) -> Path:
    mode = STACKS_MODE[0]
    path = workdir / f"Pulumi.{STACK}{clusters}{'' if mode == 'single' else 'pc'}.yaml"
    if not path.exists():
        config = fleet_config(clusters)
        config["fleetform:fleet"]["stacks"] = mode
        path.write_text(yaml.safe_dump({"config": config}, sort_keys=False), encoding="utf-8")
    return path


def floor_records(workdir: Path, clusters: int) -> Path:
    """The bare records (with the plain inputs the mocks saw) of a real run of this fleet,
    recorded once by plan_scale's program child (untimed here)."""
    records = workdir / f"records-{clusters}-c.json"
    if not records.exists():
        done = subprocess.run([sys.executable, str(ROOT / "bench" / "plan_scale.py"), "--child", "program",
                               "--sizes", str(clusters), "--workdir", str(workdir)],
                              cwd=ROOT, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.stderr.write(done.stderr)
            raise SystemExit(f"recording the floor's resources for {clusters} clusters failed")
    return records


FLOOR_MAIN = """\
import sys
from pathlib import Path
from fleetform.engine.run import run_program
result = run_program(Path(sys.argv[1]), project="fleetform", stack="bench", config={"bench:resources": sys.argv[2]})
print(sum(1 for r in result.resources if r.type != "pulumi:pulumi:Stack"))
"""


POOL_MAIN = """\
import sys
from pathlib import Path
from fleetform.engine.pool import StackJob, plan_stacks
sys.path.insert(0, sys.argv[1] + "/bench")
from plan_scale import fleet_config
fleet = fleet_config(int(sys.argv[2]))["fleetform:fleet"]
jobs = [StackJob(f"bench.{c['name']}", {"fleetform:fleet": {**fleet, "clusters": [c]}}) for c in fleet["clusters"]]
results = plan_stacks(Path(sys.argv[1]), jobs, project="fleetform")
print(sum(1 for r in results.values() for x in r.resources if x.type != "pulumi:pulumi:Stack"))
"""


def measure_pool(workdir: Path, clusters: int) -> dict[str, Any]:
    """Each cluster as a one-cluster fleet of its own, all planned in the worker pool
    (every core): how the cluster stacks of a micro-stack fleet spread over the cores."""
    main = workdir / "pool_main.py"
    main.write_text(POOL_MAIN, encoding="utf-8")
    out = workdir / f"pool-{clusters}.txt"
    with out.open("w", encoding="utf-8") as f:
        run = run_measured([sys.executable, str(main), str(ROOT), str(clusters)], stdout=f)
    run.update(kind="pool", clusters=clusters, resources=int(out.read_text(encoding="utf-8").split()[-1]))
    return run


def measure_plan(workdir: Path, clusters: int) -> dict[str, Any]:
    out = workdir / f"plan-{clusters}.json"
    with out.open("w", encoding="utf-8") as f:
        run = run_measured([*FLEETFORM, "plan", "--file", str(stack_file(workdir, clusters)), "--json"], stdout=f)
    data = json.loads(out.read_text(encoding="utf-8"))
    run.update(kind="plan", stacks=STACKS_MODE[0], clusters=clusters, resources=sum(
        1 for r in data["resources"] if r["type"] != "pulumi:pulumi:Stack"))
    return run


# The re-plan alone in a cold process: load the stack file, digest, load or run each micro-stack.
REPLAN = ("import sys, pathlib; from fleetform.engine import reuse; from fleetform.engine.synth import load_stack; "
          "o = reuse.evaluate(load_stack(None, sys.argv[1]), reuse=pathlib.Path(sys.argv[2])); print(' '.join(o.ran))")


def measure_incremental(workdir: Path, clusters: int, repeat: int) -> list[dict[str, Any]]:
    """A synth of the fleet (timed), then, after one edit each, a cold `plan --json --reuse`
    and a cold process doing the re-plan alone (`reuse.evaluate`: no policy pass, no
    output): a worker pool's size in one cluster (only its stack runs) and one cluster's
    Kubernetes version (the fleet stack runs too, then only that cluster's stack)."""
    base = stack_file(workdir, clusters)
    previous = workdir / f"synth-{clusters}"
    runs = [run_measured([*FLEETFORM, "synth", "--file", str(base), "--out", str(previous)])]
    runs[-1].update(kind="synth", clusters=clusters)
    print(json.dumps(runs[-1]), flush=True)
    edits = {"pool": {"workers": [{"name": "general", "size": "large", "min": 2, "max": 5}]},
             "version": {"kubernetes_version": "1.36"}}
    for edit, change in edits.items():
        doc = yaml.safe_load(base.read_text(encoding="utf-8"))
        doc["config"]["fleetform:fleet"]["clusters"][clusters // 2].update(change)
        edited = workdir / edit / base.name  # the same name: the same stacks
        edited.parent.mkdir(exist_ok=True)
        edited.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        for _ in range(max(1, repeat)):
            out = workdir / f"plan-{clusters}-{edit}.json"
            with out.open("w", encoding="utf-8") as f:
                run = run_measured([*FLEETFORM, "plan", "--file", str(edited), "--json", "--reuse", str(previous)],
                                   stdout=f)
            run.update(kind=f"plan-reuse-{edit}", clusters=clusters)
            print(json.dumps(run), flush=True)
            runs.append(run)
            ran = workdir / f"ran-{clusters}-{edit}.txt"
            with ran.open("w", encoding="utf-8") as f:
                run = run_measured([sys.executable, "-c", REPLAN, str(edited), str(previous)], stdout=f)
            run.update(kind=f"replan-{edit}", clusters=clusters, ran=ran.read_text(encoding="utf-8").split())
            print(json.dumps(run), flush=True)
            runs.append(run)
    return runs


def measure_floor(workdir: Path, clusters: int) -> dict[str, Any]:
    program = workdir / "floor"
    program.mkdir(exist_ok=True)
    (program / "__main__.py").write_text(FLOOR_PROGRAM, encoding="utf-8")
    main = workdir / "floor_main.py"
    main.write_text(FLOOR_MAIN, encoding="utf-8")
    out = workdir / f"floor-{clusters}.txt"
    with out.open("w", encoding="utf-8") as f:
        run = run_measured([sys.executable, str(main), str(program), str(floor_records(workdir, clusters))], stdout=f)
    run.update(kind="floor", clusters=clusters, resources=int(out.read_text(encoding="utf-8").split()[-1]))
    return run


# --------------------------------------------------------------------------------------
# Report


def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    run = dict(min(runs, key=lambda r: r["wall_s"]))
    run["tree_peak_mib"] = max(r["tree_peak_mib"] for r in runs)
    run["all"] = runs
    return run


def ratio(plan: dict[str, Any], floor: dict[str, Any], key: str) -> float:
    return float(statistics.median(p[key] / f[key] for p, f in zip(plan["all"], floor["all"], strict=False)))


def table(rows: list[tuple[dict[str, Any], dict[str, Any]]]) -> str:
    lines = ["| clusters | stacks | resources | plan wall (s) | floor wall (s) | ratio (wall) | plan CPU (s) | floor CPU (s) "
             "| ratio (CPU) | plan peak, tree (MiB) | floor peak (MiB) |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for plan, floor in rows:
        lines.append(f"| {plan['clusters']} | {plan.get('stacks', 'single')} | {plan['resources']} | {plan['wall_s']:.1f} | {floor['wall_s']:.1f} "
                     f"| {ratio(plan, floor, 'wall_s'):.2f}× | {plan['cpu_s']:.1f} | {floor['cpu_s']:.1f} "
                     f"| {ratio(plan, floor, 'cpu_s'):.2f}× | {plan['tree_peak_mib']:.0f} | {floor['tree_peak_mib']:.0f} |")
    return "\n".join(lines)


def pool_lines(pools: list[dict[str, Any]]) -> list[str]:
    return [f"- pool: {p['clusters']} one-cluster stacks ({p['resources']} resources) planned by "
            f"`plan_stacks` on {os.cpu_count()} workers, cold process: {p['wall_s']:.1f} s wall, "
            f"{p['cpu_s']:.1f} s CPU, tree peak {p['tree_peak_mib']:.0f} MiB" for p in pools]


def verdict(rows: list[tuple[dict[str, Any], dict[str, Any]]], one: dict[str, Any] | None) -> list[str]:
    out = []
    for plan, _ in rows:
        goal = GOAL_WALL_S.get(plan["clusters"])
        if goal is not None:
            met = plan["wall_s"] <= goal and (plan["clusters"] < 1000 or plan["tree_peak_mib"] <= GOAL_PEAK_MIB)
            extra = f" and ≤ {GOAL_PEAK_MIB} MiB peak ({plan['tree_peak_mib']:.0f} MiB)" if plan["clusters"] >= 1000 else ""
            out.append(f"- {plan['clusters']} clusters end to end: {plan['wall_s']:.1f} s wall "
                       f"(goal ≤ {goal:.0f} s{extra}): **{'met' if met else 'not met'}**")
    if one is not None:
        out.append(f"- one cluster in a process of its own (the least a one-cluster re-plan costs): "
                   f"{one['wall_s']:.1f} s wall, {one['cpu_s']:.1f} s CPU (goal for the re-plan ≤ {GOAL_ONE_S:.0f} s)")
    return out


RESULTS_START = "<!-- stacks_scale results: begin -->"
RESULTS_END = "<!-- stacks_scale results: end -->"


def write_doc(rows: list[tuple[dict[str, Any], dict[str, Any]]], one: dict[str, Any] | None, when: str,
              load: str, pools: Sequence[dict[str, Any]] = ()) -> None:
    block = "\n".join([
        RESULTS_START,
        f"Measured {when} on {machine()}; load average when it started: {load}. Plan and floor ran "
        f"{len(rows[0][0]['all'])} time(s) each per size, alternated; times are the fastest run's, "
        "peaks the highest, ratios the median of the pairs.",
        "",
        table(rows),
        "",
        *verdict(rows, one),
        *pool_lines(list(pools)),
        RESULTS_END,
    ])
    text = DOC.read_text(encoding="utf-8")
    if RESULTS_START in text and RESULTS_END in text:
        head, rest = text.split(RESULTS_START, 1)
        text = head + block + rest.split(RESULTS_END, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)), help="comma-separated cluster counts")
    ap.add_argument("--repeat", type=int, default=3, metavar="N", help="plan/floor pairs per size")
    ap.add_argument("--no-write", action="store_true", help="print, do not touch docs/benchmarks.md")
    ap.add_argument("--no-floor", action="store_true", help="plan only (e.g. 1,000 clusters)")
    ap.add_argument("--workdir", help="keep stack files, records and outputs here")
    ap.add_argument("--stacks", choices=("per-cluster", "single"), default="per-cluster",
                    help="the generated fleets' `stacks` key (default per-cluster: the micro-stack plan)")
    ap.add_argument("--pool", action="store_true",
                    help="also plan every cluster as a one-cluster stack of its own in the worker pool")
    ap.add_argument("--incremental", action="store_true",
                    help="synth each size, then time `plan --json --reuse` after one-cluster edits (prints only)")
    ap.add_argument("--from-log", metavar="FILE",
                    help="no runs: report the JSON lines an earlier run printed, measured at --when with --load")
    ap.add_argument("--when", help=argparse.SUPPRESS)
    ap.add_argument("--load", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    STACKS_MODE[0] = args.stacks
    sizes = [int(s) for s in args.sizes.split(",") if s]
    load = args.load or ", ".join(f"{x:.1f}" for x in os.getloadavg())
    when = args.when or datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    if args.from_log:
        runs: dict[tuple[int, str], list[dict[str, Any]]] = {}
        for line in Path(args.from_log).read_text(encoding="utf-8").splitlines():
            if line.startswith('{"wall_s"'):
                run = json.loads(line)
                runs.setdefault((run["clusters"], run["kind"]), []).append(run)
        got = sorted(n for n, kind in runs if kind == "floor")
        rows = [(best(runs[n, "plan"]), best(runs[n, "floor"])) for n in got]
        one = best(runs[1, "plan"]) if (1, "plan") in runs else None
        pools = [min(runs[n, k], key=lambda r: r["wall_s"]) for n, k in sorted(runs) if k == "pool"]
        print(table(rows))
        print("\n".join([*verdict(rows, one), *pool_lines(pools)]))
        if not args.no_write:
            write_doc(rows, one, when, load, pools)
        return 0
    with tempfile.TemporaryDirectory(prefix="stacks-scale-") as tmp:
        workdir = Path(args.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        if args.incremental:
            for n in sizes:
                measure_incremental(workdir, n, args.repeat)
            return 0
        measured: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
        pools = []
        for n in sizes:
            if not args.no_floor:
                floor_records(workdir, n)
            plans, floors = [], []
            for _ in range(max(1, args.repeat)):
                plans.append(measure_plan(workdir, n))
                print(json.dumps(plans[-1]), flush=True)
                if not args.no_floor:
                    floors.append(measure_floor(workdir, n))
                    print(json.dumps(floors[-1]), flush=True)
            measured.append((best(plans), best(floors) if floors else None))
            if args.pool:
                pools.append(measure_pool(workdir, n))
                print(json.dumps(pools[-1]), flush=True)
        ones = []
        for _ in range(max(1, args.repeat)):
            ones.append(measure_plan(workdir, 1))
            print(json.dumps(ones[-1]), flush=True)
        one = best(ones)
    full = [(p, f) for p, f in measured if f is not None]
    if full:
        print(table(full))
    print("\n".join([*verdict(full or [(p, p) for p, _ in measured], one), *pool_lines(pools)]))
    if not args.no_write and full:
        write_doc(full, one, when, load, pools)
        print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
