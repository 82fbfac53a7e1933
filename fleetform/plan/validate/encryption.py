"""Customer-managed keys (``encryption.kms``): a key of the cluster's own cloud and region,
named the way the adapters hand it to the cloud (a key ARN, never an alias, on AWS: EBS
stores the key ARN, and an alias would read back as a change on every update)."""

from __future__ import annotations

import re
from collections.abc import Callable

from fleetform.spec.errors import Loc, Problem
from fleetform.spec.models import ClusterSpec

AWS_KEY = re.compile(r"^arn:aws(-[a-z]+)*:kms:(?P<region>[a-z0-9-]+):\d{12}:key/(mrk-[0-9a-f]{32}|[0-9a-f-]{36})$")
GCP_KEY = re.compile(r"^projects/[a-z][-a-z0-9]{4,28}[a-z0-9]/locations/(?P<region>[a-z0-9-]+)/"
                     r"keyRings/[A-Za-z0-9_-]{1,63}/cryptoKeys/[A-Za-z0-9_-]{1,63}$")
EXAMPLES = {
    "aws": "arn:aws:kms:<region>:<account>:key/<key id>",
    "gcp": "projects/<project>/locations/<region>/keyRings/<ring>/cryptoKeys/<key>",
}


def kms_problems(c: ClusterSpec, at: Callable[..., Loc]) -> list[Problem]:
    key = c.encryption.kms
    if key is None:
        return []
    where = at("encryption", "kms")
    match = (AWS_KEY if c.cloud == "aws" else GCP_KEY).match(key)
    if match is None:
        kind = "an AWS KMS key" if c.cloud == "aws" else "a GCP Cloud KMS key"
        return [where.problem(f"{key!r} is not {kind} ({EXAMPLES[c.cloud]})")]
    if match.group("region") != c.region:
        return [where.problem(f"the key lives in {match.group('region')!r}; disks and secrets of a cluster in "
                              f"{c.region!r} need a key of that region")]
    if c.migrate is not None:
        return [where.problem("a cluster that moves cannot keep its key (the target is another cloud or region): "
                              "unset encryption.kms for the move and set the target's key once it is done")]
    return []
