"""Every command's help, exit codes and messages for bad input, colours, schema, cost."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from cli_support import ROOT, fleetform, no_traceback

COMMANDS = ["validate", "plan", "synth", "diff", "graph", "inventory", "schema", "cost", "kubeconfig", "upgrade",
            "up", "preview", "destroy", "operator", "stacks"]


def test_help_for_every_command() -> None:
    top = fleetform("--help")
    assert top.returncode == 0
    for command in COMMANDS:
        assert command in top.stdout
        out = fleetform(command, "--help")
        assert out.returncode == 0, command
        assert out.stdout.startswith(f"usage: fleetform {command}"), command


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_quick_command_on_the_example_stacks(stack: str) -> None:
    for args in (["validate"], ["plan", "--no-resources"], ["cost"], ["kubeconfig"],
                 ["inventory", "--list"], ["graph", "--no-resources", "--format", "dot"]):
        out = fleetform(*args, "--stack", stack)
        assert out.returncode == 0, (args, out.stderr)
        assert out.stdout


BAD_STACK = """\
config:
  fleetform:base: fleet.yaml
  fleetform:fleet:
    clusters:
      - {name: a, cloud: aws, region: eu-west-1, etcd: {members: 4}, network: {index: 1}}
"""


@pytest.fixture
def bad_project(tmp_path: Path) -> Path:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "fleet.yaml").write_text((ROOT / "stacks" / "fleet.yaml").read_text())
    (tmp_path / "stacks" / "Pulumi.bad.yaml").write_text(BAD_STACK)
    return tmp_path


@pytest.mark.parametrize("args", [
    ["validate"], ["plan"], ["plan", "--json"], ["synth", "--out", "out"], ["graph"], ["cost"],
    ["inventory", "--list"], ["kubeconfig"], ["diff", "--against", "."],
])
def test_an_invalid_stack_file_exits_2_with_located_problems(bad_project: Path, args: list[str]) -> None:
    out = fleetform(*args, "--file", "stacks/Pulumi.bad.yaml", cwd=bad_project)
    no_traceback(out)
    assert out.returncode == 2, out.stderr
    assert out.stdout == ""
    if args[0] == "diff":  # the directory is checked first
        assert out.stderr.startswith("./plan.json: -: missing")
    else:
        assert out.stderr == ("stacks/Pulumi.bad.yaml: fleet.clusters[0].etcd.members: 4 is not one of 1, 3, 5, 7 "
                              "(an odd count keeps a quorum)\n")
    assert not (bad_project / "out").exists()


@pytest.mark.parametrize(("args", "stderr"), [
    (["plan", "--stack", "nosuch"], "stacks/Pulumi.nosuch.yaml: -: no such stack (known: dev, prod, staging)\n"),
    (["plan", "--stack", "dev", "--cluster", "dev-awz", "--no-resources"],
     "--cluster: dev-awz: no such cluster (did you mean 'dev-aws'?) (clusters: dev-aws, dev-gcp)\n"),
    (["cost", "--stack", "dev", "--cluster", "nope"], "--cluster: nope: no such cluster (clusters: dev-aws, dev-gcp)\n"),
    (["graph", "--format", "dot"], "graph: -: one of --stack NAME or --file PATH is required\n"),
    (["cost"], "cost: -: one of --stack NAME or --file PATH is required\n"),
    (["diff", "a"], "diff: -: give two synth directories (OLD_DIR NEW_DIR), or --against DIR with --stack/--file\n"),
    (["diff", "--against", "x"], "diff --against: -: one of --stack NAME or --file PATH is required\n"),
    (["graph", "--from", "nowhere"], "nowhere: -: no such directory (make one with `fleetform synth --out DIR`)\n"),
    (["synth", "--stack", "dev", "--out", "README.md"], "--out: README.md: exists and is not a directory\n"),
])
def test_bad_command_lines_exit_2_with_one_line_each(args: list[str], stderr: str) -> None:
    out = fleetform(*args)
    assert (out.returncode, out.stdout, out.stderr) == (2, "", stderr)


@pytest.mark.parametrize("args", [["synth", "--stack", "dev"], ["inventory", "--stack", "dev"],
                                  ["graph", "--stack", "dev", "--format", "svg"], ["nosuch"]])
def test_usage_errors_exit_2(args: list[str]) -> None:
    out = fleetform(*args)
    assert out.returncode == 2
    assert out.stderr.startswith("usage: fleetform")
    no_traceback(out)


def _on_a_terminal(*args: str, env: dict[str, str]) -> str:
    """Run with stdout and stderr on a pseudo-terminal; return what it printed."""
    master, slave = pty.openpty()
    base = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FLEETFORM_DEBUG")}
    proc = subprocess.Popen([sys.executable, "-m", "fleetform", *args], cwd=ROOT, stdout=slave, stderr=slave,
                            env={**base, "COLUMNS": "200", "TERM": "xterm-256color", **env})
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=300)
    os.close(master)
    assert proc.returncode == 0
    return b"".join(chunks).decode(errors="replace")


def test_colours_on_a_terminal_and_off_with_no_color() -> None:
    assert "\x1b[" in _on_a_terminal("plan", "--stack", "dev", "--no-resources", env={})
    plain = _on_a_terminal("plan", "--stack", "dev", "--no-resources", env={"NO_COLOR": "1"})
    assert not re.search(r"\x1b\[[0-9;]*m", plain)
    assert "dev-aws" in plain


# ------------------------------------------------------------------------------ schema


def test_schema_file_is_up_to_date() -> None:
    out = fleetform("schema")
    assert out.returncode == 0
    assert out.stdout == (ROOT / "docs" / "fleetform.schema.json").read_text(), (
        "docs/fleetform.schema.json is stale: run `fleetform schema -o docs/fleetform.schema.json`")


def test_example_stacks_carry_the_modeline_and_validate_against_the_schema() -> None:
    schema = json.loads((ROOT / "docs" / "fleetform.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    files = sorted((ROOT / "stacks").glob("*.yaml"))
    assert len(files) >= 4
    for path in files:
        assert path.read_text().splitlines()[0] == "# yaml-language-server: $schema=../docs/fleetform.schema.json"
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
        assert errors == [], path


def test_the_schema_catches_typos_enums_and_ranges() -> None:
    validator = jsonschema.Draft202012Validator(json.loads(fleetform("schema").stdout))
    bad = {"config": {"fleetform:fleet": {"clusters": [
        {"name": "a", "cloud": "azure", "regoin": "x", "etcd": {"members": 4},
         "workers": [{"name": "w", "min": -1}]}]}, "fleetform:bse": "fleet.yaml"}}
    found = {(tuple(str(p) for p in e.absolute_path), e.validator) for e in validator.iter_errors(bad)}
    where = "config", "fleetform:fleet", "clusters", "0"
    assert (where, "additionalProperties") in found  # regoin
    assert ((*where, "cloud"), "enum") in found
    assert ((*where, "etcd", "members"), "enum") in found
    assert ((*where, "workers", "0", "min"), "minimum") in found
    assert (("config",), "patternProperties") in found or (("config", "fleetform:bse"), "false") in found \
        or any(p == ("config",) for p, _ in found)


# ------------------------------------------------------------------------------ cost


def test_cost_is_per_cluster_summed_and_labelled_an_estimate() -> None:
    out = fleetform("cost", "--stack", "prod", "--json")
    data = json.loads(out.stdout)
    from fleetform.catalog.sizes import PRICES_AS_OF, PRICES_SOURCE

    assert data["estimate"] is True and (data["prices_as_of"], data["prices_source"]) == (PRICES_AS_OF, PRICES_SOURCE)
    assert len(data["clusters"]) == 7  # six clusters; edge-fra runs twice while it moves
    for key in ("etcd", "control_plane", "workers_min", "workers_max", "network", "total_min", "total_max"):
        assert data["total"][key] == pytest.approx(sum(c[key] for c in data["clusters"]))
    assert {"cluster": "eu-core", "pool": "memory", "machine_type": "r6i.xlarge"} in data["unpriced"]
    human = fleetform("cost", "--stack", "prod")
    assert "ESTIMATED monthly cost" in human.stdout and PRICES_AS_OF in human.stdout
    assert "r6i.xlarge has no list price" in human.stdout
    one = json.loads(fleetform("cost", "--stack", "prod", "--json", "--cluster", "edge-fra").stdout)
    assert [c["name"] for c in one["clusters"]] == ["edge-fra", "edge-fra@gcp-europe-west3"]


def test_docs_cost_md_has_the_current_price_table() -> None:
    from fleetform.cli.cost_report import prices_markdown

    assert prices_markdown() in (ROOT / "docs" / "cost.md").read_text(), (
        "docs/cost.md is stale: paste `fleetform.cli.cost_report.prices_markdown()` into it")
    out = fleetform("cost", "--prices", "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["machines"]


# ------------------------------------------------------------------------------ docs


def test_docs_describe_every_command_and_the_benchmark() -> None:
    cli = (ROOT / "docs" / "cli.md").read_text()
    for command in COMMANDS:
        assert f"## `fleetform {command}`" in cli, command
    bench = (ROOT / "docs" / "benchmarks.md").read_text()
    assert "| clusters | resources |" in bench
