"""User-data of Kubernetes nodes: control-plane replicas and workers (Ubuntu 24.04)."""

from __future__ import annotations

import shlex

from fleetform.bootstrap.containerd import runtime_files, runtime_install_lines
from fleetform.bootstrap.document import File, dump_yaml, dump_yaml_documents, render_cloud_config
from fleetform.bootstrap.etcd import BIN_DIR as ETCD_BIN_DIR
from fleetform.bootstrap.etcd import client_url, etcd_release_install_lines
from fleetform.bootstrap.flux import installer_files, installer_start_lines
from fleetform.bootstrap.hardening import (
    NFT_PACKAGE,
    kernel_defaults_file,
    metadata_concealment_files,
    metadata_concealment_lines,
)
from fleetform.bootstrap.inputs import ControlPlaneInputs, SecretFile, WorkerInputs
from fleetform.bootstrap.kubeadm import (
    API_PORT,
    AUDIT_LOG_DIR,
    AUDIT_POLICY,
    AUTHN_CONFIG,
    ENCRYPTION_CONFIG,
    ENCRYPTION_DIR,
    ETCD_CA,
    ETCD_CLIENT_CERT,
    ETCD_CLIENT_KEY,
    PKI_DIR,
    audit_policy,
    authentication_config,
    encryption_config_template,
    kubeadm_control_plane_documents,
    worker_join_configuration,
)
from fleetform.bootstrap.renewal_control_plane import (
    KUBEADM_RENEW_UNIT,
    TOKEN_ROTATE_UNIT,
    KubeadmRenewal,
    TokenRotation,
    enable_lines,
    kubeadm_renew_files,
    token_rotate_files,
)
from fleetform.bootstrap.shell import (
    api_pin_lines,
    api_unpin_lines,
    library_files,
    script_prelude,
    secret_fetch_commands,
)
from fleetform.bootstrap.waits import etcd_quorum_wait_lines, kubeadm_preflight_arg
from fleetform.plan import names

STATE_DIR = "/etc/kubernetes/fleetform"
KUBEADM_TEMPLATE = f"{STATE_DIR}/kubeadm.yaml.tmpl"
KUBEADM_CONFIG = f"{STATE_DIR}/kubeadm.yaml"
ENCRYPTION_TEMPLATE = f"{STATE_DIR}/encryption-config.yaml.tmpl"
# Workers can't keep the CA at pki/ca.crt: `kubeadm join` refuses to overwrite it.
WORKER_CA = f"{STATE_DIR}/cluster-ca.crt"
# Raw secrets that only feed templates live on tmpfs and are deleted once used.
RUN_SECRETS = "/run/fleetform/secrets"
BOOTSTRAP_TOKEN_FILE = f"{RUN_SECRETS}/bootstrap-token"
SECRETBOX_KEY_FILE = f"{RUN_SECRETS}/secretbox-key"
PROVIDER_ID_FILE = "/run/fleetform/provider-id"

MODULES_FILE = "/etc/modules-load.d/kubernetes.conf"
SYSCTL_FILE = "/etc/sysctl.d/90-kubernetes.conf"
APT_KEYRING = "/etc/apt/keyrings/kubernetes-apt-keyring.gpg"
APT_SOURCE = "/etc/apt/sources.list.d/kubernetes.list"

# The container runtime is not Ubuntu's (bootstrap/containerd.py).
BASE_PACKAGES = ("curl", "gpg", NFT_PACKAGE)


def k8s_apt_repo(version: str) -> str:
    """pkgs.k8s.io has one repository per minor version."""
    major, minor, _ = version.split(".")
    return f"https://pkgs.k8s.io/core:/stable:/v{major}.{minor}/deb/"


def _node_files() -> list[File]:
    return [
        *runtime_files(),
        File(MODULES_FILE, "overlay\nbr_netfilter\n"),
        File(
            SYSCTL_FILE,
            "net.bridge.bridge-nf-call-iptables = 1\nnet.bridge.bridge-nf-call-ip6tables = 1\nnet.ipv4.ip_forward = 1\n",
        ),
        kernel_defaults_file(),
        *metadata_concealment_files(),
    ]


