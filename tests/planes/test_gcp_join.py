"""Control-plane replicas have fixed, planned addresses, and joining replicas reach the
API through replica 0's instead of the load balancer (which on GCP hands a backend its
own packets back). Plus the GCP labels every resource carries.

Under the offline engine, on the real stacks (dev, prod, prod with its clusters
reversed) and the twin cluster on both clouds.
"""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from planes_support import (
    AWS_INSTANCE,
    GCP_INSTANCE,
    StackRun,
    run_stack,
    twin_document,
    user_data,
    write_stack,
)

from fleetform.plan.model import ClusterPlan

PIN = re.compile(r"ff_api_pin (\S+) 6443 /etc/kubernetes/pki/ca\.crt ((?:\d+\.\d+\.\d+\.\d+ ?)+)$", re.M)


def replicas(run: StackRun, plan: ClusterPlan) -> dict[str, Any]:
    """Replica name (cp-0) -> its instance resource."""
    cp = run.component("ControlPlane", f"{plan.key}-control-plane")
    found = {r.name.removeprefix(f"{cp.name}-"): r for r in run.owned(cp) if r.type in (AWS_INSTANCE, GCP_INSTANCE)}
    assert sorted(found) == sorted(r.name for r in plan.control_plane.replicas)
    return found


def script_of(r: Any) -> str:
    text = user_data(r)
    assert isinstance(text, str)
    files = {f["path"]: f["content"] for f in yaml.safe_load(text)["write_files"]}
    return str(files["/usr/local/lib/fleetform/bootstrap.sh"])


def test_fixed_addresses_sit_in_their_zone_clear_of_etcd(stack: StackRun) -> None:
    every: list[str] = []
    for plan in stack.plan.clusters:
        node = ipaddress.IPv4Network(plan.network.node_cidr)
        etcd = {m.ip for m in plan.etcd.members}
        for r in plan.control_plane.replicas:
            ip = ipaddress.IPv4Address(r.ip)
            assert ip in node, (plan.key, r)
            subnet = ipaddress.IPv4Network(plan.network.subnet(r.zone).private_cidr)
            # Inside the replica's own zone subnet, clear of AWS's and GCP's reserved addresses.
            assert subnet.network_address + 4 <= ip < subnet.broadcast_address - 1, (plan.key, r)
        ips = [r.ip for r in plan.control_plane.replicas]
        assert len(set(ips)) == len(ips) and not set(ips) & etcd, plan.key
        every += ips
    assert len(set(every)) == len(every)  # no two clusters share an address


def test_fixed_addresses_do_not_depend_on_cluster_order(prod: StackRun, prod_reordered: StackRun) -> None:
    before = {c.key: [(r.name, r.zone, r.ip) for r in c.control_plane.replicas] for c in prod.plan.clusters}
    after = {c.key: [(r.name, r.zone, r.ip) for r in c.control_plane.replicas] for c in prod_reordered.plan.clusters}
    assert before == after
    # ...and so neither do the machines, their names nor their documents.
    for plan in prod.plan.clusters:
        other = next(c for c in prod_reordered.plan.clusters if c.key == plan.key)
        a, b = replicas(prod, plan), replicas(prod_reordered, other)
        assert {k: v.urn for k, v in a.items()} == {k: v.urn for k, v in b.items()}
        assert {k: script_of(v) for k, v in a.items()} == {k: script_of(v) for k, v in b.items()}


def test_instances_carry_their_planned_address(stack: StackRun) -> None:
    for plan in stack.plan.clusters:
        found = replicas(stack, plan)
        for r in plan.control_plane.replicas:
            instance = found[r.name]
            if plan.cloud == "gcp":
                (nic,) = instance.inputs["networkInterfaces"]
                assert nic["networkIp"] == r.ip, (plan.key, r.name)
                # Reserved in the subnetwork, so no other machine takes it between replacements.
                (address,) = [a for a in stack.of_type("gcp:compute/address:Address") if a.name == f"{instance.name}-ip"]
                assert address.inputs["address"] == r.ip
                assert address.inputs["addressType"] == "INTERNAL"
                assert stack.outputs(address)["address"] == r.ip
            else:
                assert instance.inputs["privateIp"] == r.ip, (plan.key, r.name)


def test_joining_replicas_pin_the_api_to_replica_0_and_unpin_once_serving(stack: StackRun) -> None:
    for plan in stack.plan.clusters:
        found = replicas(stack, plan)
        ips = [r.ip for r in plan.control_plane.replicas]
        for i, r in enumerate(plan.control_plane.replicas):
            script = script_of(found[r.name])
            pins = PIN.findall(script)
            if i == 0:
                assert pins == [] and "kubeadm init" in script and "ff_hosts_unpin" not in script
                continue
            # The API name, pinned to replica 0's address first, then the other earlier replicas.
            assert pins == [(plan.api.dns, " ".join(ips[:i]))], (plan.key, r.name)
            lines = script.splitlines()
            join = next(n for n, line in enumerate(lines) if "kubeadm join" in line)
            local = next(n for n, line in enumerate(lines) if line.startswith('ff_wait "the local API server"'))
            assert lines[local].endswith(f"ff_api_ready {plan.api.dns} 6443 /etc/kubernetes/pki/ca.crt 127.0.0.1")
            assert join < local < lines.index(f"ff_hosts_unpin {plan.api.dns}")
            # kubeadm advertises the planned address (what the later replicas pin to).
            assert f"advertiseAddress: {r.ip}" in user_data(found[r.name])  # type: ignore[operator]


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> StackRun:
    document = twin_document("gcp")
    fleet = document["config"]["fleetform:fleet"]
    fleet["clouds"] = {"gcp": {"project": "acme-fleet", "default_labels": {"cost-center": "k8s-42", "owner": "x"}}}
    fleet["clusters"][0]["labels"] = {"team": "platform", "owner": "payments"}
    path = write_stack(Path(tmp_path_factory.mktemp("labelled")), "labelled", document)
    return run_stack(path)


def test_gcp_resources_carry_the_fleet_default_labels_and_cluster_labels(labelled: StackRun) -> None:
    (plan,) = labelled.plan.clusters
    assert dict(labelled.plan.gcp_default_labels) == {"cost-center": "k8s-42", "owner": "x"}
    with_labels = [r for r in labelled.resources if r.type.startswith("gcp:") and "labels" in r.inputs
                   and r.type != "pulumi:providers:gcp"]
    assert len(with_labels) > 10
    for r in with_labels:
        labels = r.inputs["labels"]
        # The cluster's own label wins over the fleet's default; fleetform's own win over both.
        assert labels["cost-center"] == "k8s-42" and labels["owner"] == "payments", r.urn
        assert labels["team"] == "platform" and labels["cluster"] == plan.name, r.urn
    (provider,) = [r for r in labelled.resources if r.type == "pulumi:providers:gcp" and plan.key in r.name]
    defaults = provider.inputs["defaultLabels"]
    if isinstance(defaults, str):
        defaults = json.loads(defaults)
    assert defaults["cost-center"] == "k8s-42" and defaults["owner"] == "payments"
