"""Cross-cloud parity: the same cluster settings on AWS and on GCP (the ``twin`` stacks)
give the same planes, the same zone pattern and the same boot documents.

Documents are compared file by file after removing what is cloud-specific by design:
``/usr/local/lib/fleetform/cloud.sh`` (how to fetch a secret with the node's identity),
the data disk's device path, and the ids of secrets in the cloud's store (replaced by
their logical key, which must match). Certificates are per incarnation (fresh keys), so
they are compared by what they say — subject, issuer, names, CA flag — not by bytes.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from planes_support import AWS_INSTANCE, GCP_INSTANCE, MACHINE_TYPES, StackRun, user_data

from fleetform.engine.records import Resource
from fleetform.plan.model import ClusterPlan

CLOUD_LIB = "/usr/local/lib/fleetform/cloud.sh"
_PEM = re.compile(r"-----BEGIN (CERTIFICATE|PUBLIC KEY)-----\n.*?-----END \1-----\n?", re.S)
_PIN = re.compile(r"sha256:[0-9a-f]{64}")
_DEVICE = re.compile(r"/dev/disk/by-id/(?:nvme-Amazon_Elastic_Block_Store_vol[0-9a-f]+|google-[a-z0-9-]+)")
_FUNCTION = re.compile(r"^(ff_\w+)\(\)", re.M)


def _describe_pem(match: re.Match[str]) -> str:
    if match.group(1) == "PUBLIC KEY":
        key = serialization.load_pem_public_key(match.group(0).encode())
        return f"<public key {type(key).__name__} {getattr(key, 'key_size', '')}>\n"
    cert = x509.load_pem_x509_certificate(match.group(0).encode())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = sorted(str(n.value) for n in san)
    except x509.ExtensionNotFound:
        names = []
    try:
        ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        ca = False
    return (f"<certificate subject={cert.subject.rfc4514_string()} issuer={cert.issuer.rfc4514_string()} "
            f"names={names} ca={ca}>\n")


def secret_keys(run: StackRun) -> dict[str, str]:
    """Secret id as a document names it -> the secret's logical key."""
    keys: dict[str, str] = {}
    for r in run.resources:
        if r.type == "aws:secretsmanager/secret:Secret":
            keys[run.outputs(r)["arn"]] = r.inputs["tags"]["key"]
        elif r.type == "gcp:secretmanager/secret:Secret":
            keys[r.inputs["secretId"]] = r.inputs["labels"]["key"]
    return keys


def addon_bucket(run: StackRun) -> str:
    """The name of the (only) incarnation's add-on bucket, as its first replica names it."""
    (plan,) = run.plan.clusters
    bucket = next(r for r in run.resources if r.name == f"{plan.key}-addons-bucket")
    return str(bucket.inputs.get("name") or run.outputs(bucket)["bucket"])


def normalized(text: str, keys: dict[str, str], plan: ClusterPlan,
               bucket: str = "") -> tuple[dict[str, Any], str]:
    """(the document without its cloud-specific parts, its cloud.sh). The Flux Bucket
    source (provider, endpoint) is cloud-specific too: checked, then left out."""
    doc = yaml.safe_load(text)
    files = {f["path"]: dict(f) for f in doc.pop("write_files")}
    cloud_lib = files.pop(CLOUD_LIB)["content"]
    if "/etc/fleetform/addons/source.yaml" in files:
        source = yaml.safe_load(files.pop("/etc/fleetform/addons/source.yaml")["content"])
        assert source["kind"] == "Bucket" and source["spec"]["provider"] == plan.cloud
        assert source["spec"]["bucketName"] == bucket
    for f in files.values():
        content = _PEM.sub(_describe_pem, f["content"])
        content = _PIN.sub("sha256:<ca-pin>", content)
        content = _DEVICE.sub("<data-device>", content)
        for secret_id in sorted(keys, key=len, reverse=True):
            content = content.replace(secret_id, f"<secret {keys[secret_id]}>")
        # The incarnation's own API name (api-<cloud>-<region>.<cluster>...) names where
        # the cluster runs; it is meant to differ (the logical api.<cluster> does not).
        content = content.replace(plan.api.incarnation_dns, "<incarnation api>")
        if bucket:  # the incarnation's own add-on bucket (its name is the cloud's)
            content = content.replace(bucket, "<add-on bucket>")
        f["content"] = content
    return {"files": files, **doc}, cloud_lib


def machines(run: StackRun) -> dict[str, Resource]:
    """Role-level name (etcd-0, cp-1, workers-general) -> the machine resource."""
    (plan,) = run.plan.clusters
    out: dict[str, Resource] = {}
    for r in run.resources:
        if r.type in MACHINE_TYPES:
            short = r.name.removeprefix(plan.key + "-")
            short = re.sub(r"^(etcd|control-plane)-", "", short)
            out[re.sub(r"-group-(lt|template)$", "", short)] = r
    return out


def zone_of(run: StackRun, r: Resource) -> str:
    if r.type == AWS_INSTANCE:
        return str(run.resolve(r.inputs["subnetId"]).inputs["availabilityZone"])
    assert r.type == GCP_INSTANCE
    return str(r.inputs["zone"])


