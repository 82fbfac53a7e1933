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
from fleetform.spec.errors import Loc, Problem
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


def _message(key: str, label: str, value: str, culprit: str, current: str, also: str = "") -> str:
    excess = len(value) - SUBJECT_LIMIT
    fit = len(current) - excess
    change = (f"shorten {culprit} to at most {fit} characters" if fit >= 1
              else f"shorten {culprit}")
    whose = f"the {key} certificates'" if " and " in key else f"the {key} certificate's"
    return (f"{whose} {label} {value!r} would be {len(value)} characters; X.509 allows "
            f"{SUBJECT_LIMIT}: {change}{also}")


def pki_problems(spec: FleetSpec, plan: FleetPlan) -> list[Problem]:
    """Every subject field over the X.509 limit, located at the name it comes from."""
    where = origins(spec)
    settings = PkiSettings.from_spec(spec.identity.pki)
    fleet = spec.name
    fleet_at: Loc = where.fleet_loc("name")
    problems: list[Problem] = []

    fleet_certs = [root_ca(fleet, settings), clustermesh_ca(fleet)]
    for key, label, value in _too_long(fleet_certs):
        problems.append(fleet_at.problem(_message(key, label, value, "the fleet name", fleet)))

    seen: set[str] = set()
    for cp in plan.clusters:
        at = where.cluster_loc(cp.name, "name")
        if cp.name not in seen:  # a cluster's CAs and admin are shared by its incarnations
            seen.add(cp.name)
            shared = [*cluster_cas(fleet, cp.name, settings), admin_client(fleet, cp.name, settings)]
            for key, label, value in _too_long(shared):
                culprit, current = ("the fleet name", fleet) if fleet in value and cp.name not in value \
                    else ("the cluster name", cp.name)
                problems.append(at.problem(_message(key, label, value, culprit, current)))
        for key, label, value in _too_long(incarnation_leaves(fleet, cp, settings)):
            if cp.name in value:
                also = f" (or the fleet domain {spec.domain!r}: etcd member names are <member>.<cluster>.<domain>)"
                problems.append(at.problem(_message(key, label, value, "the cluster name", cp.name, also)))
            else:
                problems.append(fleet_at.problem(_message(key, label, value, "the fleet name", fleet)))
    return list(dict.fromkeys(problems))
