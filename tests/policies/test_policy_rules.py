"""Every mandatory rule: a violating resource is caught, the compliant one passes.

Each case starts from the records of the real program on the prod stack (session
fixture), changes one thing the way a mistake in a component or an adapter would, and
evaluates the rule offline (``fleetform.engine.policy.evaluate``) and through pulumi-policy's
analyzer (``policies.pack`` under the servicer ``pulumi preview --policy-pack`` talks
to); both must report exactly the same violations.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from policy_helpers import (
    Record,
    both,
    cluster_configuration,
    edit_files,
    edit_yaml,
    find,
    of_incarnation,
    offline,
    set_flag,
    unchecked,
    user_data,
)

from policies import rules

AWS = "eu-core-aws-eu-west-1"
GCP = "us-gcp-gcp-us-central1"
SG_INGRESS = rules.AWS_SG_INGRESS
AWS_VM = rules.AWS_INSTANCE
GCP_VM = rules.GCP_INSTANCE
CP0 = "control-plane-cp-0"
CP1 = "control-plane-cp-1"
ETCD0 = "etcd-etcd-0"
KUBEADM = "/etc/kubernetes/fleetform/kubeadm.yaml.tmpl"
AUTHN = "/etc/kubernetes/authn/authentication-config.yaml"
AUDIT = "/etc/kubernetes/audit/policy.yaml"
ENCRYPTION = "/etc/kubernetes/fleetform/encryption-config.yaml.tmpl"
ETCD_CONF = "/etc/etcd/etcd.conf.yml"


def one(found: set[tuple[str, str]], record: Record, *words: str) -> str:
    """The one violation of ``record``; it must mention every word."""
    mine = [m for u, m in found if u == record["urn"]]
    assert len(mine) == 1, found
    for word in words:
        assert word in mine[0], mine[0]
    return mine[0]


def group_of(recs: list[Record], key: str, role: str) -> str:
    """The security group id worn by a plane's machines (as the adapter attached it)."""
    if role == "worker":
        lt = find(recs, rules.AWS_LAUNCH_TEMPLATE, name=key)
        return str(lt["inputs"]["networkInterfaces"][0]["securityGroups"][0])
    vm = find(recs, AWS_VM, name=key, role=role)
    return str(vm["inputs"]["vpcSecurityGroupIds"][0])


def account_of(key: str, role: str) -> str:
    prefix = {"etcd": "etcd", "control_plane": "cp", "worker": "worker"}[role]
    return f"{prefix}-{key}@acme-fleet.iam.gserviceaccount.com"


# ---------------------------------------------------------------- etcd reachable only from its control plane

ETCD_RULE = "etcd-only-from-control-plane"


def test_etcd_rules_of_the_real_program_pass(prod: list[Record]) -> None:
    assert both(prod, ETCD_RULE, pack_subset=of_incarnation(prod, AWS)) == set()


def test_aws_etcd_client_port_from_workers_is_caught(prod: list[Record]) -> None:
    rule = find(prod, SG_INGRESS, name=f"{AWS}-network-fw-etcd-from-control-plane-tcp-2379")
    worker = group_of(prod, AWS, "worker")
    rule["inputs"]["referencedSecurityGroupId"] = worker
    one(both(prod, ETCD_RULE, pack_subset=of_incarnation(prod, AWS)), rule, "2379", worker,
        "control plane")


def test_aws_etcd_client_port_from_a_cidr_is_caught(prod: list[Record]) -> None:
    rule = find(prod, SG_INGRESS, name=f"{AWS}-network-fw-etcd-from-control-plane-tcp-2379")
    del rule["inputs"]["referencedSecurityGroupId"]
    rule["inputs"]["cidrIpv4"] = "10.0.0.0/8"
    one(both(prod, ETCD_RULE, pack_subset=of_incarnation(prod, AWS)), rule, "10.0.0.0/8")


def test_aws_etcd_peer_port_from_the_control_plane_is_caught(prod: list[Record]) -> None:
    rule = find(prod, SG_INGRESS, name=f"{AWS}-network-fw-etcd-from-etcd-tcp-2380")
    rule["inputs"]["referencedSecurityGroupId"] = group_of(prod, AWS, "control_plane")
    one(both(prod, ETCD_RULE, pack_subset=of_incarnation(prod, AWS)), rule, "2380", "etcd members")


