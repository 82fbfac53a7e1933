"""Checks of rendered add-on documents against the upstream reference data in
``<repo>/../shared/ref`` (charts' values schemas and values, Flux CRDs) and the
Kubernetes API schemas (kubernetes-validate)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

REF = Path(__file__).resolve().parents[2].parent / "shared" / "ref"

# Helm chart (as the HelmRelease names it) -> its folder in the reference data.
CHART_DIRS = {
    "cilium": "cilium",
    "tigera-operator": "tigera-operator",
    "flannel": "flannel",
    "aws-cloud-controller-manager": "aws-cloud-controller-manager",
    "aws-ebs-csi-driver": "aws-ebs-csi-driver",
    "cluster-autoscaler": "cluster-autoscaler",
    "metrics-server": "metrics-server",
    "kubelet-csr-approver": "kubelet-csr-approver",
}
# Charts whose values are not in the reference data yet: the keys their templates read,
# each with its type (postfinance/kubelet-csr-approver, charts/kubelet-csr-approver/
# templates/deployment.yaml: env PROVIDER_REGEX, PROVIDER_IP_PREFIXES (the list joined
# with ","), MAX_EXPIRATION_SECONDS, BYPASS_DNS_RESOLUTION, IGNORE_NON_SYSTEM_NODE,
# ALLOWED_DNS_NAMES, BYPASS_HOSTNAME_CHECK; image.repository, image.tag). Used only while ../shared/ref lacks the chart.
TEMPLATE_ONLY: dict[str, dict[str, type | tuple[type, ...]]] = {
    "kubelet-csr-approver": {
        "providerRegex": str, "providerIpPrefixes": list, "maxExpirationSeconds": str,
        "bypassDnsResolution": bool, "ignoreNonSystemNode": bool, "allowedDnsNames": int,
        "bypassHostnameCheck": bool, "image": dict,
    },
}
# Maps a chart documents as free-form although its values.yaml fills in a few entries.
FREE_FORM = {"cluster-autoscaler": {".extraArgs"}}
# Keys a chart's templates read although its values.yaml does not list them (each checked
# in the chart's template at the pinned version).
TEMPLATE_KEYS = {
    # templates/daemonset.yaml: `{{- if .Values.hostNetworking }} hostNetwork: true`
    "aws-cloud-controller-manager": {"hostNetworking"},
}
# Charts without values at all (CRDs only): no values may be given.
VALUELESS_CHARTS = {"crd.projectcalico.org.v1"}
FLUX_CRDS = {
    ("source.toolkit.fluxcd.io", "Bucket"): "source.toolkit.fluxcd.io_buckets.yaml",
    ("source.toolkit.fluxcd.io", "GitRepository"): "source.toolkit.fluxcd.io_gitrepositories.yaml",
    ("source.toolkit.fluxcd.io", "HelmRepository"): "source.toolkit.fluxcd.io_helmrepositories.yaml",
    ("source.toolkit.fluxcd.io", "OCIRepository"): "source.toolkit.fluxcd.io_ocirepositories.yaml",
    ("helm.toolkit.fluxcd.io", "HelmRelease"): "helm.toolkit.fluxcd.io_helmreleases.yaml",
    ("kustomize.toolkit.fluxcd.io", "Kustomization"): "kustomize.toolkit.fluxcd.io_kustomizations.yaml",
}


def need_ref() -> Path:
    if not REF.is_dir():
        pytest.skip(f"reference data missing: {REF} (clone the repo beside shared/)")
    return REF


# ---------------------------------------------------------------- strictness


def undeclared(schema: dict[str, Any], value: Any, path: str = "") -> Iterator[str]:
    """Keys of ``value`` that ``schema`` does not declare, where it declares its keys
    (``properties`` without ``additionalProperties``/``x-kubernetes-preserve-unknown-fields``):
    Helm and the API server would silently drop them."""
    if isinstance(value, dict) and isinstance(schema, dict):
        props = schema.get("properties")
        free = (schema.get("x-kubernetes-preserve-unknown-fields") or "additionalProperties" in schema
                or "patternProperties" in schema)
        for k, v in value.items():
            sub = (props or {}).get(k)
            if sub is None:
                if props is not None and not free:
                    yield f"{path}.{k}"
                elif isinstance(schema.get("additionalProperties"), dict):
                    yield from undeclared(schema["additionalProperties"], v, f"{path}.{k}")
                continue
            yield from undeclared(sub, v, f"{path}.{k}")
    elif isinstance(value, list) and isinstance(schema, dict) and isinstance(schema.get("items"), dict):
        for i, v in enumerate(value):
            yield from undeclared(schema["items"], v, f"{path}[{i}]")


def unknown_keys(defaults: Any, value: Any, path: str = "", free: frozenset[str] = frozenset(),
                 commented: frozenset[str] = frozenset()) -> Iterator[str]:
    """Keys of ``value`` absent from the chart's ``values.yaml``. A map the chart leaves
    empty (``{}``) or unset (null), or one in ``free``, is free-form; a key the file
    documents as a commented-out example (``# mtu: 1500``, in ``commented``) is known,
    and its contents are not checked; lists are not descended."""
    if not isinstance(value, dict) or path in free:
        return
    if not isinstance(defaults, dict) or not defaults:
        return
    for k, v in value.items():
        if k in defaults:
            yield from unknown_keys(defaults[k], v, f"{path}.{k}", free, commented)
        elif k not in commented:
            yield f"{path}.{k}"


def commented_keys(text: str) -> frozenset[str]:
    """Keys a values.yaml documents in comments: ``#backendPort: 0``, ``# cni:``."""
    return frozenset(re.findall(r"^\s*#\s*([A-Za-z_][\w-]*):", text, flags=re.M))


# ---------------------------------------------------------------- Helm values


@cache
def _chart_schema(chart: str) -> dict[str, Any] | None:
    p = need_ref() / "charts" / CHART_DIRS[chart] / "values.schema.json"
    return json.loads(p.read_text()) if p.exists() else None


@cache
def _chart_values_text(chart: str) -> str:
    return (need_ref() / "charts" / CHART_DIRS[chart] / "values.yaml").read_text()


def check_values(chart: str, values: dict[str, Any]) -> None:
    """The chart's schema where it has one (and every key declared in it), else every key
    present in its values.yaml."""
    if chart in VALUELESS_CHARTS:
        assert not values, f"{chart} takes no values"
        return
    if chart in TEMPLATE_ONLY and not (need_ref() / "charts" / CHART_DIRS[chart]).is_dir():
        keys = TEMPLATE_ONLY[chart]
        assert set(values) <= set(keys), f"{chart}: keys its templates do not read: {sorted(set(values) - set(keys))}"
        wrong = [k for k, v in values.items() if not isinstance(v, keys[k])]
        assert wrong == [], f"{chart}: values of the wrong type: {wrong}"
        return
    schema = _chart_schema(chart)
    if schema is not None:
        jsonschema.validate(values, schema)
        extra = list(undeclared(schema, values))
        assert extra == [], f"{chart}: keys its schema does not declare: {extra}"
    else:
        text = _chart_values_text(chart)
        unknown = list(unknown_keys(yaml.safe_load(text), values, free=frozenset(FREE_FORM.get(chart, ())),
                                    commented=commented_keys(text) | TEMPLATE_KEYS.get(chart, set())))
        assert unknown == [], f"{chart}: keys not in its values.yaml: {unknown}"


# ---------------------------------------------------------------- Flux objects


@cache
def _crd_schema(group: str, kind: str, version: str) -> dict[str, Any]:
    crd = yaml.safe_load((need_ref() / "crds" / "flux" / FLUX_CRDS[(group, kind)]).read_text())
    for v in crd["spec"]["versions"]:
        if v["name"] == version:
            assert v.get("served", True), f"{group}/{version} {kind} is not served"
            schema: dict[str, Any] = v["schema"]["openAPIV3Schema"]
            return schema
    raise AssertionError(f"{kind} has no version {version} in {FLUX_CRDS[(group, kind)]}")


def is_flux(obj: dict[str, Any]) -> bool:
    return obj["apiVersion"].split("/")[0].endswith(".toolkit.fluxcd.io")


def check_flux(obj: dict[str, Any]) -> None:
    group, version = obj["apiVersion"].split("/")
    schema = _crd_schema(group, obj["kind"], version)
    jsonschema.validate(obj, schema)
    extra = [p for p in undeclared(schema, obj) if not p.startswith(".metadata.")]
    assert extra == [], f"{obj['kind']} {obj['metadata']['name']}: fields the CRD does not declare: {extra}"


# ---------------------------------------------------------------- plain manifests


# Custom resources without a reference CRD in ../shared/ref: their shape is tested where
# they are rendered (system-upgrade-controller Plans: tests/upgrades/test_upgrade_addon.py).
UNCHECKED_GROUPS = frozenset({"upgrade.cattle.io"})


def check_manifest(obj: dict[str, Any], kubernetes_version: str) -> None:
    if obj["apiVersion"].split("/")[0] in UNCHECKED_GROUPS:
        return
    kubernetes_validate.validate(obj, kubernetes_version, strict=True)
