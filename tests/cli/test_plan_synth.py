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
    out = runs.get("plan-dev")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "\x1b[" not in text  # not a terminal: no colours
    for expected in ("fleet acme · stack dev", "dev-aws", "dev-gcp", "10.1.128.0/18 / 10.1.0.0/17 / 10.1.192.0/20",
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
        expected |= {f"bootstrap/{c['name']}/{m}.yaml" for m in c["etcd"]["member_names"]}
        expected |= {f"bootstrap/{c['name']}/cp-{i}.yaml" for i in range(c["control_plane"]["replicas"])}
        expected |= {f"bootstrap/{c['name']}/worker-{p['name']}.yaml" for p in c["workers"]}
    assert {f for f in tree(d) if f.startswith("bootstrap/")} == expected
    resources = json.loads((d / "resources.json").read_text())
    assert sum(1 for r in resources if r["protect"]) >= sum(c["etcd"]["members"] for c in plan["clusters"])


def test_synth_replaces_its_own_files_and_keeps_others(tmp_path: Path, runs: Runs) -> None:
    from fleetform.synth import write_synth

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
