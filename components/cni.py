"""The cluster's network plugin (CNI), the first add-on of the cluster's bundle: the
cluster's own Flux installs its Helm charts (components/addons.py); `pulumi up` never
reaches the cluster's API.

Everything plan-dependent (charts, namespace, values) comes from ``ClusterPlan.cni``
(``fleetform/plan/cni.py``, ``fleetform/plan/mesh.py``; a ClusterMesh member's peers by their
load balancers' planned addresses); this component only adds what cannot be planned: the
ClusterMesh CA (an
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
from dataclasses import dataclass
from typing import Any

import pulumi
import yaml

from components.dynamic import PluginGuard
from components.identity import IssuedCert
from fleetform.plan import names
from fleetform.plan.cni import helm_values
from fleetform.plan.model import ClusterPlan


def _b64(pem: str) -> str:
    return base64.b64encode(pem.encode()).decode()


def cni_secret_values(ca: IssuedCert) -> pulumi.Output[str]:
    """Cilium's common CA (base64 PEM), as Helm values: it signs the ClusterMesh (and
    Hubble) certificates, so every member trusts every other. Secret end to end."""
    return pulumi.Output.secret(pulumi.Output.all(ca.cert_pem, ca.key_pem).apply(
        lambda a: yaml.safe_dump({"tls": {"ca": {"cert": _b64(a[0]), "key": _b64(a[1])}}}, sort_keys=True)))


@dataclass(frozen=True)
class CniArgs:
    plan: ClusterPlan


class Cni(pulumi.ComponentResource):
    """The plugin's guard and its Helm values (the plan's: a ClusterMesh member names its
    peers by their load balancers' planned addresses)."""

    guard: PluginGuard
    values: pulumi.Output[dict[str, Any]]

    def __init__(self, name: str, args: CniArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleetform:index:Cni", name, None, opts)
        plan, cni = args.plan, args.plan.cni
        self.guard = PluginGuard(names.child(name, "plugin"), plan.name, cni.plugin,
                                 pulumi.ResourceOptions(parent=self, protect=plan.protect_data))
        self.values = pulumi.Output.from_input(dict(helm_values(cni)))
        self.register_outputs({"plugin": cni.plugin, "chart_version": cni.chart_version})
