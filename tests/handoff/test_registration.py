"""GitOps registration: the objects the management cluster receives, the trust the member
clusters give its controller, the located errors, and the program's graph."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from fleetform.addons.rbac import cluster_objects
from fleetform.plan.handoff import (
    IN_CLUSTER_SERVER,
    TOKEN_PATH,
    argocd_secret,
    cluster_profile,
    member_authenticator,
    registrations,
)
from fleetform.plan.identity import cluster_auth, plan_identity, register
from tests.planes.planes_support import run_stack, user_data
from tests.planes.planes_support import write_stack as write_program_stack
from tests.unit.helpers import load_text, problems

REF = Path(__file__).resolve().parents[2].parent / "shared" / "ref"
PROFILE_CRD = REF / "crds" / "cluster-inventory-api" / "multicluster.x-k8s.io_clusterprofiles.yaml"

FLEET = """
management:
  cluster: hub
clusters:
  - {name: hub, cloud: aws, region: eu-west-1, api: {public: true, allowed_cidrs: [203.0.113.0/24]}}
  - {name: edge, cloud: gcp, region: europe-west1, profiles: [edge], api: {public: true, allowed_cidrs: [198.51.100.0/24]}}
  - {name: lab, cloud: aws, region: us-east-1, gitops: false}
"""

# Keys of the `config` JSON of an Argo CD cluster Secret (Argo CD 3.5 declarative setup).
ARGOCD_CONFIG_KEYS = {"bearerToken", "username", "password", "awsAuthConfig", "execProviderConfig",
                      "tlsClientConfig", "proxyUrl", "disableCompression"}
TLS_KEYS = {"caData", "certData", "keyData", "serverName", "insecure"}


def _fleet(tmp_path: Path) -> Any:
    from fleetform.plan.fleet import plan_fleet

    spec = load_text(tmp_path, FLEET)
    plan = plan_fleet(spec)
    identity = plan_identity(spec, plan)
    return spec, plan, identity


def test_every_serving_cluster_but_the_excluded_one_is_registered_with_labels(tmp_path: Path) -> None:
    _, plan, identity = _fleet(tmp_path)
    mgmt = identity.management
    assert mgmt is not None and mgmt.cluster == "hub"
    regs = registrations(plan, mgmt, {"edge": ("payments",)})
    assert [r.cluster for r in regs] == ["hub", "edge"]
    edge = dict(regs[1].labels)
    assert edge == {
        "fleetform.io/cluster": "edge", "fleetform.io/cloud": "gcp", "fleetform.io/region": "europe-west1",
        "fleetform.io/kubernetes-version": plan.cluster("edge").kubernetes_version,
        "fleetform.io/environment": "t", "tenant.fleetform.io/payments": "true",
    }
    assert regs[1].server == f"https://{plan.cluster('edge').api.dns}:6443"


def test_argocd_secret_holds_no_long_lived_credential(tmp_path: Path) -> None:
    _, plan, identity = _fleet(tmp_path)
    mgmt = identity.management
    assert mgmt is not None
    regs = {r.cluster: r for r in registrations(plan, mgmt, {})}
    doc = argocd_secret(regs["edge"], mgmt, "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n")
    assert doc["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "cluster"
    assert doc["metadata"]["namespace"] == "argocd"
    data = doc["stringData"]
    assert set(data) == {"name", "server", "project", "config"}
    config = json.loads(data["config"])
    assert set(config) <= ARGOCD_CONFIG_KEYS and set(config["tlsClientConfig"]) <= TLS_KEYS
    assert not {"bearerToken", "password", "username", "awsAuthConfig"} & set(config)
    assert "keyData" not in config["tlsClientConfig"] and "certData" not in config["tlsClientConfig"]
    assert base64.b64decode(config["tlsClientConfig"]["caData"]).startswith(b"-----BEGIN CERTIFICATE")
    exec_cfg = config["execProviderConfig"]
    assert exec_cfg["command"] == "sh" and TOKEN_PATH in exec_cfg["args"][1]
    # The host registers itself through Argo CD's in-cluster access.
    host = argocd_secret(regs["hub"], mgmt, "")
    assert host["stringData"]["server"] == IN_CLUSTER_SERVER
    assert json.loads(host["stringData"]["config"]) == {"tlsClientConfig": {"insecure": False}}


def test_the_exec_command_prints_an_exec_credential(tmp_path: Path) -> None:
    import subprocess

    _, plan, identity = _fleet(tmp_path)
    mgmt = identity.management
    assert mgmt is not None
    exec_cfg = json.loads(argocd_secret(registrations(plan, mgmt, {})[1], mgmt, "")["stringData"]["config"])[
        "execProviderConfig"]
    token = tmp_path / "token"
    token.write_text("eyJhbGciOiJSUzI1NiJ9.e30.sig")
    script = exec_cfg["args"][1].replace(TOKEN_PATH, str(token))
    out = subprocess.run([exec_cfg["command"], "-c", script], capture_output=True, text=True, check=True,
                         timeout=10)
    cred = json.loads(out.stdout)
    assert cred == {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                    "status": {"token": "eyJhbGciOiJSUzI1NiJ9.e30.sig"}}


def test_cluster_profile_passes_its_crd_schema(tmp_path: Path) -> None:
    if not PROFILE_CRD.exists():
        pytest.skip(f"reference CRD not found at {PROFILE_CRD} (shared/ref is laid beside the repository)")
    crd = yaml.safe_load(PROFILE_CRD.read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
    _, plan, identity = _fleet(tmp_path)
    mgmt = identity.management
    assert mgmt is not None
    for reg in registrations(plan, mgmt, {}):
        doc = cluster_profile(reg, mgmt)
        assert doc["apiVersion"] == f"{crd['spec']['group']}/{version['name']}"
        assert doc["kind"] == crd["spec"]["names"]["kind"]
        jsonschema.validate(doc, version["schema"]["openAPIV3Schema"])
        assert doc["metadata"]["labels"]["x-k8s.io/cluster-manager"] == "fleetform"


def test_members_trust_the_management_issuer_for_its_controller_only(tmp_path: Path) -> None:
    _, plan, identity = _fleet(tmp_path)
    mgmt = identity.management
    assert mgmt is not None
    register(identity, plan)
    edge_auth, hub_auth = cluster_auth(plan.cluster("edge")), cluster_auth(plan.cluster("hub"))
    assert edge_auth.management == mgmt and mgmt.issuer_url == identity.issuer("hub").url
    # An API server may not trust its own service-account issuer as an external one.
    assert hub_auth.management is None
    trusted = member_authenticator(mgmt)
    assert trusted["issuer"] == {"url": identity.issuer("hub").url, "audiences": [mgmt.audience]}
    assert trusted["claimMappings"]["username"]["prefix"] + mgmt.controller_subject == mgmt.user
    assert trusted["claimValidationRules"][0]["expression"] == f"claims.sub == '{mgmt.controller_subject}'"
    edge_rbac = [o for o in cluster_objects(identity, "edge") if o["metadata"]["name"] == "fleetform:management"]
    assert edge_rbac and edge_rbac[0]["subjects"] == [
        {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": mgmt.user}]
    assert not [o for o in cluster_objects(identity, "hub") if o["metadata"]["name"] == "fleetform:management"]


@pytest.mark.parametrize(("body", "expected"), [
    ("management: {}\nclusters:\n  - {name: a, cloud: aws, region: eu-west-1}",
     "fleet.management: name the management cluster"),
    ("management: {cluster: nope}\nclusters:\n  - {name: a, cloud: aws, region: eu-west-1}",
     "fleet.management.cluster: no cluster 'nope' in this fleet"),
    ("management: {context: hub-admin}\nclusters:\n  - {name: a, cloud: aws, region: eu-west-1, gitops: false}",
     "fleet.management.issuer: required with `context:`"),
    ("management: {context: hub, issuer: 'https://hub.example/'}\n"
     "clusters:\n  - {name: a, cloud: aws, region: eu-west-1}",
     "fleet.clusters[0].api.public: cluster 'a' is registered in the management cluster but its API is private"),
    ("management: {context: hub, issuer: 'https://hub.example/'}\n"
     "clusters:\n  - {name: a, cloud: aws, region: eu-west-1, decommission: true, gitops: true}",
     "fleet.clusters[0].gitops: cluster 'a' is being decommissioned"),
    ("clusters:\n  - {name: a, cloud: aws, region: eu-west-1, gitops: true}",
     "fleet.clusters[0].gitops: the fleet names no management cluster"),
])
def test_bad_management_input_is_located(tmp_path: Path, body: str, expected: str) -> None:
    found = problems(tmp_path, body)
    assert any(expected in p for p in found), found
    assert all(p.startswith("stacks/Pulumi.t.yaml: ") for p in found if expected in p)


def _program_stack(tmp_path: Path, management: dict[str, Any] | None) -> Path:
    fleet: dict[str, Any] = {"clusters": [
        {"name": "hub", "cloud": "aws", "region": "eu-west-1", "network": {"index": 40},
         "api": {"public": True, "allowed_cidrs": ["203.0.113.0/24"]}},
        {"name": "edge", "cloud": "gcp", "region": "europe-west1", "network": {"index": 41},
         "profiles": ["edge"], "api": {"public": True, "allowed_cidrs": ["198.51.100.0/24"]}},
    ]}
    if management is not None:
        fleet["management"] = management
    return write_program_stack(tmp_path, "handoff", {"config": {"fleetform:base": "fleet.yaml",
                                                                 "fleetform:fleet": fleet}})


def test_graph_has_the_management_side_only_when_management_is_set(tmp_path: Path) -> None:
    with_mgmt = run_stack(_program_stack(tmp_path / "on", {"cluster": "hub"}))
    k8s = [r for r in with_mgmt.resources if r.type.startswith("kubernetes:")]
    providers = {r.urn: r for r in with_mgmt.resources if r.type == "pulumi:providers:kubernetes"}
    secrets = [r for r in k8s if r.type == "kubernetes:core/v1:Secret"]
    profiles = [r for r in k8s if r.type == "kubernetes:multicluster.x-k8s.io/v1alpha1:ClusterProfile"]
    assert sorted(r.name for r in secrets) == ["acme-management-argocd-edge", "acme-management-argocd-hub"]
    assert len(profiles) == 2
    mgmt_provider = [u for u, p in providers.items() if p.name == "acme-management-k8s"]
    assert len(mgmt_provider) == 1
    for r in secrets + profiles:
        assert r.provider is not None and r.provider.startswith(mgmt_provider[0])
    # Each member's API servers carry the authenticator for the controller; the host's do not.
    audience = "fleetform:acme:handoff"
    docs = {r.name: user_data(r) or "" for r in with_mgmt.resources if "-cp-" in r.name and user_data(r)}
    assert {"edge", "hub"} == {n.split("-")[0] for n in docs}, sorted(docs)
    assert all((audience in doc) == name.startswith("edge") for name, doc in docs.items()), sorted(docs)
    without = run_stack(_program_stack(tmp_path / "off", None))
    assert not [r for r in without.resources if r.type in (
        "kubernetes:core/v1:Secret", "kubernetes:multicluster.x-k8s.io/v1alpha1:ClusterProfile")]
    assert not [r for r in without.resources if "management" in r.name]
