"""kubeadm ``v1beta4`` configurations and the API server's configuration files.

Field names follow the kubeadm v1beta4 reference (kubernetes/website
``kubeadm-config.v1beta4.md``): ``extraArgs`` is a list of ``{name, value}``,
``skipPhases`` lives in Init/JoinConfiguration, ``proxy.disabled`` in
ClusterConfiguration.

Secrets are never here: the bootstrap token and the secretbox key are placeholders
(``{{fleetform:...}}``) filled in on the machine from files fetched from the secret
store (``ff_render_template`` in ``lib.sh``).

Anonymous authentication: the API server gets a structured AuthenticationConfiguration
(``--authentication-config``) that allows anonymous requests ONLY to the health
endpoints and to ``kube-public/cluster-info``, instead of ``--anonymous-auth=false``.
A blanket ``--anonymous-auth=false`` makes the kubelet's own liveness/readiness/startup
probes of kube-apiserver (kubeadm's static pod) fail with 401 and crash-loop it, and it
breaks bootstrap-token discovery, which reads ``cluster-info`` anonymously before it can
trust anything (kubernetes/kubernetes#100581, kubernetes/kubeadm#798, CIS 1.2.1 allows
exactly this restriction). The same file carries OIDC as a ``jwt`` authenticator,
because ``--oidc-*`` flags are rejected when ``--authentication-config`` is set.
"""

from __future__ import annotations

import hashlib
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from fleetform.bootstrap.hardening import (
    TERMINATED_POD_GC_THRESHOLD,
    TLS_CIPHER_SUITES,
    kubelet_configuration,
)
from fleetform.bootstrap.inputs import ControlPlaneInputs, WorkerInputs
from fleetform.bootstrap.renewal_control_plane import (
    apiserver_kubelet_ca_args,
    kubelet_serving_configuration,
)
from fleetform.plan.handoff import member_authenticator

API_VERSION = "kubeadm.k8s.io/v1beta4"
API_PORT = 6443
CRI_SOCKET = "unix:///run/containerd/containerd.sock"

BOOTSTRAP_TOKEN_PLACEHOLDER = "{{fleetform:bootstrap-token}}"
# The node's provider ID (aws:///<zone>/<instance-id>, gce://<project>/<zone>/<name>),
# read from the instance metadata at boot (``ff_provider_id`` in cloud.sh).
PROVIDER_ID_PLACEHOLDER = "{{fleetform:provider-id}}"
# The cloud's controllers run in the cluster (cloud controller manager from the bundle).
CLOUD_PROVIDER = "external"
SECRETBOX_KEY_PLACEHOLDER = "{{fleetform:secretbox-key}}"
SECRETBOX_KEY_NAME = "fleetform-1"

PKI_DIR = "/etc/kubernetes/pki"
# kubeadm's names for the service-account signing key and the keys that verify tokens.
SA_KEY = f"{PKI_DIR}/sa.key"
SA_PUB = f"{PKI_DIR}/sa.pub"
ETCD_CA = f"{PKI_DIR}/etcd/ca.crt"
ETCD_CLIENT_CERT = f"{PKI_DIR}/apiserver-etcd-client.crt"
ETCD_CLIENT_KEY = f"{PKI_DIR}/apiserver-etcd-client.key"

AUDIT_DIR = "/etc/kubernetes/audit"
AUDIT_POLICY = f"{AUDIT_DIR}/policy.yaml"
AUDIT_LOG_DIR = "/var/log/kubernetes/audit"
AUDIT_LOG = f"{AUDIT_LOG_DIR}/audit.log"
ENCRYPTION_DIR = "/etc/kubernetes/encryption"
ENCRYPTION_CONFIG = f"{ENCRYPTION_DIR}/encryption-config.yaml"
AUTHN_DIR = "/etc/kubernetes/authn"
AUTHN_CONFIG = f"{AUTHN_DIR}/authentication-config.yaml"