def test_aws_ssh_into_etcd_is_caught(prod: list[Record]) -> None:
    template = find(prod, SG_INGRESS, name=f"{AWS}-network-fw-etcd-from-etcd-tcp-2380")
    ssh = {**template, "urn": template["urn"].replace("tcp-2380", "tcp-22"),
           "name": template["name"].replace("2380", "22"),
           "inputs": {**template["inputs"], "fromPort": 22, "toPort": 22, "cidrIpv4": "0.0.0.0/0"}}
    del ssh["inputs"]["referencedSecurityGroupId"]
    prod.append(ssh)
    one(both(prod, ETCD_RULE, pack_subset=of_incarnation(prod, AWS)), ssh, "tcp/22", "0.0.0.0/0")


def test_aws_all_traffic_into_etcd_is_caught(prod: list[Record]) -> None:
    rule = find(prod, SG_INGRESS, name=f"{AWS}-network-fw-etcd-from-control-plane-tcp-2379")
    rule["inputs"].update(ipProtocol="-1", fromPort=-1, toPort=-1)
    one(offline(prod, ETCD_RULE), rule, "all/0-65535")


def test_aws_legacy_security_group_rule_into_etcd_is_caught(prod: list[Record]) -> None:
    etcd = group_of(prod, AWS, "etcd")
    legacy = {"urn": f"urn:pulumi:prod::fleetform::aws:ec2/securityGroupRule:SecurityGroupRule::{AWS}-legacy",
              "type": rules.AWS_SG_RULE, "name": f"{AWS}-legacy", "protect": False, "dependencies": [],
              "inputs": {"type": "ingress", "securityGroupId": etcd, "protocol": "tcp",
                         "fromPort": 2379, "toPort": 2379, "cidrBlocks": ["10.3.0.0/16"]}}
    prod.append(legacy)
    one(both(prod, ETCD_RULE, pack_subset=of_incarnation(prod, AWS)), legacy, "10.3.0.0/16")


def test_aws_inline_ingress_on_an_etcd_group_is_caught(prod: list[Record]) -> None:
    sg = find(prod, rules.AWS_SG, name=f"{AWS}-network-fw-etcd")
    sg["inputs"]["ingress"] = [{"protocol": "tcp", "fromPort": 2379, "toPort": 2379,
                                "cidrBlocks": ["0.0.0.0/0"]}]
    one(both(prod, ETCD_RULE, pack_subset=of_incarnation(prod, AWS)), sg, "0.0.0.0/0")


def test_aws_control_plane_group_shared_with_workers_no_longer_counts(prod: list[Record]) -> None:
    """The etcd rule itself is unchanged, but its source group now also sits on workers."""
    lt = find(prod, rules.AWS_LAUNCH_TEMPLATE, name=AWS)
    lt["inputs"]["networkInterfaces"][0]["securityGroups"].append(group_of(prod, AWS, "control_plane"))
    rule = find(prod, SG_INGRESS, name=f"{AWS}-network-fw-etcd-from-control-plane-tcp-2379")
    one(both(prod, ETCD_RULE, pack_subset=of_incarnation(prod, AWS)), rule, "2379")


def test_aws_etcd_member_wearing_the_worker_group_is_caught(prod: list[Record]) -> None:
    """Every group on an etcd member is an etcd group: the worker group's kubelet and CNI
    rules would open those ports on etcd."""
    vm = find(prod, AWS_VM, name=f"{AWS}-{ETCD0}")
    vm["inputs"]["vpcSecurityGroupIds"].append(group_of(prod, AWS, "worker"))
    found = both(prod, ETCD_RULE, pack_subset=of_incarnation(prod, AWS))
    kubelet = find(prod, SG_INGRESS, name=f"{AWS}-network-fw-worker-from-control-plane-tcp-10250")
    one(found, kubelet, "tcp/10250")


def test_aws_etcd_member_without_a_group_is_caught(prod: list[Record]) -> None:
    vm = find(prod, AWS_VM, name=f"{AWS}-{ETCD0}")
    vm["inputs"]["vpcSecurityGroupIds"] = []
    one(offline(prod, ETCD_RULE), vm, "default group")


def test_gcp_etcd_rules_of_the_real_program_pass(prod: list[Record]) -> None:
    assert both(prod, ETCD_RULE, pack_subset=of_incarnation(prod, GCP)) == set()


