"""Properties every rendered ``#cloud-config`` document has, for every role and both clouds."""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from bootstrap_helpers import TestPKI, make_control_plane_inputs

from fleetform.bootstrap import (
    AWS_USER_DATA_LIMIT,
    OIDC,
    ControlPlaneInputs,
    EtcdNodeInputs,
    ServiceAccountIssuer,
    WorkerInputs,
    gzip_user_data,
    render_control_plane,
    render_etcd_member,
    render_worker,
    user_data_base64,
)
from fleetform.bootstrap.etcd import etcd_secret_files
from fleetform.bootstrap.inputs import AddonSource
from fleetform.bootstrap.kubernetes import control_plane_secret_files, worker_secret_files

CLOUD_LIB = "/usr/local/lib/fleetform/cloud.sh"
BOOTSTRAP = "/usr/local/lib/fleetform/bootstrap.sh"
STANDARD_MODULES = {"write_files", "runcmd", "package_update", "packages"}
ROLES = ["etcd-1", "etcd-1-restore-no-backup", "control-plane-0", "control-plane-2", "worker"]


def parse(text: str) -> dict[str, Any]:
    doc = yaml.safe_load(text)
    assert isinstance(doc, dict)
    return doc


def files_of(text: str) -> dict[str, dict[str, Any]]:
    return {f["path"]: f for f in parse(text)["write_files"]}


def test_every_document_is_cloud_config_yaml(documents: dict[str, str]) -> None:
    assert len(documents) == 2 * len(ROLES)
    for name, text in documents.items():
        assert text.startswith("#cloud-config\n"), name
        doc = parse(text)
        assert set(doc) <= STANDARD_MODULES, (name, set(doc))
        # All logic runs from one strict bash script (runcmd lines alone are a plain
        # `sh` script that carries on after a failure), run by a systemd unit until it
        # succeeds: cloud-init only hands it over, once.
        assert doc["runcmd"] == [["systemctl", "daemon-reload"],
                                 ["systemctl", "enable", "--now", "--no-block", "fleetform-bootstrap.service"]], name
        files = files_of(text)
        unit = files["/etc/systemd/system/fleetform-bootstrap.service"]["content"].splitlines()
        assert f"ExecStart=/bin/bash {BOOTSTRAP}" in unit and "Restart=on-failure" in unit, name
        # (control-plane scripts are compacted: their comment lines are not on the machine)
        assert "set -euo pipefail" in files[BOOTSTRAP]["content"].splitlines()[1:3], name
        for f in files.values():
            assert set(f) == {"path", "content", "owner", "permissions"}
            assert re.fullmatch(r"0[0-7]{3}", f["permissions"]), f["path"]


def test_no_secret_reaches_user_data(documents: dict[str, str], pki: TestPKI) -> None:
    key_lines = {
        line
        for issued in (pki.root, pki.etcd_ca, pki.cluster_ca, pki.front_proxy_ca)
        for line in issued.key_pem.splitlines()
        if "-----" not in line
    }
    for name, text in documents.items():
        assert "PRIVATE KEY" not in text, name
        assert not key_lines & set(re.split(r"\s+", text)), name
        # No bootstrap token value (abcdef.0123456789abcdef), only the placeholder.
        assert not re.search(r"\b[a-z0-9]{6}\.[a-z0-9]{16}\b", text), name
        for path in files_of(text):
            assert not path.endswith((".key", "-token", "-key")), (name, path)


def _fetch_lines(text: str) -> list[str]:
    script = files_of(text)[BOOTSTRAP]["content"]
    return [line for line in script.splitlines() if line.startswith("ff_fetch_secret ")]


