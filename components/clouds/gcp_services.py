"""The GCP APIs the program uses, enabled on the fleet's project before anything uses them.

A project starts with few APIs on; the first `pulumi up` would fail at the first
network, DNS zone, secret or workload identity pool. ``ProjectServices`` turns each API
on (``gcp.projects.Service``) and every GCP provider of the program depends on it, so
every GCP resource and lookup waits for them. They are never turned off by a destroy
(``disable_on_destroy=False``): other workloads in the project may rely on them, and
turning an API off deletes what it holds.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from components.clouds.federation_gcp import federation_labels
from fleetform.plan import names

# API -> why the program needs it.
SERVICES: dict[str, str] = {
    "compute.googleapis.com": "networks, firewalls, machines, disks, load balancers",
    "dns.googleapis.com": "private and public DNS zones and records",
    "secretmanager.googleapis.com": "secrets machines read at boot",
    "iam.googleapis.com": "service accounts, workload identity pools",
    "iamcredentials.googleapis.com": "federated workloads impersonating service accounts",
    "logging.googleapis.com": "the fleet's log bucket and sink, and the nodes' log shippers",
    "sts.googleapis.com": "token exchange of workload identity federation",
    "cloudresourcemanager.googleapis.com": "project IAM bindings",
}


class ProjectServices(pulumi.ComponentResource):
    """The APIs of ``SERVICES`` on ``project``, through a provider of its own."""

    services: dict[str, gcp.projects.Service]

    def __init__(self, name: str, project: str, fleet: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleetform:index:GcpProjectServices", name, None, opts)
        # The fleet's one project-level provider: the federation's resources use it too
        # (after the services: GcpFederation waits for them).
        provider = gcp.Provider(names.child(name, "gcp"), project=project, default_labels=federation_labels(fleet),
                                opts=pulumi.ResourceOptions(parent=self))
        self.provider: pulumi.ProviderResource = provider
        self.services = {
            api: gcp.projects.Service(
                names.child(name, api.split(".", 1)[0]),
                project=project,
                service=api,
                disable_on_destroy=False,
                disable_dependent_services=False,
                opts=pulumi.ResourceOptions(parent=self, provider=provider))
            for api in SERVICES
        }
        self.register_outputs({"services": sorted(SERVICES)})

    @property
    def resources(self) -> list[pulumi.Resource]:
        return list(self.services.values())
