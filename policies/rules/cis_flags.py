"""CIS flags of the control-plane components and the kubelet, as kubeadm configures them
in the first control-plane replica's user-data, and the kernel settings every node sets
at boot so the kubelet may protect them.

The kubelet's ``KubeletConfiguration`` travels with ``kubeadm init`` (replica 0): kubeadm
uploads it to the ``kubelet-config`` ConfigMap, and every node that joins later (other
replicas, workers) downloads it from there. So the configuration is checked where it is
written, and the sysctls ``protectKernelDefaults`` insists on are checked on every node.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from policies.rules.apiserver import api_server_view
from policies.rules.base import MACHINES, Options, Rule, _dict, _list, machine_role, registry
from policies.rules.bootfiles import BootFiles, boot_files

RULES: list[Rule] = []
rule = registry(RULES)

# Go's TLS 1.2 AEAD suites with forward secrecy, and the TLS 1.3 ones (which Go always
# uses; naming them is harmless). Anything else (CBC, RSA key exchange, 3DES, RC4) fails.
STRONG_CIPHERS = frozenset({
    "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
})
# What the kubelet with protectKernelDefaults refuses to start without (it will not
# change them itself): pkg/kubelet/cm setupKernelTunables.
KERNEL_DEFAULTS: Mapping[str, str] = {
    "vm.overcommit_memory": "1",
    "vm.panic_on_oom": "0",
    "kernel.panic": "10",
    "kernel.panic_on_oops": "1",
    "kernel.keys.root_maxkeys": "1000000",
    "kernel.keys.root_maxbytes": "25000000",
}


def weak_ciphers(value: str) -> list[str]:
    """The suites of a comma-separated list that are not strong ([] when all are)."""
    return [c.strip() for c in value.split(",") if c.strip() and c.strip() not in STRONG_CIPHERS]


def _component_flags(doc: Mapping[str, Any], component: str) -> dict[str, str]:
    raw = _dict(doc.get(component)).get("extraArgs")
    if isinstance(raw, Mapping):
        return {str(k): str(v) for k, v in raw.items()}
    return {str(_dict(i).get("name")): str(_dict(i).get("value", "")) for i in _list(raw) if "name" in _dict(i)}


@rule("control-plane-cis-flags",
      "The API server admits no Service external IPs (DenyServiceExternalIPs) and speaks "
      "only strong TLS cipher suites; the controller manager garbage-collects terminated "
      "pods (--terminated-pod-gc-threshold).",
      cis=("1.2.3", "1.2.29", "1.3.1"))
def control_plane_cis_flags(type_: str, inputs: Mapping[str, Any], options: Options) -> Iterator[str]:
    view = api_server_view(type_, inputs, options)
    if view is None or view.flags is None:  # joining replicas take the cluster's configuration
        return
    plugins = {p.strip() for v in view.flags.get("enable-admission-plugins", []) for p in v.split(",")}
    if "DenyServiceExternalIPs" not in plugins:
        yield ("--enable-admission-plugins lacks DenyServiceExternalIPs: any user who may create "
               "a Service can claim an external IP and intercept its traffic (CIS 1.2.3)")
    ciphers = view.flags.get("tls-cipher-suites")
    if not ciphers:
        yield "--tls-cipher-suites is not set: Go's defaults include CBC suites (CIS 1.2.29)"
    elif weak_ciphers(ciphers[-1]):
        yield f"--tls-cipher-suites names weak suites {', '.join(weak_ciphers(ciphers[-1]))} (CIS 1.2.29)"
    for path, doc in view.files.documents("ClusterConfiguration"):
        value = _component_flags(doc, "controllerManager").get("terminated-pod-gc-threshold")
        if value is None:
            yield (f"{path}: controllerManager --terminated-pod-gc-threshold is not set: terminated "
                   "pods pile up to 12500 (CIS 1.3.1)")
        elif not value.isdigit() or int(value) <= 0:
            yield f"{path}: controllerManager --terminated-pod-gc-threshold={value} (CIS 1.3.1)"


def _sysctls(files: BootFiles) -> dict[str, str]:
    """What the node's /etc/sysctl.d files set (later files win, as ``sysctl --system``)."""
    found: dict[str, str] = {}
    for path, content in sorted(files.files.items()):
        if not (path.startswith("/etc/sysctl.d/") and path.endswith(".conf")):
            continue
        for line in content.splitlines():
            line = line.strip()
            if line and not line.startswith(("#", ";")) and "=" in line:
                key, _, value = line.partition("=")
                found[key.strip().lstrip("-")] = value.strip()
    return found


