"""The cost report behind `fleetform cost` and `plan`: the monthly estimate per cluster and in total, and the price table.

Prices are on-demand list prices from ``fleetform/catalog/sizes.py`` (with the date they were
read and their source); the estimate per cluster is ``ClusterPlan.cost``
(``fleetform/plan/cost.py``). Everything here is labelled an estimate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fleetform.catalog.sizes import (
    DISK_GB_MONTH,
    HOURLY_PRICE,
    HOURS_PER_MONTH,
    LOAD_BALANCER_HOUR,
    MACHINE_TYPES,
    NAT_HOUR,
    PRICES_AS_OF,
    PRICES_SOURCE,
)

COST_FIELDS = ("etcd", "control_plane", "workers_min", "workers_max", "network", "total_min", "total_max")
NOTICE = (f"An estimate: on-demand list prices read {PRICES_AS_OF} ({PRICES_SOURCE}), 730 hours a month, "
          "workers at their pool minimum and maximum; no discounts, data transfer, storage beyond etcd "
          "data disks, or taxes. See docs/cost.md.")


def cost_json(plan_data: Mapping[str, Any]) -> dict[str, Any]:
    """Per cluster and summed, from `plan.to_json()` (possibly focused on one cluster)."""
    # One row per incarnation: a moving cluster costs twice until finalize.
    clusters = [{"name": c.get("context", c["name"]), "cloud": c["cloud"], "region": c["region"],
                 **{k: c["cost"][k] for k in COST_FIELDS}} for c in plan_data["clusters"]]
    total = {k: round(sum(c[k] for c in clusters), 2) for k in COST_FIELDS}
    unpriced = [{"cluster": c["name"], "pool": p["name"], "machine_type": p["machine_type"]}
                for c in plan_data["clusters"] for p in c["workers"] if p["machine_type"] not in HOURLY_PRICE]
    return {
        "estimate": True,
        "currency": "USD",
        "period": "month",
        "hours_per_month": HOURS_PER_MONTH,
        "prices_as_of": PRICES_AS_OF,
        "prices_source": PRICES_SOURCE,
        "notice": NOTICE,
        "fleet": plan_data["fleet"],
        "stack": plan_data["stack"],
        "clusters": clusters,
        "total": total,
        # Pools whose machine type has no list price here: counted as 0 (an underestimate).
        "unpriced": unpriced,
    }


def price_rows() -> list[dict[str, Any]]:
    rows = []
    for cloud, sizes in MACHINE_TYPES.items():
        for size, machine in sizes.items():
            hourly = HOURLY_PRICE[machine]
            rows.append({"cloud": cloud, "size": size, "machine_type": machine, "usd_per_hour": hourly,
                         "usd_per_month": round(hourly * HOURS_PER_MONTH, 2)})
    return rows


def fixture_rows() -> list[dict[str, Any]]:
    """The per-cluster network pieces and the data disks."""
    rows = []
    for cloud in MACHINE_TYPES:
        rows.append({"cloud": cloud, "item": "API load balancer", "unit": "hour", "usd": LOAD_BALANCER_HOUR[cloud]})
        rows.append({"cloud": cloud, "item": "NAT gateway", "unit": "hour", "usd": NAT_HOUR[cloud]})
        rows.append({"cloud": cloud, "item": "etcd data disk", "unit": "GB-month", "usd": DISK_GB_MONTH[cloud]})
    return rows


def prices_json() -> dict[str, Any]:
    return {"estimate": True, "currency": "USD", "prices_as_of": PRICES_AS_OF, "prices_source": PRICES_SOURCE,
            "hours_per_month": HOURS_PER_MONTH, "machines": price_rows(), "other": fixture_rows()}


def prices_markdown() -> str:
    """The price tables as Markdown (docs/cost.md embeds exactly this; a test checks it)."""
    lines = [f"Prices read {PRICES_AS_OF}; source: {PRICES_SOURCE}.", "",
             "| cloud | size | machine type | USD / hour | USD / month (730 h) |",
             "|---|---|---|---:|---:|"]
    for r in price_rows():
        lines.append(f"| {r['cloud']} | {r['size']} | `{r['machine_type']}` | {r['usd_per_hour']:.6g} "
                     f"| {r['usd_per_month']:,.2f} |")
    lines += ["", "| cloud | item | unit | USD |", "|---|---|---|---:|"]
    for r in fixture_rows():
        lines.append(f"| {r['cloud']} | {r['item']} | {r['unit']} | {r['usd']:.6g} |")
    return "\n".join(lines) + "\n"