def _first_line_matching(script: str, pattern: str) -> int:
    return next(i for i, line in enumerate(script.splitlines()) if re.search(pattern, line))


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_every_secret_is_fetched_before_anything_uses_it(
    cloud: str,
    etcd_inputs: Callable[..., EtcdNodeInputs],
    control_plane_inputs: Callable[..., ControlPlaneInputs],
    worker_inputs: Callable[..., WorkerInputs],
) -> None:
    cases: list[tuple[str, list[Any], str]] = []
    e = etcd_inputs("etcd-0", cloud=cloud)
    cases.append((render_etcd_member(e), etcd_secret_files(e), r"^systemctl start"))
    for replica in (0, 1):
        c = control_plane_inputs(replica, cloud=cloud)
        cases.append((render_control_plane(c), control_plane_secret_files(c), r"^\s*kubeadm (init|join)"))
    w = worker_inputs(cloud=cloud)
    cases.append((render_worker(w), worker_secret_files(w), r"^\s*kubeadm join"))
    for text, secrets, first_use in cases:
        fetched = _fetch_lines(text)
        assert len(fetched) == len(secrets)
        for s in secrets:
            assert any(s.secret_id in line and f" {s.path} {s.mode} {s.owner}" in line for line in fetched), s
        script = files_of(text)[BOOTSTRAP]["content"]
        last_fetch = max(i for i, line in enumerate(script.splitlines()) if line.startswith("ff_fetch_secret "))
        assert last_fetch < _first_line_matching(script, first_use)
        assert last_fetch < _first_line_matching(script, r"^ff_(prepare_disk|render_template)|^modprobe")


@pytest.mark.parametrize("role", ROLES)
def test_aws_and_gcp_documents_differ_only_in_the_cloud_library(documents: dict[str, str], role: str) -> None:
    aws, gcp = files_of(documents[f"aws/{role}"]), files_of(documents[f"gcp/{role}"])
    aws_lib, gcp_lib = aws.pop(CLOUD_LIB)["content"], gcp.pop(CLOUD_LIB)["content"]
    # The first replica's Flux Bucket source is the cloud's own (provider, endpoint,
    # bucket), and its installer names the bucket: the rest is the same.
    for cloud, files in (("aws", aws), ("gcp", gcp)):
        source = files.pop("/etc/fleetform/addons/source.yaml", None)
        if source is not None:
            assert f"provider: {cloud}" in source["content"]
            installer = files["/usr/local/lib/fleetform/addons-install.sh"]
            installer["content"] = installer["content"].replace(f"acme-c1-{cloud}-addons", "<bucket>")
    assert aws == gcp
    assert {k: v for k, v in parse(documents[f"aws/{role}"]).items() if k != "write_files"} == {
        k: v for k, v in parse(documents[f"gcp/{role}"]).items() if k != "write_files"
    }
    # AWS: Secrets Manager and S3 through the aws-cli snap (no apt package on 24.04).
    for needle in (
        "secretsmanager get-secret-value --region \"$FF_AWS_REGION\"",
        "--query SecretString --output text",
        "snap install aws-cli --classic",
        "FF_AWS_REGION=eu-west-1",
        's3 cp --only-show-errors --region "$FF_AWS_REGION" "$1" "s3://$2/$3"',
    ):
        assert needle in aws_lib, needle
    # GCP: metadata-server token, Secret Manager REST, JSON parsed by python3.
    for needle in (
        "Metadata-Flavor: Google",
        "http://metadata.google.internal/computeMetadata/v1",
        "instance/service-accounts/default/token",
        "https://secretmanager.googleapis.com/v1",
        '/versions/latest"',
        ":access",
        'b64decode(json.load(sys.stdin)["payload"]["data"])',
        "FF_GCP_PROJECT=fleet-prod-1",
        "uploadType=media",
        "alt=media",
    ):
        assert needle in gcp_lib, needle
    assert "metadata.google" not in aws_lib and "secretsmanager" not in gcp_lib


def test_rendering_is_deterministic(
    etcd_inputs: Callable[..., EtcdNodeInputs],
    control_plane_inputs: Callable[..., ControlPlaneInputs],
    worker_inputs: Callable[..., WorkerInputs],
) -> None:
    e, c, w = etcd_inputs("etcd-2"), control_plane_inputs(0, skip_kube_proxy=True), worker_inputs()
    # Equal inputs built afresh (as each `apply` does) give byte-identical documents.
    assert render_etcd_member(e) == render_etcd_member(replace(e))
    assert render_control_plane(c) == render_control_plane(replace(c, cert_sans=list(c.cert_sans)))
    assert render_worker(w) == render_worker(replace(w, node_labels=dict(w.node_labels)))


