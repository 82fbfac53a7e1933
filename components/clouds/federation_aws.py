"""Workload identity federation on AWS (fleet level, one explicit provider).

- ``publish``: the issuers' documents in a private S3 bucket, served over HTTPS at
  ``https://<oidc host>/<cluster>/...`` by CloudFront (origin access control, ACM
  certificate validated in the fleet domain's public Route 53 zone, alias record).
- ``register``: one IAM OIDC provider per cluster issuer, audience sts.amazonaws.com.
- ``grant``: a workload identity's IAM role, trusting exactly its Kubernetes service
  account under each selected cluster's issuer, with the listed policies attached.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from fleetform.plan import names
from fleetform.plan.federation import aws_trust_policy
from fleetform.plan.identity import (
    AWS_AUDIENCE,
    IdentityPlan,
    Issuer,
    WorkloadGrant,
)

# CloudFront's managed cache policy "Managed-CachingOptimized" (documented, fixed id).
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
# CloudFront only takes certificates from ACM in us-east-1.
CLOUDFRONT_CERT_REGION = "us-east-1"
DOCUMENT_CACHE = "public, max-age=300"
# Replaced versions of the discovery documents are kept this long.
NONCURRENT_DOCUMENT_DAYS = 30



class AwsFederation(pulumi.ComponentResource):
    """The fleet's AWS side of workload identity federation."""

    def __init__(self, name: str, identity: IdentityPlan, default_tags: Mapping[str, str],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleetform:index:AwsFederation", name, None, opts)
        self.identity = identity
        self.name = name
        self.provider = aws.Provider(
            names.child(name, "aws"),
            region=identity.aws_region,
            default_tags=aws.ProviderDefaultTagsArgs(tags={**default_tags, "fleet": identity.fleet,
                                                           "plane": "identity"}),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.oidc_providers: dict[str, aws.iam.OpenIdConnectProvider] = {}
        self.roles: dict[str, aws.iam.Role] = {}
        self.register_outputs({})

    def _opts(self, **kw: object) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=self.provider, **kw)  # type: ignore[arg-type]

    # ------------------------------------------------------------ publishing

    def publish(self, documents: Mapping[str, tuple[Issuer, pulumi.Input[str], pulumi.Input[str]]]
                ) -> list[pulumi.Resource]:
        """Serve each cluster's (discovery, JWKS) at its issuer URL; returns what a
        consumer fetching them must wait for."""
        n = self.name
        host = self.identity.oidc_host
        bucket = aws.s3.Bucket(
            names.child(n, "documents"),
            bucket_prefix=names.physical(self.identity.fleet, self.identity.stack, "oidc", limit=36) + "-",
            # Versioned and never force-destroyed: a stack removal cannot take the issuers'
            # documents along by accident; replaced versions expire.
            force_destroy=False,
            opts=self._opts(),
        )
        aws.s3.BucketVersioning(
            names.child(n, "documents-versioning"), bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=self._opts())
        aws.s3.BucketLifecycleConfiguration(
            names.child(n, "documents-lifecycle"), bucket=bucket.id,
            rules=[aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire-replaced-documents", status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                    noncurrent_days=NONCURRENT_DOCUMENT_DAYS))],
            opts=self._opts())
        block = aws.s3.BucketPublicAccessBlock(
            names.child(n, "documents-public-access-block"), bucket=bucket.id, block_public_acls=True,
            block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True, opts=self._opts())
        aws.s3.BucketOwnershipControls(
            names.child(n, "documents-ownership"), bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"), opts=self._opts())
        aws.s3.BucketServerSideEncryptionConfiguration(
            names.child(n, "documents-encryption"), bucket=bucket.id,
            rules=[aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=(
                    aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="AES256")))],
            opts=self._opts())
        objects: list[pulumi.Resource] = []
        for cluster, (issuer, discovery, jwks) in documents.items():
            for kind, key, body in (("discovery", issuer.discovery_object, discovery),
                                    ("jwks", issuer.jwks_object, jwks)):
                objects.append(aws.s3.BucketObjectv2(
                    names.child(n, cluster, kind), bucket=bucket.id, key=key, content=body,
                    content_type="application/json", cache_control=DOCUMENT_CACHE, opts=self._opts()))

        zone_id = aws.route53.get_zone_output(name=self.identity.domain, private_zone=False,
                                              opts=pulumi.InvokeOptions(provider=self.provider)).zone_id
        cert = aws.acm.Certificate(
            names.child(n, "certificate"), domain_name=host, validation_method="DNS",
            region=CLOUDFRONT_CERT_REGION, opts=self._opts())

        def dvo(field: str) -> pulumi.Output[str]:
            return cert.domain_validation_options.apply(
                lambda options: str(getattr(options[0], field) or "") if options else "")

        validation_record = aws.route53.Record(
            names.child(n, "certificate-validation"), zone_id=zone_id, name=dvo("resource_record_name"),
            type=dvo("resource_record_type"), records=[dvo("resource_record_value")], ttl=300,
            allow_overwrite=True, opts=self._opts())
        validated = aws.acm.CertificateValidation(
            names.child(n, "certificate-validated"), certificate_arn=cert.arn,
            validation_record_fqdns=[validation_record.fqdn], region=CLOUDFRONT_CERT_REGION, opts=self._opts())
        oac = aws.cloudfront.OriginAccessControl(
            names.child(n, "origin-access"), name=names.physical(self.identity.fleet, self.identity.stack, "oidc"),
            description=f"{host}: CloudFront reads the issuer documents",
            origin_access_control_origin_type="s3", signing_behavior="always", signing_protocol="sigv4",
            opts=self._opts())
        cdn = aws.cloudfront.Distribution(
            names.child(n, "cdn"),
            enabled=True,
            comment=f"fleetform {self.identity.fleet}/{self.identity.stack}: service-account issuers",
            aliases=[host],
            origins=[aws.cloudfront.DistributionOriginArgs(
                domain_name=bucket.bucket_regional_domain_name, origin_id="documents",
                origin_access_control_id=oac.id)],
            default_cache_behavior=aws.cloudfront.DistributionDefaultCacheBehaviorArgs(
                target_origin_id="documents", viewer_protocol_policy="https-only",
                allowed_methods=["GET", "HEAD"], cached_methods=["GET", "HEAD"],
                cache_policy_id=CACHING_OPTIMIZED, compress=True),
            restrictions=aws.cloudfront.DistributionRestrictionsArgs(
                geo_restriction=aws.cloudfront.DistributionRestrictionsGeoRestrictionArgs(restriction_type="none")),
            viewer_certificate=aws.cloudfront.DistributionViewerCertificateArgs(
                acm_certificate_arn=validated.certificate_arn, ssl_support_method="sni-only",
                minimum_protocol_version="TLSv1.2_2021"),
            price_class="PriceClass_100",
            http_version="http2",
            opts=self._opts(),
        )
        policy = aws.s3.BucketPolicy(
            names.child(n, "documents-policy"), bucket=bucket.id,
            policy=pulumi.Output.all(bucket.arn, cdn.arn).apply(lambda a: json.dumps({
                "Version": "2012-10-17",
                "Statement": [{
                    "Sid": "CloudFrontReadsIssuerDocuments",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudfront.amazonaws.com"},
                    "Action": "s3:GetObject",
                    "Resource": f"{a[0]}/*",
                    "Condition": {"StringEquals": {"AWS:SourceArn": a[1]}},
                }],
            }, sort_keys=True)),
            opts=self._opts(depends_on=[block]))
        record = aws.route53.Record(
            names.child(n, "dns"), zone_id=zone_id, name=host, type="A",
            aliases=[aws.route53.RecordAliasArgs(name=cdn.domain_name, zone_id=cdn.hosted_zone_id,
                                                 evaluate_target_health=False)],
            opts=self._opts())
        self.bucket = bucket
        self.distribution = cdn
        return [*objects, policy, cdn, record]

    # ------------------------------------------------------------ trust

    def register(self, issuers: Sequence[Issuer], depends_on: Sequence[pulumi.Resource]) -> None:
        """One IAM OIDC provider per cluster issuer (IAM reads the issuer's documents
        when it creates one: they must be served first)."""
        for issuer in issuers:
            self.oidc_providers[issuer.cluster] = aws.iam.OpenIdConnectProvider(
                names.child(self.name, issuer.cluster, "oidc-provider"),
                url=issuer.url,
                client_id_lists=[AWS_AUDIENCE],
                tags={"cluster": issuer.cluster},
                opts=self._opts(depends_on=list(depends_on)),
            )

    def grant(self, workload: WorkloadGrant) -> aws.iam.Role | None:
        """The workload's role: assumable with a web identity token of its service
        account from each selected cluster, and from nowhere else."""
        if workload.aws_role_name is None or not workload.clusters:
            return None
        statements = [(self.oidc_providers[c].arn, self.identity.issuer(c).host_path) for c in workload.clusters]
        trust = pulumi.Output.all(*(arn for arn, _ in statements)).apply(
            lambda arns: aws_trust_policy([(a, hp) for a, (_, hp) in zip(arns, statements, strict=True)],
                                          workload.subject))
        base = names.child(self.name, "workload", workload.name)
        role = aws.iam.Role(
            base, name=workload.aws_role_name, assume_role_policy=trust,
            description=f"fleetform workload identity {workload.name}: {workload.subject}"[:1000],
            tags={"workload-identity": workload.name}, opts=self._opts())
        for arn in workload.aws_policy_arns:
            aws.iam.RolePolicyAttachment(names.child(base, names.part(arn.split(":", 5)[-1])), role=role.name,
                                         policy_arn=arn, opts=self._opts())
        if workload.aws_inline_policy is not None:
            # An in-cluster controller: exactly the policy its upstream project publishes.
            aws.iam.RolePolicy(names.child(base, "policy"), role=role.name, name=workload.name[:128],
                               policy=workload.aws_inline_policy, opts=self._opts())
        self.roles[workload.name] = role
        return role
