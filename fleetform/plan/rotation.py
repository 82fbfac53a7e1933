"""Rotating a CA in phases, as pure functions.

A *subject* is what rotates together: one cluster (its kubernetes, etcd and front-proxy
CAs and its service-account signing key: ``identity.pki.rotate.<cluster>``), or the
fleet root (``root``: ``identity.pki.rotate_root``). Each has a generation (0: the
original credentials) and a phase:

==========  ==========================  ==================
phase       trusted (bundle, in order)  issues new leaves
==========  ==========================  ==================
none        generation 0                generation 0
prepare N   N, then N-1                 N
complete N  N                           N
==========  ==========================  ==================

``ServiceAccountKeys`` gives the same two-key phase for a cluster's service-account
signing key: sign with N, accept (and publish in the JWKS) N and N-1 until complete.

A root rotation keeps every cluster CA's key and certifies it again under the new root,
so nothing a cluster CA signed is re-issued and joining machines' pins hold.

The issuing CA comes first in every bundle: kubeadm reads the first certificate of
``ca.crt`` as the CA whose key is ``ca.key``.

A rotation is two reviewed edits, one ``pulumi up`` each (``prepare N`` then
``complete N``). The program cannot see the last applied phase in the stack file, so a
gate resource keeps it in the engine's state and its ``check`` hands the old and new
state to :func:`check_transition`, which refuses an illegal jump in preview, the way
the migration gate does (``migrate.check_transition``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Phase = Literal["none", "prepare", "complete"]
PHASES: tuple[Phase, ...] = ("none", "prepare", "complete")
ROOT = "root"
DOCS = "docs/credentials.md"

# A located problem before it is bound to a file: (path under identity.pki, message).
Located = tuple[tuple[str | int, ...], str]


@dataclass(frozen=True, order=True)
class RotationState:
    """Where one subject's rotation stands (what the stack file says, or what the gate
    remembers from the last ``pulumi up``)."""

    generation: int = 0
    phase: Phase = "none"

    @property
    def steady(self) -> bool:
        """One generation trusted: nothing is in flight."""
        return self.phase != "prepare"

    @property
    def trusted(self) -> tuple[int, ...]:
        """Generations every trust bundle holds, the issuing one first."""
        if self.phase == "prepare":
            return (self.generation, self.generation - 1)
        return (self.generation,)

    @property
    def issuing(self) -> int:
        """The generation whose CA signs every certificate issued now."""
        return self.generation

    @property
    def retiring(self) -> int | None:
        """The generation still trusted but no longer issuing (prepare only)."""
        return self.generation - 1 if self.phase == "prepare" else None

    def __str__(self) -> str:
        return "no rotation" if self.phase == "none" else f"generation {self.generation}, phase {self.phase}"

    def to_json(self) -> dict[str, Any]:
        return {"generation": self.generation, "phase": self.phase}

    @staticmethod
    def from_json(d: Mapping[str, Any] | None) -> RotationState | None:
        """The state a gate holds; None when it holds none (a gate created just now)."""
        if not d or d.get("phase") not in PHASES:
            return None
        gen = d.get("generation", 0)
        # Numbers cross the engine's gRPC as protobuf doubles: 1.0 is generation 1.
        if isinstance(gen, bool) or not isinstance(gen, int | float) or gen != int(gen) or gen < 0:
            return None
        return RotationState(int(gen), d["phase"])


def parse(value: int | Mapping[str, Any] | None) -> RotationState:
    """A stack file's ``rotate.<subject>``: absent, a bare generation (a rotation that is
    complete) or ``{generation, phase}``. Shape errors are the spec's to report."""
    if value is None:
        return RotationState()
    if isinstance(value, int):
        return RotationState(value, "complete" if value else "none")
    gen = int(value.get("generation", 0))
    phase = value.get("phase", "complete" if gen else "none")
    return RotationState(gen, phase)


def state_problems(state: RotationState) -> list[Located]:
    """Rules of one state on its own (no history needed)."""
    if state.phase == "none" and state.generation:
        return [(("phase",), f"generation {state.generation} is a rotation: give `phase: prepare` "
                              f"(both CAs trusted) or `phase: complete` (old CA dropped); see {DOCS}")]
    if state.phase != "none" and state.generation < 1:
        return [(("generation",), f"`phase: {state.phase}` needs generation 1 or more (0 is the "
                                  f"original CA); see {DOCS}")]
    return []