# Paths the kubelet probes (kubeadm's static pod) and load balancers check, plus the
# one object bootstrap-token discovery reads before it has any credential.
ANONYMOUS_PATHS = (
    "/healthz",
    "/livez",
    "/readyz",
    "/api/v1/namespaces/kube-public/configmaps/cluster-info",
)


def ca_cert_hash(ca_pem: str) -> str:
    """``sha256:<hex>`` of the CA's DER SubjectPublicKeyInfo, as kubeadm pins it."""
    cert = x509.load_pem_x509_certificate(ca_pem.encode())
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(spki).hexdigest()


def ca_cert_hashes(bundle_pem: str) -> list[str]:
    """One pin per CA of a bundle (two while a CA rotation is in ``prepare``: a joining
    machine accepts the cluster whichever of them its cluster-info names)."""
    certs = x509.load_pem_x509_certificates(bundle_pem.encode())
    return list(dict.fromkeys(
        "sha256:" + hashlib.sha256(c.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).hexdigest()
        for c in certs))


def _args(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    # Sorted by name; stable, so repeated flags (service-account-issuer) keep their order,
    # which matters: the first issuer signs, the others are only accepted.
    return [{"name": n, "value": v} for n, v in sorted(pairs, key=lambda p: p[0])]


def apiserver_extra_args(inputs: ControlPlaneInputs) -> list[dict[str, str]]:
    audit = inputs.audit
    # No --cloud-provider here: kube-apiserver removed the flag in 1.33 (it refuses to
    # start with it); the controller manager and every kubelet get ``external``.
    pairs = [
        ("authentication-config", AUTHN_CONFIG),
        # No Service may claim an external IP (CVE-2020-8554: intercepting traffic).
        ("enable-admission-plugins", "NodeRestriction,DenyServiceExternalIPs"),
        ("profiling", "false"),
        ("tls-cipher-suites", ",".join(TLS_CIPHER_SUITES)),
        ("audit-policy-file", AUDIT_POLICY),
        ("audit-log-path", AUDIT_LOG),
        ("audit-log-maxage", str(audit.max_age_days)),
        ("audit-log-maxbackup", str(audit.max_backups)),
        ("audit-log-maxsize", str(audit.max_size_mb)),
        ("encryption-provider-config", ENCRYPTION_CONFIG),
        # kubeadm's own files, spelled out: sa.key signs; sa.pub holds every key that
        # verifies (the signing key's first, then the retiring one during a rotation's
        # `prepare`), so a rotation changes files, never flags.
        ("service-account-signing-key-file", SA_KEY),
        ("service-account-key-file", SA_PUB),
        # Kubelets serve certificates of the cluster CA (serverTLSBootstrap): the API
        # server verifies them for logs, exec and port-forward.
        *apiserver_kubelet_ca_args(f"{PKI_DIR}/ca.crt"),
    ]
    issuer = inputs.service_account_issuer
    if issuer is not None:
        pairs += [
            ("service-account-issuer", issuer.issuer_url),
            # Still accept tokens minted under kubeadm's default issuer.
            ("service-account-issuer", f"https://kubernetes.default.svc.{inputs.dns_domain}"),
        ]
        if issuer.jwks_uri is not None:
            pairs.append(("service-account-jwks-uri", issuer.jwks_uri))
    return _args(pairs)


def _host_mount(name: str, path: str, read_only: bool) -> dict[str, Any]:
    return {
        "name": name,
        "hostPath": path,
        "mountPath": path,
        "readOnly": read_only,
        "pathType": "DirectoryOrCreate",
    }


def cluster_configuration(inputs: ControlPlaneInputs) -> dict[str, Any]:
    config: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "ClusterConfiguration",
        "clusterName": inputs.cluster_name,
        "kubernetesVersion": f"v{inputs.kubernetes_version}",
        "controlPlaneEndpoint": f"{inputs.control_plane_endpoint}:{API_PORT}",
        "certificatesDir": PKI_DIR,
        "networking": {
            "podSubnet": inputs.pod_subnet,
            "serviceSubnet": inputs.service_subnet,
            "dnsDomain": inputs.dns_domain,
        },
        "etcd": {
            "external": {
                "endpoints": [f"https://{host}:2379" for host in inputs.etcd_endpoints],
                "caFile": ETCD_CA,
                "certFile": ETCD_CLIENT_CERT,
                "keyFile": ETCD_CLIENT_KEY,
            }
        },
        "apiServer": {
            "extraArgs": apiserver_extra_args(inputs),
            "extraVolumes": [
                _host_mount("audit-policy", AUDIT_DIR, True),
                _host_mount("audit-log", AUDIT_LOG_DIR, False),
                _host_mount("authentication-config", AUTHN_DIR, True),
                _host_mount("encryption-config", ENCRYPTION_DIR, True),
            ],
        },
        "controllerManager": {"extraArgs": _args([
            ("cloud-provider", CLOUD_PROVIDER),
            ("profiling", "false"),
            # Legacy token signing: the same key as the API server's.
            ("service-account-private-key-file", SA_KEY),
            ("terminated-pod-gc-threshold", str(TERMINATED_POD_GC_THRESHOLD)),
        ])},
        "scheduler": {"extraArgs": _args([("profiling", "false")])},
    }
    if inputs.cert_sans:
        config["apiServer"]["certSANs"] = sorted(set(inputs.cert_sans))
    if inputs.skip_kube_proxy:
        # Recorded in the kubeadm-config ConfigMap, so `kubeadm upgrade` won't add it back.
        config["proxy"] = {"disabled": True}
    return config


