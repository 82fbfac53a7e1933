"""kubeadm v1beta4 configurations and the API server's configuration files."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from bootstrap_helpers import TestPKI, require_tool
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from fleetform.bootstrap import (
    OIDC,
    ControlPlaneInputs,
    ServiceAccountIssuer,
    WorkerInputs,
    apiserver_extra_args,
    audit_policy,
    authentication_config,
    ca_cert_hash,
    cluster_configuration,
    encryption_config_template,
    init_configuration,
    kubeadm_control_plane_documents,
    render_control_plane,
    render_worker,
    worker_join_configuration,
)
from fleetform.bootstrap.hardening import KERNEL_DEFAULTS, TLS_CIPHER_SUITES
from fleetform.bootstrap.kubeadm import BOOTSTRAP_TOKEN_PLACEHOLDER, SECRETBOX_KEY_PLACEHOLDER
from fleetform.catalog.versions import CONTAINERD_SHA256, CONTAINERD_VERSION, RUNC_SHA256

# Field names of kubeadm.k8s.io/v1beta4, from the kubeadm configuration reference
# (kubernetes/website content/en/docs/reference/config-api/kubeadm-config.v1beta4.md).
# kubeadm decodes strictly; a misspelt field is an error on the machine, so catch it here.
V1BETA4: dict[str, set[str]] = {
    "InitConfiguration": {"apiVersion", "kind", "bootstrapTokens", "dryRun", "nodeRegistration", "localAPIEndpoint",
                          "certificateKey", "skipPhases", "patches", "timeouts"},
    "ClusterConfiguration": {"apiVersion", "kind", "etcd", "networking", "kubernetesVersion", "controlPlaneEndpoint",
                             "apiServer", "controllerManager", "scheduler", "dns", "proxy", "certificatesDir",
                             "imageRepository", "featureGates", "clusterName", "encryptionAlgorithm",
                             "certificateValidityPeriod", "caCertificateValidityPeriod"},
    "JoinConfiguration": {"apiVersion", "kind", "dryRun", "nodeRegistration", "caCertPath", "discovery", "controlPlane",
                          "skipPhases", "patches", "timeouts"},
    "BootstrapToken": {"token", "description", "ttl", "expires", "usages", "groups"},
    "NodeRegistrationOptions": {"name", "criSocket", "taints", "kubeletExtraArgs", "ignorePreflightErrors",
                                "imagePullPolicy", "imagePullSerial"},
    "APIEndpoint": {"advertiseAddress", "bindPort"},
    "Etcd": {"local", "external"},
    "ExternalEtcd": {"endpoints", "caFile", "certFile", "keyFile", "httpEndpoints"},
    "Networking": {"serviceSubnet", "podSubnet", "dnsDomain"},
    "APIServer": {"extraArgs", "extraVolumes", "extraEnvs", "certSANs"},
    "ControlPlaneComponent": {"extraArgs", "extraVolumes", "extraEnvs"},
    "Arg": {"name", "value"},
    "HostPathMount": {"name", "hostPath", "mountPath", "readOnly", "pathType"},
    "Proxy": {"disabled"},
    "Discovery": {"bootstrapToken", "file", "tlsBootstrapToken"},
    "BootstrapTokenDiscovery": {"token", "apiServerEndpoint", "caCertHashes", "unsafeSkipCAVerification"},
    "JoinControlPlane": {"localAPIEndpoint", "certificateKey"},
}
# Which type each field holds (only the structured ones we use).
FIELD_TYPES = {
    ("InitConfiguration", "bootstrapTokens"): "BootstrapToken[]",
    ("InitConfiguration", "nodeRegistration"): "NodeRegistrationOptions",
    ("InitConfiguration", "localAPIEndpoint"): "APIEndpoint",
    ("JoinConfiguration", "nodeRegistration"): "NodeRegistrationOptions",
    ("JoinConfiguration", "discovery"): "Discovery",
    ("JoinConfiguration", "controlPlane"): "JoinControlPlane",
    ("JoinControlPlane", "localAPIEndpoint"): "APIEndpoint",
    ("Discovery", "bootstrapToken"): "BootstrapTokenDiscovery",
    ("ClusterConfiguration", "etcd"): "Etcd",
    ("Etcd", "external"): "ExternalEtcd",
    ("ClusterConfiguration", "networking"): "Networking",
    ("ClusterConfiguration", "apiServer"): "APIServer",
    ("ClusterConfiguration", "controllerManager"): "ControlPlaneComponent",
    ("ClusterConfiguration", "scheduler"): "ControlPlaneComponent",
    ("ClusterConfiguration", "proxy"): "Proxy",
    ("APIServer", "extraArgs"): "Arg[]",
    ("APIServer", "extraVolumes"): "HostPathMount[]",
    ("ControlPlaneComponent", "extraArgs"): "Arg[]",
    ("NodeRegistrationOptions", "kubeletExtraArgs"): "Arg[]",
}


def check_fields(value: dict[str, Any], kind: str, where: str = "") -> None:
    unknown = set(value) - V1BETA4[kind]
    assert not unknown, f"{where or kind}: not v1beta4 fields of {kind}: {unknown}"
    for key, child in value.items():
        child_type = FIELD_TYPES.get((kind, key))
        if child_type is None:
            assert not isinstance(child, dict), f"{where}.{key}: structured field without a known type"
        elif child_type.endswith("[]"):
            assert isinstance(child, list)
            for i, item in enumerate(child):
                check_fields(item, child_type[:-2], f"{where}.{key}[{i}]")
        else:
            check_fields(child, child_type, f"{where}.{key}")


def test_configs_use_only_v1beta4_fields(
    control_plane_inputs: Callable[..., ControlPlaneInputs], worker_inputs: Callable[..., WorkerInputs]
) -> None:
    full = control_plane_inputs(
        0,
        oidc=OIDC("https://login.example.com", "kubernetes"),
        service_account_issuer=ServiceAccountIssuer("https://oidc.example.com/c1", "https://oidc.example.com/c1/jwks"),
        skip_kube_proxy=True,
        cert_sans=["api.internal.example.com"],
    )
    documents = [*kubeadm_control_plane_documents(full), *kubeadm_control_plane_documents(control_plane_inputs(1))]
    documents.append(worker_join_configuration(worker_inputs()))
    for doc in documents:
        if doc["kind"] == "KubeletConfiguration":  # the kubelet's own API, next to kubeadm's
            assert doc["apiVersion"] == "kubelet.config.k8s.io/v1beta1"
            continue
        assert doc["apiVersion"] == "kubeadm.k8s.io/v1beta4"
        check_fields(doc, doc["kind"])
    assert [d["kind"] for d in documents] == [
        "InitConfiguration", "ClusterConfiguration", "KubeletConfiguration", "JoinConfiguration", "JoinConfiguration"
    ]


def test_cluster_configuration_uses_the_external_etcd_plane(control_plane_inputs: Callable[..., ControlPlaneInputs]) -> None:
    inputs = control_plane_inputs(0)
    config = cluster_configuration(inputs)
    assert config["etcd"] == {
        "external": {
            "endpoints": [f"https://etcd-{i}.c1.fleet.internal:2379" for i in range(3)],
            "caFile": "/etc/kubernetes/pki/etcd/ca.crt",
            "certFile": "/etc/kubernetes/pki/apiserver-etcd-client.crt",
            "keyFile": "/etc/kubernetes/pki/apiserver-etcd-client.key",
        }
    }
    assert config["controlPlaneEndpoint"] == "api.c1.fleet.example.com:6443"
    assert config["clusterName"] == "c1"
    assert config["kubernetesVersion"] == "v1.37.1"
    assert config["networking"] == {"podSubnet": "10.244.0.0/16", "serviceSubnet": "10.96.0.0/12", "dnsDomain": "cluster.local"}
    # The files kubeadm is pointed at are exactly the ones the document writes or fetches.
    files = {f["path"] for f in yaml.safe_load(render_control_plane(inputs))["write_files"]}
    script = next(f["content"] for f in yaml.safe_load(render_control_plane(inputs))["write_files"] if f["path"].endswith("bootstrap.sh"))
    assert {"/etc/kubernetes/pki/etcd/ca.crt", "/etc/kubernetes/pki/apiserver-etcd-client.crt"} <= files
    for path in ("ca.key", "front-proxy-ca.key", "sa.key", "apiserver-etcd-client.key"):
        assert f" /etc/kubernetes/pki/{path} 0600 root:root" in script
    assert {"/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/pki/front-proxy-ca.crt", "/etc/kubernetes/pki/sa.pub"} <= files


def args_of(inputs: ControlPlaneInputs) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for arg in apiserver_extra_args(inputs):
        assert set(arg) == {"name", "value"} and isinstance(arg["value"], str)
        found.setdefault(arg["name"], []).append(arg["value"])
    return found


def test_api_server_flags(control_plane_inputs: Callable[..., ControlPlaneInputs]) -> None:
    args = args_of(control_plane_inputs(0))
    assert args == {
        "audit-log-maxage": ["30"],
        "audit-log-maxbackup": ["10"],
        "audit-log-maxsize": ["100"],
        "audit-log-path": ["/var/log/kubernetes/audit/audit.log"],
        "audit-policy-file": ["/etc/kubernetes/audit/policy.yaml"],
        "authentication-config": ["/etc/kubernetes/authn/authentication-config.yaml"],
        "enable-admission-plugins": ["NodeRestriction,DenyServiceExternalIPs"],
        "encryption-provider-config": ["/etc/kubernetes/encryption/encryption-config.yaml"],
        # Kubelets' serving certificates are the cluster CA's (serverTLSBootstrap): verified.
        "kubelet-certificate-authority": ["/etc/kubernetes/pki/ca.crt"],
        "profiling": ["false"],
        # kubeadm's own files (its pki directory is mounted already): sa.pub holds every
        # key that verifies, so a key rotation changes files, not flags.
        "service-account-key-file": ["/etc/kubernetes/pki/sa.pub"],
        "service-account-signing-key-file": ["/etc/kubernetes/pki/sa.key"],
        "tls-cipher-suites": [",".join(TLS_CIPHER_SUITES)],
    }
    names = [a["name"] for a in apiserver_extra_args(control_plane_inputs(0))]
    assert names == sorted(names)
    config = cluster_configuration(control_plane_inputs(0))
    # The cloud's controllers run in the cluster (the bundle's cloud controller manager):
    # --cloud-provider=external on the controller manager and the kubelets; the API
    # server has had no such flag since 1.33 (it would not start).
    assert "cloud-provider" not in args
    assert config["controllerManager"]["extraArgs"] == [
        {"name": "cloud-provider", "value": "external"}, {"name": "profiling", "value": "false"},
        {"name": "service-account-private-key-file", "value": "/etc/kubernetes/pki/sa.key"},
        {"name": "terminated-pod-gc-threshold", "value": "1000"}]
    assert config["scheduler"]["extraArgs"] == [{"name": "profiling", "value": "false"}]
    # Every file a flag names is mounted into the API server's static pod.
    mounts = {v["hostPath"]: v for v in config["apiServer"]["extraVolumes"]}
    for flag in ("audit-policy-file", "authentication-config", "encryption-provider-config", "audit-log-path"):
        directory = str(Path(args[flag][0]).parent)
        assert mounts[directory]["mountPath"] == directory
        assert mounts[directory]["readOnly"] is (flag != "audit-log-path")


def test_anonymous_access_is_limited_to_health_and_discovery(control_plane_inputs: Callable[..., ControlPlaneInputs]) -> None:
    """Instead of --anonymous-auth=false, which crash-loops kubeadm's API server pod
    (its probes get 401) and breaks bootstrap-token discovery (it reads cluster-info
    anonymously): anonymous requests may reach these exact paths and nothing else."""
    inputs = control_plane_inputs(0)
    args = args_of(inputs)
    assert "anonymous-auth" not in args
    assert not [n for n in args if n.startswith("oidc-")]  # rejected with --authentication-config
    config = authentication_config(inputs)
    assert config["apiVersion"] == "apiserver.config.k8s.io/v1"
    assert config["kind"] == "AuthenticationConfiguration"
    assert config["anonymous"] == {
        "enabled": True,
        "conditions": [
            {"path": "/healthz"},
            {"path": "/livez"},
            {"path": "/readyz"},
            {"path": "/api/v1/namespaces/kube-public/configmaps/cluster-info"},
        ],
    }
    assert config["jwt"] == []


def test_oidc_becomes_a_jwt_authenticator(control_plane_inputs: Callable[..., ControlPlaneInputs]) -> None:
    oidc = OIDC("https://login.example.com/realms/fleet", "kubernetes", username_claim="email", groups_claim="roles")
    config = authentication_config(control_plane_inputs(0, oidc=oidc))
    assert config["jwt"] == [
        {
            "issuer": {"url": "https://login.example.com/realms/fleet", "audiences": ["kubernetes"]},
            "claimMappings": {
                "username": {"claim": "email", "prefix": "oidc:"},
                "groups": {"claim": "roles", "prefix": "oidc:"},
            },
        }
    ]


def test_service_account_issuer(control_plane_inputs: Callable[..., ControlPlaneInputs]) -> None:
    issuer = ServiceAccountIssuer("https://oidc.fleet.example.com/c1", "https://oidc.fleet.example.com/c1/openid/v1/jwks")
    args = args_of(control_plane_inputs(0, service_account_issuer=issuer))
    # The first issuer signs; kubeadm's default stays accepted for tokens already issued.
    assert args["service-account-issuer"] == ["https://oidc.fleet.example.com/c1", "https://kubernetes.default.svc.cluster.local"]
    assert args["service-account-jwks-uri"] == ["https://oidc.fleet.example.com/c1/openid/v1/jwks"]
    assert "service-account-issuer" not in args_of(control_plane_inputs(0))


def test_secrets_are_encrypted_with_secretbox_from_a_fetched_key(control_plane_inputs: Callable[..., ControlPlaneInputs]) -> None:
    config = encryption_config_template()
    assert config["apiVersion"] == "apiserver.config.k8s.io/v1" and config["kind"] == "EncryptionConfiguration"
    (resource,) = config["resources"]
    assert resource["resources"] == ["secrets"]
    assert resource["providers"][0] == {"secretbox": {"keys": [{"name": "fleetform-1", "secret": SECRETBOX_KEY_PLACEHOLDER}]}}
    assert resource["providers"][-1] == {"identity": {}}
    assert "aescbc" not in yaml.safe_dump(config)
    script = render_control_plane(control_plane_inputs(0))
    assert "ff_fetch_secret c1/secretbox-key /run/fleetform/secrets/secretbox-key 0600 root:root" in script
    assert "secretbox-key=/run/fleetform/secrets/secretbox-key" in script


def test_audit_policy_never_logs_secret_payloads() -> None:
    policy = audit_policy()
    assert policy["apiVersion"] == "audit.k8s.io/v1" and policy["kind"] == "Policy"
    rules = policy["rules"]
    secrets = next(i for i, r in enumerate(rules) if any("secrets" in g["resources"] for g in r.get("resources", [])))
    assert rules[secrets]["level"] == "Metadata"
    first_body_rule = next(i for i, r in enumerate(rules) if r["level"] in ("Request", "RequestResponse"))
    assert secrets < first_body_rule  # first match wins
    assert rules[-1] == {"level": "Metadata"}


@pytest.mark.parametrize("skip", [True, False])
def test_kube_proxy_is_skipped_only_when_asked(control_plane_inputs: Callable[..., ControlPlaneInputs], skip: bool) -> None:
    init = init_configuration(control_plane_inputs(0, skip_kube_proxy=skip))
    cluster = cluster_configuration(control_plane_inputs(0, skip_kube_proxy=skip))
    assert ("addon/kube-proxy" in init.get("skipPhases", [])) is skip
    assert cluster.get("proxy") == ({"disabled": True} if skip else None)
    text = render_control_plane(control_plane_inputs(0, skip_kube_proxy=skip))
    assert ("addon/kube-proxy" in text) is skip
    joined = kubeadm_control_plane_documents(control_plane_inputs(1, skip_kube_proxy=skip))
    assert "skipPhases" not in joined[0]  # add-ons are an init-time phase


def test_bootstrap_token_and_discovery(
    control_plane_inputs: Callable[..., ControlPlaneInputs], worker_inputs: Callable[..., WorkerInputs], pki: TestPKI
) -> None:
    init = init_configuration(control_plane_inputs(0))
    (token,) = init["bootstrapTokens"]
    assert token["token"] == BOOTSTRAP_TOKEN_PLACEHOLDER
    # The join credential expires (the rotation timer replaces it after a third of its life).
    assert token["ttl"] == "6h"
    assert token["usages"] == ["authentication", "signing"]
    assert token["groups"] == ["system:bootstrappers:kubeadm:default-node-token"]
    expected = {
        "apiServerEndpoint": "api.c1.fleet.example.com:6443",
        "token": BOOTSTRAP_TOKEN_PLACEHOLDER,
        "caCertHashes": [ca_cert_hash(pki.cluster_ca.cert_pem)],
    }
    (join,) = kubeadm_control_plane_documents(control_plane_inputs(2))
    assert join["discovery"] == {"bootstrapToken": expected}
    assert join["controlPlane"] == {"localAPIEndpoint": {"advertiseAddress": "10.0.12.5", "bindPort": 6443}}
    assert "certificateKey" not in yaml.safe_dump(join)  # certificates are pre-issued
    worker = worker_join_configuration(worker_inputs())
    assert worker["discovery"] == {"bootstrapToken": expected}
    assert "controlPlane" not in worker


def test_worker_labels_and_packages(worker_inputs: Callable[..., WorkerInputs],
                                    control_plane_inputs: Callable[..., ControlPlaneInputs]) -> None:
    worker = worker_join_configuration(worker_inputs())
    kubelet = [{"name": "cloud-provider", "value": "external"},
               {"name": "provider-id", "value": "{{fleetform:provider-id}}"}]
    assert worker["nodeRegistration"]["kubeletExtraArgs"] == [  # sorted by name
        kubelet[0],
        {"name": "node-labels", "value": "node.fleetform.io/pool=general,topology.kubernetes.io/zone=eu-west-1a"},
        kubelet[1],
    ]
    assert worker_join_configuration(worker_inputs(node_labels={}))["nodeRegistration"]["kubeletExtraArgs"] == kubelet
    for doc in kubeadm_control_plane_documents(control_plane_inputs(0))[:1] + \
            kubeadm_control_plane_documents(control_plane_inputs(2)):
        assert doc["nodeRegistration"]["kubeletExtraArgs"] == kubelet
    doc = yaml.safe_load(render_worker(worker_inputs()))
    script = next(f["content"] for f in doc["write_files"] if f["path"].endswith("bootstrap.sh"))
    assert "'kubelet=1.37.1-*' 'kubeadm=1.37.1-*'" in script and "kubectl=" not in script
    assert "https://pkgs.k8s.io/core:/stable:/v1.37/deb/Release.key" in script
    assert "apt-mark hold kubelet kubeadm" in script
    # Not Ubuntu's containerd (1.7): the pinned 2.x release and runc, checked by sha256.
    assert doc["packages"] == ["curl", "gpg", "nftables"] and doc["package_update"] is True
    assert "ff_check_sha256 /run/fleetform/runtime/containerd.tar.gz " + CONTAINERD_SHA256 in script
    assert "ff_check_sha256 /run/fleetform/runtime/runc " + RUNC_SHA256 in script
    assert CONTAINERD_VERSION.startswith("2.")
    files = {f["path"]: f["content"] for f in doc["write_files"]}
    assert "SystemdCgroup = true" in files["/etc/containerd/config.toml"]
    assert "ExecStart=/usr/local/bin/containerd" in files["/etc/systemd/system/containerd.service"]
    # kubeadm join refuses to overwrite pki/ca.crt, so the worker keeps its copy elsewhere.
    assert "/etc/kubernetes/pki/ca.crt" not in {f["path"] for f in doc["write_files"]}


def test_control_plane_installs_pinned_packages(control_plane_inputs: Callable[..., ControlPlaneInputs]) -> None:
    text = render_control_plane(control_plane_inputs(1, kubernetes_version="1.36.4"))
    assert "'kubelet=1.36.4-*' 'kubeadm=1.36.4-*' 'kubectl=1.36.4-*'" in text
    assert "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] https://pkgs.k8s.io/core:/stable:/v1.36/deb/ /" in text
    assert "SystemdCgroup = true" in text and "br_netfilter" in text and "net.ipv4.ip_forward = 1" in text


def _self_signed(key: Any) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.mark.integration
@pytest.mark.parametrize("algorithm", ["rsa", "ec"])
def test_ca_cert_hash_matches_openssl(pki: TestPKI, tmp_path: Path, algorithm: str) -> None:
    """The documented way to compute --discovery-token-ca-cert-hash, with the real openssl."""
    openssl = require_tool("openssl")
    pem = _self_signed(rsa.generate_private_key(65537, 2048)) if algorithm == "rsa" else pki.cluster_ca.cert_pem
    (tmp_path / "ca.crt").write_text(pem)
    pub = subprocess.run([openssl, "x509", "-pubkey", "-noout", "-in", str(tmp_path / "ca.crt")], capture_output=True, check=True, timeout=10).stdout
    der = subprocess.run([openssl, "pkey", "-pubin", "-outform", "der"], input=pub, capture_output=True, check=True, timeout=10).stdout
    assert ca_cert_hash(pem) == "sha256:" + hashlib.sha256(der).hexdigest()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", ca_cert_hash(pem))
    # Pinned to the public key, not to the certificate's bytes.
    assert ca_cert_hash(pem) != "sha256:" + hashlib.sha256(base64.b64decode("".join(pem.splitlines()[1:-1]))).hexdigest()


def test_kubelet_configuration_rides_with_kubeadm_init(control_plane_inputs: Callable[..., ControlPlaneInputs]) -> None:
    """Replica 0 hands kubeadm the KubeletConfiguration (kubeadm uploads it for every node
    that joins later); every node sets the sysctls protectKernelDefaults checks."""
    docs = yaml.safe_load_all(render_control_plane(control_plane_inputs(0)))
    files = {f["path"]: f["content"] for f in next(iter(docs))["write_files"]}
    kubeadm = list(yaml.safe_load_all(files["/etc/kubernetes/fleetform/kubeadm.yaml.tmpl"]))
    kubelet = next(d for d in kubeadm if d["kind"] == "KubeletConfiguration")
    assert kubelet["protectKernelDefaults"] is True and kubelet["podPidsLimit"] > 0
    assert kubelet["tlsCipherSuites"] == list(TLS_CIPHER_SUITES)
    assert kubelet["cgroupDriver"] == "systemd"  # what containerd is configured with
    # Serving certificates from the cluster CA (the approver add-on approves the CSRs),
    # client certificates rotated: every node downloads this configuration when it joins.
    assert kubelet["serverTLSBootstrap"] is True and kubelet["rotateCertificates"] is True
    sysctl = files["/etc/sysctl.d/91-kubelet-kernel-defaults.conf"]
    for key, value in KERNEL_DEFAULTS:
        assert f"{key} = {value}\n" in sysctl


def test_cipher_suites_are_iana_names_openssl_knows() -> None:
    """Every suite the API server and kubelet are limited to is a real (IANA) AEAD suite."""
    require_tool("openssl")
    known = set(subprocess.run(["openssl", "ciphers", "-stdname", "ALL:TLSv1.3"], capture_output=True,
                               text=True, check=True).stdout.split())
    for suite in TLS_CIPHER_SUITES:
        assert suite in known, suite
        assert "GCM" in suite or "CHACHA20_POLY1305" in suite


def test_nodes_conceal_the_metadata_server_from_pods(worker_inputs: Callable[..., WorkerInputs],
                                                    tmp_path: Path) -> None:
    """Every node writes nftables rules that drop forwarded (pod) traffic to the metadata
    server, valid for nft itself, and loads them before the first pod can start."""
    from policies.rules.metadata import concealment_files

    doc = yaml.safe_load(render_worker(worker_inputs()))
    files = {f["path"]: f["content"] for f in doc["write_files"]}
    [path] = concealment_files(files)
    assert "nftables" in doc["packages"]
    unit = files["/etc/systemd/system/fleetform-metadata-concealment.service"]
    assert f"ExecStart=/usr/sbin/nft -f {path}" in unit and "Before=network-pre.target containerd.service" in unit
    script = next(c for p, c in files.items() if p.endswith("bootstrap.sh"))
    assert script.index("systemctl enable --now fleetform-metadata-concealment.service") < script.index("kubeadm join")
    nft = require_tool("nft")
    rules = tmp_path / "metadata.nft"
    rules.write_text(files[path])
    out = subprocess.run([nft, "-c", "-f", str(rules)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
