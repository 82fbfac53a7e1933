"""Every shared-identity rule, each asserting the exact ``<file>: <path>: <message>`` lines."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from fleetform.plan.validate.identity import quantity

from .helpers import STACK, problems

CLUSTERS = """\
clusters:
  - {name: eu-core, cloud: aws, region: eu-west-1, network: {index: 1}}
  - {name: eu-gke, cloud: gcp, region: europe-west1, network: {index: 2}}
"""
AWS_ONLY = """\
clusters:
  - {name: eu-core, cloud: aws, region: eu-west-1, network: {index: 1}}
"""
SSO = 'identity: {oidc: {issuer_url: "https://login.acme.example", client_id: fleetform}}\n'


def test_a_complete_identity_section_is_valid(tmp_path: Path) -> None:
    assert problems(tmp_path, """\
        identity:
          oidc: {issuer_url: "https://login.acme.example", client_id: fleetform, extra_scopes: [email]}
          admins_group: admins
          viewers_group: viewers
          pki: {algorithm: ECDSA, ecdsa_curve: P384, leaf_validity_days: 90, rotate: {eu-core: 1}}
          federation: {host: gcp, subdomain: oidc, gcp_pool: acme-fleet}
        tenants:
          - {name: payments, group: team-payments, selector: {regions: ["eu-*"]}, quota: {cpu: "8", memory: 16Gi}}
        workload_identities:
          - name: exporter
            namespace: payments
            service_account: exporter
            clusters: [eu-gke]
            aws: {policy_arns: ["arn:aws:iam::123456789012:policy/exporter"]}
            gcp: {service_account: exporter@acme-fleet.iam.gserviceaccount.com}
        """.replace("        ", "") + CLUSTERS) == []


def test_rsa_is_refused_with_aws_clusters_and_accepted_on_gcp(tmp_path: Path) -> None:
    rsa = "identity: {pki: {algorithm: RSA, rsa_bits: 2048}}\n"
    assert problems(tmp_path, rsa + CLUSTERS) == [
        f"{STACK}: fleet.identity.pki.algorithm: RSA is not supported with AWS clusters (eu-core): an AWS "
        "control-plane replica's user data carries its CA certificates, and with RSA keys it exceeds EC2's 16 KB "
        "limit (a CA rotation doubles them); use ECDSA (the default) or run RSA fleets on GCP only"]
    assert problems(tmp_path, rsa + "clusters:\n  - {name: eu-gke, cloud: gcp, region: europe-west1, "
                    "network: {index: 2}}\n") == []


def test_groups_need_sso(tmp_path: Path) -> None:
    assert problems(tmp_path, "identity: {admins_group: admins, viewers_group: viewers}\n"
                    "tenants: [{name: t, group: g}]\n" + CLUSTERS) == [
        f"{STACK}: fleet.identity.admins_group: needs identity.oidc: groups come from the SSO provider's groups claim",
        f"{STACK}: fleet.identity.viewers_group: needs identity.oidc: groups come from the SSO provider's groups claim",
        f"{STACK}: fleet.tenants: tenants need identity.oidc: a tenant's group comes from the SSO provider's "
        "groups claim",
    ]


def test_tenant_rules(tmp_path: Path) -> None:
    assert problems(tmp_path, SSO + """\
        tenants:
          - {name: kube-extra, group: g}
          - {name: a, group: g, clusters: [eu-cor], selector: {cloud: aws}}
          - {name: a, group: g}
          - {name: default, group: g}
        """.replace("        ", "") + CLUSTERS) == [
        f"{STACK}: fleet.tenants[0].name: 'kube-extra' is a Kubernetes system namespace; pick another tenant name",
        f"{STACK}: fleet.tenants[1].clusters[0]: no cluster 'eu-cor' in this fleet (did you mean 'eu-core'?)",
        f"{STACK}: fleet.tenants[1].selector: give either clusters or selector, not both",
        f"{STACK}: fleet.tenants[2].name: duplicate tenant 'a' (also tenants[1])",
        f"{STACK}: fleet.tenants[3].name: 'default' is a Kubernetes system namespace; pick another tenant name",
    ]


def test_quota_rules(tmp_path: Path) -> None:
    assert problems(tmp_path, SSO + """\
        tenants:
          - name: a
            group: g
            quota: {cpu: 500m, memory: 256Mi, default_cpu_request: "1", default_memory_request: 1Gi}
          - {name: b, group: g, quota: {cpu: lots}}
        """.replace("        ", "") + CLUSTERS) == [
        f"{STACK}: fleet.tenants[0].quota.default_cpu_request: 1 is more than the tenant's whole cpu quota (500m)",
        f"{STACK}: fleet.tenants[0].quota.default_memory_limit: 512Mi is more than the tenant's whole memory "
        "quota (256Mi)",
        f"{STACK}: fleet.tenants[0].quota.default_memory_request: 1Gi is more than default_memory_limit (512Mi)",
        f"{STACK}: fleet.tenants[1].quota.cpu: 'lots' does not have the expected format "
        "(^[0-9]+(\\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$)",
    ]


def test_quota_arithmetic() -> None:
    assert quantity("500m") == Decimal("0.5")
    assert quantity("2") == 2
    assert quantity("1Gi") == 2**30
    assert quantity("1.5k") == 1500
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        quantity("1gb")


def test_a_role_that_cannot_be_granted_on_a_project_is_refused_with_why(tmp_path: Path) -> None:
    assert problems(tmp_path, """\
        workload_identities:
          - {name: exporter, namespace: ns, service_account: sa,
             gcp: {roles: [roles/bigquery.dataViewer, roles/billing.viewer, roles/resourcemanager.folderViewer]}}
        """.replace("        ", "") + CLUSTERS) == [
        f"{STACK}: fleet.workload_identities[0].gcp.roles[1]: roles/billing.viewer cannot be granted on a "
        "project: its lowest level is the billing account, and fleetform binds gcp.roles on the fleet's "
        "project; remove it here and bind it on the billing account (gcloud billing accounts "
        "add-iam-policy-binding) to the service account fleetform creates, or use an existing "
        "service_account that holds it",
        f"{STACK}: fleet.workload_identities[0].gcp.roles[2]: roles/resourcemanager.folderViewer cannot be "
        "granted on a project: its lowest level is the folder, and fleetform binds gcp.roles on the fleet's "
        "project; remove it here and bind it on the folder to the service account fleetform creates, or use "
        "an existing service_account that holds it",
    ]


def test_workload_identity_rules(tmp_path: Path) -> None:
    long_sa = "s" * 120
    assert problems(tmp_path, """\
        workload_identities:
          - {name: nothing, namespace: ns, service_account: sa}
          - {name: both, namespace: ns, service_account: sa, clusters: [nope],
             gcp: {service_account: x-account@acme-fleet.iam.gserviceaccount.com, roles: [roles/viewer]}}
          - {name: nothing, namespace: ns, service_account: %s, gcp: {}}
        """.replace("        ", "").replace("%s", long_sa) + CLUSTERS) == [
        f"{STACK}: fleet.workload_identities[0]: grants nothing: give aws (a role) and/or gcp (a service account)",
        f"{STACK}: fleet.workload_identities[1].clusters[0]: no cluster 'nope' in this fleet",
        f"{STACK}: fleet.workload_identities[1].gcp.roles: roles are granted to a service account fleetform "
        "creates; grant an existing service_account its roles where it is managed",
        f"{STACK}: fleet.workload_identities[2].name: duplicate workload identity 'nothing' "
        "(also workload_identities[0])",
        f"{STACK}: fleet.workload_identities[2].service_account: the subject "
        f"'system:serviceaccount:ns:{long_sa}' is 145 characters; GCP accepts at most 127",
    ]


def test_grants_need_their_cloud_federated(tmp_path: Path) -> None:
    assert problems(tmp_path, """\
        workload_identities:
          - {name: w, namespace: ns, service_account: sa, gcp: {}}
        """.replace("        ", "") + AWS_ONLY) == [
        f"{STACK}: fleet.workload_identities[0].gcp: GCP is not federated in this fleet "
        "(identity.federation.clouds)",
    ]
    assert problems(tmp_path, """\
        identity: {federation: {clouds: [gcp]}}
        workload_identities:
          - {name: w, namespace: ns, service_account: sa, aws: {}}
        """.replace("        ", "") + CLUSTERS) == [
        f"{STACK}: fleet.workload_identities[0].aws: AWS is not federated in this fleet "
        "(identity.federation.clouds)",
    ]


def test_federation_rules(tmp_path: Path) -> None:
    assert problems(tmp_path, """\
        identity: {federation: {clouds: [aws], host: gcp, aws_region: mars-1, gcp_pool: gcp-pool}}
        """.replace("        ", "") + CLUSTERS) == [
        f"{STACK}: fleet.identity.federation.aws_region: 'mars-1' is not a supported AWS region",
        f"{STACK}: fleet.identity.federation.gcp_pool: pool ids starting with 'gcp-' are reserved by Google",
        f"{STACK}: fleet.identity.federation.host: 'gcp' serves the issuer documents but is not one of the "
        "federated clouds (aws)",
    ]


def test_gcp_federation_needs_a_project(tmp_path: Path) -> None:
    base = """\