def node_registration(labels: dict[str, str] | None = None) -> dict[str, Any]:
    """The kubelet of every node: external cloud provider, its provider ID, labels."""
    pairs = [("cloud-provider", CLOUD_PROVIDER), ("provider-id", PROVIDER_ID_PLACEHOLDER)]
    if labels:
        pairs.append(("node-labels", ",".join(f"{k}={v}" for k, v in sorted(labels.items()))))
    return {"criSocket": CRI_SOCKET, "kubeletExtraArgs": _args(pairs)}


def _bootstrap_token_discovery(endpoint: str, ca_pem: str) -> dict[str, Any]:
    return {
        "bootstrapToken": {
            "apiServerEndpoint": f"{endpoint}:{API_PORT}",
            "token": BOOTSTRAP_TOKEN_PLACEHOLDER,
            "caCertHashes": ca_cert_hashes(ca_pem),
        }
    }


def _api_endpoint(address: str | None) -> dict[str, Any]:
    endpoint: dict[str, Any] = {"bindPort": API_PORT}
    if address is not None:
        endpoint["advertiseAddress"] = address
    return endpoint


def init_configuration(inputs: ControlPlaneInputs) -> dict[str, Any]:
    config: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "InitConfiguration",
        "bootstrapTokens": [
            {
                "token": BOOTSTRAP_TOKEN_PLACEHOLDER,
                "description": f"fleetform node bootstrap token of cluster {inputs.cluster_name}",
                # Hours, never 0s: the rotation timer replaces it after a third of its life.
                "ttl": f"{inputs.bootstrap_token_ttl_hours}h",
                "usages": ["authentication", "signing"],
                "groups": ["system:bootstrappers:kubeadm:default-node-token"],
            }
        ],
        "nodeRegistration": node_registration(),
        "localAPIEndpoint": _api_endpoint(inputs.advertise_address),
    }
    if inputs.skip_kube_proxy:
        config["skipPhases"] = ["addon/kube-proxy"]
    return config


