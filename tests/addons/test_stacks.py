"""Every example stack: each cluster incarnation gets a complete bundle whose every
document is valid, built from the real plan."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fleetform.addons.build import CloudFacts, addon_context, cluster_addons
from fleetform.addons.bundle import render_bundle
from fleetform.addons.context import CONTROLLERS, LOG_SHIPPER
from fleetform.engine.synth import load_stack
from fleetform.plan import names
from fleetform.plan.cni import helm_values
from fleetform.plan.identity import plan_identity

from .schemas import check_flux, check_manifest, check_values, is_flux

ROOT = Path(__file__).resolve().parents[2]
STACKS = sorted(p.name.split(".")[1] for p in (ROOT / "stacks").glob("Pulumi.*.yaml"))


def facts_for(cloud: str, key: str) -> CloudFacts:
    """What the cloud would report (names shaped like the adapters'), identities federated."""
    ref = ("arn:aws:iam::123456789012:role/{c}" if cloud == "aws"
           else '{{"type": "external_account", "audience": "{c}"}}')
    return CloudFacts(
        identities={c: ref.format(c=c) for c in (*CONTROLLERS, LOG_SHIPPER)},
        network=f"{key}-network", subnetwork=f"{key}-network-nodes",
        snapshot_bucket=f"{key}-snapshots", snapshot_writer="arn:aws:iam::123456789012:role/snap",
        snapshot_credentials='{"type": "external_account"}')


@pytest.mark.parametrize("stack", STACKS)
def test_every_cluster_gets_a_valid_bundle(stack: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    s = load_stack(stack, None)
    identity = plan_identity(s.spec, s.plan)
    assert s.plan.clusters
    for plan in s.plan.clusters:
        facts = facts_for(plan.cloud, plan.key)
        bundle = render_bundle(addon_context(s.plan, plan, identity, facts))
        names = {a.name for a in bundle.addons}
        assert {"cni", "cloud-controller-manager", "csi", "cluster-autoscaler", "metrics-server"} <= names
        minor = ".".join(plan.kubernetes_version.split(".")[:2])
        for text in bundle.files().values():
            for obj in yaml.safe_load_all(text):
                if is_flux(obj):
                    check_flux(obj)
                    if obj["kind"] == "HelmRelease":
                        check_values(obj["spec"]["chart"]["spec"]["chart"], obj["spec"].get("values", {}))
                else:
                    check_manifest(obj, f"{minor}.0")


def test_bundles_follow_the_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    s = load_stack("prod", None)
    identity = plan_identity(s.spec, s.plan)
    seen_gcp = seen_source = False
    for plan in s.plan.clusters:
        bundle = render_bundle(addon_context(s.plan, plan, identity, facts_for(plan.cloud, plan.key)))
        docs = [d for text in bundle.files().values() for d in yaml.safe_load_all(text)]
        releases = {d["metadata"]["name"]: d for d in docs if d["kind"] == "HelmRelease"}
        # The CNI's values are the plan's (plus image digests), in its namespace.
        planned = helm_values(plan.cni)
        for pin in plan.cni.charts:
            spec = releases[pin.release]["spec"]
            assert spec["targetNamespace"] == plan.cni.namespace and spec["chart"]["spec"]["version"] == pin.version
            got = spec.get("values", {})
            assert {k: v for k, v in got.items() if k not in ("image", "operator")} == planned[pin.release]
        # What plan lists is what the bundle holds.
        listed = cluster_addons(s.plan, plan, identity)
        assert [n for n, _ in listed] == [a.name for a in bundle.addons]
        for (_, what), addon in zip(listed, bundle.addons, strict=True):
            assert addon.version in what
        seen_source |= any(a.name == "etcd-snapshots" for a in bundle.addons)
        if plan.cloud == "gcp":
            seen_gcp = True
            groups = releases["cluster-autoscaler"]["spec"]["values"]["autoscalingGroups"]
            for pool in plan.workers:
                mine = [g for g in groups if any(g["name"].endswith(
                    f"/zones/{z}/instanceGroups/{names.zonal_worker_group(plan.key, pool.name, z)}") for z in pool.zones)]
                assert len(mine) == len(pool.zones)
                assert sum(g["minSize"] for g in mine) == pool.min and sum(g["maxSize"] for g in mine) == pool.max
    assert seen_gcp and seen_source
