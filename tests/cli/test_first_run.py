"""What a new user meets first, through the real entry point: a plan that fits the
terminal, a diff that says what `pulumi up` would do, errors that say where a value came
from, a CLI that explains itself, and a graph whose counts match the plan."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from cli_support import ROOT, Runs, fleetform, no_traceback

# ------------------------------------------------------------------------------ plan


def _prod_plan() -> dict:  # type: ignore[type-arg]
    out = fleetform("plan", "--stack", "prod", "--no-resources", "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize("width", [80, 120])
def test_plan_fits_the_terminal_and_cuts_nothing(runs: Runs, width: int) -> None:
    out = runs.get(f"plan-prod-{width}")
    lines = out.stdout.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= width, out.stdout
    assert "…" not in out.stdout  # never an ellipsis
    words = set(out.stdout.split())
    for c in _prod_plan()["clusters"]:
        for cidr in (c["network"]["node_cidr"], c["network"]["pod_cidr"], c["network"]["service_cidr"]):
            assert cidr in words, (cidr, out.stdout)
        assert c["region"] in words and c["context"] in out.stdout
        for p in c["workers"]:
            assert f"{p['name']} {p['min']}-{p['max']}×{p['machine_type']}" in out.stdout


def test_prod_plan_fits_one_screen_at_120_columns(runs: Runs) -> None:
    out = runs.get("plan-prod-120")
    lines = out.stdout.splitlines()
    assert len(lines) <= 50, out.stdout  # a 120x50 terminal
    # The table, the cost, the warnings, one line of counts per cluster, the verdict.
    assert lines[0].strip() == "fleet acme · stack prod"
    assert "Estimated cost:" in out.stdout
    assert "warning: cluster 'edge-fra' is moving" in out.stdout
    assert "policy: no violations" in out.stdout
    # No resource tree: that is --tree.
    assert "aws:ec2/instance:Instance ×" not in out.stdout


def _count_lines(stdout: str) -> dict[str, tuple[int, dict[str, int]]]:
    """{cluster context: (total, {group: n})} from plan's resource lines."""
    found = {}
    for line in stdout.splitlines():
        m = re.match(r"^  (\S+)\s+(\d+)  (.*)$", line)
        if m:
            groups = dict((g.rsplit(" ", 1)[0], int(g.rsplit(" ", 1)[1])) for g in m.group(3).split(" · "))
            found[m.group(1)] = (int(m.group(2)), groups)
    return found


def test_plan_prints_one_line_of_counts_per_cluster(runs: Runs) -> None:
    counts = _count_lines(runs.get("plan-prod-120").stdout)
    contexts = [c["context"] for c in _prod_plan()["clusters"]]
    assert list(counts) == [*contexts, "fleet-wide"]
    # Both incarnations of a moving cluster count their own resources.
    assert counts["edge-fra"][0] != counts["edge-fra@gcp-europe-west3"][0]
    assert all(total == sum(groups.values()) for total, groups in counts.values())


def test_plan_cost_total_names_what_it_leaves_out(runs: Runs) -> None:
    out = runs.get("plan-prod-120").stdout
    unpriced = [(c["context"], p) for c in _prod_plan()["clusters"] for p in c["workers"]
                if p["machine_type"] == "r6i.xlarge"]
    assert unpriced, "prod has a pool with an explicit machine type outside the price table"
    text = " ".join(out.split())
    for context, p in unpriced:
        assert f"the total leaves out {context} pool {p['name']} ({p['machine_type']})" in text


def test_plan_tree_is_behind_a_flag(runs: Runs) -> None:
    out = runs.get("plan-dev")  # --tree
    assert "aws:ec2/instance:Instance × 1" in out.stdout
    assert "policy: no violations" in out.stdout


# ------------------------------------------------------------------------------ diff


