"""Safety rails: removing a cluster or an etcd member never deletes etcd data in one step.

The real program runs three times on a small two-cluster fleet (one per cloud, three
etcd members each):

* ``live``     — both clusters as declared;
* ``step1``    — cluster ``a`` shrinks to one etcd member, cluster ``g`` is marked
                 ``decommission: true`` (step one of removing it);
* ``removed``  — ``a`` back to three members, ``g``'s entry deleted (step two).

Pulumi refuses to delete a protected resource; so "never in one step" means: every etcd
disk a change would delete was protected in the state before it, unless that state was
already the decommissioning step of its cluster. ``pending_removals`` names all of them.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from policy_helpers import ROOT, Record, records

from fleetform.engine.policy import PendingRemoval, evaluate, load_resources, pending_removals
from fleetform.engine.run import run_program
from fleetform.plan.fleet import plan_fleet
from fleetform.plan.load import load_config
from fleetform.spec.errors import FleetError
from policies import rules

FLEET: dict[str, Any] = {
    "apiVersion": "fleetform/v1",
    "name": "acme",
    "domain": "fleet.acme.example",
    "clouds": {"gcp": {"project": "acme-fleet"}},
    "network": {"supernet": "10.0.0.0/8", "cluster_prefix": 16},
    "defaults": {
        "kubernetes_version": "1.37",
        "cni": {"plugin": "flannel"},
        "etcd": {"members": 3, "size": "small", "disk_gb": 20},
        "control_plane": {"replicas": 1, "size": "small"},
        "network": {"nat": "single"},
        "workers": [{"name": "general", "size": "small", "min": 1, "max": 2}],
    },
    "clusters": [
        {"name": "a", "cloud": "aws", "region": "eu-west-1", "network": {"index": 1}},
        {"name": "g", "cloud": "gcp", "region": "europe-west1", "network": {"index": 2}},
    ],
}
PROTECTED = "protected-etcd-data-and-root-ca"


def fleet_variant(name: str) -> dict[str, Any]:
    fleet = copy.deepcopy(FLEET)
    if name == "step1":
        fleet["clusters"][0]["etcd"] = {"members": 1}
        fleet["clusters"][1]["decommission"] = True
    elif name == "removed":
        del fleet["clusters"][1]
    return fleet


def run(name: str) -> list[Record]:
    result = run_program(ROOT, project="fleetform", stack="rails",
                         config={"fleetform:fleet": fleet_variant(name)})
    return records(result.resources)


@pytest.fixture(scope="module")
def runs() -> dict[str, list[Record]]:
    return {name: run(name) for name in ("live", "step1", "removed")}


def etcd_disks(recs: list[Record], cluster: str) -> list[Record]:
    return [r for r in recs if r["type"] in rules.ETCD_DISKS and r["inputs"]["tags" if r["type"] == rules.AWS_VOLUME
                                                                          else "labels"]["cluster"] == cluster]


def by(removals: list[PendingRemoval], cluster: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in removals:
        if r.cluster == cluster:
            counts[r.kind] = counts.get(r.kind, 0) + 1
    return counts


def test_a_live_clusters_etcd_disks_and_the_root_ca_are_protected(runs: dict[str, list[Record]]) -> None:
    live = runs["live"]
    for cluster in ("a", "g"):
        disks = etcd_disks(live, cluster)
        assert len(disks) == 3 and all(d["protect"] for d in disks)
    assert [r["protect"] for r in live if r["type"] == rules.TLS_SELF_SIGNED] == [True]
    assert evaluate(live, only=[PROTECTED]) == []


def test_removing_an_etcd_member_cannot_delete_its_data(runs: dict[str, list[Record]]) -> None:
    removals = pending_removals(runs["live"], runs["step1"])
    assert by(removals, "a") == {"etcd member": 2, "etcd data disk": 2}
    disks = [r for r in removals if r.kind == "etcd data disk"]
    assert all(r.protected for r in disks)  # `pulumi up` stops on them instead of deleting
    for r in disks:
        text = str(r)
        assert text.startswith("DANGER: etcd data disk") and "of cluster 'a'" in text
        assert "It is protected: `pulumi up` will stop with an error" in text
        assert "etcdctl member remove" in text and "pulumi state unprotect" in text
    members = [r for r in removals if r.kind == "etcd member"]
    assert all("`etcdctl member remove`" in str(r) for r in members)


def test_decommissioning_removes_nothing_it_only_releases_protection(runs: dict[str, list[Record]]) -> None:
    """Step one of removing cluster g: nothing of g goes away, its disks lose `protect`."""
    assert by(pending_removals(runs["live"], runs["step1"]), "g") == {}
    assert [d["protect"] for d in etcd_disks(runs["step1"], "g")] == [False] * 3
    assert [d["protect"] for d in etcd_disks(runs["step1"], "a")] == [True]


def test_removing_a_live_cluster_cannot_delete_its_data(runs: dict[str, list[Record]]) -> None:
    removals = pending_removals(runs["live"], runs["removed"])
    assert by(removals, "g") == {"cluster": 1, "etcd plane": 1, "etcd member": 3, "etcd data disk": 3}
    assert by(removals, "a") == {}
    assert all(r.protected for r in removals if r.kind == "etcd data disk")
    assert str(removals[0]).startswith("DANGER: cluster 'g' (g-gcp-europe-west1) is no longer in the program: "
                                       "`pulumi up` will stop with an error on its 3 protected etcd data disk(s)")


def test_after_decommission_the_removal_deletes_and_says_so(runs: dict[str, list[Record]]) -> None:
    removals = [r for r in pending_removals(runs["step1"], runs["removed"]) if r.kind == "etcd data disk"]
    assert len(removals) == 3 and not any(r.protected for r in removals)
    for r in removals:
        assert "is NOT protected (its cluster was decommissioned): the next `pulumi up` DELETES it" in str(r)
    (cluster,) = [r for r in pending_removals(runs["step1"], runs["removed"]) if r.kind == "cluster"]
    assert not cluster.protected and "DELETES the cluster's etcd data" in str(cluster)


def test_the_policy_allows_unprotected_etcd_disks_only_while_decommissioning(
        runs: dict[str, list[Record]]) -> None:
    step1 = runs["step1"]
    unprotected = {d["urn"] for d in etcd_disks(step1, "g")}
    assert {v.urn for v in evaluate(step1, only=[PROTECTED])} == unprotected
    spec = load_config(fleet_variant("step1"), None, stack="rails", label="stacks/Pulumi.rails.yaml",
                       stacks_dir=ROOT / "stacks")
    decommissioning = [c.name for c in plan_fleet(spec).clusters if c.decommission]
    assert decommissioning == ["g"]
    assert evaluate(step1, only=[PROTECTED], decommissioning=decommissioning) == []


def test_no_change_never_deletes_etcd_data_in_one_step(runs: dict[str, list[Record]]) -> None:
    """Over every transition between the three programs: an etcd disk that would be
    deleted is either protected (Pulumi refuses) or was already released by its
    cluster's decommission step."""
    decommissioned = {"live": set(), "step1": {"g"}, "removed": set()}
    for before in runs:
        for after in runs:
            for r in pending_removals(runs[before], runs[after]):
                if r.kind == "etcd data disk":
                    assert r.protected or r.cluster in decommissioned[before], (before, after, str(r))


