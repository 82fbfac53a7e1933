"""Cloud adapters: the only code that imports pulumi_aws / pulumi_gcp."""

from __future__ import annotations

from typing import TYPE_CHECKING

from components.clouds.aws import AwsAdapter
from components.clouds.gcp import GcpAdapter

if TYPE_CHECKING:
    from components.clouds.base import CloudAdapter, ClusterContext


def adapter_for(ctx: ClusterContext) -> CloudAdapter:
    """The adapter for a cluster incarnation's cloud (imported lazily: a fleet on one
    cloud never loads the other SDK)."""
    if ctx.plan.cloud == "aws":

        return AwsAdapter(ctx)

    return GcpAdapter(ctx)
