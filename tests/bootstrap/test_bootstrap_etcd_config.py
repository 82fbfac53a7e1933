"""The etcd member configuration, unit, and snapshot/restore commands (no etcd needed)."""

from __future__ import annotations

import configparser
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
import yaml
from bootstrap_helpers import member_list

from fleetform.bootstrap import (
    EtcdMember,
    EtcdNodeInputs,
    ObjectLocation,
    aws_ebs_device_path,
    etcd_config,
    etcd_release_url,
    etcd_restore_argv,
    etcd_systemd_unit,
    gcp_disk_device_path,
    render_etcd_member,
)

# Every key below is defined by BOTH etcd 3.4's and 3.6's embed/config.go (json tags of
# Config/configJSON/securityConfig). Neither version rejects unknown keys, so a key
# outside this set could be silently ignored by one of them: extend it only after
# checking both sources.
KEYS_IN_3_4_AND_3_6 = {
    "name",
    "data-dir",
    "listen-client-urls",
    "listen-peer-urls",
    "listen-metrics-urls",
    "advertise-client-urls",
    "initial-advertise-peer-urls",
    "initial-cluster",
    "initial-cluster-state",
    "initial-cluster-token",
    "client-transport-security",
    "peer-transport-security",
    "strict-reconfig-check",
    "pre-vote",
    "heartbeat-interval",
    "election-timeout",
    "snapshot-count",
    "quota-backend-bytes",
    "logger",
    "log-level",
    "log-outputs",
}
SECURITY_KEYS = {"cert-file", "key-file", "client-cert-auth", "trusted-ca-file", "auto-tls"}


def test_config_uses_only_keys_both_versions_accept(etcd_inputs: Callable[..., EtcdNodeInputs]) -> None:
    config = etcd_config(etcd_inputs())
    assert set(config) == KEYS_IN_3_4_AND_3_6
    assert set(config["client-transport-security"]) == SECURITY_KEYS
    assert set(config["peer-transport-security"]) == SECURITY_KEYS


def test_client_and_peer_tls_require_certificates(etcd_inputs: Callable[..., EtcdNodeInputs]) -> None:
    config = etcd_config(etcd_inputs("etcd-2"))
    for side, cert in (("client-transport-security", "server"), ("peer-transport-security", "peer")):
        tls = config[side]
        assert tls["client-cert-auth"] is True  # --client-cert-auth / --peer-client-cert-auth
        assert tls["auto-tls"] is False  # --auto-tls / --peer-auto-tls
        assert tls["trusted-ca-file"] == "/etc/etcd/pki/ca.crt"
        assert tls["cert-file"] == f"/etc/etcd/pki/{cert}.crt"
        assert tls["key-file"] == f"/etc/etcd/pki/{cert}.key"
    for key in ("listen-client-urls", "listen-peer-urls", "advertise-client-urls", "initial-advertise-peer-urls"):
        assert config[key].startswith("https://")


def test_cluster_membership_and_addresses(etcd_inputs: Callable[..., EtcdNodeInputs]) -> None:
    configs = [etcd_config(etcd_inputs(f"etcd-{i}", n=5)) for i in range(5)]
    expected = ",".join(f"etcd-{i}=https://etcd-{i}.c1.fleet.internal:2380" for i in range(5))
    for i, config in enumerate(configs):
        assert config["name"] == f"etcd-{i}"
        assert config["initial-cluster"] == expected  # identical on every member
        assert config["initial-cluster-state"] == "new"
        assert config["initial-cluster-token"] == "c1"
        assert config["data-dir"] == "/var/lib/etcd/data"
        # Listen on the private IP, advertise the DNS name (the certificate has both).
        assert config["listen-client-urls"] == f"https://10.0.{i}.10:2379"
        assert config["listen-peer-urls"] == f"https://10.0.{i}.10:2380"
        assert config["advertise-client-urls"] == f"https://etcd-{i}.c1.fleet.internal:2379"
        assert config["initial-advertise-peer-urls"] == f"https://etcd-{i}.c1.fleet.internal:2380"
        assert config["listen-metrics-urls"] == "http://127.0.0.1:2381"


def test_document_writes_the_config_and_unit(etcd_inputs: Callable[..., EtcdNodeInputs]) -> None:
    inputs = etcd_inputs("etcd-1")
    files = {f["path"]: f for f in yaml.safe_load(render_etcd_member(inputs))["write_files"]}
    assert yaml.safe_load(files["/etc/etcd/etcd.conf.yml"]["content"]) == etcd_config(inputs)
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read_string(files["/etc/systemd/system/etcd.service"]["content"])
    assert unit["Service"]["ExecStart"] == "/usr/local/bin/etcd --config-file /etc/etcd/etcd.conf.yml"
    assert unit["Service"]["Restart"] == "always"
    assert unit["Service"]["User"] == "etcd"
    assert unit["Unit"]["RequiresMountsFor"] == "/var/lib/etcd"
    assert files["/etc/systemd/system/etcd.service"]["content"] == etcd_systemd_unit(inputs)
    script = files["/usr/local/lib/fleetform/bootstrap.sh"]["content"]
    url = "https://github.com/etcd-io/etcd/releases/download/v3.6.5/etcd-v3.6.5-linux-amd64.tar.gz"
    assert url in script
    assert f'ff_check_sha256 "$dl/etcd-v3.6.5-linux-amd64.tar.gz" {inputs.sha256}' in script
    assert "SHA256SUMS" not in script  # pinned: the plan's digest is the only authority
    assert f"ff_prepare_disk {inputs.data_device} /var/lib/etcd etcd-data" in script
    # Restore happens only when asked, and before etcd's first start.
    assert "/usr/local/lib/fleetform/etcd-restore" not in files


