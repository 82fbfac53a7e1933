"""Moving a cluster, decided without a cloud: incarnations per phase, addresses,
protection, contexts, the phase rules (gate) and the stack-file errors."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from fleetform.plan.fleet import plan_fleet
from fleetform.plan.identity import plan_identity
from fleetform.plan.kubeconfig import layout
from fleetform.plan.migrate import PhaseState, check_transition
from fleetform.plan.model import FleetPlan

from .helpers import STACK, load, plan_text, problems, stack_text, write_stack

OTHER = "  - {name: other, cloud: gcp, region: europe-west1, network: {index: 2}}\n"


def mover(phase: str | None, *, extra: str = "", to: str = "{cloud: gcp, region: europe-west1}") -> str:
    block = "" if phase is None else f", migrate: {{to: {to}, phase: {phase}{extra}}}"
    return f"clusters:\n  - {{name: web, cloud: aws, region: eu-west-1, network: {{index: 1}}{block}}}\n" + OTHER


def plan_of(tmp_path: Path, phase: str | None, **kw: str) -> FleetPlan:
    return plan_text(tmp_path, mover(phase, **kw))


def test_prepare_builds_the_target_next_to_the_source(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, "prepare")
    src, tgt = plan.incarnations("web")
    assert (src.key, src.cloud, src.region) == ("web-aws-eu-west-1", "aws", "eu-west-1")
    assert (tgt.key, tgt.cloud, tgt.region) == ("web-gcp-europe-west1", "gcp", "europe-west1")
    assert src.serving and not tgt.serving
    assert plan.cluster("web") is src
    assert (src.context, tgt.context) == ("web", "web@gcp-europe-west1")
    # The source keeps its data protected; the target's copy is not yet worth protecting.
    assert (src.protect_data, tgt.protect_data) == (True, False)
    # Same settings translated: sizes become the target cloud's machine types.
    from fleetform.catalog.sizes import machine_type

    assert tgt.etcd.machine_type == machine_type("gcp", src.etcd.size) != src.etcd.machine_type
    assert len(tgt.etcd.members) == len(src.etcd.members) and tgt.cni.plugin == src.cni.plugin
    assert tgt.kubernetes_version == src.kubernetes_version


def test_every_incarnation_has_its_own_disjoint_addresses(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, "cutover")
    nets = [ipaddress.ip_network(cidr) for c in plan.clusters
            for cidr in (c.network.node_cidr, c.network.pod_cidr, c.network.service_cidr)]
    assert all(not a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1:])
    # The target's slot does not depend on the phase: prepare, cutover and finalize agree.
    slots = {phase: plan_of(tmp_path, phase, extra=", release_source: true" if phase != "prepare" else "")
             .incarnations("web")[-1].network.slot for phase in ("prepare", "cutover", "finalize")}
    assert len(set(slots.values())) == 1


def test_explicit_target_slot_and_collisions(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, "prepare", to="{cloud: gcp, region: europe-west1, network: {index: 7}}")
    assert plan.incarnations("web")[1].network.slot == 7
    assert problems(tmp_path, mover("prepare", to="{cloud: gcp, region: europe-west1, network: {index: 2}}")) == [
        f"{STACK}: fleet.clusters[0].migrate.to.network.index: address slot 2 is claimed by 'other' "
        "(network.index), 'web@gcp-europe-west1' (network.index); set network.index on one of them to a free "
        "slot (free: 0, 3, 4, 5, 6)"]


def test_phases(tmp_path: Path) -> None:
    cut = plan_of(tmp_path, "cutover")
    src, tgt = cut.incarnations("web")
    assert not src.serving and tgt.serving and cut.cluster("web") is tgt
    assert (src.context, tgt.context) == ("web@aws-eu-west-1", "web")
    assert (src.protect_data, tgt.protect_data) == (True, True)
    released = plan_of(tmp_path, "cutover", extra=", release_source: true")
    assert [c.protect_data for c in released.incarnations("web")] == [False, True]
    final = plan_of(tmp_path, "finalize", extra=", release_source: true")
    assert [c.key for c in final.incarnations("web")] == ["web-gcp-europe-west1"]
    assert final.cluster("web").serving and final.cluster("web").protect_data


def test_finalized_target_equals_the_cluster_declared_there(tmp_path: Path) -> None:
    final = plan_of(tmp_path, "finalize", extra=", release_source: true").cluster("web")
    slot = final.network.slot
    native = plan_text(tmp_path, "clusters:\n  - {name: web, cloud: gcp, region: europe-west1, "
                                 f"network: {{index: {slot}}}}}\n" + OTHER).cluster("web")
    a, b = final.to_json(), native.to_json()
    a.pop("migration")
    b["network"]["allocation"] = a["network"]["allocation"]  # how the slot was chosen, not the slot
    assert a == b


def test_kube_contexts_follow_the_phase(tmp_path: Path) -> None:
    for phase, expected in [
        (None, [("web", "https://api.web.fleet.acme.example:6443")]),
        ("prepare", [("web", "https://api-aws-eu-west-1.web.fleet.acme.example:6443"),
                     ("web@gcp-europe-west1", "https://api-gcp-europe-west1.web.fleet.acme.example:6443")]),
        ("cutover", [("web", "https://api-gcp-europe-west1.web.fleet.acme.example:6443"),
                     ("web@aws-eu-west-1", "https://api-aws-eu-west-1.web.fleet.acme.example:6443")]),
    ]:
        spec = load(write_stack(tmp_path, stack_text(mover(phase))))
        plan = plan_fleet(spec)
        for admin in (False, True):
            lay = layout(plan_identity(spec, plan), plan, admin=admin)
            assert [(ctx, server) for ctx, server, c in lay.endpoints if c == "web"] == expected


def test_warnings_say_what_the_phase_does(tmp_path: Path) -> None:
    assert any("phase prepare" in w and "still serves api.web.fleet.acme.example" in w
               for w in plan_of(tmp_path, "prepare").warnings)
    assert any("phase finalize" in w and "deleted by this `pulumi up`" in w
               for w in plan_of(tmp_path, "finalize", extra=", release_source: true").warnings)


def test_snapshot_writer_is_a_workload_grant_in_the_target_cloud(tmp_path: Path) -> None:
    spec = load(write_stack(tmp_path, stack_text(mover("prepare", extra=", data: etcd-snapshot"))))
    plan = plan_fleet(spec)
    grants = {w.name: w for w in plan_identity(spec, plan).workloads}
    w = grants["etcd-snapshot-web"]
    assert (w.namespace, w.service_account, w.clusters) == ("kube-system", "fleetform-etcd-snapshot", ("web",))
    assert w.gcp and w.aws_role_name is None  # the bucket is on GCP, the target's cloud
    final = load(write_stack(tmp_path, stack_text(mover("finalize", extra=", data: etcd-snapshot, release_source: true"))))
    assert "etcd-snapshot-web" not in {w.name for w in plan_identity(final, plan_fleet(final)).workloads}


# ---------------------------------------------------------------- stack-file errors


@pytest.mark.parametrize(("phase", "extra", "to", "expected"), [
    ("prepare", "", "{cloud: aws, region: eu-west-1}",
     "fleet.clusters[0].migrate.to: the cluster already runs in aws eu-west-1: a migration needs another cloud "
     "or region"),
    ("prepare", "", "{cloud: gcp, region: europe-west9x}",
     "fleet.clusters[0].migrate.to.region: 'europe-west9x' is not a supported GCP region (did you mean "
     "'europe-west9'?)"),
    ("prepare", "", "{cloud: gcp, region: europe-west1, zones: [europe-west1-z]}",
     "fleet.clusters[0].migrate.to.zones[0]: 'europe-west1-z' is not a zone of europe-west1 (zones: "
     "europe-west1-b, europe-west1-c, europe-west1-d)"),
    ("prepare", ", release_source: true", "{cloud: gcp, region: europe-west1}",
     "fleet.clusters[0].migrate.release_source: the source still serves the cluster in phase prepare: release "
     "it in phase cutover"),
    ("finalize", "", "{cloud: gcp, region: europe-west1}",
     "fleet.clusters[0].migrate.phase: finalize deletes the source's etcd disks: first `pulumi up` with "
     "`release_source: true` in phase cutover, and keep it in phase finalize (docs/migration.md)"),
    ("later", "", "{cloud: gcp, region: europe-west1}",
     "fleet.clusters[0].migrate.phase: 'later' is not one of prepare, cutover, finalize"),
])
def test_migrate_block_errors(tmp_path: Path, phase: str, extra: str, to: str, expected: str) -> None:
    assert problems(tmp_path, mover(phase, extra=extra, to=to)) == [f"{STACK}: {expected}"]


def test_compliance_follows_the_cluster(tmp_path: Path) -> None:
    body = ("clusters:\n  - {name: web, cloud: aws, region: eu-west-1, compliance: [gdpr], network: {index: 1}, "
            "migrate: {to: {cloud: gcp, region: us-central1}, phase: prepare}}\n")
    assert problems(tmp_path, body) == [
        f"{STACK}: fleet.clusters[0].migrate.to.region: 'us-central1' is not allowed by compliance rule 'gdpr' "
        "of this cluster (regions: eu-*, europe-*)"]


def test_cloud_specific_machine_types_cannot_move(tmp_path: Path) -> None:
    body = ("clusters:\n  - {name: web, cloud: aws, region: eu-west-1, network: {index: 1}, "
            "workers: [{name: big, machine_type: m6i.large}], "
            "migrate: {to: {cloud: gcp, region: europe-west1}, phase: prepare}}\n")
    assert problems(tmp_path, body) == [
        f"{STACK}: fleet.clusters[0].workers[0].machine_type: 'm6i.large' is an AWS machine type and the "
        "cluster moves to GCP: give the pool a size instead (sizes map to each cloud)"]


def test_migrate_is_a_per_cluster_decision(tmp_path: Path) -> None:
    body = """\
        defaults:
          migrate: {to: {cloud: gcp, region: europe-west1}, phase: prepare}
        clusters:
          - {name: web, cloud: aws, region: eu-west-1}
        """
    out = problems(tmp_path, body)
    assert len(out) == 1 and out[0].startswith(f"{STACK}: fleet.defaults.migrate: ")


# ---------------------------------------------------------------- the gate's rules


def S(phase: str, target: str = "web-gcp-europe-west1", release: bool = False) -> PhaseState:
    return PhaseState(phase, target, release)


@pytest.mark.parametrize(("old", "new"), [
    (None, S("prepare")),
    (S("prepare"), S("prepare")),
    (S("prepare"), S("cutover")),
    (S("cutover"), S("prepare")),  # roll back
    (S("cutover"), S("cutover", release=True)),
    (S("cutover", release=True), S("finalize", release=True)),
    (S("finalize", release=True), None),  # the block replaced by the target's settings
    (S("finalize", release=True), S("prepare", "web-aws-eu-west-1")),  # a new move, back
    (S("prepare"), None),  # abandoned before cutover
    (S("prepare"), S("prepare", "web-gcp-us-central1")),  # another target before cutover
])
def test_allowed_phase_changes(old: PhaseState | None, new: PhaseState | None) -> None:
    assert check_transition("web", old, new) is None


@pytest.mark.parametrize(("old", "new", "says"), [
    (None, S("cutover"), "a migration starts with `phase: prepare`"),
    (None, S("finalize", release=True), "a migration starts with `phase: prepare`"),
    (S("prepare"), S("finalize", release=True), "`phase: finalize` cannot follow `phase: prepare`: the next "
                                                "phase is `cutover`"),
    (S("cutover"), S("finalize", release=True), "first run `pulumi up` with `release_source: true`"),
    (S("cutover"), None, "removing the migrate block would delete one of the running incarnations"),
    (S("cutover"), S("cutover", "web-gcp-us-central1"), "the migration target cannot change in `phase: cutover`"),
    (S("finalize", release=True), S("cutover"), "is finalized"),
])
def test_refused_phase_changes(old: PhaseState | None, new: PhaseState | None, says: str) -> None:
    why = check_transition("web", old, new)
    assert why is not None and says in why and "cluster 'web'" in why


def test_gate_state_survives_the_final_edit() -> None:
    """Replacing a finalized block by the target's own settings changes nothing."""
    from components.dynamic import gate_changes

    final = {"cluster": "web", "phase": "finalize", "source": "web-aws-eu-west-1",
             "target": "web-gcp-europe-west1", "release_source": True, "data": "none"}
    native = {"cluster": "web", "phase": "none", "source": "web-gcp-europe-west1", "target": "",
              "release_source": False, "data": "none"}
    assert not gate_changes(final, native)
    assert gate_changes({**native, "phase": "none"}, {**final, "phase": "prepare"})
    assert check_transition("web", PhaseState.from_json(final), PhaseState.from_json(native)) is None