def test_same_planes_on_both_clouds(twin_aws: StackRun, twin_gcp: StackRun) -> None:
    aws, gcp = machines(twin_aws), machines(twin_gcp)
    assert sorted(aws) == sorted(gcp) == [
        "cp-0", "cp-1", "cp-2", "etcd-0", "etcd-1", "etcd-2", "workers-general"]
    (a,), (g,) = twin_aws.plan.clusters, twin_gcp.plan.clusters
    assert (a.cloud, g.cloud) == ("aws", "gcp")
    assert len(a.etcd.members) == len(g.etcd.members) == 3
    assert len(a.control_plane.replicas) == len(g.control_plane.replicas) == 3
    assert [(m.name, m.ip, m.dns) for m in a.etcd.members] == [(m.name, m.ip, m.dns) for m in g.etcd.members]
    assert a.firewall == g.firewall  # rules as data survive a move unchanged


def test_same_zone_pattern_round_robin_over_three_zones(twin_aws: StackRun, twin_gcp: StackRun) -> None:
    patterns = []
    for run in (twin_aws, twin_gcp):
        (plan,) = run.plan.clusters
        assert len(plan.zones) == 3
        found = machines(run)
        pattern = {name: plan.zones.index(zone_of(run, found[name]))
                   for name in ("etcd-0", "etcd-1", "etcd-2", "cp-0", "cp-1", "cp-2")}
        assert pattern == {"etcd-0": 0, "etcd-1": 1, "etcd-2": 2, "cp-0": 0, "cp-1": 1, "cp-2": 2}
        patterns.append(pattern)
    assert patterns[0] == patterns[1]


def test_boot_documents_differ_only_in_the_cloud_specific_parts(twin_aws: StackRun, twin_gcp: StackRun) -> None:
    aws, gcp = machines(twin_aws), machines(twin_gcp)
    aws_keys, gcp_keys = secret_keys(twin_aws), secret_keys(twin_gcp)
    assert sorted(aws_keys.values()) == sorted(gcp_keys.values())
    for name in sorted(aws):
        a_text, g_text = user_data(aws[name]), user_data(gcp[name])
        assert isinstance(a_text, str) and isinstance(g_text, str)
        a_doc, a_lib = normalized(a_text, aws_keys, twin_aws.plan.clusters[0], addon_bucket(twin_aws))
        g_doc, g_lib = normalized(g_text, gcp_keys, twin_gcp.plan.clusters[0], addon_bucket(twin_gcp))
        assert a_doc.keys() == g_doc.keys(), name
        assert sorted(a_doc["files"]) == sorted(g_doc["files"]), name
        for path in a_doc["files"]:
            a_file, g_file = a_doc["files"][path], g_doc["files"][path]
            diff = "\n".join(difflib.unified_diff(a_file["content"].splitlines(), g_file["content"].splitlines(),
                                                  "aws", "gcp", lineterm="", n=1))
            assert a_file == g_file, f"{name}: {path} differs between clouds:\n{diff}"
        assert a_doc == g_doc, name
        # The cloud library differs, but offers the same functions to the role scripts.
        assert a_lib != g_lib
        assert "secretsmanager" in a_lib and "secretmanager.googleapis.com" in g_lib
        public = {f for f in _FUNCTION.findall(a_lib)}
        assert public == {f for f in _FUNCTION.findall(g_lib)} >= {"ff_secret_read", "ff_cloud_prepare"}


def test_etcd_documents_name_their_own_data_disk(twin_aws: StackRun, twin_gcp: StackRun) -> None:
    for run in (twin_aws, twin_gcp):
        (plan,) = run.plan.clusters
        etcd = run.component("EtcdDataPlane", f"{plan.key}-etcd")
        found = machines(run)
        for member in plan.etcd.members:
            text = user_data(found[member.name])
            assert isinstance(text, str)
            (device,) = set(_DEVICE.findall(text))
            (disk,) = [r for r in run.owned(etcd) if r.name == f"{etcd.name}-{member.name}-data"
                       and r.type in ("aws:ebs/volume:Volume", "gcp:compute/disk:Disk")]
            if plan.cloud == "aws":
                assert device == "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_" + run.id_of(disk).replace("-", "")
            else:
                assert device == "/dev/disk/by-id/google-" + disk.inputs["name"]
                (attached,) = found[member.name].inputs["attachedDisks"]
                assert attached["deviceName"] == disk.inputs["name"]


def test_worker_join_pins_the_cluster_ca(twin_aws: StackRun, twin_gcp: StackRun) -> None:
    """The one pin the normalisation hides: it must be the hash of the cluster CA's key."""
    for run in (twin_aws, twin_gcp):
        text = user_data(machines(run)["workers-general"])
        assert isinstance(text, str)
        files = {f["path"]: f["content"] for f in yaml.safe_load(text)["write_files"]}
        ca_pem = next(c for p, c in files.items() if p.endswith("cluster-ca.crt"))
        ca = x509.load_pem_x509_certificate(ca_pem.encode())
        spki = ca.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
        pins = set(_PIN.findall("\n".join(files.values())))
        assert pins == {"sha256:" + hashlib.sha256(spki).hexdigest()}
