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
            "cloudresourcemanager.googleapis.com", "logging.googleapis.com"} == set(SERVICES)
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
        # Through a provider that waits for them, or (the federation's, on the services'
        # own provider) waiting for them itself.
        assert _provider_urn(r.provider) in waiting or services <= set(r.dependencies), r.urn


DYNAMIC = "pulumi-python:dynamic:Resource"


def test_each_incarnation_pins_its_machine_image_once(stack: StackRun) -> None:
    """Machines take the image of the incarnation's ImagePin, which keeps the first
    lookup's answer (components/dynamic.py): a newly published image replaces nothing."""
    pins = {r.name: r for r in stack.of_type(DYNAMIC) if r.name.endswith("-image")}
    assert set(pins) == {f"{c.key}-image" for c in stack.plan.clusters}
    for c in stack.plan.clusters:
        pin = pins[f"{c.key}-image"]
        assert pin.inputs["scope"] == c.key and pin.inputs["pinned"] == (c.image or "")
        image = stack.registrations[pin.urn].outputs["image"]
        assert image == (c.image or pin.inputs["latest"])
        machines = [r for r in stack.resources if r.type in ("aws:ec2/instance:Instance", "aws:ec2/launchTemplate:LaunchTemplate",
                                                              "gcp:compute/instance:Instance",
                                                              "gcp:compute/instanceTemplate:InstanceTemplate")
                    and r.name.startswith(c.key + "-")]
        assert machines, c.key
        for m in machines:
            used = (m.inputs.get("ami") or m.inputs.get("imageId")
                    or (m.inputs.get("bootDisk") or {}).get("initializeParams", {}).get("image")
                    or next((d.get("sourceImage") for d in m.inputs.get("disks", []) if d.get("boot")), None))
            assert used == image, m.urn
            assert pin.urn in m.dependencies or pin.urn in {
                u for deps in m.property_dependencies.values() for u in deps}, m.urn


def test_gcp_internal_load_balancers_take_their_planned_address(stack: StackRun) -> None:
    """GCP would otherwise assign an internal LB any free address of the subnet, possibly
    one an etcd member or replica reserves later."""
    for c in stack.plan.clusters:
        if c.cloud != "gcp":
            continue
        addresses = {r.name: r.inputs for r in stack.of_type("gcp:compute/address:Address")
                     if r.name.startswith(c.key + "-") and r.inputs.get("addressType") == "INTERNAL"}
        lbs = {n: a for n, a in addresses.items() if n.endswith("-internal-ip")}
        assert lbs, c.key
        fixed = {m.ip for m in c.etcd.members} | {r.ip for r in c.control_plane.replicas}
        planned = {c.api.internal_ip, *(c.cni.mesh.ips if c.cni.mesh is not None else ())}
        for name, inputs in lbs.items():
            assert inputs.get("address") in planned, name
            assert inputs["address"] not in fixed, name
        api = next(a for n, a in lbs.items() if "-control-plane-api-" in n)
        assert api["address"] == c.api.internal_ip
