"""Where a cluster runs (cloud, region, zones): the rules for a cluster and for a
migration target alike. ``at(*path)`` locates a path relative to the block checked."""

from __future__ import annotations

from collections.abc import Callable

from fleetform.catalog.regions import is_region, regions, zones
from fleetform.plan.ipam import MAX_ZONES
from fleetform.spec.errors import Loc, Problem
from fleetform.spec.messages import did_you_mean

CLOUD_NAMES = {"aws": "AWS", "gcp": "GCP"}


def place_problems(cloud: str, region: str, zone_list: tuple[str, ...] | None,
                   at: Callable[..., Loc]) -> tuple[list[Problem], bool]:
    """The problems, and whether the region is known (rules on it may follow)."""
    if not is_region(cloud, region):
        return [at("region").problem(f"{region!r} is not a supported {CLOUD_NAMES[cloud]} region"
                                     f"{did_you_mean(region, regions(cloud))}")], False
    problems = []
    known = zones(cloud, region)
    for j, z in enumerate(zone_list or ()):
        if z not in known:
            problems.append(at("zones", j).problem(f"{z!r} is not a zone of {region} (zones: {', '.join(known)})"))
    if zone_list is not None:
        if not zone_list:
            problems.append(at("zones").problem("an explicit zone list cannot be empty"))
        if len(set(zone_list)) != len(zone_list):
            problems.append(at("zones").problem("zones are listed more than once"))
        if len(zone_list) > MAX_ZONES:
            problems.append(at("zones").problem(f"at most {MAX_ZONES} zones per cluster"))
    return problems, True
