"""Shared rendering: YAML documents, Flux objects, and the pieces every controller's
pod spec needs (placement on the control plane, workload identity)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fleetform.bootstrap.document import dump_as_written

from .context import Workload
from .model import BUCKET_SOURCE, FLUX_NAMESPACE, AddonFile

MANAGED_BY = {"app.kubernetes.io/managed-by": "fleetform"}
HELM_REPOSITORY_INTERVAL = "24h"
RELEASE_INTERVAL = "30m"
KUSTOMIZATION_INTERVAL = "10m"
RETRY_INTERVAL = "1m"
TIMEOUT = "15m"

# Controllers that call a cloud API run on the control plane: it is up first, its
# machine identity is the fallback, and pools scaling to zero never strand them.
CONTROL_PLANE_SELECTOR = {"node-role.kubernetes.io/control-plane": ""}
CONTROL_PLANE_TOLERATIONS: list[dict[str, Any]] = [
    {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"},
    # Until the cloud controller manager initialised the node.
    {"key": "node.cloudprovider.kubernetes.io/uninitialized", "operator": "Equal", "value": "true",
     "effect": "NoSchedule"},
]
CREDENTIALS_FILE = "credentials.json"


def dump(docs: Iterable[dict[str, Any]]) -> str:
    """Documents as one YAML stream, keys in the order written (stable across runs), block
    style, multi-line strings as literal blocks (scripts stay readable)."""
    return "---\n".join(dump_as_written(d) for d in docs)


def file(path: str, docs: Iterable[dict[str, Any]]) -> AddonFile:
    return AddonFile(path, dump(docs))


def meta(name: str, namespace: str | None = None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    m: dict[str, Any] = {"name": name}
    if namespace is not None:
        m["namespace"] = namespace
    m["labels"] = {**MANAGED_BY, **(labels or {})}
    return m


def namespace(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta(name, labels=labels)}


# ---------------------------------------------------------------- Flux objects


def helm_repository(name: str, url: str) -> dict[str, Any]:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmRepository",
        "metadata": meta(name, FLUX_NAMESPACE),
        "spec": {"url": url, "interval": HELM_REPOSITORY_INTERVAL},
    }


def helm_release(name: str, *, chart: str, version: str, repository: str, target_namespace: str,
                 values: dict[str, Any], depends_on: tuple[str, ...] = (),
                 values_from: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    """A HelmRelease in flux-system installing ``name`` into ``target_namespace``.

    The Helm release's name and storage are ``name`` in ``target_namespace``, exactly what
    ``helm install <name> -n <namespace>`` creates, so a release the boot installer made
    (the CNI) is adopted, not installed twice. Drift detection puts back what someone
    changed or deleted; failed installs are retried forever, failed upgrades rolled back.
    """
    spec: dict[str, Any] = {
        "interval": RELEASE_INTERVAL,
        "releaseName": name,
        "targetNamespace": target_namespace,
        "storageNamespace": target_namespace,
        "chart": {"spec": {
            "chart": chart,
            "version": version,
            "sourceRef": {"kind": "HelmRepository", "name": repository, "namespace": FLUX_NAMESPACE},
            "interval": HELM_REPOSITORY_INTERVAL,
        }},
        "install": {"crds": "CreateReplace", "remediation": {"retries": -1}},
        "upgrade": {"crds": "CreateReplace", "remediation": {"retries": 3, "strategy": "rollback"}},
        "driftDetection": {"mode": "enabled"},
        "timeout": TIMEOUT,
    }
    if depends_on:
        spec["dependsOn"] = [{"name": d} for d in depends_on]
    if values:
        spec["values"] = values
    if values_from:
        spec["valuesFrom"] = list(values_from)
    return {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": meta(name, FLUX_NAMESPACE), "spec": spec}


def kustomization(name: str, path: str, depends_on: tuple[str, ...], *, force: bool = False) -> dict[str, Any]:
    """The Kustomization applying one add-on's folder from the cluster's bucket: pruned,
    health-checked (``wait``), after the add-ons it depends on are ready. ``force``
    replaces objects whose change the API refuses as a patch (a Job's template)."""
    spec: dict[str, Any] = {
        "interval": KUSTOMIZATION_INTERVAL,
        "retryInterval": RETRY_INTERVAL,
        "timeout": TIMEOUT,
        "path": f"./{path}",
        "prune": True,
        "wait": True,
        "force": force,
        "sourceRef": {"kind": "Bucket", "name": BUCKET_SOURCE},
    }
    if depends_on:
        spec["dependsOn"] = [{"name": d} for d in depends_on]
    return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": meta(name, FLUX_NAMESPACE), "spec": spec}


# ---------------------------------------------------------------- workload identity


def identity_env(w: Workload, credentials_dir: str) -> list[dict[str, Any]]:
    """Environment of a container that uses its federated identity."""
    if w.aws_role_arn is not None:
        return [{"name": "AWS_ROLE_ARN", "value": w.aws_role_arn},
                {"name": "AWS_WEB_IDENTITY_TOKEN_FILE", "value": w.token_path}]
    return [{"name": "GOOGLE_APPLICATION_CREDENTIALS", "value": f"{credentials_dir}/{CREDENTIALS_FILE}"}]


def identity_volumes(w: Workload, credentials_configmap: str) -> list[dict[str, Any]]:
    vols: list[dict[str, Any]] = [{"name": "cloud-token", "projected": {"sources": [{"serviceAccountToken": {
        "path": w.token_path.rsplit("/", 1)[1], "audience": w.audience, "expirationSeconds": 3600}}]}}]
    if w.gcp_credentials is not None:
        vols.append({"name": "cloud-credentials", "configMap": {"name": credentials_configmap}})
    return vols


def identity_mounts(w: Workload, credentials_dir: str) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = [
        {"name": "cloud-token", "mountPath": w.token_path.rsplit("/", 1)[0], "readOnly": True}]
    if w.gcp_credentials is not None:
        mounts.append({"name": "cloud-credentials", "mountPath": credentials_dir, "readOnly": True})
    return mounts


def credentials_configmap(w: Workload, name: str, namespace_: str) -> list[dict[str, Any]]:
    """GCP: the external-account file as a ConfigMap (it holds no secret)."""
    if w.gcp_credentials is None:
        return []
    return [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(name, namespace_),
             "data": {CREDENTIALS_FILE: w.gcp_credentials}}]
