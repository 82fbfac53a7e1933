"""Moving a cluster between clouds, phase by phase, under the offline engine: the REAL
program for one stack file per step of the runbook (docs/migration.md).

Cluster ``mover`` (3 etcd members, 3 replicas, public API) goes from AWS eu-west-1 to GCP
europe-west1 with ``data: etcd-snapshot``; cluster ``stay`` (GCP) never moves.
"""

from __future__ import annotations

import copy
import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from planes_support import (
    COMPONENT_PREFIX,
    DYNAMIC_TYPE,
    StackRun,
    run_stack,
    user_data,
    write_stack,
)

from fleetform.bootstrap.snapshots import CRONJOB, JOB

AWS_DISK, GCP_DISK = "aws:ebs/volume:Volume", "gcp:compute/disk:Disk"
SOURCE, TARGET = "mover-aws-eu-west-1", "mover-gcp-europe-west1"
MIGRATE = {"to": {"cloud": "gcp", "region": "europe-west1"}, "data": "etcd-snapshot"}


def document(migrate: dict[str, Any] | None, *, cloud: str = "aws", region: str = "eu-west-1",
             index: int = 40) -> dict[str, Any]:
    mover: dict[str, Any] = {
        "name": "mover", "cloud": cloud, "region": region, "network": {"index": index},
        "etcd": {"members": 3}, "control_plane": {"replicas": 3},
        "api": {"public": True, "allowed_cidrs": ["203.0.113.0/24"]},
        "workers": [{"name": "general", "min": 1, "max": 3}],
    }
    if migrate is not None:
        mover["migrate"] = migrate
    stay = {"name": "stay", "cloud": "gcp", "region": "europe-west1", "network": {"index": 41},
            "etcd": {"members": 1}, "control_plane": {"replicas": 1},
            "workers": [{"name": "general", "min": 1, "max": 2}]}
    return {"config": {"fleetform:base": "fleet.yaml",
                       "fleetform:fleet": {"clusters": [mover, stay]}}}


STEPS: dict[str, dict[str, Any] | None] = {
    "before": None,
    "prepare": {**MIGRATE, "phase": "prepare"},
    "cutover": {**MIGRATE, "phase": "cutover"},
    "released": {**MIGRATE, "phase": "cutover", "release_source": True},
    "finalize": {**MIGRATE, "phase": "finalize", "release_source": True},
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, StackRun]:
    d = tmp_path_factory.mktemp("migration")
    out = {step: run_stack(write_stack(d / step, "move", document(copy.deepcopy(block))))
           for step, block in STEPS.items()}
    final = out["finalize"].plan.cluster("mover")
    # The runbook's last edit: the target's place and slot, no migrate block.
    out["native"] = run_stack(write_stack(d / "native", "move", document(
        None, cloud="gcp", region="europe-west1", index=int(final.network.slot or 0))))
    return out


def clusters(run: StackRun) -> list[str]:
    return sorted(r.name for r in run.resources if r.type == COMPONENT_PREFIX + "Cluster")


def by_name(run: StackRun, name: str) -> Any:
    matches = [r for r in run.resources if r.name == name]
    assert len(matches) == 1, name
    return matches[0]


def provider_region(run: StackRun, r: Any) -> tuple[str, str]:
    p = run.provider_of(r)
    assert p is not None, f"{r.urn} has no explicit provider"
    return p.type.rsplit(":", 1)[-1], str(p.inputs.get("region"))


def test_incarnations_per_phase(runs: dict[str, StackRun]) -> None:
    assert clusters(runs["before"]) == [SOURCE, "stay-gcp-europe-west1"]
    for step in ("prepare", "cutover", "released"):
        assert clusters(runs[step]) == [SOURCE, TARGET, "stay-gcp-europe-west1"]
    assert clusters(runs["finalize"]) == [TARGET, "stay-gcp-europe-west1"]


def test_target_lives_in_its_cloud_and_region_through_explicit_providers(runs: dict[str, StackRun]) -> None:
    run = runs["prepare"]
    target, source = run.plan.incarnations("mover")[1], run.plan.incarnations("mover")[0]
    for plan, expected in ((target, ("gcp", "europe-west1")), (source, ("aws", "eu-west-1"))):
        cloud = [r for r in run.in_cluster(plan) if r.custom and r.type.startswith(("aws:", "gcp:"))]
        assert cloud and {provider_region(run, r) for r in cloud} == {expected}


