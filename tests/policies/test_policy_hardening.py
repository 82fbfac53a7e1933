"""The hardening rules (CIS flags, metadata concealment, flow logs, default security
group, egress per role, least-privilege workloads, durable buckets, deletion
protection): the real program passes each, and a violating resource is caught offline
and through pulumi-policy's analyzer alike (``both``)."""

from __future__ import annotations

import copy
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
)

from fleetform.engine.policy import evaluate
from policies import rules
from policies.rules import egress, vpc, workloads

AWS = "eu-core-aws-eu-west-1"
GCP = "us-gcp-gcp-us-central1"
AWS_VM = rules.AWS_INSTANCE
GCP_VM = rules.GCP_INSTANCE
CP0 = "control-plane-cp-0"
KUBEADM = "/etc/kubernetes/fleetform/kubeadm.yaml.tmpl"
NEW_RULES = ("control-plane-cis-flags", "kubelet-cis-config", "gcp-metadata-concealed", "gcp-node-scopes",
             "flow-logs", "default-security-group-restricted", "egress-per-role", "workloads-least-privilege",
             "buckets-versioned-no-force-destroy", "production-lb-deletion-protection", "customer-managed-keys",
             "kubelet-serving-verified", "bootstrap-token-expires")


def mine(found: set[tuple[str, str]], record: Record) -> list[str]:
    return [m for u, m in found if u == record["urn"]]


def by_type(recs: list[Record], type_: str, key: str = "") -> list[Record]:
    return [r for r in recs if r["type"] == type_ and key in r["urn"]]


@pytest.mark.parametrize("rule", NEW_RULES)
def test_the_real_program_passes(prod: list[Record], rule: str) -> None:
    found = evaluate(prod, only=[rule], production=True)
    assert [v for v in found if v.mandatory] == [], found


@pytest.mark.parametrize("key", [AWS, GCP])
def test_the_real_program_passes_through_the_pack(prod: list[Record], key: str) -> None:
    subset = of_incarnation(prod, key)
    for rule in NEW_RULES:
        assert both(subset, rule) == set(), rule


# ---------------------------------------------------------------- CIS flags

CIS = "control-plane-cis-flags"
KUBELET = "kubelet-cis-config"


@pytest.mark.parametrize(("edit", "words"), [
    (lambda d: set_flag(d, "enable-admission-plugins", "NodeRestriction"), "DenyServiceExternalIPs"),
    (lambda d: set_flag(d, "tls-cipher-suites", None), "--tls-cipher-suites is not set"),
    (lambda d: set_flag(d, "tls-cipher-suites", "TLS_RSA_WITH_AES_128_CBC_SHA,TLS_AES_128_GCM_SHA256"),
     "TLS_RSA_WITH_AES_128_CBC_SHA"),
    (lambda d: cluster_configuration(d).pop("controllerManager"), "terminated-pod-gc-threshold is not set"),
])
def test_control_plane_flags_are_caught(prod: list[Record], edit: Any, words: str) -> None:
    cp = find(prod, AWS_VM, name=f"{AWS}-{CP0}")
    edit_yaml(cp, KUBEADM, edit)
    found = both([cp], CIS)
    assert any(words in m for m in mine(found, cp)), found


