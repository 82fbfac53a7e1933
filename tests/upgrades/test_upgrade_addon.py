"""The upgrade add-ons as a cluster applies them: the controller from its pinned
repository (Flux objects checked against the Flux CRDs in ../shared/ref), our service
account, script and Plans (Kubernetes objects checked with kubernetes-validate)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from fleetform.addons.upgrades import (
    CONTROL_PLANE_PLAN,
    RollInputs,
    pool_plan_name,
    render,
    render_script,
    roll_inputs,
)
from fleetform.catalog.versions import (
    SUPPORTED_MINORS,
    SYSTEM_UPGRADE_CONTROLLER,
    UPGRADE_JOB_IMAGE,
)
from fleetform.plan.fleet import plan_fleet
from fleetform.plan.load import load_stack_file

ROOT = Path(__file__).resolve().parents[2]
REF = ROOT.parent / "shared" / "ref" / "crds" / "flux"
FLUX_CRDS = {
    "GitRepository": "source.toolkit.fluxcd.io_gitrepositories.yaml",
    "Kustomization": "kustomize.toolkit.fluxcd.io_kustomizations.yaml",
}
INPUTS = RollInputs("eu-core", "1.37.1", "https://api.eu-core.fleet.example.com:6443",
                    ("https://etcd-0.eu-core.fleet.example.com:2379",), ("general", "gpu"))


def documents(addon_files: Any) -> list[dict[str, Any]]:
    return [d for f in addon_files for d in yaml.safe_load_all(f.text) if d]


def test_two_addons_controller_first() -> None:
    controller, upgrades = render(INPUTS)
    assert (controller.name, controller.depends_on) == ("upgrade-controller", ())
    assert (upgrades.name, upgrades.depends_on) == ("upgrades", ("upgrade-controller",))
    assert controller.version == SYSTEM_UPGRADE_CONTROLLER
    assert upgrades.version == "1.37.1"
    assert {f.path for f in upgrades.files} == {"upgrades/access.yaml", "upgrades/script.yaml", "upgrades/plans.yaml"}
    # The version is the content's: the same input renders the same bytes.
    assert render(INPUTS) == (controller, upgrades)


def test_plans_control_plane_first_one_node_at_a_time_drain_respecting_pdbs() -> None:
    _, upgrades = render(INPUTS)
    plans = [d for d in documents(upgrades.files) if d["kind"] == "Plan"]
    assert [p["metadata"]["name"] for p in plans] == [CONTROL_PLANE_PLAN, pool_plan_name("general"),
                                                      pool_plan_name("gpu")]
    for plan in plans:
        spec = plan["spec"]
        assert plan["apiVersion"] == "upgrade.cattle.io/v1" and plan["metadata"]["namespace"] == "system-upgrade"
        assert spec["concurrency"] == 1 and spec["version"] == "v1.37.1"
        assert spec["drain"]["ignoreDaemonSets"] is True
        assert not spec["drain"].get("force") and not spec["drain"].get("disableEviction")
        assert spec["prepare"]["image"] == spec["upgrade"]["image"] == UPGRADE_JOB_IMAGE
        assert "upgrade.sh gate " in spec["prepare"]["args"][0]
        assert "upgrade.sh upgrade " in spec["upgrade"]["args"][0]
        assert spec["secrets"] == [{"name": "fleetform-upgrade-script", "path": "/run/fleetform-upgrade-script"}]
    cp, general, _ = plans
    assert cp["spec"]["nodeSelector"] == {"matchExpressions": [
        {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}]}
    assert 'control-plane\n' in cp["spec"]["upgrade"]["args"][0]
    assert general["spec"]["nodeSelector"]["matchExpressions"] == [
        {"key": "node.fleetform.io/pool", "operator": "In", "values": ["general"]},
        {"key": "node-role.kubernetes.io/control-plane", "operator": "DoesNotExist"}]
    assert "worker general\n" in general["spec"]["upgrade"]["args"][0]


def test_the_script_secret_holds_the_rendered_script() -> None:
    _, upgrades = render(INPUTS)
    (secret,) = [d for d in documents(upgrades.files) if d["kind"] == "Secret"]
    assert secret["stringData"]["upgrade.sh"] == render_script(INPUTS)
    assert "TARGET=1.37.1\n" in render_script(INPUTS)
    assert "POOLS=(general gpu)\n" in render_script(INPUTS)


@pytest.mark.parametrize("minor", SUPPORTED_MINORS)
def test_kubernetes_objects_validate(minor: str) -> None:
    _, upgrades = render(INPUTS)
    core = [d for d in documents(upgrades.files) if d["kind"] != "Plan"]
    assert {d["kind"] for d in core} == {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role",
                                         "RoleBinding", "Secret"}
    for obj in core:
        kubernetes_validate.validate(obj, f"{minor}.0", strict=True)


def _crd_schema(kind: str) -> dict[str, Any]:
    path = REF / FLUX_CRDS[kind]
    if not path.exists():
        pytest.skip(f"{path} is missing (the reference data lives in ../shared/ref beside the repository)")
    crd = yaml.safe_load(path.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def test_flux_objects_validate_against_the_flux_crds() -> None:
    controller, _ = render(INPUTS)
    docs = documents(controller.files)
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [
        ("GitRepository", "system-upgrade-controller"), ("Kustomization", "system-upgrade-controller-crd"),
        ("Kustomization", "system-upgrade-controller")]
    for doc in docs:
        jsonschema.validate(doc, _crd_schema(doc["kind"]))
    assert docs[0]["spec"]["ref"] == {"tag": SYSTEM_UPGRADE_CONTROLLER}
    assert docs[2]["spec"]["dependsOn"] == [{"name": "system-upgrade-controller-crd"}]


def test_roll_inputs_from_a_plan_follow_the_fleet_upgrade() -> None:
    fixture = ROOT / "tests" / "fixtures" / "upgrades" / "Pulumi.waves.yaml"
    plan = plan_fleet(load_stack_file(fixture))
    rolling, pending = plan.cluster("stg-eu"), plan.cluster("prod-eu")
    assert roll_inputs(rolling).version == "1.37.1"  # its wave is reached
    assert roll_inputs(pending).version == "1.36.3"  # not yet: it stays
    inputs = roll_inputs(rolling)
    assert inputs.api_server == "https://api.stg-eu.fleet.acme.example:6443"
    assert inputs.etcd_endpoints == tuple(f"https://{m.dns}:2379" for m in rolling.etcd.members)
    assert inputs.pools == ("general",)
