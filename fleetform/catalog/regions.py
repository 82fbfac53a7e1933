"""Supported regions per cloud and their zones (the one table).

Zones are the ones generally available to every account; AWS zone *names* map to
different physical zones per account, which does not matter for spreading.
"""

from __future__ import annotations

import fnmatch

AWS_REGIONS: dict[str, tuple[str, ...]] = {
    "us-east-1": ("a", "b", "c", "d", "e", "f"),
    "us-east-2": ("a", "b", "c"),
    "us-west-1": ("a", "c"),
    "us-west-2": ("a", "b", "c", "d"),
    "ca-central-1": ("a", "b", "d"),
    "sa-east-1": ("a", "b", "c"),
    "eu-west-1": ("a", "b", "c"),
    "eu-west-2": ("a", "b", "c"),
    "eu-west-3": ("a", "b", "c"),
    "eu-central-1": ("a", "b", "c"),
    "eu-north-1": ("a", "b", "c"),
    "eu-south-1": ("a", "b", "c"),
    "ap-south-1": ("a", "b", "c"),
    "ap-southeast-1": ("a", "b", "c"),
    "ap-southeast-2": ("a", "b", "c"),
    "ap-northeast-1": ("a", "c", "d"),
    "ap-northeast-2": ("a", "b", "c", "d"),
}

GCP_REGIONS: dict[str, tuple[str, ...]] = {
    "us-central1": ("a", "b", "c", "f"),
    "us-east1": ("b", "c", "d"),
    "us-east4": ("a", "b", "c"),
    "us-west1": ("a", "b", "c"),
    "us-west2": ("a", "b", "c"),
    "northamerica-northeast1": ("a", "b", "c"),
    "southamerica-east1": ("a", "b", "c"),
    "europe-west1": ("b", "c", "d"),
    "europe-west2": ("a", "b", "c"),
    "europe-west3": ("a", "b", "c"),
    "europe-west4": ("a", "b", "c"),
    "europe-west9": ("a", "b", "c"),
    "europe-north1": ("a", "b", "c"),
    "asia-east1": ("a", "b", "c"),
    "asia-northeast1": ("a", "b", "c"),
    "asia-southeast1": ("a", "b", "c"),
    "asia-south1": ("a", "b", "c"),
    "australia-southeast1": ("a", "b", "c"),
}

CLOUDS: tuple[str, ...] = ("aws", "gcp")


def regions(cloud: str) -> tuple[str, ...]:
    return tuple(AWS_REGIONS if cloud == "aws" else GCP_REGIONS)


def zones(cloud: str, region: str) -> tuple[str, ...]:
    """Full zone names of a region, in a stable (sorted) order."""
    if cloud == "aws":
        return tuple(f"{region}{z}" for z in AWS_REGIONS[region])
    return tuple(f"{region}-{z}" for z in GCP_REGIONS[region])


def is_region(cloud: str, region: str) -> bool:
    return region in (AWS_REGIONS if cloud == "aws" else GCP_REGIONS)


def matches_any(region: str, patterns: tuple[str, ...] | list[str]) -> bool:
    """Shell-style match of a region name against placement patterns ('eu-*')."""
    return any(fnmatch.fnmatchcase(region, p) for p in patterns)
