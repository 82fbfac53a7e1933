"""The rule on state that must survive any single `pulumi up`: etcd data disks and the
fleet root CA are protected."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from policies.rules.base import (
    AWS_VOLUME,
    AWS_VOLUME_ATTACHMENT,
    DYNAMIC,
    ETCD_DISKS,
    GCP_INSTANCE,
    MACHINES,
    TLS_PRIVATE_KEY,
    TLS_SELF_SIGNED,
    Context,
    Rule,
    Subject,
    _dict,
    _list,
    _truthy,
    ancestry,
    machine_role,
    registry,
    tags,
    urn_type,
)

RULES: list[Rule] = []
rule = registry(RULES)



def _by_urn(subjects: Sequence[Subject]) -> dict[str, Subject]:
    return {s.urn: s for s in subjects}


def _etcd_disks(subjects: Sequence[Subject]) -> list[Subject]:
    by_urn = _by_urn(subjects)
    etcd_machines = {s.urn for s in subjects
                     if s.type in MACHINES and machine_role(s.type, s.inputs, s.options) == "etcd"}
    attached: set[str] = set()
    for s in subjects:
        if s.type == AWS_VOLUME_ATTACHMENT and etcd_machines & set(s.options.dependencies):
            attached |= {d for d in s.options.dependencies
                         if d in by_urn and by_urn[d].type == AWS_VOLUME}
        if s.urn in etcd_machines and s.type == GCP_INSTANCE:
            for disk in _list(s.inputs.get("attachedDisks")):
                source = str(_dict(disk).get("source", ""))
                attached |= {d.urn for d in subjects if d.type in ETCD_DISKS
                             and d.inputs.get("name") and source.rsplit("/", 1)[-1] == d.inputs.get("name")}
    return [s for s in subjects if s.type in ETCD_DISKS and (
        s.urn in attached or tags(s.inputs).get("plane") == "etcd"
        or "fleetform:index:EtcdDataPlane" in ancestry(s.urn))]


@rule("protected-etcd-data-and-root-ca",
      "etcd data disks and the fleet root CA (certificate and key) are protected, so no "
      "single `pulumi up` can delete them; only a cluster marked `decommission: true` "
      "releases its etcd disks (step one of the two-step removal), and only a root "
      "rotation in `prepare` releases the retiring root (its successor stays protected).",
      stack=True)
def protected_state(subjects: Sequence[Subject], context: Context) -> Iterator[tuple[str, str]]:
    for disk in _etcd_disks(subjects):
        t = tags(disk.inputs)
        released = {t.get("cluster"), t.get("incarnation")} & context.decommissioning
        if not disk.options.protect and not released:
            who = t.get("cluster") or "its cluster"
            yield disk.urn, (f"etcd data disk is not protected: removing {who} or one of its members would "
                             f"delete etcd data in one `pulumi up`; protect it unless {who} has decommission: true")
    by_urn = _by_urn(subjects)
    roots = [s for s in subjects if s.type == TLS_SELF_SIGNED and _truthy(s.inputs.get("isCaCertificate"))]
    # While the fleet root rotates (its gate holds `phase: prepare`), the retiring root is
    # unprotected on purpose so that `complete` can delete it; the issuing root stays protected.
    retiring = any(s.type == DYNAMIC and s.inputs.get("cluster") == "root" and s.inputs.get("phase") == "prepare"
                   for s in subjects) and len(roots) == 2 and any(r.options.protect for r in roots)
    for s in roots:
        if retiring and not s.options.protect:
            continue
        if not s.options.protect:
            yield s.urn, "the root CA certificate is not protected: deleting it re-issues every credential of the fleet"
        keys = s.options.property_dependencies.get("privateKeyPem") or s.options.dependencies
        for key in keys:
            key_subject = by_urn.get(key)
            if (urn_type(key) == TLS_PRIVATE_KEY) and key_subject is not None and not key_subject.options.protect:
                yield key, "the root CA's private key is not protected: deleting it loses the fleet's trust root"
