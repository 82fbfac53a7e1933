"""Storing a plane's secrets with the adapter, keyed by stable names."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi

from components.clouds.base import CloudAdapter, MachineIdentity, SecretRef
from fleetform.plan import names


def store(adapter: CloudAdapter, plane: pulumi.Resource, plane_name: str, key: str,
          value: pulumi.Output[str], readers: Sequence[MachineIdentity],
          writers: Sequence[MachineIdentity] = ()) -> SecretRef:
    """``writers`` (a subset of ``readers``) may add versions: machines that rotate it."""
    return adapter.secret(names.child(plane_name, key), key, pulumi.Output.secret(value), readers, plane,
                          writers=writers)


def resources_of(refs: Sequence[SecretRef]) -> list[pulumi.Resource]:
    """What a machine must wait for so its first boot finds every secret readable."""
    return [r for ref in refs for r in ref.resources]