def test_nothing_of_the_source_changes_in_prepare(runs: dict[str, StackRun]) -> None:
    before = {r.urn: r for r in runs["before"].resources}
    after = {r.urn: r for r in runs["prepare"].resources}
    src = [u for u in before if f"${COMPONENT_PREFIX}Cluster$" in u or u.endswith(f"::{SOURCE}")]
    assert src
    for urn in src:
        if "::mover-aws-eu-west-1" not in urn:
            continue
        old, new = before[urn], after[urn]
        assert (old.inputs, old.protect) == (new.inputs, new.protect), urn


def test_identity_is_shared_not_duplicated(runs: dict[str, StackRun]) -> None:
    for step in ("before", "prepare", "finalize"):
        run = runs[step]
        identities = [r for r in run.resources
                      if r.type == COMPONENT_PREFIX + "ClusterIdentity" and r.name.endswith("-mover")]
        assert len(identities) == 1, step
    # The same certificate authorities, same URNs and inputs, in every phase.
    def cas(step: str) -> dict[str, Any]:
        run = runs[step]
        ident = next(r for r in run.resources
                     if r.type == COMPONENT_PREFIX + "ClusterIdentity" and r.name.endswith("-mover"))
        return {r.urn: r.inputs for r in run.resources if r.parent == ident.urn}

    assert cas("before") and cas("before") == cas("prepare") == cas("cutover") == cas("finalize")


def test_disjoint_addresses(runs: dict[str, StackRun]) -> None:
    nets = [ipaddress.ip_network(c.network.node_cidr) for c in runs["prepare"].plan.clusters] + \
        [ipaddress.ip_network(c.network.pod_cidr) for c in runs["prepare"].plan.clusters]
    assert all(not a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1:])


def test_public_name_follows_the_serving_incarnation(runs: dict[str, StackRun]) -> None:
    expect = {"before": "aws", "prepare": "aws", "cutover": "gcp", "released": "gcp", "finalize": "gcp",
              "native": "gcp"}
    for step, cloud in expect.items():
        run = runs[step]
        record = by_name(run, "mover-api-public-dns")
        assert record.type.startswith(cloud + ":"), step
        assert run.by_urn[record.parent].type == COMPONENT_PREFIX + "ClusterName"
        # Handed over in one zone: the old record goes before the new one is made.
        assert record.delete_before_replace
        names = {r.inputs.get("name") for r in run.resources if r.type in (
            "aws:route53/record:Record", "gcp:dns/recordSet:RecordSet")}
        assert ("api.mover.fleet.acme.example" in names) or ("api.mover.fleet.acme.example." in names)
    # Each incarnation keeps its own public name throughout.
    cut = runs["cutover"]
    own = {r.inputs.get("name") for r in cut.resources if "api-incarnation-public-dns" in r.name}
    assert {n.rstrip(".") for n in own if n} >= {"api-aws-eu-west-1.mover.fleet.acme.example",
                                                   "api-gcp-europe-west1.mover.fleet.acme.example"}


def disks(run: StackRun, key: str) -> list[Any]:
    return [r for r in run.resources if r.type in (AWS_DISK, GCP_DISK) and r.name.startswith(f"{key}-etcd-")]


def test_etcd_data_protection_per_phase(runs: dict[str, StackRun]) -> None:
    expect = {
        "before": {SOURCE: True},
        "prepare": {SOURCE: True, TARGET: False},
        "cutover": {SOURCE: True, TARGET: True},
        "released": {SOURCE: False, TARGET: True},
        "finalize": {TARGET: True},
    }
    for step, keys in expect.items():
        for key, protected in keys.items():
            found = disks(runs[step], key)
            assert len(found) == 3 and all(d.protect is protected for d in found), (step, key)


def test_exports_and_kubeconfig_say_who_serves(runs: dict[str, StackRun]) -> None:
    # Plans feed the stack outputs (components/exports.py); the contexts come from them.
    for step, serving, other in (("prepare", SOURCE, "mover@gcp-europe-west1"),
                                 ("cutover", TARGET, "mover@aws-eu-west-1")):
        plan = runs[step].plan
        assert plan.cluster("mover").key == serving
        assert [c.context for c in plan.incarnations("mover") if not c.serving] == [other]


def bundle_objects(run: StackRun, key: str, path: str) -> tuple[Any, dict[str, dict[str, Any]]]:
    """A file of an incarnation's add-on bundle (its bucket object) and its objects by kind."""
    obj = by_name(run, f"{key}-addons-file-{path.replace('/', '-').replace('.', '-')}")
    return obj, {o["kind"]: o for o in yaml.safe_load_all(obj.inputs["content"])}


