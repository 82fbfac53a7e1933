"""The add-on bundle: what each cluster applies from inside itself, checked against the
upstream schemas (charts' values, Flux CRDs, the Kubernetes API)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from fleetform.addons.bundle import render_bundle
from fleetform.addons.context import AUTOSCALER, CCM, AddonContext
from fleetform.addons.model import BUCKET_SOURCE, CNI_SECRET_VALUES, FLUX_DIR, Bundle
from fleetform.plan.model import PoolPlan
from fleetform.plan.pools import zonal_groups

from . import fixtures
from .schemas import check_flux, check_manifest, check_values, is_flux

CASES = sorted(fixtures.ALL)


def docs(bundle: Bundle) -> list[tuple[str, dict[str, Any]]]:
    return [(path, d) for path, text in bundle.files().items() for d in yaml.safe_load_all(text) if d]


def by_kind(bundle: Bundle, kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for _, d in docs(bundle) if d["kind"] == kind}


@pytest.fixture(params=CASES)
def case(request: pytest.FixtureRequest) -> tuple[AddonContext, Bundle]:
    make: Callable[[], AddonContext] = fixtures.ALL[request.param]
    ctx = make()
    return ctx, render_bundle(ctx)


def test_every_document_is_valid(case: tuple[AddonContext, Bundle]) -> None:
    ctx, bundle = case
    seen = 0
    for _, obj in docs(bundle):
        if is_flux(obj):
            check_flux(obj)
            if obj["kind"] == "HelmRelease":
                check_values(obj["spec"]["chart"]["spec"]["chart"], obj["spec"].get("values", {}))
        else:
            check_manifest(obj, f"{ctx.minor}.0")
        seen += 1
    assert seen > 10


def test_one_kustomization_per_addon_cni_first(case: tuple[AddonContext, Bundle]) -> None:
    _, bundle = case
    ks = by_kind(bundle, "Kustomization")
    assert sorted(ks) == sorted(a.name for a in bundle.addons)
    assert ks["cni"]["spec"].get("dependsOn") is None
    for name, k in ks.items():
        assert k["spec"]["path"] == f"./{name}"
        assert k["spec"]["prune"] is True and k["spec"]["wait"] is True
        assert k["spec"]["sourceRef"] == {"kind": "Bucket", "name": BUCKET_SOURCE}
        # Every add-on waits, directly or not, for the CNI.
        chain, seen = [name], set()
        while chain:
            n = chain.pop()
            seen.add(n)
            chain += [d["name"] for d in ks[n]["spec"].get("dependsOn", [])]
        assert "cni" in seen
    # The Kustomizations live apart from the folders they apply (no one applies itself).
    assert {p.split("/")[0] for p, _ in docs(bundle) if _["kind"] == "Kustomization"} == {FLUX_DIR}


def test_every_file_belongs_to_an_addon_folder(case: tuple[AddonContext, Bundle]) -> None:
    _, bundle = case
    for a in bundle.addons:
        assert all(f.path.startswith(f"{a.name}/") for f in a.files)


def test_version_is_stable_and_follows_content() -> None:
    a, b = render_bundle(fixtures.aws()), render_bundle(fixtures.aws())
    assert a.version == b.version and a.files() == b.files()
    moved = render_bundle(fixtures.aws(region="eu-central-1"))
    assert moved.version != a.version
    assert render_bundle(fixtures.gcp()).version != a.version


def test_helm_release_names_match_boot_installs() -> None:
    from fleetform.addons.cni import boot_releases

    ctx = fixtures.aws()
    bundle = render_bundle(ctx)
    releases = by_kind(bundle, "HelmRelease")
    for r in boot_releases(ctx):
        hr = releases[r.release]["spec"]
        assert (hr["releaseName"], hr["targetNamespace"], hr["storageNamespace"]) == (
            r.release, ctx.cni.namespace, ctx.cni.namespace)
        assert hr["values"] == r.values
        assert hr["chart"]["spec"]["version"] == r.version


def test_mesh_member_reads_its_ca_from_the_boot_secret() -> None:
    hr = by_kind(render_bundle(fixtures.aws()), "HelmRelease")["cilium"]["spec"]
    assert hr["valuesFrom"] == [{"kind": "Secret", "name": CNI_SECRET_VALUES, "valuesKey": "values.yaml"}]
    assert "tls" not in hr["values"]  # no key material in the bundle
    assert hr["values"]["clustermesh"] == fixtures.CILIUM_VALUES["clustermesh"]
    assert hr["values"]["image"]["useDigest"] is True


def test_calico_crds_before_operator() -> None:
    rel = by_kind(render_bundle(fixtures.gcp()), "HelmRelease")
    assert rel["calico"]["spec"]["dependsOn"] == [{"name": "calico-crds"}]
    assert "values" not in rel["calico-crds"]["spec"]


def test_flannel_namespace_allows_its_privileged_pods() -> None:
    ns = by_kind(render_bundle(fixtures.flannel()), "Namespace")["kube-flannel"]
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


def test_aws_autoscaler_discovers_the_groups_by_their_tags() -> None:
    values = by_kind(render_bundle(fixtures.aws()), "HelmRelease")["cluster-autoscaler"]["spec"]["values"]
    assert values["cloudProvider"] == "aws" and values["awsRegion"] == "eu-west-1"
    assert values["autoDiscovery"]["tags"] == ["k8s.io/cluster-autoscaler/enabled",
                                               "k8s.io/cluster-autoscaler/eu-core"]
    assert values["extraEnv"]["AWS_ROLE_ARN"].endswith(":role/acme-prod-cluster-autoscaler-eu-core")
    assert "autoscalingGroups" not in values


def test_gcp_autoscaler_names_every_zonal_mig_with_its_bounds() -> None:
    values = by_kind(render_bundle(fixtures.gcp()), "HelmRelease")["cluster-autoscaler"]["spec"]["values"]
    assert values["cloudProvider"] == "gce"
    assert values["autoscalingGroups"][0] == {
        "name": "https://www.googleapis.com/compute/v1/projects/acme-fleet/zones/europe-west4-a/"
                "instanceGroups/gcp-core-workers-general-europe-west4-a",
        "minSize": 1, "maxSize": 4}
    assert [g["maxSize"] for g in values["autoscalingGroups"]] == [4, 3, 3]


def test_pool_bounds_split_across_zones() -> None:
    groups = zonal_groups("k", PoolPlan("general", "e2-standard-4", 1, 10, ("a", "b", "c"), ()))
    assert [(g.min, g.max) for g in groups] == [(1, 4), (0, 3), (0, 3)]
    assert sum(g.max for g in groups) == 10 and sum(g.min for g in groups) == 1


def test_controllers_use_their_federated_identity_or_the_control_plane() -> None:
    aws = by_kind(render_bundle(fixtures.aws()), "HelmRelease")
    ccm_env = {e["name"]: e["value"] for e in aws["aws-cloud-controller-manager"]["spec"]["values"]["env"]}
    assert ccm_env["AWS_ROLE_ARN"] == dict(fixtures.aws().identities)[CCM].aws_role_arn
    assert ccm_env["AWS_WEB_IDENTITY_TOKEN_FILE"] == fixtures.AWS_TOKEN
    # On the host network: the metadata service answers one hop only.
    assert aws["aws-cloud-controller-manager"]["spec"]["values"]["hostNetworking"] is True
    for name in ("aws-cloud-controller-manager", "cluster-autoscaler"):
        assert aws[name]["spec"]["values"].get("nodeSelector", {"node-role.kubernetes.io/control-plane": ""}) == {
            "node-role.kubernetes.io/control-plane": ""}
    # On AWS, pods cannot borrow the instance role (IMDSv2, one hop): no identity, no bundle.
    with pytest.raises(ValueError, match=r"cluster-autoscaler need a federated identity"):
        render_bundle(fixtures.aws(identities=tuple(
            (c, w) for c, w in fixtures.aws().identities if c != AUTOSCALER)))
    gcp = render_bundle(fixtures.gcp())
    config = by_kind(gcp, "ConfigMap")["cloud-controller-manager-config"]["data"]["cloud.config"]
    assert "token-url = nil" in config and "project-id = acme-fleet" in config
    machine = render_bundle(fixtures.gcp(identities=()))
    assert "token-url" not in by_kind(machine, "ConfigMap")["cloud-controller-manager-config"]["data"]["cloud.config"]
    assert AUTOSCALER not in dict(fixtures.gcp(identities=()).identities)


def test_one_encrypted_default_storage_class() -> None:
    for make in (fixtures.aws, fixtures.gcp):
        classes = by_kind(render_bundle(make()), "StorageClass")
        defaults = [c for c in classes.values()
                    if c["metadata"].get("annotations", {}).get("storageclass.kubernetes.io/is-default-class") == "true"]
        assert len(defaults) == 1
        sc = defaults[0]
        assert sc["volumeBindingMode"] == "WaitForFirstConsumer"
    ebs = by_kind(render_bundle(fixtures.aws()), "StorageClass")["encrypted"]
    assert ebs["parameters"]["encrypted"] == "true" and ebs["provisioner"] == "ebs.csi.aws.com"


def test_tenants_and_snapshots_only_where_planned() -> None:
    assert "access" in {a.name for a in render_bundle(fixtures.aws()).addons}
    assert "access" not in {a.name for a in render_bundle(fixtures.flannel()).addons}
    src = render_bundle(fixtures.ALL["aws-migration-source"]())
    assert "etcd-snapshots" in {a.name for a in src.addons}
    ks = by_kind(src, "Kustomization")["etcd-snapshots"]
    assert ks["spec"]["force"] is True
    ns = by_kind(render_bundle(fixtures.aws()), "Namespace")["payments"]
    assert ns["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/prune"] == "disabled"


def test_images_are_pinned() -> None:
    for make in fixtures.ALL.values():
        for _, d in docs(render_bundle(make())):
            for pod in _pods(d):
                for c in pod["containers"]:
                    image = c["image"]
                    assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), image


def _pods(d: dict[str, Any]) -> list[dict[str, Any]]:
    spec = d.get("spec", {})
    if d["kind"] in ("Deployment", "DaemonSet", "Job"):
        return [spec["template"]["spec"]]
    if d["kind"] == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]["spec"]]
    return []


def test_the_checks_catch_what_upstream_would_drop() -> None:
    """The validators themselves: an unknown value, Flux field or manifest field fails."""
    import jsonschema
    import kubernetes_validate

    bundle = render_bundle(fixtures.aws())
    hr = by_kind(bundle, "HelmRelease")
    with pytest.raises(AssertionError, match=r"keys not in its values\.yaml"):
        check_values("cluster-autoscaler", {**hr["cluster-autoscaler"]["spec"]["values"], "autoDiscovry": {}})
    with pytest.raises(jsonschema.ValidationError, match="regoin"):
        check_values("aws-ebs-csi-driver", {"controller": {"regoin": "eu-west-1"}})
    with pytest.raises(AssertionError, match="does not declare"):
        check_values("cilium", {"clustermesh": {"useAPIServr": True}})
    with pytest.raises(AssertionError, match="does not declare"):
        check_flux({**hr["metrics-server"], "spec": {**hr["metrics-server"]["spec"], "pruneOrphans": True}})
    ks = by_kind(bundle, "Kustomization")["cni"]
    with pytest.raises(jsonschema.ValidationError):
        check_flux({**ks, "spec": {**ks["spec"], "prune": "yes"}})
    sc = by_kind(bundle, "StorageClass")["encrypted"]
    with pytest.raises(kubernetes_validate.ValidationError):
        check_manifest({**sc, "volumeBindingMod": "Immediate"}, "1.37.0")


def test_every_object_has_one_owner(case: tuple[AddonContext, Bundle]) -> None:
    """No object is declared twice (two Kustomizations would fight over it), and every
    namespaced object names its namespace (Flux applies them as written)."""
    _, bundle = case
    seen: dict[tuple[str, str, str, str], str] = {}
    for path, d in docs(bundle):
        ident = (d["apiVersion"].split("/")[0], d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"])
        assert ident not in seen, f"{ident} in {path} and {seen[ident]}"
        seen[ident] = path
        cluster_scoped = d["kind"] in {"Namespace", "ClusterRole", "ClusterRoleBinding", "StorageClass", "CSIDriver"}
        assert cluster_scoped or d["metadata"].get("namespace"), f"{d['kind']} {d['metadata']['name']} in {path}"


def test_version_is_the_same_in_another_process() -> None:
    """Stable across runs: no hash seed, set order or time reaches the bundle."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = ("from tests.addons import fixtures; from fleetform.addons.bundle import render_bundle; "
            "print(*(render_bundle(m()).version for _, m in sorted(fixtures.ALL.items())))")
    runs = {subprocess.run([sys.executable, "-c", code], cwd=root, env={"PYTHONHASHSEED": seed},
                           capture_output=True, text=True, check=True, timeout=120).stdout
            for seed in ("1", "2")}
    here = " ".join(render_bundle(m()).version for _, m in sorted(fixtures.ALL.items())) + "\n"
    assert runs == {here}
