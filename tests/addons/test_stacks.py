"""Every example stack: each cluster incarnation gets a complete bundle whose every
document is valid, built from the real plan."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fleetform.addons.build import CloudFacts, addon_context
from fleetform.addons.bundle import render_bundle
from fleetform.addons.context import CONTROLLERS
from fleetform.engine.synth import load_stack
from fleetform.plan.identity import plan_identity

from .schemas import check_flux, check_manifest, check_values, is_flux

ROOT = Path(__file__).resolve().parents[2]
STACKS = sorted(p.name.split(".")[1] for p in (ROOT / "stacks").glob("Pulumi.*.yaml"))


def facts_for(cloud: str, key: str, pools: dict[str, tuple[str, ...]]) -> CloudFacts:
    """What the cloud would report (names shaped like the adapters'), identities federated."""
    ref = ("arn:aws:iam::123456789012:role/{c}" if cloud == "aws"
           else '{{"type": "external_account", "audience": "{c}"}}')
    return CloudFacts(
        identities={c: ref.format(c=c) for c in CONTROLLERS},
        network=f"{key}-network", subnetwork=f"{key}-network-nodes", node_tag=f"{key}-node",
        groups={p: {z: f"{key}-workers-{p}-{z}" for z in zones} for p, zones in pools.items()},
        snapshot_bucket=f"{key}-snapshots", snapshot_writer="arn:aws:iam::123456789012:role/snap",
        snapshot_credentials='{"type": "external_account"}')


@pytest.mark.parametrize("stack", STACKS)
def test_every_cluster_gets_a_valid_bundle(stack: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    s = load_stack(stack, None)
    identity = plan_identity(s.spec, s.plan)
    assert s.plan.clusters
    for plan in s.plan.clusters:
        facts = facts_for(plan.cloud, plan.key, {p.name: p.zones for p in plan.workers})
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