def check_transition(subject: str, old: RotationState | None, new: RotationState,
                     *, migrating: bool = False) -> str | None:
    """None when going from ``old`` (the last applied state; None: never recorded) to
    ``new`` is allowed; else why not and what to write instead."""
    what = "the fleet root" if subject == ROOT else f"cluster {subject!r}"
    if old is None or old == new:
        # Nothing recorded yet (a new gate: nothing was issued under an older CA that a
        # client could still hold), or nothing changes.
        return None
    if migrating:
        return (f"{what} is migrating: a CA rotation would change the trust of both incarnations "
                f"while they run side by side; finish or abandon the migration first; see {DOCS}")
    if new.generation < old.generation:
        # Never backwards, not even out of prepare: certificates of the newer CA are
        # already issued, and going back would stop trusting them at once.
        if old.phase == "prepare":
            return (f"{what}: generation {old.generation} is in `phase: prepare` and certificates of its "
                    f"CA are already in use; a rotation is not undone, it is completed (`generation: "
                    f"{old.generation}, phase: complete`); see {DOCS}")
        return (f"{what}: generation {new.generation} cannot follow generation {old.generation} "
                f"(the older CA's key is gone); rotate forward to generation {old.generation + 1}; see {DOCS}")
    if new.generation == old.generation:
        if old.phase == "prepare" and new.phase == "complete":
            return None
        if old.phase == "complete" and new.phase == "prepare":
            return (f"{what}: generation {new.generation} is already complete (its predecessor is no "
                    f"longer trusted); a new rotation is `generation: {new.generation + 1}, phase: prepare`")
        return None  # e.g. a bare generation N written as {generation: N, phase: complete}
    # A higher generation.
    if not old.steady:
        return (f"{what}: generation {old.generation} is still in `phase: prepare`: write "
                f"`generation: {old.generation}, phase: complete` before starting generation "
                f"{new.generation}; see {DOCS}")
    if new.generation > old.generation + 1:
        return (f"{what}: generation {new.generation} skips generation {old.generation + 1}: rotate "
                f"one generation at a time; see {DOCS}")
    if new.phase != "prepare":
        return (f"{what}: `phase: complete` of generation {new.generation} needs `phase: prepare` "
                f"applied first (`generation: {new.generation}, phase: prepare`, one `pulumi up`), so "
                f"every client trusts the new CA before the old one is dropped; see {DOCS}")
    return None


def check_spec(subjects: Mapping[str, RotationState], migrating: Sequence[str]) -> list[Located]:
    """Rules needing the fleet but no history: states that are wrong on their own, and a
    rotation started while the cluster (any cluster, for the root) migrates."""
    problems: list[Located] = []
    for subject, state in sorted(subjects.items()):
        problems += [((subject, *path), msg) for path, msg in state_problems(state)]
        moving = sorted(migrating) if subject == ROOT else [c for c in migrating if c == subject]
        if state.phase == "prepare" and moving:
            what = "the fleet root" if subject == ROOT else f"cluster {subject!r}"
            problems.append(((subject, "phase"), f"{what} cannot rotate while {', '.join(moving)} "
                             f"{'is' if len(moving) == 1 else 'are'} migrating (both incarnations must "
                             f"keep trusting each other); finish or abandon the migration first; see {DOCS}"))
    return problems


# ------------------------------------------------------------ trust per phase


def bundle(state: RotationState, pems: Mapping[int, str]) -> str:
    """The trust bundle of ``state`` from each generation's CA certificate (PEM)."""
    missing = [g for g in state.trusted if g not in pems]
    if missing:
        raise KeyError(f"no CA certificate of generation {missing[0]}")
    return "".join(pems[g] if pems[g].endswith("\n") else pems[g] + "\n" for g in state.trusted)


@dataclass(frozen=True)
class ServiceAccountKeys:
    """Which service-account keys the API server signs with and accepts, and the JWKS."""

    signing: int
    verifying: tuple[int, ...]  # also the keys the published JWKS carries

    @staticmethod
    def of(state: RotationState) -> ServiceAccountKeys:
        # Tokens signed by the retiring key stay valid until complete: the API server
        # and every federated cloud (through the JWKS) keep accepting them.
        return ServiceAccountKeys(state.issuing, state.trusted)


def generations_kept(state: RotationState) -> tuple[int, ...]:
    """Generations whose CA resources exist in this phase (the rest are deleted)."""
    return tuple(sorted(state.trusted))
