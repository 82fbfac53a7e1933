"""What each network plugin needs from the rest of the cluster, as data.

The plan asks this module for the plugin's chart pin and datapath ports; the
firewall opens exactly those ports between the cluster's own nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .spec import CniSpec
from .versions import CNI_CHARTS

Port = tuple[Literal["tcp", "udp"], int, str]

# Encapsulation overhead subtracted from the node MTU (VXLAN: 50 bytes).
VXLAN_OVERHEAD = 50


@dataclass(frozen=True)
class CniPlan:
    plugin: str
    chart: str
    chart_version: str
    repository: str
    namespace: str
    encapsulation: Literal["vxlan"]
    mtu: int
    ports: tuple[Port, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "plugin": self.plugin,
            "chart": self.chart,
            "chart_version": self.chart_version,
            "repository": self.repository,
            "namespace": self.namespace,
            "encapsulation": self.encapsulation,
            "mtu": self.mtu,
            "ports": [{"protocol": p, "port": n, "why": w} for p, n, w in self.ports],
        }


NAMESPACES = {"cilium": "kube-system", "calico": "tigera-operator", "flannel": "kube-flannel"}
# Node network MTU per cloud (AWS VPC jumbo frames; GCP VPC default).
NODE_MTU = {"aws": 9001, "gcp": 1460}


def datapath_ports(spec: CniSpec) -> tuple[Port, ...]:
    if spec.plugin == "cilium":
        return (("udp", 8472, "Cilium VXLAN overlay"), ("tcp", 4240, "Cilium health checks"))
    if spec.plugin == "calico":
        return (("udp", 4789, "Calico VXLAN overlay"), ("tcp", 5473, "Calico Typha (operator-managed)"))
    return (("udp", 8472, "Flannel VXLAN overlay"),)


def plan_cni(spec: CniSpec, cloud: str) -> CniPlan:
    chart, version, repo = CNI_CHARTS[spec.plugin]
    return CniPlan(
        plugin=spec.plugin,
        chart=chart,
        chart_version=version,
        repository=repo,
        namespace=NAMESPACES[spec.plugin],
        encapsulation="vxlan",
        mtu=NODE_MTU[cloud] - VXLAN_OVERHEAD,
        ports=datapath_ports(spec),
    )
