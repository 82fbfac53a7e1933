"""Cloud adapters: the only code that imports pulumi_aws / pulumi_gcp."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import CloudAdapter, ClusterContext


def adapter_for(ctx: ClusterContext) -> CloudAdapter:
    """The adapter for a cluster incarnation's cloud (imported lazily: a fleet on one
    cloud never loads the other SDK)."""
    if ctx.plan.cloud == "aws":
        from .aws import AwsAdapter

        return AwsAdapter(ctx)
    from .gcp import GcpAdapter

    return GcpAdapter(ctx)
