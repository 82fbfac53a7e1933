"""The etcd data of a migration (``migrate.data: etcd-snapshot``), as pure documents.

Path of the data::

    source etcd --(etcdctl snapshot save, from a Job on a source control-plane node)-->
    snapshot bucket in the TARGET cloud (encrypted, lifecycle = snapshots.retention_days)
    --(each target etcd member at first boot: download, etcdutl snapshot restore)--> target etcd

- The Job authenticates to etcd with the control plane's own etcd client certificate
  (host files of the node it runs on) and to the target cloud with the fleet's workload
  identity federation: its service account's projected token is exchanged for the
  snapshot writer role (AWS) or service account (GCP). No key is stored anywhere.
- The migration snapshot is written once, under a key fixed by the plan, with a
  create-only condition (S3 ``If-None-Match: *``, Cloud Storage ``ifGenerationMatch=0``):
  every target member restores exactly the same bytes, whatever the order they boot in.
  The target's etcd machines are created only after the Job completed.
- A CronJob saves further snapshots on ``snapshots.schedule`` under ``periodic/`` while the
  migration runs (for a later restore by hand; never restored automatically).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any, Literal

from .bootstrap.etcd import etcd_release_asset, etcd_release_url
from .bootstrap.kubeadm import ETCD_CA, ETCD_CLIENT_CERT, ETCD_CLIENT_KEY
from .identity_plan import AWS_AUDIENCE, AWS_TOKEN_PATH, GCP_AUDIENCE, GCP_TOKEN_PATH, MANAGED_BY
from .plan import ClusterPlan

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "fleetform-etcd-snapshot"
JOB = "fleetform-etcd-migration-snapshot"
CRONJOB = "fleetform-etcd-snapshot"
CONFIGMAP = "fleetform-etcd-snapshot"
# Shell-capable images with the target cloud's CLI (the script fetches the pinned etcdctl).
AWS_CLI_IMAGE = "public.ecr.aws/aws-cli/aws-cli:2.27.49"
GCLOUD_IMAGE = "gcr.io/google.com/cloudsdktool/google-cloud-cli:562.0.0-slim"
SCRIPT_PATH = "/fleetform/snapshot.sh"
GCP_CREDENTIALS_PATH = "/fleetform/gcp-credentials.json"
PKI_MOUNT = "/fleetform/pki"


@dataclass(frozen=True)
class SnapshotTransfer:
    """One migration's snapshot: from ``source`` (its etcd members) to ``target``'s bucket."""

    cluster: str
    source_key: str
    target_key: str
    target_cloud: Literal["aws", "gcp"]
    target_region: str
    endpoints: tuple[str, ...]
    etcd_version: str
    etcd_sha256: str | None
    key: str  # the migration snapshot every target member restores
    periodic_prefix: str
    schedule: str
    retention_days: int
    # The workload-identity grant (identity_plan.WorkloadGrant.name) that writes it.
    grant: str


def grant_name(cluster: str) -> str:
    """Name of the workload-identity grant of a cluster's snapshot writer."""
    return f"etcd-snapshot-{cluster}"[:63].rstrip("-")


def transfer(source: ClusterPlan, target: ClusterPlan, *, schedule: str, retention_days: int) -> SnapshotTransfer:
    return SnapshotTransfer(
        cluster=source.name,
        source_key=source.key,
        target_key=target.key,
        target_cloud=target.cloud,
        target_region=target.region,
        endpoints=tuple(f"https://{m.dns}:2379" for m in source.etcd.members),
        etcd_version=source.etcd.version,
        etcd_sha256=source.etcd.sha256,
        key=f"migration/{source.key}.db",
        periodic_prefix=f"periodic/{source.key}/",
        schedule=schedule,
        retention_days=retention_days,
        grant=grant_name(source.name),
    )


# ------------------------------------------------------------------ the script