def test_snapshot_path(runs: dict[str, StackRun]) -> None:
    run = runs["prepare"]
    # In the SOURCE's add-on bundle (its own bucket, its own cloud): the source cluster's
    # Flux runs the Job; nothing reaches the source's API from `pulumi up`.
    published, objs = bundle_objects(run, SOURCE, "etcd-snapshots/objects.yaml")
    assert published.type == "aws:s3/bucketObjectv2:BucketObjectv2"
    assert provider_region(run, published) == ("aws", "eu-west-1")
    assert published.inputs["key"] == "etcd-snapshots/objects.yaml"
    assert run.by_id[published.inputs["bucket"]] == by_name(run, f"{SOURCE}-addons-bucket").urn
    kustomization, _ = bundle_objects(run, SOURCE, "flux/etcd-snapshots.yaml")
    flux = yaml.safe_load(kustomization.inputs["content"])
    assert flux["spec"]["path"] == "./etcd-snapshots" and flux["spec"]["dependsOn"]
    assert flux["spec"]["force"] is True  # a changed Job is recreated (Jobs are immutable)
    job = objs["Job"]
    assert job["metadata"]["name"] == JOB
    assert objs["CronJob"]["metadata"]["name"] == CRONJOB
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "fleetform-etcd-snapshot" and pod["hostNetwork"] is True
    assert pod["nodeSelector"] == {"node-role.kubernetes.io/control-plane": ""}
    # The Job writes to the target's bucket.
    target_bucket = by_name(run, f"{TARGET}-snapshots-bucket")
    assert pod["containers"][0]["command"][-2:] == ["once", target_bucket.inputs["name"]]
    # The bucket is in the target's cloud and region; readers = the target's etcd plane,
    # writers = the federated snapshot service account.
    bucket = by_name(run, f"{TARGET}-snapshots-bucket")
    assert bucket.type == "gcp:storage/bucket:Bucket" and provider_region(run, bucket) == ("gcp", "europe-west1")
    grants = {r.name: r for r in run.resources if r.type == "gcp:storage/bucketIAMMember:BucketIAMMember"
              and r.name.startswith(f"{TARGET}-snapshots-")}
    # One reader grant per target member (each restores with its own identity).
    assert set(grants) == {*(f"{TARGET}-snapshots-bucket-reader-etcd-{n}" for n in range(3)),
                           f"{TARGET}-snapshots-bucket-writer-etcd-snapshot-mover"}
    accounts = {r.name: r for r in run.resources if r.type == "gcp:serviceaccount/account:Account"}
    for n in range(3):
        account = accounts[f"{TARGET}-network-etcd-{n}"]
        assert grants[f"{TARGET}-snapshots-bucket-reader-etcd-{n}"].inputs["member"] == (
            f"serviceAccount:{account.inputs['accountId']}@{account.inputs['project']}.iam.gserviceaccount.com")
    # Each target member restores the same object: its first boot waits for the snapshot
    # the Job writes (the Job goes out with the source's bundle in the same `pulumi up`).
    members = [r for r in run.in_cluster(run.plan.incarnations("mover")[1])
               if r.type == "gcp:compute/instance:Instance" and "-etcd-etcd-" in r.name]
    assert len(members) == 3
    for m in members:
        assert target_bucket.urn in m.dependencies
        text = user_data(m) or ""
        assert f"migration/{SOURCE}.db" in text and "etcdutl snapshot restore" in text
        assert f'ff_wait "snapshot {target_bucket.inputs["name"]}/migration/{SOURCE}.db"' in text
    # The source's members are untouched: no restore there.
    for m in run.in_cluster(run.plan.incarnations("mover")[0]):
        if m.type == "aws:ec2/instance:Instance" and "-etcd-etcd-" in m.name:
            assert "etcd-restore" not in (user_data(m) or "")
    assert not [r for r in runs["finalize"].resources if "snapshot" in r.name and "mover" in r.name
                and r.type != DYNAMIC_TYPE]


def test_gate_holds_the_phase(runs: dict[str, StackRun]) -> None:
    phases = {step: by_name(runs[step], "mover-migration").inputs["phase"] for step in runs}
    assert phases == {"before": "none", "prepare": "prepare", "cutover": "cutover", "released": "cutover",
                      "finalize": "finalize", "native": "none"}


def comparable(run: StackRun) -> dict[str, Any]:
    return {r.urn: r for r in run.resources}