@pytest.mark.parametrize(("change", "words"), [
    ({"sourceRanges": ["0.0.0.0/0"]}, ("2379", "0.0.0.0/0")),
    ({"sourceServiceAccounts": [account_of(GCP, "worker")]}, ("2379", "worker-")),
    ({"sourceTags": ["debug"]}, ("tag:debug",)),
    ({"allows": [{"protocol": "tcp", "ports": ["2379-2380"]}]}, ("tcp/2379-2380",)),
    ({"allows": [{"protocol": "all"}]}, ("all/0-65535",)),
])
def test_gcp_firewall_into_etcd_is_caught(prod: list[Record], change: dict[str, Any],
                                          words: tuple[str, ...]) -> None:
    rule = find(prod, rules.GCP_FIREWALL, name=f"{GCP}-network-fw-etcd-from-control-plane")
    rule["inputs"].update(change)
    one(both(prod, ETCD_RULE, pack_subset=of_incarnation(prod, GCP)), rule, *words)


def test_gcp_untargeted_firewall_reaches_etcd_and_is_caught(prod: list[Record]) -> None:
    rule = find(prod, rules.GCP_FIREWALL, name=f"{GCP}-network-fw-control-plane-from-lb-health-checks")
    del rule["inputs"]["targetServiceAccounts"]  # now every VM of the network, etcd included
    found = offline(prod, ETCD_RULE)
    assert found and all(u == rule["urn"] for u, _ in found)
    assert any("no target" in m and "tcp/6443" in m for _, m in found)


def test_gcp_egress_and_disabled_rules_are_not_ingress(prod: list[Record]) -> None:
    rule = find(prod, rules.GCP_FIREWALL, name=f"{GCP}-network-fw-etcd-from-control-plane")
    rule["inputs"]["sourceRanges"] = ["0.0.0.0/0"]
    rule["inputs"]["disabled"] = True
    assert offline(prod, ETCD_RULE) == set()
    rule["inputs"]["disabled"] = False
    rule["inputs"]["direction"] = "EGRESS"
    assert offline(prod, ETCD_RULE) == set()


# ---------------------------------------------------------------- no public IPs

PUBLIC = "no-public-ip"


@pytest.mark.parametrize(("type_", "name", "change", "words"), [
    (AWS_VM, f"{AWS}-{CP0}", {"associatePublicIpAddress": True}, ("associatePublicIpAddress is true",)),
    (AWS_VM, f"{AWS}-{ETCD0}", {"associatePublicIpAddress": None}, ("not set",)),
    (rules.AWS_SUBNET, f"{AWS}-network-vpc-public", {"mapPublicIpOnLaunch": True}, ("mapPublicIpOnLaunch",)),
    (rules.AWS_EIP, f"{AWS}-network-vpc-nat-eip", {"instance": "i-0123456789abcdef0"}, ("Elastic IP",)),
])
def test_public_addresses_are_caught(prod: list[Record], type_: str, name: str, change: dict[str, Any],
                                     words: tuple[str, ...]) -> None:
    r = find(prod, type_, name=name)
    assert both([r], PUBLIC) == set()  # as the program made it
    r["inputs"].update(change)
    one(both([r], PUBLIC), r, *words)


def test_public_launch_template_and_gcp_vm_are_caught(prod: list[Record]) -> None:
    lt = find(prod, rules.AWS_LAUNCH_TEMPLATE, name=AWS)
    vm = find(prod, GCP_VM, name=f"{GCP}-{CP0}")
    tpl = find(prod, rules.GCP_TEMPLATE, name=GCP)
    assert both([lt, vm, tpl], PUBLIC) == set()
    lt["inputs"]["networkInterfaces"][0]["associatePublicIpAddress"] = "true"
    vm["inputs"]["networkInterfaces"][0]["accessConfigs"] = [{}]
    tpl["inputs"]["networkInterfaces"][0]["accessConfigs"] = [{"natIp": "203.0.113.7"}]
    found = both([lt, vm, tpl], PUBLIC)
    one(found, lt, "'true'")
    one(found, vm, "external IP")
    one(found, tpl, "external IP")


def test_load_balancers_and_nat_may_be_public(prod: list[Record]) -> None:
    public = [r for r in prod if r["type"] in ("aws:lb/loadBalancer:LoadBalancer", "aws:ec2/natGateway:NatGateway",
                                               rules.AWS_EIP, "gcp:compute/routerNat:RouterNat")]
    assert any(r["inputs"].get("internal") is False for r in public)  # eu-core's public API
    assert both(public, PUBLIC) == set()


