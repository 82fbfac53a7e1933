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

from fleetform.engine.synth import attribute

FORMATS = ("mermaid", "dot", "html")


@dataclass(frozen=True)
class PlaneBox:
    key: str  # etcd | control-plane | workers/<pool> | cni
    title: str
    detail: str
    resources: int | None


@dataclass(frozen=True)
class ClusterBox:
    name: str
    cloud: str
    region: str
    title: str
    planes: tuple[PlaneBox, ...]
    resources: int | None


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
    with resource counts per plane when the resource records are given."""
    counts: dict[tuple[str | None, str], int] | None = None
    if records is not None:
        # Boxes per incarnation: a moving cluster's other incarnation is `<cluster>@<cloud>-<region>`.
        keys = {c.get("key", c["name"]): c.get("context", c["name"]) for c in plan.get("clusters", [])}
        counts = {}
        for place in attribute(records, str(plan.get("fleet", "")), keys).values():
            if place.plane == "stack":
                continue
            counts[(place.cluster, place.plane)] = counts.get((place.cluster, place.plane), 0) + 1

    def count(cluster: str | None, *planes: str) -> int | None:
        if counts is None:
            return None
        return sum(n for (c, p), n in counts.items() if c == cluster and (p in planes or not planes))

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
                     count(name, "network", "cni", "cluster")),
            PlaneBox("identity", "identity", "cluster CAs under the fleet root; federation",
                     count(name, "identity", "federation")),
        ]
        clusters.append(ClusterBox(
            name=name, cloud=c["cloud"], region=c["region"],
            title=f"{name} · k8s {c['kubernetes_version']}" + (" · decommissioning" if c.get("decommission") else "")
            + (f" · {c['migration']['role']} of a move ({c['migration']['phase']})" if c.get("migration") else ""),
            planes=tuple(planes), resources=count(name)))
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
                lines.append(f"      subgraph {_id('cluster', c.name)}[{_mq(c.title + _n(c.resources))}]")
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
    return "\n".join(lines) + "\n"


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
                out.append(f'        label={_dq(c.title + _n(c.resources))}; style="rounded,filled"; fillcolor=white;')
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
    for c in model.clusters:
        out.append(f'  root -> {_id(c.name, "identity")} [style=dashed, label="trust", lhead={_id("cluster", "c", c.name)}];')
        for p in c.planes:  # keep the root above every cluster
            if p.key.startswith("workers/") or p.key == "network":
                out.append(f"  root -> {_id(c.name, p.key)} [style=invis];")
    out.append("}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------
# HTML (inline SVG, no script)

_BOX_W, _ROW_H, _HEAD_H, _PAD, _GAP = 330, 34, 30, 10, 16


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _svg(model: FleetModel) -> str:
    """Nested boxes: clouds side by side, regions stacked, clusters side by side."""
    parts: list[str] = []
    cloud_boxes: list[tuple[Any, ...]] = []
    x = _GAP
    top = 100
    for cloud, regions in model.grouped():
        y = top + 34
        region_boxes: list[tuple[Any, ...]] = []
        width = 0
        for region, clusters in regions:
            heights = [(_HEAD_H + len(c.planes) * _ROW_H + _PAD) for c in clusters]
            region_h = 26 + max(heights) + _PAD
            region_w = _PAD + len(clusters) * (_BOX_W + _GAP) - _GAP + _PAD
            region_boxes.append((region, x + _PAD, y, region_w, region_h, clusters))
            y += region_h + _GAP
            width = max(width, region_w + 2 * _PAD)
        cloud_boxes.append((cloud, x, top, width, y - top, region_boxes))
        x += width + 40
    total_w = max(x, 420)
    total_h = max((b[2] + b[4] for b in cloud_boxes), default=top) + _GAP
    root_x = total_w / 2 - 200
    parts.append(f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w:.0f}" height="{total_h:.0f}" '
                 f'viewBox="0 0 {total_w:.0f} {total_h:.0f}" role="img" aria-label="fleet {_e(model.fleet)}">')
    parts.append(f"<style>{_SVG_CSS}</style>")  # inside the SVG: it renders the same on its own
    parts.append(f'<rect class="root" x="{root_x:.0f}" y="14" width="400" height="52" rx="26"/>')
    parts.append(f'<text class="title" x="{total_w / 2:.0f}" y="36" text-anchor="middle">fleet {_e(model.fleet)} · '
                 f'stack {_e(model.stack)}</text>')
    parts.append(f'<text x="{total_w / 2:.0f}" y="55" text-anchor="middle">root CA · workload identity '
                 f'federation{_e(_n(model.fleet_resources))}</text>')
    for cloud_name, cx, cy, cw, ch, placed in cloud_boxes:
        parts.append(f'<line class="trust" x1="{total_w / 2:.0f}" y1="66" x2="{cx + cw / 2:.0f}" y2="{cy}"/>')
        parts.append(f'<rect class="cloud {_e(cloud_name)}" x="{cx}" y="{cy}" width="{cw}" height="{ch}" rx="8"/>')
        parts.append(f'<text class="title" x="{cx + 12}" y="{cy + 22}">{_e(cloud_name.upper())}</text>')
        for region_name, rx, ry, rw, rh, members in placed:
            parts.append(f'<rect class="region" x="{rx}" y="{ry}" width="{rw}" height="{rh}" rx="6"/>')
            parts.append(f'<text class="region-title" x="{rx + 10}" y="{ry + 18}">{_e(region_name)}</text>')
            for i, c in enumerate(members):
                bx, by = rx + _PAD + i * (_BOX_W + _GAP), ry + 26
                bh = _HEAD_H + len(c.planes) * _ROW_H + _PAD
                parts.append(f'<g class="cluster" id="{_e(_id("cluster", c.name))}">')
                parts.append(f'<rect class="cluster-box" x="{bx}" y="{by}" width="{_BOX_W}" height="{bh}" rx="6"/>')
                parts.append(f'<text class="title" x="{bx + 10}" y="{by + 20}">{_e(c.title)}</text>')
                if c.resources is not None:
                    parts.append(f'<text class="count" x="{bx + _BOX_W - 10}" y="{by + 20}" '
                                 f'text-anchor="end">{c.resources} res.</text>')
                for j, p in enumerate(c.planes):
                    py = by + _HEAD_H + j * _ROW_H
                    kind = p.key.split("/")[0]
                    parts.append(f'<rect class="plane {_e(kind)}" x="{bx + 8}" y="{py}" width="{_BOX_W - 16}" '
                                 f'height="{_ROW_H - 4}" rx="4"/>')
                    label = p.title + ("" if p.resources is None else f" · {p.resources} res.")
                    parts.append(f'<text class="plane-title" x="{bx + 14}" y="{py + 13}">{_e(label)}</text>')
                    parts.append(f'<text class="plane-detail" x="{bx + 14}" y="{py + 26}">{_e(p.detail)}</text>')
                parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts)


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px; color: #1f2328; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
.picture { overflow-x: auto; border: 1px solid #d0d7de; border-radius: 8px; padding: 8px; }
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
"""



def to_html(model: FleetModel) -> str:
    rows = []
    for c in model.clusters:
        for i, p in enumerate(c.planes):
            head = (f'<td rowspan="{len(c.planes)}">{_e(c.name)}</td><td rowspan="{len(c.planes)}">{_e(c.cloud)}</td>'
                    f'<td rowspan="{len(c.planes)}">{_e(c.region)}</td>') if i == 0 else ""
            count = "" if p.resources is None else str(p.resources)
            rows.append(f"<tr>{head}<td>{_e(p.title)}</td><td>{_e(p.detail)}</td><td class=\"n\">{count}</td></tr>")
    fleet_row = ""
    if model.fleet_resources is not None:
        fleet_row = (f'<tr><td>(fleet-wide)</td><td colspan="2"></td><td>identity root, federation</td>'
                     f'<td></td><td class="n">{model.fleet_resources}</td></tr>')
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
        "<thead><tr><th>cluster</th><th>cloud</th><th>region</th><th>plane</th><th>what</th>"
        "<th>resources</th></tr></thead>",
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