def test_diff_shows_a_frozen_member_change_as_pending(runs: Runs) -> None:
    out = runs.get("diff-bigger-etcd").stdout
    text = " ".join(out.split())
    assert "cluster dev-aws: pending" in text
    assert "pending: inputs.instanceType → list etcd-0 in etcd.roll of cluster 'dev-aws'" in text
    assert "0 to add, 0 to change, 0 moved, 0 to remove; 1 pending" in text


def test_diff_ignores_dependency_only_differences(runs: Runs) -> None:
    out = runs.get("diff-added").stdout
    assert "cluster dev-aws2: added" in out
    assert "cluster dev-aws:" not in out and "cluster dev-gcp:" not in out  # untouched
    assert "(dependencies)" not in out
    # The one change: the upgrade gate records the new cluster's version (state only).
    assert re.search(r"summary: \d+ to add, 1 to change, 0 moved, 0 to remove", out), out
    assert "~ pulumi-python:dynamic:Resource  acme-upgrades  fleet  (inputs.versions)" in out


def test_diff_removal_is_one_danger_line_per_cluster_with_the_advice_once(runs: Runs) -> None:
    out = runs.get("diff-dropped").stdout
    text = " ".join(out.split())
    dangers = re.findall(r"DANGER: ", out)
    assert len(dangers) == 1, out
    assert ("DANGER: cluster 'dev-gcp': `pulumi up` would remove the whole cluster, 1 etcd member, "
            "1 etcd data disk; the disks are protected") in text
    assert text.count("decommission: true") == 1
    assert "!! STATEFUL:" not in out  # the removed cluster's resources are summarised, not listed
    # (+3 fleet-wide lines since GCP federation holds one custom role per in-cluster controller.)
    assert len(out.splitlines()) <= 45, out


# ------------------------------------------------------------------------------ errors


def _stack(tmp_path: Path, fleet: str, *, base: str | None = "fleet.yaml", name: str = "t") -> str:
    stacks = tmp_path / "stacks"
    stacks.mkdir(exist_ok=True)
    (stacks / "fleet.yaml").write_text((ROOT / "stacks" / "fleet.yaml").read_text())
    head = f"  fleetform:base: {base}\n" if base else ""
    (stacks / f"Pulumi.{name}.yaml").write_text(f"config:\n{head}  fleetform:fleet:\n{fleet}")
    return f"stacks/Pulumi.{name}.yaml"


def _errors(tmp_path: Path, path: str) -> list[str]:
    out = fleetform("validate", "--file", path, cwd=tmp_path)
    assert out.returncode == 2, out.stdout
    no_traceback(out)
    return out.stderr.splitlines()


def test_an_inherited_size_is_named_with_the_fix(tmp_path: Path) -> None:
    path = _stack(tmp_path, "    clusters:\n      - {name: a, cloud: aws, region: eu-west-1, network: {index: 1},\n"
                            "         workers: [{name: general, machine_type: r6i.xlarge}]}\n")
    assert _errors(tmp_path, path) == [
        f"{path}: fleet.clusters[0].workers[0].machine_type: give either size or machine_type, not both: "
        'size came from stacks/fleet.yaml: fleet.defaults.workers[0]; add "size: null" to this pool to '
        "override it"]
    fixed = _stack(tmp_path, "    clusters:\n      - {name: a, cloud: aws, region: eu-west-1, network: {index: 1},\n"
                             "         workers: [{name: general, machine_type: r6i.xlarge, size: null}]}\n",
                   name="fixed")
    assert fleetform("validate", "--file", fixed, cwd=tmp_path).returncode == 0


def test_a_cidr_clash_is_reported_where_it_was_written(tmp_path: Path) -> None:
    # 'zeta' keeps its slot; 'alpha' (sorted first) writes a node CIDR inside it.
    path = _stack(tmp_path, "    clusters:\n"
                            "      - {name: zeta, cloud: aws, region: eu-west-1, network: {index: 5}}\n"
                            "      - {name: alpha, cloud: aws, region: eu-west-1,\n"
                            "         network: {node_cidr: 10.5.128.0/18, pod_cidr: 10.200.0.0/17,"
                            " service_cidr: 10.201.0.0/20}}\n")
    errors = _errors(tmp_path, path)
    assert errors == [f"{path}: fleet.clusters[1].network.node_cidr: 10.5.128.0/18 overlaps the node cidr "
                      "10.5.128.0/18 of cluster 'zeta'"], errors