# ---------------------------------------------------------------- IMDSv2

IMDS = "imdsv2-required"


@pytest.mark.parametrize("type_", [AWS_VM, rules.AWS_LAUNCH_TEMPLATE])
@pytest.mark.parametrize(("tokens", "words"), [("optional", "'optional'"), (None, "not set")])
def test_imdsv1_is_caught(prod: list[Record], type_: str, tokens: str | None, words: str) -> None:
    r = find(prod, type_, name=AWS)
    assert both([r], IMDS) == set()
    r["inputs"]["metadataOptions"]["httpTokens"] = tokens
    one(both([r], IMDS), r, words, "IMDSv1")


def test_no_metadata_options_is_caught_and_a_disabled_endpoint_passes(prod: list[Record]) -> None:
    r = find(prod, AWS_VM, name=AWS)
    del r["inputs"]["metadataOptions"]
    one(both([r], IMDS), r, "not set")
    r["inputs"]["metadataOptions"] = {"httpEndpoint": "disabled"}
    assert both([r], IMDS) == set()


# ---------------------------------------------------------------- encrypted disks

ENCRYPTED = "encrypted-disks"


def test_unencrypted_volumes_are_caught(prod: list[Record]) -> None:
    volume = find(prod, rules.AWS_VOLUME, name=AWS)
    vm = find(prod, AWS_VM, name=AWS)
    lt = find(prod, rules.AWS_LAUNCH_TEMPLATE, name=AWS)
    assert both([volume, vm, lt], ENCRYPTED) == set()
    volume["inputs"]["encrypted"] = False
    vm["inputs"]["rootBlockDevice"]["encrypted"] = False
    lt["inputs"]["blockDeviceMappings"][0]["ebs"]["encrypted"] = "false"
    found = both([volume, vm, lt], ENCRYPTED)
    one(found, volume, "not encrypted")
    one(found, vm, "rootBlockDevice")
    one(found, lt, "blockDeviceMappings[0]")


def test_root_volumes_left_to_the_ami_are_caught(prod: list[Record]) -> None:
    vm = find(prod, AWS_VM, name=AWS)
    lt = find(prod, rules.AWS_LAUNCH_TEMPLATE, name=AWS)
    del vm["inputs"]["rootBlockDevice"]
    lt["inputs"]["blockDeviceMappings"] = []
    found = both([vm, lt], ENCRYPTED)
    one(found, vm, "AMI")
    one(found, lt, "AMI")


def test_gcp_disks_are_encrypted_by_google(prod: list[Record]) -> None:
    disks = [r for r in prod if r["type"] == rules.GCP_DISK]
    assert disks and all("diskEncryptionKey" not in d["inputs"] for d in disks)
    assert both(disks, ENCRYPTED) == set()


# ---------------------------------------------------------------- Shielded VM, service accounts

SHIELDED = "gcp-shielded-vm"
DEFAULT_SA = "no-default-service-account"


@pytest.mark.parametrize("type_", [GCP_VM, rules.GCP_TEMPLATE])
def test_unshielded_gcp_machines_are_caught(prod: list[Record], type_: str) -> None:
    r = find(prod, type_, name=GCP)
    assert both([r], SHIELDED) == set()
    r["inputs"]["shieldedInstanceConfig"]["enableSecureBoot"] = False
    r["inputs"]["shieldedInstanceConfig"]["enableVtpm"] = False
    found = both([r], SHIELDED)
    assert {m for _, m in found} == {"shieldedInstanceConfig.enableSecureBoot is not true",
                                     "shieldedInstanceConfig.enableVtpm is false"}
    del r["inputs"]["shieldedInstanceConfig"]
    one(both([r], SHIELDED), r, "secure boot is off")


@pytest.mark.parametrize("email", ["123456789012-compute@developer.gserviceaccount.com", "default",
                                   "acme-fleet@appspot.gserviceaccount.com"])
@pytest.mark.parametrize("type_", [GCP_VM, rules.GCP_TEMPLATE])
def test_default_service_accounts_are_caught(prod: list[Record], type_: str, email: str) -> None:
    r = find(prod, type_, name=GCP)
    assert both([r], DEFAULT_SA) == set()
    r["inputs"]["serviceAccount"]["email"] = email
    one(both([r], DEFAULT_SA), r, "default service account")


def test_gcp_machine_without_a_named_account_is_caught(prod: list[Record]) -> None:
    r = find(prod, GCP_VM, name=GCP)
    del r["inputs"]["serviceAccount"]
    one(both([r], DEFAULT_SA), r, "no serviceAccount.email")