@pytest.mark.parametrize("unpinned", [None, ""])
def test_unpinned_release_is_checked_against_its_sha256sums(
    etcd_inputs: Callable[..., EtcdNodeInputs], unpinned: str | None
) -> None:
    inputs = replace(etcd_inputs("etcd-0", arch="arm64"), sha256=unpinned)
    assert inputs.sha256 is None
    script = {f["path"]: f["content"] for f in yaml.safe_load(render_etcd_member(inputs))["write_files"]}[
        "/usr/local/lib/fleetform/bootstrap.sh"
    ]
    assert "https://github.com/etcd-io/etcd/releases/download/v3.6.5/SHA256SUMS" in script
    assert 'ff_check_sha256 "$dl/etcd-v3.6.5-linux-arm64.tar.gz" "$expected"' in script


def test_restore_uses_the_config_flags_and_the_right_tool(etcd_inputs: Callable[..., EtcdNodeInputs]) -> None:
    node = etcd_inputs("etcd-1", version="3.6.5")
    test = etcd_inputs("etcd-1", version="3.4.23", certs=(node.tls.server_cert_pem, node.tls.peer_cert_pem))
    config = etcd_config(node)
    on_node = etcd_restore_argv(node, "/var/lib/etcd/restore.db")
    assert on_node[:4] == ["/usr/local/bin/etcdutl", "snapshot", "restore", "/var/lib/etcd/restore.db"]
    for flag, key in (
        ("--name", "name"),
        ("--initial-cluster", "initial-cluster"),
        ("--initial-cluster-token", "initial-cluster-token"),
        ("--initial-advertise-peer-urls", "initial-advertise-peer-urls"),
        ("--data-dir", "data-dir"),
    ):
        assert f"{flag}={config[key]}" in on_node
    # 3.4 (the tests' etcd): etcdctl, and no revision bump (3.5+ only). Nothing else differs.
    in_tests = etcd_restore_argv(test, "/var/lib/etcd/restore.db")
    assert in_tests[0] == "/usr/local/bin/etcdctl"
    assert on_node[1:] == [*in_tests[1:], "--bump-revision=1000000000", "--mark-compacted"]


def test_restore_script_only_when_asked_and_before_start(etcd_inputs: Callable[..., EtcdNodeInputs]) -> None:
    inputs = etcd_inputs("etcd-0", restore_from=ObjectLocation("fleet-backups", "etcd/c1/snap.db"))
    files = {f["path"]: f["content"] for f in yaml.safe_load(render_etcd_member(inputs))["write_files"]}
    restore = files["/usr/local/lib/fleetform/etcd-restore"]
    assert "ff_object_get fleet-backups etcd/c1/snap.db /var/lib/etcd/restore.db" in restore
    assert "if [ -e /var/lib/etcd/data ]" in restore  # never over existing data
    boot = files["/usr/local/lib/fleetform/bootstrap.sh"].splitlines()
    assert boot.index("/usr/local/lib/fleetform/etcd-restore") < boot.index("systemctl start --no-block etcd.service")
    assert max(i for i, line in enumerate(boot) if line.startswith("ff_prepare_disk")) < boot.index(
        "/usr/local/lib/fleetform/etcd-restore"
    )


def test_release_url_and_device_paths() -> None:
    assert etcd_release_url("3.6.5", "arm64") == (
        "https://github.com/etcd-io/etcd/releases/download/v3.6.5/etcd-v3.6.5-linux-arm64.tar.gz"
    )
    assert aws_ebs_device_path("vol-0123456789abcdef0") == (
        "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0"
    )
    assert gcp_disk_device_path("etcd-data") == "/dev/disk/by-id/google-etcd-data"
    with pytest.raises(ValueError):
        aws_ebs_device_path("/dev/xvdf")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"members": member_list(4)}, "odd number"),
        ({"member_name": "etcd-7"}, "not one of"),
        ({"members": [*member_list(2), EtcdMember("etcd-2", "etcd-0.c1.fleet.internal", "10.0.9.9")]}, "distinct"),
        ({"version": "v3.6"}, "must look like"),
        ({"sha256": "abc"}, "64 lowercase hex"),
        ({"data_device": "disk1"}, "absolute path"),
        ({"data_device": "/dev/disk/by-id/x'; rm -rf /"}, "absolute path"),
    ],
)
def test_invalid_etcd_inputs_are_refused(
    etcd_inputs: Callable[..., EtcdNodeInputs], changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        replace(etcd_inputs("etcd-0"), **changes)
