"""The cluster's network plugin (CNI), the first add-on of the cluster's bundle: the
cluster's own Flux installs its Helm charts (components/addons.py); `pulumi up` never
reaches the cluster's API.

Everything plan-dependent (charts, namespace, values) comes from ``ClusterPlan.cni``
(``fleetform/plan/cni.py``, ``fleetform/plan/mesh.py``); this component only adds what cannot be
planned: the peers' ClusterMesh load balancers in the values, the ClusterMesh CA (an
intermediate of the fleet root, shared by every member) as secret values in the cloud's
secret store (``cni_secret_values``: the boot installer puts them in a Secret the
HelmRelease reads; never in the bundle), and the guard that turns a plugin change on a
live cluster into an explicit error instead of a silent replacement:

- ``PluginGuard`` remembers the plugin the cluster was built with. Its provider's
  ``check`` fails when the plan names another plugin, so ``pulumi preview`` / ``pulumi
  up`` stop before anything changes, with a message that says what to do instead
  (docs/cni.md, "Changing the plugin").
- The guard is protected while the cluster is live; ``decommission: true`` lifts the
  protection, as for every stateful resource.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import yaml

from components.clouds.base import LoadBalancerHandle
from components.dynamic import PluginGuard
from components.identity import IssuedCert
from fleetform.plan import names
from fleetform.plan.cni import MeshPlan, helm_values
from fleetform.plan.model import ClusterPlan


def _b64(pem: str) -> str:
    return base64.b64encode(pem.encode()).decode()


# ---------------------------------------------------------------- ClusterMesh endpoints


def _lb_address(handle: LoadBalancerHandle) -> pulumi.Output[str]:
    # GCP: a public load balancer also has an internal twin; peers use the internal one.
    internal: pulumi.Output[str] | None = getattr(handle, "internal_address", None)
    return internal if internal is not None else handle.address


def clustermesh_values(planned: Mapping[str, Any], mesh: MeshPlan,
                       endpoints: Mapping[str, LoadBalancerHandle], own: LoadBalancerHandle | None) -> dict[str, Any]:
    """The planned ``clustermesh`` values with the load balancers' real addresses (Outputs).

    The plan names each peer by its private DNS name (``clustermesh.<peer>.<domain>``),
    which only the peer's own network resolves. Where the peer's load balancer is known
    (``endpoints``, by cluster name), its own address replaces it:

    - a DNS name (AWS NLB: public DNS resolving to its private addresses, from
      anywhere): ``address``; the peer adds that name to its server certificate;
    - an IP (GCP internal load balancer): ``ips``, without ``address``: Cilium then dials
      ``<peer>.mesh.cilium.io`` mapped to those IPs in the pods' hosts file, a name every
      ClusterMesh server certificate carries (``*.mesh.cilium.io``).
    """
    clusters = []
    for peer, entry in zip(mesh.peers, planned["config"]["clusters"], strict=True):
        handle = endpoints.get(peer.cluster)
        if handle is None:
            clusters.append(dict(entry))
        elif handle.kind == "dns":
            clusters.append({**entry, "address": _lb_address(handle)})
        else:
            clusters.append({**{k: v for k, v in entry.items() if k != "address"}, "ips": [_lb_address(handle)]})
    apiserver = dict(planned["apiserver"])
    if own is not None and own.kind == "dns":
        tls = dict(apiserver["tls"])
        server = dict(tls["server"])
        server["extraDnsNames"] = [*server["extraDnsNames"], _lb_address(own)]
        apiserver["tls"] = {**tls, "server": server}
    return {**planned, "config": {**planned["config"], "clusters": clusters}, "apiserver": apiserver}


# ---------------------------------------------------------------- the component


def cni_secret_values(ca: IssuedCert) -> pulumi.Output[str]:
    """Cilium's common CA (base64 PEM), as Helm values: it signs the ClusterMesh (and
    Hubble) certificates, so every member trusts every other. Secret end to end."""
    return pulumi.Output.secret(pulumi.Output.all(ca.cert_pem, ca.key_pem).apply(
        lambda a: yaml.safe_dump({"tls": {"ca": {"cert": _b64(a[0]), "key": _b64(a[1])}}}, sort_keys=True)))


@dataclass(frozen=True)
class CniArgs:
    plan: ClusterPlan
    # ClusterMesh API load balancers of the fleet's mesh members, by cluster name (this
    # member's own included, components/mesh.py). Members missing here keep the planned
    # private DNS name.
    mesh_endpoints: Mapping[str, LoadBalancerHandle] = field(default_factory=dict)


class Cni(pulumi.ComponentResource):
    """The plugin's guard and its Helm values (Outputs where a peer's address is)."""

    guard: PluginGuard
    values: pulumi.Output[dict[str, Any]]

    def __init__(self, name: str, args: CniArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleetform:index:Cni", name, None, opts)
        plan, cni = args.plan, args.plan.cni
        self.guard = PluginGuard(names.child(name, "plugin"), plan.name, cni.plugin,
                                 pulumi.ResourceOptions(parent=self, protect=plan.protect_data))
        values: dict[str, Any] = dict(helm_values(cni))
        if cni.mesh is not None:
            plugin_release = cni.charts[-1].release
            planned = values[plugin_release]
            values[plugin_release] = {
                **planned,
                "clustermesh": clustermesh_values(planned["clustermesh"], cni.mesh, args.mesh_endpoints,
                                                  args.mesh_endpoints.get(plan.name)),
            }
        self.values = pulumi.Output.from_input(values)
        self.register_outputs({"plugin": cni.plugin, "chart_version": cni.chart_version})