def test_pending_removals_reads_synth_output_and_stack_exports(runs: dict[str, list[Record]],
                                                               tmp_path: Path) -> None:
    live, removed = runs["live"], runs["removed"]
    expected = pending_removals(live, removed)
    synth = tmp_path / "synth"
    synth.mkdir()
    (synth / "resources.json").write_text(json.dumps(live))
    assert pending_removals(synth, removed) == expected
    assert pending_removals(synth / "resources.json", removed) == expected
    assert pending_removals(str(synth / "resources.json"), removed) == expected
    # `pulumi stack export`: state with outputs, protect flags and the same URNs.
    export = {"version": 3, "deployment": {"resources": [
        {"urn": r["urn"], "type": r["type"], "custom": True, "protect": r["protect"],
         "inputs": r["inputs"], "outputs": r["inputs"], "parent": r["parent"],
         "dependencies": r["dependencies"]} for r in live]}}
    (tmp_path / "state.json").write_text(json.dumps(export))
    assert pending_removals(tmp_path / "state.json", removed) == expected
    assert load_resources({"resources": live}) == load_resources(live)


def test_an_alias_is_a_move_not_a_removal(runs: dict[str, list[Record]]) -> None:
    live = runs["live"]
    moved = copy.deepcopy(live)
    disk = etcd_disks(moved, "a")[0]
    old = disk["urn"]
    disk["urn"] = old.replace("-data", "-etcd-data")
    assert [r.urn for r in pending_removals(live, moved)] == [old]
    disk["aliases"] = [old]
    assert pending_removals(live, moved) == []


def test_removing_the_root_ca_is_flagged_first(runs: dict[str, list[Record]]) -> None:
    live = runs["live"]
    root = next(r for r in live if r["type"] == rules.TLS_SELF_SIGNED)
    gone = {root["urn"], *root["dependencies"]}
    removals = pending_removals(live, [r for r in live if r["urn"] not in gone])
    assert [r.kind for r in removals] == ["root CA", "root CA"]
    assert all(r.protected and "re-issues every credential" in str(r) for r in removals)


def test_decommission_is_a_per_cluster_decision() -> None:
    fleet = copy.deepcopy(FLEET)
    fleet["defaults"]["decommission"] = True
    with pytest.raises(FleetError) as err:
        load_config(fleet, None, stack="rails", label="stacks/Pulumi.rails.yaml", stacks_dir=ROOT / "stacks")
    assert "fleet.defaults.decommission: 'decommission' can only be set on a cluster" in str(err.value)


def _rotating_root(phase: str) -> list[Record]:
    fleet = copy.deepcopy(FLEET)
    fleet["identity"] = {"pki": {"rotate_root": {"generation": 1, "phase": phase}}}
    return records(run_program(ROOT, project="fleetform", stack="rails", config={"fleetform:fleet": fleet}).resources)


def test_a_root_rotation_releases_only_the_retiring_root(runs: dict[str, list[Record]]) -> None:
    prepare, complete = _rotating_root("prepare"), _rotating_root("complete")
    roots = {r["name"]: r["protect"] for r in prepare if r["type"] == rules.TLS_SELF_SIGNED}
    # The new root is protected; the retiring one not, so that `complete` can delete it.
    assert roots == {"acme-identity-root-ca-g1-cert": True, "acme-identity-root-ca-cert": False}
    assert evaluate(prepare, only=[PROTECTED]) == []
    # complete deletes the retiring root without any protected resource in the way...
    removals = [r for r in pending_removals(prepare, complete) if r.kind == "root CA"]
    assert removals and not any(r.protected for r in removals)
    # ...while deleting the live root outside a rotation is flagged first (it is protected).
    assert [r.protected for r in pending_removals(runs["live"], complete) if r.kind == "root CA"] == [True, True]
    # Without the gate in `prepare`, an unprotected root is a violation as before.
    no_gate = [r for r in prepare if not (r["type"] == rules.DYNAMIC and r["inputs"].get("cluster") == "root")]
    found = evaluate(no_gate, only=[PROTECTED])
    assert {v.urn.rsplit("::", 1)[-1] for v in found} == {"acme-identity-root-ca-cert", "acme-identity-root-ca-key"}