def node_prep_lines(version: str, packages: tuple[str, ...]) -> list[str]:
    """Kernel settings, the pinned containerd and runc, and the pinned Kubernetes packages."""
    repo = k8s_apt_repo(version)
    pinned = " ".join(shlex.quote(f"{p}={version}-*") for p in packages)
    return [
        "# Kernel modules and sysctls for pod networking (files written by cloud-init).",
        "modprobe overlay",
        "modprobe br_netfilter",
        "sysctl --system >/dev/null",
        "swapoff -a",
        *metadata_concealment_lines(),
        "",
        *runtime_install_lines(),
        "",
        f"# {', '.join(packages)} pinned to {version} from pkgs.k8s.io. The source is added here,",
        "# not by cloud-init, because apt can't use it before its key exists.",
        "install -d -m 0755 /etc/apt/keyrings",
        "install -d -m 0700 /run/fleetform",
        f'ff_retry "download the Kubernetes apt key" curl -fsSL --max-time 60 -o /run/fleetform/k8s-release.key {shlex.quote(repo + "Release.key")}',
        f"gpg --batch --yes --dearmor -o {APT_KEYRING} /run/fleetform/k8s-release.key",
        f"echo {shlex.quote(f'deb [signed-by={APT_KEYRING}] {repo} /')} >{APT_SOURCE}",
        'ff_retry "apt-get update" apt-get update -q',
        f'ff_retry "install Kubernetes {version} packages" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q {pinned}',
        f"apt-mark hold {' '.join(packages)}",
        "systemctl enable kubelet",
    ]


def _provider_id_lines() -> list[str]:
    return [
        "# The kubelet registers with the provider ID the cloud controller manager looks for.",
        f'ff_retry "the provider ID from the instance metadata" ff_write_provider_id {PROVIDER_ID_FILE}',
    ]


def _wait_for_api(endpoint: str, ca_path: str) -> str:
    url = f"https://{endpoint}:{API_PORT}/readyz"
    # /readyz is one of the paths anonymous requests may reach (authentication config).
    return f'ff_wait "API server {url}" 3600 curl -fsS --max-time 5 --cacert {ca_path} -o /dev/null {shlex.quote(url)}'


def control_plane_secret_files(inputs: ControlPlaneInputs) -> list[SecretFile]:
    pki = inputs.pki
    return [
        SecretFile(pki.ca_key_secret, f"{PKI_DIR}/ca.key"),
        SecretFile(pki.front_proxy_ca_key_secret, f"{PKI_DIR}/front-proxy-ca.key"),
        SecretFile(pki.sa_private_key_secret, f"{PKI_DIR}/sa.key"),
        SecretFile(pki.apiserver_etcd_client_key_secret, ETCD_CLIENT_KEY),
        SecretFile(inputs.bootstrap_token_secret, BOOTSTRAP_TOKEN_FILE),
        SecretFile(inputs.encryption_key_secret, SECRETBOX_KEY_FILE),
        *inputs.extra_secrets,
    ]


def kubeadm_renewal(inputs: ControlPlaneInputs) -> KubeadmRenewal:
    """The replica's renewal of kubeadm's certificates (and of the API server's etcd
    client credentials, when the secret store holds them)."""
    return KubeadmRenewal(
        cluster=inputs.cluster_name,
        replica=names.control_plane_replica(inputs.replica),
        renew_before_hours=inputs.kubeadm_renew_before_hours,
        etcd_endpoints=tuple(client_url(h) for h in inputs.etcd_endpoints),
        etcd_client_secret=inputs.etcd_client_credentials_secret,
        etcdctl=f"{ETCD_BIN_DIR}/etcdctl",
        service_account_secret=inputs.service_account_keys_secret if inputs.replica_names else None,
        replicas=tuple(inputs.replica_names),
    )


def token_rotation(inputs: ControlPlaneInputs) -> TokenRotation:
    """Every replica runs the timer; the etcd lock lets one of them rotate at a time."""
    return TokenRotation(
        cluster=inputs.cluster_name,
        secret_id=inputs.bootstrap_token_secret,
        ttl_hours=inputs.bootstrap_token_ttl_hours,
        etcd_endpoints=tuple(client_url(h) for h in inputs.etcd_endpoints),
        etcdctl=f"{ETCD_BIN_DIR}/etcdctl",
    )


