"""Rolling safety: one `pulumi up` never restarts or replaces more than (members-1)/2
etcd members, nor more than one control-plane replica. See docs/rolling-safety.md.

A member is *frozen* unless it is listed in ``etcd.roll``: a changed boot document (or
size, or image) is ignored, so the engine neither stops/starts nor replaces it. A listed
member is *rolled*: a changed document replaces it (delete first, so its fixed address
and its protected data disk move to the new machine).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from planes_support import (
    AWS_INSTANCE,
    GCP_INSTANCE,
    PROJECT,
    ROOT,
    StackRun,
    stack_config,
    twin_document,
    write_stack,
)

from fleetform.engine.records import Resource
from fleetform.engine.run import run_program
from fleetform.plan.fleet import plan_fleet
from fleetform.plan.load import load_stack_file
from fleetform.spec.errors import FleetError

FROZEN_IGNORES = {"aws": {"userDataBase64", "instanceType", "ami"}, "gcp": {"metadata", "machineType", "bootDisk"}}


def replaceable_on_new_document(run: StackRun, r: Resource) -> bool:
    """Would a changed user-data replace this machine in the next `pulumi up`?"""
    if r.type == AWS_INSTANCE:
        return "userDataBase64" not in r.ignore_changes and r.inputs.get("userDataReplaceOnChange") is True
    assert r.type == GCP_INSTANCE
    return "metadata" not in r.ignore_changes and "metadata" in r.replace_on_changes


def frozen(r: Resource) -> bool:
    """Is every disruptive change to this machine ignored?"""
    cloud = "aws" if r.type == AWS_INSTANCE else "gcp"
    if not FROZEN_IGNORES[cloud] <= set(r.ignore_changes):
        return False
    if cloud == "aws":
        return r.inputs.get("userDataReplaceOnChange") is False
    return r.inputs.get("allowStoppingForUpdate") is False


def etcd_members(run: StackRun) -> dict[tuple[str, str], Resource]:
    """(incarnation, member) -> the member's machine."""
    members: dict[tuple[str, str], Resource] = {}
    for plan in run.plan.clusters:
        etcd = run.component("EtcdDataPlane", f"{plan.key}-etcd")
        for r in run.owned(etcd):
            if r.type in (AWS_INSTANCE, GCP_INSTANCE):
                members[(plan.key, r.name.removeprefix(f"{etcd.name}-"))] = r
        assert {m for k, m in members if k == plan.key} == {m.name for m in plan.etcd.members}
    return members


def test_without_roll_every_member_ignores_a_changed_document(stack: StackRun) -> None:
    assert all(p.etcd.roll == () for p in stack.plan.clusters)
    for key, machine in etcd_members(stack).items():
        assert frozen(machine), f"{key}: a changed document would restart or replace it"
        assert not replaceable_on_new_document(stack, machine), key


def test_roll_makes_exactly_the_listed_member_replaceable(twin: StackRun) -> None:
    (plan,) = twin.plan.clusters
    assert plan.etcd.roll == ("etcd-1",) and len(plan.etcd.members) == 3
    members = etcd_members(twin)
    replaceable = sorted(m for (_, m), r in members.items() if replaceable_on_new_document(twin, r))
    assert replaceable == ["etcd-1"]
    assert sorted(m for (_, m), r in members.items() if frozen(r)) == ["etcd-0", "etcd-2"]
    rolled = members[(plan.key, "etcd-1")]
    # Delete before replace: the fixed address and the data disk move to the new machine.
    assert rolled.delete_before_replace
    # Only the image stays pinned (a new Ubuntu release is not a reason to replace).
    # Only the image stays pinned on a rolled member (a new Ubuntu image is not a roll).
    assert set(rolled.ignore_changes) == ({"ami"} if plan.cloud == "aws" else {"bootDisk.initializeParams.image"})
    # The disk is a separate, protected resource: rolling a member never touches its data.
    etcd = twin.component("EtcdDataPlane", f"{plan.key}-etcd")
    disks = [r for r in twin.owned(etcd) if r.type in ("aws:ebs/volume:Volume", "gcp:compute/disk:Disk")]
    assert len(disks) == 3 and all(d.protect for d in disks)
    if plan.cloud == "aws":
        attachments = twin.of_type("aws:ec2/volumeAttachment:VolumeAttachment", twin.owned(etcd))
        assert all(a.inputs["stopInstanceBeforeDetaching"] is True for a in attachments)
        assert all(a.delete_before_replace for a in attachments)


def control_plane_replicas(run: StackRun) -> dict[tuple[str, str], Resource]:
    """(incarnation, replica) -> the replica's machine."""
    out: dict[tuple[str, str], Resource] = {}
    for plan in run.plan.clusters:
        cp = run.component("ControlPlane", f"{plan.key}-control-plane")
        for r in run.owned(cp):
            if r.type in (AWS_INSTANCE, GCP_INSTANCE):
                out[(plan.key, r.name.removeprefix(f"{cp.name}-"))] = r
        assert {n for k, n in out if k == plan.key} == {r.name for r in plan.control_plane.replicas}
    return out


def test_without_roll_every_control_plane_replica_ignores_a_changed_document(stack: StackRun) -> None:
    """A new Kubernetes version (or any document change) never replaces replicas: the
    version rolls in place (docs/upgrades.md)."""
    assert all(p.control_plane.roll == () for p in stack.plan.clusters)
    for key, machine in control_plane_replicas(stack).items():
        assert frozen(machine), f"{key}: a changed document would restart or replace it"
        assert not replaceable_on_new_document(stack, machine), key


