"""The kubelet serving-certificate approver's add-on for a planned cluster."""

from __future__ import annotations

import ipaddress
import re

import yaml

from fleetform.addons.build import CloudFacts, addon_context
from fleetform.addons.bundle import render_bundle
from fleetform.addons.csr_approver import NAME, provider_regex, render, values
from fleetform.engine.synth import load_stack
from fleetform.plan.identity import plan_identity


def test_node_names_of_each_cloud_match_and_nothing_else_does() -> None:
    aws = re.compile(provider_regex("aws", "eu-west-1"))
    assert aws.match("ip-10-1-128-5.eu-west-1.compute.internal")
    assert not aws.match("ip-10-1-128-5.eu-west-2.compute.internal")
    assert not aws.match("api.eu-west-1.compute.internal")
    assert not aws.match("ip-10-1-128-5.eu-west-1xcompute.internal")  # dots are literal
    assert aws.match("ip-10-1-128-5")  # the instance's hostname, the private DNS name's short form
    assert not aws.match("ip-10-1-128-5.evil.example")
    assert re.match(provider_regex("aws", "us-east-1"), "ip-10-0-0-1.ec2.internal")
    gcp = re.compile(provider_regex("gcp", "europe-west1"))
    assert gcp.match("dev-gcp-general-x1z2") and not gcp.match("Dev_GCP") and not gcp.match("a.b")


def test_the_addon_admits_only_the_clusters_node_subnet_and_is_in_every_bundle() -> None:
    stack = load_stack("dev", None)
    identity = plan_identity(stack.spec, stack.plan)
    for plan in stack.plan.clusters:
        facts = CloudFacts(network="vpc", subnetwork="nodes") if plan.cloud == "gcp" else CloudFacts()
        ctx = addon_context(stack.plan, plan, identity, facts)
        v = values(ctx)
        (prefix,) = v["providerIpPrefixes"]
        assert ipaddress.ip_network(prefix) == ipaddress.ip_network(plan.network.node_cidr)
        # Every DNS name must resolve in the VPC to the CSR's addresses, on both clouds.
        assert v["bypassDnsResolution"] is False
        assert v["allowedDnsNames"] == 2 and v["bypassHostnameCheck"] is False
        assert v["image"]["repository"] == "ghcr.io/postfinance/kubelet-csr-approver"
        addon = render(ctx)
        assert addon.name == NAME and addon.depends_on == ("cni",)
        docs = list(yaml.safe_load_all(addon.files[0].text))
        release = next(d for d in docs if d["kind"] == "HelmRelease")
        assert release["spec"]["chart"]["spec"]["version"] == "1.1.0"
        assert release["spec"]["targetNamespace"] == "kube-system"
        assert release["spec"]["values"] == v
        # In the cluster's bundle, after the CNI, before metrics-server (which verifies
        # the kubelets' serving certificates it lets them have). AWS bundles need the
        # controllers' federated identities (cloud facts): tests/addons covers them.
        if plan.cloud != "gcp":
            continue
        bundle = render_bundle(ctx)
        order = [a.name for a in bundle.addons]
        assert order.index("cni") < order.index(NAME) < order.index("metrics-server")
        metrics = next(a for a in bundle.addons if a.name == "metrics-server")
        assert NAME in metrics.depends_on
        flux = yaml.safe_load(next(f.text for f in bundle.flux if f.path.endswith(f"/{NAME}.yaml")))
        assert flux["kind"] == "Kustomization" and flux["spec"]["dependsOn"] == [{"name": "cni"}]
        assert "--kubelet-insecure-tls" not in yaml.dump(
            [d for f in metrics.files for d in yaml.safe_load_all(f.text)])