RENEWAL_UNITS = (KUBEADM_RENEW_UNIT, TOKEN_ROTATE_UNIT)


def renewal_files(inputs: ControlPlaneInputs) -> list[File]:
    """The replica's self-renewing credentials: scripts, their library and timers."""
    files = [*kubeadm_renew_files(kubeadm_renewal(inputs)),
             *token_rotate_files(token_rotation(inputs))]
    return list({f.path: f for f in files}.values())  # the library once


def control_plane_files(inputs: ControlPlaneInputs) -> list[File]:
    pki = inputs.pki
    return [
        *library_files(inputs.secret_store),
        *_node_files(),
        File(f"{PKI_DIR}/ca.crt", pki.ca_cert_pem),
        File(f"{PKI_DIR}/front-proxy-ca.crt", pki.front_proxy_ca_cert_pem),
        File(f"{PKI_DIR}/sa.pub", pki.sa_public_key_pem),
        File(ETCD_CA, pki.etcd_ca_cert_pem),
        File(ETCD_CLIENT_CERT, pki.apiserver_etcd_client_cert_pem),
        File(AUDIT_POLICY, dump_yaml(audit_policy())),
        File(AUTHN_CONFIG, dump_yaml(authentication_config(inputs))),
        File(ENCRYPTION_TEMPLATE, dump_yaml(encryption_config_template()), "0600"),
        File(
            KUBEADM_TEMPLATE, dump_yaml_documents(kubeadm_control_plane_documents(inputs)), "0600"
        ),
        *(installer_files(inputs.addons) if inputs.addons is not None else []),
        *renewal_files(inputs),
    ]


def control_plane_bootstrap_script(inputs: ControlPlaneInputs) -> str:
    endpoint_urls = [f"https://{h}:2379" for h in inputs.etcd_endpoints]
    name = f"control-plane replica {inputs.replica} of cluster {inputs.cluster_name}"
    lines = [
        script_prelude(f"bootstrap of {name}"),
        f'ff_log "{name}: bootstrap starting"',
        "ff_cloud_prepare",
        f"install -d -m 0700 {RUN_SECRETS}",
        "",
        "# CA keys, service-account key, etcd client key, bootstrap token and encryption key",
        "# come from the secret store, with this machine's identity, before anything uses them.",
        *secret_fetch_commands(control_plane_secret_files(inputs)),
        "",
        *node_prep_lines(inputs.kubernetes_version, ("kubelet", "kubeadm", "kubectl")),
        "",
        "# etcdctl of the members' release: the renewal timers lock through the cluster's etcd.",
        *etcd_release_install_lines(inputs.etcd_version, inputs.etcd_sha256, inputs.arch, ("etcdctl",)),
        "",
        "# Fill the secrets into the encryption config and the kubeadm config, then drop the raw copies.",
        f"install -d -m 0700 {ENCRYPTION_DIR} {AUDIT_LOG_DIR}",
        f"ff_render_template {ENCRYPTION_TEMPLATE} {ENCRYPTION_CONFIG} 0600 secretbox-key={SECRETBOX_KEY_FILE}",
        *_provider_id_lines(),
        f"ff_render_template {KUBEADM_TEMPLATE} {KUBEADM_CONFIG} 0600 bootstrap-token={BOOTSTRAP_TOKEN_FILE}"
        f" provider-id={PROVIDER_ID_FILE}",
        f"rm -f {BOOTSTRAP_TOKEN_FILE} {SECRETBOX_KEY_FILE}",
        "",
        *etcd_quorum_wait_lines(endpoint_urls, ETCD_CA, ETCD_CLIENT_CERT, ETCD_CLIENT_KEY),
        "",
    ]
    if inputs.replica == 0:
        lines += [
            "# Replica 0 creates the cluster with the pre-issued CAs already in place.",
            "if [ ! -f /etc/kubernetes/admin.conf ]; then",
            f"  kubeadm init --config {KUBEADM_CONFIG} {kubeadm_preflight_arg()}",
            "fi",
            *(installer_start_lines() if inputs.addons is not None else []),
        ]
    elif inputs.join_via:
        api, ca = inputs.control_plane_endpoint, f"{PKI_DIR}/ca.crt"
        lines += [
            *api_pin_lines(api, API_PORT, ca, inputs.join_via),
            "# A failed boot must not leave the pin behind.",
            f"trap {shlex.quote('ff_hosts_unpin ' + shlex.quote(api))} EXIT",
            "# Every CA and key is already on disk, so this join needs no --certificate-key.",
            "if [ ! -f /etc/kubernetes/admin.conf ]; then",
            f"  kubeadm join --config {KUBEADM_CONFIG} {kubeadm_preflight_arg()}",
            "fi",
            *api_unpin_lines(api, API_PORT, ca),
            "trap - EXIT",
        ]
    else:
        lines += [
            "# Every CA and key is already on disk, so this join needs no --certificate-key.",
            _wait_for_api(inputs.control_plane_endpoint, f"{PKI_DIR}/ca.crt"),
            "if [ ! -f /etc/kubernetes/admin.conf ]; then",
            f"  kubeadm join --config {KUBEADM_CONFIG} {kubeadm_preflight_arg()}",
            "fi",
        ]
    lines += [
        f"rm -f {KUBEADM_CONFIG}  # it holds the bootstrap token",
        "# Renew kubeadm's certificates and rotate the bootstrap token from now on.",
        *enable_lines(RENEWAL_UNITS),
        f'ff_log "{name}: bootstrap done"',
    ]
    return "\n".join(lines) + "\n"


