"""The fleet as deployed, from a stack's outputs (``pulumi stack output --json``), next to
the plan of the stack file: one row per incarnation. Offline: no cluster and no cloud is
asked; what the outputs do not hold (an older program) is shown as unknown, never guessed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fleetform.engine.inventory import load_stack_outputs
from fleetform.plan.model import FleetPlan
from fleetform.spec.errors import FleetError, Problem

UNKNOWN = None


def read_stack_outputs(path: str) -> dict[str, Any]:
    """Every output of ``pulumi stack output --json`` (secrets stay ``[secret]``)."""
    data = load_stack_outputs(path)
    if not isinstance(data.get("incarnations", data.get("clusters")), dict):
        raise FleetError([Problem(path, "incarnations", "missing: not the outputs of a fleetform stack "
                                                        "(`pulumi stack output --json`)")])
    return data


def _get(mapping: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(mapping, Mapping) or key not in mapping:
            return UNKNOWN
        mapping = mapping[key]
    return mapping


def status_rows(plan: FleetPlan, outputs: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """One row per planned incarnation: what the stack file asks for (``planned``) and
    what the outputs say was applied (``deployed``: False when the stack has no such
    incarnation yet)."""
    incarnations = _get(outputs, "incarnations") or {}
    migrations = _get(outputs, "migrations") or {}
    registered = set(_get(outputs, "management", "registered") or ())
    rows = []
    for c in plan.clusters:
        out = incarnations.get(c.key) if isinstance(incarnations, Mapping) else None
        move = migrations.get(c.name) if isinstance(migrations, Mapping) else None
        rows.append({
            "cluster": c.name,
            "incarnation": c.key,
            "cloud": c.cloud,
            "region": c.region,
            "serving": c.serving,
            "deployed": outputs is not None and out is not None,
            "kubernetes": {"planned": c.kubernetes_version, "deployed": _get(out, "kubernetes_version")},
            "endpoint": _get(out, "endpoint") or f"https://{c.api.dns}:{c.api.port}",
            "load_balancer": _get(out, "load_balancer"),
            "migration": _get(move, "phase"),
            "registered": (c.name in registered) if outputs is not None and "management" in outputs else UNKNOWN,
            "addons": _get(out, "addons", "version"),
            "certificates_expire": _get(out, "certificates", "earliest_expiry"),
        })
    return rows


def unplanned(plan: FleetPlan, outputs: Mapping[str, Any]) -> list[str]:
    """Incarnations the stack still has but the stack file no longer plans."""
    keys = {c.key for c in plan.clusters}
    incarnations = _get(outputs, "incarnations") or {}
    return sorted(k for k in incarnations if k not in keys) if isinstance(incarnations, Mapping) else []
