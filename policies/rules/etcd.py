"""Rules on etcd as its members' user-data configures it, and on how API servers reach it:
mutual TLS on both listeners, TLS-only URLs, a CA of etcd's own."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping
from typing import Any

from policies.rules.apiserver import ApiServerView, api_server_view
from policies.rules.base import MACHINES, Options, Rule, _dict, _list, machine_role, registry
from policies.rules.bootfiles import BootFiles, boot_files, yaml_documents

RULES: list[Rule] = []
rule = registry(RULES)


# etcd reads only its config file when --config-file is given (flags and ETCD_* variables
# are then ignored), so the file is what counts.
_ETCD_EXEC = re.compile(r"^ExecStart=(.*\betcd\b.*)$", re.MULTILINE)


def _etcd_config(files: BootFiles) -> tuple[str, Mapping[str, Any]] | None:
    for content in files.files.values():
        for line in _ETCD_EXEC.findall(content):
            try:
                argv = shlex.split(line)
            except ValueError:
                continue
            for n, arg in enumerate(argv):
                path = None
                if arg == "--config-file" and n + 1 < len(argv):
                    path = argv[n + 1]
                elif arg.startswith("--config-file="):
                    path = arg.split("=", 1)[1]
                if path is not None:
                    docs = yaml_documents(files.content(path) or "")
                    return (path, docs[0]) if docs else (path, {})
    for path, content in sorted(files.files.items()):
        for doc in yaml_documents(content):
            if "data-dir" in doc and ("listen-client-urls" in doc or "initial-cluster" in doc):
                return path, doc
    return None


def _urls(value: Any) -> list[str]:
    return [u.strip() for u in str(value or "").split(",") if u.strip()]


_LOOPBACK = re.compile(r"^http://(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?/?$")


def _etcd_member_problems(path: str, config: Mapping[str, Any]) -> Iterator[str]:
    if not config:
        yield f"the etcd unit reads {path}, which the user-data does not write"
        return
    for section, what, cis in (("client-transport-security", "client", ("2.1", "2.2", "2.3")),
                               ("peer-transport-security", "peer", ("2.4", "2.5", "2.6"))):
        tls = _dict(config.get(section))
        for key in ("cert-file", "key-file", "trusted-ca-file"):
            if not tls.get(key):
                yield f"{path}: {section}.{key} is not set (CIS {cis[0]})"
        if tls.get("client-cert-auth") is not True:
            yield f"{path}: {section}.client-cert-auth is not true: {what}s without a certificate are accepted (CIS {cis[1]})"
        if tls.get("auto-tls") is True:
            yield f"{path}: {section}.auto-tls is true: self-signed certificates (CIS {cis[2]})"
    for key in ("listen-client-urls", "advertise-client-urls", "listen-peer-urls",
                "initial-advertise-peer-urls"):
        for url in _urls(config.get(key)):
            if not url.startswith("https://"):
                yield f"{path}: {key} has {url!r}; etcd must speak TLS only"
    for url in _urls(config.get("listen-metrics-urls")):
        if not (url.startswith("https://") or _LOOPBACK.match(url)):
            yield f"{path}: listen-metrics-urls exposes {url!r} without TLS beyond loopback"


def _apiserver_etcd_problems(view: ApiServerView) -> Iterator[str]:
    for path, doc in view.files.documents("ClusterConfiguration"):
        etcd = _dict(doc.get("etcd"))
        if "local" in etcd:
            yield f"{path}: kubeadm runs a stacked (local) etcd; fleetform's etcd is a dedicated plane"
        external = _dict(etcd.get("external"))
        if not external:
            continue
        for key, cis in (("caFile", "1.2.26"), ("certFile", "1.2.23"), ("keyFile", "1.2.23")):
            if not external.get(key):
                yield f"{path}: etcd.external.{key} is not set: the API server cannot authenticate to etcd (CIS {cis})"
        for url in _list(external.get("endpoints")):
            if not str(url).startswith("https://"):
                yield f"{path}: etcd endpoint {url!r} is not https"
        ca = view.files.content(str(external.get("caFile", "")))
        cert_dir = str(doc.get("certificatesDir") or "/etc/kubernetes/pki")
        kube_ca = view.files.content(f"{cert_dir}/ca.crt")
        if ca and kube_ca and ca.strip() == kube_ca.strip():
            yield f"{path}: etcd trusts the Kubernetes CA; etcd needs a CA of its own (CIS 2.7)"


@rule("etcd-cert-auth",
      "etcd members require client and peer certificates (client-cert-auth on both "
      "listeners, no auto-TLS, TLS-only URLs), and API servers reach etcd with a client "
      "certificate from etcd's own CA.",
      cis=("2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "2.7", "1.2.23", "1.2.26"))
def etcd_cert_auth(type_: str, inputs: Mapping[str, Any], options: Options) -> Iterator[str]:
    if type_ not in MACHINES:
        return
    role = machine_role(type_, inputs, options)
    if role == "worker":
        return
    files = boot_files(type_, inputs)
    found = _etcd_config(files)
    if found is not None:
        yield from _etcd_member_problems(*found)
    elif role == "etcd":
        yield "an etcd member whose user-data carries no etcd configuration: nothing proves TLS client/peer auth"
    view = api_server_view(type_, inputs, options)
    if view is not None:
        yield from _apiserver_etcd_problems(view)
