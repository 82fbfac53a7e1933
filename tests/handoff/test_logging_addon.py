"""The log shipper's documents: Fluent Bit's configuration against the documented keys of
the plugins it uses, the manifests against the Kubernetes schemas."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from fleetform.addons.context import LOG_SHIPPER, AddonContext, CniContext, LogDestination, Workload
from fleetform.addons.logging import AUDIT_LOG, NAME, config, render
from fleetform.plan.identity import AWS_AUDIENCE, AWS_TOKEN_PATH

# Fluent Bit's documented parameters (docs.fluentbit.io, manual 4.0: pipeline/inputs/tail,
# inputs/systemd, filters/record-modifier, outputs/cloudwatch, outputs/stackdriver,
# administration/configuring-fluent-bit/yaml/service-section).
DOCUMENTED: dict[str, set[str]] = {
    "service": {"flush", "grace", "daemon", "log_file", "log_level", "http_server", "http_listen", "http_port",
                "health_check", "hc_errors_count", "hc_retry_failure_count", "hc_period", "parsers_file",
                "plugins_file", "storage.path", "storage.sync", "storage.checksum", "storage.backlog.mem_limit"},
    "tail": {"name", "tag", "buffer_chunk_size", "buffer_max_size", "path", "path_key", "exclude_path",
             "offset_key", "read_from_head", "refresh_interval", "rotate_wait", "ignore_older", "skip_long_lines",
             "skip_empty_lines", "db", "db.sync", "db.locking", "db.journal_mode", "mem_buf_limit",
             "exit_on_eof", "parser", "key", "inotify_watcher", "multiline.parser", "tag_regex", "storage.type"},
    "systemd": {"name", "tag", "path", "max_fields", "max_entries", "systemd_filter", "systemd_filter_type", "db",
                "db.sync", "read_from_tail", "lowercase", "strip_underscores", "storage.type"},
    "record_modifier": {"name", "match", "match_regex", "record", "remove_key", "allowlist_key",
                        "whitelist_key", "uuid_key"},
    "cloudwatch_logs": {"name", "match", "region", "log_group_name", "log_group_template", "log_stream_name",
                        "log_stream_prefix", "log_stream_template", "log_key", "log_format", "role_arn",
                        "auto_create_group", "log_retention_days", "endpoint", "sts_endpoint", "metric_namespace",
                        "metric_dimensions", "auto_retry_requests", "external_id", "profile", "retry_limit",
                        "workers"},
    "stackdriver": {"name", "match", "google_service_credentials", "service_account_email",
                    "service_account_secret", "metadata_server", "location", "namespace", "node_id", "job",
                    "task_id", "export_to_project_id", "resource", "k8s_cluster_name", "k8s_cluster_location",
                    "labels_key", "labels", "log_name_key", "tag_prefix", "severity_key", "autoformat_stackdriver_trace",
                    "workers", "custom_k8s_regex", "resource_labels", "compress", "retry_limit"},
}


def _ctx(cloud: str) -> AddonContext:
    return AddonContext(
        cluster="eu-core", key=f"eu-core-{cloud}-r", cloud=cloud, region="eu-west-1" if cloud == "aws" else "europe-west1",  # type: ignore[arg-type]
        zones=("a",), kubernetes_version="1.37.1", pod_cidr="10.1.0.0/17", service_cidr="10.1.128.0/20",
        node_cidr="10.1.192.0/18",
        api_host="api.eu-core.fleet.acme.example", api_port=6443,
        cni=CniContext(plugin="cilium", namespace="kube-system", releases=()), node_groups=(),
        project="acme-fleet" if cloud == "gcp" else None)


DEST = {"aws": LogDestination("aws", "eu-west-1", "/fleetform/acme/prod"),
        "gcp": LogDestination("gcp", "global", "fleetform-acme-prod", project="acme-fleet")}
IDENTITY = Workload(AWS_TOKEN_PATH, AWS_AUDIENCE, aws_role_arn="arn:aws:iam::123456789012:role/log-shipper")


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_every_configured_key_is_a_documented_parameter(cloud: str) -> None:
    cfg = config(_ctx(cloud), DEST[cloud])
    assert set(cfg["service"]) <= DOCUMENTED["service"]
    for section in ("inputs", "filters", "outputs"):
        for plugin in cfg["pipeline"][section]:
            assert plugin["name"] in DOCUMENTED, plugin["name"]
            unknown = set(plugin) - DOCUMENTED[plugin["name"]]
            assert not unknown, (plugin["name"], unknown)


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_audit_and_system_logs_go_to_the_fleet_destination(cloud: str) -> None:
    cfg = config(_ctx(cloud), DEST[cloud])
    inputs = {i["name"]: i for i in cfg["pipeline"]["inputs"]}
    assert inputs["tail"]["path"] == AUDIT_LOG
    assert "_SYSTEMD_UNIT=kubelet.service" in inputs["systemd"]["systemd_filter"]
    outputs = cfg["pipeline"]["outputs"]
    if cloud == "aws":
        assert [(o["name"], o["log_group_name"], o["region"]) for o in outputs] == [
            ("cloudwatch_logs", "/fleetform/acme/prod", "eu-west-1")]
        assert outputs[0]["auto_create_group"] == "off"
    else:
        assert {o["match"] for o in outputs} == {"fleetform-audit", "fleetform-node"}
        assert all(o["export_to_project_id"] == "acme-fleet" and o["namespace"] == "eu-core" for o in outputs)


def _docs(cloud: str) -> list[dict[str, Any]]:
    from dataclasses import replace

    ctx = replace(_ctx(cloud), logs=DEST[cloud],
                  identities=((LOG_SHIPPER, IDENTITY),) if cloud == "aws" else ())
    addon = render(ctx)
    assert addon is not None and addon.name == NAME
    return [d for f in addon.files for d in yaml.safe_load_all(f.text)]


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_manifests_pass_the_kubernetes_schemas(cloud: str) -> None:
    kv = pytest.importorskip("kubernetes_validate")
    for doc in _docs(cloud):
        kv.validate(doc, "1.33", strict=True)


def test_aws_shipper_uses_its_federated_role_and_gcp_the_node_identity() -> None:
    aws = next(d for d in _docs("aws") if d["kind"] == "DaemonSet")["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in aws["containers"][0]["env"]}
    assert env["AWS_ROLE_ARN"] == IDENTITY.aws_role_arn and env["AWS_WEB_IDENTITY_TOKEN_FILE"] == AWS_TOKEN_PATH
    assert not aws.get("hostNetwork")
    gcp = next(d for d in _docs("gcp") if d["kind"] == "DaemonSet")["spec"]["template"]["spec"]
    assert gcp["hostNetwork"] is True
    assert not any(e["name"].startswith(("AWS_", "GOOGLE_")) for e in gcp["containers"][0]["env"])
    for pod in (aws, gcp):
        sc = pod["containers"][0]["securityContext"]
        assert sc["readOnlyRootFilesystem"] and sc["capabilities"] == {"drop": ["ALL"]}
        assert pod["automountServiceAccountToken"] is False


def test_no_destination_no_shipper_and_aws_needs_the_federated_identity() -> None:
    assert render(_ctx("aws")) is None
    from dataclasses import replace

    with pytest.raises(ValueError, match="needs its federated identity"):
        render(replace(_ctx("aws"), logs=DEST["aws"]))