def test_unknown_profile_lists_the_known_ones(tmp_path: Path) -> None:
    path = _stack(tmp_path, "    clusters:\n      - {name: a, cloud: aws, region: eu-west-1, profiles: [edgy]}\n")
    assert _errors(tmp_path, path) == [
        f"{path}: fleet.clusters[0].profiles[0]: unknown profile 'edgy' (did you mean 'edge'?) (profiles: edge, ha)"]


def test_a_numeric_version_says_quote_it(tmp_path: Path) -> None:
    path = _stack(tmp_path, "    clusters:\n      - {name: a, cloud: aws, region: eu-west-1, kubernetes_version: 1.30}\n")
    [error] = _errors(tmp_path, path)
    assert error.startswith(f"{path}: fleet.clusters[0].kubernetes_version: expected a string, got the number 1.3: "
                            'quote it, like kubernetes_version: "1.37"'), error


@pytest.mark.parametrize("text, where, words", [
    ("config:\n  fleetform:fleet:\n\tname: a\n", "line 3, column 1",
     "a tab character: YAML indents with spaces only; replace the tab with spaces"),
    ("config:\n  fleetform:fleet:\n    name: a\n   domain: b\n", "line 4, column 4",
     "this line starts at column 4, which lines up with no block above it"),
    ("config:\n  fleetform:fleet:\n    clusters:\n      name: a\n      - b\n", "line 5, column 7",
     "a list item ('- ') where the block that starts on line 4 holds keys"),
])
def test_yaml_layout_errors_in_plain_words(tmp_path: Path, text: str, where: str, words: str) -> None:
    (tmp_path / "Pulumi.y.yaml").write_text(text)
    [error] = _errors(tmp_path, "Pulumi.y.yaml")
    assert error.startswith(f"Pulumi.y.yaml: {where}: YAML syntax error: {words}"), error
    assert "<block" not in error and "token" not in error


def test_a_missing_base_file_names_the_key_and_the_file(tmp_path: Path) -> None:
    path = _stack(tmp_path, "    clusters: []\n", base="fleet-base.yaml")
    assert _errors(tmp_path, path) == [
        f"{path}: config.fleetform:base: the base file 'fleet-base.yaml' does not exist "
        "(looked for stacks/fleet-base.yaml); fix the name or remove fleetform:base"]


# ------------------------------------------------------------------------------ the CLI itself


def test_version() -> None:
    out = fleetform("--version")
    assert out.returncode == 0
    assert re.fullmatch(r"fleetform \d+\.\d+\.\d+ \(Python 3\.\d+\.\d+, Pulumi SDK [\d.]+\)\n", out.stdout), out.stdout


def test_bare_fleetform_prints_help() -> None:
    out = fleetform()
    assert out.returncode == 0 and out.stderr == ""
    assert out.stdout.startswith("usage: fleetform")
    assert "validate" in out.stdout and "plan" in out.stdout


def _commands() -> list[list[str]]:
    from fleetform.cli.main import build_parser

    found: list[list[str]] = []

    def walk(parser: object, prefix: list[str]) -> None:
        for action in parser._actions:  # type: ignore[attr-defined]
            if action.__class__.__name__ == "_SubParsersAction":
                for name, sub in action.choices.items():
                    found.append([*prefix, name])
                    walk(sub, [*prefix, name])

    walk(build_parser(), [])
    return found


def test_every_command_has_help_with_examples() -> None:
    commands = _commands()
    assert ["kubeconfig"] in commands and ["migrate", "plan"] in commands
    for command in commands:
        out = fleetform(*command, "--help")
        assert out.returncode == 0, command
        text = out.stdout
        description = text.split("\n\n")[1]
        assert not description.startswith(("positional", "options")), f"{command}: no description"
        assert "\nexamples:\n  fleetform " + " ".join(command) in text, f"{command}: no examples\n{text}"


