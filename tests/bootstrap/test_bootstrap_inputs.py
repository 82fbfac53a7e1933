"""Input validation: bad plans fail at `pulumi preview`, not at a machine's first boot."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from bootstrap_helpers import TestPKI
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetform.bootstrap import (
    OIDC,
    ControlPlaneInputs,
    EtcdBackup,
    EtcdTLS,
    ObjectLocation,
    SecretFile,
    SecretStore,
    WorkerInputs,
    check_node_label,
    render_worker,
    worker_join_configuration,
)


def test_secret_store_needs_a_project_on_gcp() -> None:
    SecretStore("aws", "eu-west-1")
    SecretStore("gcp", "europe-west1", "fleet-prod-1")
    with pytest.raises(ValueError, match="GCP needs a valid project"):
        SecretStore("gcp", "europe-west1")
    with pytest.raises(ValueError, match="unknown cloud"):
        SecretStore("azure", "westeurope")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("id", "relative/path"), "absolute path"),
        (("id", "/etc/x", "0644"), "world-accessible"),
        (("id", "/etc/x", "600"), "must look like 0600"),
        (("id with space", "/etc/x"), "unexpected characters"),
        (("id", "/etc/x", "0600", "root"), "user:group"),
    ],
)
def test_secret_file_validation(args: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SecretFile(*args)


def test_private_keys_are_refused_where_certificates_go(pki: TestPKI) -> None:
    with pytest.raises(ValueError, match="contains a private key"):
        cert = pki.etcd_ca.cert_pem
        EtcdTLS(cert + pki.etcd_ca.key_pem, cert, "server-key", cert, "peer-key", cert, "client-key")
    with pytest.raises(ValueError, match="expected a PEM certificate"):
        EtcdTLS("not a cert", "s", "s", "p", "p", "c", "c")


def test_object_locations_and_backups() -> None:
    ObjectLocation("fleet-backups", "etcd/c1/snap.db")
    with pytest.raises(ValueError):
        ObjectLocation("Fleet_Backups!", "x")
    with pytest.raises(ValueError):
        ObjectLocation("fleet-backups", "/absolute")
    with pytest.raises(ValueError, match="calendar"):
        EtcdBackup("fleet-backups", "etcd", "hourly; rm -rf /")


@pytest.mark.parametrize(
    "key",
    ["node-role.kubernetes.io/worker", "kubernetes.io/role", "example.k8s.io/x", "node-restriction.kubernetes.io/pool"],
)
def test_kubelet_refused_labels_are_rejected(key: str) -> None:
    with pytest.raises(ValueError, match="may not set"):
        check_node_label(key, "true")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("topology.kubernetes.io/zone", "eu-west-1a"),
        ("node.kubernetes.io/instance-type", "m7i.large"),
        ("kubelet.kubernetes.io/anything", "x"),
        ("node.fleetform.io/pool", "general"),
        ("plain", ""),
        ("notkubernetes.io/x", "y"),  # not a subdomain of kubernetes.io
    ],
)
def test_kubelet_allowed_labels(key: str, value: str) -> None:
    check_node_label(key, value)


@pytest.mark.parametrize(("key", "value"), [("Bad_Prefix/x", "v"), ("a/" + "b" * 64, "v"), ("ok", "a,b"), ("ok", "-v")])
def test_malformed_labels(key: str, value: str) -> None:
    with pytest.raises(ValueError):
        check_node_label(key, value)


label_name = st.from_regex(r"\A[a-z0-9]([a-z0-9._-]{0,20}[a-z0-9])?\Z")
label_value = st.from_regex(r"\A([A-Za-z0-9]([A-Za-z0-9._-]{0,20}[A-Za-z0-9])?)?\Z")


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(label_name.map(lambda n: f"node.fleetform.io/{n}"), label_value, max_size=6))
def test_any_valid_labels_render_sorted_into_one_flag(worker_inputs: Callable[..., WorkerInputs], labels: dict[str, str]) -> None:
    inputs = worker_inputs(node_labels=labels)
    registration = worker_join_configuration(inputs)["nodeRegistration"]
    args = {a["name"]: a["value"] for a in registration["kubeletExtraArgs"]}
    # Every kubelet: the external cloud provider and its provider ID (filled in at boot).
    assert args.pop("cloud-provider") == "external" and args.pop("provider-id") == "{{fleetform:provider-id}}"
    if not labels:
        assert args == {}
        return
    assert args == {"node-labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items()))}
    shuffled = worker_inputs(node_labels=dict(sorted(labels.items(), reverse=True)))
    assert render_worker(shuffled) == render_worker(inputs)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"pod_subnet": "10.244.0.0/33"}, "not a CIDR"),
        ({"control_plane_endpoint": "API.Example.com"}, "lowercase DNS name"),
        ({"etcd_endpoints": []}, "at least one etcd endpoint"),
        ({"replica": -1}, ">= 0"),
        ({"bootstrap_token_ttl_hours": 0}, "permanent join credential"),
        ({"bootstrap_token_ttl_hours": 200}, "between 1 and 168 hours"),
        ({"kubeadm_renew_before_hours": 12}, "at least a day"),
        ({"etcd_sha256": "abc"}, "64 lowercase hex"),
        ({"kubernetes_version": "1.37"}, "must look like"),
    ],
)
def test_invalid_control_plane_inputs(
    control_plane_inputs: Callable[..., ControlPlaneInputs], changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        replace(control_plane_inputs(0), **changes)


def test_oidc_must_be_https() -> None:
    with pytest.raises(ValueError, match="https"):
        OIDC("http://login.example.com", "k8s")
