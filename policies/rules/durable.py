"""Rules on resources whose accidental loss hurts: buckets keep versions and never go
with their objects; production API load balancers cannot be deleted by one update."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from policies.rules.base import Context, Rule, Subject, _dict, _seen, _truthy, registry, urn_type
from policies.rules.vpc import sources

RULES: list[Rule] = []
rule = registry(RULES)

AWS_BUCKETS = frozenset({"aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"})
AWS_VERSIONING = frozenset({"aws:s3/bucketVersioning:BucketVersioning",
                            "aws:s3/bucketVersioningV2:BucketVersioningV2"})
GCP_BUCKET = "gcp:storage/bucket:Bucket"
AWS_LB = "aws:lb/loadBalancer:LoadBalancer"
GCP_FORWARDING_RULES = frozenset({"gcp:compute/forwardingRule:ForwardingRule",
                                  "gcp:compute/globalForwardingRule:GlobalForwardingRule"})


@rule("buckets-versioned-no-force-destroy",
      "Every bucket (snapshots, OIDC discovery documents) keeps object versions and is "
      "never force-destroyed: deleting the stack's bucket cannot take its objects along.",
      stack=True)
def buckets_versioned(subjects: Sequence[Subject], context: Context) -> Iterator[tuple[str, str]]:
    versioned: set[str] = set()
    for s in subjects:
        if s.type in AWS_VERSIONING:
            status = _seen(_dict(s.inputs.get("versioningConfiguration")).get("status"),
                           "versioningConfiguration.status")
            if status == "Enabled":
                versioned.update(u for u in sources(s, "bucket") if urn_type(u) in AWS_BUCKETS)
    for s in subjects:
        if (s.type in AWS_BUCKETS or s.type == GCP_BUCKET) and _truthy(
                _seen(s.inputs.get("forceDestroy"), "forceDestroy")):
            yield s.urn, "forceDestroy is true: destroying the bucket deletes every object in it"
        if s.type in AWS_BUCKETS:
            inline = _dict(s.inputs.get("versioning")).get("enabled")
            if s.urn not in versioned and not _truthy(inline):
                yield s.urn, "the bucket is not versioned (no BucketVersioning with status Enabled)"
        elif s.type == GCP_BUCKET:
            enabled = _seen(_dict(s.inputs.get("versioning")).get("enabled"), "versioning.enabled")
            if not _truthy(enabled):
                yield s.urn, "versioning.enabled is not true"


@rule("production-lb-deletion-protection",
      "In a production stack every API load balancer has deletion protection: AWS load "
      "balancers set enable_deletion_protection, GCP forwarding rules (which have no such "
      "setting) are protected resources.",
      stack=True)
def production_lb_deletion_protection(subjects: Sequence[Subject], context: Context) -> Iterator[tuple[str, str]]:
    if not context.production:
        return
    for s in subjects:
        if s.type == AWS_LB:
            if not _truthy(_seen(s.inputs.get("enableDeletionProtection"), "enableDeletionProtection")):
                yield s.urn, "enableDeletionProtection is not true on a production load balancer"
        elif s.type in GCP_FORWARDING_RULES and not s.options.protect:
            yield s.urn, "a production forwarding rule that is not protected (protect=True)"
