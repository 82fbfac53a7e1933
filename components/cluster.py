"""One cluster incarnation: its network, etcd data plane, control plane and worker
pools, all through one cloud adapter bound to one explicit provider."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from components.addons import AddonPublication
from components.clouds import adapter_for
from components.clouds.base import BucketHandle, ClusterContext
from components.cni import Cni, CniArgs, cni_secret_values
from components.control_plane import ControlPlane
from components.etcd import EtcdDataPlane, PlaneArgs
from components.federation import FederationReads
from components.identity import ClusterCredentials, fleet_identity
from components.mesh import MeshEndpoint, MeshEndpointArgs
from components.network import Network, NetworkArgs
from components.secrets import store
from components.snapshots import Restore, SnapshotSource, SnapshotStore
from components.workers import WorkerPlane
from fleetform.addons.build import CloudFacts, addon_context
from fleetform.addons.bundle import render_bundle
from fleetform.addons.context import CONTROLLERS, LOG_SHIPPER
from fleetform.addons.model import Bundle
from fleetform.plan import names
from fleetform.plan.model import ClusterPlan, FleetPlan


@dataclass(frozen=True)
class ClusterArgs:
    fleet: FleetPlan
    plan: ClusterPlan
    identity: ClusterCredentials
    # A migration target with `data: etcd-snapshot`: where its etcd data comes from.
    snapshot: SnapshotSource | None = None
    # What the cloud needs before any of this incarnation's resources (GCP: project APIs).
    cloud_requires: tuple[pulumi.Resource, ...] = ()


class Cluster(pulumi.ComponentResource):
    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleetform:index:Cluster", name, None, opts)
        plan = args.plan
        self.plan = plan
        self.identity = args.identity
        self.fleet_plan = args.fleet
        self.snapshot_bucket: BucketHandle | None = None
        # Shared identity: decide the fleet's identity plan before any plane
        # renders: control planes read their SSO and service-account issuer from it.

        self.identity_plan = fleet_identity(args.fleet)
        self.adapter = adapter_for(ClusterContext(args.fleet, plan, owner=self, requires=args.cloud_requires))
        child = pulumi.ResourceOptions(parent=self)
        self.network = Network(names.child(name, "network"), NetworkArgs(plan, self.adapter), child)
        control_plane_identity = self.network.identities["control_plane"]
        # The add-on bundle's bucket: only this incarnation's control plane reads it (Flux's
        # source-controller runs there, as the machine). Its files come with install_addons.
        self.addons = AddonPublication(names.child(name, "addons"), self.adapter, [control_plane_identity], child)
        # A ClusterMesh member's CA values, for the boot installer to put in a Secret.
        mesh_values = None
        if plan.cni.mesh is not None:
            ca = args.identity.mesh_ca()
            mesh_values = store(self.adapter, self.addons, names.child(name, "addons"), "cni-secret-values",
                                cni_secret_values(ca), [control_plane_identity])
        plane = PlaneArgs(args.fleet, plan, self.adapter, self.network, args.identity)
        restore = self._snapshot(name, args.snapshot) if args.snapshot else None
        self.etcd = EtcdDataPlane(names.child(name, "etcd"), plane, child, restore=restore)
        self.control_plane = ControlPlane(names.child(name, "control-plane"), plane, self.etcd, child,
                                          addons=self.addons.bucket, cni_secret_values=mesh_values)
        self.workers = {
            pool.name: WorkerPlane(names.child(name, "workers", pool.name), plane, pool, self.control_plane, child)
            for pool in plan.workers
        }
        # ClusterMesh members: the mesh API's load balancer in front of the workers and its
        # private DNS name (components/mesh.py). Its peers' values name its planned
        # addresses, not this resource.
        self.mesh_endpoint = MeshEndpoint(
            names.child(name, "clustermesh"),
            MeshEndpointArgs(plan, self.adapter, self.network, [w.group for w in self.workers.values()]),
            child) if plan.cni.mesh is not None else None
        self.cni: Cni | None = None
        self.addons_version: pulumi.Output[str] | None = None
        self.register_outputs({
            "endpoint": f"https://{plan.api.dns}:6443",
            "cloud": plan.cloud,
            "region": plan.region,
        })

    def install_addons(self, federation: FederationReads,
                       snapshot: SnapshotFacts | None = None) -> Cni:
        """The bundle (fleetform/addons), published to this incarnation's bucket; the
        cluster's own Flux applies it. What only the clouds know goes in as Outputs: each
        controller's federated identity, the GCP network's names, and for a migration
        source the target's snapshot bucket and writer (``snapshot``)."""
        if self.cni is not None:
            return self.cni
        plan, fleet, ident = self.plan, self.fleet_plan, self.identity_plan
        self.cni = Cni(names.child(self.pulumi_resource_name, "cni"), CniArgs(plan),
                       opts=pulumi.ResourceOptions(parent=self))
        refs: dict[str, pulumi.Output[str]] = {}
        shippers = (LOG_SHIPPER,) if plan.cloud == "aws" and fleet.logging.on("aws") is not None else ()
        for controller in (*CONTROLLERS, *shippers):
            arn, creds = federation.controller_identity(controller, plan.name, plan.cloud)
            ref = arn if plan.cloud == "aws" else creds
            if ref is not None:
                refs[controller] = ref
        facts: dict[str, Any] = {"cni_values": self.cni.values, "identities": pulumi.Output.all(**refs)}
        if plan.cloud == "gcp":
            facts["network"] = self.network.handle.id.apply(_last_segment)
            facts["subnetwork"] = self.network.handle.private_subnets[plan.zones[0]].apply(_last_segment)
        if snapshot is not None:
            facts["snapshot_bucket"], facts["snapshot_writer"] = snapshot.bucket, snapshot.writer
            if snapshot.credentials is not None:
                facts["snapshot_credentials"] = snapshot.credentials
        bundle = pulumi.Output.all(**facts).apply(
            lambda f: render_bundle(addon_context(fleet, plan, ident, CloudFacts(**f))))
        files = bundle.apply(Bundle.files)
        # The content hash of what this `pulumi up` published (status shows it).
        self.addons_version = bundle.apply(_version)
        # The files' paths depend on the plan only, never on the facts' values.
        stand_in = CloudFacts(identities={c: "-" for c in refs},
                              network="-" if "network" in facts else None,
                              subnetwork="-" if "subnetwork" in facts else None,
                              snapshot_bucket="-" if snapshot is not None else None,
                              snapshot_writer="-" if snapshot is not None else None,
                              snapshot_credentials="-" if "snapshot_credentials" in facts else None)
        paths = render_bundle(addon_context(fleet, plan, ident, stand_in)).files()
        self.addons.add({path: files.apply(functools.partial(_file, path)) for path in paths}, [self.cni.guard])
        return self.cni

    def _snapshot(self, name: str, src: SnapshotSource) -> Restore:
        """The snapshot bucket (this target's cloud; written by the source's Job through
        federation, read by every member of this etcd plane: each restores its data
        directory from the same snapshot)."""
        t = src.transfer
        bucket = SnapshotStore(names.child(name, "snapshots"), self.adapter, src,
                               list(self.network.etcd_identities.values()),
                               pulumi.ResourceOptions(parent=self)).bucket
        self.snapshot_bucket = bucket
        # The source's snapshot Job comes with the source's bundle (install_addons); each
        # member's first boot waits for the snapshot it writes.
        return Restore(bucket.name, t.key, list(bucket.resources))


def _version(bundle: Bundle) -> str:
    return bundle.version


def _file(path: str, files: Mapping[str, str]) -> str:
    return files[path]


def _last_segment(link: str) -> str:
    """A GCP resource's name from its self-link or id."""
    return link.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class SnapshotFacts:
    """A migration source's: the target's snapshot bucket, the federated writer, and
    (GCP target) the writer's external-account file."""

    bucket: pulumi.Output[str]
    writer: pulumi.Output[str]
    credentials: pulumi.Output[str] | None
