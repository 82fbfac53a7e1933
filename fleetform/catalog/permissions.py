"""The cloud permissions of each in-cluster controller, as their upstream projects publish them.

Each entry is data copied from the named upstream document (no additions, no omissions
beyond what that document itself says to add for the way fleetform runs the
controller). ``binding`` says who holds the permissions:

- ``federation``: the controller's own Kubernetes service account, through the fleet's
  workload identity federation (one AWS role / GCP service account per controller and
  cluster, trusting exactly that service account under that cluster's issuer), as kOps
  does with IRSA;
- ``machine``: the control-plane machine identity (Flux's source-controller: it must
  read the bundle before anything else runs, on the host network of control-plane
  nodes; it gets read access to that cluster's add-on bucket and nothing else).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

Cloud = Literal["aws", "gcp"]
Binding = Literal["federation", "machine"]

# Controllers (names shared with the bundle: fleetform/addons/context.py).
CCM = "cloud-controller-manager"
CSI = "csi-controller"
AUTOSCALER = "cluster-autoscaler"
FLUX_SOURCE = "flux-source-controller"
FEDERATED: tuple[str, ...] = (CCM, CSI, AUTOSCALER)

# (cloud, controller) -> (namespace, service account) its pods run as.
SERVICE_ACCOUNTS: dict[tuple[str, str], tuple[str, str]] = {
    ("aws", CCM): ("kube-system", "cloud-controller-manager"),
    ("aws", CSI): ("kube-system", "ebs-csi-controller-sa"),
    ("aws", AUTOSCALER): ("kube-system", "cluster-autoscaler"),
    ("aws", FLUX_SOURCE): ("flux-system", "source-controller"),
    ("gcp", CCM): ("kube-system", "cloud-controller-manager"),
    ("gcp", CSI): ("gce-pd-csi-driver", "csi-gce-pd-controller-sa"),
    ("gcp", AUTOSCALER): ("kube-system", "cluster-autoscaler"),
    ("gcp", FLUX_SOURCE): ("flux-system", "source-controller"),
}


@dataclass(frozen=True)
class ControllerPermissions:
    controller: str
    cloud: Cloud
    binding: Binding
    source: str  # the upstream document the permissions come from
    # AWS: the IAM policy statements, verbatim.
    aws_statements: tuple[dict[str, Any], ...] = ()
    # GCP: permissions of a custom role, and predefined roles, both as published.
    gcp_permissions: tuple[str, ...] = ()
    gcp_roles: tuple[str, ...] = ()
    note: str = ""

    @property
    def service_account(self) -> tuple[str, str]:
        return SERVICE_ACCOUNTS[(self.cloud, self.controller)]

    def aws_policy(self) -> str:
        """The IAM policy document (JSON, deterministic)."""
        return json.dumps({"Version": "2012-10-17", "Statement": list(self.aws_statements)}, sort_keys=True)

    def aws_actions(self) -> frozenset[str]:
        out: set[str] = set()
        for s in self.aws_statements:
            actions = s["Action"]
            out.update([actions] if isinstance(actions, str) else actions)
        return frozenset(out)


def _allow(actions: list[str], resource: str | list[str] = "*", condition: dict[str, Any] | None = None
           ) -> dict[str, Any]:
    s: dict[str, Any] = {"Effect": "Allow", "Action": actions, "Resource": resource}
    if condition is not None:
        s["Condition"] = condition
    return s


# kubernetes/cloud-provider-aws docs/prerequisites.md, "Control Plane Policy" (the
# document lists elasticloadbalancing:AddTags twice; once here).
_AWS_CCM = (_allow(sorted({
    "autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeTags",
    "ec2:DescribeInstances", "ec2:DescribeRegions", "ec2:DescribeRouteTables", "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets", "ec2:DescribeVolumes", "ec2:DescribeAvailabilityZones", "ec2:CreateSecurityGroup",
    "ec2:CreateTags", "ec2:CreateVolume", "ec2:ModifyInstanceAttribute", "ec2:ModifyVolume", "ec2:AttachVolume",
    "ec2:AuthorizeSecurityGroupIngress", "ec2:CreateRoute", "ec2:DeleteRoute", "ec2:DeleteSecurityGroup",
    "ec2:DeleteVolume", "ec2:DetachVolume", "ec2:RevokeSecurityGroupIngress", "ec2:DescribeVpcs",
    "ec2:DescribeInstanceTopology",
    "elasticloadbalancing:AddTags", "elasticloadbalancing:AttachLoadBalancerToSubnets",
    "elasticloadbalancing:ApplySecurityGroupsToLoadBalancer", "elasticloadbalancing:CreateLoadBalancer",
    "elasticloadbalancing:CreateLoadBalancerPolicy", "elasticloadbalancing:CreateLoadBalancerListeners",
    "elasticloadbalancing:ConfigureHealthCheck", "elasticloadbalancing:DeleteLoadBalancer",
    "elasticloadbalancing:DeleteLoadBalancerListeners", "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeLoadBalancerAttributes", "elasticloadbalancing:DetachLoadBalancerFromSubnets",
    "elasticloadbalancing:DeregisterInstancesFromLoadBalancer", "elasticloadbalancing:ModifyLoadBalancerAttributes",
    "elasticloadbalancing:RegisterInstancesWithLoadBalancer",
    "elasticloadbalancing:SetLoadBalancerPoliciesForBackendServer", "elasticloadbalancing:CreateListener",
    "elasticloadbalancing:CreateTargetGroup", "elasticloadbalancing:DeleteListener",
    "elasticloadbalancing:DeleteTargetGroup", "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeLoadBalancerPolicies", "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetHealth", "elasticloadbalancing:ModifyListener",
    "elasticloadbalancing:ModifyTargetGroup", "elasticloadbalancing:RegisterTargets",
    "elasticloadbalancing:DeregisterTargets", "elasticloadbalancing:SetLoadBalancerPoliciesOfListener",
    "iam:CreateServiceLinkedRole", "kms:DescribeKey",
}), ["*"]),)

# kubernetes-sigs/aws-ebs-csi-driver docs/example-iam-policy.json (the content of the
# AWS managed policy AmazonEBSCSIDriverPolicy), statement for statement.
_VOL, _SNAP, _INST = "arn:aws:ec2:*:*:volume/*", "arn:aws:ec2:*:*:snapshot/*", "arn:aws:ec2:*:*:instance/*"
_AWS_EBS_CSI = (
    _allow(["ec2:DescribeAvailabilityZones", "ec2:DescribeInstances", "ec2:DescribeSnapshots", "ec2:DescribeTags",
            "ec2:DescribeVolumes", "ec2:DescribeVolumesModifications", "ec2:DescribeVolumeStatus"]),
    _allow(["ec2:CreateSnapshot", "ec2:ModifyVolume"], _VOL),
    _allow(["ec2:CopyVolumes"], ["arn:aws:ec2:*:*:volume/vol-*"]),
    _allow(["ec2:AttachVolume", "ec2:DetachVolume"], [_VOL, _INST]),
    _allow(["ec2:CreateVolume", "ec2:EnableFastSnapshotRestores"], _SNAP),
    _allow(["ec2:CreateTags"], [_VOL, _SNAP],
           {"StringEquals": {"ec2:CreateAction": ["CreateVolume", "CreateSnapshot", "CopyVolumes"]}}),
    _allow(["ec2:DeleteTags"], [_VOL, _SNAP]),
    _allow(["ec2:CreateVolume", "ec2:CopyVolumes"], _VOL,
           {"StringLike": {"aws:RequestTag/ebs.csi.aws.com/cluster": "true"}}),
    _allow(["ec2:CreateVolume", "ec2:CopyVolumes"], _VOL, {"StringLike": {"aws:RequestTag/CSIVolumeName": "*"}}),
    _allow(["ec2:DeleteVolume"], _VOL, {"StringLike": {"ec2:ResourceTag/ebs.csi.aws.com/cluster": "true"}}),
    _allow(["ec2:DeleteVolume"], _VOL, {"StringLike": {"ec2:ResourceTag/CSIVolumeName": "*"}}),
    _allow(["ec2:DeleteVolume"], _VOL, {"StringLike": {"ec2:ResourceTag/kubernetes.io/created-for/pvc/name": "*"}}),
    _allow(["ec2:CreateSnapshot"], _SNAP, {"StringLike": {"aws:RequestTag/CSIVolumeSnapshotName": "*"}}),
    _allow(["ec2:CreateSnapshot"], _SNAP, {"StringLike": {"aws:RequestTag/ebs.csi.aws.com/cluster": "true"}}),
    _allow(["ec2:DeleteSnapshot"], _SNAP, {"StringLike": {"ec2:ResourceTag/CSIVolumeSnapshotName": "*"}}),
    _allow(["ec2:DeleteSnapshot"], _SNAP, {"StringLike": {"ec2:ResourceTag/ebs.csi.aws.com/cluster": "true"}}),
)

# kubernetes/autoscaler cluster-autoscaler/cloudprovider/aws/README.md, "IAM Policy":
# the minimum, plus what it says auto-discovery adds (autoscaling:DescribeTags) and,
# for groups built from launch templates (ours), ec2:DescribeLaunchTemplateVersions.
_AWS_AUTOSCALER = (_allow([
    "autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
    "autoscaling:DescribeLaunchConfigurations", "autoscaling:SetDesiredCapacity",
    "autoscaling:TerminateInstanceInAutoScalingGroup", "ec2:DescribeImages", "ec2:DescribeInstanceTypes",
    "ec2:GetInstanceTypesFromInstanceRequirementsPages", "eks:DescribeNodegroup",
    "autoscaling:DescribeTags", "ec2:DescribeLaunchTemplateVersions",
], ["*"]),)

CONTROLLERS: tuple[ControllerPermissions, ...] = (
    ControllerPermissions(CCM, "aws", "federation", "kubernetes/cloud-provider-aws docs/prerequisites.md",
                          aws_statements=_AWS_CCM),
    ControllerPermissions(CSI, "aws", "federation", "kubernetes-sigs/aws-ebs-csi-driver docs/example-iam-policy.json",
                          aws_statements=_AWS_EBS_CSI),
    ControllerPermissions(AUTOSCALER, "aws", "federation",
                          "kubernetes/autoscaler cluster-autoscaler/cloudprovider/aws/README.md",
                          aws_statements=_AWS_AUTOSCALER),
    ControllerPermissions(
        FLUX_SOURCE, "aws", "machine", "fluxcd Bucket provider aws: s3:GetObject and s3:ListBucket",
        note="granted on the cluster's add-on bucket only (the adapter's bucket readers)"),
    # cloud-provider-gcp publishes no permission list; these are the permissions
    # OpenShift's cloud-controller-manager operator requests for the same CCM
    # (CredentialsRequest openshift-gcp-ccm).
    ControllerPermissions(
        CCM, "gcp", "federation", "openshift CredentialsRequest openshift-gcp-ccm (upstream publishes none)",
        gcp_permissions=(
            "compute.addresses.create", "compute.addresses.delete", "compute.addresses.get", "compute.addresses.list",
            "compute.firewalls.create", "compute.firewalls.delete", "compute.firewalls.get", "compute.firewalls.update",
            "compute.forwardingRules.create", "compute.forwardingRules.delete", "compute.forwardingRules.get",
            "compute.healthChecks.create", "compute.healthChecks.delete", "compute.healthChecks.get",
            "compute.healthChecks.update", "compute.httpHealthChecks.create", "compute.httpHealthChecks.delete",
            "compute.httpHealthChecks.get", "compute.httpHealthChecks.update", "compute.instanceGroups.create",
            "compute.instanceGroups.delete", "compute.instanceGroups.get", "compute.instanceGroups.update",
            "compute.instances.get", "compute.instances.use", "compute.regionBackendServices.create",
            "compute.regionBackendServices.delete", "compute.regionBackendServices.get",
            "compute.regionBackendServices.update", "compute.targetPools.addInstance", "compute.targetPools.create",
            "compute.targetPools.delete", "compute.targetPools.get", "compute.targetPools.removeInstance",
            "compute.zones.list",
        )),
    # gcp-compute-persistent-disk-csi-driver deploy/gcp-compute-persistent-disk-csi-driver-custom-role.yaml
    # and deploy/common.sh get_needed_roles.
    ControllerPermissions(
        CSI, "gcp", "federation", "kubernetes-sigs/gcp-compute-persistent-disk-csi-driver deploy/",
        gcp_permissions=("compute.instances.get", "compute.instances.attachDisk", "compute.instances.detachDisk"),
        gcp_roles=("roles/compute.storageAdmin", "roles/iam.serviceAccountUser")),
    # The autoscaler's GCE README publishes no permission list: the calls its GCE
    # client (cloudprovider/gce/autoscaling_gce_client.go) makes. Every group call is
    # zonal (instanceGroupManagers get/listManagedInstances: .get; resize, createInstances,
    # deleteInstances: .update; list per zone for its cache) and it waits on zone
    # operations, which is why the pools are zonal MIGs; plus the groups' templates,
    # machine types and zones.
    ControllerPermissions(
        AUTOSCALER, "gcp", "federation", "kubernetes/autoscaler cloudprovider/gce (calls of its GCE client)",
        gcp_permissions=(
            "compute.instanceGroupManagers.get", "compute.instanceGroupManagers.list",
            "compute.instanceGroupManagers.update", "compute.instanceGroups.get", "compute.instanceGroups.list",
            "compute.instanceTemplates.get", "compute.instanceTemplates.list", "compute.instances.get",
            "compute.instances.list", "compute.machineTypes.get", "compute.machineTypes.list",
            "compute.zoneOperations.get", "compute.zones.list",
        )),
    ControllerPermissions(
        FLUX_SOURCE, "gcp", "machine", "fluxcd Bucket provider gcp: roles/storage.objectViewer",
        note="granted on the cluster's add-on bucket only (the adapter's bucket readers)"),
)


def permissions(cloud: str, controller: str) -> ControllerPermissions:
    for c in CONTROLLERS:
        if c.cloud == cloud and c.controller == controller:
            return c
    raise KeyError((cloud, controller))


def federated(cloud: str) -> tuple[ControllerPermissions, ...]:
    return tuple(c for c in CONTROLLERS if c.cloud == cloud and c.binding == "federation")
