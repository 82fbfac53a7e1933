"""Fleet-wide rules that a single model cannot express. Every problem is located."""

from __future__ import annotations

from collections.abc import Callable

from fleetform.catalog.regions import matches_any
from fleetform.catalog.versions import resolve_kubernetes_version
from fleetform.plan.ipam import allocate
from fleetform.plan.upgrades import upgrade_problems
from fleetform.plan.validate.cni import check_cni
from fleetform.plan.validate.encryption import kms_problems
from fleetform.plan.validate.handoff import check_management
from fleetform.plan.validate.identity import check_identity
from fleetform.plan.validate.logging import check_logging
from fleetform.plan.validate.migrate import check_migration
from fleetform.plan.validate.place import place_problems
from fleetform.spec.base import ETCD_MEMBER_COUNTS
from fleetform.spec.errors import Loc, Problem
from fleetform.spec.load import origins
from fleetform.spec.messages import did_you_mean
from fleetform.spec.models import ClusterSpec, FleetSpec, image_cloud


def check_fleet(spec: FleetSpec, *, complete: bool = True) -> list[Problem]:
    """Rules across fields and clusters (names are already unique). ``complete``: every
    cluster validated, so fleet-wide address allocation can be checked too."""
    where = origins(spec)
    problems: list[Problem] = []
    for c in spec.clusters:
        at = lambda *p, _n=c.name: where.cluster_loc(_n, *p)  # noqa: E731

        place, known_region = place_problems(c.cloud, c.region, c.zones, at)
        problems += place
        if known_region:
            for tag_i, tag in enumerate(c.compliance):
                rule = spec.compliance.get(tag)
                if rule is None:
                    problems.append(at("compliance", tag_i).problem(
                        f"unknown compliance rule {tag!r}{did_you_mean(tag, list(spec.compliance))}"))
                elif not matches_any(c.region, rule.regions):
                    problems.append(at("region").problem(
                        f"{c.region!r} is not allowed by compliance rule {tag!r} "
                        f"(regions: {', '.join(rule.regions)})"))

        problems += settings_rules(c, at)
        if c.image is not None and image_cloud(c.image) != c.cloud:
            problems.append(at("image").problem(
                f"{c.image!r} is {'an AWS' if image_cloud(c.image) == 'aws' else 'a GCP'} image; cluster {c.name!r} runs on "
                f"{c.cloud.upper()}: give an {'AMI id (ami-...)' if c.cloud == 'aws' else 'image projects/<project>/global/images/<name>'}"))
        problems += check_migration(spec, c, at)
        problems += kms_problems(c, at)
        if c.cloud == "gcp" and not spec.clouds.gcp.project:
            problems.append(where.fleet_loc("clouds", "gcp", "project").problem(
                f"required: cluster {c.name!r} runs on GCP"))

    if complete and not problems:
        _, ipam_problems = allocate(spec)
        problems += ipam_problems
        # Waves and holds need every cluster's version.
        problems += upgrade_problems(spec)
    problems += check_cni(spec, complete=complete)
    problems += check_identity(spec)
    problems += check_management(spec)
    problems += check_logging(spec)
    return problems


def settings_rules(c: ClusterSpec, at: Callable[..., Loc]) -> list[Problem]:
    """Rules about one block of cluster settings that need no cloud or region: run on
    every cluster and on every profile and the defaults (even unused ones)."""
    problems: list[Problem] = []
    if c.etcd.members not in ETCD_MEMBER_COUNTS:
        problems.append(at("etcd", "members").problem(
            f"{c.etcd.members} is not one of {', '.join(map(str, ETCD_MEMBER_COUNTS))} "
            "(an odd count keeps a quorum)"))
    try:
        resolve_kubernetes_version(c.kubernetes_version)
    except ValueError as exc:
        problems.append(at("kubernetes_version").problem(str(exc)))

    if not c.workers:
        problems.append(at("workers").problem("a cluster needs at least one worker pool"))
    pool_names: dict[str, int] = {}
    for j, pool in enumerate(c.workers):
        if pool.name in pool_names:
            problems.append(at("workers", j, "name").problem(
                f"duplicate worker pool {pool.name!r} "
                f"(also {at('workers', pool_names[pool.name]).path.rsplit('.', 1)[-1]})"))
        pool_names.setdefault(pool.name, j)
        if pool.min > pool.max:
            problems.append(at("workers", j, "min").problem(
                f"min {pool.min} is greater than max {pool.max}"))
        if pool.size is None and pool.machine_type is None:
            problems.append(at("workers", j).problem("give either size or machine_type"))
        if pool.size is not None and pool.machine_type is not None:
            problems.append(_size_and_machine_type(at("workers", j, "size"), at("workers", j, "machine_type")))

    if c.api.public and not c.api.allowed_cidrs:
        problems.append(at("api", "public").problem(
            "a public API endpoint needs api.allowed_cidrs (who may reach it)"))
    return problems


def _size_and_machine_type(size: Loc, machine_type: Loc) -> Problem:
    """Both set on one pool: reported at the one written on the cluster, naming where the
    other was inherited from (a pool that sets machine_type over a size from defaults)."""
    def on_cluster(loc: Loc) -> bool:
        return ".clusters[" in loc.path

    if on_cluster(size) == on_cluster(machine_type):
        return machine_type.problem("give either size or machine_type, not both")
    here, other, key = (machine_type, size, "size") if on_cluster(machine_type) else (size, machine_type, "machine_type")
    block = other.path.rsplit(".", 1)[0]
    origin = block if other.file == here.file else f"{other.file}: {block}"
    return here.problem(f"give either size or machine_type, not both: {key} came from {origin}; "
                        f'add "{key}: null" to this pool to override it')
