"""Every name the program sets is valid for any valid stack file: generated fleets over
every cloud and region of the catalog, long cluster and pool names, with and without a
public API and workload identity federation, run through the real program under the
offline engine; the run completes (no provider check refuses a registration), every
registration passes every check again, and the physical names are unique."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetform.catalog.regions import AWS_REGIONS, GCP_REGIONS
from fleetform.engine.checks import RULES, check
from fleetform.engine.run import run_program
from fleetform.spec.errors import FleetError

ROOT = Path(__file__).resolve().parents[2]
PLACES = [("aws", r) for r in AWS_REGIONS] + [("gcp", r) for r in GCP_REGIONS]

# Each example runs the whole program: few examples, no deadline.
BOUNDED = settings(max_examples=6, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Longer cluster names are refused by validate for their certificate subjects; the names
# generated here go up to that bound, the pool names to the DNS-label maximum.
CLUSTER_NAME_MAX = 38


def label(max_len: int) -> st.SearchStrategy[str]:
    """DNS-1123 labels of the longest allowed length, or of any length."""
    longest = st.from_regex(rf"[a-z][a-z0-9-]{{{max_len - 2}}}[a-z0-9]", fullmatch=True)
    any_length = st.from_regex(rf"[a-z]([a-z0-9-]{{0,{max_len - 2}}}[a-z0-9])?", fullmatch=True)
    return longest | any_length


@st.composite
def fleets(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(1, 3))
    names = draw(st.lists(label(CLUSTER_NAME_MAX), min_size=count, max_size=count,
                          unique=True))
    clusters = []
    for index, name in enumerate(names):
        cloud, region = draw(st.sampled_from(PLACES))
        pools = draw(st.lists(label(63), min_size=1, max_size=2, unique=True))
        clusters.append({
            "name": name, "cloud": cloud, "region": region,
            "network": {"index": 10 + index},
            "etcd": {"members": 1, "size": "small"},
            "control_plane": {"replicas": 1, "size": "small"},
            "api": ({"public": True, "allowed_cidrs": ["203.0.113.0/24"]}
                    if draw(st.booleans()) else {}),
            "workers": [{"name": p, "size": "small", "min": 1, "max": 2} for p in pools],
        })
    fleet: dict[str, Any] = {
        "apiVersion": "fleetform/v1",
        "name": draw(st.sampled_from(["acme", "a" * 20, "acme-platform-fleet"])),
        "domain": "fleet.acme.example",
        "clouds": {"gcp": {"project": "acme-fleet"}},
        "clusters": clusters,
    }
    if draw(st.booleans()):
        clouds = {c["cloud"] for c in clusters}
        workload: dict[str, Any] = {"name": draw(label(40)), "namespace": "apps",
                                    "service_account": "worker"}
        if "aws" in clouds:
            workload["aws"] = {"policy_arns": ["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"]}
        if "gcp" in clouds:
            workload["gcp"] = {"roles": ["roles/storage.objectViewer"]}
        fleet["identity"] = {"federation": {"subdomain": "oidc"}}
        fleet["workload_identities"] = [workload]
    return fleet


def physical_names(resources: list[Any]) -> Counter[tuple[str, str]]:
    names: Counter[tuple[str, str]] = Counter()
    for r in resources:
        rules = RULES.get(r.type)
        prop = rules.autoname.prop if rules is not None and rules.autoname else None
        if prop and isinstance(r.inputs.get(prop), str):
            names[(r.type, r.inputs[prop])] += 1
    return names


@BOUNDED
@given(fleet=fleets())
def test_every_generated_fleet_runs_with_every_provider_check_passing(fleet: dict[str, Any]) -> None:
    try:
        result = run_program(ROOT, project="fleetform", stack="names",
                             config={"fleetform:fleet": fleet})
    except FleetError:
        # Refused by validate: nothing to run. Everything validate accepts must run.
        return
    custom = [r for r in result.resources if r.custom]
    assert custom
    for r in custom:
        assert check(r.type, r.name, r.inputs) == [], r.urn
    duplicates = [key for key, n in physical_names(custom).items() if n > 1]
    assert duplicates == []
