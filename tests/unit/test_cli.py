"""The CLI through its real entry point (``python -m fleetform``), as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import BASE, ROOT, stack_text, write_stack


def fleetform(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "FLEETFORM_DEBUG"}
    return subprocess.run([sys.executable, "-m", "fleetform", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def no_traceback(out: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in out.stderr
    assert "Traceback" not in out.stdout


def test_validate_dev_stack() -> None:
    out = fleetform("validate", "--stack", "dev")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "2 cluster(s) valid in fleet 'acme' (stack 'dev')\n"


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_validate_other_example_stacks(stack: str) -> None:
    out = fleetform("validate", "--stack", stack)
    assert out.returncode == 0, out.stderr
    if stack == "prod":  # edge-fra is moving: said on stdout and, as a warning, on stderr
        assert out.stdout.endswith("valid in fleet 'acme' (stack 'prod', 7 incarnations while moving)\n")
        assert out.stderr.startswith("warning: cluster 'edge-fra' is moving to gcp europe-west3 (phase prepare)")
        return
    assert out.stdout.endswith(f"valid in fleet 'acme' (stack '{stack}')\n")
    assert out.stderr == ""


def test_validate_bad_file_prints_every_problem(tmp_path: Path) -> None:
    path = write_stack(tmp_path, stack_text("""
        clusters:
          - {name: a, cloud: aws, region: eu-west-9, network: {index: 1}}
          - {name: b, cloud: aws, region: eu-west-1, etcd: {members: 2}, network: {index: 2}}
          - {name: c, cloud: gcp, region: europe-west1, cni: {plugin: calicoo}, network: {index: 3}}
    """), name="bad")
    out = fleetform("validate", "--file", "stacks/Pulumi.bad.yaml", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stdout == ""
    assert out.stderr.splitlines() == [
        "stacks/Pulumi.bad.yaml: fleet.clusters[0].region: 'eu-west-9' is not a supported AWS region "
        "(did you mean 'eu-west-3'?)",
        "stacks/Pulumi.bad.yaml: fleet.clusters[1].etcd.members: 2 is not one of 1, 3, 5, 7 "
        "(an odd count keeps a quorum)",
        "stacks/Pulumi.bad.yaml: fleet.clusters[2].cni.plugin: 'calicoo' is not one of cilium, calico, flannel",
    ]
    no_traceback(out)
    assert path.is_file()


def test_validate_file_is_named_as_given(tmp_path: Path) -> None:
    path = write_stack(tmp_path, stack_text("clusters: []"), name="bad")
    out = fleetform("validate", "--file", str(path))
    assert out.returncode == 2
    assert out.stderr == f"{path}: fleet.clusters: the fleet has no clusters; add at least one\n"


def test_validate_yaml_syntax_error(tmp_path: Path) -> None:
    write_stack(tmp_path, "config:\n  fleetform:fleet: {name: [x\n", name="bad")
    out = fleetform("validate", "--file", "stacks/Pulumi.bad.yaml", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.startswith("stacks/Pulumi.bad.yaml: line 3, column 1: YAML syntax error: ")
    no_traceback(out)


def test_validate_missing_file(tmp_path: Path) -> None:
    out = fleetform("validate", "--file", "nope.yaml", cwd=tmp_path)
    assert (out.returncode, out.stderr) == (2, "nope.yaml: -: file not found\n")


def test_unknown_stack_lists_the_known_ones() -> None:
    out = fleetform("validate", "--stack", "nosuch")
    assert out.returncode == 2
    known = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in (ROOT / "stacks").glob("Pulumi.*.yaml"))
    assert {"dev", "staging", "prod"} <= set(known)
    assert out.stderr == f"stacks/Pulumi.nosuch.yaml: -: no such stack (known: {', '.join(known)})\n"
    no_traceback(out)


def test_stack_is_found_from_a_subdirectory_of_the_project(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: fleetform\nruntime: python\nstackConfigDir: stacks\n")
    write_stack(tmp_path, stack_text("clusters: [{name: a, cloud: aws, region: eu-west-1, network: {index: 1}}]"),
                name="qa")
    sub = tmp_path / "docs"
    sub.mkdir()
    out = fleetform("validate", "--stack", "qa", cwd=sub)
    assert out.returncode == 0, out.stderr
    out = fleetform("validate", "--stack", "nosuch", cwd=sub)
    assert out.returncode == 2
    assert out.stderr.endswith("no such stack (known: qa)\n")


def test_plan_prod_json() -> None:
    out = fleetform("plan", "--stack", "prod", "--json", "--no-resources")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert (data["fleet"], data["stack"]) == ("acme", "prod")
    # Six clusters, seven incarnations: edge-fra is moving to GCP (phase prepare).
    assert len(data["clusters"]) == 7 and len({c["name"] for c in data["clusters"]}) == 6
    assert [c["context"] for c in data["clusters"] if c["name"] == "edge-fra"] == [
        "edge-fra", "edge-fra@gcp-europe-west3"]
    for c in data["clusters"]:
        assert {"name", "cloud", "region", "kubernetes_version", "cni"} <= set(c)
        assert {"node_cidr", "pod_cidr", "service_cidr"} <= set(c["network"])
        assert len(c["etcd"]["zones"]) == c["etcd"]["members"]
        assert len(c["control_plane"]["zones"]) == c["control_plane"]["replicas"]
        for pool in c["workers"]:
            assert {"name", "machine_type", "min", "max", "zones"} <= set(pool)


def test_plan_json_is_the_same_on_every_run() -> None:
    # With resources (their order must not depend on hashing); both runs side by side.
    env_seed = {**os.environ, "PYTHONHASHSEED": "12345"}
    env_seed.pop("FLEETFORM_DEBUG", None)
    second = subprocess.Popen([sys.executable, "-m", "fleetform", "plan", "--stack", "prod", "--json"],
                              cwd=ROOT, env=env_seed, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = fleetform("plan", "--stack", "prod", "--json")
    second_out, _ = second.communicate(timeout=600)
    assert first.returncode == second.returncode == 0, first.stderr
    assert first.stdout == second_out


def test_plan_focuses_one_cluster() -> None:
    out = fleetform("plan", "--stack", "prod", "--json", "--no-resources", "--cluster", "eu-core")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [c["name"] for c in data["clusters"]] == ["eu-core"]
    full = json.loads(fleetform("plan", "--stack", "prod", "--json", "--no-resources").stdout)
    assert data["clusters"][0] == next(c for c in full["clusters"] if c["name"] == "eu-core")


def test_plan_unknown_cluster() -> None:
    out = fleetform("plan", "--stack", "prod", "--cluster", "eu-cor")
    assert out.returncode == 2
    assert out.stdout == ""
    assert out.stderr == ("--cluster: eu-cor: no such cluster (did you mean 'eu-core'?) "
                          "(clusters: eu-core, us-core, eu-gke, us-gcp, edge-fra, edge-iad)\n")
    no_traceback(out)


def test_plan_table(tmp_path: Path) -> None:
    write_stack(tmp_path, stack_text("""
        clusters: [{name: eu-core, cloud: aws, region: eu-west-1, network: {index: 3}}]
    """), base_text=BASE, name="t")
    out = fleetform("plan", "--file", "stacks/Pulumi.t.yaml", "--no-resources", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "eu-core" in out.stdout
    for cidr in ("10.3.128.0/18", "10.3.0.0/17", "10.3.192.0/20"):  # whole, at any width
        assert cidr in out.stdout
    assert "Estimated cost:" in out.stdout


def test_plan_invalid_file_exits_2(tmp_path: Path) -> None:
    write_stack(tmp_path, stack_text("clusters: [{name: a, cloud: aws, region: eu-west-1, etcd: {members: 4}}]"),
                name="bad")
    out = fleetform("plan", "--file", "stacks/Pulumi.bad.yaml", "--json", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stdout == ""
    assert out.stderr == ("stacks/Pulumi.bad.yaml: fleet.clusters[0].etcd.members: 4 is not one of 1, 3, 5, 7 "
                          "(an odd count keeps a quorum)\n")


def test_validate_prints_plan_warnings_on_stderr(tmp_path: Path) -> None:
    write_stack(tmp_path, stack_text("""
        clusters: [{name: a, cloud: aws, region: us-west-1, network: {index: 1}}]
    """), name="w")
    out = fleetform("validate", "--file", "stacks/Pulumi.w.yaml", cwd=tmp_path)
    assert out.returncode == 0
    assert out.stderr == ("warning: cluster 'a': etcd's 3 members sit in 2 zone(s); losing the zone with the "
                          "most members loses quorum\n")


@pytest.mark.parametrize("args", [["validate"], ["plan", "--stack", "dev", "--file", "x.yaml"],
                                  ["plan", "--stack", "dev", "--stack", "prod"]])
def test_usage_errors_exit_2(args: list[str]) -> None:
    out = fleetform(*args)
    assert out.returncode == 2
    assert out.stderr.startswith("usage: fleetform")
    no_traceback(out)


def test_invalid_profile_entry_is_a_user_error(tmp_path: Path) -> None:
    write_stack(tmp_path, stack_text("""
        clusters: [{name: a, cloud: aws, region: eu-west-1, profiles: [{edge: 1}], network: {index: 1}}]
    """), name="bad")
    out = fleetform("validate", "--file", "stacks/Pulumi.bad.yaml", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr == "stacks/Pulumi.bad.yaml: fleet.clusters[0].profiles[0]: expected a string, got a mapping\n"
    no_traceback(out)


@pytest.mark.parametrize(("head", "warned"), [
    ("", "has no secretsprovider"),
    ("secretsprovider: passphrase\n", "secretsprovider 'passphrase' is not KMS-backed"),
    ("secretsprovider: awskms://alias/state?region=eu-west-1\n", None),
    ("secretsprovider: gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k\n", None),
])
@pytest.mark.parametrize("name", ["prod", "staging"])
def test_plan_warns_about_production_state_without_a_kms_secrets_provider(
        tmp_path: Path, head: str, warned: str | None, name: str) -> None:
    """The state of a production stack holds every CA key: `plan` warns unless a KMS key
    wraps its secrets (only production stacks; the plan still succeeds)."""
    write_stack(tmp_path, head + stack_text("""
        clusters: [{name: eu-core, cloud: aws, region: eu-west-1, network: {index: 3}}]
    """), base_text=BASE, name=name)
    out = fleetform("plan", "--file", f"stacks/Pulumi.{name}.yaml", "--no-resources", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stderr.splitlines() if "secretsprovider" in line]
    if warned is None or name != "prod":
        assert lines == []
    else:
        [line] = lines
        assert line.startswith(f"warning: stacks/Pulumi.{name}.yaml: secretsprovider: production stack 'prod'")
        assert warned in line and "docs/security.md#secrets-in-the-state" in line


def test_production_means_the_same_to_the_cli_and_the_policy() -> None:
    from fleetform.spec.stackfiles import is_production_stack
    from policies.rules import is_production_stack as rule_production

    for name in ("prod", "production", "prod-eu", "production-2", "staging", "dev", "producer", "preprod"):
        assert is_production_stack(name) == rule_production(name), name
    assert is_production_stack("prod-eu") and not is_production_stack("producer")


@pytest.mark.parametrize(("cluster", "message"), [
    ("{name: a, cloud: aws, region: eu-west-1, network: {index: 3}, encryption: {kms: alias/etcd}}",
     "'alias/etcd' is not an AWS KMS key (arn:aws:kms:<region>:<account>:key/<key id>)"),
    ("{name: a, cloud: aws, region: eu-west-1, network: {index: 3}, encryption: "
     "{kms: 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab'}}",
     "the key lives in 'us-east-1'; disks and secrets of a cluster in 'eu-west-1' need a key of that region"),
])
def test_a_kms_key_of_the_wrong_kind_or_region_is_a_located_error(tmp_path: Path, cluster: str, message: str) -> None:
    write_stack(tmp_path, stack_text(f"clusters: [{cluster}]"), name="k")
    out = fleetform("validate", "--file", "stacks/Pulumi.k.yaml", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr == f"stacks/Pulumi.k.yaml: fleet.clusters[0].encryption.kms: {message}\n"
    no_traceback(out)
