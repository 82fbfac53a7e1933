"""Limits on the certificate subjects the plan derives from names in the stack file.

X.509 bounds the subject's common name and organization at 64 characters (RFC 5280,
``ub-common-name``, ``ub-organization-name``); certificate libraries refuse longer ones
when they build the subject. The subjects carry the fleet name, cluster names, etcd
member DNS names (``<member>.<cluster>.<domain>``) and CA generations, so a valid name
can still make a certificate impossible. Every certificate the plan asks for is checked
here with the very functions the components issue them with, and a problem names the
value to shorten and by how much.
"""

from __future__ import annotations

from collections.abc import Iterable

from fleetform.plan.mesh import clustermesh_ca
from fleetform.plan.model import FleetPlan
from fleetform.plan.pki import (
    CertSpec,
    PkiSettings,
    admin_client,
    cluster_cas,
    incarnation_leaves,
    root_ca,
)
from fleetform.spec.errors import Problem
from fleetform.spec.load import origins
from fleetform.spec.models import FleetSpec

SUBJECT_LIMIT = 64
_FIELDS = (("common name", "common_name"), ("organization", "organization"))


def _too_long(certs: Iterable[CertSpec]) -> list[tuple[str, str, str]]:
    """(certificate keys, field label, value) of every subject field over the limit; the
    certificates sharing a value (a member's server and peer certificates) together."""
    found: dict[tuple[str, str], list[str]] = {}
    for cert in certs:
        for label, attr in _FIELDS:
            value = str(getattr(cert, attr))
            if len(value) > SUBJECT_LIMIT:
                found.setdefault((label, value), []).append(cert.key)
    return [(" and ".join(keys), label, value) for (label, value), keys in found.items()]


def _message(hits: list[tuple[str, str, str]], culprit: str, current: str, also: str = "") -> str:
    """One line for every subject over the limit because of one name: the longest one
    decides how short the name must be."""
    key, label, value = max(hits, key=lambda h: len(h[2]))
    excess = len(value) - SUBJECT_LIMIT
    fit = len(current) - excess
    change = (f"shorten {culprit} to at most {fit} characters" if fit >= 1
              else f"shorten {culprit}")
    whose = f"the {key} certificates'" if " and " in key else f"the {key} certificate's"
    more = f" ({len(hits) - 1} more certificate subjects are too long as well)" if len(hits) > 1 else ""
    return (f"{whose} {label} {value!r} would be {len(value)} characters; X.509 allows "
            f"{SUBJECT_LIMIT}{more}: {change}{also}")


def pki_problems(spec: FleetSpec, plan: FleetPlan) -> list[Problem]:
    """Subject fields over the X.509 limit: one problem per name to shorten, located
    where that name is written."""
    where = origins(spec)
    settings = PkiSettings.from_spec(spec.identity.pki)
    fleet = spec.name
    fleet_hits = _too_long([root_ca(fleet, settings), clustermesh_ca(fleet)])
    problems: list[Problem] = []
    seen: set[str] = set()
    for cp in plan.clusters:
        cluster_hits: list[tuple[str, str, str]] = []
        if cp.name not in seen:  # a cluster's CAs and admin are shared by its incarnations
            seen.add(cp.name)
            shared = [*cluster_cas(fleet, cp.name, settings), admin_client(fleet, cp.name, settings)]
            for hit in _too_long(shared):
                (cluster_hits if cp.name in hit[2] else fleet_hits).append(hit)
        leaves = _too_long(incarnation_leaves(fleet, cp, settings))
        fleet_hits += [h for h in leaves if cp.name not in h[2]]
        member_hits = [h for h in leaves if cp.name in h[2]]
        also = (f" (or the fleet domain {spec.domain!r}: etcd member names are <member>.<cluster>.<domain>)"
                if member_hits else "")
        if hits := cluster_hits + member_hits:
            problems.append(where.cluster_loc(cp.name, "name").problem(
                _message(hits, "the cluster name", cp.name, also)))
    if fleet_hits:
        problems.insert(0, where.fleet_loc("name").problem(
            _message(list(dict.fromkeys(fleet_hits)), "the fleet name", fleet)))
    return list(dict.fromkeys(problems))
