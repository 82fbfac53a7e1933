"""Hand-written add-on contexts covering both clouds, every CNI, mesh membership,
federated and machine identities, tenants and a migration's snapshot jobs."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fleetform.addons.context import (
    AUTOSCALER,
    CCM,
    CSI,
    AddonContext,
    ChartRelease,
    CniContext,
    NodeGroup,
    Workload,
)

AWS_TOKEN = "/var/run/secrets/fleetform.io/aws/token"
GCP_TOKEN = "/var/run/secrets/fleetform.io/gcp/token"

CILIUM_VALUES: dict[str, Any] = {
    "cluster": {"name": "eu-core", "id": 3},
    "ipam": {"mode": "cluster-pool", "operator": {"clusterPoolIPv4PodCIDRList": ["10.3.128.0/17"],
                                                  "clusterPoolIPv4MaskSize": 24}},
    "routingMode": "tunnel", "tunnelProtocol": "vxlan", "tunnelPort": 8472, "MTU": 9001,
    "kubeProxyReplacement": False, "hubble": {"enabled": False, "relay": {"enabled": False}},
    "clustermesh": {"useAPIServer": True, "config": {"enabled": True, "clusters": [
        {"name": "us-core", "ips": ["10.4.0.6", "10.4.8.6", "10.4.16.6"], "port": 32004}]},
        "apiserver": {"service": {"type": "NodePort", "nodePort": 32003, "externalTrafficPolicy": "Cluster"},
                      "tls": {"authMode": "cluster",
                              "server": {"extraDnsNames": ["clustermesh.eu-core.fleet.acme.example"],
                                         "extraIpAddresses": ["10.3.0.6", "10.3.8.6", "10.3.16.6"]}}}},
}
CALICO_VALUES: dict[str, Any] = {
    "installation": {"enabled": True, "kubernetesProvider": "", "cni": {"type": "Calico", "ipam": {"type": "Calico"}},
                     "calicoNetwork": {"bgp": "Disabled", "mtu": 1410, "ipPools": [
                         {"cidr": "10.4.128.0/17", "encapsulation": "VXLAN", "natOutgoing": "Enabled",
                          "nodeSelector": "all()", "blockSize": 26}]}},
    "kubernetesServiceEndpoint": {"host": "api.gcp-core.fleet.acme.example", "port": "6443"},
}
FLANNEL_VALUES: dict[str, Any] = {
    "podCidr": "10.5.128.0/17", "flannel": {"backend": "vxlan", "backendPort": 8472, "mtu": 9001}}

TENANT_OBJECTS: tuple[dict[str, Any], ...] = (
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
     "metadata": {"name": "fleetform:admins", "labels": {"app.kubernetes.io/managed-by": "fleetform"}},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
     "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "oidc:platform"}]},
    {"apiVersion": "v1", "kind": "Namespace",
     "metadata": {"name": "payments", "labels": {"fleetform.io/tenant": "payments"}}},
    {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
     "metadata": {"name": "default-deny", "namespace": "payments"},
     "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}},
)


def aws(**changes: Any) -> AddonContext:
    ctx = AddonContext(
        cluster="eu-core", key="eu-core", cloud="aws", region="eu-west-1",
        zones=("eu-west-1a", "eu-west-1b", "eu-west-1c"), kubernetes_version="1.37.1",
        pod_cidr="10.3.128.0/17", service_cidr="10.3.64.0/18", node_cidr="10.3.0.0/18", api_host="api.eu-core.fleet.acme.example",
        api_port=6443,
        cni=CniContext("cilium", "kube-system",
                       (ChartRelease("cilium", "cilium", "1.20.2", "https://helm.cilium.io/", CILIUM_VALUES),),
                       secret_values=True),
        node_groups=(NodeGroup("general", "eu-core-workers-general-group", 3, 10),),
        access=TENANT_OBJECTS, tenants=("payments",),
        identities=tuple((c, Workload(AWS_TOKEN, "sts.amazonaws.com",
                                      aws_role_arn=f"arn:aws:iam::123456789012:role/acme-prod-{c}-eu-core"))
                         for c in (CCM, CSI, AUTOSCALER)),
    )
    return replace(ctx, **changes)


def gcp(**changes: Any) -> AddonContext:
    creds = '{"type": "external_account", "audience": "//iam.googleapis.com/projects/1/x"}'
    ctx = AddonContext(
        cluster="gcp-core", key="gcp-core", cloud="gcp", region="europe-west4",
        zones=("europe-west4-a", "europe-west4-b", "europe-west4-c"), kubernetes_version="1.36.3",
        pod_cidr="10.4.128.0/17", service_cidr="10.4.64.0/18", node_cidr="10.4.0.0/18", api_host="api.gcp-core.fleet.acme.example",
        api_port=6443,
        cni=CniContext("calico", "tigera-operator", (
            ChartRelease("calico-crds", "crd.projectcalico.org.v1", "v3.32.2", "https://docs.tigera.io/calico/charts"),
            ChartRelease("calico", "tigera-operator", "v3.32.2", "https://docs.tigera.io/calico/charts",
                         CALICO_VALUES))),
        node_groups=tuple(NodeGroup("general", f"gcp-core-workers-general-{z}", lo, hi, z)
                          for z, lo, hi in (("europe-west4-a", 1, 4), ("europe-west4-b", 1, 3),
                                            ("europe-west4-c", 1, 3))),
        project="acme-fleet", network="gcp-core-network", subnetwork="gcp-core-network-nodes",
        node_tag="gcp-core-node",
        identities=tuple((c, Workload(GCP_TOKEN, "sts.googleapis.com", gcp_credentials=creds))
                         for c in (CCM, CSI, AUTOSCALER)),
    )
    return replace(ctx, **changes)


def flannel(**changes: Any) -> AddonContext:
    return aws(cluster="edge-1", key="edge-1", access=(), tenants=(),
               cni=CniContext("flannel", "kube-flannel", (ChartRelease(
                   "flannel", "flannel", "v0.28.9", "https://flannel-io.github.io/flannel/", FLANNEL_VALUES),)),
               **changes)


SNAPSHOT_OBJECTS: tuple[dict[str, Any], ...] = (
    {"apiVersion": "v1", "kind": "ServiceAccount",
     "metadata": {"name": "fleetform-etcd-snapshot", "namespace": "kube-system"}},
    {"apiVersion": "batch/v1", "kind": "Job",
     "metadata": {"name": "fleetform-etcd-migration-snapshot", "namespace": "kube-system"},
     "spec": {"template": {"spec": {"restartPolicy": "OnFailure", "containers": [
         {"name": "snapshot", "image": "public.ecr.aws/aws-cli/aws-cli:2.27.49",
          "command": ["/bin/bash", "-c", "true"]}]}}}},
)

ALL = {
    "aws-cilium-mesh": aws,
    "gcp-calico": gcp,
    "aws-flannel": flannel,
    "gcp-machine-identity": lambda: gcp(identities=()),
    "aws-migration-source": lambda: aws(snapshots=SNAPSHOT_OBJECTS),
}
