"""`diff`, `graph` and `inventory` through the real entry point."""

from __future__ import annotations

import json
import re
import shutil
import stat
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from cli_support import ROOT, Runs, fleetform, no_traceback

# ------------------------------------------------------------------------------ diff


def test_diff_shows_an_added_cluster_and_flags_removed_etcd_members(runs: Runs) -> None:
    old, new = runs.dir("old"), runs.dir("new")
    out = fleetform("diff", str(old), str(new), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    status = {c["name"]: c["status"] for c in data["clusters"]}
    assert status["dev-aws2"] == "added"
    assert status["dev-aws"] == "changed"
    added = [r for r in data["resources"] if r["kind"] == "add"]
    assert added and all(r["cluster"] == "dev-aws2" for r in added)
    assert any(r["type"] == "aws:ec2/instance:Instance" and r["name"].endswith("etcd-etcd-0") for r in added)
    removed = {(r["type"], r["name"]): r for r in data["stateful_removals"]}
    for member in ("etcd-1", "etcd-2"):
        assert ("aws:ec2/instance:Instance", f"dev-aws-aws-eu-west-1-etcd-{member}") in removed
        volume = removed["aws:ebs/volume:Volume", f"dev-aws-aws-eu-west-1-etcd-{member}-data"]
        assert volume["stateful"] and "protect" in volume["why"]
    assert all(r["cluster"] == "dev-aws" for r in data["stateful_removals"])
    assert any("etcd data disk" in d and "DANGER" in d for d in data["dangers"])
    plan_changes = {c["name"]: c for c in data["clusters"]}["dev-aws"]["plan_changes"]
    assert {"path": "etcd.members", "old": 3, "new": 1} in plan_changes
    assert {d["path"] for d in data["bootstrap"] if d["kind"] == "remove"} == {
        "bootstrap/dev-aws/etcd-1.yaml", "bootstrap/dev-aws/etcd-2.yaml"}

    human = fleetform("diff", str(old), str(new))
    assert human.returncode == 0
    assert "cluster dev-aws2: added" in human.stdout
    assert "STATEFUL RESOURCES WOULD BE REMOVED" in human.stdout
    assert "!! STATEFUL" in human.stdout and "dev-aws-aws-eu-west-1-etcd-etcd-1-data" in human.stdout
    assert "\x1b[" not in human.stdout

    strict = fleetform("diff", str(old), str(new), "--strict")
    assert strict.returncode == 3


def test_diff_of_identical_synths_is_empty(runs: Runs) -> None:
    out = fleetform("diff", str(runs.dir("dev-a")), str(runs.dir("dev-b")), "--strict")
    assert (out.returncode, out.stderr) == (0, "")
    assert "no changes" in out.stdout


def test_diff_against_a_synth_dir_evaluates_the_stack(runs: Runs) -> None:
    against = runs.get("against")
    data = json.loads(against.stdout)
    dirs = json.loads(fleetform("diff", str(runs.dir("old")), str(runs.dir("new")), "--json").stdout)
    assert data["resources"] == dirs["resources"]
    assert data["clusters"] == dirs["clusters"]


def test_diff_rejects_what_is_not_a_synth_dir(tmp_path: Path, runs: Runs) -> None:
    out = fleetform("diff", str(tmp_path), str(runs.dir("dev-a")))
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        f"{tmp_path}/plan.json: -: missing: not a `fleetform synth` directory",
        f"{tmp_path}/resources.json: -: missing: not a `fleetform synth` directory",
    ]
    no_traceback(out)


# ------------------------------------------------------------------------------ graph


class _Checker(HTMLParser):
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> at {self.getpos()} closes {self.stack[-1:]}")
        else:
            self.stack.pop()


def test_graph_html_is_one_well_formed_self_contained_page(runs: Runs, tmp_path: Path) -> None:
    page = tmp_path / "fleet.html"
    out = fleetform("graph", "--from", str(runs.dir("prod")), "--format", "html", "-o", str(page))
    assert out.returncode == 0, out.stderr
    text = page.read_text()
    checker = _Checker()
    checker.feed(text)
    checker.close()
    assert checker.errors == [] and checker.stack == []
    assert text.startswith("<!DOCTYPE html>")
    assert "script" not in checker.tags and "link" not in checker.tags  # nothing loaded from elsewhere
    assert not re.search(r"\b(src|href)=", text)
    assert '<pre class="mermaid">flowchart TB' in text
    assert text.count("<svg") == 1
    for name in ("eu-core", "us-core", "eu-gke", "us-gcp", "edge-fra", "edge-iad"):
        assert f'id="cluster_{name.replace("-", "_")}"' in text  # in the picture
        assert f">{name}</td>" in text  # in the table


