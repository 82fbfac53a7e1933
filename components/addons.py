"""A cluster's add-on bundle, published through the cluster's own cloud.

``AddonPublication`` is one bucket per incarnation (the adapter's private, encrypted,
versioned bucket) that only the incarnation's control-plane machine identity may read:
Flux's source-controller runs on the host network of control-plane nodes and reads it
as the machine. Every bundle file is one object whose key is its path in the bundle
(Flux's ``Bucket`` keeps object keys as paths, and the bundle's Kustomizations name
their folders relative to the bundle root); the bucket's object versioning keeps every
earlier version of every file.

Nothing here talks to a cluster: `pulumi up` only writes objects; the cluster's own Flux
(installed at boot, fleetform/bootstrap/flux.py) applies them and corrects drift.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi

from components.clouds.base import BucketHandle, CloudAdapter, MachineIdentity
from fleetform.plan import names


class AddonPublication(pulumi.ComponentResource):
    """The bucket first (the control plane's boot names it), the files once known.

    Files come in groups (``add``): the cluster's own add-ons, and a migration target's
    snapshot Job, which goes in this (the source's) bundle."""

    bucket: BucketHandle
    objects: dict[str, pulumi.Resource]

    def __init__(self, name: str, adapter: CloudAdapter, readers: Sequence[MachineIdentity],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleetform:index:AddonPublication", name, None, opts)
        self._name, self._adapter = name, adapter
        self.bucket = adapter.bucket(names.child(name, "bucket"), writers=[], readers=list(readers), parent=self)
        self.objects = {}
        self._keys: dict[str, str] = {}
        self.register_outputs({"bucket": self.bucket.name})

    def add(self, files: Mapping[str, pulumi.Input[str]],
            depends_on: Sequence[pulumi.Resource] = ()) -> dict[str, pulumi.Resource]:
        """One object per bundle file, named after its path (a stable key), each written
        after ``depends_on`` (e.g. the CNI's plugin guard, whose check refuses a plugin
        change before any file changes)."""
        added: dict[str, pulumi.Resource] = {}
        for path in sorted(files):
            key = names.part(path)
            if path in self.objects or key in self._keys:
                raise ValueError(f"{self._name}: bundle file {path!r} clashes with {self._keys.get(key, path)!r}")
            self._keys[key] = path
            added[path] = self.objects[path] = self._adapter.bucket_object(
                names.child(self._name, "file", key), self.bucket, path, files[path], parent=self,
                depends_on=depends_on)
        return added
