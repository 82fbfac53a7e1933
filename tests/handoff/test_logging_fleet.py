"""Central logs: the fleet's destination per cloud in the graph, the node identities that
write to it, and the located errors of the logging settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.planes.planes_support import run_stack
from tests.planes.planes_support import write_stack as write_program_stack
from tests.unit.helpers import problems


def _stack(tmp_path: Path, logging: dict[str, Any] | None) -> Path:
    fleet: dict[str, Any] = {"clusters": [
        {"name": "la", "cloud": "aws", "region": "eu-west-1", "network": {"index": 50}},
        {"name": "lg", "cloud": "gcp", "region": "europe-west1", "network": {"index": 51}},
    ]}
    if logging is not None:
        fleet["logging"] = logging
    return write_program_stack(tmp_path, "logs", {"config": {"fleetform:base": "fleet.yaml", "fleetform:fleet": fleet}})


def test_one_destination_per_cloud_and_node_identities_that_write_to_it(tmp_path: Path) -> None:
    run = run_stack(_stack(tmp_path / "on", None))
    groups = [r for r in run.resources if r.type == "aws:cloudwatch/logGroup:LogGroup"]
    fleet_groups = [r for r in groups if r.inputs.get("name") == "/fleetform/acme/logs"]
    assert len(fleet_groups) == 1 and fleet_groups[0].inputs["retentionInDays"] == 365
    assert fleet_groups[0].protect
    buckets = [r for r in run.resources if r.type == "gcp:logging/projectBucketConfig:ProjectBucketConfig"
               and r.inputs.get("bucketId") == "fleetform-acme-logs"]
    assert len(buckets) == 1 and buckets[0].inputs["retentionDays"] == 365
    assert buckets[0].inputs["location"] == "europe-west1"
    sinks = [r for r in run.resources if r.type == "gcp:logging/projectSink:ProjectSink"
             and "fleetform-audit" in r.inputs.get("filter", "")]
    assert len(sinks) == 1 and sinks[0].inputs["destination"].endswith("/buckets/fleetform-acme-logs")
    writers = [r for r in run.resources if r.type == "gcp:projects/iAMMember:IAMMember"
               and r.inputs.get("role") == "roles/logging.logWriter"]
    # The Kubernetes nodes of the GCP cluster (control plane and each pool), not etcd.
    assert writers and all("-etcd-" not in r.name for r in writers)
    assert {"cp", "worker"} <= {("cp" if "control-plane" in r.name else "worker") for r in writers}


def test_no_destination_when_shipping_is_off(tmp_path: Path) -> None:
    run = run_stack(_stack(tmp_path / "off", {"enabled": False}))
    assert not [r for r in run.resources if "fleetform:index:FleetLogs$" in r.urn]
    assert not [r for r in run.resources if r.inputs.get("role") == "roles/logging.logWriter"]


@pytest.mark.parametrize(("body", "expected"), [
    ("logging: {retention_days: 100}\nclusters:\n  - {name: a, cloud: aws, region: eu-west-1}",
     "fleet.logging.retention_days: CloudWatch Logs keeps logs for one of"),
    ("logging: {aws_region: mars-north-1}\nclusters:\n  - {name: a, cloud: aws, region: eu-west-1}",
     "fleet.logging.aws_region: 'mars-north-1' is not a supported AWS region"),
    ("logging: {aws_region: us-east-1}\nclusters:\n  - {name: a, cloud: aws, region: eu-west-1, compliance: [gdpr]}",
     "fleet.logging.aws_region: cluster 'a' ships its audit logs to 'us-east-1', which compliance rule 'gdpr' "
     "does not allow"),
    ("logging: {gcp_location: global}\nclusters:\n  - {name: g, cloud: gcp, region: europe-west1, compliance: [gdpr]}",
     "fleet.logging.gcp_location: cluster 'g' ships its audit logs to 'global'"),
])
def test_bad_logging_settings_are_located(tmp_path: Path, body: str, expected: str) -> None:
    found = problems(tmp_path, body)
    assert any(expected in p for p in found), found


def test_the_aws_shipper_has_its_own_role_that_only_writes_the_fleet_group(tmp_path: Path) -> None:
    import json

    from fleetform.plan.logging import CLOUDWATCH_ACTIONS

    run = run_stack(_stack(tmp_path / "aws", None))
    policies = [r for r in run.resources if r.type == "aws:iam/rolePolicy:RolePolicy"
                and "logs:PutLogEvents" in str(r.inputs.get("policy", "")) and "workload-logs-la" in r.name]
    assert len(policies) == 1, [r.name for r in policies]
    doc = json.loads(policies[0].inputs["policy"])
    assert [s["Action"] for s in doc["Statement"]] == [list(CLOUDWATCH_ACTIONS)]
    assert doc["Statement"][0]["Resource"] == [
        "arn:aws:logs:eu-west-1:*:log-group:/fleetform/acme/logs",
        "arn:aws:logs:eu-west-1:*:log-group:/fleetform/acme/logs:log-stream:*"]
    # Trusted by the shipper's service account under the AWS cluster's issuer only.
    roles = [r for r in run.resources if r.type == "aws:iam/role:Role" and "logs-la" in r.name]
    assert len(roles) == 1
    trust = roles[0].inputs["assumeRolePolicy"]
    assert "system:serviceaccount:fleetform-logging:fluent-bit" in trust