@pytest.mark.parametrize("args", [["--stack", "dev", "--stack", "prod"], ["--file", "a.yaml", "--file", "b.yaml"]])
def test_a_repeated_source_is_an_error(args: list[str]) -> None:
    out = fleetform("validate", *args)
    assert out.returncode == 2
    assert f"{args[0]} given twice ({args[1]!r} and {args[3]!r}): give it once" in out.stderr


# ------------------------------------------------------------------------------ graph


def test_graph_counts_match_plan(runs: Runs) -> None:
    page = runs.get("graph-prod-html").stdout
    plan_counts = _count_lines(runs.get("plan-prod-120").stdout)
    for context, (total, groups) in plan_counts.items():
        if context == "fleet-wide":
            assert f"({total} resources)" in page
            continue
        cell = re.search(rf"<td rowspan=\"\d+\">{re.escape(context)}</td>.*?<td [^>]*class=\"counts\">(\d+)"
                         r"<br/><small>([^<]*)</small>", page, re.DOTALL)
        assert cell is not None, context
        assert int(cell.group(1)) == total
        assert cell.group(2) == ", ".join(f"{g} {n}" for g, n in groups.items())
        assert f"{total} resources" in page  # in the drawing's cluster box too


def test_graph_draws_moves_and_costs_and_keeps_text_inside_boxes(runs: Runs) -> None:
    page = runs.get("graph-prod-html").stdout
    assert 'class="move"' in page and "moving (prepare): edge-fra → edge-fra@gcp-europe-west3" in page
    for c in _prod_plan()["clusters"]:
        assert f"{c['cost']['total_min']:,.0f}–{c['cost']['total_max']:,.0f} USD/month" in page
        for zone in c["etcd"]["zones"]:
            assert zone in page
    assert 'width="100%"' in page  # the drawing takes the page's width
    # Every text line fits its box (SVG text does not wrap: the renderer wraps it).
    from fleetform.cli.graph_render import _BOX_W, _GLYPH

    for size, cls in ((13, "title"), (11, "plane-title"), (10, "plane-detail")):
        for text in re.findall(rf'<text class="{cls}"[^>]*>(.*?)</text>', page):
            for span in re.findall(r"<tspan[^>]*>(.*?)</tspan>", text):
                assert len(span) * _GLYPH[size] <= _BOX_W - 20, span


@pytest.mark.parametrize("fmt, edge", [
    ("mermaid", 'cluster_edge_fra ==>|"moving (prepare)"| cluster_edge_fra_gcp_europe_west3'),
    ("dot", 'edge_fra_control_plane -> edge_fra_gcp_europe_west3_control_plane [style=bold, color="#cf222e", '
            'label="moving (prepare)"'),
])
def test_mermaid_and_dot_draw_the_move(fmt: str, edge: str) -> None:
    out = fleetform("graph", "--stack", "prod", "--format", fmt, "--no-resources")
    assert out.returncode == 0, out.stderr
    assert edge in out.stdout


def test_graph_html_renders_in_a_real_svg_renderer(runs: Runs, tmp_path: Path) -> None:
    """The drawing parses as SVG and renders (librsvg), when rsvg-convert is installed."""
    import shutil

    if shutil.which("rsvg-convert") is None:
        pytest.skip("rsvg-convert is not installed (Debian librsvg2-bin)")
    page = runs.get("graph-prod-html").stdout
    svg = re.search(r"<svg.*?</svg>", page, re.DOTALL)
    assert svg is not None
    (tmp_path / "fleet.svg").write_text(svg.group(0).replace('width="100%"', 'width="1200"', 1))
    out = subprocess.run(["rsvg-convert", "-w", "1200", str(tmp_path / "fleet.svg"), "-o", str(tmp_path / "fleet.png")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "fleet.png").stat().st_size > 10_000
