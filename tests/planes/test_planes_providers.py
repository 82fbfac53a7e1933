"""One explicit provider per (cloud, region/project); never a default provider."""

from __future__ import annotations

from planes_support import DYNAMIC_TYPE, StackRun, provider_urn


def _package(type_: str) -> str:
    return type_.split(":", 1)[0]


def test_no_resource_uses_a_default_provider(stack: StackRun) -> None:
    for r in stack.resources:
        if not r.custom or r.type.startswith("pulumi:providers:"):
            continue
        if r.type == DYNAMIC_TYPE:
            # Dynamic resources are served by the engine's built-in pulumi-python
            # provider; there is no explicit provider to give them.
            continue
        urn = provider_urn(r)
        assert urn is not None, f"{r.urn} has no explicit provider (the engine would use a default one)"
        provider = stack.by_urn[urn]
        assert provider.type == f"pulumi:providers:{_package(r.type)}", r.urn
        assert not provider.name.startswith("default"), r.urn
        assert "default_" not in urn, r.urn
    for r in stack.resources:
        if r.type.startswith("pulumi:providers:"):
            assert not r.name.startswith("default"), r.urn


def test_invokes_use_explicit_providers(stack: StackRun) -> None:
    cloud = [i for i in stack.invokes if i.token.startswith(("aws:", "gcp:"))]
    assert cloud, "no image or zone lookups recorded"
    for invoke in cloud:
        assert invoke.provider, f"{invoke.token} ran on the default provider"
        urn = invoke.provider.rsplit("::", 1)[0]
        assert stack.by_urn[urn].type == f"pulumi:providers:{_package(invoke.token)}"
    # Images by owner/project: Canonical's Ubuntu 24.04 LTS.
    tokens = {i.token for i in cloud}
    clouds = {p.cloud for p in stack.plan.clusters}
    assert ("aws:ec2/getAmi:getAmi" in tokens) == ("aws" in clouds)
    assert ("gcp:compute/getImage:getImage" in tokens) == ("gcp" in clouds)
    for invoke in cloud:
        if invoke.token == "aws:ec2/getAmi:getAmi":
            assert invoke.args["owners"] == ["099720109477"]
            assert any("ubuntu-noble-24.04" in v for f in invoke.args["filters"] for v in f["values"])
        if invoke.token == "gcp:compute/getImage:getImage":
            assert (invoke.args["project"], invoke.args["family"]) == ("ubuntu-os-cloud", "ubuntu-2404-lts-amd64")


def test_cluster_resources_use_their_own_cloud_provider(stack: StackRun) -> None:
    for plan in stack.plan.clusters:
        cluster = stack.cluster(plan)
        providers = [r for r in stack.children(cluster.urn) if r.type == f"pulumi:providers:{plan.cloud}"]
        assert len(providers) == 1, f"{plan.key}: expected one {plan.cloud} provider"
        (provider,) = providers
        assert provider.name == f"{plan.key}-{plan.cloud}"
        assert provider.inputs["region"] == plan.region
        if plan.cloud == "gcp":
            assert provider.inputs["project"] == stack.plan.gcp_project
        inside = stack.in_cluster(plan)
        cloud = [r for r in inside if r.type.startswith(("aws:", "gcp:"))]
        assert cloud
        for r in cloud:
            assert _package(r.type) == plan.cloud, f"{r.urn}: {plan.key} runs on {plan.cloud}"
            assert provider_urn(r) == provider.urn, f"{r.urn} does not use {provider.name}"
        for invoke in stack.invokes:
            if invoke.provider and invoke.provider.rsplit("::", 1)[0] == provider.urn:
                assert invoke.token.startswith(plan.cloud + ":")


def test_fleet_level_providers_are_explicit_and_distinct(stack: StackRun) -> None:
    """Fleet-wide resources (shared identity, federation) have providers of their own,
    one per (cloud, project, region), configured explicitly."""
    fleet_level = [r for r in stack.resources
                   if r.type in ("pulumi:providers:aws", "pulumi:providers:gcp") and stack.cluster_of(r) is None]
    keys = [(r.type, r.inputs.get("project"), r.inputs.get("region")) for r in fleet_level]
    assert len(keys) == len(set(keys))
    for r in fleet_level:
        if r.type == "pulumi:providers:aws":
            assert r.inputs.get("region"), f"{r.urn}: no region"
        else:
            assert r.inputs.get("project") == stack.plan.gcp_project, r.urn
    # CloudFront only takes ACM certificates from us-east-1.
    for cert in stack.of_type("aws:acm/certificate:Certificate"):
        provider = stack.provider_of(cert)
        assert provider is not None and provider.inputs["region"] == "us-east-1", cert.urn