fleet:
  apiVersion: fleetform/v1
  name: acme
  domain: fleet.acme.example
"""
    assert problems(tmp_path, "identity: {federation: {clouds: [aws, gcp]}}\n" + AWS_ONLY, base_text=base) == [
        f"{STACK}: fleet.clouds.gcp.project: required: workload identity federation on GCP needs the "
        "fleet's project",
    ]


def test_pki_rules(tmp_path: Path) -> None:
    assert problems(tmp_path, """\
        identity:
          pki: {root_validity_days: 3650, intermediate_validity_days: 4000, leaf_validity_days: 3650,
                rotate: {eu-gk: 1, eu-core: -1}}
        """.replace("        ", "") + CLUSTERS) == [
        f"{STACK}: fleet.identity.pki.intermediate_validity_days: an intermediate CA cannot outlive the root "
        "(root_validity_days)",
        f"{STACK}: fleet.identity.pki.rotate.eu-core: a generation counts up from 0, got -1",
        f"{STACK}: fleet.identity.pki.rotate.eu-gk: no cluster 'eu-gk' in this fleet (did you mean 'eu-gke'?)",
    ]


def test_tenants_are_refused_where_the_plugin_enforces_no_network_policy(tmp_path: Path) -> None:
    """A tenant's NetworkPolicies would do nothing on Flannel: an error at the tenant,
    naming where the cluster's plugin was chosen."""
    clusters = CLUSTERS + "  - {name: edge, cloud: aws, region: eu-central-1, network: {index: 3}, cni: {plugin: flannel}}\n"
    why = ("whose network plugin flannel does not enforce NetworkPolicy: the tenant's isolation (default deny, "
           "same namespace only) would silently do nothing. Use calico or cilium for 'edge' (cni.plugin, "
           f"{STACK}: fleet.clusters[2].cni.plugin) or keep this tenant off it")
    assert problems(tmp_path, SSO + """\
        tenants:
          - {name: listed, group: g, clusters: [eu-core, edge]}
          - {name: selected, group: g, selector: {regions: ["eu-central-*"]}}
          - {name: everywhere, group: g}
          - {name: elsewhere, group: g, selector: {cloud: gcp}}
        """.replace("        ", "") + clusters) == [
        f"{STACK}: fleet.tenants[0].clusters[1]: tenant 'listed' would land on cluster 'edge', {why}",
        f"{STACK}: fleet.tenants[1].selector: tenant 'selected' would land on cluster 'edge', {why}",
        f"{STACK}: fleet.tenants[2]: tenant 'everywhere' would land on cluster 'edge', {why}",
    ]
    # The same tenants without the Flannel cluster, or with Calico there, are fine.
    assert problems(tmp_path, SSO + "tenants: [{name: everywhere, group: g}]\n"
                    + clusters.replace("plugin: flannel", "plugin: calico")) == []
