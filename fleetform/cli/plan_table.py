"""The cluster table of `fleetform plan`, fitted to the terminal's width.

Nothing is ever cut: addresses, regions, machine types and pools are shown whole. When the
one-line-per-cluster table is too wide, cells go to several lines (one pool, one CIDR per
line, ...), column by column; when even that is too wide, every cluster becomes a block
of `label value` lines that wrap between words.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from fleetform.catalog.sizes import HOURLY_PRICE


def zone_suffixes(c: Mapping[str, Any]) -> str:
    zones = c["etcd"]["zones"]
    short = [z.rsplit("-", 1)[-1] if c["cloud"] == "gcp" else z[len(c["region"]):] or z for z in zones]
    return ",".join(sorted(set(short)))


def unpriced_pools(c: Mapping[str, Any]) -> list[str]:
    """Pools whose machine type has no list price (counted as 0 in the estimate)."""
    return [p["name"] for p in c["workers"] if p["machine_type"] not in HOURLY_PRICE]


def _label(c: Mapping[str, Any]) -> list[str]:
    """The cluster's name, then what is special about it (decommissioning, moving)."""
    lines = [c.get("context", c["name"])]
    if c.get("decommission"):
        lines.append("(decommissioning)")
    if c.get("migration"):
        lines.append(f"({c['migration']['role']}, {c['migration']['phase']})")
    return lines


def _pool(p: Mapping[str, Any]) -> str:
    return f"{p['name']} {p['min']}-{p['max']}×{p['machine_type']}"


def _cost(c: Mapping[str, Any]) -> str:
    mark = " *" if unpriced_pools(c) else ""
    return f"{c['cost']['total_min']:,.0f}–{c['cost']['total_max']:,.0f}{mark}"


@dataclass(frozen=True)
class _Column:
    header: tuple[str, str]  # (wide, narrow)
    wide: Callable[[Mapping[str, Any]], list[str]]
    narrow: Callable[[Mapping[str, Any]], list[str]]
    right: bool = False


def _net(c: Mapping[str, Any]) -> list[str]:
    n = c["network"]
    return [n["node_cidr"], n["pod_cidr"], n["service_cidr"]]


_COLUMNS: dict[str, _Column] = {
    "cluster": _Column(("cluster", "cluster"), lambda c: [" ".join(_label(c))], _label),
    "where": _Column(("cloud / region", "cloud/region"), lambda c: [f"{c['cloud']} {c['region']}"],
                     lambda c: [c["cloud"], c["region"]]),
    "k8s": _Column(("k8s / cni", "k8s/cni"), lambda c: [f"{c['kubernetes_version']} {c['cni']}"],
                   lambda c: [c["kubernetes_version"], c["cni"]]),
    "net": _Column(("nodes / pods / services", "node/pod/svc"), lambda c: [" / ".join(_net(c))], _net),
    "etcd": _Column(("etcd", "etcd"), lambda c: [f"{c['etcd']['members']} ({zone_suffixes(c)})"],
                    lambda c: [str(c["etcd"]["members"]), f"({zone_suffixes(c)})"]),
    "cp": _Column(("control plane", "cp"), lambda c: [str(c["control_plane"]["replicas"])],
                  lambda c: [str(c["control_plane"]["replicas"])], right=True),
    "pools": _Column(("pools", "pools"), lambda c: [", ".join(_pool(p) for p in c["workers"])],
                     lambda c: [_pool(p) for p in c["workers"]]),
    "cost": _Column(("est. USD/month", "USD/month"), lambda c: [_cost(c)], lambda c: [_cost(c)], right=True),
}
# Which column goes to several lines first when the table is too wide.
_NARROWING = ("cp", "cost", "pools", "cluster", "k8s", "where", "etcd", "net")


def _table(title: str, clusters: Sequence[Mapping[str, Any]], narrow: frozenset[str]) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    for key, col in _COLUMNS.items():
        n = key in narrow
        table.add_column(col.header[1] if n else col.header[0], justify="right" if col.right else "left",
                         no_wrap=True)
    for c in clusters:
        table.add_row(*(escape("\n".join((col.narrow if key in narrow else col.wide)(c)))
                        for key, col in _COLUMNS.items()))
    return table


def _fits(out: Console, table: Table) -> bool:
    # Measured without the console's limit (rich clamps a measurement to the width it is given).
    unlimited = out.options.update_width(100_000)
    return Measurement.get(out, unlimited, table).maximum <= out.width


def _stacked(out: Console, title: str, clusters: Sequence[Mapping[str, Any]]) -> None:
    """One block per cluster; each line wraps between words (rich), never inside one."""
    out.print(f"[bold]{escape(title)}[/bold]")
    for c in clusters:
        n = c["network"]
        out.print("")
        out.print(f"[bold]{escape(' '.join(_label(c)))}[/bold]  {c['cloud']} {escape(c['region'])} · "
                  f"k8s {escape(c['kubernetes_version'])} · {escape(c['cni'])} · {_cost(c)} USD/month")
        out.print(f"  nodes {n['node_cidr']} · pods {n['pod_cidr']} · services {n['service_cidr']}")
        out.print(f"  etcd {c['etcd']['members']} ({zone_suffixes(c)}) · control plane "
                  f"{c['control_plane']['replicas']}")
        out.print("  pools " + escape(", ".join(_pool(p) for p in c["workers"])))


def print_clusters(out: Console, title: str, clusters: Sequence[Mapping[str, Any]]) -> None:
    """The cluster table at the console's width: as wide as it fits, else stacked."""
    narrow: frozenset[str] = frozenset()
    table = _table(title, clusters, narrow)
    for key in _NARROWING:
        if _fits(out, table):
            break
        narrow = narrow | {key}
        table = _table(title, clusters, narrow)
    if _fits(out, table):
        out.print(table)
    else:
        _stacked(out, title, clusters)


def cost_lines(clusters: Sequence[Mapping[str, Any]]) -> list[str]:
    """The fleet's estimated total, and every pool it leaves out (marked * above)."""
    total_min = sum(c["cost"]["total_min"] for c in clusters)
    total_max = sum(c["cost"]["total_max"] for c in clusters)
    lines = [f"Estimated cost: {total_min:,.0f}–{total_max:,.0f} USD/month (on-demand list prices; an estimate, "
             "see `fleetform cost` and docs/cost.md)"]
    left_out = [f"{c.get('context', c['name'])} pool {p['name']} ({p['machine_type']})"
                for c in clusters for p in c["workers"] if p["name"] in unpriced_pools(c)]
    if left_out:
        lines.append("* the total leaves out " + ", ".join(left_out) + ": no list price in "
                     "fleetform/catalog/sizes.py (an underestimate)")
    return lines
