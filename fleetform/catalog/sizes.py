"""Size classes -> machine types per cloud, and list prices for the cost estimate.

Prices are on-demand Linux list prices in USD per hour in the reference regions
(AWS us-east-1, GCP us-central1), read from the providers' public price pages on
2026-11-01. Other regions differ by a few percent; the estimate says so.
"""

from __future__ import annotations

from typing import Literal

Size = Literal["small", "medium", "large", "xlarge"]
SIZES: tuple[str, ...] = ("small", "medium", "large", "xlarge")

MACHINE_TYPES: dict[str, dict[str, str]] = {
    "aws": {"small": "t3.medium", "medium": "m6i.large", "large": "m6i.xlarge", "xlarge": "m6i.2xlarge"},
    "gcp": {"small": "e2-medium", "medium": "n2-standard-2", "large": "n2-standard-4", "xlarge": "n2-standard-8"},
}

# USD per hour, on demand.
HOURLY_PRICE: dict[str, float] = {
    "t3.medium": 0.0416,
    "m6i.large": 0.096,
    "m6i.xlarge": 0.192,
    "m6i.2xlarge": 0.384,
    "e2-medium": 0.033503,
    "n2-standard-2": 0.097118,
    "n2-standard-4": 0.194236,
    "n2-standard-8": 0.388472,
}
# USD per GB-month of the data disks we create (gp3 / pd-balanced).
DISK_GB_MONTH: dict[str, float] = {"aws": 0.08, "gcp": 0.10}
# USD per hour of the per-cluster network fixtures (NLB / regional TCP LB; NAT).
LOAD_BALANCER_HOUR: dict[str, float] = {"aws": 0.0225, "gcp": 0.025}
NAT_HOUR: dict[str, float] = {"aws": 0.045, "gcp": 0.044}
HOURS_PER_MONTH = 730
PRICES_AS_OF = "2026-11-01"
PRICES_SOURCE = "AWS EC2/EBS/ELB/VPC on-demand pricing (us-east-1); GCP Compute Engine pricing (us-central1)"


def machine_type(cloud: str, size: str) -> str:
    return MACHINE_TYPES[cloud][size]


def size_of(cloud: str, machine: str) -> str | None:
    """The size class a machine type belongs to on a cloud, when it is one of ours."""
    for size, mt in MACHINE_TYPES[cloud].items():
        if mt == machine:
            return size
    return None
