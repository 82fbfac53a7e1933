"""`plan` and `synth` through the real entry point, on the example stacks."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from cli_support import ROOT, Runs

RESOURCE_FIELDS = ["urn", "type", "name", "parent", "provider", "dependencies", "inputs"]


def tree(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------ plan


def test_plan_human_view_has_table_tree_and_policy(runs: Runs) -> None:
    out = runs.get("plan-dev")  # --tree
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "\x1b[" not in text  # not a terminal: no colours
    for expected in ("fleet acme · stack dev", "dev-aws", "dev-gcp", "10.1.128.0/18", "10.1.0.0/17", "10.1.192.0/20",
                     "Estimated cost:", "an estimate"):
        assert expected in text
    # The tree: fleet -> cluster -> plane -> counts by type.
    assert "fleet acme · stack dev · " in text and " resources" in text
    assert "dev-aws · aws eu-west-1 · " in text
    for plane in ("etcd · ", "control-plane · ", "network · ", "workers/general · ", "fleet-wide · "):
        assert plane in text
    assert "aws:ec2/instance:Instance × 1" in text
    assert "gcp:compute/instance:Instance × 1" in text
    assert "policy: no violations" in text
    assert "warning: cluster 'dev-aws': a single etcd member has no redundancy" in text


def test_plan_json_has_the_resource_graph_with_exact_fields(runs: Runs) -> None:
    out = runs.get("plan-dev-json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [c["name"] for c in data["clusters"]] == ["dev-aws", "dev-gcp"]
    resources = data["resources"]
    assert resources and all(list(r) == RESOURCE_FIELDS for r in resources)
    by_urn = {r["urn"]: r for r in resources}
    assert len(by_urn) == len(resources)
    for r in resources:
        assert r["parent"] is None or r["parent"] in by_urn
        assert r["provider"] is None or (r["provider"] in by_urn and ":providers:" in r["provider"])
        assert all(d in by_urn for d in r["dependencies"])
    # Every AWS/GCP resource has an explicit provider; secrets are masked.
    for r in resources:
        if r["type"].startswith(("aws:", "gcp:")):
            assert r["provider"], r["urn"]
    assert "PRIVATE KEY" not in out.stdout
    keys = [r for r in resources if r["type"] == "tls:index/privateKey:PrivateKey"]
    assert keys
    assert data["policy"] == []
    # The same records as `synth`'s resources.json (which adds the resource options).
    synth = json.loads((runs.dir("dev-a") / "resources.json").read_text())
    assert [{k: r[k] for k in RESOURCE_FIELDS} for r in synth] == resources


def test_plan_json_cluster_focus_filters_plan_and_resources(runs: Runs) -> None:
    out = runs.get("plan-dev-aws-json")
    data = json.loads(out.stdout)
    assert [c["name"] for c in data["clusters"]] == ["dev-aws"]
    names = [r["name"] for r in data["resources"]]
    assert names and all("dev-aws" in n for n in names)
    assert not any("dev-gcp" in n for n in names)
    assert any(r["type"] == "aws:ec2/instance:Instance" for r in data["resources"])


# ------------------------------------------------------------------------------ synth


def test_synth_writes_the_reviewable_artifact(runs: Runs) -> None:
    out = runs.get("dev-a")
    assert "wrote " in out.stdout and "bootstrap/ (6 documents)" in out.stdout
    d = runs.dir("dev-a")
    files = set(tree(d))
    assert {"plan.json", "resources.json", "outputs.json", "inventory.json", "kubeconfig.yaml"} <= files
    assert {f for f in files if f.startswith("bootstrap/")} == {
        f"bootstrap/{c}/{role}.yaml" for c in ("dev-aws", "dev-gcp") for role in ("etcd-0", "cp-0", "worker-general")}
    for name, content in tree(d).items():
        assert b"PRIVATE KEY-----" not in content, name
    plan = json.loads((d / "plan.json").read_text())
    assert plan["stack"] == "dev" and len(plan["clusters"]) == 2
    for doc in (d / "bootstrap").rglob("*.yaml"):
        text = doc.read_text()
        assert text.startswith("#cloud-config\n"), doc
        assert isinstance(yaml.safe_load(text), dict)
    etcd = (d / "bootstrap" / "dev-aws" / "etcd-0.yaml").read_text()
    assert "name: etcd-0" in etcd and "10.1.128.10" in etcd  # decoded from gzip+base64 user-data
    kubeconfig = yaml.safe_load((d / "kubeconfig.yaml").read_text())
    assert {c["name"] for c in kubeconfig["clusters"]} >= {"dev-aws", "dev-gcp"}
    outputs = json.loads((d / "outputs.json").read_text())
    assert outputs["kubeconfig"] == "[secret]"
    assert set(outputs["clusters"]) == {"dev-aws", "dev-gcp"}


def test_synth_is_deterministic(runs: Runs) -> None:
    a, b = tree(runs.dir("dev-a")), tree(runs.dir("dev-b"))
    assert sorted(a) == sorted(b)
    different = [name for name in a if a[name] != b[name]]
    assert different == []


def test_synth_prod_has_one_document_per_member_replica_and_pool(runs: Runs) -> None:
    d = runs.dir("prod")
    plan = json.loads((d / "plan.json").read_text())
    expected = set()
    for c in plan["clusters"]:
        folder = c["context"]  # `<cluster>`, or `<cluster>@<cloud>-<region>` for a move's other incarnation
        expected |= {f"bootstrap/{folder}/{m}.yaml" for m in c["etcd"]["member_names"]}
        expected |= {f"bootstrap/{folder}/cp-{i}.yaml" for i in range(c["control_plane"]["replicas"])}
        expected |= {f"bootstrap/{folder}/worker-{p['name']}.yaml" for p in c["workers"]}
    assert "edge-fra@gcp-europe-west3" in {c["context"] for c in plan["clusters"]}
    assert {f for f in tree(d) if f.startswith("bootstrap/")} == expected
    resources = json.loads((d / "resources.json").read_text())
    assert sum(1 for r in resources if r["protect"]) >= sum(c["etcd"]["members"] for c in plan["clusters"])


def test_synth_replaces_its_own_files_and_keeps_others(tmp_path: Path, runs: Runs) -> None:
    from fleetform.engine.synth import write_synth

    out = tmp_path / "out"
    (out / "bootstrap" / "gone-cluster").mkdir(parents=True)
    (out / "bootstrap" / "gone-cluster" / "etcd-0.yaml").write_text("stale")
    (out / "README.md").write_text("mine")
    files = {name: content.decode() for name, content in tree(runs.dir("dev-a")).items()}
    write_synth(out, files)
    assert not (out / "bootstrap" / "gone-cluster").exists()
    assert (out / "README.md").read_text() == "mine"
    assert {k: v for k, v in tree(out).items() if k != "README.md"} == tree(runs.dir("dev-a"))


def test_commands_find_the_project_from_a_subdirectory() -> None:
    from cli_support import fleetform

    out = fleetform("plan", "--stack", "dev", "--json", "--no-resources", cwd=ROOT / "docs")
    assert out.returncode == 0, out.stderr
    assert [c["name"] for c in json.loads(out.stdout)["clusters"]] == ["dev-aws", "dev-gcp"]


# ------------------------------------------------------------------------------ plan --against


def _flagged(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("!!")]


def test_plan_against_flags_removed_etcd_members_and_disks(runs: Runs) -> None:
    out = runs.get("plan-against-members")
    assert out.returncode == 0, out.stderr  # without --strict: a warning, not a failure
    data = json.loads(out.stdout)  # stdout stays the plan's JSON
    flagged = _flagged(out.stderr)
    assert flagged[0].startswith("!! STATEFUL RESOURCES WOULD BE REMOVED compared to ")
    for member in ("etcd-1", "etcd-2"):
        disk = f"dev-aws-aws-eu-west-1-etcd-{member}-data"
        assert any(line.startswith("!! STATEFUL: - aws:ebs/volume:Volume") and disk in line
                   and "protect" in line for line in flagged), out.stderr
        assert any("DANGER: etcd data disk" in line and disk in line for line in flagged), out.stderr
        assert any("DANGER: etcd member" in line and line.rstrip().count(member) for line in flagged)
    assert "--strict makes this exit 3" in flagged[-1]
    against = data["against"]
    assert against["dir"] == str(runs.dir("old"))
    removed = {r["name"] for r in against["stateful_removals"]}
    assert {"dev-aws-aws-eu-west-1-etcd-etcd-1-data", "dev-aws-aws-eu-west-1-etcd-etcd-2-data"} <= removed
    assert all(r["cluster"] == "dev-aws" and r["stateful"] for r in against["stateful_removals"])
    assert any("etcd data disk" in d for d in against["dangers"])
    assert [c["name"] for c in data["clusters"]] == ["dev-aws", "dev-gcp", "dev-aws2"]


def test_plan_against_strict_exits_3_when_a_cluster_is_dropped(runs: Runs) -> None:
    out = runs.get("plan-against-dropped")
    assert out.returncode == 3, out.stderr
    assert "dev-gcp" not in out.stdout.split("Estimated cost:")[0]  # the plan itself is printed
    flagged = _flagged(out.stderr)
    assert any("DANGER: cluster 'dev-gcp'" in line and "protected etcd data disk" in line for line in flagged)
    assert any("DANGER: etcd data disk" in line and "dev-gcp" in line for line in flagged)
    assert any(line.startswith("!! STATEFUL: - gcp:compute/disk:Disk") and "dev-gcp" in line
               and "(cluster dev-gcp, etcd)" in line for line in flagged), out.stderr
    assert "exit 3 (--strict)" in flagged[-1]
    assert "Traceback" not in out.stderr


def test_plan_against_without_removals_is_quiet(runs: Runs) -> None:
    out = runs.get("plan-against-same")
    assert out.returncode == 0, out.stderr
    assert "!!" not in out.stderr and "STATEFUL" not in out.stderr
    assert json.loads(out.stdout)["against"] == {"dir": str(runs.dir("dev-a")), "stateful_removals": [],
                                                "dangers": []}


def test_plan_against_rejects_what_is_not_a_synth_dir_in_one_line(tmp_path: Path) -> None:
    from cli_support import fleetform, no_traceback

    missing = tmp_path / "nope"
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "resources.json").write_text("{not json")
    listing = tmp_path / "listing"
    listing.mkdir()
    (listing / "resources.json").write_text('{"resources": 1}')
    cases = {
        missing: f"{missing}: -: no such directory (make one with `fleetform synth --out DIR`)",
        tmp_path: f"{tmp_path}: -: not a `fleetform synth` directory: no resources.json "
                  "(make one with `fleetform synth --out DIR`)",
        garbage: f"{garbage}/resources.json: -: cannot read: ",
        listing: f"{listing}/resources.json: -: expected a list of resources with urn and type",
    }
    for directory, line in cases.items():
        out = fleetform("plan", "--stack", "dev", "--against", str(directory), "--strict")
        assert out.returncode == 2, (directory, out.stderr)
        assert len(out.stderr.splitlines()) == 1 and out.stderr.startswith(line), out.stderr
        assert out.stdout == ""
        no_traceback(out)
    for args, line in ((["--against", str(tmp_path), "--no-resources"],
                        f"--against: {tmp_path}: needs the program run: drop --no-resources"),
                       (["--strict"], "--strict: -: goes with --against DIR")):
        out = fleetform("plan", "--stack", "dev", *args)
        assert (out.returncode, out.stderr.strip()) == (2, line)
