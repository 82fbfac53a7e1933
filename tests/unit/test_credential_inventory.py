"""The credential inventory `plan` prints: lifetimes, renewal, warnings."""

from __future__ import annotations

from fleetform.engine.synth import load_stack
from fleetform.plan.credentials import (
    ClusterCredentials,
    CredentialSettings,
    fleet_inventory,
    inventory,
    render,
)
from fleetform.plan.rotation import RotationState
from fleetform.spec.identity import RotationSpec

CLUSTERS = [ClusterCredentials("eu", 3, 3, RotationState(1, "prepare")), ClusterCredentials("us", 5, 1)]


def test_every_certificate_and_token_is_listed_with_its_renewal() -> None:
    inv = inventory(CLUSTERS, CredentialSettings())
    names = [(c.scope, c.name) for c in inv.credentials]
    assert names[0] == ("fleet", "fleet root CA")
    eu = [n for s, n in names if s == "eu"]
    for wanted in ("kubernetes CA", "etcd CA", "front-proxy CA", "service-account signing key",
                   "etcd member server + peer certificates", "API server etcd client certificate",
                   "admin client certificate", "kubeadm certificates", "kubelet client certificates",
                   "kubelet serving certificates", "bootstrap token"):
        assert any(n.startswith(wanted) for n in eu), wanted
    assert "kubernetes CA [generation 1, phase prepare]" in eu
    # The service-account key rotates with the cluster's CAs.
    assert "service-account signing key [generation 1, phase prepare]" in eu
    etcd = next(c for c in inv.credentials if c.scope == "us" and c.name.startswith("etcd member"))
    assert etcd.count == 10 and etcd.lifetime_hours == 8760 and "one at a time" in etcd.renewal
    token = next(c for c in inv.credentials if c.scope == "us" and c.name.startswith("bootstrap"))
    assert token.lifetime_hours == 6 and "every 2h" in token.renewal
    assert "every control-plane replica" not in next(
        c.renewal for c in inv.credentials if c.name.startswith("API server etcd client"))
    assert all(c.renewal for c in inv.credentials)
    assert inv.warnings == ()


def test_warns_when_something_would_expire_with_nothing_renewing_it() -> None:
    s = CredentialSettings(kubeadm_renewal=False, kubelet_serving_approver=False, bootstrap_token_rotation=False,
                           etcd_reload=False)
    inv = inventory(CLUSTERS[:1], s)
    assert any("eu: kubeadm certificates" in w and "nothing renews them" in w for w in inv.warnings)
    assert any("eu: etcd member server + peer certificates" in w and "365 days" in w for w in inv.warnings)
    assert any("kubelet serving certificates (self-signed)" in w for w in inv.warnings)
    assert any("permanent join credential" in w for w in inv.warnings)
    lines = render(inv)
    assert lines[0].startswith("credentials")
    assert any("NOT RENEWED" in line for line in lines)
    assert sum(line.startswith("warning: ") for line in lines) == len(inv.warnings)


def test_renewing_no_earlier_than_the_lifetime_is_a_warning() -> None:
    inv = inventory(CLUSTERS[:1], CredentialSettings(kubeadm_cert_hours=24 * 30, kubeadm_renew_before_hours=24 * 60))
    assert any("renew forever" in w for w in inv.warnings)
    assert inventory(CLUSTERS, CredentialSettings()).to_json()["credentials"][0]["kind"] == "ca"


def test_plan_reports_every_credential_renewed() -> None:
    """The boot documents install every renewal (tests/bootstrap/test_credentials_renewal_scripts.py):
    `plan` promises them and warns about nothing."""
    stack = load_stack("dev", None)
    inv = fleet_inventory(stack.spec.identity.pki, stack.plan)
    scopes = {c.scope for c in inv.credentials}
    assert scopes == {"fleet", *(c.name for c in stack.plan.clusters)}
    assert inv.warnings == ()
    by_name = {c.name: c for c in inv.credentials if c.scope != "fleet"}
    token = by_name["bootstrap token (joining machines)"]
    assert token.lifetime_hours == stack.spec.identity.pki.renewal.bootstrap_token_ttl_hours
    assert "timer" in token.renewal
    assert "approver" in by_name["kubelet serving certificates"].renewal
    # The fleet root's rotation state is listed with the root.
    pki = stack.spec.identity.pki.model_copy(update={"rotate_root": RotationSpec(generation=1, phase="prepare")})
    root = fleet_inventory(pki, stack.plan).credentials[0]
    assert root.name == "fleet root CA [generation 1, phase prepare]" and "rotate_root" in root.renewal
