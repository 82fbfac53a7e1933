"""The control plane: API server replicas across zones behind a TCP load balancer,
kubeadm with external etcd, pre-issued certificates, secrets fetched at boot."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_random as random

from components.clouds.base import (
    BucketHandle,
    LoadBalancerHandle,
    MachineHandle,
    MachineRequest,
    SecretRef,
)
from components.etcd import EtcdDataPlane, PlaneArgs
from components.identity import issue
from components.secrets import resources_of, store
from fleetform.bootstrap import render_control_plane
from fleetform.bootstrap.nodes import addon_source, control_plane_node
from fleetform.plan import names
from fleetform.plan.firewall import API_PORT
from fleetform.plan.pki import incarnation_leaves


class ControlPlane(pulumi.ComponentResource):
    replicas: dict[str, MachineHandle]
    load_balancer: LoadBalancerHandle
    bootstrap_token: SecretRef

    def __init__(self, name: str, args: PlaneArgs, etcd: EtcdDataPlane,
                 opts: pulumi.ResourceOptions | None = None, *, addons: BucketHandle | None = None,
                 cni_secret_values: SecretRef | None = None) -> None:
        """``addons``: the incarnation's add-on bucket (replica 0 installs Flux on it);
        ``cni_secret_values``: a ClusterMesh member's CA values in the secret store."""
        super().__init__("fleetform:index:ControlPlane", name, None, opts)
        plan, adapter, net, ident = args.plan, args.adapter, args.network, args.identity
        me, workers = net.identities["control_plane"], net.identities["worker"]
        etcd_client_spec = next(s for s in incarnation_leaves(args.fleet.fleet, plan) if s.key == "apiserver-etcd-client")
        etcd_client = issue(names.child(name, etcd_client_spec.key), etcd_client_spec, ident.cas["etcd-ca"], self)
        self.etcd_client = etcd_client

        # Bootstrap token "[a-z0-9]{6}.[a-z0-9]{16}" (kubeadm's format) and a 32-byte
        # secretbox key for encrypting Secrets at rest.
        token_id = random.RandomString(names.child(name, "token-id"), length=6, upper=False, special=False,
                                       opts=pulumi.ResourceOptions(parent=self))
        token_secret = random.RandomPassword(names.child(name, "token-secret"), length=16, upper=False,
                                             special=False, opts=pulumi.ResourceOptions(parent=self))
        enc_key = random.RandomBytes(names.child(name, "encryption-key"), length=32,
                                     opts=pulumi.ResourceOptions(parent=self))
        token = pulumi.Output.concat(token_id.result, ".", token_secret.result)

        refs: dict[str, SecretRef] = {
            "kubernetes-ca-key": store(adapter, self, name, "kubernetes-ca-key", ident.cas["kubernetes-ca"].key_pem, [me]),
            "front-proxy-ca-key": store(adapter, self, name, "front-proxy-ca-key", ident.cas["front-proxy-ca"].key_pem, [me]),
            "service-account-key": store(adapter, self, name, "service-account-key", ident.sa_key_pem, [me]),
            "apiserver-etcd-client-key": store(adapter, self, name, "apiserver-etcd-client-key", etcd_client.key_pem, [me]),
            "encryption-key": store(adapter, self, name, "encryption-key", enc_key.base64, [me]),
            # The initial token; the replicas' rotation timer adds new versions (only
            # they may write it), joining machines read the current one.
            "bootstrap-token": store(adapter, self, name, "bootstrap-token", token, [me, workers], writers=[me]),
            # What the replicas' renewal timer installs: the API server's etcd client
            # credentials as `pulumi up` keeps them (renewals, CA rotation phases).
            "apiserver-etcd-client-credentials": store(
                adapter, self, name, "apiserver-etcd-client-credentials", pulumi.Output.all(
                    ca=ident.bundle("etcd-ca"), cert=etcd_client.cert_pem, key=etcd_client.key_pem,
                ).apply(lambda a: json.dumps(a, sort_keys=True)), [me]),
            # The service-account keys as a rotation's phase has them (signing key, every
            # key that verifies): running replicas take them in two steps (their timer).
            "service-account-keys": store(
                adapter, self, name, "service-account-keys", pulumi.Output.all(
                    key=ident.sa_key_pem, pub=ident.sa_public_bundle(),
                ).apply(lambda a: json.dumps(a, sort_keys=True)), [me]),
        }
        self.bootstrap_token = refs["bootstrap-token"]
        store_info = adapter.secret_store
        pems = {
            # Bundles: during a CA rotation's prepare phase, new + old.
            "kubernetes-ca": ident.bundle("kubernetes-ca"),
            "front-proxy-ca": ident.bundle("front-proxy-ca"),
            "etcd-ca": ident.bundle("etcd-ca"),
            "apiserver-etcd-client": etcd_client.cert_pem,
            # sa.pub: every key that verifies tokens (two during a rotation's prepare).
            "service-account-public": ident.sa_public_bundle(),
        }
        secret_ids = {k: v.secret_id for k, v in refs.items()}
        extra: dict[str, pulumi.Output[str]] = {}
        waits: list[pulumi.Resource] = []
        if addons is not None:
            extra["addons:bucket"] = addons.name
            waits += list(addons.resources)
        if cni_secret_values is not None:
            extra["addons:cni-secret-values"] = cni_secret_values.secret_id
            waits += list(cni_secret_values.resources)

        self.replicas = {}
        for index, replica in enumerate(plan.control_plane.replicas):
            def render(a: dict[str, Any], i: int = index) -> str:
                source = (addon_source(plan, a["addons:bucket"], a.get("addons:cni-secret-values"))
                          if "addons:bucket" in a else None)
                return render_control_plane(control_plane_node(
                    plan, i, store_info,
                    pem={k: a[k] for k in pems}, secret={k: a[f"secret:{k}"] for k in secret_ids},
                    addons=source))

            # Only replica 0 installs the reconciler: the others' documents do not name the bucket.
            inputs = {**pems, **{f"secret:{k}": v for k, v in secret_ids.items()}, **(extra if index == 0 else {})}
            user_data = pulumi.Output.all(**inputs).apply(render)
            self.replicas[replica.name] = adapter.machine(MachineRequest(
                name=names.child(name, replica.name),
                role="control_plane",
                zone=replica.zone,
                # Planned, fixed: later replicas join through it (see ControlPlaneInputs.join_via).
                private_ip=replica.ip,
                machine_type=plan.control_plane.machine_type,
                user_data=user_data,
                identity=me,
                firewall=net.firewall,
                network=net.handle,
                # Frozen unless listed in control_plane.roll: a changed document (a new
                # Kubernetes version, flags) never replaces every replica at once; the
                # version itself rolls in place (addons/upgrades.py).
                roll=replica.name in plan.control_plane.roll,
                depends_on=[*resources_of(list(refs.values())), *(m.resource for m in etcd.members.values()),
                            *(waits if index == 0 else [])],
                tags={"replica": replica.name},
            ), parent=self)

        self.load_balancer = adapter.load_balancer(
            names.child(name, "api"), API_PORT, list(self.replicas.values()), net.handle, net.firewall,
            plan.api.public, self, internal_ip=plan.api.internal_ip)
        adapter.dns_record(names.child(name, "api-dns"), net.zone, plan.api.dns, self.load_balancer, self)
        adapter.dns_record(names.child(name, "api-incarnation-dns"), net.zone, plan.api.incarnation_dns,
                           self.load_balancer, self)
        if plan.api.public:
            # The cluster's own public name (api.<cluster>) is the fleet's: components/
            # migration.py points it at whichever incarnation serves the cluster.
            adapter.public_dns_record(names.child(name, "api-incarnation-public-dns"), plan.api.incarnation_dns,
                                      self.load_balancer, self)
        self.register_outputs({
            "endpoint": f"https://{plan.api.dns}:{API_PORT}",
            "load_balancer": self.load_balancer.address,
        })