def test_finalize_equals_the_cluster_declared_on_the_target(runs: dict[str, StackRun]) -> None:
    from components.dynamic import gate_changes

    final, native = comparable(runs["finalize"]), comparable(runs["native"])
    assert set(final) == set(native)
    for urn, a in final.items():
        b = native[urn]
        assert (a.type, a.parent, a.provider, a.protect, a.ignore_changes) == \
               (b.type, b.parent, b.provider, b.protect, b.ignore_changes), urn
        if a.inputs == b.inputs:
            continue
        if a.type == DYNAMIC_TYPE and a.name == "mover-migration":
            assert not gate_changes(a.inputs, b.inputs)  # the gate reports no change
            continue
        # The only other difference: the restore step in the target etcd members' boot
        # documents, which a running member ignores (it never restores over its data).
        changed = {k for k in set(a.inputs) | set(b.inputs) if a.inputs.get(k) != b.inputs.get(k)}
        assert a.type == "gcp:compute/instance:Instance" and "-etcd-etcd-" in a.name, (urn, changed)
        assert changed == {"metadata"} and "metadata" in a.ignore_changes


def test_stack_file_for_the_final_edit_is_what_migrate_plan_prints(runs: dict[str, StackRun],
                                                                    tmp_path: Path) -> None:
    import subprocess
    import sys

    path = runs["finalize"].path
    out = subprocess.run([sys.executable, "-m", "fleetform", "migrate", "plan", "--file", str(path), "mover"],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    slot = runs["finalize"].plan.cluster("mover").network.slot
    assert f"network: {{\"index\": {slot}}}" in out.stdout
    assert "region: europe-west1" in out.stdout and "cloud: gcp" in out.stdout
    assert "!! DELETES DATA" in out.stdout
    doc = yaml.safe_load(path.read_text())
    assert doc["config"]["fleetform:fleet"]["clusters"][0]["migrate"]["phase"] == "finalize"


# ---------------------------------------------------------------- between regions of one cloud

REGION_TARGET = "mover-aws-eu-central-1"


@pytest.fixture(scope="module")
def region_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, StackRun]:
    d = tmp_path_factory.mktemp("region-move")
    move = {"to": {"cloud": "aws", "region": "eu-central-1"}, "data": "etcd-snapshot"}
    return {phase: run_stack(write_stack(d / phase, "move", document({**move, "phase": phase})))
            for phase in ("prepare", "cutover")}


def test_the_same_mechanism_moves_a_cluster_between_regions(region_runs: dict[str, StackRun]) -> None:
    prep, cut = region_runs["prepare"], region_runs["cutover"]
    assert clusters(prep) == sorted([SOURCE, REGION_TARGET, "stay-gcp-europe-west1"])
    # One public name, handed between the two regions' load balancers in one Route 53
    # zone: the same resource with another provider, replaced delete-first.
    a, b = by_name(prep, "mover-api-public-dns"), by_name(cut, "mover-api-public-dns")
    assert a.urn == b.urn and a.type == "aws:route53/record:Record" and a.delete_before_replace
    assert provider_region(prep, a) == ("aws", "eu-west-1") and provider_region(cut, b) == ("aws", "eu-central-1")
    # IAM is account-global: every role name is the incarnation's own.
    roles = [r.inputs.get("name") for r in prep.resources if r.type == "aws:iam/role:Role"]
    assert len(roles) == len(set(roles))
    assert any(str(n).find("eu-central-1") >= 0 for n in roles) and any(str(n).find("eu-west-1") >= 0 for n in roles)
    # The snapshot bucket is in the target region; the federated writer is an AWS role.
    bucket = by_name(prep, f"{REGION_TARGET}-snapshots-bucket")
    assert bucket.type == "aws:s3/bucket:Bucket" and provider_region(prep, bucket) == ("aws", "eu-central-1")
    writer = by_name(prep, "acme-federation-aws-workload-etcd-snapshot-mover")
    assert writer.type == "aws:iam/role:Role"
    policies = [r for r in prep.resources if r.type == "aws:iam/rolePolicy:RolePolicy"
                and r.name.startswith(f"{REGION_TARGET}-snapshots-bucket-access-")]
    # Each target member's role reads (s3:GetObject only), the federated role writes.
    assert sorted(p.name.rsplit("-access-", 1)[1] for p in policies) == [
        "etcd-0", "etcd-1", "etcd-2", "etcd-snapshot-mover"]
    for p in policies:
        if not p.name.endswith("-mover"):
            member = p.name.rsplit("-access-", 1)[1]
            assert p.inputs["role"] == f"acme-{REGION_TARGET}-{member}"
            assert {a for s in json.loads(p.inputs["policy"])["Statement"]
                    for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])} <= {
                "s3:GetObject", "s3:ListBucket"}