# ---------------------------------------------------------------- the snapshot documents


def transfers(tmp_path: Path) -> list[object]:
    from fleetform.plan.snapshots import transfer

    out = []
    for to in ("{cloud: gcp, region: europe-west1}", "{cloud: aws, region: eu-central-1}"):
        plan = plan_of(tmp_path, "prepare", extra=", data: etcd-snapshot", to=to)
        src, tgt = plan.incarnations("web")
        out.append(transfer(src, tgt, schedule="*/30 * * * *", retention_days=14))
    return out


def test_snapshot_objects_are_valid_kubernetes(tmp_path: Path) -> None:
    import kubernetes_validate

    from fleetform.bootstrap.snapshots import snapshot_objects

    for t in transfers(tmp_path):
        writer = ("snap@acme-fleet.iam.gserviceaccount.com" if t.target_cloud == "gcp"  # type: ignore[attr-defined]
                  else "arn:aws:iam::123456789012:role/snap")
        objs = snapshot_objects(t, "bucket-name", writer, gcp_credentials="{}")  # type: ignore[arg-type]
        assert [o["kind"] for o in objs] == ["ServiceAccount", "ConfigMap", "Job", "CronJob"]
        for obj in objs:
            kubernetes_validate.validate(obj, "1.35.0", strict=True)
        job = objs[2]["spec"]["template"]["spec"]
        assert job["containers"][0]["command"][-2:] == ["once", "bucket-name"]
        cron = objs[3]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        assert cron["containers"][0]["command"][-2:] == ["periodic", "bucket-name"]
        env = {e["name"]: e["value"] for e in job["containers"][0]["env"]}
        if t.target_cloud == "aws":  # type: ignore[attr-defined]
            assert env["AWS_ROLE_ARN"] == writer
        else:
            assert env["GOOGLE_APPLICATION_CREDENTIALS"] == "/fleetform/gcp-credentials.json"


