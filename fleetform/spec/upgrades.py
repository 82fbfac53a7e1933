"""Stack format: the fleet's ``upgrades`` block (fleet waves with exceptions).

A fleet upgrade is one target (a Kubernetes version, optionally a machine image) rolled
through ordered waves; the current wave moves only by an edit of ``current_wave``::

    upgrades:
      target: {kubernetes_version: "1.37"}
      current_wave: canary            # the edit that advances the rollout
      waves:
        - {name: canary, clusters: [dev-eu], soak: 24h}
        - {name: prod, selector: {env: prod}, soak: 48h}
      exceptions:
        - {cluster: prod-us, hold: {version: "1.36", reason: "vendor certifies 1.37 in Jan", until: 2027-01-31}}
        - {cluster: prod-ap, skip: prod}
      urgent: {reason: "CVE-2026-1234 in kube-apiserver", soak: 1h}   # the fast path

Rules that need the whole fleet (selectors, waves, holds, the skew rules) live in
``fleetform/plan/upgrades.py``; the gate that remembers what was applied is
``components/upgrades.py``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from fleetform.spec.base import DnsLabel, Labels, Model

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_VERSION = r"^v?\d+\.\d+(\.\d+)?$"


def duration_seconds(text: str) -> int:
    """'1d12h' -> 129600. Raises ValueError."""
    m = _DURATION.match(text)
    if not text or m is None:
        raise ValueError(f"{text!r} is not a duration like '30m', '24h', '2d' or '1d12h'")
    d, h, mi, s = (int(g or 0) for g in m.groups())
    return ((d * 24 + h) * 60 + mi) * 60 + s


def _duration(v: str) -> str:
    duration_seconds(v)
    return v


def _date_text(v: Any) -> Any:
    # YAML reads an unquoted 2027-01-31 as a date; a quoted one stays a string.
    return v.isoformat() if isinstance(v, dt.date) and not isinstance(v, dt.datetime) else v


def _iso_date(v: str) -> str:
    try:
        dt.date.fromisoformat(v)
    except ValueError:
        raise ValueError(f"{v!r} is not a date like 2027-01-31") from None
    return v


Duration = Annotated[str, AfterValidator(_duration)]
IsoDate = Annotated[str, BeforeValidator(_date_text), AfterValidator(_iso_date)]
VersionText = Annotated[str, Field(pattern=_VERSION)]


class UpgradeTarget(Model):
    # '1.37' (its newest pinned patch) or an exact patch release '1.37.1'.
    kubernetes_version: VersionText
    # The machine image new and replaced machines boot from (an AMI id, or a GCP image
    # or family). Running machines keep theirs until they are rolled.
    image: str | None = Field(default=None, min_length=1, max_length=256)


class WaveSpec(Model):
    name: DnsLabel
    # Chosen by name, by labels (every label must match), or both (their union).
    clusters: tuple[DnsLabel, ...] = ()
    selector: Labels = Field(default_factory=dict)
    # How long the wave runs, once applied, before the next wave may start.
    soak: Duration = "24h"


class HoldSpec(Model):
    # The version the cluster stays at (it may still take patches of it up to here).
    version: VersionText
    # Who asked and why: required (checked with a located message in plan/upgrades.py).
    reason: str | None = Field(default=None, max_length=500)
    # The hold ends here: after this day the stack file is refused until the hold is
    # extended (a new reviewable edit) or removed.
    until: IsoDate | None = None


class ExceptionSpec(Model):
    cluster: DnsLabel
    hold: HoldSpec | None = None
    # The wave this cluster sits out (it must be the cluster's own wave): the wave
    # neither upgrades it nor waits for it; remove the skip to upgrade it later.
    skip: DnsLabel | None = None


class UrgentSpec(Model):
    """The fast path for security fixes: the same waves, with a short soak."""

    reason: str = Field(min_length=1, max_length=500)
    # Replaces every wave's soak that is longer.
    soak: Duration = "1h"


class UpgradesSpec(Model):
    target: UpgradeTarget
    waves: tuple[WaveSpec, ...]
    # The wave being rolled out; the waves before it are done. Advancing it is the
    # reviewable edit the gate checks (applied, soaked).
    current_wave: DnsLabel
    exceptions: tuple[ExceptionSpec, ...] = ()
    urgent: UrgentSpec | None = None
