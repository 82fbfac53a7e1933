"""Stack outputs: what operators and tools (inventory, migration) read back."""

from __future__ import annotations

import pulumi

from fleetform.plan import FleetPlan

from .fleet import Fleet


def export_fleet(plan: FleetPlan, fleet: Fleet) -> None:
    clusters = {}
    for c in plan.clusters:
        cluster = fleet.clusters[c.key]
        clusters[c.name] = {
            "key": c.key,
            "cloud": c.cloud,
            "region": c.region,
            "endpoint": f"https://{c.api.dns}:{c.api.port}",
            "load_balancer": cluster.control_plane.load_balancer.address,
            "etcd": {m.name: {"zone": m.zone, "private_ip": cluster.etcd.members[m.name].private_ip}
                     for m in c.etcd.members},
            "control_plane": {r.name: {"zone": r.zone,
                                       "private_ip": cluster.control_plane.replicas[r.name].private_ip}
                              for r in c.control_plane.replicas},
            "workers": {p.name: {"group": cluster.workers[p.name].group.id, "min": p.min, "max": p.max,
                                 "zones": list(p.zones)} for p in c.workers},
        }
    pulumi.export("fleet", plan.fleet)
    pulumi.export("clusters", clusters)
    pulumi.export("root_ca", fleet.identity.root.cert_pem)
    pulumi.export("trust_bundle", fleet.identity.trust_bundle())
