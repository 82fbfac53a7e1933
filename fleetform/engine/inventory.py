"""An Ansible dynamic inventory of the fleet (``fleetform inventory --list|--host``).

Built from the plan, offline: every etcd member and control-plane replica is a host,
named ``<cluster>-<member>`` (``eu-core-etcd-0``, ``eu-core-cp-0``). etcd members have
planned fixed addresses; control-plane replicas get theirs from the stack outputs
(``pulumi stack output --json``: the ``clusters`` output of ``components/exports.py``,
and ``incarnations`` for a moving cluster's other incarnation) when given, and have
``private_ip: null`` (and no ``ansible_host``) otherwise. Worker
pools are autoscaled groups whose instances no plan or stack output lists, so
``kube_node`` and ``<cluster>_kube_node`` carry the pools as group variables
(``fleetform_pools``) and no hosts.

Groups (Ansible group names are identifiers, so ``-`` in a cluster name becomes ``_``):

- ``etcd``, ``kube_control_plane``, ``kube_node`` (kubespray's names), ``k8s_cluster``
  (children: ``kube_control_plane``, ``kube_node``);
- per cluster ``<cluster>`` with children ``<cluster>_etcd``,
  ``<cluster>_kube_control_plane``, ``<cluster>_kube_node``;
- per cloud ``aws`` / ``gcp``;
- ``all`` with every other group as a child, and ``_meta.hostvars``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fleetform.plan.model import ClusterPlan, FleetPlan
from fleetform.spec.errors import FleetError, Problem

ROLE_GROUPS = ("etcd", "kube_control_plane", "kube_node")


def group_name(*parts: str) -> str:
    """An Ansible-safe group name (letters, digits, underscores)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", "_".join(parts))
    return f"_{name}" if name[:1].isdigit() else name


def host_name(cluster: str, member: str) -> str:
    return f"{cluster}-{member}"


