"""Bad input never crashes: mutated example stack files always end in exit code 2 with
one ``<file>: <path>: <message>`` line per problem (or are still valid), never a
traceback, never exit 1, and never register a resource.

Most runs call ``fleetform.cli.main.main`` in-process (fast); a few go through the real
entry point (``python -m fleetform``) in a subprocess; and mutations of the fleet itself
also go through the Pulumi program under the offline engine, which must refuse them
before registering anything but the root Stack.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fuzz_helpers import (
    CASES,
    FLEET_KEY,
    ROOT,
    Case,
    Outcome,
    problem_line,
    run_cli,
    stack_doc,
    tree_mutation,
    write,
)
from hypothesis import HealthCheck, assume, given, settings

from fleetform.engine.monitor import RecordingMonitor
from fleetform.engine.records import Resource
from fleetform.engine.run import run_program
from fleetform.spec.errors import FleetError

FAST = settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))


class Registrations:
    """How many resources any offline engine registered while the fuzz tests ran."""

    def __init__(self) -> None:
        self.count = 0

    def __repr__(self) -> str:
        return f"Registrations({self.count})"


@pytest.fixture(scope="module")
def registrations() -> Iterator[Registrations]:
    seen = Registrations()
    original = RecordingMonitor._record

    def record(self: RecordingMonitor, resource: Resource) -> None:
        seen.count += 1
        original(self, resource)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RecordingMonitor, "_record", record)
        yield seen


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def check(outcome: Outcome, stack: Path, command: str, case: Case) -> None:
    """The contract of docs/cli.md for any input."""
    context = f"{case.what}: {command} -> {outcome.code}\n{outcome.stderr[:2000]}"
    assert outcome.code in (0, 2), context
    assert "Traceback" not in outcome.stderr + outcome.stdout, context
    if outcome.code == 0:
        if command == "plan":
            json.loads(outcome.stdout)
        return
    assert outcome.stdout == "", context
    lines = outcome.stderr.split("\n")
    assert lines[-1] == "" and len(lines) > 1, context  # at least one problem, newline-terminated
    pattern = problem_line(stack)
    for line in lines[:-1]:
        assert pattern.match(line), f"{context}\nnot a problem line: {line!r}"


@FAST
@given(case=CASES)
def test_mutated_stack_files_never_crash(case: Case, workdir: Path, registrations: Registrations) -> None:
    stack = write(case, workdir)
    before = registrations.count
    validate = run_cli("validate", "--file", str(stack))
    check(validate, stack, "validate", case)
    # `plan` runs the whole program offline once the input is valid (seconds per stack),
    # so valid inputs take the plan-only path here; see the dev-stack test below.
    extra = ["--no-resources"] if validate.code == 0 else []
    plan = run_cli("plan", "--json", *extra, "--file", str(stack))
    check(plan, stack, "plan", case)
    assert plan.code == validate.code, case.what  # plan rejects exactly what validate rejects
    if plan.code == 2:
        assert registrations.count == before, f"{case.what}: the offline engine registered resources"


@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=tree_mutation(stacks=("dev",)))
def test_valid_mutations_of_the_dev_stack_run_the_whole_program(case: Case, workdir: Path) -> None:
    """Inputs `validate` accepts must not crash the program either (exit 0 or 3)."""
    stack = write(case, workdir / "valid")
    assume(run_cli("validate", "--file", str(stack)).code == 0)
    plan = run_cli("plan", "--json", "--file", str(stack))
    assert plan.code in (0, 3), f"{case.what}: plan -> {plan.code}\n{plan.stderr[:2000]}"
    assert "Traceback" not in plan.stderr
    json.loads(plan.stdout)


def _fleet_config(case: Case) -> dict[str, Any] | None:
    """The stack's Pulumi config, when the mutation left a fleet the program can read."""
    try:
        doc = yaml.safe_load(case.stack_text)
    except yaml.YAMLError:
        return None
    config = doc.get("config") if isinstance(doc, dict) else None
    if not isinstance(config, dict) or not isinstance(config.get(FLEET_KEY), dict):
        return None  # the program's config.require_object fails first (a Pulumi config error)
    # Pulumi hands config to the program as JSON: keys become strings, so a fleet that is
    # only invalid for its non-string keys is a valid fleet there.
    try:
        as_json = json.loads(json.dumps(config))
    except (TypeError, ValueError):
        return None
    return config if as_json == config else None


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=tree_mutation())
def test_the_program_refuses_bad_fleets_before_registering_anything(
        case: Case, workdir: Path) -> None:
    """What `pulumi up` would run: the real __main__.py, with the mutated fleet as its
    config. A fleet the CLI rejects must stop the program at load, before any resource."""
    assume(case.what.split(" in ")[1].startswith("stack"))
    stack = write(case, workdir)
    outcome = run_cli("validate", "--file", str(stack))
    config = _fleet_config(case)
    original = stack_doc(case.what.rsplit(" of ", 1)[1].split()[0])["config"]
    assume(outcome.code == 2 and config is not None and config != original)
    # Only problems inside the fleet (not CLI-only checks of the file around it).
    assume(all(":" in line and line.split(": ")[1].startswith("fleet")
               for line in outcome.stderr.splitlines()))
    registered: list[str] = []

    def guard(resource: Resource) -> None:
        registered.append(resource.type)
        if resource.type != "pulumi:pulumi:Stack":  # stop at once instead of building a fleet
            raise AssertionError(f"{case.what}: the program registered {resource.type}")

    assert config is not None
    with pytest.raises(FleetError) as err:
        run_program(ROOT, project="fleetform", stack="fuzz", config=config, on_resource=guard)
    assert registered == ["pulumi:pulumi:Stack"]
    assert err.value.problems


