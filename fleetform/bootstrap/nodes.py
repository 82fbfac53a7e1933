"""What each node's bootstrap document is made of, decided from the plan.

Pure: components call these inside ``Output.all(...).apply(...)`` with the resolved
certificates, secret ids and device paths; tests call them with plain strings.
"""

from __future__ import annotations

from collections.abc import Mapping

from fleetform.bootstrap.inputs import (
    AddonSource,
    ControlPlaneInputs,
    ControlPlanePKI,
    EtcdMember,
    EtcdNodeInputs,
    EtcdTLS,
    ObjectLocation,
    SecretStore,
    WorkerInputs,
)
from fleetform.plan.identity import cluster_auth
from fleetform.plan.model import ClusterPlan, PoolPlan

# Published with each etcd release; nodes check the tarball against the release's
# SHA256SUMS when a stack does not pin a digest (see versions.py).
UNPINNED_SHA256 = ""


def etcd_members(plan: ClusterPlan) -> tuple[EtcdMember, ...]:
    return tuple(EtcdMember(m.name, m.dns, m.ip) for m in plan.etcd.members)


def etcd_node(plan: ClusterPlan, member: str, store: SecretStore, data_device: str,
              pem: Mapping[str, str], secret: Mapping[str, str],
              restore_from: ObjectLocation | None = None) -> EtcdNodeInputs:
    """``pem``: etcd-ca, <member>-server, <member>-peer; ``secret``: secret ids of
    <member>-server-key and <member>-peer-key (and <member>-credentials, what the
    member's renewal timer reads, when there is one). The member's own client identity (for
    snapshots and health checks on the node) is its server certificate, which carries
    clientAuth."""
    return EtcdNodeInputs(
        cluster_name=plan.name,
        member_name=member,
        members=etcd_members(plan),
        version=plan.etcd.version,
        sha256=plan.etcd.sha256 or UNPINNED_SHA256,
        data_device=data_device,
        tls=EtcdTLS(
            ca_cert_pem=pem["etcd-ca"],
            server_cert_pem=pem[f"{member}-server"],
            server_key_secret=secret[f"{member}-server-key"],
            peer_cert_pem=pem[f"{member}-peer"],
            peer_key_secret=secret[f"{member}-peer-key"],
            client_cert_pem=pem[f"{member}-server"],
            client_key_secret=secret[f"{member}-server-key"],
        ),
        secret_store=store,
        # A migration target's first boot: every member restores the same snapshot.
        restore_from=restore_from,
        credentials_secret=secret.get(f"{member}-credentials"),
    )


def addon_source(plan: ClusterPlan, bucket: str, cni_secret_values: str | None = None) -> AddonSource:
    """Where replica 0's installer points Flux: the incarnation's add-on bucket; Flux's
    controllers reach the API server by the cluster's API name (in the incarnation's
    own network it resolves to this incarnation)."""
    return AddonSource(cloud=plan.cloud, bucket=bucket, region=plan.region, api_host=plan.api.dns,
                       cni_secret_values=cni_secret_values)


def control_plane_node(plan: ClusterPlan, replica: int, store: SecretStore,
                       pem: Mapping[str, str], secret: Mapping[str, str],
                       addons: AddonSource | None = None) -> ControlPlaneInputs:
    """``pem``: kubernetes-ca, front-proxy-ca, etcd-ca, apiserver-etcd-client,
    service-account-public; ``secret``: kubernetes-ca-key, front-proxy-ca-key,
    service-account-key, apiserver-etcd-client-key, bootstrap-token, encryption-key (and
    apiserver-etcd-client-credentials and service-account-keys, what the replica's
    renewal timer reads, when there are).

    Authentication (identity_plan.cluster_auth): the fleet's SSO and the cluster's public
    service-account issuer, as planned for this cluster by the fleet's identity plan."""
    auth = cluster_auth(plan)
    replicas = plan.control_plane.replicas
    return ControlPlaneInputs(
        cluster_name=plan.name,
        replica=replica,
        advertise_address=replicas[replica].ip,
        # Only replicas before this one: adding or removing later replicas never changes
        # (and so never replaces) this replica's document.
        join_via=tuple(r.ip for r in replicas[:replica]),
        kubernetes_version=plan.kubernetes_version,
        control_plane_endpoint=plan.api.dns,
        etcd_endpoints=tuple(m.dns for m in plan.etcd.members),
        pod_subnet=plan.network.pod_cidr,
        service_subnet=plan.network.service_cidr,
        pki=ControlPlanePKI(
            ca_cert_pem=pem["kubernetes-ca"],
            ca_key_secret=secret["kubernetes-ca-key"],
            front_proxy_ca_cert_pem=pem["front-proxy-ca"],
            front_proxy_ca_key_secret=secret["front-proxy-ca-key"],
            sa_public_key_pem=pem["service-account-public"],
            sa_private_key_secret=secret["service-account-key"],
            etcd_ca_cert_pem=pem["etcd-ca"],
            apiserver_etcd_client_cert_pem=pem["apiserver-etcd-client"],
            apiserver_etcd_client_key_secret=secret["apiserver-etcd-client-key"],
        ),
        bootstrap_token_secret=secret["bootstrap-token"],
        encryption_key_secret=secret["encryption-key"],
        secret_store=store,
        skip_kube_proxy=plan.cni.skips_kube_proxy,  # Cilium kube-proxy replacement
        cert_sans=(plan.api.dns, plan.api.incarnation_dns),
        oidc=auth.oidc,
        service_account_issuer=auth.service_account_issuer,
        management=auth.management,
        # Replica 0 installs the reconciler once it created the cluster.
        addons=addons if replica == 0 else None,
        bootstrap_token_ttl_hours=plan.control_plane.bootstrap_token_ttl_hours,
        kubeadm_renew_before_hours=plan.control_plane.kubeadm_renew_before_hours,
        # The renewal timers' etcdctl: the release the cluster's etcd members run.
        etcd_version=plan.etcd.version,
        etcd_sha256=plan.etcd.sha256 or UNPINNED_SHA256,
        etcd_client_credentials_secret=secret.get("apiserver-etcd-client-credentials"),
        service_account_keys_secret=secret.get("service-account-keys"),
        replica_names=tuple(r.name for r in replicas),
    )


def worker_node(plan: ClusterPlan, pool: PoolPlan, store: SecretStore, ca_pem: str,
                token_secret: str) -> WorkerInputs:
    labels = {"node.fleetform.io/pool": pool.name, **dict(pool.labels)}
    return WorkerInputs(
        cluster_name=plan.name,
        kubernetes_version=plan.kubernetes_version,
        control_plane_endpoint=plan.api.dns,
        ca_cert_pem=ca_pem,
        bootstrap_token_secret=token_secret,
        secret_store=store,
        node_labels=labels,
    )
