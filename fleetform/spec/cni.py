"""Stack format: the options of each network plugin (``cni.cilium``, ``cni.calico``,
``cni.flannel``).

Only the chosen plugin's block may be set (``validate_cni.py`` reports options written for
another plugin, at the path they were written). Unknown keys are rejected like everywhere
else in the stack file. Everything that can be derived from the plan (pod CIDR, MTU,
encapsulation, cluster name, API endpoint) is *not* an option: it is never typed twice.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# ClusterMesh supports 255 connected clusters by default (Cilium's
# clustermesh.maxConnectedClusters); 0 means "not meshable".
CLUSTER_ID_MIN = 1
CLUSTER_ID_MAX = 255


class PluginOptions(BaseModel):
    # The same strict, closed, frozen configuration as ``spec.Model`` (kept separate so
    # that spec.py can import these models without an import cycle).
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class CiliumOptions(PluginOptions):
    # Hubble flow observability (Hubble server on every node + Hubble Relay). Opens
    # 4244/tcp between the cluster's nodes.
    hubble: bool = False
    # Cilium replaces kube-proxy: kubeadm skips its kube-proxy addon and Cilium talks to
    # the API endpoint directly.
    kube_proxy_replacement: bool = False
    # ClusterMesh identity, unique fleet-wide. Default: derived from the cluster's
    # network slot (slot + 1), so it never needs typing; set it for clusters with
    # explicit CIDRs or a slot above 254.
    cluster_id: int | None = Field(default=None, ge=CLUSTER_ID_MIN, le=CLUSTER_ID_MAX)


class CalicoOptions(PluginOptions):
    # vxlan: VXLAN overlay, no BGP. bgp: BGP route distribution between nodes (full
    # node-to-node mesh, 179/tcp) with the VXLAN datapath kept, so it works on both clouds
    # without source/destination-check or IP-forwarding changes (see docs/cni.md).
    mode: Literal["vxlan", "bgp"] = "vxlan"


class FlannelOptions(PluginOptions):
    """Flannel has no options yet: VXLAN backend, pod network and MTU come from the plan."""
