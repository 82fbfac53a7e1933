"""The fleet as a picture: Mermaid, Graphviz dot, or one self-contained HTML page.

Layout (all three formats): the fleet's identity root (the root CA every cluster's
certificates chain to, and the workload-identity federation) on top; below it the
clusters grouped by cloud, then region; inside each cluster its planes -- workers, the
control plane, etcd -- with the traffic between them (workers -> API -> etcd).

The HTML page needs no network and no script: an inline SVG drawing, the Mermaid
source in a `<pre class="mermaid">` (any Mermaid renderer turns it into the same
picture), and a table of every cluster and plane.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fleetform.cli.counts import grouped, plane_counts

FORMATS = ("mermaid", "dot", "html")


@dataclass(frozen=True)
class PlaneBox:
    key: str  # etcd | control-plane | workers/<pool> | cni
    title: str
    detail: str
    resources: int | None


@dataclass(frozen=True)
class ClusterBox:
    name: str  # the incarnation's context: `<cluster>`, or `<cluster>@<cloud>-<region>` while moving
    cloud: str
    region: str
    title: str
    planes: tuple[PlaneBox, ...]
    resources: int | None
    cost: str = ""  # estimated USD/month, "min-max"
    # While the cluster moves: (role, phase, context of the other incarnation).
    migration: tuple[str, str, str] | None = None
    groups: tuple[tuple[str, int], ...] = ()  # resource counts by plane group, as `plan` prints them


@dataclass(frozen=True)
class FleetModel:
    fleet: str
    stack: str
    domain: str
    clusters: tuple[ClusterBox, ...]
    fleet_resources: int | None  # fleet-wide (identity root, federation)

    def grouped(self) -> list[tuple[str, list[tuple[str, list[ClusterBox]]]]]:
        """[(cloud, [(region, [clusters])])], clouds and regions in first-seen order."""
        out: dict[str, dict[str, list[ClusterBox]]] = {}
        for c in self.clusters:
            out.setdefault(c.cloud, {}).setdefault(c.region, []).append(c)
        return [(cloud, list(regions.items())) for cloud, regions in out.items()]


def _zones(zones: Sequence[str]) -> str:
    return ", ".join(dict.fromkeys(zones))


def fleet_model(plan: Mapping[str, Any], records: Sequence[Mapping[str, Any]] | None = None) -> FleetModel:
    """The picture's content from a plan (`plan.to_json()` or a synth dir's plan.json),
    with resource counts per plane when the resource records are given (the same counts
    `fleetform plan` prints: fleetform/cli/counts.py)."""
    counts = None if records is None else plane_counts(plan, records)

    def count(cluster: str | None, *planes: str) -> int | None:
        if counts is None:
            return None
        mine = counts.get(cluster, {})
        return sum(n for p, n in mine.items() if p in planes or not planes)

    contexts: dict[tuple[str, str], str] = {
        (c["name"], c["migration"]["role"]): c.get("context", c["name"])
        for c in plan.get("clusters", []) if c.get("migration")}
    clusters = []
    for c in plan.get("clusters", []):
        name = c.get("context", c["name"])
        etcd, cp = c["etcd"], c["control_plane"]
        planes = [
            *(PlaneBox(f"workers/{p['name']}", f"workers {p['name']}",
                       f"{p['min']}–{p['max']} × {p['machine_type']}", count(name, f"workers/{p['name']}"))
              for p in c.get("workers", [])),
            PlaneBox("control-plane", "control plane",
                     f"{cp['replicas']} × {cp['machine_type']} · {c['api']['dns']}:6443",
                     count(name, "control-plane", "kube-api", "rbac")),
            PlaneBox("etcd", "etcd",
                     f"{etcd['members']} × {etcd['machine_type']} · {_zones(etcd['zones'])}",
                     count(name, "etcd")),
            PlaneBox("network", "network",
                     f"nodes {c['network']['node_cidr']} · pods {c['network']['pod_cidr']} · cni {c['cni']}",
                     count(name, "network", "cni", "cluster", "migration")),
            PlaneBox("identity", "identity", "cluster CAs under the fleet root; federation",
                     count(name, "identity", "federation")),
        ]
        migration = None
        if c.get("migration"):
            m = c["migration"]
            other = contexts.get((c["name"], "target" if m["role"] == "source" else "source"), c["name"])
            migration = (m["role"], m["phase"], other)
        cost = c.get("cost") or {}
        clusters.append(ClusterBox(
            name=name, cloud=c["cloud"], region=c["region"],
            title=f"{name} · k8s {c['kubernetes_version']}" + (" · decommissioning" if c.get("decommission") else "")
            + (f" · {c['migration']['role']} of a move ({c['migration']['phase']})" if c.get("migration") else ""),
            planes=tuple(planes), resources=count(name),
            cost=f"{cost['total_min']:,.0f}–{cost['total_max']:,.0f} USD/month" if cost else "",
            migration=migration,
            groups=tuple(grouped(counts.get(name, {})).items()) if counts is not None else ()))
    return FleetModel(str(plan.get("fleet", "")), str(plan.get("stack", "")), str(plan.get("domain", "")),
                      tuple(clusters), count(None))


def _id(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", "_".join(parts))


def _n(n: int | None) -> str:
    return "" if n is None else f" ({n} resources)"


# --------------------------------------------------------------------------------------
# Mermaid


def _mq(text: str) -> str:
    """A Mermaid label in double quotes (quotes as entity codes)."""
    return '"' + text.replace('"', "#quot;") + '"'


def to_mermaid(model: FleetModel) -> str:
    lines = ["flowchart TB"]
    root_label = f"fleet {model.fleet} · stack {model.stack}<br/>root CA · workload identity federation"
    lines.append(f"  root([{_mq(root_label + _n(model.fleet_resources))}])")
    for cloud, regions in model.grouped():
        lines.append(f"  subgraph {_id('cloud', cloud)}[{_mq(cloud.upper())}]")
        for region, clusters in regions:
            lines.append(f"    subgraph {_id('region', cloud, region)}[{_mq(region)}]")
            for c in clusters:
                title = c.title + _n(c.resources) + (f"<br/>≈ {c.cost}" if c.cost else "")
                lines.append(f"      subgraph {_id('cluster', c.name)}[{_mq(title)}]")
                ids = {}
                for p in c.planes:
                    pid = _id(c.name, p.key)
                    ids[p.key] = pid
                    label = f"{p.title}<br/>{p.detail}{_n(p.resources)}"
                    shape = f"[({_mq(label)})]" if p.key == "etcd" else f"[{_mq(label)}]"
                    lines.append(f"        {pid}{shape}")
                for p in c.planes:
                    if p.key.startswith("workers/"):
                        lines.append(f"        {ids[p.key]} --> {ids['control-plane']}")
                lines.append(f"        {ids['control-plane']} --> {ids['etcd']}")
                lines.append("      end")
            lines.append("    end")
        lines.append("  end")
    for c in model.clusters:
        lines.append(f"  root -. trust .-> {_id(c.name, 'identity')}")
    for c, other in _moves(model):
        lines.append(f"  {_id('cluster', c.name)} ==>|{_mq(_move_label(c))}| {_id('cluster', other.name)}")
    return "\n".join(lines) + "\n"


def _moves(model: FleetModel) -> list[tuple[ClusterBox, ClusterBox]]:
    """(source, target) incarnations of every moving cluster (both drawn)."""
    by_name = {c.name: c for c in model.clusters}
    return [(c, by_name[c.migration[2]]) for c in model.clusters
            if c.migration is not None and c.migration[0] == "source" and c.migration[2] in by_name]


def _move_label(source: ClusterBox) -> str:
    assert source.migration is not None
    return f"moving ({source.migration[1]})"


# --------------------------------------------------------------------------------------
# Graphviz dot


def _dq(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


_CLOUD_COLOURS = {"aws": "#fff4e5", "gcp": "#e8f0fe"}


def to_dot(model: FleetModel) -> str:
    out = [
        f"digraph {_dq('fleet ' + model.fleet)} {{",
        '  graph [rankdir=TB, compound=true, fontname="Helvetica", newrank=true];',
        '  node [shape=box, style="rounded,filled", fillcolor=white, fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=9];',
        f"  root [label={_dq(f'fleet {model.fleet} · stack {model.stack}' + chr(10) + 'root CA · workload identity federation' + _n(model.fleet_resources))}, "
        'shape=doubleoctagon, fillcolor="#f3e8ff"];',
        "  { rank=source; root; }",
    ]
    for cloud, regions in model.grouped():
        out.append(f"  subgraph {_id('cluster', 'cloud', cloud)} {{")
        out.append(f'    label={_dq(cloud.upper())}; style="filled"; fillcolor={_dq(_CLOUD_COLOURS.get(cloud, "#f5f5f5"))};')
        for region, clusters in regions:
            out.append(f"    subgraph {_id('cluster', 'region', cloud, region)} {{")
            out.append(f'      label={_dq(region)}; style="dashed";')
            for c in clusters:
                out.append(f"      subgraph {_id('cluster', 'c', c.name)} {{")
                label = c.title + _n(c.resources) + (f"{chr(10)}≈ {c.cost}" if c.cost else "")
                out.append(f'        label={_dq(label)}; style="rounded,filled"; fillcolor=white;')
                for p in c.planes:
                    shape = ', shape=cylinder, fillcolor="#e7f7ec"' if p.key == "etcd" else ""
                    out.append(f"        {_id(c.name, p.key)} [label={_dq(p.title + chr(10) + p.detail + _n(p.resources))}{shape}];")
                for p in c.planes:
                    if p.key.startswith("workers/"):
                        out.append(f"        {_id(c.name, p.key)} -> {_id(c.name, 'control-plane')};")
                out.append(f"        {_id(c.name, 'control-plane')} -> {_id(c.name, 'etcd')};")
                out.append("      }")
            out.append("    }")
        out.append("  }")
    for c, other in _moves(model):
        out.append(f"  {_id(c.name, 'control-plane')} -> {_id(other.name, 'control-plane')} "
                   f'[style=bold, color="#cf222e", label={_dq(_move_label(c))}, '
                   f"ltail={_id('cluster', 'c', c.name)}, lhead={_id('cluster', 'c', other.name)}];")
    for c in model.clusters:
        out.append(f'  root -> {_id(c.name, "identity")} [style=dashed, label="trust", lhead={_id("cluster", "c", c.name)}];')
        for p in c.planes:  # keep the root above every cluster
            if p.key.startswith("workers/") or p.key == "network":
                out.append(f"  root -> {_id(c.name, p.key)} [style=invis];")
    out.append("}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------
# HTML (inline SVG, no script)

# The drawing is laid out for a page _WIDTH units wide and scales to the browser's width.
_WIDTH, _BOX_W, _PAD, _GAP, _LINE = 1200, 340, 10, 16, 14
# Average glyph widths (Helvetica) per font size, to wrap text inside the boxes: SVG
# text does not wrap by itself, and a clipped zone list or title is a wrong picture.
_GLYPH = {13: 7.6, 11: 6.3, 10: 5.8}


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def wrap(text: str, size: int, width: float) -> list[str]:
    """``text`` in lines that fit ``width`` at font ``size``, broken at spaces (a word
    longer than a line gets a line of its own; it is never cut)."""
    limit = max(8, int(width / _GLYPH[size]))
    lines: list[str] = []
    for word in text.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= limit:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


@dataclass
class _Placed:
    box: ClusterBox
    x: float
    y: float
    height: float
    row_top: float = 0.0  # the row of regions the box sits in (its top and bottom edges)
    row_bottom: float = 0.0


def _text(x: float, y: float, lines: Sequence[str], cls: str, anchor: str = "start") -> str:
    spans = "".join(f'<tspan x="{x:.0f}" dy="{0 if i == 0 else _LINE}">{_e(line)}</tspan>'
                    for i, line in enumerate(lines))
    return f'<text class="{cls}" x="{x:.0f}" y="{y:.0f}" text-anchor="{anchor}">{spans}</text>'


def _cluster_svg(c: ClusterBox, bx: float, by: float) -> tuple[list[str], float]:
    """One cluster box at (bx, by): its SVG and its height."""
    inner = _BOX_W - 20
    head = wrap(c.title, 13, inner)
    sub = [c.cost] if c.cost else []
    if c.resources is not None:
        sub.append(f"{c.resources} resources")
    sub_lines = wrap(" · ".join(sub), 10, inner) if sub else []
    head_h = 18 + _LINE * (len(head) - 1) + _LINE * len(sub_lines) + 8
    rows: list[tuple[PlaneBox, list[str], list[str], float]] = []
    for p in c.planes:
        title = wrap(p.title + ("" if p.resources is None else f" · {p.resources} res."), 11, inner - 12)
        detail = wrap(p.detail, 10, inner - 12)
        rows.append((p, title, detail, 8 + _LINE * (len(title) + len(detail))))
    height = head_h + sum(h + 4 for *_, h in rows) + _PAD
    parts = [f'<g class="cluster" id="{_e(_id("cluster", c.name))}">',
             f'<rect class="cluster-box{" moving" if c.migration else ""}" x="{bx:.0f}" y="{by:.0f}" '
             f'width="{_BOX_W}" height="{height:.0f}" rx="6"/>',
             _text(bx + 10, by + 18, head, "title")]
    if sub_lines:
        parts.append(_text(bx + 10, by + 18 + _LINE * len(head), sub_lines, "count"))
    py = by + head_h
    for p, title, detail, h in rows:
        kind = p.key.split("/")[0]
        parts.append(f'<rect class="plane {_e(kind)}" x="{bx + 8:.0f}" y="{py:.0f}" width="{_BOX_W - 16}" '
                     f'height="{h:.0f}" rx="4"/>')
        parts.append(_text(bx + 14, py + 13, title, "plane-title"))
        parts.append(_text(bx + 14, py + 13 + _LINE * len(title), detail, "plane-detail"))
        py += h + 4
    parts.append("</g>")
    return parts, height


def _svg(model: FleetModel) -> str:
    """Clouds one under the other across the whole width; in each, its regions side by
    side (wrapping to the next row), and in each region its clusters side by side."""
    parts: list[str] = []
    placed: dict[str, _Placed] = {}
    body: list[str] = []
    moves = _moves(model)
    lane = 12 * len(moves)  # a lane on the left for each move's arrow, clear of every box
    left = _GAP + lane
    top = 84
    y: float = top
    per_row = max(1, int((_WIDTH - left - _GAP - 2 * _PAD) // (_BOX_W + _GAP)))

    def close_row(row: list[_Placed], row_y: float, row_h: float) -> None:
        for p in row:
            p.row_top, p.row_bottom = row_y, row_y + row_h

    for cloud, regions in model.grouped():
        cloud_y = y
        y += 32
        x: float = left + _PAD
        row_h = 0.0
        row: list[_Placed] = []
        cloud_parts: list[str] = []
        for region, clusters in regions:
            for start in range(0, len(clusters), per_row):
                chunk = clusters[start:start + per_row]
                region_w = _PAD + len(chunk) * (_BOX_W + _GAP) - _GAP + _PAD
                if x + region_w > _WIDTH - _GAP - _PAD and x > left + _PAD:
                    close_row(row, y, row_h)
                    x, y, row_h, row = left + _PAD, y + row_h + _GAP, 0.0, []
                boxes = []
                tallest = 0.0
                for i, c in enumerate(chunk):
                    bx, by = x + _PAD + i * (_BOX_W + _GAP), y + 26
                    svg, h = _cluster_svg(c, bx, by)
                    boxes += svg
                    placed[c.name] = _Placed(c, bx, by, h)
                    row.append(placed[c.name])
                    tallest = max(tallest, h)
                region_h = 26 + tallest + _PAD
                label = region if start == 0 else f"{region} (continued)"
                cloud_parts.append(f'<rect class="region" x="{x:.0f}" y="{y:.0f}" width="{region_w:.0f}" '
                                   f'height="{region_h:.0f}" rx="6"/>')
                cloud_parts.append(f'<text class="region-title" x="{x + 10:.0f}" y="{y + 18:.0f}">{_e(label)}</text>')
                cloud_parts += boxes
                x += region_w + _GAP
                row_h = max(row_h, region_h)
        close_row(row, y, row_h)
        y += row_h + _GAP
        body.append(f'<rect class="cloud {_e(cloud)}" x="{left}" y="{cloud_y:.0f}" width="{_WIDTH - left - _GAP}" '
                    f'height="{y - cloud_y:.0f}" rx="8"/>')
        body.append(f'<text class="title" x="{left + 12}" y="{cloud_y + 22:.0f}">{_e(cloud.upper())}</text>')
        body += cloud_parts
        y += _GAP
    if model.clusters:  # every cluster's CAs chain to the root: one line down to the clouds
        body.insert(0, f'<line class="trust" x1="{_WIDTH / 2:.0f}" y1="66" x2="{_WIDTH / 2:.0f}" y2="{top}"/>')
    for k, (source, target) in enumerate(moves):
        # Along the free channels: down out of the source into the gap under its row,
        # left to its own lane, along the lane to the gap over the target's row, then
        # over to the target and down into it. No box is crossed.
        a, b = placed[source.name], placed[target.name]
        lane_x = 6 + 12 * k
        xa, xb = a.x + _BOX_W / 2 + 6 * k, b.x + _BOX_W / 2 + 6 * k
        below, above = a.row_bottom + _GAP / 2 - 2 + 3 * k, b.row_top - _GAP / 2 + 2 - 3 * k
        body.append(f'<path class="move" d="M{xa:.0f},{a.y + a.height:.0f} V{below:.0f} H{lane_x} V{above:.0f} '
                    f'H{xb:.0f} V{b.y - 2:.0f}" marker-end="url(#arrow)"/>')
        body.append(f'<text class="move-label" x="{left + 60}" y="{above - 4:.0f}">{_e(_move_label(source))}: '
                    f'{_e(source.name)} → {_e(target.name)}</text>')
    total_h = y
    parts.append(f'<svg xmlns="http://www.w3.org/2000/svg" width="100%" viewBox="0 0 {_WIDTH} {total_h:.0f}" '
                 f'preserveAspectRatio="xMidYMin meet" role="img" aria-label="fleet {_e(model.fleet)}">')
    parts.append(f"<style>{_SVG_CSS}</style>")  # inside the SVG: it renders the same on its own
    parts.append('<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" '
                 'markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#cf222e"/>'
                 "</marker></defs>")
    parts.append(f'<rect class="root" x="{_WIDTH / 2 - 220:.0f}" y="14" width="440" height="52" rx="26"/>')
    parts.append(f'<text class="title" x="{_WIDTH / 2:.0f}" y="36" text-anchor="middle">fleet {_e(model.fleet)} · '
                 f'stack {_e(model.stack)}</text>')
    parts.append(f'<text x="{_WIDTH / 2:.0f}" y="55" text-anchor="middle">root CA · workload identity '
                 f'federation{_e(_n(model.fleet_resources))}</text>')
    parts += body
    parts.append("</svg>")
    return "\n".join(parts)


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px; color: #1f2328; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
.picture { border: 1px solid #d0d7de; border-radius: 8px; padding: 8px; }
.picture svg { display: block; width: 100%; height: auto; }
table { border-collapse: collapse; font-size: 13px; } th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; } td.n { text-align: right; }
pre.mermaid { background: #f6f8fa; padding: 12px; border-radius: 6px; overflow-x: auto; font-size: 12px; }
"""
_SVG_CSS = """
text { font-family: Helvetica, Arial, sans-serif; font-size: 11px; fill: #1f2328; }
.title { font-size: 13px; font-weight: 600; }
.region-title { font-size: 12px; font-style: italic; fill: #57606a; }
.count, .plane-detail { fill: #57606a; font-size: 10px; }
.plane-title { font-weight: 600; }
.root { fill: #f3e8ff; stroke: #8250df; }
.trust { stroke: #8250df; stroke-dasharray: 4 3; }
.cloud { fill: #f6f8fa; stroke: #d0d7de; } .cloud.aws { fill: #fff4e5; } .cloud.gcp { fill: #e8f0fe; }
.region { fill: none; stroke: #8c959f; stroke-dasharray: 3 3; }
.cluster-box { fill: #ffffff; stroke: #57606a; }
.plane { fill: #f6f8fa; stroke: #d0d7de; } .plane.etcd { fill: #e7f7ec; }
.plane.control-plane { fill: #eef1ff; } .plane.identity { fill: #f8f0ff; }
.cluster-box.moving { stroke: #cf222e; stroke-dasharray: 6 3; }
.move { fill: none; stroke: #cf222e; stroke-width: 2; stroke-dasharray: 8 4; }
.move-label { fill: #cf222e; font-weight: 600; }
"""



