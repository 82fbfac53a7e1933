"""Human views (rich): tables, trees, progress. Plain text when not a terminal or NO_COLOR.

These views are for people; their layout may change. Tools read `--json`.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from fleetform.catalog.sizes import PRICES_AS_OF, PRICES_SOURCE
from fleetform.cli.cost_report import NOTICE, cost_json, fixture_rows, price_rows
from fleetform.cli.counts import grouped, plane_counts
from fleetform.cli.danger import danger_lines
from fleetform.cli.plan_table import cost_lines, print_clusters
from fleetform.engine.policy import PendingRemoval
from fleetform.engine.synth import attribute, plane_sort_key
from fleetform.plan.model import FleetPlan


def _plain_output(stream: Any) -> bool:
    return bool(os.environ.get("NO_COLOR")) or not stream.isatty()


def console(*, stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    plain = _plain_output(stream)
    # Plain: no escape codes at all (colour, bold, italic), as NO_COLOR users expect.
    return Console(file=stream, color_system=None if plain else "auto", highlight=False, soft_wrap=False,
                   width=_width(stream), emoji=False)


def _width(stream: Any) -> int | None:
    """COLUMNS when set (also through a pipe), else the terminal's width (None: rich asks
    the terminal), else 120 columns for files and pipes."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return None if stream.isatty() else 120


@contextlib.contextmanager
def engine_progress(description: str) -> Iterator[Callable[[Any], None]]:
    """A progress bar on stderr while the program registers resources (only when stderr
    is a terminal); yields the `on_resource` callback."""
    if not sys.stderr.isatty():
        yield lambda _resource: None
        return
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.completed} resources"), TimeElapsedColumn(),
                  console=console(stderr=True), transient=True) as progress:
        task = progress.add_task(escape(description), total=None)
        yield lambda _resource: progress.advance(task)


# --------------------------------------------------------------------------------------
# plan


def print_plan(plan: FleetPlan, data: dict[str, Any], *, detail: bool = False) -> None:
    """The cluster table, the add-ons (one line; ``detail``: a table of what runs where),
    the estimated cost and the warnings."""
    out = console()
    print_clusters(out, f"fleet {plan.fleet} · stack {plan.stack}", data["clusters"])
    if any("addons" in c for c in data["clusters"]):
        if detail:
            _addon_table(out, data["clusters"])
        else:
            out.print(escape(_addon_line(data["clusters"])))
    for line in cost_lines(data["clusters"]):
        out.print(escape(line))
    for w in plan.warnings:
        out.print(f"[yellow]warning:[/yellow] {escape(w)}")


def _addon_line(clusters: Sequence[Mapping[str, Any]]) -> str:
    """Every add-on once, in bootstrap order; those not on every cluster name where they run."""
    where: dict[str, list[str]] = {}
    for c in clusters:
        for a in c.get("addons", []):
            where.setdefault(a["name"], []).append(c.get("context", c["name"]))
    parts = [name if len(on) == len(clusters) else f"{name} (on {', '.join(on)})" for name, on in where.items()]
    return "add-ons: " + ", ".join(parts)  # in bootstrap order; --tree shows what each runs


def _addon_table(out: Console, clusters: Sequence[Mapping[str, Any]]) -> None:
    addons = Table(title="add-ons (in bootstrap order; docs/addons.md)", show_lines=False)
    addons.add_column("cluster")
    addons.add_column("add-on")
    addons.add_column("runs")
    for c in clusters:
        for i, a in enumerate(c.get("addons", [])):
            addons.add_row(escape(c.get("context", c["name"])) if i == 0 else "", a["name"], escape(a["runs"]))
    out.print(addons)


def print_counts(data: dict[str, Any], records: Sequence[Mapping[str, Any]], *, fleet_wide: bool) -> None:
    """One line per cluster incarnation: its resources by plane group (as `graph` shows
    them); ``fleet_wide``: also the fleet's own (identity root, federation)."""
    out = console()
    counts = plane_counts(data, records)
    rows = [(c.get("context", c["name"]), counts.get(c.get("context", c["name"]), {})) for c in data["clusters"]]
    if fleet_wide and None in counts:
        rows.append(("fleet-wide", counts[None]))
    total = sum(sum(planes.values()) for _, planes in rows)
    out.print(f"[bold]resources[/bold] ({total}; --tree lists them by type):")
    width = max((len(name) for name, _ in rows), default=0)
    for name, planes in rows:
        groups = " · ".join(f"{g} {n}" for g, n in grouped(planes).items())
        out.print(f"  {escape(name):<{width}}  {sum(planes.values()):>4}  {escape(groups)}")


