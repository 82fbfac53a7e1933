"""Stack outputs: what operators and tools (inventory, migration) read back."""

from __future__ import annotations

from typing import Any

import pulumi

from components.cluster import Cluster
from components.fleet import Fleet
from components.fleet_reference import fleet_stack_outputs, mesh_outputs
from fleetform.plan.credentials import earliest_expiry
from fleetform.plan.kubeconfig import fleet_admin_kubeconfig, layout, people_kubeconfig
from fleetform.plan.model import FleetPlan


def export_fleet(plan: FleetPlan, fleet: Fleet) -> None:
    """The stack's outputs. A fleet stack (``stacks: per-cluster``) exports the fleet's
    identity outputs and what its cluster stacks read; a cluster stack exports its own
    cluster under the same keys (``clusters``, ``incarnations``, ``migrations``), so the
    union of the stacks' outputs is the single stack's."""
    pulumi.export("fleet", plan.fleet)
    if fleet.scope != "fleet":
        export_clusters(plan, fleet)
    mgmt = fleet.identity_plan.management
    if mgmt is not None and fleet.management is not None:
        pulumi.export("management", {**mgmt.to_json(), "registered": sorted(fleet.management.secrets)})
    if fleet.scope == "cluster":
        return
    # Every trusted root, the issuing one first (two while the root rotates).
    pulumi.export("root_ca", fleet.identity.root_bundle())
    pulumi.export("trust_bundle", fleet.identity.trust_bundle())
    export_identity(plan, fleet)
    if fleet.scope == "fleet":
        logical = tuple(dict.fromkeys(c.name for c in plan.clusters))
        outputs = fleet_stack_outputs(fleet.identity_plan, fleet.identity, fleet.federation, logical)
        if fleet.mesh_ca is not None:
            outputs |= mesh_outputs(fleet.mesh_ca)
        for name, value in outputs.items():
            pulumi.export(name, value)


def export_clusters(plan: FleetPlan, fleet: Fleet) -> None:
    incarnations: dict[str, dict[str, Any]] = {}
    for c in plan.clusters:
        if c.key not in fleet.clusters:
            continue
        cluster = fleet.clusters[c.key]
        incarnations[c.key] = {
            "cluster": c.name,
            "key": c.key,
            "context": c.context,
            "serving": c.serving,
            "api": f"https://{c.api.incarnation_dns}:{c.api.port}",
            "cloud": c.cloud,
            "region": c.region,
            "endpoint": f"https://{c.api.dns}:{c.api.port}",
            "kubernetes_version": c.kubernetes_version,
            "load_balancer": cluster.control_plane.load_balancer.address,
            "etcd": {m.name: {"zone": m.zone, "private_ip": cluster.etcd.members[m.name].private_ip}
                     for m in c.etcd.members},
            "control_plane": {r.name: {"zone": r.zone,
                                       "private_ip": cluster.control_plane.replicas[r.name].private_ip}
                              for r in c.control_plane.replicas},
            # What status reads: the published bundle's version, and the earliest expiry
            # of the certificates Pulumi issues for this incarnation (its CAs, the etcd
            # members', the API server's etcd client); what kubeadm issues on the nodes
            # renews there (docs/credentials.md).
            **({"addons": {"version": cluster.addons_version}} if cluster.addons_version is not None else {}),
            "certificates": {"earliest_expiry": pulumi.Output.all(*_pems(cluster)).apply(earliest_expiry)},
            # A pool's groups by scope (AWS: one over the region's zones; GCP: one per zone).
            "workers": {p.name: {"groups": dict(cluster.workers[p.name].group.groups), "min": p.min,
                                 "max": p.max, "zones": list(p.zones)} for p in c.workers},
        }
    # `clusters`: each cluster as it serves its name; `incarnations`: every place a
    # cluster runs (two while it moves); `migrations`: the phase of each move.
    clusters = {c.name: incarnations[c.key] for c in plan.clusters if c.serving and c.key in incarnations}
    pulumi.export("clusters", clusters)
    pulumi.export("incarnations", incarnations)
    pulumi.export("migrations", {
        c.name: c.migration.to_json() | {"serving": c.key if c.serving else c.migration.source_key}
        for c in plan.clusters if c.migration is not None and c.migration.role == "target" and c.key in incarnations})


def _pems(cluster: Cluster) -> list[pulumi.Output[str]]:
    return [*(ca.cert_pem for ca in cluster.identity.cas.values()),
            *(c.cert_pem for c in cluster.etcd.certificates.values()),
            cluster.control_plane.etcd_client.cert_pem]


def export_identity(plan: FleetPlan, fleet: Fleet) -> None:
    """Shared identity: the fleet kubeconfig (people: SSO, one context per cluster and per
    tenant namespace), the admin kubeconfig (client certificates), federation and grants.
    Both kubeconfigs are secret outputs (`pulumi stack output --show-secrets kubeconfig`)."""
    ident = fleet.identity_plan
    people = layout(ident, plan)
    cas = {c: fleet.identity.clusters[c].bundle("kubernetes-ca") for c in people.clusters}
    pulumi.export("kubeconfig", pulumi.Output.secret(
        pulumi.Output.all(**cas).apply(lambda pems: people_kubeconfig(people, pems))))
    admin = layout(ident, plan, admin=True)
    creds: dict[str, pulumi.Output[Any]] = {}
    for c in admin.clusters:
        cid = fleet.identity.clusters[c]
        creds[c] = pulumi.Output.all(cid.bundle("kubernetes-ca"), cid.admin.cert_pem, cid.admin.key_pem)
    pulumi.export("admin_kubeconfig", pulumi.Output.secret(pulumi.Output.all(**creds).apply(
        lambda a: fleet_admin_kubeconfig(admin, {c: (v[0], v[1], v[2]) for c, v in a.items()}))))
    pulumi.export("identity", {
        **fleet.federation.summary(),
        "sso": ident.to_json()["sso"],
        "admins_group": ident.admins_group,
        "viewers_group": ident.viewers_group,
        "tenants": ident.to_json()["tenants"],
        "cluster_cas": {c: cid.trust_bundle() for c, cid in fleet.identity.clusters.items()},
    })
