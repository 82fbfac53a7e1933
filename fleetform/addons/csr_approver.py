"""The kubelet serving-certificate approver of one cluster (an add-on of its bundle).

Kubelets with ``serverTLSBootstrap: true`` ask the cluster CA for their serving
certificates through ``kubernetes.io/kubelet-serving`` CSRs, which Kubernetes never
approves on its own. postfinance ``kubelet-csr-approver`` approves a CSR when:

* its signer is ``kubernetes.io/kubelet-serving`` and its requester is
  ``system:node:<name>`` (only that node's kubelet holds this credential: bootstrap
  token, then NodeRestriction), with the common name equal to the requester;
* its DNS SAN (at most ``allowedDnsNames``) matches ``providerRegex`` and starts with
  the node name;
* every IP SAN lies in ``providerIpPrefixes`` (here: the cluster's node subnet);
* unless ``bypassDnsResolution``, the DNS SAN resolves to the IP SANs.

It does **not** ask the cloud whether an instance with that name and address exists;
what ties a CSR to a machine is the node's own credential plus the name and subnet
checks above. On GCP the node name is the short instance name, which pods cannot
resolve, so the DNS check is bypassed there and the subnet check carries the weight.
"""

from __future__ import annotations

import re
from typing import Any

from fleetform.catalog.versions import KUBELET_CSR_APPROVER_CHART
from fleetform.plan.model import ClusterPlan

NAME = "kubelet-csr-approver"
NAMESPACE = "kube-system"
REPOSITORY = "https://postfinance.github.io/kubelet-csr-approver"
# A GCP instance name (RFC 1035 label).
_GCP_NODE = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"


def provider_regex(cloud: str, region: str) -> str:
    """Node names the cluster's kubelets have: AWS private DNS names, GCP instance names."""
    if cloud == "aws":
        domain = r"ec2\.internal" if region == "us-east-1" else re.escape(f"{region}.compute.internal")
        return rf"^ip-([0-9]{{1,3}}-){{3}}[0-9]{{1,3}}\.{domain}$"
    return _GCP_NODE


def helm_values(plan: ClusterPlan) -> dict[str, Any]:
    """The chart's values for ``plan`` (keys of the chart's values.yaml)."""
    return {
        "providerRegex": provider_regex(plan.cloud, plan.region),
        "providerIpPrefixes": [plan.network.node_cidr],
        "bypassDnsResolution": plan.cloud == "gcp",
        "allowedDnsNames": 1,
        "ignoreNonSystemNode": False,
        "bypassHostnameCheck": False,
        "replicas": 2 if len(plan.control_plane.replicas) > 1 else 1,
        "tolerations": [
            {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"},
        ],
        "nodeSelector": {"node-role.kubernetes.io/control-plane": ""},
    }


def helm_release(plan: ClusterPlan, source: str = NAME) -> dict[str, Any]:
    """The Flux HelmRelease (chart from the HelmRepository ``source``, same namespace)."""
    return {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "spec": {
            "interval": "1h",
            "chart": {"spec": {"chart": NAME, "version": KUBELET_CSR_APPROVER_CHART,
                               "sourceRef": {"kind": "HelmRepository", "name": source, "namespace": NAMESPACE}}},
            "values": helm_values(plan),
        },
    }


def helm_repository() -> dict[str, Any]:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmRepository",
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "spec": {"interval": "24h", "url": REPOSITORY},
    }
