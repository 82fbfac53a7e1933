"""The cluster's network plugin (CNI), installed with Helm through the cluster's own
Kubernetes provider, behind its API readiness gate (``KubeAccess.opts``).

Everything plan-dependent (charts, namespace, values) comes from ``ClusterPlan.cni``
(``fleetform/plan/cni.py``, ``fleetform/plan/mesh.py``); this component only adds what cannot be
planned: the ClusterMesh CA (an intermediate of the fleet root, shared by every member)
as secret values, and the guard that turns a plugin change on a live cluster into an
explicit error instead of a silent replacement:

- ``PluginGuard`` remembers the plugin the cluster was built with. Its provider's
  ``check`` fails when the plan names another plugin, so ``pulumi preview`` / ``pulumi
  up`` stop before anything changes, with a message that says what to do instead
  (docs/cni.md, "Changing the plugin").
- The Helm releases are keyed by plugin (``<cni>-cilium``, ``<cni>-calico``, ...) and
  protected while the cluster is live: even without the guard, a plugin change could
  never upgrade one plugin's release into another's or silently uninstall the running
  one. ``decommission: true`` lifts the protection, as for every stateful resource.
"""

from __future__ import annotations

import base64
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.clouds.base import LoadBalancerHandle
from components.dynamic import PluginGuard
from components.identity import ClusterIdentity, IssuedCert, issue
from components.kube import KubeAccess
from fleetform.plan import names
from fleetform.plan.cni import MeshPlan, helm_values
from fleetform.plan.mesh import MESH_CA_KEY, clustermesh_ca
from fleetform.plan.model import ClusterPlan

# Helm waits for the release's workloads.
RELEASE_TIMEOUT_SECONDS = 900
RELEASE_MAX_HISTORY = 10
# Namespaces this component creates (kube-system exists). Flannel's runs privileged
# pods: its namespace carries the Pod Security label the flannel docs prescribe.
NAMESPACE_LABELS: dict[str, dict[str, str]] = {
    "calico": {},
    "flannel": {"pod-security.kubernetes.io/enforce": "privileged"},
}


# ---------------------------------------------------------------- the ClusterMesh CA


class MeshIdentity(pulumi.ComponentResource):
    """The fleet's ClusterMesh CA: one intermediate of the fleet root, shared by every
    mesh member (Cilium needs one CA across the mesh; each member's release signs its
    ClusterMesh server and client certificates with it)."""

    def __init__(self, name: str, fleet: str, root: IssuedCert, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleetform:index:MeshIdentity", name, None, opts)
        self.ca = issue(names.child(name, MESH_CA_KEY), clustermesh_ca(fleet), root, self)
        self.register_outputs({"clustermesh_ca": self.ca.cert_pem})


# One per fleet root, i.e. per program run (weak: nothing outlives the run).
_MESH_IDENTITIES: weakref.WeakKeyDictionary[pulumi.Resource, MeshIdentity] = weakref.WeakKeyDictionary()


def mesh_identity(fleet: str, identity: ClusterIdentity) -> MeshIdentity:
    """The fleet's ClusterMesh CA, created by the first member that needs it.

    It hangs at the top of the stack (named after the fleet, ``<fleet>-mesh``), not under
    a member, so its URN does not depend on which clusters are in the mesh; it uses the
    fleet's explicit TLS provider, like the rest of the fleet PKI."""
    anchor = identity.root.resources[-1]
    found = _MESH_IDENTITIES.get(anchor)
    if found is None:
        provider = identity.get_provider("tls:index/privateKey:PrivateKey")
        opts = pulumi.ResourceOptions(providers=[provider]) if provider is not None else None
        found = MeshIdentity(names.child(fleet, "mesh"), fleet, identity.root, opts)
        _MESH_IDENTITIES[anchor] = found
    return found


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


@dataclass(frozen=True)
class CniArgs:
    fleet: str  # the fleet's name (the ClusterMesh CA's subject)
    plan: ClusterPlan
    kube: KubeAccess
    # The cluster's identity: its root (the fleet root CA) issues the ClusterMesh CA.
    identity: ClusterIdentity
    # ClusterMesh API load balancers of the fleet's mesh members, by cluster name (this
    # member's own included, components/mesh.py). Members missing here keep the planned
    # private DNS name.
    mesh_endpoints: Mapping[str, LoadBalancerHandle] = field(default_factory=dict)


class Cni(pulumi.ComponentResource):
    guard: PluginGuard
    namespace: k8s.core.v1.Namespace | None
    releases: dict[str, k8s.helm.v3.Release]

    def __init__(self, name: str, args: CniArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleetform:index:Cni", name, None, opts)
        plan, kube, cni = args.plan, args.kube, args.plan.cni
        protect = plan.protect_data
        self.guard = PluginGuard(names.child(name, "plugin"), plan.name, cni.plugin,
                                 pulumi.ResourceOptions(parent=self, protect=protect))
        deps: list[pulumi.Resource] = [self.guard]

        self.namespace = None
        if cni.plugin in NAMESPACE_LABELS:
            self.namespace = k8s.core.v1.Namespace(
                names.child(name, cni.namespace),
                metadata=k8s.meta.v1.ObjectMetaArgs(name=cni.namespace,
                                                    labels=NAMESPACE_LABELS[cni.plugin] or None),
                opts=kube.opts(self, depends_on=deps, protect=protect))
            deps.append(self.namespace)

        values: dict[str, dict[str, Any]] = dict(helm_values(cni))
        if cni.mesh is not None:
            ca = mesh_identity(args.fleet, args.identity).ca
            plugin_release = cni.charts[-1].release
            planned = values[plugin_release]
            values[plugin_release] = {
                **planned,
                "clustermesh": clustermesh_values(planned["clustermesh"], cni.mesh, args.mesh_endpoints,
                                                  args.mesh_endpoints.get(plan.name)),
                # Cilium's common CA (base64 PEM): it signs the ClusterMesh (and Hubble)
                # certificates, so every member trusts every other.
                "tls": {"ca": {"cert": ca.cert_pem.apply(_b64),
                               "key": pulumi.Output.secret(ca.key_pem.apply(_b64))}},
            }

        self.releases = {}
        for pin in cni.charts:  # in install order (Calico: its CRDs first)
            release = k8s.helm.v3.Release(
                names.child(name, pin.release),
                name=pin.release,
                chart=pin.chart,
                version=pin.version,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=pin.repository),
                namespace=cni.namespace,
                values=values[pin.release] or None,
                timeout=RELEASE_TIMEOUT_SECONDS,
                max_history=RELEASE_MAX_HISTORY,
                opts=kube.opts(self, depends_on=list(deps), protect=protect))
            self.releases[pin.release] = release
            deps.append(release)

        self.register_outputs({
            "plugin": cni.plugin,
            "chart_version": cni.chart_version,
            "status": self.releases[cni.charts[-1].release].status,
        })