def test_graph_mermaid_groups_clusters_by_cloud_and_region(runs: Runs) -> None:
    out = fleetform("graph", "--from", str(runs.dir("prod")))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "flowchart TB"
    assert lines[1].startswith("  root([")  # the identity root first
    assert '  subgraph cloud_aws["AWS"]' in lines and '  subgraph cloud_gcp["GCP"]' in lines
    assert '    subgraph region_aws_eu_west_1["eu-west-1"]' in lines
    assert any(ln.startswith("      subgraph cluster_eu_core[") for ln in lines)
    assert "        eu_core_control_plane --> eu_core_etcd" in lines
    assert "  root -. trust .-> eu_core_identity" in lines
    # subgraph/end balance
    assert sum(ln.strip().startswith("subgraph ") for ln in lines) == sum(ln.strip() == "end" for ln in lines)


def test_graph_dot_from_the_stack_without_a_program_run(runs: Runs, tmp_path: Path) -> None:
    out = runs.get("graph-dev-dot")
    assert out.stdout.startswith('digraph "fleet acme" {')
    assert out.stdout.count("{") == out.stdout.count("}")
    assert "subgraph cluster_cloud_aws" in out.stdout and "cylinder" in out.stdout
    assert "resources)" not in out.stdout  # --no-resources: no program run, no counts
    if shutil.which("dot"):
        svg = subprocess.run(["dot", "-Tsvg"], input=out.stdout, capture_output=True, text=True, check=False)
        assert svg.returncode == 0, svg.stderr
        assert "<svg" in svg.stdout


def test_graph_without_resources_is_fast_and_still_complete() -> None:
    out = fleetform("graph", "--stack", "prod", "--no-resources", "--format", "mermaid")
    assert out.returncode == 0, out.stderr
    assert "resources)" not in out.stdout
    # One box per incarnation: six clusters, edge-fra twice while it moves.
    assert out.stdout.count("subgraph cluster_") == 7
    assert "subgraph cluster_edge_fra_gcp_europe_west3" in out.stdout
    assert out.stdout.count("root -. trust .-> edge_fra_") == 2


# ------------------------------------------------------------------------------ inventory


def _inventory(*args: str, **kw: object) -> dict:  # type: ignore[type-arg]
    out = fleetform("inventory", *args, **kw)  # type: ignore[arg-type]
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_inventory_list_has_ansibles_structure() -> None:
    inv = _inventory("--stack", "prod", "--list")
    plan = json.loads(fleetform("plan", "--stack", "prod", "--json", "--no-resources").stdout)
    hostvars = inv["_meta"]["hostvars"]
    grouped: set[str] = set()
    for name, group in inv.items():
        if name == "_meta":
            continue
        assert set(group) <= {"hosts", "vars", "children"}, name
        assert isinstance(group.get("hosts", []), list)
        assert all(child in inv for child in group.get("children", [])), name
        grouped |= set(group.get("hosts", []))
    assert grouped == set(hostvars)  # every host is in a group, every grouped host has vars
    assert "ungrouped" in inv["all"]["children"]
    for role in ("etcd", "kube_control_plane", "kube_node"):
        assert role in inv["all"]["children"]
    for c in plan["clusters"]:
        label = c["name"] if c["serving"] else c["key"]  # a moving cluster's other incarnation
        g = label.replace("-", "_")
        assert inv[g]["children"] == [f"{g}_etcd", f"{g}_kube_control_plane", f"{g}_kube_node"]
        assert inv[g]["vars"]["fleetform_incarnation"] == c["key"]
        etcd_hosts = inv[f"{g}_etcd"]["hosts"]
        assert etcd_hosts == [f"{label}-{m}" for m in c["etcd"]["member_names"]]
        for host, ip, zone in zip(etcd_hosts, c["etcd"]["ips"], c["etcd"]["zones"], strict=True):
            hv = hostvars[host]
            assert (hv["private_ip"], hv["ansible_host"], hv["zone"]) == (ip, ip, zone)
            assert (hv["cloud"], hv["region"]) == (c["cloud"], c["region"])
            assert host in inv["etcd"]["hosts"] and host in inv[c["cloud"]]["hosts"]
        for i in range(c["control_plane"]["replicas"]):
            host = f"{c['name']}-cp-{i}"
            assert host in inv["kube_control_plane"]["hosts"]
            assert hostvars[host]["private_ip"] is None and "ansible_host" not in hostvars[host]
        pools = inv[f"{g}_kube_node"]["vars"]["fleetform_pools"]
        assert list(pools) == [p["name"] for p in c["workers"]]


