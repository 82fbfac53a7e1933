"""`synth` writes each incarnation's bundle under `addons/<cluster>/` exactly as its
publication holds it: one bucket object per file (path = object key or name)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fleetform.addons.build import addon_context
from fleetform.addons.bundle import render_bundle
from fleetform.addons.model import PUBLICATION_TYPE
from fleetform.engine.synth import CLUSTER_TYPE, addon_bundles, load_stack, write_synth
from fleetform.plan.identity import plan_identity

from .test_stacks import ROOT, facts_for

OBJECT = {"aws": ("aws:s3/bucketObjectv2:BucketObjectv2", "key"),
          "gcp": ("gcp:storage/bucketObject:BucketObject", "name")}


def _records(stack: str) -> tuple[list[dict[str, Any]], dict[str, dict[str, str]], Any]:
    """Records shaped like the engine's: each Cluster, its publication, one object per file."""
    s = load_stack(stack, None)
    identity = plan_identity(s.spec, s.plan)
    records: list[dict[str, Any]] = []
    expected: dict[str, dict[str, str]] = {}
    for plan in s.plan.clusters:
        files = render_bundle(addon_context(s.plan, plan, identity, facts_for(plan.cloud, plan.key))).files()
        expected[plan.context] = files
        cluster = f"urn:pulumi:{stack}::fleetform::{CLUSTER_TYPE}::{plan.key}"
        pub = f"{cluster}$pub"
        records.append({"urn": cluster, "type": CLUSTER_TYPE, "name": plan.key, "parent": None, "inputs": {}})
        records.append({"urn": pub, "type": PUBLICATION_TYPE, "name": f"{plan.key}-addons", "parent": cluster,
                        "inputs": {}})
        type_, field = OBJECT[plan.cloud]
        for i, (path, text) in enumerate(files.items()):
            records.append({"urn": f"{pub}$obj{i}", "type": type_, "name": f"{plan.key}-addons-file-{i}",
                            "parent": pub, "inputs": {field: path, "content": text, "bucket": "b"}})
    return records, expected, s.plan


def test_synth_writes_every_incarnations_bundle_as_published(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    records, expected, plan = _records("prod")
    files = addon_bundles(records, plan)
    # The moving cluster's target is its own folder, named like its kube context.
    assert "edge-fra@gcp-europe-west3" in expected
    for context, bundle in expected.items():
        assert {p.removeprefix(f"addons/{context}/"): t for p, t in files.items()
                if p.startswith(f"addons/{context}/")} == bundle
        assert f"addons/{context}/flux/cni.yaml" in files
    assert len(files) == sum(len(b) for b in expected.values())
    # Written as they are; a second synth replaces the folder (a removed cluster's goes).
    write_synth(tmp_path, files)
    assert (tmp_path / "addons/eu-core/flux/cni.yaml").read_text() == expected["eu-core"]["flux/cni.yaml"]
    (tmp_path / "addons/gone/flux").mkdir(parents=True)
    write_synth(tmp_path, files)
    assert not (tmp_path / "addons/gone").exists()


def test_objects_outside_a_publication_are_not_bundle_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    records, _, plan = _records("dev")
    stray = {"urn": "urn:x::federation-jwks", "type": "aws:s3/bucketObjectv2:BucketObjectv2", "name": "jwks",
             "parent": None, "inputs": {"key": "openid/v1/jwks", "content": "{}"}}
    assert addon_bundles([*records, stray], plan) == addon_bundles(records, plan)