def print_tree(plan: FleetPlan, data: dict[str, Any], records: Sequence[Mapping[str, Any]]) -> None:
    """fleet -> cluster incarnation -> plane -> resource counts by type."""
    # By incarnation, like the counts lines: a moving cluster's two halves apart.
    places = attribute(records, plan.fleet, {c.key: c.context for c in plan.clusters})

    counts: dict[str | None, dict[str, dict[str, int]]] = {}
    for r in records:
        place = places[r["urn"]]
        if place.plane == "stack":
            continue
        types = counts.setdefault(place.cluster, {}).setdefault(place.plane, {})
        types[r["type"]] = types.get(r["type"], 0) + 1
    total = sum(n for planes in counts.values() for types in planes.values() for n in types.values())
    tree = Tree(f"[bold]fleet {escape(plan.fleet)}[/bold] · stack {escape(plan.stack)} · {total} resources")

    def add_planes(node: Tree, planes: dict[str, dict[str, int]]) -> None:
        for plane in sorted(planes, key=plane_sort_key):
            types = planes[plane]
            branch = node.add(f"[bold]{escape(plane)}[/bold] · {sum(types.values())}")
            for t, n in sorted(types.items(), key=lambda kv: (-kv[1], kv[0])):
                branch.add(f"{escape(t)} × {n}")

    for c in data["clusters"]:
        planes = counts.get(c["context"], {})
        n = sum(v for types in planes.values() for v in types.values())
        node = tree.add(f"[bold cyan]{escape(c['context'])}[/bold cyan] · {c['cloud']} {c['region']} · {n} resources")
        add_planes(node, planes)
    if None in counts and len(data["clusters"]) == len(plan.clusters):
        planes = counts[None]
        n = sum(v for types in planes.values() for v in types.values())
        add_planes(tree.add(f"[bold cyan]fleet-wide[/bold cyan] · {n} resources"), planes)
    console().print(tree)


def print_policy(violations: Sequence[Any]) -> None:
    out = console()
    if not violations:
        out.print("[green]policy:[/green] no violations (policies/rules/)")
        return
    mandatory = sum(1 for v in violations if v.mandatory)
    table = Table(title=f"policy: {mandatory} mandatory, {len(violations) - mandatory} advisory")
    for col in ("enforcement", "rule", "resource", "message"):
        table.add_column(col)
    for v in violations:
        style = "bold red" if v.mandatory else "yellow"
        table.add_row(f"[{style}]{v.enforcement}[/{style}]", escape(v.rule), escape(f"{v.name} ({v.type})"),
                      escape(v.message))
    out.print(table)


# --------------------------------------------------------------------------------------
# diff

_MARK = {"add": ("+", "green"), "remove": ("-", "red"), "change": ("~", "yellow"), "move": (">", "cyan"),
         "pending": ("=", "blue")}


def print_diff(diff: Any, removals: Sequence[PendingRemoval], old: str, new: str, show_bootstrap: bool,
               verbose: bool = False) -> None:
    """What `pulumi up` would do: changes it would not make yet are shown as pending with
    the edit that applies them; stateful removals as one DANGER line per cluster."""
    out = console()
    out.print(f"[bold]diff[/bold] {escape(old)} → {escape(new)}")
    if diff.empty:
        out.print("no changes")
        return
    for c in diff.clusters:
        if c.status == "unchanged":
            continue
        colour = {"added": "green", "removed": "red", "changed": "yellow", "pending": "blue"}[c.status]
        note = " (`pulumi up` changes nothing here yet; see below)" if c.status == "pending" else ""
        out.print(f"\n[bold {colour}]cluster {escape(c.name)}: {c.status}[/bold {colour}]{note}")
        for path, before, after in c.fields[:20]:
            out.print(f"  plan {escape(path)}: {escape(repr(before))} → {escape(repr(after))}")
        if len(c.fields) > 20:
            out.print(f"  … and {len(c.fields) - 20} more plan fields")
    groups: dict[str | None, list[Any]] = {}
    for ch in diff.changes:
        groups.setdefault(ch.cluster, []).append(ch)
    status = {c.name: c.status for c in diff.clusters}
    for cluster, changes in groups.items():
        out.print(f"\n[bold]{'fleet-wide' if cluster is None else 'cluster ' + escape(cluster)}[/bold] "
                  f"({_summary(changes)})")
        whole = status.get(cluster or "") in ("added", "removed")
        if whole and not verbose:  # a whole new or gone cluster: counts, and how many are stateful
            by_plane: dict[str, int] = {}
            for ch in changes:
                by_plane[ch.plane] = by_plane.get(ch.plane, 0) + 1
            verb = "added" if status[cluster or ""] == "added" else "removed"
            out.print(f"  {len(changes)} resources {verb}: "
                      + escape(", ".join(f"{k} {v}" for k, v in by_plane.items())) + " (--verbose lists them)")
            stateful = sum(1 for ch in changes if ch.kind == "remove" and ch.stateful)
            if stateful:
                out.print(f"  [bold red]!! {stateful} of them STATEFUL[/bold red] (etcd members, data disks, "
                          "their certificates and keys): see DANGER below")
            continue
        for ch in changes:
            mark, colour = _MARK[ch.kind]
            line = f"  [{colour}]{mark} {escape(ch.type)}  {escape(ch.name)}[/{colour}]  [dim]{escape(ch.plane)}[/dim]"
            if ch.kind == "remove" and ch.stateful:
                line += f"  [bold red]!! STATEFUL: {escape(ch.why)}[/bold red]"
            if ch.kind in ("change", "move") and ch.fields:
                shown = ", ".join(ch.fields[:6]) + (", …" if len(ch.fields) > 6 else "")
                line += f"  ({escape(shown)})"
            if ch.pending:
                line += f"  [blue]pending: {escape(', '.join(ch.pending))} → {escape(ch.apply)}[/blue]"
            if ch.kind == "move":
                line += f"  [dim]from {escape(ch.old_urn or '')}[/dim]"
            out.print(line)
    if diff.documents:
        out.print("\n[bold]bootstrap documents[/bold]")
        for d in diff.documents:
            mark, colour = _MARK["change" if d.kind == "change" else d.kind]
            out.print(f"  [{colour}]{mark} {escape(d.path)}[/{colour}] (+{d.added} −{d.removed} lines)")
            if show_bootstrap:
                out.print(escape(d.unified), markup=True, highlight=False)
    stateful = diff.stateful_removals
    if removals:
        lines, advice = danger_lines(removals)
        out.print("")
        out.rule("[bold red]STATEFUL RESOURCES WOULD BE REMOVED[/bold red]", style="red")
        for line in lines:
            out.print(f"[bold red]{escape(line)}[/bold red]")
        for line in advice:
            out.print(f"  what to do: {escape(line)}")
    elif stateful:
        out.print("")
        out.rule("[bold red]STATEFUL RESOURCES WOULD BE REMOVED[/bold red]", style="red")
        out.print(f"[bold red]{len(stateful)} stateful resource(s) removed:[/bold red] "
                  + escape(", ".join(c.name for c in stateful[:12])) + (" …" if len(stateful) > 12 else ""))
    counts = diff.counts()
    out.print(f"\n[bold]summary:[/bold] {counts['add']} to add, {counts['change']} to change, "
              f"{counts['move']} moved, {counts['remove']} to remove"
              + (f" ([bold red]{len(stateful)} stateful![/bold red])" if stateful else "")
              + (f"; {counts['pending']} pending (not applied by `pulumi up` until the edit shown)"
                 if counts["pending"] else ""))


