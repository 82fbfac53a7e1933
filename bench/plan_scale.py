"""How the offline plan scales: wall time and peak memory of `run_program` (the real
`__main__.py` under the offline engine's mocks) for generated fleets of HA clusters,
next to the floor.

The floor is what the engine itself costs for the same registrations: the same number
of resources, with the same type tokens, names, parents and providers (so the same
URNs) and the same plain input values the real run sent (so the same mock handlers do
the same work: key generation, certificate signing, address allocation), registered
bare -- `pulumi.CustomResource(type, name, {...plain values...})`, no component code,
no Outputs or `apply`, no bootstrap rendering, no provider SDK classes -- under the same
`FleetMocks` and the same `RecordingMonitor`, in the same benchmark run. Everything
above the floor is the program's own cost (components, typed inputs, Outputs and
applies, rendering user-data).

Each measurement runs in a fresh Python process (so peak memory is that run's own
high-water mark, `ru_maxrss`) that first does an untimed warm-up run of the same kind on
a 2-cluster fleet, so one-off costs (importing the provider SDKs, first-use caches) are
not in the timed numbers; they are reported separately as "cold start".

    .venv/bin/python bench/plan_scale.py                     # 1, 10, 50, 100, best of 3; writes docs/benchmarks.md
    .venv/bin/python bench/plan_scale.py --sizes 1,10 --repeat 1 --no-write
    .venv/bin/python bench/plan_scale.py --from-log run.txt --when "..."   # re-report a run's JSON lines
    .venv/bin/python bench/plan_scale.py --profile 10        # pyinstrument profile of one run

Not part of the test suite (a 100-cluster run takes minutes).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
SIZES = (1, 10, 50, 100)
STACK = "bench"
GOAL_RATIO = 1.3
GOAL_MEMORY_MIB = 2048

# Regions with at least three zones, alternated between the clouds.
AWS_REGIONS = ("us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-west-2", "eu-west-3",
               "eu-central-1", "eu-north-1", "ap-south-1", "ap-southeast-1")
GCP_REGIONS = ("us-central1", "us-east1", "us-east4", "us-west1", "europe-west1",
               "europe-west2", "europe-west3", "europe-west4", "asia-east1", "asia-south1")
CNIS = ("cilium", "calico", "flannel")


def fleet_config(clusters: int, *, prefix: str = "c") -> dict[str, Any]:
    """A self-contained stack config: `clusters` HA clusters, alternating AWS and GCP.

    Every cluster: 3 etcd members and 3 control-plane replicas over 3 zones, NAT per zone,
    two worker pools, the CNI rotating through cilium, calico and flannel.
    """
    items = []
    for i in range(clusters):
        cloud = "aws" if i % 2 == 0 else "gcp"
        regions = AWS_REGIONS if cloud == "aws" else GCP_REGIONS
        items.append({
            "name": f"{prefix}{i:03d}-{cloud}",
            "cloud": cloud,
            "region": regions[(i // 2) % len(regions)],
            "cni": {"plugin": CNIS[i % len(CNIS)]},
            "network": {"index": i + 1},
        })
    fleet = {
        "apiVersion": "fleetform/v1",
        "name": "bench",
        "domain": "fleet.bench.example",
        "clouds": {"aws": {"default_tags": {"owner": "bench"}}, "gcp": {"project": "bench-fleet"}},
        # /16 slots hold 255 clusters in 10/8; larger fleets take /20 slots (4095).
        "network": {"supernet": "10.0.0.0/8", "cluster_prefix": 16 if clusters < 256 else 20},
        "defaults": {
            "kubernetes_version": "1.37",
            "etcd": {"members": 3, "size": "medium", "disk_gb": 50},
            "control_plane": {"replicas": 3, "size": "medium"},
            "workers": [
                {"name": "general", "size": "medium", "min": 3, "max": 10},
                {"name": "batch", "size": "large", "min": 0, "max": 20},
            ],
        },
        "clusters": items,
    }
    return {"fleetform:fleet": fleet}


# --------------------------------------------------------------------------------------
# The floor: a program that registers bare resources from a recorded list

FLOOR_PROGRAM = textwrap.dedent('''\
    """Bare registrations: type, name, parent, provider and plain inputs as recorded."""
    import json

    import pulumi

    records = json.loads(open(pulumi.Config("bench").require("resources")).read())
    made = {}
    for r in records:
        parent = made.get(r["parent"])
        provider = made.get(r["provider"])
        opts = pulumi.ResourceOptions(parent=parent, provider=provider)
        if r["type"].startswith("pulumi:providers:"):
            res = pulumi.ProviderResource(r["type"].split(":", 2)[2], r["name"], r["inputs"], opts)
        elif r["custom"]:
            res = pulumi.CustomResource(r["type"], r["name"], r["inputs"], opts)
        else:
            res = pulumi.ComponentResource(r["type"], r["name"], None, opts)
        made[r["urn"]] = res
    ''')


def _capture_inputs() -> dict[str, Any]:
    """Plain (secrets revealed) inputs by URN, as the mocks saw them: one dict store per
    registration, so capturing costs nothing measurable."""
    from fleetform.engine.mocks.fleet import FleetMocks

    captured: dict[str, Any] = {}
    original = FleetMocks.new_resource

    def new_resource(self: FleetMocks, args: Any) -> Any:
        captured[args.urn] = args.inputs
        return original(self, args)

    FleetMocks.new_resource = new_resource  # type: ignore[method-assign]
    return captured


def _records_json(resources: Any, inputs: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"urn": r.urn, "type": r.type, "name": r.name, "parent": r.parent, "custom": r.custom,
             "provider": r.provider.rsplit("::", 1)[0] if r.provider else None,
             "inputs": inputs.get(r.urn, {}) if r.custom else None}
            for r in resources if r.type != "pulumi:pulumi:Stack"]


def _time_key_generation() -> list[float]:
    """CPU seconds spent generating the mocks' RSA keys (`mocks._rsa_key`), summed into the
    returned one-element list. Plan and floor generate the same keys (same seeds); the
    cost of each is a heavy-tailed function of its seed (the gap to the next prime), so
    it is reported apart."""
    from fleetform.engine.mocks import tls as mocks

    spent = [0.0]
    generate = mocks._rsa_key

    def timed(bits: int, seed: str) -> Any:
        start = time.process_time()
        try:
            return generate(bits, seed)
        finally:
            spent[0] += time.process_time() - start

    mocks._rsa_key = timed  # type: ignore[assignment]
    return spent


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child(kind: str, clusters: int, workdir: Path, profile: bool) -> dict[str, Any]:
    """One measurement in this (fresh) process; prints a JSON line."""
    cold = time.perf_counter()
    from fleetform.engine.run import run_program

    inputs = _capture_inputs()
    keys = _time_key_generation()

    def run(n: int, prefix: str) -> tuple[float, float, Any]:
        if kind == "program":
            program, config = ROOT, fleet_config(n, prefix=prefix)
        else:
            records = workdir / f"records-{n}-{prefix}.json"
            if not records.exists():  # the warm-up: bare records of a small real run
                small = run_program(ROOT, project="fleetform", stack=STACK, config=fleet_config(n, prefix=prefix))
                records.write_text(json.dumps(_records_json(small.resources, inputs)))
            program = workdir / "floor"
            program.mkdir(exist_ok=True)
            (program / "__main__.py").write_text(FLOOR_PROGRAM)
            config = {"bench:resources": str(records)}
        wall, cpu = time.perf_counter(), time.process_time()
        if profiler is not None and prefix == "c":
            # On this thread: the profiler samples only the thread that started it.
            from fleetform.engine import run as offline

            with offline._gc_tuned():  # as run_program does
                result = offline._run(offline._main_file(Path(program)), "fleetform", STACK, config, None)
        else:
            result = run_program(program, project="fleetform", stack=STACK, config=config)
        return time.perf_counter() - wall, time.process_time() - cpu, result

    profiler = None
    run(2, "w")  # warm-up: imports, first-use caches
    cold = time.perf_counter() - cold
    if profile:
        from pyinstrument import Profiler  # pip install pyinstrument (not a requirement)

        profiler = Profiler(interval=0.002)
        profiler.start()
    inputs.clear()
    keys[0] = 0.0
    wall, cpu, result = run(clusters, "c")
    if profiler is not None:
        profiler.stop()
        (workdir / f"profile-{kind}-{clusters}.txt").write_text(
            profiler.output_text(unicode=False, color=False))
    if kind == "program":
        (workdir / f"records-{clusters}-c.json").write_text(json.dumps(_records_json(result.resources, inputs)))
    return {
        "kind": kind,
        "clusters": clusters,
        "resources": sum(1 for r in result.resources if r.type != "pulumi:pulumi:Stack"),
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "keys_s": round(keys[0], 3),
        "cold_s": round(cold, 3),
        "peak_mib": round(_peak_mib(), 1),
    }


def measure(kind: str, clusters: int, workdir: Path, profile: bool = False) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--sizes", str(clusters),
           "--workdir", str(workdir)]
    if profile:
        cmd.append("--profile-child")
    # In-process runs of the offline engine are single-threaded; keep BLAS & co. quiet too.
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"{kind} run with {clusters} cluster(s) failed (exit {done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------
# Report


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kib = int(next(ln for ln in Path("/proc/meminfo").read_text().splitlines()
                       if ln.startswith("MemTotal")).split()[1])
        mem = f", {kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    from importlib.metadata import version

    return (f"{cpu}, {os.cpu_count()} CPU(s){mem}; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}; pulumi SDK {version('pulumi')}")


def _own(run: dict[str, Any]) -> float:
    """CPU seconds without the mocks' RSA key generation."""
    return float(run["cpu_s"] - run.get("keys_s", 0.0))