# ---------------------------------------------------------------- the API server

ANON = "apiserver-anonymous-auth"
AUDIT_RULE = "apiserver-audit-logging"
ENC = "apiserver-secrets-encryption"


@pytest.mark.parametrize("name", [f"{AWS}-{CP0}", f"{GCP}-{CP0}"])
def test_the_real_api_server_passes_every_rule(prod: list[Record], name: str) -> None:
    cp = find(prod, AWS_VM if name.startswith(AWS) else GCP_VM, name=name)
    flags = {a["name"] for a in cluster_configuration(
        list(yaml.safe_load_all(dict(_files(cp))[KUBEADM])))["apiServer"]["extraArgs"]}
    # The real mechanism: a structured authentication config, no --anonymous-auth flag.
    assert "authentication-config" in flags and "anonymous-auth" not in flags
    for rule in (ANON, AUDIT_RULE, ENC, "etcd-cert-auth"):
        assert both([cp], rule) == set(), rule


def _files(r: Record) -> list[tuple[str, str]]:
    return list(rules.cloud_config_files(user_data(r)))


@pytest.mark.parametrize(("path", "edit", "words"), [
    (AUTHN, lambda d: d[0]["anonymous"]["conditions"].append({"path": "/"}), "'/'"),
    (AUTHN, lambda d: d[0]["anonymous"].pop("conditions"), "without conditions"),
    (AUTHN, lambda d: d[0].pop("anonymous"), "no 'anonymous' section"),
    (KUBEADM, lambda d: set_flag(d, "authentication-config", None), "neither --authentication-config"),
    (KUBEADM, lambda d: set_flag(d, "anonymous-auth", "true"), "--anonymous-auth=true"),
    (KUBEADM, lambda d: set_flag(d, "authentication-config", "/etc/kubernetes/elsewhere.yaml"),
     "writes no AuthenticationConfiguration there"),
])
def test_anonymous_access_beyond_health_is_caught(prod: list[Record], path: str, edit: Any,
                                                  words: str) -> None:
    cp = find(prod, AWS_VM, name=f"{AWS}-{CP0}")
    edit_yaml(cp, path, edit)
    assert words in " | ".join(m for _, m in both([cp], ANON))


def test_anonymous_auth_false_is_the_other_accepted_mechanism(prod: list[Record]) -> None:
    cp = find(prod, GCP_VM, name=f"{GCP}-{CP0}")

    def classic(docs: list[dict[str, Any]]) -> None:
        set_flag(docs, "authentication-config", None)
        set_flag(docs, "anonymous-auth", "false")

    edit_yaml(cp, KUBEADM, classic)
    assert both([cp], ANON) == set()


def test_a_joining_replica_carries_the_same_restricted_files(prod: list[Record]) -> None:
    cp1 = find(prod, AWS_VM, name=f"{AWS}-{CP1}")
    assert not [d for _, c in _files(cp1) for d in rules.yaml_documents(c) if d.get("kind") == "ClusterConfiguration"]
    assert both([cp1], ANON) == set()
    edit_yaml(cp1, AUTHN, lambda d: d[0]["anonymous"]["conditions"].append({"path": "/api"}))
    one(both([cp1], ANON), cp1, "'/api'")


def test_a_control_plane_machine_without_kubeadm_config_is_caught(prod: list[Record]) -> None:
    cp = find(prod, GCP_VM, name=f"{GCP}-{CP0}")
    def drop(files: dict[str, str]) -> None:
        del files[KUBEADM]

    edit_files(cp, drop)
    for rule in (ANON, AUDIT_RULE, ENC):
        one(both([cp], rule), cp, "without a kubeadm configuration")


@pytest.mark.parametrize(("path", "edit", "words"), [
    (KUBEADM, lambda d: set_flag(d, "audit-policy-file", None), "--audit-policy-file is not set"),
    (KUBEADM, lambda d: set_flag(d, "audit-log-path", None), "--audit-log-path is not set"),
    (KUBEADM, lambda d: set_flag(d, "audit-log-maxage", "7"), "--audit-log-maxage=7 (CIS 1.2.17"),
    (KUBEADM, lambda d: set_flag(d, "audit-log-maxbackup", None), "--audit-log-maxbackup is not set"),
    (KUBEADM, lambda d: set_flag(d, "audit-log-maxsize", "ten"), "--audit-log-maxsize=ten"),
    (AUDIT, lambda d: d[0].update(rules=[{"level": "None"}]), "level None"),
    (AUDIT, lambda d: d[0].update(rules=[]), "no rules"),
])
def test_missing_audit_logging_is_caught(prod: list[Record], path: str, edit: Any, words: str) -> None:
    cp = find(prod, AWS_VM, name=f"{AWS}-{CP0}")
    edit_yaml(cp, path, edit)
    one(both([cp], AUDIT_RULE), cp, words)


