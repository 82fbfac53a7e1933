"""The GCP adapter's storage: Secret Manager secrets with their accessors, and Cloud Storage buckets."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_gcp as gcp

from components.clouds.base import (
    BucketHandle,
    MachineIdentity,
    SecretRef,
)
from components.clouds.gcp_base import (
    NONCURRENT_VERSION_DAYS,
    GcpBase,
    _member,
)
from fleetform.plan import names


class GcpStorage(GcpBase):
    def secret(self, name: str, key: str, value: pulumi.Output[str],
               readers: Sequence[MachineIdentity], parent: pulumi.Resource, *,
               writers: Sequence[MachineIdentity] = ()) -> SecretRef:
        secret_id = names.physical(self.ctx.fleet.fleet, self.ctx.plan.key, key, limit=255)
        if secret_id in self._secret_ids:
            raise ValueError(f"secret key {key!r} is used twice in {self.ctx.plan.key}")
        self._secret_ids.add(secret_id)
        secret = gcp.secretmanager.Secret(
            name,
            secret_id=secret_id,
            project=self.project,
            # Stored only in the cluster's region (data residency, e.g. GDPR clusters).
            replication=gcp.secretmanager.SecretReplicationArgs(
                user_managed=gcp.secretmanager.SecretReplicationUserManagedArgs(
                    replicas=[gcp.secretmanager.SecretReplicationUserManagedReplicaArgs(
                        location=self.ctx.plan.region,
                        # The cluster's own key (encryption.kms), of the replica's region.
                        customer_managed_encryption=(
                            gcp.secretmanager.SecretReplicationUserManagedReplicaCustomerManagedEncryptionArgs(
                                kms_key_name=self.ctx.plan.kms_key) if self.ctx.plan.kms_key else None))])),
            labels=self._labels("secrets", key=key),
            opts=self.opts(parent),
        )
        data: pulumi.Output[str] = pulumi.Output.secret(value)
        version = gcp.secretmanager.SecretVersion(
            names.child(name, "version"),
            secret=secret.id,
            secret_data=data,
            opts=self.opts(parent),
        )
        resources: list[pulumi.Resource] = [secret, version]
        for grantee, reader in sorted({r.grantee: r for r in readers}.items()):
            resources.append(gcp.secretmanager.SecretIamMember(
                names.child(name, "reader", names.part(grantee)),
                project=self.project,
                secret_id=secret.secret_id,
                role="roles/secretmanager.secretAccessor",
                member=_member(reader.principal),
                opts=self.opts(parent, depends_on=list(reader.resources)),
            ))
        # Writers add versions (they rotate the value); the role has nothing else.
        for role, writer in sorted({w.role: w for w in writers}.items()):
            resources.append(gcp.secretmanager.SecretIamMember(
                names.child(name, "writer", names.part(role)),
                project=self.project,
                secret_id=secret.secret_id,
                role="roles/secretmanager.secretVersionAdder",
                member=_member(writer.principal),
                opts=self.opts(parent, depends_on=list(writer.resources)),
            ))
        return SecretRef(key=key, secret_id=secret.secret_id, resources=resources)

    def bucket(self, name: str, writers: Sequence[MachineIdentity], readers: Sequence[MachineIdentity],
               parent: pulumi.Resource, retention_days: int | None = None) -> BucketHandle:
        # Bucket names are global across all of GCP: prefixed with the project id.
        short = name[len(self.ctx.plan.key) + 1:] if name.startswith(self.ctx.plan.key + "-") else name
        bucket_name = names.physical(self.project, self.ctx.plan.key, short, limit=63)
        rules = [gcp.storage.BucketLifecycleRuleArgs(
            action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
            condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                with_state="ARCHIVED", days_since_noncurrent_time=NONCURRENT_VERSION_DAYS),
        )]
        if retention_days is not None:
            rules.insert(0, gcp.storage.BucketLifecycleRuleArgs(
                action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                condition=gcp.storage.BucketLifecycleRuleConditionArgs(age=retention_days),
            ))
        bucket = gcp.storage.Bucket(
            name,
            name=bucket_name,
            project=self.project,
            location=self.ctx.plan.region.upper(),
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning=gcp.storage.BucketVersioningArgs(enabled=True),
            lifecycle_rules=rules,
            force_destroy=False,
            # Google-managed encryption at rest (the default); no CMEK yet.
            labels=self._labels("storage"),
            opts=self.opts(parent),
        )
        resources: list[pulumi.Resource] = [bucket]
        grants = [(w, "roles/storage.objectCreator", "writer") for w in writers] + \
                 [(r, "roles/storage.objectViewer", "reader") for r in readers]
        seen: set[tuple[str, str]] = set()
        for ident, role, kind in grants:
            if (ident.grantee, role) in seen:
                continue
            seen.add((ident.grantee, role))
            resources.append(gcp.storage.BucketIAMMember(
                names.child(name, kind, names.part(ident.grantee)),
                bucket=bucket.name,
                role=role,
                member=_member(ident.principal),
                opts=self.opts(parent, depends_on=list(ident.resources)),
            ))
        return BucketHandle(name=bucket.name, url=bucket.url, resources=resources)

    def bucket_object(self, name: str, bucket: BucketHandle, key: str, content: pulumi.Input[str],
                      parent: pulumi.Resource, depends_on: Sequence[pulumi.Resource] = ()) -> pulumi.Resource:
        # As a text asset, not `content`: pulumi-gcp marks `content` secret, and a bundle
        # file is no secret (synth and reviews read it back from the graph).
        return gcp.storage.BucketObject(
            name, bucket=bucket.name, name=key, source=pulumi.Output.from_input(content).apply(pulumi.StringAsset),
            content_type="application/yaml" if key.endswith((".yaml", ".yml")) else "text/plain",
            opts=self.opts(parent, depends_on=[*bucket.resources, *depends_on]))
