"""The CrossGuard pack as Pulumi runs it: ``policies/__main__.py`` in its own process,
speaking the analyzer gRPC protocol (the Pulumi CLI is not available here, so the test
plays the engine's part: handshake on stdout, then GetAnalyzerInfo / Analyze /
AnalyzeStack)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import grpc
import pytest
import yaml
from google.protobuf import empty_pb2
from policy_helpers import ROOT, Record, _struct, find, of_incarnation
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policies import rules
from policies.pack import stack_decommissioning

PACK = ROOT / "policies"


def test_pulumi_policy_yaml_names_a_python_pack_in_the_project_venv() -> None:
    meta = yaml.safe_load((PACK / "PulumiPolicy.yaml").read_text())
    assert meta["runtime"]["name"] == "python"
    assert (PACK / meta["runtime"]["options"]["virtualenv"]).resolve() == (ROOT / ".venv").resolve()
    assert meta["version"] and meta["description"]
    assert (PACK / "__main__.py").is_file()


@pytest.fixture(scope="module")
def pack() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    """The pack's process, started the way the Python language host starts it (the pack
    directory as working directory), and a client on the port it announces."""
    proc = subprocess.Popen([sys.executable, "__main__.py"], cwd=PACK, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = proc.stdout.readline().strip()
        assert port.isdigit(), proc.stderr.read() if proc.stderr else port
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_the_pack_announces_every_rule_as_mandatory(pack: analyzer_pb2_grpc.AnalyzerStub) -> None:
    info = pack.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "fleetform-security"
    assert [p.name for p in info.policies] == [r.name for r in rules.RULES]
    assert {p.enforcementLevel for p in info.policies} == {analyzer_pb2.MANDATORY}
    protected = next(p for p in info.policies if p.name == "protected-etcd-data-and-root-ca")
    assert "decommissioning" in protected.configSchema.properties.fields


def test_the_pack_blocks_an_unencrypted_volume(pack: analyzer_pb2_grpc.AnalyzerStub, prod: list[Record]) -> None:
    volume = find(prod, rules.AWS_VOLUME, name="eu-core")
    ok = pack.Analyze(analyzer_pb2.AnalyzeRequest(type=volume["type"], properties=_struct(volume["inputs"]),
                                                  urn=volume["urn"], name=volume["name"]))
    assert list(ok.diagnostics) == []
    volume["inputs"]["encrypted"] = False
    bad = pack.Analyze(analyzer_pb2.AnalyzeRequest(type=volume["type"], properties=_struct(volume["inputs"]),
                                                   urn=volume["urn"], name=volume["name"]))
    (d,) = bad.diagnostics
    assert (d.policyName, d.enforcementLevel) == ("encrypted-disks", analyzer_pb2.MANDATORY)
    assert d.message.endswith("the volume is not encrypted; set encrypted=true")


def test_an_unknown_value_during_preview_is_advisory(pack: analyzer_pb2_grpc.AnalyzerStub,
                                                     prod: list[Record]) -> None:
    """During `pulumi preview` of a new stack the user-data is unknown (it depends on
    certificates not created yet); the rule says it cannot run yet instead of failing or
    passing, and runs with the real value during `pulumi up`."""
    vm = find(prod, rules.AWS_INSTANCE, name="eu-core-aws-eu-west-1-control-plane-cp-0")
    vm["inputs"]["userDataBase64"] = UNKNOWN_STRING_VALUE
    response = pack.Analyze(analyzer_pb2.AnalyzeRequest(type=vm["type"], properties=_struct(vm["inputs"]),
                                                        urn=vm["urn"], name=vm["name"]))
    by_policy = {d.policyName: d for d in response.diagnostics}
    assert set(by_policy) == {"apiserver-anonymous-auth", "apiserver-audit-logging",
                              "apiserver-secrets-encryption", "etcd-cert-auth", "no-secret-material",
                              "control-plane-cis-flags", "kubelet-cis-config", "kubelet-serving-verified",
                              "bootstrap-token-expires"}
    for d in by_policy.values():
        assert d.enforcementLevel == analyzer_pb2.ADVISORY
        assert "during preview" in d.message and "userDataBase64" in d.message


def test_the_pack_blocks_etcd_opened_to_workers(pack: analyzer_pb2_grpc.AnalyzerStub, prod: list[Record]) -> None:
    key = "edge-fra-aws-eu-central-1"
    rule = find(prod, rules.AWS_SG_INGRESS, name=f"{key}-network-fw-etcd-from-control-plane-tcp-2379")
    worker = find(prod, rules.AWS_LAUNCH_TEMPLATE, name=key)["inputs"]["networkInterfaces"][0]["securityGroups"][0]
    rule["inputs"]["referencedSecurityGroupId"] = worker
    response = pack.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=[
        analyzer_pb2.AnalyzerResource(type=r["type"], properties=_struct(r["inputs"]), urn=r["urn"],
                                      name=r["name"], parent=r.get("parent") or "",
                                      dependencies=r["dependencies"],
                                      options=analyzer_pb2.AnalyzerResourceOptions(protect=r["protect"]))
        for r in of_incarnation(prod, key)]))
    (d,) = response.diagnostics
    assert (d.policyName, d.urn, d.enforcementLevel) == (
        "etcd-only-from-control-plane", rule["urn"], analyzer_pb2.MANDATORY)
    assert worker in d.message


def test_the_pack_reads_decommission_from_the_stack_config() -> None:
    """Pulumi hands the stack's config to the pack (PULUMI_CONFIG): a cluster marked
    `decommission: true` may have unprotected etcd disks; nothing else may."""
    fleet = yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())["config"]["fleetform:fleet"]
    config = {"fleetform:base": "fleet.yaml", "fleetform:fleet": json.dumps(fleet)}
    assert stack_decommissioning(config, "dev") == set()
    fleet["clusters"][1]["decommission"] = True
    config["fleetform:fleet"] = json.dumps(fleet)
    # Incarnation keys: a decommissioned cluster, a released migration source, a target in prepare.
    assert stack_decommissioning(config, "dev") == {"dev-gcp-gcp-europe-west1"}
    fleet["clusters"][1]["decommission"] = False
    fleet["clusters"][0]["migrate"] = {"to": {"cloud": "gcp", "region": "europe-west4"}, "phase": "cutover",
                                       "release_source": True}
    config["fleetform:fleet"] = json.dumps(fleet)
    assert stack_decommissioning(config, "dev") == {"dev-aws-aws-eu-west-1"}
    fleet["clusters"][0]["migrate"] = {"to": {"cloud": "gcp", "region": "europe-west4"}, "phase": "prepare"}
    config["fleetform:fleet"] = json.dumps(fleet)
    assert stack_decommissioning(config, "dev") == {"dev-aws-gcp-europe-west4"}
    del fleet["clusters"][0]["migrate"]
    fleet["clusters"][1]["decommission"] = True
    # Without fleetform's loader (a broken entry elsewhere), the cluster entries still count.
    fleet["clusters"][0]["cloud"] = "azure"
    config["fleetform:fleet"] = json.dumps(fleet)
    assert stack_decommissioning(config, "dev") == {"dev-gcp"}
    assert stack_decommissioning({}, "dev") == set()