def test_worker_document_does_not_depend_on_label_order(worker_inputs: Callable[..., WorkerInputs]) -> None:
    labels = {"a.example.com/x": "1", "b.example.com/y": "2", "c.example.com/z": "3"}
    forward = render_worker(worker_inputs(node_labels=labels))
    backward = render_worker(worker_inputs(node_labels=dict(reversed(list(labels.items())))))
    assert forward == backward


# What a CA rotation's prepare phase adds to a control-plane document: a second CA in
# each of its three inline bundles (kubernetes, front-proxy, etcd), with room to spare.
ROTATION_HEADROOM = 2048


def test_documents_fit_the_clouds_user_data_limits(documents: dict[str, str]) -> None:
    for name, text in documents.items():
        # GCP metadata values: 256 KiB. EC2: 16 KiB in raw form for an instance (etcd
        # members, control-plane replicas: the gzip bytes, AWS components send them
        # gzipped), and a worker's launch template is held to it after base64.
        assert len(text.encode()) < 256 * 1024, name
        if name.endswith("worker"):
            assert len(user_data_base64(text)) < AWS_USER_DATA_LIMIT, name
        else:
            assert len(gzip_user_data(text)) < AWS_USER_DATA_LIMIT - ROTATION_HEADROOM, name
        assert gzip.decompress(gzip_user_data(text)).decode() == text
    text = documents["aws/control-plane-0"]
    assert gzip_user_data(text) == gzip_user_data(text)  # reproducible: no timestamp
    assert user_data_base64(text) == user_data_base64(text)


def test_a_first_replica_in_a_ca_rotation_still_fits_an_ec2_instance(pki: TestPKI) -> None:
    """During `prepare` every inline bundle carries the old and the new CA."""
    other = TestPKI()
    build = make_control_plane_inputs(pki)
    base = build(0, oidc=OIDC("https://login.example.com", "kubernetes"),
                 service_account_issuer=ServiceAccountIssuer("https://oidc.fleet.example.com/c1"),
                 addons=AddonSource("aws", "acme-c1-aws-addons", "eu-west-1", "api.c1.fleet.example.com"))
    rotating = replace(base, pki=replace(
        base.pki,
        ca_cert_pem=other.cluster_ca.cert_pem + pki.cluster_ca.cert_pem,
        front_proxy_ca_cert_pem=other.front_proxy_ca.cert_pem + pki.front_proxy_ca.cert_pem,
        etcd_ca_cert_pem=other.etcd_ca.cert_pem + pki.etcd_ca.cert_pem))
    assert len(gzip_user_data(render_control_plane(rotating))) < AWS_USER_DATA_LIMIT


def _scripts(documents: dict[str, str]) -> dict[str, str]:
    found = {}
    for name, text in documents.items():
        for path, f in files_of(text).items():
            if path.endswith(".sh") or f["content"].startswith("#!/bin/bash"):
                found[f"{name}:{path}"] = f["content"]
    return found


def test_every_script_parses_with_bash(documents: dict[str, str], tmp_path: Path) -> None:
    scripts = _scripts(documents)
    assert len(scripts) >= 5 * len(documents) // 2
    for name, content in scripts.items():
        path = tmp_path / "script.sh"
        path.write_text(content)
        result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, timeout=10)
        assert result.returncode == 0, (name, result.stderr)


def test_every_script_passes_shellcheck(documents: dict[str, str], tmp_path: Path) -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    unique = {content: name for name, content in _scripts(documents).items()}
    paths = []
    for i, (content, _) in enumerate(sorted(unique.items(), key=lambda kv: kv[1])):
        path = tmp_path / f"s{i}.sh"
        # Libraries have no shebang; they are sourced by bash scripts.
        path.write_text(content if content.startswith("#!") else "#!/bin/bash\n" + content)
        paths.append(str(path))
    result = subprocess.run(
        [shellcheck, "--severity=info", "--exclude=SC1091", *paths], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout


def test_the_document_builder_refuses_private_keys() -> None:
    from fleetform.bootstrap.document import File, render_cloud_config

    key = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n-----END PRIVATE KEY-----\n"
    with pytest.raises(ValueError, match="private key"):
        render_cloud_config([File("/etc/x.pem", key)], "#!/bin/bash\n")
    with pytest.raises(ValueError, match="duplicate"):
        render_cloud_config([File("/etc/x", "a"), File("/etc/x", "b")], "#!/bin/bash\n")