def to_html(model: FleetModel) -> str:
    rows = []
    for c in model.clusters:
        for i, p in enumerate(c.planes):
            span = f'rowspan="{len(c.planes)}"'
            counts = ", ".join(f"{g} {n}" for g, n in c.groups)
            head = (f'<td {span}>{_e(c.name)}</td><td {span}>{_e(c.cloud)}</td><td {span}>{_e(c.region)}</td>'
                    f'<td {span} class="n">{_e(c.cost)}</td>'
                    f'<td {span} class="counts">{"" if c.resources is None else c.resources}'
                    f'{f"<br/><small>{_e(counts)}</small>" if counts else ""}</td>') if i == 0 else ""
            count = "" if p.resources is None else str(p.resources)
            rows.append(f"<tr>{head}<td>{_e(p.title)}</td><td>{_e(p.detail)}</td><td class=\"n\">{count}</td></tr>")
    fleet_row = ""
    if model.fleet_resources is not None:
        fleet_row = (f'<tr><td>(fleet-wide)</td><td colspan="3"></td><td class="counts">{model.fleet_resources}</td>'
                     f'<td>identity root, federation</td><td></td><td class="n">{model.fleet_resources}</td></tr>')
    title = f"fleet {model.fleet} · stack {model.stack}"
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8"/>',
        '<meta name="viewport" content="width=device-width, initial-scale=1"/>',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{_e(title)} <small>({len(model.clusters)} clusters, {_e(model.domain)})</small></h1>",
        "<p>Generated offline by <code>fleetform graph --format html</code>: what <code>pulumi up</code> "
        "would build. Identity root on top; clusters grouped by cloud and region; inside each cluster "
        "its planes.</p>",
        '<div class="picture">',
        _svg(model),
        "</div>",
        "<h2>Clusters and planes</h2>",
        "<table>",
        "<thead><tr><th>cluster</th><th>cloud</th><th>region</th><th>est. USD/month</th>"
        "<th>resources</th><th>plane</th><th>what</th><th>resources</th></tr></thead>",
        "<tbody>",
        *rows,
        fleet_row,
        "</tbody>",
        "</table>",
        "<h2>Mermaid source</h2>",
        "<p>The same picture as Mermaid (paste into any Mermaid renderer, e.g. a Markdown "
        "<code>```mermaid</code> block).</p>",
        f'<pre class="mermaid">{_e(to_mermaid(model))}</pre>',
        "</body>",
        "</html>",
        "",
    ])


def render(model: FleetModel, fmt: str) -> str:
    return {"mermaid": to_mermaid, "dot": to_dot, "html": to_html}[fmt](model)
