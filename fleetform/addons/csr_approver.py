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

Not in the bundle's renderers yet: it belongs there together with ``serverTLSBootstrap``
on the kubelets and ``--kubelet-certificate-authority`` on the API server
(``fleetform/bootstrap/renewal.py``), which no document sets yet.
"""

from __future__ import annotations

import re
from typing import Any

from fleetform.catalog.versions import ADDON_CHARTS

from .context import AddonContext
from .model import Addon
from .render import file, helm_release, helm_repository

NAME = "kubelet-csr-approver"
NAMESPACE = "kube-system"
# A GCP instance name (RFC 1035 label).
_GCP_NODE = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"


def provider_regex(cloud: str, region: str) -> str:
    """Node names the cluster's kubelets have: AWS private DNS names, GCP instance names."""
    if cloud == "aws":
        domain = r"ec2\.internal" if region == "us-east-1" else re.escape(f"{region}.compute.internal")
        return rf"^ip-([0-9]{{1,3}}-){{3}}[0-9]{{1,3}}\.{domain}$"
    return _GCP_NODE


def values(ctx: AddonContext) -> dict[str, Any]:
    """The chart's values (keys of its values.yaml)."""
    if ctx.node_cidr is None:
        raise ValueError(f"cluster {ctx.key}: the CSR approver needs the nodes' subnet")
    return {
        "providerRegex": provider_regex(ctx.cloud, ctx.region),
        "providerIpPrefixes": [ctx.node_cidr],
        "bypassDnsResolution": ctx.cloud == "gcp",
        "allowedDnsNames": 1,
        "ignoreNonSystemNode": False,
        "bypassHostnameCheck": False,
    }


def render(ctx: AddonContext) -> Addon:
    chart, version, url = ADDON_CHARTS[NAME]
    docs = [helm_repository(NAME, url),
            helm_release(NAME, chart=chart, version=version, repository=NAME, target_namespace=NAMESPACE,
                         values=values(ctx))]
    # After the CNI: its pod needs the network like any other.
    return Addon(NAME, version, NAMESPACE, ("cni",), (file(f"{NAME}/release.yaml", docs),))