# ---------------------------------------------------------------- through the real entry point

SUBPROCESS_CASES = {
    "broken-yaml": "config:\n  fleetform:fleet:\n    clusters: [\n      - {name: a\n",
    "wrong-type": "config:\n  fleetform:base: fleet.yaml\n  fleetform:fleet:\n    clusters: 7\n",
    "unknown-and-huge": ("config:\n  fleetform:base: fleet.yaml\n  fleetform:fleet:\n    clusters:\n"
                         "      - {name: a, cloud: aws, region: eu-west-1, network: {index: 99999999999999999999},\n"
                         "         etcd: {members: 1e400}, colour: blue, \"kl\u00fcster\": 1}\n"),
    "duplicates-and-overlap": ("config:\n  fleetform:base: fleet.yaml\n  fleetform:fleet:\n    clusters:\n"
                               "      - {name: a, cloud: aws, region: eu-west-1, network: {index: 1}}\n"
                               "      - {name: a, cloud: gcp, region: europe-west1, network: {index: 1}}\n"
                               "      - {name: b, cloud: gcp, region: europe-west1, network: {index: 1}}\n"),
    "empty": "",
    "not-utf8": "config: {fleetform:fleet: {name: \udcff}}\n",
}


def fleetform(cwd: Path, *args: str) -> Outcome:
    env = {k: v for k, v in os.environ.items() if k != "FLEETFORM_DEBUG"}
    done = subprocess.run([sys.executable, "-m", "fleetform", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    return Outcome(done.returncode, done.stdout, done.stderr)


@pytest.mark.parametrize("name", sorted(SUBPROCESS_CASES))
def test_the_real_entry_point_reports_bad_files(name: str, tmp_path: Path) -> None:
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    (stacks / "fleet.yaml").write_text((ROOT / "stacks" / "fleet.yaml").read_text())
    (stacks / "Pulumi.bad.yaml").write_bytes(SUBPROCESS_CASES[name].encode("utf-8", "surrogateescape"))
    case = Case(SUBPROCESS_CASES[name], "", name)
    for command in (["validate"], ["plan", "--json"]):
        outcome = fleetform(tmp_path, *command, "--file", "stacks/Pulumi.bad.yaml")
        assert outcome.code == 2, outcome.stderr
        check(outcome, Path("stacks/Pulumi.bad.yaml"), command[0], case)


@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=CASES)
def test_random_cases_through_the_real_entry_point(case: Case, workdir: Path) -> None:
    stack = write(case, workdir / "sub")
    # A valid input would run the whole program: the plan-only path keeps this quick.
    extra = ["--no-resources"] if run_cli("validate", "--file", str(stack)).code == 0 else []
    outcome = fleetform(stack.parent.parent, "plan", "--json", *extra, "--file", "stacks/Pulumi.fuzz.yaml")
    check(outcome, Path("stacks/Pulumi.fuzz.yaml"), "plan", case)


# ---------------------------------------------------------------- what the fuzzer found
# Each of these crashed the CLI (exit 1) or broke the one-line problem format until the
# loader was fixed; they stay as regression tests.

BASE_TEXT = (ROOT / "stacks" / "fleet.yaml").read_text()
ONE_CLUSTER = "    clusters:\n      - {name: a, cloud: aws, region: eu-west-1, network: {index: 1}}\n"


@pytest.mark.parametrize(("name", "stack", "base"), [
    # PyYAML's reader rejects a control character with a message over two lines.
    ("reader", "config:\n  fleetform:fleet: {name: \"a\x01b\"}\n", BASE_TEXT),
    # A key with a line break went into the path as it was.
    ("newline-key", "config:\n  fleetform:base: fleet.yaml\n  fleetform:fleet:\n    defaults: {\"etcd\\nx\": 1}\n"
     + ONE_CLUSTER, BASE_TEXT),
    # A NUL byte in the base file name: ValueError from open(), exit 1.
    ("nul-base", "config:\n  fleetform:base: \"nul\\0byte\"\n  fleetform:fleet:\n" + ONE_CLUSTER, BASE_TEXT),
    # A line break in the base file name became part of the file label.
    ("newline-base", "config:\n  fleetform:base: \"new\\nline\"\n  fleetform:fleet:\n" + ONE_CLUSTER, BASE_TEXT),
    # A numeric profile name crashed the "did you mean" of an unknown profile: exit 1.
    ("numeric-profile", "config:\n  fleetform:base: fleet.yaml\n  fleetform:fleet:\n    profiles: {5: {etcd: {members: 1}}}\n"
     "    clusters:\n      - {name: a, cloud: aws, region: eu-west-1, network: {index: 1}, profiles: [single]}\n",
     BASE_TEXT),
    # A list or mapping used as a key crashed the duplicate-key check: exit 1.
    ("list-key", "config:\n  [a, b]: 1\n", BASE_TEXT),
    ("mapping-key", "config:\n  fleetform:fleet:\n    ? {name: x}\n    : 1\n", BASE_TEXT),
])
def test_inputs_the_fuzzer_broke_the_cli_with(name: str, stack: str, base: str, workdir: Path) -> None:
    case = Case(stack, base, name)
    target = write(case, workdir / name)
    for command in (["validate"], ["plan", "--json"]):
        outcome = run_cli(*command, "--file", str(target))
        assert outcome.code == 2, outcome.stderr
        check(outcome, target, command[0], case)


@pytest.mark.parametrize("grant", [
    "aws: {policy_arns: [arn:aws:iam::aws:policy/ReadOnlyAccess, arn:aws:iam::aws:policy/ReadOnlyAccess]}",
    "gcp: {roles: [roles/viewer, roles/viewer]}",
])
def test_a_duplicated_workload_grant_is_invalid_input(grant: str, workdir: Path, registrations: Registrations) -> None:
    """Validation used to accept it; the program then registered one URN twice and `plan`
    died with DuplicateResourceError (exit 1)."""
    cloud = "aws, region: eu-west-1" if grant.startswith("aws") else "gcp, region: europe-west1"
    case = Case("config:\n  fleetform:base: fleet.yaml\n  fleetform:fleet:\n    workload_identities:\n"
                f"      - {{name: exporter, namespace: payments, service_account: exporter, {grant}}}\n"
                f"    clusters:\n      - {{name: a, cloud: {cloud}, network: {{index: 1}}, etcd: {{members: 1}},\n"
                "         control_plane: {replicas: 1}, workers: [{name: general, min: 1, max: 2}]}\n",
                BASE_TEXT, "duplicate grant")
    stack = write(case, workdir / f"grant-{grant[:3]}")
    before = registrations.count
    outcome = run_cli("plan", "--json", "--file", str(stack))
    assert outcome.code == 2, outcome.stderr
    check(outcome, stack, "plan", case)
    assert registrations.count == before


# An empty top-level key printed an empty path (`<file>: : <message>`).
@pytest.mark.parametrize("where", ["stack", "base"])
def test_an_empty_top_level_key_has_a_path(where: str, workdir: Path) -> None:
    stack = "config:\n  fleetform:base: fleet.yaml\n  fleetform:fleet:\n" + ONE_CLUSTER
    case = Case(stack + ('"": 1\n' if where == "stack" else ""),
                BASE_TEXT + ('"": 1\n' if where == "base" else ""), "empty key")
    target = write(case, workdir / f"empty-{where}")
    outcome = run_cli("validate", "--file", str(target))
    assert outcome.code == 2
    check(outcome, target, "validate", case)
