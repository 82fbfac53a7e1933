"""Rules of a cluster's ``migrate`` block (spec_migrate.py). Every problem is located."""

from __future__ import annotations

from collections.abc import Callable

from fleetform.catalog.regions import matches_any
from fleetform.plan.validate.place import CLOUD_NAMES, place_problems
from fleetform.spec.errors import Loc, Problem
from fleetform.spec.models import ClusterSpec, FleetSpec


def check_migration(spec: FleetSpec, c: ClusterSpec, at: Callable[..., Loc]) -> list[Problem]:
    m = c.migrate
    if m is None:
        return []
    problems: list[Problem] = []
    to = m.to
    if (to.cloud, to.region) == (c.cloud, c.region):
        problems.append(at("migrate", "to").problem(
            f"the cluster already runs in {to.cloud} {to.region}: a migration needs another cloud or region"))
    place, known_region = place_problems(to.cloud, to.region, to.zones, lambda *p: at("migrate", "to", *p))
    problems += place
    if known_region:
        for tag in c.compliance:
            rule = spec.compliance.get(tag)
            if rule is not None and not matches_any(to.region, rule.regions):
                problems.append(at("migrate", "to", "region").problem(
                    f"{to.region!r} is not allowed by compliance rule {tag!r} of this cluster "
                    f"(regions: {', '.join(rule.regions)})"))
    if to.cloud == "gcp" and not spec.clouds.gcp.project:
        problems.append(at("migrate", "to", "cloud").problem(
            "moving to GCP needs the fleet's clouds.gcp.project"))
    if to.cloud != c.cloud:
        for j, pool in enumerate(c.workers):
            if pool.machine_type is not None:
                problems.append(at("workers", j, "machine_type").problem(
                    f"{pool.machine_type!r} is {'an' if c.cloud == 'aws' else 'a'} {CLOUD_NAMES[c.cloud]} "
                    "machine type and the cluster moves to "
                    f"{CLOUD_NAMES[to.cloud]}: give the pool a size instead (sizes map to each cloud)"))
    if m.release_source and m.phase == "prepare":
        problems.append(at("migrate", "release_source").problem(
            "the source still serves the cluster in phase prepare: release it in phase cutover"))
    if m.phase == "finalize" and not m.release_source:
        problems.append(at("migrate", "phase").problem(
            "finalize deletes the source's etcd disks: first `pulumi up` with `release_source: true` in "
            "phase cutover, and keep it in phase finalize (docs/migration.md)"))
    if c.decommission:
        problems.append(at("decommission").problem(
            "a cluster that is moving cannot be decommissioned: finish or abandon the migration first"))
    return problems
