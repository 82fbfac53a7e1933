"""The kubelet serving-certificate approver's add-on for a planned cluster."""

from __future__ import annotations

import ipaddress
import re

import yaml

from fleetform.addons.build import CloudFacts, addon_context
from fleetform.addons.csr_approver import NAME, provider_regex, render, values
from fleetform.engine.synth import load_stack
from fleetform.plan.identity import plan_identity


def test_node_names_of_each_cloud_match_and_nothing_else_does() -> None:
    aws = re.compile(provider_regex("aws", "eu-west-1"))
    assert aws.match("ip-10-1-128-5.eu-west-1.compute.internal")
    assert not aws.match("ip-10-1-128-5.eu-west-2.compute.internal")
    assert not aws.match("api.eu-west-1.compute.internal")
    assert not aws.match("ip-10-1-128-5.eu-west-1xcompute.internal")  # dots are literal
    assert re.match(provider_regex("aws", "us-east-1"), "ip-10-0-0-1.ec2.internal")
    gcp = re.compile(provider_regex("gcp", "europe-west1"))
    assert gcp.match("dev-gcp-general-x1z2") and not gcp.match("Dev_GCP") and not gcp.match("a.b")


def test_the_addon_admits_only_the_clusters_node_subnet() -> None:
    stack = load_stack("dev", None)
    identity = plan_identity(stack.spec, stack.plan)
    for plan in stack.plan.clusters:
        facts = CloudFacts(network="vpc", subnetwork="nodes") if plan.cloud == "gcp" else CloudFacts()
        ctx = addon_context(stack.plan, plan, identity, facts)
        v = values(ctx)
        (prefix,) = v["providerIpPrefixes"]
        assert ipaddress.ip_network(prefix) == ipaddress.ip_network(plan.network.node_cidr)
        assert v["bypassDnsResolution"] is (plan.cloud == "gcp")
        assert v["allowedDnsNames"] == 1 and v["bypassHostnameCheck"] is False
        addon = render(ctx)
        assert addon.name == NAME and addon.depends_on == ("cni",)
        docs = list(yaml.safe_load_all(addon.files[0].text))
        release = next(d for d in docs if d["kind"] == "HelmRelease")
        assert release["spec"]["chart"]["spec"]["version"] == "1.1.0"
        assert release["spec"]["targetNamespace"] == "kube-system"
        assert release["spec"]["values"] == v
