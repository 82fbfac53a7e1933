"""Hardening on every machine, protection of stateful resources."""

from __future__ import annotations

from planes_support import AWS_INSTANCE, AWS_LAUNCH_TEMPLATE, GCP_INSTANCE, GCP_TEMPLATE, StackRun

IMDSV2 = {"httpEndpoint": "enabled", "httpTokens": "required", "httpPutResponseHopLimit": 1}
SHIELDED = {"enableSecureBoot": True, "enableVtpm": True, "enableIntegrityMonitoring": True}
STATEFUL = ("aws:ebs/volume:Volume", "gcp:compute/disk:Disk")


def test_imdsv2_with_hop_limit_one_on_every_instance_and_launch_template(stack: StackRun) -> None:
    machines = stack.of_type(AWS_INSTANCE) + stack.of_type(AWS_LAUNCH_TEMPLATE)
    assert len(machines) == sum(len(p.etcd.members) + len(p.control_plane.replicas) + len(p.workers)
                                for p in stack.plan.clusters if p.cloud == "aws")
    for m in machines:
        assert m.inputs.get("metadataOptions") == IMDSV2, m.urn


def test_aws_disks_are_encrypted_and_machines_private(stack: StackRun) -> None:
    for m in stack.of_type(AWS_INSTANCE):
        assert m.inputs["rootBlockDevice"]["encrypted"] is True, m.urn
        assert m.inputs["associatePublicIpAddress"] is False, m.urn
    for lt in stack.of_type(AWS_LAUNCH_TEMPLATE):
        assert [d["ebs"]["encrypted"] for d in lt.inputs["blockDeviceMappings"]] == ["true"], lt.urn
        assert [n["associatePublicIpAddress"] for n in lt.inputs["networkInterfaces"]] == ["false"], lt.urn
    for v in stack.of_type("aws:ebs/volume:Volume"):
        assert v.inputs["encrypted"] is True and v.inputs["type"] == "gp3", v.urn


def test_shielded_vm_and_os_login_on_every_gcp_machine(stack: StackRun) -> None:
    machines = stack.of_type(GCP_INSTANCE) + stack.of_type(GCP_TEMPLATE)
    assert len(machines) == sum(len(p.etcd.members) + len(p.control_plane.replicas) + len(p.workers)
                                for p in stack.plan.clusters if p.cloud == "gcp")
    for m in machines:
        assert m.inputs.get("shieldedInstanceConfig") == SHIELDED, m.urn
        assert m.inputs["metadata"]["enable-oslogin"] == "TRUE", m.urn
        assert m.inputs["metadata"]["block-project-ssh-keys"] == "TRUE", m.urn
        # No access config: no public IP.
        assert all("accessConfigs" not in nic for nic in m.inputs["networkInterfaces"]), m.urn


def test_etcd_data_disks_are_protected(stack: StackRun) -> None:
    for plan in stack.plan.clusters:
        etcd = stack.component("EtcdDataPlane", f"{plan.key}-etcd")
        disks = [r for r in stack.owned(etcd) if r.type in STATEFUL]
        assert len(disks) == len(plan.etcd.members)
        # Unprotected only when decommissioned, a released migration source, or a
        # migration target still in prepare (a copy nobody writes to yet).
        assert all(d.protect is plan.protect_data for d in disks), plan.key
        assert plan.protect_data is not (plan.decommission or (
            plan.migration is not None and (
                (plan.migration.role == "source" and plan.migration.release_source
                 and plan.migration.phase == "cutover")
                or (plan.migration.role == "target" and plan.migration.phase == "prepare")))), plan.key
    # Data disks exist only in etcd planes.
    for d in (r for r in stack.resources if r.type in STATEFUL):
        component = stack.component_of(d)
        assert component is not None and component.type == "fleetform:index:EtcdDataPlane", d.urn


def test_machines_themselves_are_not_protected(stack: StackRun) -> None:
    """Protection sits on the data, not on machines: a rolled member must be replaceable."""
    for m in stack.of_type(AWS_INSTANCE) + stack.of_type(GCP_INSTANCE):
        assert m.protect is False, m.urn


def test_the_fleet_root_ca_is_protected(stack: StackRun) -> None:
    identity = stack.component("SharedIdentity", f"{stack.plan.fleet}-identity")
    root = [r for r in stack.owned(identity) if r.type in
            ("tls:index/privateKey:PrivateKey", "tls:index/selfSignedCert:SelfSignedCert")]
    assert root and all(r.protect for r in root)


def test_machines_and_disks_are_labelled_with_fleet_cluster_and_plane(stack: StackRun) -> None:
    labelled = {AWS_INSTANCE: "tags", AWS_LAUNCH_TEMPLATE: "tags", "aws:ebs/volume:Volume": "tags",
                "aws:ec2/vpc:Vpc": "tags", "aws:ec2/securityGroup:SecurityGroup": "tags",
                GCP_INSTANCE: "labels", GCP_TEMPLATE: "labels", "gcp:compute/disk:Disk": "labels"}
    for plan in stack.plan.clusters:
        for r in stack.in_cluster(plan):
            key = labelled.get(r.type)
            if key is None:
                continue
            labels = r.inputs.get(key) or {}
            assert labels.get("fleet") == stack.plan.fleet, r.urn
            assert labels.get("cluster") == plan.name, r.urn
            assert labels.get("plane"), r.urn