def _kubelet(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return next(d for d in docs if d.get("kind") == "KubeletConfiguration")


@pytest.mark.parametrize(("edit", "words"), [
    (lambda d: _kubelet(d).pop("protectKernelDefaults"), "protectKernelDefaults"),
    (lambda d: _kubelet(d).update(tlsCipherSuites=["TLS_RSA_WITH_3DES_EDE_CBC_SHA"]), "3DES"),
    (lambda d: _kubelet(d).update(podPidsLimit=-1), "podPidsLimit is -1"),
    (lambda d: d.remove(_kubelet(d)), "no KubeletConfiguration"),
])
def test_kubelet_configuration_is_caught(prod: list[Record], edit: Any, words: str) -> None:
    cp = find(prod, GCP_VM, name=f"{GCP}-{CP0}")
    edit_yaml(cp, KUBEADM, edit)
    found = both([cp], KUBELET)
    assert any(words in m for m in mine(found, cp)), found


SERVING = "kubelet-serving-verified"
TOKEN_TTL = "bootstrap-token-expires"


def _init(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return next(d for d in docs if d.get("kind") == "InitConfiguration")


@pytest.mark.parametrize(("edit", "words"), [
    (lambda d: set_flag(d, "kubelet-certificate-authority", None), "--kubelet-certificate-authority is not set"),
    (lambda d: _kubelet(d).pop("serverTLSBootstrap"), "serverTLSBootstrap is not true"),
])
def test_unverified_kubelet_serving_certificates_are_caught(prod: list[Record], edit: Any, words: str) -> None:
    for vm, key in ((AWS_VM, AWS), (GCP_VM, GCP)):
        cp = find(prod, vm, name=f"{key}-{CP0}")
        edit_yaml(cp, KUBEADM, edit)
        found = both([cp], SERVING)
        assert any(words in m for m in mine(found, cp)), found


@pytest.mark.parametrize(("ttl", "words"), [
    ("0s", "never expires"), ("0", "never expires"), ("720h", "more than 168h"), ("a day", "not a duration"),
])
def test_a_permanent_or_long_bootstrap_token_is_caught(prod: list[Record], ttl: str, words: str) -> None:
    cp = find(prod, AWS_VM, name=f"{AWS}-{CP0}")
    edit_yaml(cp, KUBEADM, lambda d: _init(d)["bootstrapTokens"][0].update(ttl=ttl))
    found = both([cp], TOKEN_TTL)
    assert any(words in m for m in mine(found, cp)), found


def test_token_ttls_read_as_kubeadm_reads_them() -> None:
    from policies.rules.cis_flags import duration_seconds

    assert duration_seconds("6h") == 6 * 3600 and duration_seconds("1h30m") == 5400
    assert duration_seconds("0s") == 0 and duration_seconds("0") == 0
    assert duration_seconds("6") is None and duration_seconds("h") is None


def test_a_node_without_the_kernel_defaults_is_caught(prod: list[Record]) -> None:
    worker = find(prod, rules.AWS_LAUNCH_TEMPLATE, name=AWS)

    def drop(files: dict[str, str]) -> None:
        for path in [p for p in files if p.startswith("/etc/sysctl.d/") and "kubelet" in p]:
            files[path] = files[path].replace("kernel.panic = 10", "kernel.panic = 0")

    edit_files(worker, drop)
    found = both([worker], KUBELET)
    assert [m for m in mine(found, worker) if "kernel.panic is '0'" in m], found


# ---------------------------------------------------------------- GCP metadata and scopes


def test_a_gcp_node_without_metadata_concealment_is_caught(prod: list[Record]) -> None:
    cp = find(prod, GCP_VM, name=f"{GCP}-{CP0}")
    edit_files(cp, lambda files: [files.pop(p) for p in list(files) if p.endswith(".nft")])
    assert mine(both([cp], "gcp-metadata-concealed"), cp)[0].startswith("nothing in the user-data drops")


def test_concealment_that_forgets_to_drop_is_caught(prod: list[Record]) -> None:
    template = find(prod, rules.GCP_TEMPLATE, name=GCP)

    def accept(files: dict[str, str]) -> None:
        for p in [p for p in files if p.endswith(".nft")]:
            files[p] = files[p].replace("counter drop", "counter accept")

    edit_files(template, accept)
    assert mine(both([template], "gcp-metadata-concealed"), template)


def test_extra_scopes_are_caught(prod: list[Record]) -> None:
    vm = find(prod, GCP_VM, name=GCP, role="etcd")
    vm["inputs"]["serviceAccount"]["scopes"].append("https://www.googleapis.com/auth/compute")
    assert "auth/compute" in mine(both([vm], "gcp-node-scopes"), vm)[0]


# ---------------------------------------------------------------- flow logs, default security group

FLOW = "flow-logs"


def test_a_vpc_without_flow_logs_is_caught(prod: list[Record]) -> None:
    subset = of_incarnation(prod, AWS)
    log = by_type(subset, vpc.AWS_FLOW_LOG)[0]
    subset.remove(log)
    vpc_rec = by_type(subset, vpc.AWS_VPC)[0]
    assert "no flow log" in mine(both(subset, FLOW), vpc_rec)[0]


def test_flow_logs_without_retention_or_of_accepted_traffic_only_are_caught(prod: list[Record]) -> None:
    subset = of_incarnation(prod, AWS)
    group = by_type(subset, vpc.AWS_LOG_GROUP)[0]
    del group["inputs"]["retentionInDays"]
    log = by_type(subset, vpc.AWS_FLOW_LOG)[0]
    log["inputs"]["trafficType"] = "ACCEPT"
    found = both(subset, FLOW)
    assert "forever" in mine(found, group)[0]
    assert "ALL" in mine(found, log)[0]


def test_gcp_subnetworks_without_logs_or_retention_are_caught(prod: list[Record]) -> None:
    subset = of_incarnation(prod, GCP)
    subnet = by_type(subset, vpc.GCP_SUBNETWORK)[0]
    del subnet["inputs"]["logConfig"]
    assert "no logConfig" in mine(both(subset, FLOW), subnet)[0]
    subset = [r for r in of_incarnation(prod, GCP) if r["type"] != vpc.GCP_SINK]
    found = both(subset, FLOW)
    assert any("no fleet log bucket" in m for _, m in found), found


def test_an_unrestricted_default_security_group_is_caught(prod: list[Record]) -> None:
    subset = of_incarnation(prod, AWS)
    group = by_type(subset, vpc.AWS_DEFAULT_SG)[0]
    group["inputs"]["egress"] = [{"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}]
    found = both(subset, "default-security-group-restricted")
    assert "egress has 1 rule" in mine(found, group)[0]
    vpc_rec = by_type(subset, vpc.AWS_VPC)[0]
    assert mine(found, vpc_rec)
    subset.remove(group)
    assert mine(both(subset, "default-security-group-restricted"), vpc_rec)


# ---------------------------------------------------------------- egress per role

EGRESS = "egress-per-role"


@pytest.mark.parametrize(("role", "words"), [("etcd", "etcd egress all"), ("control_plane", "control-plane egress all")])
def test_aws_open_egress_of_etcd_and_control_plane_is_caught(prod: list[Record], role: str, words: str) -> None:
    subset = of_incarnation(prod, AWS)
    rule = next(r for r in by_type(subset, egress.AWS_SG_EGRESS)
                if r["inputs"].get("cidrIpv4") == "0.0.0.0/0" and f"-{role.replace('_', '-')}-" in r["name"])
    rule["inputs"].update(ipProtocol="-1", fromPort=None, toPort=None)
    assert words in mine(both(subset, EGRESS), rule)[0]


def test_worker_egress_stays_open(prod: list[Record]) -> None:
    subset = of_incarnation(prod, AWS)
    assert [r for r in by_type(subset, egress.AWS_SG_EGRESS) if "-worker-" in r["name"]
            and r["inputs"].get("ipProtocol") == "-1"]
    assert both(subset, EGRESS) == set()


def test_gcp_etcd_without_an_egress_deny_is_caught(prod: list[Record]) -> None:
    subset = [r for r in of_incarnation(prod, GCP)
              if not (r["type"] == rules.GCP_FIREWALL and r["inputs"].get("denies"))]
    found = offline(subset, EGRESS)
    assert any("no egress deny-all" in m and "etcd-" in m for _, m in found), found


def test_gcp_wide_egress_allow_of_etcd_is_caught(prod: list[Record]) -> None:
    subset = of_incarnation(prod, GCP)
    allow = next(r for r in by_type(subset, rules.GCP_FIREWALL)
                 if r["inputs"].get("direction") == "EGRESS" and r["inputs"].get("allows")
                 and any("etcd-" in a for a in r["inputs"].get("targetServiceAccounts", [])))
    allow["inputs"]["allows"] = [{"protocol": "tcp", "ports": ["22"]}]
    allow["inputs"]["destinationRanges"] = ["0.0.0.0/0"]
    assert "tcp/22" in mine(both(subset, EGRESS), allow)[0]


# ---------------------------------------------------------------- workloads

WORK = "workloads-least-privilege"


def _snapshot_jobs(prod: list[Record]) -> list[Record]:
    """The bundle files holding the snapshot Job and CronJob (a migration source's bundle)."""
    return [r for r in prod if workloads.bundle_workloads(r["type"], r["inputs"])]


def test_the_snapshot_workloads_exist_and_pass(prod: list[Record]) -> None:
    jobs = _snapshot_jobs(prod)
    assert {kind for r in jobs for kind, _ in workloads.bundle_workloads(r["type"], r["inputs"])} == {
        "kubernetes:batch/v1:Job", "kubernetes:batch/v1:CronJob"}
    assert both(jobs, WORK) == set()


@pytest.mark.parametrize(("edit", "words"), [
    (lambda pod, c: c.update(image=c["image"].split("@")[0]), "not pinned by digest"),
    (lambda pod, c: pod.pop("automountServiceAccountToken"), "automountServiceAccountToken"),
    (lambda pod, c: (pod["securityContext"].pop("seccompProfile", None),
                     c["securityContext"].pop("seccompProfile", None)), "seccomp"),
    (lambda pod, c: c["securityContext"].update(readOnlyRootFilesystem=False), "root filesystem is writable"),
    (lambda pod, c: c["securityContext"]["capabilities"].update(add=["DAC_OVERRIDE"]), "DAC_OVERRIDE"),
    (lambda pod, c: c["securityContext"].update(allowPrivilegeEscalation=True), "allowPrivilegeEscalation"),
    (lambda pod, c: pod.update(volumes=[v for v in pod["volumes"] if "hostPath" not in v]),
     "runs as root without reading host files"),
])
def test_a_loosened_snapshot_job_is_caught(prod: list[Record], edit: Any, words: str) -> None:
    published = copy.deepcopy(_snapshot_jobs(prod)[0])
    docs = list(yaml.safe_load_all(published["inputs"]["content"]))
    job = next(d for d in docs if d and d["kind"] == "Job")
    pod = workloads.pod_template("kubernetes:batch/v1:Job", job)
    assert pod is not None
    edit(pod, pod["containers"][0])
    published["inputs"]["content"] = yaml.safe_dump_all(docs)
    job = published
    found = both([job], WORK)
    assert any(words in m for m in mine(found, job)), found


# ---------------------------------------------------------------- buckets, deletion protection

BUCKETS = "buckets-versioned-no-force-destroy"


def test_buckets_that_force_destroy_or_do_not_version_are_caught(prod: list[Record]) -> None:
    oidc = [r for r in prod if r["type"] in ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
            and "documents" in r["name"]]
    assert oidc
    subset = [r for r in prod if "Federation" in r["urn"]]
    oidc = next(r for r in subset if r["urn"] == oidc[0]["urn"])
    oidc["inputs"]["forceDestroy"] = True
    assert any("forceDestroy" in m for m in mine(both(subset, BUCKETS), oidc))
    subset = [r for r in subset if "ersioning" not in r["type"]]
    assert any("not versioned" in m for m in mine(both(subset, BUCKETS), oidc))
    gcs = next(r for r in prod if r["type"] == "gcp:storage/bucket:Bucket")
    gcs["inputs"]["versioning"] = {"enabled": False}
    assert any("versioning.enabled" in m for m in mine(both([gcs], BUCKETS), gcs))


def test_production_load_balancers_without_deletion_protection_are_caught(prod: list[Record]) -> None:
    rule = "production-lb-deletion-protection"
    lb = next(r for r in prod if r["type"] == "aws:lb/loadBalancer:LoadBalancer")
    lb["inputs"]["enableDeletionProtection"] = False
    fr = next(r for r in prod if r["type"] == "gcp:compute/forwardingRule:ForwardingRule")
    fr["protect"] = False
    found = {(v.urn, v.message) for v in evaluate([lb, fr], only=[rule], production=True)}
    assert mine(found, lb) and mine(found, fr)
    assert evaluate([lb, fr], only=[rule], production=False) == []
    assert rules.is_production_stack("prod") and rules.is_production_stack("prod-eu")
    assert not rules.is_production_stack("staging") and not rules.is_production_stack("producer")


def test_every_rule_is_documented() -> None:
    from policy_helpers import ROOT

    text = (ROOT / "docs" / "security.md").read_text()
    for rule in rules.RULES:
        assert f"`{rule.name}`" in text, rule.name


# ---------------------------------------------------------------- customer-managed keys

KEYS = "customer-managed-keys"
AWS_KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
GCP_KEY = "projects/acme-fleet/locations/europe-west1/keyRings/fleet/cryptoKeys/etcd"


@pytest.fixture(scope="module")
def kms_records() -> list[Record]:
    """The real program on a small fleet whose two clusters name their own keys."""
    from policy_helpers import ROOT, records

    from fleetform.engine.run import run_program

    fleet = {"clusters": [
        {"name": "k-aws", "cloud": "aws", "region": "eu-west-1", "network": {"index": 7},
         "encryption": {"kms": AWS_KEY}},
        {"name": "k-gcp", "cloud": "gcp", "region": "europe-west1", "network": {"index": 8},
         "encryption": {"kms": GCP_KEY}},
    ]}
    result = run_program(ROOT, project="fleetform", stack="kms",
                         config={"fleetform:base": "fleet.yaml", "fleetform:fleet": fleet})
    return records(result.resources)


def test_a_cluster_with_its_own_key_uses_it_for_every_etcd_disk_and_secret(kms_records: list[Record]) -> None:
    from policies.rules.keys import key_of

    disks = [r for r in kms_records if r["type"] in (rules.AWS_VOLUME, rules.GCP_DISK)]
    secrets = [r for r in kms_records if r["type"] in ("aws:secretsmanager/secret:Secret",
                                                        "gcp:secretmanager/secret:Secret")]
    assert len(disks) == 6 and secrets
    for r in disks + secrets:
        assert key_of(r["type"], r["inputs"]) == (AWS_KEY if r["type"].startswith("aws") else GCP_KEY), r["urn"]
    # AWS machines may decrypt with the key, through Secrets Manager only: the control
    # plane's and the workers' roles and each etcd member's (3 members).
    grants = [r for r in kms_records if r["type"] == "aws:iam/rolePolicy:RolePolicy" and r["name"].endswith("-kms")]
    assert len(grants) == 2 + 3
    assert offline(kms_records, KEYS) == set()
    assert [v for v in evaluate(kms_records) if v.mandatory] == []


def test_a_disk_or_secret_left_on_the_clouds_key_is_caught(kms_records: list[Record]) -> None:
    disk = next(r for r in kms_records if r["type"] == rules.AWS_VOLUME)
    del disk["inputs"]["kmsKeyId"]
    secret = next(r for r in kms_records if r["type"] == "gcp:secretmanager/secret:Secret")
    secret["inputs"]["replication"]["userManaged"]["replicas"][0].pop("customerManagedEncryption")
    found = both(kms_records, KEYS)
    assert "uses the cloud's own key" in mine(found, disk)[0] and mine(found, secret)
    other = next(r for r in kms_records if r["type"] == rules.AWS_VOLUME and r is not disk)
    other["inputs"]["kmsKeyId"] = AWS_KEY.replace("1234abcd", "ffffabcd")
    assert any("several keys" in m for m in mine(offline(kms_records, KEYS), other))


def test_clusters_on_the_clouds_keys_pass(prod: list[Record]) -> None:
    assert both(of_incarnation(prod, AWS), KEYS) == set()
    volume = next(r for r in prod if r["type"] == rules.AWS_VOLUME and AWS in r["urn"])
    volume["inputs"]["kmsKeyId"] = AWS_KEY  # one disk with a key: the others fall back
    found = offline(prod, KEYS)
    assert found and all(AWS in u for u, _ in found)