def _kubelet_problems(path: str, doc: Mapping[str, Any]) -> Iterator[str]:
    if doc.get("protectKernelDefaults") is not True:
        yield f"{path}: KubeletConfiguration.protectKernelDefaults is not true (CIS 4.2.6)"
    ciphers = _list(doc.get("tlsCipherSuites"))
    if not ciphers:
        yield f"{path}: KubeletConfiguration.tlsCipherSuites is not set (CIS 4.2.12)"
    elif weak_ciphers(",".join(str(c) for c in ciphers)):
        yield (f"{path}: KubeletConfiguration.tlsCipherSuites names weak suites "
               f"{', '.join(weak_ciphers(','.join(str(c) for c in ciphers)))} (CIS 4.2.12)")
    limit = doc.get("podPidsLimit")
    if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
        yield f"{path}: KubeletConfiguration.podPidsLimit is {limit!r}: a pod can fork-bomb its node (CIS 4.2.13)"


@rule("kubelet-cis-config",
      "The kubelet protects kernel defaults (and every node sets the sysctls it requires "
      "at boot), speaks only strong TLS cipher suites and limits the PIDs of each pod; the "
      "configuration rides with `kubeadm init` to every node of the cluster.",
      cis=("4.2.6", "4.2.12", "4.2.13"))
def kubelet_cis_config(type_: str, inputs: Mapping[str, Any], options: Options) -> Iterator[str]:
    if type_ not in MACHINES:
        return
    role = machine_role(type_, inputs, options)
    if role not in ("control_plane", "worker"):
        return
    files = boot_files(type_, inputs)
    if not files.files:
        return  # no cloud-config at all: other rules say so
    sysctls = _sysctls(files)
    for key, value in KERNEL_DEFAULTS.items():
        if sysctls.get(key) != value:
            yield (f"/etc/sysctl.d: {key} is {sysctls.get(key, 'not set')!r}, the kubelet with "
                   f"protectKernelDefaults needs {value} (it refuses to start otherwise)")
    view = api_server_view(type_, inputs, options)
    if view is None or view.flags is None:
        return  # joining nodes download the cluster's KubeletConfiguration
    docs = files.documents("KubeletConfiguration")
    if not docs:
        yield "no KubeletConfiguration next to the ClusterConfiguration: every kubelet runs on defaults"
    for path, doc in docs:
        yield from _kubelet_problems(path, doc)


@rule("kubelet-serving-verified",
      "Kubelets serve certificates of the cluster CA (serverTLSBootstrap: true in the "
      "KubeletConfiguration every node downloads) and the API server verifies them "
      "(--kubelet-certificate-authority), instead of trusting self-signed ones.",
      cis=("1.2.5", "4.2.10"))
def kubelet_serving_verified(type_: str, inputs: Mapping[str, Any], options: Options) -> Iterator[str]:
    view = api_server_view(type_, inputs, options)
    if view is None or view.flags is None:  # joining replicas take the cluster's configuration
        return
    if not view.flags.get("kubelet-certificate-authority"):
        yield ("--kubelet-certificate-authority is not set: the API server does not verify the kubelets it "
               "connects to for logs, exec and port-forward (CIS 1.2.5)")
    for path, doc in view.files.documents("KubeletConfiguration"):
        if doc.get("serverTLSBootstrap") is not True:
            yield (f"{path}: KubeletConfiguration.serverTLSBootstrap is not true: kubelets serve self-signed "
                   "certificates that nothing renews or verifies (CIS 4.2.10)")


# kubeadm's duration syntax (Go's time.ParseDuration) for a token's ttl.
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|m|s|ms|us|µs|ns)")
_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
# A join credential lives hours, not weeks: the control plane's timer replaces it.
MAX_TOKEN_TTL_HOURS = 168


def duration_seconds(value: str) -> float | None:
    """Seconds of a Go duration ("24h", "1h30m", "0s"; "0" is zero), None if malformed."""
    if value.strip() == "0":
        return 0.0
    parts = _DURATION_PART.findall(value.strip())
    if not parts or "".join(n + u for n, u in parts) != value.strip():
        return None
    return sum(float(n) * _SECONDS[u] for n, u in parts)


@rule("bootstrap-token-expires",
      "The bootstrap tokens kubeadm init creates expire (a ttl of hours, at most a week; "
      "kubeadm's default is 24h): ttl 0s makes a permanent join credential that every "
      "joining machine can read.")
def bootstrap_token_expires(type_: str, inputs: Mapping[str, Any], options: Options) -> Iterator[str]:
    view = api_server_view(type_, inputs, options)
    if view is None:
        return
    for path, doc in view.files.documents("InitConfiguration"):
        for i, token in enumerate(_list(doc.get("bootstrapTokens"))):
            ttl = _dict(token).get("ttl")
            if ttl is None:
                continue  # kubeadm's default: 24h
            seconds = duration_seconds(str(ttl))
            if seconds is None:
                yield f"{path}: bootstrapTokens[{i}].ttl {ttl!r} is not a duration"
            elif seconds <= 0:
                yield f"{path}: bootstrapTokens[{i}].ttl is {ttl}: a join credential that never expires"
            elif seconds > MAX_TOKEN_TTL_HOURS * 3600:
                yield (f"{path}: bootstrapTokens[{i}].ttl is {ttl}: more than {MAX_TOKEN_TTL_HOURS}h for a join "
                       "credential")
