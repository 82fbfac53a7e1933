"""The identity plan (pure): issuers, tenant and workload placement, the documents the
clouds read, the Kubernetes objects of fleet RBAC and tenants, PKI settings, and what
each API server is told."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import textwrap
from pathlib import Path

import kubernetes_validate
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID

from fleetform.addons.rbac import cluster_objects, fleet_rbac_objects, tenant_objects
from fleetform.bootstrap import render_control_plane
from fleetform.bootstrap.inputs import SecretStore
from fleetform.bootstrap.nodes import control_plane_node
from fleetform.catalog.versions import SUPPORTED_MINORS
from fleetform.engine.mocks.tls import mock_pem
from fleetform.plan import federation
from fleetform.plan import identity as ip
from fleetform.plan.federation import discovery_document, jwk, jwks_document
from fleetform.plan.fleet import plan_fleet
from fleetform.plan.identity import plan_identity
from fleetform.plan.pki import (
    DEFAULT_PKI,
    PkiSettings,
    admin_client,
    cluster_cas,
    incarnation_leaves,
    resource_key,
    root_ca,
)
from fleetform.spec.models import FleetSpec

from .helpers import load_text

CLUSTERS = """\
clusters:
  - {name: eu-core, cloud: aws, region: eu-west-1, labels: {tier: core}, network: {index: 1}}
  - {name: us-core, cloud: aws, region: us-east-1, labels: {tier: core}, network: {index: 2}}
  - {name: eu-gke, cloud: gcp, region: europe-west1, network: {index: 3}}
  - {name: edge-iad, cloud: gcp, region: us-east4, labels: {tier: edge}, network: {index: 4}}
"""
# RSA fleets run on GCP only (an AWS replica's user data cannot carry RSA certificates).
GCP_CLUSTERS = """\
clusters:
  - {name: eu-gke, cloud: gcp, region: europe-west1, network: {index: 3}}
  - {name: edge-iad, cloud: gcp, region: us-east4, labels: {tier: edge}, network: {index: 4}}
"""
IDENTITY = """\
identity:
  oidc: {issuer_url: "https://login.acme.example", client_id: fleetform}
  admins_group: platform-admins
  viewers_group: platform-viewers
tenants:
  - {name: everywhere, group: team-all}
  - {name: listed, group: team-listed, clusters: [edge-iad, eu-core]}
  - {name: core, group: team-core, selector: {labels: {tier: core}}}
  - {name: gcp-eu, group: team-gcp, selector: {cloud: gcp, regions: ["europe-*"]}}
workload_identities:
  - {name: exporter, namespace: everywhere, service_account: exporter, aws: {}, gcp: {}}
  - {name: indexer, namespace: listed, service_account: indexer, clusters: [us-core], gcp: {roles: [roles/viewer]}}
