"""Moving a cluster: what each phase of a ``migrate`` block means, as pure functions.

A logical cluster (name, identity, workloads) has one *incarnation* per place it runs,
keyed ``<cluster>-<cloud>-<region>``. While it moves it has two:

=========  ===================  ===================  =======================================
phase      source               target               the cluster's name (``api.<cluster>``)
=========  ===================  ===================  =======================================
prepare    runs, serves         created, not serving source
cutover    runs, not serving    runs, serves         target
finalize   removed              serves               target (== a cluster declared there)
=========  ===================  ===================  =======================================

The program cannot see the previous phase in the stack file, so it keeps it in the
engine's state: a ``MigrationGate`` resource (components/dynamic.py) whose ``check``
hands the old and new phase to :func:`check_transition` and fails the preview on an
illegal jump, before anything is created. ``fleetform plan/migrate plan --against DIR``
apply the same function to a previous ``fleetform synth``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from fleetform.plan import names
from fleetform.spec.migrate import PHASES
from fleetform.spec.models import ClusterNetworkSpec, ClusterSpec

Role = Literal["source", "target"]
DOCS = "docs/migration.md"


@dataclass(frozen=True)
class MigrationPlan:
    """One incarnation's part in a migration."""

    cluster: str
    role: Role
    phase: str
    data: str
    source_key: str
    target_key: str
    source: tuple[str, str]  # (cloud, region)
    target: tuple[str, str]
    release_source: bool

    @property
    def receives_snapshot(self) -> bool:
        """A target whose etcd starts from the source's snapshot (bucket, Job, writer
        grant exist until finalize)."""
        return self.role == "target" and self.data == "etcd-snapshot" and self.phase != "finalize"

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "phase": self.phase,
            "data": self.data,
            "source": self.source_key,
            "target": self.target_key,
            "release_source": self.release_source,
        }


@dataclass(frozen=True)
class Incarnation:
    """A cluster spec as it runs in one place, and the key its addresses are allocated by."""

    spec: ClusterSpec
    address_key: str
    migration: MigrationPlan | None
    serving: bool
    protect_data: bool


def target_spec(c: ClusterSpec) -> ClusterSpec:
    """The cluster's settings translated to its target: same everything (sizes map to the
    target cloud's machine types in the planner), its own place, zones and address slot."""
    assert c.migrate is not None
    to = c.migrate.to
    network = ClusterNetworkSpec(index=to.network.index, nat=c.network.nat)
    return c.model_copy(update={
        "cloud": to.cloud, "region": to.region, "zones": to.zones, "network": network, "migrate": None,
        # The source's pinned image belongs to its place (AMIs are regional): the target
        # takes the newest at its first `pulumi up`.
        "image": None,
    })


def incarnations(c: ClusterSpec) -> tuple[Incarnation, ...]:
    """The incarnations a cluster has in its current phase (no migration: just itself)."""
    if c.migrate is None:
        return (Incarnation(c, c.name, None, True, not c.decommission),)
    m = c.migrate
    target = target_spec(c)
    source_key = names.incarnation(c.name, c.cloud, c.region)
    target_key = names.incarnation(c.name, target.cloud, target.region)

    def part(role: Role) -> MigrationPlan:
        return MigrationPlan(c.name, role, m.phase, m.data, source_key, target_key,
                             (c.cloud, c.region), (target.cloud, target.region), m.release_source)

    # The target's own address slot: `migrate.to.network.index`, else a hash of
    # `<cluster>@<cloud>-<region>` (never the source's).
    address_key = names.incarnation_context(c.name, target.cloud, target.region)
    tgt = Incarnation(target, address_key, part("target"), m.phase != "prepare",
                      # In prepare the target holds a copy nobody writes to yet.
                      m.phase != "prepare")
    if m.phase == "finalize":
        return (tgt,)
    src = Incarnation(c, c.name, part("source"), m.phase == "prepare",
                      not (m.release_source and m.phase == "cutover"))
    return (src, tgt)


# ------------------------------------------------------------------ phase changes


@dataclass(frozen=True)
class PhaseState:
    """What the gate remembers of a migration between two `pulumi up`s."""

    phase: str
    target: str  # target incarnation key
    release_source: bool

    @staticmethod
    def of(c: ClusterSpec) -> PhaseState | None:
        if c.migrate is None:
            return None
        to = c.migrate.to
        return PhaseState(c.migrate.phase, names.incarnation(c.name, to.cloud, to.region),
                          c.migrate.release_source)

    def to_json(self) -> dict[str, Any]:
        return {"phase": self.phase, "target": self.target, "release_source": self.release_source}

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> PhaseState | None:
        if not d or d.get("phase") not in PHASES:
            return None
        return PhaseState(str(d["phase"]), str(d.get("target", "")), bool(d.get("release_source")))


def check_transition(cluster: str, old: PhaseState | None, new: PhaseState | None) -> str | None:
    """None when going from ``old`` to ``new`` (None: no migrate block) is allowed; else
    why not, and what to write instead."""
    start = (f"cluster {cluster!r}: a migration starts with `phase: prepare` (the target is built next to "
             f"the source), not `{new.phase if new else ''}`; see {DOCS}")
    if new is None:
        if old is None or old.phase in ("prepare", "finalize"):
            # prepare: abandoned before cutover, the source never stopped serving;
            # finalize: the block is replaced by the target's own settings.
            return None
        return (f"cluster {cluster!r} is in `phase: cutover` (the target serves): removing the migrate "
                "block would delete one of the running incarnations. Go back to `phase: prepare` first "
                f"to abandon the move, or on to `phase: finalize`; see {DOCS}")
    if old is None or (old.phase == "finalize" and new.target != old.target):
        # No migration yet, or a new one from where the last one ended.
        return None if new.phase == "prepare" else start
    if old.phase == "finalize":
        if new.phase == "finalize":
            return None
        return (f"cluster {cluster!r}: the move to {old.target} is finalized (the source incarnation is "
                f"gone); to go back, migrate again in the other direction; see {DOCS}")
    if old.target != new.target:
        if old.phase == "cutover":
            return (f"cluster {cluster!r}: the migration target cannot change in `phase: cutover` (it is "
                    f"{old.target}); go back to `phase: prepare` first")
        return None if new.phase == "prepare" else start  # another target: start over
    step = PHASES.index(new.phase) - PHASES.index(old.phase)
    if step > 1:
        return (f"cluster {cluster!r}: `phase: {new.phase}` cannot follow `phase: {old.phase}`: "
                f"the next phase is `{PHASES[PHASES.index(old.phase) + 1]}`; see {DOCS}")
    if new.phase == "finalize" and old.phase == "cutover" and not old.release_source:
        return (f"cluster {cluster!r}: `phase: finalize` deletes the source's etcd disks, which are "
                "protected until released: first run `pulumi up` with `release_source: true` in "
                f"`phase: cutover`; see {DOCS}")
    return None
