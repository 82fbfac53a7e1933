"""The kubelet serving-certificate approver of one cluster (an add-on of its bundle).

Every kubelet runs with ``serverTLSBootstrap: true``: it asks the cluster CA for its
serving certificate through a ``kubernetes.io/kubelet-serving`` CSR, which Kubernetes
never approves on its own, and the API server verifies that certificate
(``--kubelet-certificate-authority``). The upstream postfinance ``kubelet-csr-approver``
approves such a CSR only when all of these hold (its ``internal/controller``):

* its requester is ``system:node:<name>`` and the request's common name is the same: only
  that node's kubelet holds this credential (from the bootstrap token, then its own
  rotated client certificate; NodeRestriction keeps it to its own Node);
* at most ``allowedDnsNames`` DNS SANs, each starting with the node name and matching
  ``providerRegex``: AWS private DNS names ``ip-a-b-c-d[.<region domain>]``, GCP
  instance names (RFC 1035 labels);
* every IP SAN lies in ``providerIpPrefixes``: the cluster's node CIDR;
* each DNS SAN **resolves** (``bypassDnsResolution: false``), from the approver's pod
  through the cluster DNS to the VPC's resolver, and every IP SAN is one of the
  addresses it resolves to. In the VPC only the cloud answers these names: AWS's
  resolver derives ``ip-10-1-2-3.<domain>`` from an address in use by an instance (DNS
  hostnames are on), GCP's metadata DNS answers an instance name (found through the
  node's search domains, which pods inherit) with that instance's address.

So the resolution is the cloud's word that a machine with that name holds that
address. It is not an API lookup of the instance: the approver does not ask whether the
instance belongs to this cluster's group or launch template. A node's own credential,
its subnet and the cloud's DNS are what it checks. Nodes have no public addresses, so
no SAN falls outside the node CIDR.
"""

from __future__ import annotations

import re
from typing import Any

from fleetform.catalog.versions import ADDON_CHARTS, ADDON_IMAGES

from .context import AddonContext
from .model import Addon
from .render import file, helm_release, helm_repository

NAME = "kubelet-csr-approver"
NAMESPACE = "kube-system"
# A GCP instance name (RFC 1035 label).
_GCP_NODE = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"


# The kubelet's DNS SANs are its Node's Hostname and InternalDNS addresses: on AWS the
# cloud controller manager sets both to the private DNS name, the hostname may be its
# short form; on GCP the Hostname is the instance name.
ALLOWED_DNS_NAMES = 2


def provider_regex(cloud: str, region: str) -> str:
    """Names the cluster's kubelets have: AWS private DNS names (or their short form, the
    instance's hostname), GCP instance names."""
    if cloud == "aws":
        domain = r"ec2\.internal" if region == "us-east-1" else re.escape(f"{region}.compute.internal")
        return rf"^ip-([0-9]{{1,3}}-){{3}}[0-9]{{1,3}}(\.{domain})?$"
    return _GCP_NODE


def values(ctx: AddonContext) -> dict[str, Any]:
    """The chart's values (keys of its values.yaml)."""
    repo, tag, digest = ADDON_IMAGES[NAME]
    return {
        "image": {"repository": repo, "tag": f"{tag}@{digest}" if digest else tag},
        "providerRegex": provider_regex(ctx.cloud, ctx.region),
        "providerIpPrefixes": [ctx.node_cidr],
        # Each DNS SAN must resolve, in the VPC, to the addresses the CSR names.
        "bypassDnsResolution": False,
        "allowedDnsNames": ALLOWED_DNS_NAMES,
        "ignoreNonSystemNode": False,
        "bypassHostnameCheck": False,
    }


def render(ctx: AddonContext) -> Addon:
    chart, version, url = ADDON_CHARTS[NAME]
    docs = [helm_repository(NAME, url),
            helm_release(NAME, chart=chart, version=version, repository=NAME, target_namespace=NAMESPACE,
                         values=values(ctx))]
    # After the CNI: its pod needs the network and the cluster DNS like any other.
    return Addon(NAME, version, NAMESPACE, ("cni",), (file(f"{NAME}/release.yaml", docs),))