"""


def spec_of(tmp_path: Path, body: str) -> FleetSpec:
    return load_text(tmp_path, body)


@pytest.fixture()
def spec(tmp_path: Path) -> FleetSpec:
    return spec_of(tmp_path, IDENTITY + CLUSTERS)


def test_issuers_under_the_fleet_domain(spec: FleetSpec) -> None:
    ident = plan_identity(spec, plan_fleet(spec))
    assert [i.url for i in ident.issuers] == [f"https://oidc-t.fleet.acme.example/{c}"
                                              for c in ("eu-core", "us-core", "eu-gke", "edge-iad")]
    eu = ident.issuer("eu-core")
    assert eu.jwks_uri == "https://oidc-t.fleet.acme.example/eu-core/openid/v1/jwks"
    assert eu.host_path == "oidc-t.fleet.acme.example/eu-core"
    assert (eu.discovery_object, eu.jwks_object) == ("eu-core/.well-known/openid-configuration",
                                                     "eu-core/openid/v1/jwks")


def test_subdomain_setting(tmp_path: Path) -> None:
    spec = spec_of(tmp_path, "identity: {federation: {subdomain: oidc}}\n" + CLUSTERS)
    assert plan_identity(spec, plan_fleet(spec)).issuer("eu-gke").url == "https://oidc.fleet.acme.example/eu-gke"


def test_gcp_provider_ids_are_valid() -> None:
    assert ip.gcp_provider_id("eu-core") == "eu-core"
    for name in ("a", "abc", "gcp-east", "x" * 40):
        pid = ip.gcp_provider_id(name)
        assert 4 <= len(pid) <= 32 and not pid.startswith("gcp-"), pid
    assert ip.gcp_provider_id("x" * 40) != ip.gcp_provider_id("x" * 41)


def test_tenants_land_on_their_selected_clusters(spec: FleetSpec) -> None:
    ident = plan_identity(spec, plan_fleet(spec))
    placed = {t.name: t.clusters for t in ident.tenants}
    assert placed == {
        "everywhere": ("eu-core", "us-core", "eu-gke", "edge-iad"),
        "listed": ("eu-core", "edge-iad"),  # plan order, not list order
        "core": ("eu-core", "us-core"),
        "gcp-eu": ("eu-gke",),
    }
    assert [t.name for t in ident.tenants_on("edge-iad")] == ["everywhere", "listed"]
    assert {t.group for t in ident.tenants} == {"oidc:team-all", "oidc:team-listed", "oidc:team-core",
                                                 "oidc:team-gcp"}


def test_groups_carry_the_sso_prefix(tmp_path: Path) -> None:
    spec = spec_of(tmp_path, IDENTITY.replace('client_id: fleetform}', 'client_id: fleetform, groups_prefix: "sso:"}')
                   + CLUSTERS)
    ident = plan_identity(spec, plan_fleet(spec))
    assert (ident.admins_group, ident.viewers_group) == ("sso:platform-admins", "sso:platform-viewers")
    assert ident.tenants[0].group == "sso:team-all"
    assert ident.sso is not None and ident.sso.api_server().groups_prefix == "sso:"


def test_workload_identities(spec: FleetSpec) -> None:
    ident = plan_identity(spec, plan_fleet(spec))
    # The stack file's own, then one grant per in-cluster controller and cluster.
    exporter, indexer, *controllers = ident.workloads
    # ... and the log shipper's on each AWS cluster (on GCP it uses the node's identity).
    fleet_plan = plan_fleet(spec)
    assert {w.name for w in controllers} == {f"{short}-{c.name}" for c in fleet_plan.clusters
                                             for short in ("ccm", "csi", "autoscaler")} | {
        f"logs-{c.name}" for c in fleet_plan.clusters if c.cloud == "aws"}
    assert all(len(w.clusters) == 1 and (w.aws_inline_policy is not None) == (w.aws_role_name is not None)
               for w in controllers)
    assert exporter.clusters == ("edge-iad", "eu-core", "eu-gke", "us-core")  # sorted: stable under reordering
    assert exporter.subject == "system:serviceaccount:everywhere:exporter"
    assert exporter.aws_role_name == "acme-t-wi-exporter"
    assert exporter.gcp and exporter.gcp_service_account is None
    assert indexer.clusters == ("us-core",) and indexer.aws_role_name is None
    assert indexer.gcp_roles == ("roles/viewer",)
    for w in ident.workloads:
        assert 6 <= len(w.gcp_account_id) <= 30
    assert [w.name for w in ident.workloads_on("eu-core")] == [exporter.name, "ccm-eu-core", "csi-eu-core",
                                                               "autoscaler-eu-core", "logs-eu-core"]


def test_federation_defaults_follow_the_fleets_clouds(tmp_path: Path) -> None:
    aws = spec_of(tmp_path, "clusters:\n  - {name: a, cloud: aws, region: eu-west-1, network: {index: 1}}\n")
    ident = plan_identity(aws, plan_fleet(aws))
    assert (ident.federation_clouds, ident.host) == (("aws",), "aws")
    gcp = spec_of(tmp_path, "clusters:\n  - {name: g, cloud: gcp, region: europe-west1, network: {index: 1}}\n")
    ident = plan_identity(gcp, plan_fleet(gcp))
    assert (ident.federation_clouds, ident.host, ident.gcp_pool_id) == (("gcp",), "gcp", "acme-t")


# ---------------------------------------------------------------- documents


def test_discovery_document(spec: FleetSpec) -> None:
    issuer = plan_identity(spec, plan_fleet(spec)).issuer("eu-core")
    doc = json.loads(discovery_document(issuer))
    assert doc == {
        "issuer": issuer.url,
        "jwks_uri": issuer.jwks_uri,
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }


def _b64url_int(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def test_jwks_from_the_service_account_public_key() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    doc = json.loads(jwks_document(pem))
    (entry,) = doc["keys"]
    assert (entry["kty"], entry["alg"], entry["use"]) == ("RSA", "RS256", "sig")
    numbers = key.public_key().public_numbers()
    assert _b64url_int(entry["n"]) == numbers.n and _b64url_int(entry["e"]) == numbers.e == 65537
    assert entry["e"] == "AQAB" and "=" not in entry["n"]
    # Kubernetes' key id: base64url(SHA-256(DER SubjectPublicKeyInfo)), unpadded.
    der = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert entry["kid"] == base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
    # A token signed with the cluster's key verifies with the published key alone.
    published = rsa.RSAPublicNumbers(_b64url_int(entry["e"]), _b64url_int(entry["n"])).public_key()
    signature = key.sign(b"header.payload", padding.PKCS1v15(), hashes.SHA256())
    published.verify(signature, b"header.payload", padding.PKCS1v15(), hashes.SHA256())


def test_jwks_of_an_offline_placeholder_and_of_a_non_rsa_key() -> None:
    placeholder = jwk(mock_pem("PUBLIC KEY", "urn:x", lines=2))
    assert placeholder["kid"].startswith("offline-placeholder-") and placeholder["kty"] == "RSA"
    ec_pem = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    with pytest.raises(ValueError, match="must be RSA"):
        jwk(ec_pem)


def test_aws_trust_policy() -> None:
    policy = json.loads(federation.aws_trust_policy([("arn:p1", "h/a"), ("arn:p2", "h/b")], "system:serviceaccount:n:s"))
    assert [s["Principal"]["Federated"] for s in policy["Statement"]] == ["arn:p1", "arn:p2"]
    assert policy["Statement"][1]["Condition"] == {"StringEquals": {
        "h/b:sub": "system:serviceaccount:n:s", "h/b:aud": "sts.amazonaws.com"}}
    assert {s["Action"] for s in policy["Statement"]} == {"sts:AssumeRoleWithWebIdentity"}


def test_gcp_credential_configuration() -> None:
    name = "projects/1/locations/global/workloadIdentityPools/acme-prod/providers/eu-core"
    config = json.loads(federation.gcp_credential_config(name, "sa@p.iam.gserviceaccount.com"))
    assert config["type"] == "external_account"
    assert config["audience"] == f"//iam.googleapis.com/{name}"
    assert config["credential_source"] == {"file": ip.GCP_TOKEN_PATH, "format": {"type": "text"}}
    assert config["service_account_impersonation_url"].endswith("/sa@p.iam.gserviceaccount.com:generateAccessToken")
    assert federation.gcp_attribute_mapping("eu-core")["attribute.workload"] == "'eu-core/' + assertion.sub"


# ---------------------------------------------------------------- Kubernetes objects


def test_fleet_rbac_objects(spec: FleetSpec) -> None:
    ident = plan_identity(spec, plan_fleet(spec))
    objs = fleet_rbac_objects(ident)
    assert [(o["metadata"]["name"], o["roleRef"]["name"], o["subjects"][0]["name"]) for o in objs] == [
        ("fleetform:admins", "cluster-admin", "oidc:platform-admins"),
        ("fleetform:viewers", "view", "oidc:platform-viewers"),
    ]


def test_tenant_objects(spec: FleetSpec) -> None:
    ident = plan_identity(spec, plan_fleet(spec))
    objs = tenant_objects(ident.tenants[1], "1.37")
    kinds = [(o["kind"], o["metadata"]["name"]) for o in objs]
    assert kinds == [("Namespace", "listed"), ("ResourceQuota", "tenant-quota"), ("LimitRange", "tenant-defaults"),
                     ("RoleBinding", "fleetform:tenant-edit"), ("NetworkPolicy", "default-deny"),
                     ("NetworkPolicy", "allow-same-namespace"), ("NetworkPolicy", "allow-dns")]
    ns, quota, limits, binding, deny, same, dns = objs
    labels = ns["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "v1.37"
    assert all(o["metadata"]["namespace"] == "listed" for o in objs[1:])
    assert quota["spec"]["hard"] == {"requests.cpu": "4", "requests.memory": "8Gi", "limits.memory": "8Gi",
                                     "pods": "50"}
    assert limits["spec"]["limits"] == [{"type": "Container", "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
                                         "default": {"memory": "512Mi"}}]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"}
    assert binding["subjects"] == [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io",
                                    "name": "oidc:team-listed"}]
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert same["spec"]["ingress"] == [{"from": [{"podSelector": {}}]}]
    assert same["spec"]["egress"] == [{"to": [{"podSelector": {}}]}]
    assert dns["spec"]["egress"][0]["to"][0]["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}


@pytest.mark.parametrize("minor", SUPPORTED_MINORS)
def test_objects_validate_against_the_fleets_kubernetes_versions(spec: FleetSpec, minor: str) -> None:
    ident = plan_identity(spec, plan_fleet(spec))
    for cluster in ("eu-core", "edge-iad"):
        for obj in cluster_objects(ident, cluster):
            kubernetes_validate.validate(obj, f"{minor}.0", strict=True)


def test_a_broken_object_fails_the_schema(spec: FleetSpec) -> None:
    obj = tenant_objects(plan_identity(spec, plan_fleet(spec)).tenants[0], "1.37")[4]
    obj["spec"]["policyTypes"] = "Ingress"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(obj, "1.37.0", strict=True)


# ---------------------------------------------------------------- PKI settings


def test_pki_settings_from_the_spec(tmp_path: Path) -> None:
    spec = spec_of(tmp_path, textwrap.dedent("""\
        identity:
          pki: {algorithm: RSA, rsa_bits: 4096, root_validity_days: 7300, intermediate_validity_days: 730,
                leaf_validity_days: 30, rotate: {eu-gke: 2}}
        """) + GCP_CLUSTERS)
    s = PkiSettings.from_spec(spec.identity.pki)
    assert (s.algorithm, s.rsa_bits, s.generation("eu-gke"), s.generation("edge-iad")) == ("RSA", 4096, 2, 0)
    assert root_ca("acme", s).validity_hours == 7300 * 24
    assert {c.validity_hours for c in cluster_cas("acme", "eu-gke", s)} == {730 * 24}
    leaves = incarnation_leaves("acme", plan_fleet(spec).cluster("eu-gke"), s)
    assert {c.validity_hours for c in leaves} == {30 * 24} and {c.early_renewal_hours for c in leaves} == {240}
    assert admin_client("acme", "eu-gke", s).validity_hours == 30 * 24
    # A rotated cluster's CAs get new names (hence new resources) and say which generation.
    cas = cluster_cas("acme", "eu-gke", s)
    assert [resource_key(c, 2) for c in cas] == ["kubernetes-ca-g2", "etcd-ca-g2", "front-proxy-ca-g2"]
    assert all("(generation 2)" in c.common_name for c in cas)
    assert [resource_key(c, 0) for c in cluster_cas("acme", "edge-iad", s)] == [
        "kubernetes-ca", "etcd-ca", "front-proxy-ca"]


def test_default_pki_settings_are_the_previous_constants() -> None:
    assert root_ca("acme").validity_hours == 10 * 8760
    assert {c.validity_hours for c in cluster_cas("acme", "x")} == {5 * 8760}
    assert admin_client("acme", "x").early_renewal_hours == 720
    assert DEFAULT_PKI.algorithm == "ECDSA"


# ---------------------------------------------------------------- API servers


def _self_signed(cn: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(Encoding.PEM).decode()


def test_api_servers_are_told_sso_and_their_issuer(spec: FleetSpec) -> None:
    plan = plan_fleet(spec)
    other = plan_fleet(spec)  # same fleet, another plan object: not registered
    ip.register(plan_identity(spec, plan), plan)
    sa_pub = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    pem = {k: _self_signed(k) for k in ("kubernetes-ca", "front-proxy-ca", "etcd-ca", "apiserver-etcd-client")}
    pem["service-account-public"] = sa_pub
    secret = {k: f"eu-core-{k}" for k in ("kubernetes-ca-key", "front-proxy-ca-key", "service-account-key",
                                         "apiserver-etcd-client-key", "bootstrap-token", "encryption-key")}
    inputs = control_plane_node(plan.cluster("eu-core"), 0, SecretStore("aws", "eu-west-1"), pem, secret)
    assert inputs.oidc is not None and inputs.oidc.issuer_url == "https://login.acme.example"
    assert (inputs.oidc.client_id, inputs.oidc.username_claim, inputs.oidc.groups_prefix) == (
        "fleetform", "email", "oidc:")
    assert inputs.service_account_issuer is not None
    assert inputs.service_account_issuer.issuer_url == "https://oidc-t.fleet.acme.example/eu-core"
    assert inputs.service_account_issuer.jwks_uri == "https://oidc-t.fleet.acme.example/eu-core/openid/v1/jwks"
    doc = render_control_plane(inputs)
    assert "https://oidc-t.fleet.acme.example/eu-core/openid/v1/jwks" in doc
    assert "https://login.acme.example" in doc
    unregistered = control_plane_node(other.cluster("eu-core"), 0, SecretStore("aws", "eu-west-1"), pem, secret)
    assert (unregistered.oidc, unregistered.service_account_issuer) == (None, None)