def render_control_plane(inputs: ControlPlaneInputs) -> str:
    """The ``#cloud-config`` user-data of one control-plane replica."""
    # Compact scripts: with its renewal timers a replica's document is close to the EC2
    # user-data limit, and a CA rotation's bundles add to it.
    return render_cloud_config(
        control_plane_files(inputs), control_plane_bootstrap_script(inputs), packages=BASE_PACKAGES,
        compact=True,
    )


def worker_secret_files(inputs: WorkerInputs) -> list[SecretFile]:
    return [SecretFile(inputs.bootstrap_token_secret, BOOTSTRAP_TOKEN_FILE), *inputs.extra_secrets]


def worker_files(inputs: WorkerInputs) -> list[File]:
    return [
        *library_files(inputs.secret_store),
        *_node_files(),
        File(WORKER_CA, inputs.ca_cert_pem),
        File(KUBEADM_TEMPLATE, dump_yaml(worker_join_configuration(inputs)), "0600"),
    ]


def worker_bootstrap_script(inputs: WorkerInputs) -> str:
    name = f"worker of cluster {inputs.cluster_name}"
    lines = [
        script_prelude(f"bootstrap of a {name}"),
        f'ff_log "{name}: bootstrap starting"',
        "ff_cloud_prepare",
        f"install -d -m 0700 {RUN_SECRETS}",
        "",
        "# The bootstrap token comes from the secret store, with this machine's identity.",
        *secret_fetch_commands(worker_secret_files(inputs)),
        "",
        *node_prep_lines(inputs.kubernetes_version, ("kubelet", "kubeadm")),
        "",
        *_provider_id_lines(),
        f"ff_render_template {KUBEADM_TEMPLATE} {KUBEADM_CONFIG} 0600 bootstrap-token={BOOTSTRAP_TOKEN_FILE}"
        f" provider-id={PROVIDER_ID_FILE}",
        f"rm -f {BOOTSTRAP_TOKEN_FILE}",
        _wait_for_api(inputs.control_plane_endpoint, WORKER_CA),
        "if [ ! -f /etc/kubernetes/kubelet.conf ]; then",
        f"  kubeadm join --config {KUBEADM_CONFIG}",
        "fi",
        f"rm -f {KUBEADM_CONFIG}  # it holds the bootstrap token",
        f'ff_log "{name}: bootstrap done"',
    ]
    return "\n".join(lines) + "\n"


def render_worker(inputs: WorkerInputs) -> str:
    """The ``#cloud-config`` user-data of a worker (the same for every node of a pool)."""
    return render_cloud_config(
        worker_files(inputs), worker_bootstrap_script(inputs), packages=BASE_PACKAGES
    )
