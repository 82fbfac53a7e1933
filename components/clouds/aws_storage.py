"""The AWS adapter's storage: Secrets Manager secrets with their reading policies, and S3 buckets."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.clouds.aws_base import (
    AwsBase,
    _bucket_policy,
    _role_name_from_arn,
)
from components.clouds.base import (
    BucketHandle,
    MachineIdentity,
    SecretRef,
)
from fleetform.plan import names


def _secret_policy(arn: str, readers: Sequence[str], writers: Sequence[str]) -> dict[str, object]:
    statements: list[dict[str, object]] = []
    if readers:
        statements.append({"Sid": "ReadersOnly", "Effect": "Allow", "Principal": {"AWS": sorted(set(readers))},
                           "Action": "secretsmanager:GetSecretValue", "Resource": arn})
    if writers:
        statements.append({"Sid": "Writers", "Effect": "Allow", "Principal": {"AWS": sorted(set(writers))},
                           "Action": "secretsmanager:PutSecretValue", "Resource": arn})
    return {"Version": "2012-10-17", "Statement": statements}


class AwsStorage(AwsBase):
    def _secret_suffix(self) -> pulumi.Output[str]:
        if self._suffix is None:
            self._suffix = random.RandomId(names.child(self.ctx.plan.key, "secrets-suffix"), byte_length=3,
                                           opts=pulumi.ResourceOptions(parent=self.ctx.owner)).hex
        return self._suffix

    def secret(self, name: str, key: str, value: pulumi.Output[str],
               readers: Sequence[MachineIdentity], parent: pulumi.Resource, *,
               writers: Sequence[MachineIdentity] = ()) -> SecretRef:
        # Secrets Manager keeps a deleted secret's name for its recovery window: the
        # incarnation's names carry a random suffix kept in the state (a re-created
        # incarnation gets a new one), the window is clouds.aws.secret_recovery_days.
        secret = aws.secretsmanager.Secret(
            name,
            name=pulumi.Output.concat(f"{self.ctx.fleet.fleet}/{self.ctx.plan.key}-", self._secret_suffix(),
                                      f"/{key}"),
            description=f"fleetform {self.ctx.plan.key}: {key}",
            recovery_window_in_days=self.ctx.fleet.aws_secret_recovery_days,
            kms_key_id=self.ctx.plan.kms_key,  # None: Secrets Manager's own key
            tags=self.tags("secrets", key=key),
            opts=self.opts(parent),
        )
        version = aws.secretsmanager.SecretVersion(
            names.child(name, "version"),
            secret_id=secret.id,
            # The SDK marks secret_string secret itself; it never reaches state in clear.
            secret_string=value,
            opts=self.opts(parent),
        )
        resources: list[pulumi.Resource] = [secret, version]
        if readers or writers:
            # The secret's own policy grants both: a reader reads, a writer (a machine
            # that rotates the value) adds versions; neither may delete it or change it.
            n_readers = len(readers)
            policy = pulumi.Output.all(secret.arn, *(r.principal for r in readers),
                                       *(w.principal for w in writers)).apply(
                lambda v: json.dumps(_secret_policy(v[0], v[1:1 + n_readers], v[1 + n_readers:])))
            resources.append(aws.secretsmanager.SecretPolicy(
                names.child(name, "policy"),
                secret_arn=secret.arn,
                policy=policy,
                block_public_policy=True,
                # The role must exist before its ARN is accepted as a principal.
                opts=self.opts(parent, depends_on=[x for r in (*readers, *writers) for x in r.resources]),
            ))
        return SecretRef(key=key, secret_id=secret.arn, resources=resources)

    def bucket(self, name: str, writers: Sequence[MachineIdentity], readers: Sequence[MachineIdentity],
               parent: pulumi.Resource, retention_days: int | None = None) -> BucketHandle:
        # Bucket names are global: a readable prefix plus a unique suffix from AWS.
        prefix = names.physical(self.ctx.fleet.fleet, self.ctx.plan.key, self._short(name), limit=36) + "-"
        bucket = aws.s3.Bucket(
            name,
            bucket_prefix=prefix,
            tags=self.tags("storage"),
            opts=self.opts(parent),
        )
        resources: list[pulumi.Resource] = [
            bucket,
            aws.s3.BucketPublicAccessBlock(
                names.child(name, "public-access-block"),
                bucket=bucket.id,
                block_public_acls=True,
                block_public_policy=True,
                ignore_public_acls=True,
                restrict_public_buckets=True,
                opts=self.opts(parent),
            ),
            aws.s3.BucketOwnershipControls(
                names.child(name, "ownership"),
                bucket=bucket.id,
                rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
                opts=self.opts(parent),
            ),
            aws.s3.BucketServerSideEncryptionConfiguration(
                names.child(name, "encryption"),
                bucket=bucket.id,
                rules=[aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=(
                        aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                            sse_algorithm="aws:kms")),
                    bucket_key_enabled=True,
                )],
                opts=self.opts(parent),
            ),
            aws.s3.BucketVersioning(
                names.child(name, "versioning"),
                bucket=bucket.id,
                versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
                opts=self.opts(parent),
            ),
        ]
        if retention_days is not None:
            resources.append(aws.s3.BucketLifecycleConfiguration(
                names.child(name, "lifecycle"),
                bucket=bucket.id,
                rules=[aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="retention",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=retention_days),
                    # Versioning keeps overwritten objects: expire those too.
                    noncurrent_version_expiration=(
                        aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                            noncurrent_days=retention_days)),
                    abort_incomplete_multipart_upload=(
                        aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                            days_after_initiation=1)),
                )],
                opts=self.opts(parent),
            ))

        # One inline policy per identity: the union of what it may do on this bucket only.
        grants: dict[str, tuple[MachineIdentity, set[str]]] = {}
        for ident, actions in [(w, {"s3:PutObject"}) for w in writers] + [(r, {"s3:GetObject"}) for r in readers]:
            grants.setdefault(ident.grantee, (ident, set()))[1].update(actions)
        for grantee, (ident, object_actions) in sorted(grants.items()):
            policy = bucket.arn.apply(functools.partial(_bucket_policy, object_actions=sorted(object_actions)))
            resources.append(aws.iam.RolePolicy(
                names.child(name, "access", names.part(grantee)),
                role=ident.principal.apply(_role_name_from_arn),
                policy=policy,
                opts=self.opts(parent),
            ))
        return BucketHandle(name=bucket.bucket, url=bucket.bucket.apply(lambda b: f"s3://{b}"),
                            resources=resources)

    def bucket_object(self, name: str, bucket: BucketHandle, key: str, content: pulumi.Input[str],
                      parent: pulumi.Resource, depends_on: Sequence[pulumi.Resource] = ()) -> pulumi.Resource:
        # Encrypted by the bucket's default (SSE-KMS, bucket key); written after the
        # bucket's settings exist, so no object is ever stored without them.
        return aws.s3.BucketObjectv2(
            name, bucket=bucket.name, key=key, content=content, content_type=_content_type(key),
            tags=self.tags("addons"), opts=self.opts(parent, depends_on=[*bucket.resources, *depends_on]))


def _content_type(key: str) -> str:
    return "application/yaml" if key.endswith((".yaml", ".yml")) else "text/plain"
