"""cluster-autoscaler: adds nodes for pending pods and drains nodes before removing them.

AWS: auto-discovery of the cluster's Auto Scaling groups by the tags each group carries
(``k8s.io/cluster-autoscaler/enabled`` and ``k8s.io/cluster-autoscaler/<cluster>``);
the groups' own min/max sizes bound it, and ``node-template`` label tags let it scale a
labelled pool up from zero. GCP: every zonal MIG named with its min:max (MIGs carry no
size bounds), a pool's min/max split across its zones by ``fleetform.plan.pools`` (the
same split the adapter starts each MIG at). The autoscaler does not support regional
MIGs.
"""

from __future__ import annotations

from typing import Any

from fleetform.catalog.versions import ADDON_CHARTS, ADDON_IMAGES

from .context import AUTOSCALER, SERVICE_ACCOUNTS, AddonContext
from .model import Addon
from .render import (
    CONTROL_PLANE_SELECTOR,
    CONTROL_PLANE_TOLERATIONS,
    credentials_configmap,
    file,
    helm_release,
    helm_repository,
)

NAME = "cluster-autoscaler"
RELEASE = "cluster-autoscaler"
NAMESPACE = SERVICE_ACCOUNTS[("aws", AUTOSCALER)][0]
CREDENTIALS_CONFIGMAP = "cluster-autoscaler-credentials"
CREDENTIALS_DIR = "/etc/fleetform/credentials"


def discovery_tags(cluster: str) -> tuple[str, ...]:
    """The ASG tag keys auto-discovery matches (any value)."""
    return ("k8s.io/cluster-autoscaler/enabled", f"k8s.io/cluster-autoscaler/{cluster}")


def mig_url(project: str, zone: str, name: str) -> str:
    return f"https://www.googleapis.com/compute/v1/projects/{project}/zones/{zone}/instanceGroups/{name}"


def values(ctx: AddonContext) -> dict[str, Any]:
    sa = SERVICE_ACCOUNTS[(ctx.cloud, AUTOSCALER)][1]
    repo, tag, digest = ADDON_IMAGES["cluster-autoscaler"]
    out: dict[str, Any] = {
        "image": {"repository": repo, "tag": f"{tag}@{digest}" if digest else tag},
        "fullnameOverride": RELEASE,
        "nodeSelector": dict(CONTROL_PLANE_SELECTOR),
        "tolerations": list(CONTROL_PLANE_TOLERATIONS),
        "rbac": {"serviceAccount": {"create": True, "name": sa}},
        "extraArgs": {
            "logtostderr": True,
            "stderrthreshold": "info",
            "v": 2,
            # Pools spread over zones: keep their groups the same size.
            "balance-similar-node-groups": True,
            "expander": "least-waste",
            "skip-nodes-with-local-storage": False,
        },
    }
    w = ctx.identity(AUTOSCALER)
    if ctx.cloud == "aws":
        out["cloudProvider"] = "aws"
        out["awsRegion"] = ctx.region
        out["autoDiscovery"] = {"clusterName": ctx.cluster, "tags": list(discovery_tags(ctx.cluster))}
        if w is not None and w.aws_role_arn is not None:
            out["extraEnv"] = {"AWS_ROLE_ARN": w.aws_role_arn, "AWS_WEB_IDENTITY_TOKEN_FILE": w.token_path}
    else:
        if ctx.project is None:
            raise ValueError(f"cluster {ctx.cluster}: the GCP autoscaler needs the project")
        out["cloudProvider"] = "gce"
        out["autoscalingGroups"] = [
            {"name": mig_url(ctx.project, g.zone or "", g.name), "minSize": g.min, "maxSize": g.max}
            for g in ctx.node_groups]
        if w is not None:
            out["extraEnv"] = {"GOOGLE_APPLICATION_CREDENTIALS": f"{CREDENTIALS_DIR}/credentials.json"}
    if w is not None:
        token_dir, token_file = w.token_path.rsplit("/", 1)
        volumes: list[dict[str, Any]] = [{"name": "cloud-token", "projected": {"sources": [{
            "serviceAccountToken": {"path": token_file, "audience": w.audience, "expirationSeconds": 3600}}]}}]
        mounts: list[dict[str, Any]] = [{"name": "cloud-token", "mountPath": token_dir, "readOnly": True}]
        if w.gcp_credentials is not None:
            volumes.append({"name": "cloud-credentials", "configMap": {"name": CREDENTIALS_CONFIGMAP}})
            mounts.append({"name": "cloud-credentials", "mountPath": CREDENTIALS_DIR, "readOnly": True})
        out["extraVolumes"] = volumes
        out["extraVolumeMounts"] = mounts
    return out


def render(ctx: AddonContext) -> Addon:
    chart, version, url = ADDON_CHARTS["cluster-autoscaler"]
    w = ctx.identity(AUTOSCALER)
    docs = [
        *(credentials_configmap(w, CREDENTIALS_CONFIGMAP, NAMESPACE) if w is not None else []),
        helm_repository("autoscaler", url),
        helm_release(RELEASE, chart=chart, version=version, repository="autoscaler",
                     target_namespace=NAMESPACE, values=values(ctx)),
    ]
    return Addon(NAME, version, NAMESPACE, ("cloud-controller-manager",), (file(f"{NAME}/{ctx.cloud}.yaml", docs),))
