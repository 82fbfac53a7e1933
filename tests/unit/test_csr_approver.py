"""The kubelet serving-certificate approver's settings for a planned cluster."""

from __future__ import annotations

import ipaddress
import re

from fleetform.addons.csr_approver import helm_release, helm_repository, helm_values, provider_regex
from fleetform.engine.synth import load_stack


def test_node_names_of_each_cloud_match_and_nothing_else_does() -> None:
    aws = re.compile(provider_regex("aws", "eu-west-1"))
    assert aws.match("ip-10-1-128-5.eu-west-1.compute.internal")
    assert not aws.match("ip-10-1-128-5.eu-west-2.compute.internal")
    assert not aws.match("api.eu-west-1.compute.internal")
    assert not aws.match("ip-10-1-128-5.eu-west-1xcompute.internal")  # dots are literal
    assert re.match(provider_regex("aws", "us-east-1"), "ip-10-0-0-1.ec2.internal")
    gcp = re.compile(provider_regex("gcp", "europe-west1"))
    assert gcp.match("dev-gcp-general-x1z2") and not gcp.match("Dev_GCP") and not gcp.match("a.b")


def test_values_pin_the_cluster_node_subnet_and_the_chart() -> None:
    stack = load_stack("dev", None)
    for plan in stack.plan.clusters:
        values = helm_values(plan)
        (prefix,) = values["providerIpPrefixes"]
        assert ipaddress.ip_network(prefix) == ipaddress.ip_network(plan.network.node_cidr)
        assert values["bypassDnsResolution"] is (plan.cloud == "gcp")
        assert values["allowedDnsNames"] == 1 and values["bypassHostnameCheck"] is False
        release = helm_release(plan)
        assert release["spec"]["chart"]["spec"]["version"] == "1.1.0"
        assert release["spec"]["chart"]["spec"]["sourceRef"]["name"] == helm_repository()["metadata"]["name"]