def test_control_plane_roll_replaces_exactly_the_listed_replica(twin: StackRun) -> None:
    (plan,) = twin.plan.clusters
    assert plan.control_plane.roll == ("cp-1",)
    replicas = control_plane_replicas(twin)
    rolled = replicas[(plan.key, "cp-1")]
    assert replaceable_on_new_document(twin, rolled)
    # Delete first: its fixed address (and, on GCP, its name) moves to the new machine.
    assert rolled.delete_before_replace
    for name in ("cp-0", "cp-2"):
        assert frozen(replicas[(plan.key, name)]), name


@pytest.mark.parametrize(("roll", "message"), [
    (["cp-1", "cp-2"],
     "fleet.clusters[0].control_plane.roll: rolling 2 replicas at once takes 2 of 3 API servers down: roll one "
     "replica per `pulumi up` and check it is back before the next"),
    (["cp-0"], "fleet.clusters[0].control_plane.roll[0]: cp-0 cannot be rolled while other replicas serve: its "
               "new machine would run `kubeadm init` against the cluster's existing etcd (its boot document has "
               "no join path); roll the others"),
    (["cp-3"], "fleet.clusters[0].control_plane.roll[0]: 'cp-3' is not a replica of this control plane "
               "(cp-0, cp-1, cp-2)"),
])
def test_unsafe_control_plane_rolls_are_rejected(tmp_path: Path, roll: list[str], message: str) -> None:
    document = twin_document("aws")
    document["config"]["fleetform:fleet"]["clusters"][0]["control_plane"]["roll"] = roll
    path = write_stack(tmp_path, "bad", document)
    with pytest.raises(FleetError) as err:
        plan_fleet(load_stack_file(path, label="stacks/Pulumi.bad.yaml"))
    assert str(err.value).splitlines() == [f"stacks/Pulumi.bad.yaml: {message}"]


def _bad_stack(tmp_path: Path, roll: list[str], members: int = 3) -> Path:
    return write_stack(tmp_path, "bad", twin_document("aws", roll=roll, members=members))


def test_rolling_two_of_three_is_rejected_before_anything_is_created(tmp_path: Path) -> None:
    path = _bad_stack(tmp_path, ["etcd-0", "etcd-2"])
    expected = ("stacks/Pulumi.bad.yaml: fleet.clusters[0].etcd.roll: rolling 2 members at once would "
                "break quorum: a 3-member etcd may restart at most 1 per `pulumi up`")
    with pytest.raises(FleetError) as planned:
        plan_fleet(load_stack_file(path, label="stacks/Pulumi.bad.yaml"))
    assert str(planned.value) == expected
    # The real program refuses the same way, before registering a single resource.
    registered: list[Resource] = []
    with pytest.raises(FleetError) as ran:
        run_program(ROOT, project=PROJECT, stack="bad", config=stack_config(path), on_resource=registered.append)
    assert str(ran.value) == expected
    assert [r.type for r in registered if r.type != "pulumi:pulumi:Stack"] == []


@pytest.mark.parametrize(("members", "roll", "message"), [
    (5, ["etcd-0", "etcd-1", "etcd-2"],
     "fleet.clusters[0].etcd.roll: rolling 3 members at once would break quorum: "
     "a 5-member etcd may restart at most 2 per `pulumi up`"),
    (3, ["etcd-3"],
     "fleet.clusters[0].etcd.roll[0]: 'etcd-3' is not a member of this etcd plane (etcd-0, etcd-1, etcd-2)"),
])
def test_other_unsafe_rolls_are_rejected(tmp_path: Path, members: int, roll: list[str], message: str) -> None:
    path = _bad_stack(tmp_path, roll, members)
    with pytest.raises(FleetError) as err:
        plan_fleet(load_stack_file(path, label="stacks/Pulumi.bad.yaml"))
    assert f"stacks/Pulumi.bad.yaml: {message}" in str(err.value).splitlines()


def test_rolling_two_of_five_is_allowed(tmp_path: Path) -> None:
    path = _bad_stack(tmp_path, ["etcd-1", "etcd-3"], members=5)
    plan = plan_fleet(load_stack_file(path))
    assert plan.clusters[0].etcd.roll == ("etcd-1", "etcd-3")


def _image_pinned(r: Resource) -> bool:
    """Is the machine's image excluded from diffs (a new image in the family/filter is
    not a change to the stack)?"""
    pins = {"ami"} if r.type == AWS_INSTANCE else {"bootDisk", "bootDisk.initializeParams",
                                                  "bootDisk.initializeParams.image"}
    return bool(pins & set(r.ignore_changes))


def test_a_new_ubuntu_ami_never_replaces_a_fixed_machine(stack: StackRun) -> None:
    """The image is "most recent" at lookup time; a Canonical release must not replace
    members or replicas on its own (it would hit all replicas at once)."""
    machines = stack.of_type(AWS_INSTANCE)
    assert machines
    assert all(_image_pinned(r) for r in machines)


def test_a_new_ubuntu_image_never_replaces_a_fixed_gcp_machine(stack: StackRun) -> None:
    machines = stack.of_type(GCP_INSTANCE)
    assert machines
    unpinned = sorted(r.name for r in machines if not _image_pinned(r))
    assert unpinned == []