def snapshot_script(t: SnapshotTransfer) -> str:
    """``snapshot.sh once|periodic BUCKET``: save a snapshot from the first source member
    that answers, then upload it (``once``: the migration key, create-only; ``periodic``:
    a timestamped key). ``FF_ETCDCTL`` (tests) skips fetching etcdctl; ``FF_PKI`` moves the
    certificate directory."""
    asset = etcd_release_asset(t.etcd_version, "amd64")
    url = etcd_release_url(t.etcd_version, "amd64")
    sums = url.rsplit("/", 1)[0] + "/SHA256SUMS"
    expected = (shlex.quote(t.etcd_sha256) if t.etcd_sha256 else
                f"\"$(curl -fsSL --retry 5 {shlex.quote(sums)} | awk -v n={asset} '$2 == n {{ print $1 }}')\"")
    if t.target_cloud == "aws":
        upload = """upload() {  # FILE KEY CREATE_ONLY
  local out
  if [ "$3" = yes ]; then
    if out=$(aws s3api put-object --region "$REGION" --bucket "$BUCKET" --key "$2" --body "$1" \\
        --if-none-match '*' 2>&1); then
      return 0
    fi
    case "$out" in
      *PreconditionFailed*|*"(412)"*) log "s3://$BUCKET/$2 exists already: keeping it"; return 0 ;;
    esac
    echo "$out" >&2
    return 1
  fi
  aws s3 cp --only-show-errors --region "$REGION" "$1" "s3://$BUCKET/$2"
}"""
    else:
        upload = """upload() {  # FILE KEY CREATE_ONLY
  local out
  if [ "$3" = yes ]; then
    if out=$(gcloud storage cp --if-generation-match=0 "$1" "gs://$BUCKET/$2" 2>&1); then
      return 0
    fi
    case "$out" in
      *"Precondition"*|*"412"*) log "gs://$BUCKET/$2 exists already: keeping it"; return 0 ;;
    esac
    echo "$out" >&2
    return 1
  fi
  gcloud storage cp "$1" "gs://$BUCKET/$2"
}"""
    endpoints = " ".join(shlex.quote(e) for e in t.endpoints)
    return f"""#!/bin/bash
# etcd snapshot of cluster {t.cluster} ({t.source_key}) for its move to {t.target_key}
# (generated by fleetform; do not edit)
set -euo pipefail
MODE=$1
BUCKET=$2
{"REGION=" + shlex.quote(t.target_region) + chr(10) if t.target_cloud == "aws" else ""}PKI=${{FF_PKI:-{PKI_MOUNT}}}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
log() {{ echo "etcd-snapshot: $*" >&2; }}

ETCDCTL=${{FF_ETCDCTL:-}}
if [ -z "$ETCDCTL" ]; then
  # etcdctl {t.etcd_version}, the plane's own release, checked before it is unpacked.
  curl -fsSL --retry 5 --max-time 300 -o "$WORK/{asset}" {shlex.quote(url)}
  expected={expected}
  [ -n "$expected" ] || {{ log "no checksum for {asset}"; exit 1; }}
  echo "$expected  $WORK/{asset}" | sha256sum -c - >/dev/null
  tar -xzf "$WORK/{asset}" -C "$WORK" --strip-components=1
  ETCDCTL=$WORK/etcdctl
fi

etcdctl() {{  # ENDPOINT TIMEOUT ARGS...
  local ep=$1 timeout=$2
  shift 2
  ETCDCTL_API=3 "$ETCDCTL" --endpoints="$ep" --cacert="$PKI/etcd-ca.crt" --cert="$PKI/etcd-client.crt" \\
    --key="$PKI/etcd-client.key" --dial-timeout=10s --command-timeout="$timeout" "$@"
}}

saved=
for ep in {endpoints}; do
  # A healthy member first (a snapshot RPC would wait its whole timeout on a dead one).
  if etcdctl "$ep" 15s endpoint health >&2 && etcdctl "$ep" 600s snapshot save "$WORK/snapshot.db" >&2; then
    saved=$ep
    break
  fi
  log "$ep did not give a snapshot; trying the next member"
done
[ -n "$saved" ] || {{ log "no etcd member of {t.source_key} answered"; exit 1; }}
log "saved a snapshot from $saved ($(sha256sum "$WORK/snapshot.db" | cut -d' ' -f1))"

{upload}

case "$MODE" in
  once) upload "$WORK/snapshot.db" {shlex.quote(t.key)} yes ;;
  periodic) upload "$WORK/snapshot.db" "{t.periodic_prefix}$(date -u +%Y%m%dT%H%M%SZ).db" no ;;
  *) log "usage: snapshot.sh once|periodic BUCKET"; exit 2 ;;
esac
log "uploaded ($MODE) to $BUCKET"
"""


# ------------------------------------------------------------------ the objects


