"""The controllers' cloud permissions: what upstream publishes, one identity each."""

from __future__ import annotations

import json
import re

import pytest

from fleetform.catalog.permissions import (
    AUTOSCALER,
    CCM,
    CONTROLLERS,
    CSI,
    FLUX_SOURCE,
    federated,
    permissions,
)


def test_every_cloud_has_each_controller_once_with_its_binding() -> None:
    for cloud in ("aws", "gcp"):
        found = {c.controller: c.binding for c in CONTROLLERS if c.cloud == cloud}
        assert found == {CCM: "federation", CSI: "federation", AUTOSCALER: "federation", FLUX_SOURCE: "machine"}
        assert [c.controller for c in federated(cloud)] == [CCM, CSI, AUTOSCALER]
    with pytest.raises(KeyError):
        permissions("azure", CCM)


def test_aws_policies_are_valid_documents_without_wildcard_actions() -> None:
    for c in federated("aws"):
        doc = json.loads(c.aws_policy())
        assert doc["Version"] == "2012-10-17" and doc["Statement"]
        for s in doc["Statement"]:
            assert s["Effect"] == "Allow"
            actions = [s["Action"]] if isinstance(s["Action"], str) else s["Action"]
            assert all(re.fullmatch(r"[a-z0-9-]+:[A-Za-z]+", a) for a in actions), actions
            assert len(actions) == len(set(actions))
        assert not c.gcp_permissions and not c.gcp_roles


def test_the_published_aws_sets() -> None:
    ccm = permissions("aws", CCM).aws_actions()
    # cloud-provider-aws "Control Plane Policy": 56 distinct actions, no IAM beyond the
    # service-linked role, no EC2 instance creation.
    assert len(ccm) == 56
    assert "iam:CreateServiceLinkedRole" in ccm and "ec2:RunInstances" not in ccm
    csi = json.loads(permissions("aws", CSI).aws_policy())["Statement"]
    # AmazonEBSCSIDriverPolicy: deletes only volumes/snapshots it tagged or created for a PVC.
    deletes = [s for s in csi if s["Action"] == ["ec2:DeleteVolume"]]
    assert len(deletes) == 3 and all("Condition" in s for s in deletes)
    scaler = permissions("aws", AUTOSCALER).aws_actions()
    assert {"autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup",
            "autoscaling:DescribeTags", "ec2:DescribeLaunchTemplateVersions"} <= scaler
    assert not any(a.startswith(("ec2:Run", "ec2:Terminate", "iam:")) for a in scaler)


def test_gcp_sets_are_permissions_not_owner_roles() -> None:
    for c in federated("gcp"):
        assert c.gcp_permissions and not c.aws_statements
        assert all(re.fullmatch(r"compute\.[A-Za-z]+\.[A-Za-z]+", p) for p in c.gcp_permissions)
        assert len(set(c.gcp_permissions)) == len(c.gcp_permissions)
        assert not {"roles/owner", "roles/editor", "roles/compute.admin"} & set(c.gcp_roles)
    assert permissions("gcp", CSI).gcp_roles == ("roles/compute.storageAdmin", "roles/iam.serviceAccountUser")
    assert set(permissions("gcp", CSI).gcp_permissions) == {
        "compute.instances.get", "compute.instances.attachDisk", "compute.instances.detachDisk"}