def _summary(changes: Sequence[Any]) -> str:
    n = {k: sum(1 for c in changes if c.kind == k) for k in ("add", "change", "move", "remove", "pending")}
    parts = [f"+{n['add']}", f"~{n['change']}", f"-{n['remove']}"]
    if n["move"]:
        parts.append(f">{n['move']}")
    if n["pending"]:
        parts.append(f"={n['pending']} pending")
    return " ".join(parts)


# --------------------------------------------------------------------------------------
# cost


def print_cost(plan: FleetPlan, data: dict[str, Any]) -> None:

    cost = cost_json(data)
    out = console()
    table = Table(title=f"ESTIMATED monthly cost (USD) · fleet {escape(plan.fleet)} · stack {escape(plan.stack)}",
                  caption=escape(NOTICE), caption_justify="left")
    for col in ("cluster", "cloud", "region", "etcd", "control plane", "workers (min–max)", "network",
                "total (min–max)"):
        table.add_column(col, justify="left" if col in ("cluster", "cloud", "region") else "right")

    def money(v: float) -> str:
        return f"{v:,.2f}"

    for c in cost["clusters"]:
        table.add_row(escape(c["name"]), c["cloud"], c["region"], money(c["etcd"]), money(c["control_plane"]),
                      f"{money(c['workers_min'])}–{money(c['workers_max'])}", money(c["network"]),
                      f"{money(c['total_min'])}–{money(c['total_max'])}")
    t = cost["total"]
    table.add_section()
    table.add_row("[bold]total[/bold]", "", "", money(t["etcd"]), money(t["control_plane"]),
                  f"{money(t['workers_min'])}–{money(t['workers_max'])}", money(t["network"]),
                  f"[bold]{money(t['total_min'])}–{money(t['total_max'])}[/bold]")
    out.print(table)
    for u in cost["unpriced"]:
        out.print(f"[yellow]note:[/yellow] {escape(u['cluster'])} pool {escape(u['pool'])}: "
                  f"{escape(u['machine_type'])} has no list price in fleetform/catalog/sizes.py; counted as 0 "
                  "(the total is an underestimate)")


def print_prices() -> None:

    out = console()
    table = Table(title="on-demand list prices (USD) used by the estimate",
                  caption=escape(f"read {PRICES_AS_OF}; source: {PRICES_SOURCE}"), caption_justify="left")
    for col in ("cloud", "size", "machine type", "per hour", "per month (730 h)"):
        table.add_column(col, justify="right" if col.startswith("per") else "left")
    for r in price_rows():
        table.add_row(r["cloud"], r["size"], r["machine_type"], f"{r['usd_per_hour']:.6g}", f"{r['usd_per_month']:,.2f}")
    out.print(table)
    other = Table()
    for col in ("cloud", "item", "unit", "USD"):
        other.add_column(col, justify="right" if col == "USD" else "left")
    for r in fixture_rows():
        other.add_row(r["cloud"], r["item"], r["unit"], f"{r['usd']:.6g}")
    out.print(other)
