"""``fleetform plan --against DIR``: the stateful-removal check of ``diff --against``, on a plan.

``DIR`` is a previous ``fleetform synth --out DIR`` (its ``resources.json``; its
``plan.json``, when there, attributes removals to clusters and planes). The plan's
program run is compared with it; every stateful resource the run no longer has is
printed on stderr as a ``!! STATEFUL`` line (the same resources ``diff`` marks), with the
safety rail's ``DANGER:`` lines (``fleetform.engine.policy.pending_removals``) -- stdout stays the
plan (or its JSON). ``--strict``: exit 3 when there is any.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleetform.engine.diff import diff_synth
from fleetform.engine.policy import pending_removals
from fleetform.spec.errors import FleetError, Problem


@dataclass(frozen=True)
class Previous:
    """What ``plan --against`` reads from a synth directory."""

    directory: str
    plan: dict[str, Any]
    resources: list[dict[str, Any]]


@dataclass(frozen=True)
class Removals:
    directory: str
    stateful: tuple[Any, ...]  # fleetform.engine.diff.Change, kind "remove", stateful
    dangers: tuple[str, ...]  # fleetform.engine.policy.PendingRemoval messages

    @property
    def any(self) -> bool:
        return bool(self.stateful or self.dangers)

    def to_json(self) -> dict[str, Any]:
        return {"dir": self.directory, "stateful_removals": [c.to_json() for c in self.stateful],
                "dangers": list(self.dangers)}


def read_previous(directory: str) -> Previous:
    """The resources (and plan) of a synth directory; one problem line (exit 2) when it is
    not one."""
    root = Path(directory)
    hint = "make one with `fleetform synth --out DIR`"
    if not root.is_dir():
        raise FleetError([Problem(directory, "-", f"no such directory ({hint})")])
    shown = f"{directory.rstrip('/')}/resources.json"
    try:
        resources = json.loads((root / "resources.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FleetError([Problem(directory, "-", f"not a `fleetform synth` directory: no resources.json "
                                                  f"({hint})")]) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FleetError([Problem(shown, "-", f"cannot read: {exc}")]) from None
    if not isinstance(resources, list) or not all(isinstance(r, dict) and isinstance(r.get("urn"), str)
                                                  and isinstance(r.get("type"), str) for r in resources):
        raise FleetError([Problem(shown, "-", "expected a list of resources with urn and type")])
    plan: Any = None
    with contextlib.suppress(OSError, UnicodeDecodeError, json.JSONDecodeError):  # optional: it only
        plan = json.loads((root / "plan.json").read_text(encoding="utf-8"))  # attributes removals
    if not isinstance(plan, dict) or not isinstance(plan.get("clusters"), list):
        plan = {"clusters": []}
    for r in resources:  # records of older synth outputs may lack the optional fields
        r.setdefault("name", r["urn"].rsplit("::", 1)[-1])
    return Previous(directory, plan, resources)


def removals(previous: Previous, plan: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> Removals:
    """Stateful resources of ``previous`` missing from ``records`` (``resource_record``s of
    the run), and the safety rail's messages about them."""

    stateful = diff_synth(previous.plan, previous.resources, plan, records).stateful_removals
    dangers = [str(r) for r in pending_removals(previous.resources, list(records))]
    return Removals(previous.directory, stateful, tuple(dangers))


def warn(found: Removals, source: str, *, strict: bool) -> None:
    """The ``!! STATEFUL`` lines on stderr (nothing when nothing stateful goes away)."""
    if not found.any:
        return
    err = sys.stderr
    print(f"!! STATEFUL RESOURCES WOULD BE REMOVED compared to {found.directory}:", file=err)
    for msg in found.dangers:
        print(f"!! {msg}", file=err)
    for c in found.stateful:
        where = f"cluster {c.cluster}" if c.cluster else "fleet-wide"
        print(f"!! STATEFUL: - {c.type}  {c.name}  ({where}, {c.plane}): {c.why}", file=err)
    tail = "exit 3 (--strict)" if strict else "--strict makes this exit 3"
    print(f"!! {len(found.stateful)} stateful resource(s) would be removed; "
          f"`fleetform diff --against {found.directory} {source}` shows the whole change; {tail}",
          file=err)