def load_stack_outputs(path: str) -> dict[str, Any]:
    """Every output of a ``pulumi stack output --json`` file, as a JSON object; a file that
    cannot be read or is not one is a located error."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FleetError([Problem(path, "-", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FleetError([Problem(path, "-", f"cannot read file: {exc}")]) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FleetError([Problem(path, f"line {exc.lineno}, column {exc.colno}",
                                  f"not JSON: {exc.msg} (expected `pulumi stack output --json`)")]) from None
    if not isinstance(data, dict):
        raise FleetError([Problem(path, "-", "expected a JSON object (`pulumi stack output --json`)")])
    return data


def read_outputs(path: str) -> dict[str, Any]:
    """The hosts of ``pulumi stack output --json``, checked, by inventory label: the
    ``clusters`` output (each cluster as it serves its name) plus, while a cluster moves,
    its other incarnation from the ``incarnations`` output under its incarnation key."""
    data = load_stack_outputs(path)
    clusters = data.get("clusters")
    if not isinstance(clusters, dict):
        what = "missing" if clusters is None else f"expected an object, got {type(clusters).__name__}"
        raise FleetError([Problem(path, "clusters", f"{what}: the stack output `clusters` "
                                                    "(is this the output of a fleetform stack?)")])
    incarnations = data.get("incarnations", {})  # absent in stacks older than migrations
    if not isinstance(incarnations, dict):
        raise FleetError([Problem(path, "incarnations", f"expected an object, got {type(incarnations).__name__}")])
    problems = []
    by_label: dict[str, Any] = {}
    entries = [*((f"clusters.{name}", name, c) for name, c in clusters.items()),
               *((f"incarnations.{key}", key, c) for key, c in incarnations.items()
                 if not (isinstance(c, dict) and c.get("serving", True)))]
    for where, label, c in entries:
        if not isinstance(c, dict):
            problems.append(Problem(path, where, "expected an object"))
            continue
        for role in ("etcd", "control_plane"):
            hosts = c.get(role, {})
            if not isinstance(hosts, dict) or not all(isinstance(h, dict) for h in hosts.values()):
                problems.append(Problem(path, f"{where}.{role}", "expected an object of hosts"))
        by_label[label] = c
    if problems:
        raise FleetError(problems)
    return by_label


def _ip(outputs: Mapping[str, Any] | None, cluster: str, role: str, member: str) -> str | None:
    if outputs is None:
        return None
    value = ((outputs.get(cluster) or {}).get(role) or {}).get(member, {}).get("private_ip")
    return value if isinstance(value, str) and value and not value.startswith("[") else None


def _hostvars(plan: FleetPlan, c: ClusterPlan, role: str, member: str, zone: str,
              ip: str | None, ip_source: str | None, **extra: Any) -> dict[str, Any]:
    hv: dict[str, Any] = {}
    if ip is not None:
        hv["ansible_host"] = ip
    hv.update({
        "fleetform_fleet": plan.fleet,
        "fleetform_stack": plan.stack,
        "fleetform_cluster": c.name,
        "fleetform_incarnation": c.key,
        "fleetform_role": role,
        "fleetform_member": member,
        "cloud": c.cloud,
        "region": c.region,
        "zone": zone,
        "private_ip": ip,
        "private_ip_source": ip_source,
        **extra,
    })
    return hv


def build_inventory(plan: FleetPlan, outputs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``--list`` document. `outputs` is the ``clusters`` stack output, if known."""
    hostvars: dict[str, dict[str, Any]] = {}
    groups: dict[str, dict[str, Any]] = {}

    def add(group: str, host: str) -> None:
        groups.setdefault(group, {"hosts": []})["hosts"].append(host)

    for c in plan.clusters:
        # While a cluster moves, the incarnation that does not serve its name is its own
        # group and host prefix (its incarnation key): both stay addressable.
        label = c.name if c.serving else c.key
        api = c.api.dns if c.serving else c.api.incarnation_dns
        g = group_name(label)
        for m in c.etcd.members:
            host = host_name(label, m.name)
            from_outputs = _ip(outputs, label, "etcd", m.name)
            hostvars[host] = _hostvars(plan, c, "etcd", m.name, m.zone, from_outputs or m.ip,
                                       "outputs" if from_outputs else "plan", etcd_dns=m.dns)
            add("etcd", host)
            add(group_name(label, "etcd"), host)
            add(c.cloud, host)
        for r in c.control_plane.replicas:
            host = host_name(label, r.name)
            ip = _ip(outputs, label, "control_plane", r.name)
            hostvars[host] = _hostvars(plan, c, "kube_control_plane", r.name, r.zone, ip,
                                       "outputs" if ip else None, api_endpoint=f"https://{api}:{c.api.port}")
            add("kube_control_plane", host)
            add(group_name(label, "kube_control_plane"), host)
            add(c.cloud, host)
        pools = {p.name: {"machine_type": p.machine_type, "min": p.min, "max": p.max, "zones": list(p.zones)}
                 for p in c.workers}
        if outputs is not None:
            for name, info in ((outputs.get(label) or {}).get("workers") or {}).items():
                if name in pools and isinstance(info, dict) and isinstance(info.get("groups"), dict):
                    pools[name]["groups"] = dict(info["groups"])
        groups[group_name(label, "kube_node")] = {"hosts": [], "vars": {"fleetform_pools": pools}}
        groups.setdefault("kube_node", {"hosts": [], "children": []})["children"].append(
            group_name(label, "kube_node"))
        groups[g] = {
            "children": [group_name(label, role) for role in ROLE_GROUPS],
            "vars": {"fleetform_cluster": c.name, "fleetform_incarnation": c.key, "fleetform_serving": c.serving,
                     "cloud": c.cloud, "region": c.region, "api_endpoint": f"https://{api}:{c.api.port}",
                     "kubernetes_version": c.kubernetes_version, "cni": c.cni.plugin},
        }
    for role in ROLE_GROUPS:
        groups.setdefault(role, {"hosts": []})
    groups["k8s_cluster"] = {"children": ["kube_control_plane", "kube_node"]}
    for cloud in ("aws", "gcp"):
        groups.setdefault(cloud, {"hosts": []})
    order = ["etcd", "kube_control_plane", "kube_node", "k8s_cluster", "aws", "gcp"]
    order += sorted(k for k in groups if k not in order)
    doc: dict[str, Any] = {"_meta": {"hostvars": dict(sorted(hostvars.items()))}}
    doc["all"] = {"children": ["ungrouped", *order], "vars": {"fleetform_fleet": plan.fleet,
                                                             "fleetform_stack": plan.stack,
                                                             "fleetform_domain": plan.domain}}
    doc["ungrouped"] = {"hosts": []}
    for name in order:
        doc[name] = {k: v for k, v in groups[name].items() if v or k == "hosts"}
    return doc


def host_vars(inventory: Mapping[str, Any], host: str) -> dict[str, Any] | None:
    return inventory["_meta"]["hostvars"].get(host)


def unmatched_outputs(plan: FleetPlan, outputs: Mapping[str, Any]) -> list[str]:
    """Warnings: clusters (or a moving cluster's other incarnation) of the plan missing
    from the outputs and the other way round."""
    planned = {c.name if c.serving else c.key for c in plan.clusters}
    warnings = [f"cluster {n!r} is not in the stack outputs (not deployed yet?): its control-plane "
                "addresses are unknown" for n in sorted(planned - set(outputs))]
    warnings += [f"the stack outputs have cluster {n!r}, which is not in this stack file: ignored"
                 for n in sorted(set(outputs) - planned)]
    return warnings