def _pair_ratios(prog: dict[str, Any], floor: dict[str, Any], *, keys: bool = True) -> list[float]:
    """plan / floor of each alternated pair of runs (with or without key generation)."""
    pairs = zip(prog.get("all", [prog]), floor.get("all", [floor]), strict=False)
    return [p["cpu_s"] / f["cpu_s"] if keys else _own(p) / _own(f) for p, f in pairs]


def ratio(prog: dict[str, Any], floor: dict[str, Any], *, keys: bool = True) -> float:
    """The median over the alternated pairs: each pair ran back to back, so a slow spell
    of the machine weighs on both of its runs."""
    return float(statistics.median(_pair_ratios(prog, floor, keys=keys)))


def table(rows: list[tuple[dict[str, Any], dict[str, Any]]]) -> str:
    lines = [
        "| clusters | resources | plan CPU (s) | floor CPU (s) | ratio (CPU) | of which mock RSA keys (s) "
        "| ratio without keys | plan wall (s) | floor wall (s) | plan ms/resource | floor ms/resource "
        "| plan peak (MiB) | floor peak (MiB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for prog, floor in rows:
        n = prog["resources"]
        lines.append(
            f"| {prog['clusters']} | {n} | {prog['cpu_s']:.1f} | {floor['cpu_s']:.1f} "
            f"| {ratio(prog, floor):.2f}× | {prog.get('keys_s', 0):.1f} / {floor.get('keys_s', 0):.1f} "
            f"| {ratio(prog, floor, keys=False):.2f}× | {prog['wall_s']:.1f} | {floor['wall_s']:.1f} "
            f"| {1000 * prog['cpu_s'] / n:.2f} | {1000 * floor['cpu_s'] / n:.2f} "
            f"| {prog['peak_mib']:.0f} | {floor['peak_mib']:.0f} |")
    return "\n".join(lines)


def verdict(rows: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[str]:
    """Judged on CPU time: a run is single-threaded, so on an idle machine its CPU time is
    its wall time, and CPU time does not count time lost to other processes. Linearity is
    judged without the mocks' RSA key generation: the same keys in plan and floor, whose
    cost per key is a heavy-tailed function of its seed, so a handful of keys (10
    clusters) can cost much less or more per key than a hundred."""
    prog, floor = rows[-1]
    at_size = ratio(prog, floor)
    pairs = ", ".join(f"{r:.2f}×" for r in _pair_ratios(prog, floor))
    big = [p for p, _ in rows if p["clusters"] >= 10] or [p for p, _ in rows]
    per = [p["cpu_s"] / p["resources"] for p in big]
    per_own = [_own(p) / p["resources"] for p in big]
    spread, own_spread = max(per) / min(per), max(per_own) / min(per_own)
    peak = max(max(p["peak_mib"], f["peak_mib"]) for p, f in rows)
    return [
        f"- ratio to the floor at {prog['clusters']} clusters (CPU time, median of the pairs {pairs}): "
        f"{at_size:.2f}× (goal ≤ {GOAL_RATIO}×): **{'met' if at_size <= GOAL_RATIO else 'not met'}**; "
        f"without the mocks' RSA key generation (in both): {ratio(prog, floor, keys=False):.2f}×",
        f"- linear: CPU time per resource without key generation varies by {own_spread:.2f}× from "
        f"{big[0]['clusters']} clusters up (≤ 1.25× counts as linear): **{'yes' if own_spread <= 1.25 else 'no'}**; "
        f"with key generation by {spread:.2f}×",
        f"- peak memory (RSS, including ~280 MiB of imported SDKs): {peak:.0f} MiB "
        f"(goal < {GOAL_MEMORY_MIB} MiB): **{'met' if peak < GOAL_MEMORY_MIB else 'not met'}**",
    ]


def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the least CPU time (the one least disturbed by other work on the
    machine), with the highest peak memory of all."""
    run = dict(min(runs, key=lambda r: r["cpu_s"]))
    run["peak_mib"] = max(r["peak_mib"] for r in runs)
    run["runs"] = len(runs)
    run["all"] = list(runs)
    return run


RESULTS_START = "<!-- plan_scale results: begin -->"
RESULTS_END = "<!-- plan_scale results: end -->"


def write_doc(rows: list[tuple[dict[str, Any], dict[str, Any]]], when: str) -> None:
    cold = ", ".join(f"{p['clusters']}: {p['cold_s']:.1f} s" for p, _ in rows)
    block = "\n".join([
        RESULTS_START,
        f"Measured {when} on {machine()}. Plan and floor ran {rows[0][0].get('runs', 1)} times each "
        "per size, alternated; times and memory are the best run's (least CPU), ratios the median "
        "of the pairs' ratios.",
        "",
        table(rows),
        "",
        *verdict(rows),
        "",
        f"Cold start of a plan process (imports and a 2-cluster warm-up run), by size: {cold}.",
        RESULTS_END,
    ])
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    if RESULTS_START in text and RESULTS_END in text:
        head, rest = text.split(RESULTS_START, 1)
        tail = rest.split(RESULTS_END, 1)[1]
        text = head + block + tail
    else:
        text = (text.rstrip() + "\n\n" if text else "# Benchmarks\n\n") + block + "\n"
    DOC.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)), help="comma-separated cluster counts")
    ap.add_argument("--no-write", action="store_true", help="print the table, do not touch docs/benchmarks.md")
    ap.add_argument("--repeat", type=int, default=3, metavar="N",
                    help="runs of plan and floor per size (alternated); the table keeps the best of each")
    ap.add_argument("--profile", type=int, metavar="N", help="profile one plan and one floor run of N clusters")
    ap.add_argument("--from-log", metavar="FILE",
                    help="no runs: report the JSON lines an earlier run printed (its stdout), measured at --when")
    ap.add_argument("--when", help=argparse.SUPPRESS)
    ap.add_argument("--workdir", help=argparse.SUPPRESS)
    ap.add_argument("--child", choices=("program", "floor"), help=argparse.SUPPRESS)
    ap.add_argument("--profile-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.child:
        print(json.dumps(child(args.child, sizes[0], Path(args.workdir), args.profile_child)))
        return 0
    with tempfile.TemporaryDirectory(prefix="plan-scale-") as tmp:
        workdir = Path(args.workdir or tmp)
        if args.profile:
            for kind in ("program", "floor"):
                print(json.dumps(measure(kind, args.profile, workdir, profile=True)), flush=True)
                print((workdir / f"profile-{kind}-{args.profile}.txt").read_text())
            return 0
        when = args.when or datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        rows = []
        if args.from_log:
            runs: dict[tuple[int, str], list[dict[str, Any]]] = {}
            for line in Path(args.from_log).read_text(encoding="utf-8").splitlines():
                if line.startswith("{"):
                    run = json.loads(line)
                    runs.setdefault((run["clusters"], run["kind"]), []).append(run)
            sizes = sorted({n for n, _ in runs})
            rows = [(best(runs[n, "program"]), best(runs[n, "floor"])) for n in sizes]
        for n in ([] if args.from_log else sizes):
            progs, floors = [], []
            for _ in range(max(1, args.repeat)):
                progs.append(measure("program", n, workdir))
                print(json.dumps(progs[-1]), flush=True)
                floors.append(measure("floor", n, workdir))
                print(json.dumps(floors[-1]), flush=True)
            rows.append((best(progs), best(floors)))
        print(table(rows))
        print("\n".join(verdict(rows)))
        if not args.no_write:
            write_doc(rows, when)
            print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