def _first_provider(name: str) -> Any:
    def edit(docs: list[dict[str, Any]]) -> None:
        docs[0]["resources"][0]["providers"].insert(0, {name: {}})
    return edit


@pytest.mark.parametrize(("path", "edit", "words"), [
    (KUBEADM, lambda d: set_flag(d, "encryption-provider-config", None), "Secrets are stored in etcd in clear"),
    (ENCRYPTION, _first_provider("identity"), "provider 'identity'"),
    (ENCRYPTION, lambda d: d[0]["resources"][0].update(resources=["configmaps"]), "no entry encrypts 'secrets'"),
    (ENCRYPTION, lambda d: d[0]["resources"][0]["providers"][0]["secretbox"].update(keys=[]), "has no keys"),
])
def test_secrets_not_encrypted_at_rest_are_caught(prod: list[Record], path: str, edit: Any, words: str) -> None:
    cp = find(prod, AWS_VM, name=f"{AWS}-{CP0}")
    edit_yaml(cp, path, edit)
    one(both([cp], ENC), cp, words)


def test_the_encryption_config_must_reach_the_flag_path(prod: list[Record]) -> None:
    """The template is rendered to the flag's path at boot (ff_render_template): without
    that step the API server would read a file nobody writes."""
    cp = find(prod, GCP_VM, name=f"{GCP}-{CP0}")

    def unrender(files: dict[str, str]) -> None:
        script = "/usr/local/lib/fleetform/bootstrap.sh"
        files[script] = "\n".join(line for line in files[script].splitlines()
                                  if "encryption-config.yaml.tmpl" not in line)

    edit_files(cp, unrender)
    one(both([cp], ENC), cp, "neither writes an EncryptionConfiguration there nor renders one")


# ---------------------------------------------------------------- etcd mutual TLS

ETCD_TLS = "etcd-cert-auth"


@pytest.mark.parametrize("name", [f"{AWS}-{ETCD0}", f"{GCP}-{ETCD0}"])
@pytest.mark.parametrize(("edit", "words"), [
    (lambda c: c["client-transport-security"].update({"client-cert-auth": False}), "CIS 2.2"),
    (lambda c: c["peer-transport-security"].pop("client-cert-auth"), "CIS 2.5"),
    (lambda c: c["client-transport-security"].update({"auto-tls": True}), "CIS 2.3"),
    (lambda c: c["peer-transport-security"].update({"auto-tls": True}), "CIS 2.6"),
    (lambda c: c["peer-transport-security"].pop("key-file"), "CIS 2.4"),
    (lambda c: c["client-transport-security"].pop("cert-file"), "CIS 2.1"),
    (lambda c: c.update({"listen-client-urls": "http://10.0.0.1:2379"}), "TLS only"),
    (lambda c: c.update({"listen-metrics-urls": "http://0.0.0.0:2381"}), "beyond loopback"),
])
def test_etcd_without_mutual_tls_is_caught(prod: list[Record], name: str, edit: Any, words: str) -> None:
    vm = find(prod, AWS_VM if name.startswith(AWS) else GCP_VM, name=name)
    assert both([vm], ETCD_TLS) == set()
    edit_yaml(vm, ETCD_CONF, lambda docs: edit(docs[0]))
    one(both([vm], ETCD_TLS), vm, words)


def test_etcd_reads_the_file_its_unit_names(prod: list[Record]) -> None:
    vm = find(prod, AWS_VM, name=f"{AWS}-{ETCD0}")

    def elsewhere(files: dict[str, str]) -> None:
        unit = "/etc/systemd/system/etcd.service"
        files[unit] = files[unit].replace(ETCD_CONF, "/etc/etcd/other.yml")

    edit_files(vm, elsewhere)
    one(both([vm], ETCD_TLS), vm, "/etc/etcd/other.yml", "does not write")


