"""The rule on customer-managed keys: a cluster that encrypts its etcd data disks and
secrets with its own KMS key does so for every one of them, with the same key."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from policies.rules.base import (
    AWS_VOLUME,
    GCP_DISK,
    GCP_REGION_DISK,
    Context,
    Rule,
    Subject,
    _dict,
    _list,
    _seen,
    ancestry,
    incarnation,
    registry,
    tags,
)

RULES: list[Rule] = []
rule = registry(RULES)

AWS_SECRET = "aws:secretsmanager/secret:Secret"
GCP_SECRET = "gcp:secretmanager/secret:Secret"
_ETCD_PLANE = "fleetform:index:EtcdDataPlane"


def key_of(type_: str, inputs: Mapping[str, Any]) -> str | None:
    """The customer-managed key a disk or secret names (None: the cloud's own key)."""
    if type_ in (AWS_VOLUME, AWS_SECRET):
        value = _seen(inputs.get("kmsKeyId"), "kmsKeyId")
    elif type_ in (GCP_DISK, GCP_REGION_DISK):
        value = _seen(_dict(inputs.get("diskEncryptionKey")).get("kmsKeySelfLink"), "diskEncryptionKey")
    else:
        replicas = _list(_dict(_dict(inputs.get("replication")).get("userManaged")).get("replicas"))
        names = {str(_seen(_dict(_dict(r).get("customerManagedEncryption")).get("kmsKeyName"), "kmsKeyName"))
                 for r in replicas if _dict(r).get("customerManagedEncryption")}
        if len(names) > 1:
            return ",".join(sorted(names))
        missing = any(not _dict(r).get("customerManagedEncryption") for r in replicas)
        value = None if missing or not names else next(iter(names))
    return str(value) if value else None


def _covered(s: Subject) -> bool:
    if s.type in (AWS_SECRET, GCP_SECRET):
        return True
    return s.type in (AWS_VOLUME, GCP_DISK, GCP_REGION_DISK) and (
        tags(s.inputs).get("plane") == "etcd" or _ETCD_PLANE in ancestry(s.urn))


@rule("customer-managed-keys",
      "A cluster that names its own KMS key (encryption.kms) encrypts every etcd data disk "
      "and every secret in the cloud's secret store with it; none falls back to the "
      "cloud's own key, none uses another key.",
      stack=True)
def customer_managed_keys(subjects: Sequence[Subject], context: Context) -> Iterator[tuple[str, str]]:
    by_cluster: dict[str, list[tuple[Subject, str | None]]] = {}
    for s in subjects:
        if _covered(s):
            by_cluster.setdefault(incarnation(s.inputs), []).append((s, key_of(s.type, s.inputs)))
    for cluster, found in sorted(by_cluster.items()):
        keys = sorted({k for _, k in found if k})
        if not keys:
            continue
        if len(keys) > 1:
            for s, k in found:
                if k:
                    yield s.urn, f"{cluster or 'this cluster'} uses several keys ({', '.join(keys)}); one cluster, one key"
        for s, k in found:
            if not k:
                what = "secret" if s.type in (AWS_SECRET, GCP_SECRET) else "etcd data disk"
                yield s.urn, (f"this {what} uses the cloud's own key while {cluster or 'its cluster'} encrypts "
                              f"with {keys[0]}")