def test_snapshot_pods_run_with_least_privilege(tmp_path: Path) -> None:
    """The renderer's pods pass the policy's own check (the one `fleetform plan` and the
    pack run on the deployed Job and CronJob), and root is only the key's owner."""
    from fleetform.bootstrap.snapshots import snapshot_objects
    from policies.rules.workloads import pod_problems, pod_template

    for t in transfers(tmp_path):
        objs = snapshot_objects(t, "bucket-name", "snap@acme-fleet.iam.gserviceaccount.com",  # type: ignore[arg-type]
                                gcp_credentials="{}")
        for obj in objs[2:]:
            pod = pod_template(f"kubernetes:batch/v1:{obj['kind']}", obj)
            assert pod is not None and list(pod_problems(pod)) == []
            container = pod["containers"][0]
            assert "@sha256:" in container["image"]
            assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
            # The only writable path is the scratch emptyDir, where the script works.
            assert {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")} == {"/tmp"}


def test_snapshot_script_passes_shellcheck(tmp_path: Path) -> None:
    import shutil
    import subprocess

    from fleetform.bootstrap.snapshots import snapshot_script

    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (make setup installs it)")
    for i, t in enumerate(transfers(tmp_path)):
        path = tmp_path / f"snapshot-{i}.sh"
        text = snapshot_script(t)  # type: ignore[arg-type]
        assert "migration/web-aws-eu-west-1.db" in text
        path.write_text(text)
        out = subprocess.run([shellcheck, "--severity=info", str(path)], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stdout