def test_inventory_host_and_outputs(runs: Runs) -> None:
    outputs = runs.dir("dev-a") / "outputs.json"  # shaped like `pulumi stack output --json`
    inv = _inventory("--stack", "dev", "--list", "--outputs", str(outputs))
    clusters = json.loads(outputs.read_text())["clusters"]
    cp = inv["_meta"]["hostvars"]["dev-aws-cp-0"]
    assert cp["private_ip"] == cp["ansible_host"] == clusters["dev-aws"]["control_plane"]["cp-0"]["private_ip"]
    assert cp["private_ip_source"] == "outputs"
    # A pool's groups by scope: AWS one Auto Scaling group over the region's zones, GCP
    # one zonal managed instance group per zone.
    aws_groups = inv["dev_aws_kube_node"]["vars"]["fleetform_pools"]["general"]["groups"]
    assert list(aws_groups) == [clusters["dev-aws"]["region"]] and all(aws_groups.values())
    gcp_groups = inv["dev_gcp_kube_node"]["vars"]["fleetform_pools"]["general"]["groups"]
    assert list(gcp_groups) == clusters["dev-gcp"]["workers"]["general"]["zones"]
    assert all(f"/zones/{z}/instanceGroupManagers/" in i for z, i in gcp_groups.items())
    one = _inventory("--stack", "dev", "--host", "dev-gcp-etcd-0")
    assert one == _inventory("--stack", "dev", "--list")["_meta"]["hostvars"]["dev-gcp-etcd-0"]
    # The synth directory carries the same inventory as the command.
    assert json.loads((runs.dir("dev-a") / "inventory.json").read_text()) == _inventory("--stack", "dev", "--list")


def test_inventory_outputs_address_both_incarnations_of_a_moving_cluster(runs: Runs) -> None:
    """prod's edge-fra moves: the serving incarnation's hosts take their addresses from the
    `clusters` output, the target's (named by its incarnation key) from `incarnations`."""
    outputs_file = runs.dir("prod") / "outputs.json"
    outputs = json.loads(outputs_file.read_text())
    [target] = [k for k, inc in outputs["incarnations"].items() if inc["cluster"] == "edge-fra" and not inc["serving"]]
    inv = _inventory("--stack", "prod", "--list", "--outputs", str(outputs_file))
    hostvars = inv["_meta"]["hostvars"]
    for label, source in (("edge-fra", outputs["clusters"]["edge-fra"]), (target, outputs["incarnations"][target])):
        for replica, info in source["control_plane"].items():
            hv = hostvars[f"{label}-{replica}"]
            assert hv["private_ip"] == hv["ansible_host"] == info["private_ip"]
            assert hv["private_ip_source"] == "outputs"
    out = fleetform("inventory", "--stack", "prod", "--list", "--outputs", str(outputs_file))
    assert out.returncode == 0 and "not in the stack outputs" not in out.stderr, out.stderr


def test_inventory_reads_the_stack_from_the_environment() -> None:
    inv = _inventory("--list", env={"FLEETFORM_STACK": "dev"})
    assert set(inv["_meta"]["hostvars"]) == {"dev-aws-etcd-0", "dev-aws-cp-0", "dev-gcp-etcd-0", "dev-gcp-cp-0"}


def test_inventory_bad_input(tmp_path: Path) -> None:
    out = fleetform("inventory", "--stack", "dev", "--host", "dev-aws-etcd-9")
    assert out.returncode == 2
    assert out.stderr == "--host: dev-aws-etcd-9: no such host (did you mean 'dev-aws-etcd-0'?) (4 hosts; see --list)\n"
    bad = tmp_path / "outputs.json"
    bad.write_text("{not json")
    out = fleetform("inventory", "--stack", "dev", "--list", "--outputs", str(bad))
    assert out.returncode == 2
    assert out.stderr.startswith(f"{bad}: line 1, column 2: not JSON: ")
    bad.write_text('{"fleet": "acme"}')
    out = fleetform("inventory", "--stack", "dev", "--list", "--outputs", str(bad))
    assert (out.returncode, out.stderr.split(": ", 2)[:2]) == (2, [str(bad), "clusters"])
    no_traceback(out)


@pytest.mark.skipif(not shutil.which("ansible-inventory"), reason="ansible-inventory is not installed")
def test_real_ansible_reads_the_inventory(tmp_path: Path) -> None:
    script = tmp_path / "fleet.sh"
    script.write_text(f"#!/bin/sh\ncd {ROOT} && exec {sys.executable} -m fleetform inventory --stack prod \"$@\"\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    out = subprocess.run(["ansible-inventory", "-i", str(script), "--list"], capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert "eu-core-etcd-0" in data["_meta"]["hostvars"]
    assert "eu-core-etcd-0" in data["eu_core_etcd"]["hosts"]