def test_an_etcd_member_without_config_is_caught(prod: list[Record]) -> None:
    vm = find(prod, GCP_VM, name=f"{GCP}-{ETCD0}")
    def strip(files: dict[str, str]) -> None:
        for path in [p for p in files if p.startswith("/etc/")]:
            del files[path]

    edit_files(vm, strip)
    one(both([vm], ETCD_TLS), vm, "no etcd configuration")


@pytest.mark.parametrize(("edit", "words"), [
    (lambda d: cluster_configuration(d)["etcd"]["external"].pop("certFile"), "CIS 1.2.23"),
    (lambda d: cluster_configuration(d)["etcd"]["external"].pop("caFile"), "CIS 1.2.26"),
    (lambda d: cluster_configuration(d)["etcd"]["external"]["endpoints"].append("http://etcd-9:2379"), "not https"),
    (lambda d: cluster_configuration(d)["etcd"].update({"local": {}}), "stacked"),
])
def test_api_server_to_etcd_without_certificates_is_caught(prod: list[Record], edit: Any, words: str) -> None:
    cp = find(prod, AWS_VM, name=f"{AWS}-{CP0}")
    edit_yaml(cp, KUBEADM, edit)
    one(both([cp], ETCD_TLS), cp, words)


def test_etcd_sharing_the_kubernetes_ca_is_caught(prod: list[Record]) -> None:
    cp = find(prod, GCP_VM, name=f"{GCP}-{CP0}")

    def same_ca(files: dict[str, str]) -> None:
        files["/etc/kubernetes/pki/etcd/ca.crt"] = files["/etc/kubernetes/pki/ca.crt"]

    edit_files(cp, same_ca)
    one(both([cp], ETCD_TLS), cp, "CIS 2.7")


# ---------------------------------------------------------------- secret material

SECRETS = "no-secret-material"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n"


@pytest.mark.parametrize("name", [f"{AWS}-{ETCD0}", f"{GCP}-{CP0}"])
def test_a_private_key_in_user_data_is_caught(prod: list[Record], name: str) -> None:
    vm = find(prod, AWS_VM if name.startswith(AWS) else GCP_VM, name=name)
    assert both([vm], SECRETS) == set()
    edit_files(vm, lambda files: files.update({"/etc/etcd/pki/server.key": PEM}))
    message = one(both([vm], SECRETS), vm, "/etc/etcd/pki/server.key", "a PEM private key")
    assert "MIIE" not in message  # a finding names the kind of secret, never the secret


@pytest.mark.parametrize(("path", "text", "words"), [
    (KUBEADM, None, "a kubeadm bootstrap token"),
    (ENCRYPTION, None, "an encryption-at-rest key"),
    ("/root/.aws/credentials", "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n", "an AWS access key id"),
    ("/root/.aws/config", "[default]\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
     "an AWS secret access key"),
    ("/root/.kube/config", "users:\n- name: admin\n  user:\n    client-key-data: "
     "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1JSUV2Z0lCQURBTkJna3Foa2lHOXcwQkFRRUZBQVND\n",
     "a base64-encoded PEM private key"),
    ("/etc/token", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06YWRtaW4ifQ.c2lnbmF0dXJlLWJ5dGVz\n",
     "a JSON Web Token"),
])
def test_tokens_and_keys_in_user_data_are_caught(prod: list[Record], path: str, text: str | None,
                                                 words: str) -> None:
    cp = find(prod, AWS_VM, name=f"{AWS}-{CP0}")

    def leak(files: dict[str, str]) -> None:
        if path == KUBEADM:  # the placeholder filled in at render time instead of at boot
            files[path] = files[path].replace("'{{fleetform:bootstrap-token}}'", "abcdef.0123456789abcdef")
        elif path == ENCRYPTION:
            files[path] = files[path].replace("'{{fleetform:secretbox-key}}'",
                                              "c2VjcmV0LWtleS0zMi1ieXRlcy1sb25nLi4uLi4uLi4=")
        else:
            files[path] = str(text)

    edit_files(cp, leak)
    found = [m for u, m in both([cp], SECRETS) if u == cp["urn"]]
    assert f"userDataBase64 {path} contains {words}" in found


def test_a_secret_in_a_launch_template_is_caught(prod: list[Record]) -> None:
    lt = find(prod, rules.AWS_LAUNCH_TEMPLATE, name=AWS)
    assert both([lt], SECRETS) == set()
    edit_files(lt, lambda files: files.update({"/etc/kubernetes/bootstrap-kubelet.key": PEM}))
    one(both([lt], SECRETS), lt, "userData /etc/kubernetes/bootstrap-kubelet.key")


