"""The dedicated etcd data plane: one machine per member, fixed address, protected
data disk, DNS name, TLS for clients and peers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi

from components.clouds.base import CloudAdapter, MachineHandle, MachineRequest
from components.identity import ClusterCredentials, IssuedCert, issue
from components.network import Network
from components.secrets import resources_of, store
from components.snapshots import Restore
from fleetform.bootstrap import render_etcd_member
from fleetform.bootstrap.inputs import ObjectLocation
from fleetform.bootstrap.nodes import etcd_node
from fleetform.plan import names
from fleetform.plan.model import ClusterPlan, FleetPlan
from fleetform.plan.pki import incarnation_leaves


@dataclass(frozen=True)
class PlaneArgs:
    fleet: FleetPlan
    plan: ClusterPlan
    adapter: CloudAdapter
    network: Network
    identity: ClusterCredentials


class EtcdDataPlane(pulumi.ComponentResource):
    members: dict[str, MachineHandle]

    def __init__(self, name: str, args: PlaneArgs, opts: pulumi.ResourceOptions | None = None,
                 restore: Restore | None = None) -> None:
        super().__init__("fleetform:index:EtcdDataPlane", name, None, opts)
        plan, adapter, net = args.plan, args.adapter, args.network
        etcd_ca = args.identity.cas["etcd-ca"]
        store_info = adapter.secret_store
        certs: dict[str, IssuedCert] = {
            spec.key: issue(names.child(name, spec.key), spec, etcd_ca, self)
            for spec in incarnation_leaves(args.fleet.fleet, plan)
            if spec.key.startswith("etcd-")
        }
        # The members' server and peer certificates (status reports the earliest expiry).
        self.certificates = certs
        self.members = {}
        for m in plan.etcd.members:
            # The member's own identity: the only reader of its keys and credentials.
            identity = net.etcd_identities[m.name]
            refs = [
                store(adapter, self, name, f"{m.name}-{kind}-key", certs[f"{m.name}-{kind}"].key_pem, [identity])
                for kind in ("server", "peer")
            ]
            # Everything the member runs on, kept current by `pulumi up` (renewals, CA
            # rotation phases); the member's timer installs changes one member at a time.
            server, peer = certs[f"{m.name}-server"], certs[f"{m.name}-peer"]
            refs.append(store(adapter, self, name, f"{m.name}-credentials", pulumi.Output.all(
                ca=args.identity.bundle("etcd-ca"), server_cert=server.cert_pem, server_key=server.key_pem,
                peer_cert=peer.cert_pem, peer_key=peer.key_pem,
                # The member's own client identity is its server certificate (clientAuth).
                client_cert=server.cert_pem, client_key=server.key_pem,
            ).apply(lambda a: json.dumps(a, sort_keys=True)), [identity]))
            # Stateful: protected until the cluster is decommissioned (two-step removal).
            disk = adapter.data_disk(names.child(name, m.name, "data"), m.zone, plan.etcd.disk_gb,
                                     protect=plan.protect_data, parent=self)

            def render(a: dict[str, Any], member: str = m.name) -> str:
                return render_etcd_member(etcd_node(
                    plan, member, store_info, a["device"],
                    pem={"etcd-ca": a["ca"], f"{member}-server": a["server"], f"{member}-peer": a["peer"]},
                    secret={f"{member}-server-key": a["server_key"], f"{member}-peer-key": a["peer_key"],
                            f"{member}-credentials": a["credentials"]},
                    restore_from=ObjectLocation(a["bucket"], restore.key) if restore else None,
                ))

            user_data = pulumi.Output.all(
                ca=args.identity.bundle("etcd-ca"),
                server=certs[f"{m.name}-server"].cert_pem,
                peer=certs[f"{m.name}-peer"].cert_pem,
                server_key=refs[0].secret_id,
                peer_key=refs[1].secret_id,
                credentials=refs[2].secret_id,
                device=disk.device_path,
                bucket=restore.bucket if restore else "",
            ).apply(render)
            machine = adapter.machine(MachineRequest(
                name=names.child(name, m.name),
                role="etcd",
                zone=m.zone,
                machine_type=plan.etcd.machine_type,
                user_data=user_data,
                identity=identity,
                firewall=net.firewall,
                network=net.handle,
                private_ip=m.ip,
                data_disk=disk,
                # Rolling safety: only members listed in etcd.roll take a changed
                # configuration in this `pulumi up`; the rest keep running untouched.
                roll=m.name in plan.etcd.roll,
                depends_on=[*resources_of(refs), *(restore.depends_on if restore else ())],
                tags={"etcd-member": m.name},
            ), parent=self)
            adapter.dns_record(names.child(name, m.name, "dns"), net.zone, m.dns, machine, self)
            self.members[m.name] = machine
        self.register_outputs({
            "members": {k: v.private_ip for k, v in self.members.items()},
        })
