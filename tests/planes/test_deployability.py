"""What a first real `pulumi up` needs that the graph must already say: GCP project APIs
enabled before anything uses them (and never disabled), machine images pinned once."""

from __future__ import annotations

from planes_support import StackRun

from components.clouds.gcp_services import SERVICES

SERVICE = "gcp:projects/service:Service"


def _provider_urn(ref: str | None) -> str | None:
    return ref.rsplit("::", 1)[0] if ref else None


def test_gcp_project_services_are_enabled_and_never_disabled(stack: StackRun) -> None:
    services = stack.of_type(SERVICE)
    assert sorted(s.inputs["service"] for s in services) == sorted(SERVICES)
    assert {"compute.googleapis.com", "dns.googleapis.com", "secretmanager.googleapis.com", "iam.googleapis.com",
            "iamcredentials.googleapis.com", "sts.googleapis.com",
            "cloudresourcemanager.googleapis.com"} == set(SERVICES)
    for s in services:
        assert s.inputs["disableOnDestroy"] is False, s.urn
        assert s.inputs["disableDependentServices"] is False, s.urn
        assert s.inputs["project"] == stack.plan.gcp_project


def test_every_gcp_resource_waits_for_the_project_services(stack: StackRun) -> None:
    services = {s.urn for s in stack.of_type(SERVICE)}
    service_providers = {_provider_urn(s.provider) for s in stack.of_type(SERVICE)}
    providers = [r for r in stack.resources if r.type == "pulumi:providers:gcp" and r.urn not in service_providers]
    assert providers
    for p in providers:
        assert services <= set(p.dependencies), p.urn
    waiting = {p.urn for p in providers}
    gcp_resources = [r for r in stack.resources if r.type.startswith("gcp:") and r.type != SERVICE]
    assert gcp_resources
    for r in gcp_resources:
        assert _provider_urn(r.provider) in waiting, r.urn