def test_secret_material_in_a_plain_input_is_caught_offline(prod: list[Record]) -> None:
    """The offline engine masks every Output.secret, so any other string is plain text in
    the state; a key there is a leak. (CrossGuard sees secrets unwrapped, so this half of
    the rule runs only offline; docs/security.md says so.)"""
    version = find(prod, "aws:secretsmanager/secretVersion:SecretVersion", name=AWS)
    assert version["inputs"]["secretString"] == rules.MASKED
    assert offline([version], SECRETS) == set()
    version["inputs"]["secretString"] = PEM
    one(offline([version], SECRETS), version, "secretString", "Output.secret")


def test_secret_material_in_plain_stack_outputs_is_caught(prod: list[Record]) -> None:
    stack = next(r for r in prod if r["type"] == "pulumi:pulumi:Stack")
    outputs: dict[str, Any] = {"root_ca": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
                               "admin_kubeconfig": rules.MASKED}
    assert offline([stack], SECRETS, outputs=outputs) == set()
    outputs["debug"] = {"key": PEM}
    one(offline([stack], SECRETS, outputs=outputs), stack, "debug.key")


def test_unknown_user_data_is_reported_as_unchecked_not_passed(prod: list[Record]) -> None:
    cp = find(prod, AWS_VM, name=f"{AWS}-{CP0}")
    cp["inputs"]["userDataBase64"] = "[unknown]"
    assert offline([cp], SECRETS) == set()
    (finding,) = unchecked([cp], SECRETS)
    assert finding.enforcement == "advisory" and "userDataBase64 is unknown" in finding.message


# ---------------------------------------------------------------- protected state

PROTECTED = "protected-etcd-data-and-root-ca"


def test_the_real_program_protects_etcd_disks_and_the_root_ca(prod: list[Record]) -> None:
    disks = [r for r in prod if r["type"] in rules.ETCD_DISKS]
    # 22 of the six clusters + 3 of edge-fra's migration target, a copy in phase prepare.
    copy = {d["urn"] for d in disks if "edge-fra-gcp-europe-west3-etcd-" in d["urn"]}
    assert len(disks) == 25 and len(copy) == 3
    assert all(d["protect"] is (d["urn"] not in copy) for d in disks)
    assert both(prod, PROTECTED, pack_subset=of_incarnation(prod, AWS)) == set()


@pytest.mark.parametrize(("type_", "key"), [(rules.AWS_VOLUME, AWS), (rules.GCP_DISK, GCP)])
def test_an_unprotected_etcd_disk_is_caught_unless_decommissioning(prod: list[Record], type_: str,
                                                                   key: str) -> None:
    disk = find(prod, type_, name=key)
    disk["protect"] = False
    subset = of_incarnation(prod, key)
    one(both(prod, PROTECTED, pack_subset=subset), disk, "not protected", "decommission: true")
    cluster = key.split("-")[0] + "-" + key.split("-")[1]
    assert both(prod, PROTECTED, decommissioning=[cluster], pack_subset=subset) == set()
    assert both(prod, PROTECTED, decommissioning=[key], pack_subset=subset) == set()


def test_an_etcd_disk_is_recognised_by_its_attachment_too(prod: list[Record]) -> None:
    """An etcd disk made without fleetform's labels is still the etcd member's disk."""
    disk = find(prod, rules.GCP_DISK, name=GCP)
    disk["inputs"]["labels"] = {}
    disk["urn"] = disk["urn"].replace("fleetform:index:EtcdDataPlane$", "")
    disk["protect"] = False
    one(offline(prod, PROTECTED), disk, "not protected")


def test_the_root_ca_and_its_key_must_stay_protected(prod: list[Record]) -> None:
    root = next(r for r in prod if r["type"] == rules.TLS_SELF_SIGNED)
    key = next(r for r in prod if r["urn"] in root["dependencies"] and r["type"] == rules.TLS_PRIVATE_KEY)
    root["protect"] = False
    key["protect"] = False
    identity = [r for r in prod if "SharedIdentity" in r["urn"] and "ClusterIdentity" not in r["urn"]]
    found = both(prod, PROTECTED, pack_subset=identity, decommissioning=["eu-core", "acme"])
    one(found, root, "root CA certificate")
    one(found, key, "private key")
