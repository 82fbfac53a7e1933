"""The naming module's cloud-side names fit the providers' checks for any input."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fleetform.engine.checks import check
from fleetform.plan import names

parts = st.lists(st.from_regex(r"[a-z0-9][a-z0-9-]{0,79}", fullmatch=True), min_size=1, max_size=4)


@settings(max_examples=300, deadline=None)
@given(parts=parts)
def test_elbv2_names_pass_the_load_balancer_and_target_group_checks(parts: list[str]) -> None:
    name = names.elbv2(*parts)
    assert name == names.elbv2(*parts)  # stable
    assert len(name) <= 32
    assert check("aws:lb/loadBalancer:LoadBalancer", "lb", {"name": name, "subnets": ["s"]}) == []
    assert check("aws:lb/targetGroup:TargetGroup", "tg", {"name": name}) == []


def test_elbv2_names_are_unique_where_their_inputs_differ() -> None:
    keys = [f"acme-cluster-{i:03d}-aws-ap-southeast-2-control-plane-api" for i in range(300)]
    made = {names.elbv2("acme", k) for k in keys} | {names.elbv2("acme", k, "tg") for k in keys}
    assert len(made) == 600


def test_elbv2_never_starts_with_internal() -> None:
    name = names.elbv2("internal", "edge-aws-eu-west-1-control-plane-api")
    assert not name.startswith("internal-")
    assert check("aws:lb/loadBalancer:LoadBalancer", "lb", {"name": name, "subnets": ["s"]}) == []
    assert names.elbv2("acme", "short") == "acme-short"


keys = st.from_regex(r"[a-z][a-z0-9-]{0,40}-(aws|gcp)-[a-z]+-[a-z]+[0-9]", fullmatch=True)
members = st.sampled_from([names.etcd_member(i) for i in range(7)])


@settings(max_examples=300, deadline=None)
@given(key=keys, member=members)
def test_member_identity_names_pass_the_iam_and_service_account_checks(key: str, member: str) -> None:
    role = names.machine_role("acme-fleet", key, member)
    assert check("aws:iam/role:Role", "r", {"name": role}) == []
    assert check("aws:iam/instanceProfile:InstanceProfile", "p", {"name": role}) == []
    account = names.machine_account(key, member)
    assert check("gcp:serviceaccount/account:Account", "sa", {"accountId": account}) == []
    assert account.startswith("etcd-")


def test_member_identity_names_differ_per_member_even_when_shortened() -> None:
    key = "a-very-long-cluster-name-gcp-northamerica-northeast1"
    accounts = {names.machine_account(key, names.etcd_member(i)) for i in range(7)}
    roles = {names.machine_role("a-long-fleet-name-for-acme", key, names.etcd_member(i)) for i in range(7)}
    assert len(accounts) == len(roles) == 7
    assert all(len(a) <= 30 for a in accounts) and all(len(r) <= 64 for r in roles)
    # A plane's shared account keeps the name it always had.
    assert names.machine_account("eu-gke-gcp-europe-west1", "cp") == "cp-eu-gke-gcp-europe-west1"