def _pod(t: SnapshotTransfer, mode: str, bucket: str, writer: str) -> dict[str, Any]:
    """Runs on a source control-plane node (its etcd client certificate, its network,
    which the etcd firewall admits) as the snapshot service account."""
    aws = t.target_cloud == "aws"
    token_path, audience = (AWS_TOKEN_PATH, AWS_AUDIENCE) if aws else (GCP_TOKEN_PATH, GCP_AUDIENCE)
    token_dir = token_path.rsplit("/", 1)[0]
    env = ([{"name": "AWS_ROLE_ARN", "value": writer}, {"name": "AWS_WEB_IDENTITY_TOKEN_FILE", "value": token_path},
            {"name": "AWS_ROLE_SESSION_NAME", "value": f"etcd-snapshot-{t.cluster}"[:64]}]
           if aws else [{"name": "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE", "value": GCP_CREDENTIALS_PATH},
                        {"name": "GOOGLE_APPLICATION_CREDENTIALS", "value": GCP_CREDENTIALS_PATH}])
    pki = [("etcd-ca.crt", ETCD_CA), ("etcd-client.crt", ETCD_CLIENT_CERT), ("etcd-client.key", ETCD_CLIENT_KEY)]
    volumes: list[dict[str, Any]] = [
        {"name": "script", "configMap": {"name": CONFIGMAP, "defaultMode": 0o555}},
        *({"name": f"pki-{i}", "hostPath": {"path": host, "type": "File"}} for i, (_, host) in enumerate(pki)),
        {"name": "token", "projected": {"sources": [{"serviceAccountToken": {
            "path": "token", "audience": audience, "expirationSeconds": 3600}}]}},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "script", "mountPath": SCRIPT_PATH, "subPath": "snapshot.sh", "readOnly": True},
        *({"name": f"pki-{i}", "mountPath": f"{PKI_MOUNT}/{file}", "readOnly": True}
          for i, (file, _) in enumerate(pki)),
        {"name": "token", "mountPath": token_dir, "readOnly": True},
    ]
    if not aws:
        mounts.append({"name": "script", "mountPath": GCP_CREDENTIALS_PATH, "subPath": "gcp-credentials.json",
                       "readOnly": True})
    return {
        "metadata": {"labels": {"app.kubernetes.io/name": "fleetform-etcd-snapshot", **MANAGED_BY}},
        "spec": {
            "serviceAccountName": SERVICE_ACCOUNT,
            "hostNetwork": True,
            "restartPolicy": "OnFailure",
            "nodeSelector": {"node-role.kubernetes.io/control-plane": ""},
            "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
                             "effect": "NoSchedule"}],
            "containers": [{
                "name": "snapshot",
                "image": AWS_CLI_IMAGE if aws else GCLOUD_IMAGE,
                "command": ["/bin/bash", SCRIPT_PATH, mode, bucket],
                "env": env,
                "volumeMounts": mounts,
                # Root reads the host's 0600 etcd client key; nothing else is privileged.
                "securityContext": {"runAsUser": 0, "allowPrivilegeEscalation": False,
                                    "capabilities": {"drop": ["ALL"], "add": ["DAC_OVERRIDE"]}},
                "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
            }],
            "volumes": volumes,
        },
    }


def snapshot_objects(t: SnapshotTransfer, bucket: str, writer: str,
                     gcp_credentials: str | None = None) -> list[dict[str, Any]]:
    """ServiceAccount, ConfigMap (script, GCP credential file), the one-shot Job and the
    CronJob, for the source cluster. ``writer``: the AWS role ARN or GCP service-account
    email the federation grants; ``gcp_credentials``: the external-account file (GCP)."""
    meta = {"namespace": NAMESPACE, "labels": dict(MANAGED_BY)}
    data = {"snapshot.sh": snapshot_script(t)}
    if t.target_cloud == "gcp":
        if not gcp_credentials:
            raise ValueError("a GCP snapshot bucket needs the workload's external-account credential file")
        data["gcp-credentials.json"] = gcp_credentials
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": SERVICE_ACCOUNT, **meta}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": CONFIGMAP, **meta}, "data": data},
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": JOB, **meta},
         "spec": {"backoffLimit": 6, "activeDeadlineSeconds": 3600,
                  "template": _pod(t, "once", bucket, writer)}},
        {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": CRONJOB, **meta},
         "spec": {"schedule": t.schedule, "concurrencyPolicy": "Forbid", "successfulJobsHistoryLimit": 3,
                  "failedJobsHistoryLimit": 3,
                  "jobTemplate": {"spec": {"backoffLimit": 2, "activeDeadlineSeconds": 3600,
                                           "template": _pod(t, "periodic", bucket, writer)}}}},
    ]