def control_plane_join_configuration(inputs: ControlPlaneInputs) -> dict[str, Any]:
    """Replicas >= 1: join as control plane with the pre-issued certificates already on disk."""
    return {
        "apiVersion": API_VERSION,
        "kind": "JoinConfiguration",
        "discovery": _bootstrap_token_discovery(
            inputs.control_plane_endpoint, inputs.pki.ca_cert_pem
        ),
        "controlPlane": {"localAPIEndpoint": _api_endpoint(inputs.advertise_address)},
        "nodeRegistration": node_registration(),
    }


def kubeadm_control_plane_documents(inputs: ControlPlaneInputs) -> list[dict[str, Any]]:
    """What ``kubeadm --config`` reads on this replica: init (replica 0, with the
    KubeletConfiguration every node of the cluster downloads when it joins) or join."""
    if inputs.replica == 0:
        return [init_configuration(inputs), cluster_configuration(inputs),
                kubelet_configuration() | kubelet_serving_configuration()]
    return [control_plane_join_configuration(inputs)]


def worker_join_configuration(inputs: WorkerInputs) -> dict[str, Any]:
    registration = node_registration(dict(inputs.node_labels))
    return {
        "apiVersion": API_VERSION,
        "kind": "JoinConfiguration",
        "discovery": _bootstrap_token_discovery(inputs.control_plane_endpoint, inputs.ca_cert_pem),
        "nodeRegistration": registration,
    }


def audit_policy() -> dict[str, Any]:
    """Metadata for everything, request bodies for writes, never a secret's payload."""
    return {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": [
            # Probes and high-volume system reads would drown the log.
            {"level": "None", "nonResourceURLs": ["/healthz*", "/livez*", "/readyz*", "/version"]},
            {
                "level": "None",
                "users": ["system:kube-proxy"],
                "verbs": ["watch"],
                "resources": [
                    {"group": "", "resources": ["endpoints", "services", "services/status"]}
                ],
            },
            {
                "level": "None",
                "userGroups": ["system:nodes"],
                "verbs": ["get"],
                "resources": [{"group": "", "resources": ["nodes", "nodes/status"]}],
            },
            # Bodies of these carry secrets or tokens: metadata only (first match wins).
            {
                "level": "Metadata",
                "resources": [
                    {"group": "", "resources": ["secrets", "configmaps", "serviceaccounts/token"]},
                    {"group": "authentication.k8s.io", "resources": ["tokenreviews"]},
                ],
            },
            {
                "level": "Request",
                "verbs": ["create", "update", "patch", "delete", "deletecollection"],
            },
            {"level": "Metadata"},
        ],
    }


def encryption_config_template() -> dict[str, Any]:
    """Secrets encrypted at rest with secretbox (XSalsa20-Poly1305), key filled in at boot.

    ``identity`` comes last so Secrets written before encryption was enabled still read.
    """
    return {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "EncryptionConfiguration",
        "resources": [
            {
                "resources": ["secrets"],
                "providers": [
                    {
                        "secretbox": {
                            "keys": [
                                {"name": SECRETBOX_KEY_NAME, "secret": SECRETBOX_KEY_PLACEHOLDER}
                            ]
                        }
                    },
                    {"identity": {}},
                ],
            }
        ],
    }


def authentication_config(inputs: ControlPlaneInputs) -> dict[str, Any]:
    jwt: list[dict[str, Any]] = []
    if inputs.oidc is not None:
        oidc = inputs.oidc
        jwt.append(
            {
                "issuer": {"url": oidc.issuer_url, "audiences": [oidc.client_id]},
                # Structured config has no defaults: claim and prefix must both be set.
                "claimMappings": {
                    "username": {"claim": oidc.username_claim, "prefix": oidc.username_prefix},
                    "groups": {"claim": oidc.groups_claim, "prefix": oidc.groups_prefix},
                },
            }
        )
    if inputs.management is not None:
        jwt.append(member_authenticator(inputs.management))
    return {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "AuthenticationConfiguration",
        "anonymous": {"enabled": True, "conditions": [{"path": p} for p in ANONYMOUS_PATHS]},
        "jwt": jwt,
    }
