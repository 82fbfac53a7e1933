"""Human views of a plan (rich tables; plain text when not a terminal or NO_COLOR)."""

from __future__ import annotations

import os
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from .plan import FleetPlan


def console() -> Console:
    no_color = bool(os.environ.get("NO_COLOR")) or not sys.stdout.isatty()
    return Console(no_color=no_color, highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 200)


def print_plan(plan: FleetPlan, data: dict[str, Any]) -> None:
    out = console()
    table = Table(title=f"fleet {plan.fleet} · stack {plan.stack}", show_lines=False)
    for col in ("cluster", "cloud", "region", "k8s", "cni", "nodes / pods / services",
                "etcd", "control plane", "pools", "est. USD/month"):
        table.add_column(col)
    for c in data["clusters"]:
        etcd_zones = ",".join(sorted({z.rsplit("-", 1)[-1] if c["cloud"] == "gcp" else z[-1] for z in c["etcd"]["zones"]}))
        table.add_row(
            c["name"], c["cloud"], c["region"], c["kubernetes_version"], c["cni"],
            f"{c['network']['node_cidr']} / {c['network']['pod_cidr']} / {c['network']['service_cidr']}",
            f"{c['etcd']['members']} ({etcd_zones})",
            str(c["control_plane"]["replicas"]),
            ", ".join(f"{p['name']} {p['min']}-{p['max']}×{p['machine_type']}" for p in c["workers"]),
            f"{c['cost']['total_min']:,.0f}–{c['cost']['total_max']:,.0f}",
        )
    out.print(table)
    total_min = sum(c["cost"]["total_min"] for c in data["clusters"])
    total_max = sum(c["cost"]["total_max"] for c in data["clusters"])
    out.print(f"Estimated cost: {total_min:,.0f}–{total_max:,.0f} USD/month "
              "(on-demand list prices; an estimate, see docs/cost.md)")
    for w in plan.warnings:
        out.print(f"[yellow]warning:[/yellow] {w}")
