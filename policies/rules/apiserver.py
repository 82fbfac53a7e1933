"""Rules on the API server as kubeadm configures it in a control-plane machine's user-data:
anonymous access, audit logging, Secrets encrypted at rest."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from policies.rules.base import MACHINES, Options, Rule, _dict, _list, machine_role, registry
from policies.rules.bootfiles import BootFiles, boot_files

RULES: list[Rule] = []
rule = registry(RULES)


# Anonymous requests the API server may answer (kubeadm's probes, load-balancer checks
# and bootstrap-token discovery); see fleetform/bootstrap/kubeadm.py.
ANONYMOUS_PATHS = frozenset({
    "/healthz", "/livez", "/readyz",
    "/api/v1/namespaces/kube-public/configmaps/cluster-info",
})
STRONG_PROVIDERS = frozenset({"aescbc", "aesgcm", "secretbox", "kms"})
AUDIT_MINIMUMS = (("audit-log-maxage", 30, "CIS 1.2.17"), ("audit-log-maxbackup", 10, "CIS 1.2.18"),
                  ("audit-log-maxsize", 100, "CIS 1.2.19"))


def _flags(cluster_configuration: Mapping[str, Any]) -> dict[str, list[str]]:
    """apiServer.extraArgs of a kubeadm ClusterConfiguration (v1beta4 list or v1beta3 map)."""
    raw = _dict(cluster_configuration.get("apiServer")).get("extraArgs")
    flags: dict[str, list[str]] = {}
    if isinstance(raw, Mapping):
        for k, v in raw.items():
            flags.setdefault(str(k), []).append(str(v))
    else:
        for item in _list(raw):
            item = _dict(item)
            if "name" in item:
                flags.setdefault(str(item["name"]), []).append(str(item.get("value", "")))
    return flags


def _is_control_plane_join(doc: Mapping[str, Any]) -> bool:
    return doc.get("kind") == "JoinConfiguration" and doc.get("controlPlane") is not None


@dataclass(frozen=True)
class ApiServerView:
    """What a control-plane machine's user-data says about its API server."""

    files: BootFiles
    flags: dict[str, list[str]] | None  # None: a joining replica (flags live in the cluster)


def api_server_view(type_: str, inputs: Mapping[str, Any], options: Options) -> ApiServerView | None:
    """The API server a machine runs, or None if it runs none (etcd members, workers)."""
    if type_ not in MACHINES:
        return None
    role = machine_role(type_, inputs, options)
    if role in ("etcd", "worker"):
        return None
    files = boot_files(type_, inputs)
    configs = files.documents("ClusterConfiguration")
    joins = [d for _, d in files.documents("JoinConfiguration") if _is_control_plane_join(d)]
    if configs:
        flags: dict[str, list[str]] = {}
        for _, doc in configs:
            for k, v in _flags(doc).items():
                flags.setdefault(k, []).extend(v)
        return ApiServerView(files, flags)
    if joins or role == "control_plane":
        return ApiServerView(files, None)
    return None


def _no_kubeadm(view: ApiServerView) -> Iterator[str]:
    if view.flags is None and not view.files.documents("JoinConfiguration"):
        yield "a control-plane machine without a kubeadm configuration in its user-data: nothing proves how its API server runs"


def _check_authn(doc: Mapping[str, Any], where: str) -> Iterator[str]:
    anonymous = _dict(doc.get("anonymous"))
    if anonymous.get("enabled") is False:
        return
    if not anonymous:
        yield f"{where} has no 'anonymous' section: anonymous requests are allowed everywhere"
        return
    paths = [str(_dict(c).get("path")) for c in _list(anonymous.get("conditions"))]
    if not paths:
        yield f"{where} enables anonymous requests without conditions (every path)"
    for path in paths:
        if path not in ANONYMOUS_PATHS:
            yield f"{where} allows anonymous requests to {path!r}; only health endpoints and cluster-info may be anonymous"


def _anonymous_files(view: ApiServerView) -> Iterator[str]:
    docs = view.files.documents("AuthenticationConfiguration")
    if not docs:
        yield "no AuthenticationConfiguration file: anonymous requests would be allowed to every path"
    for path, doc in docs:
        yield from _check_authn(doc, path)


@rule("apiserver-anonymous-auth",
      "The API server answers anonymous requests only on its health endpoints and "
      "cluster-info: a structured AuthenticationConfiguration (--authentication-config) "
      "with anonymous access limited by path conditions, or --anonymous-auth=false.",
      cis=("1.2.1",))
def apiserver_anonymous_auth(type_: str, inputs: Mapping[str, Any], options: Options) -> Iterator[str]:
    view = api_server_view(type_, inputs, options)
    if view is None:
        return
    yield from _no_kubeadm(view)
    if view.flags is None:  # a joining replica: its API server mounts the same files
        if view.files.documents("JoinConfiguration"):
            yield from _anonymous_files(view)
        return
    anonymous = view.flags.get("anonymous-auth", [])
    authn = view.flags.get("authentication-config", [])
    if any(v.lower() != "false" for v in anonymous):
        yield f"--anonymous-auth={anonymous[-1]}"
    if authn:
        docs = view.files.documents_at(authn[-1], "AuthenticationConfiguration")
        if not docs:
            yield f"--authentication-config={authn[-1]} but the user-data writes no AuthenticationConfiguration there"
        for doc in docs:
            if anonymous and "anonymous" in doc:
                yield (f"--anonymous-auth is set and {authn[-1]} configures anonymous access too; "
                       "the API server refuses to start with both")
            elif not anonymous:  # with the flag (false) and no section, the flag decides
                yield from _check_authn(doc, authn[-1])
    elif not anonymous:
        yield ("neither --authentication-config nor --anonymous-auth=false: anonymous requests "
               "reach every path (the flag defaults to true)")


def _audit_policy_problems(doc: Mapping[str, Any], where: str) -> Iterator[str]:
    levels = [str(_dict(r).get("level", "")) for r in _list(doc.get("rules"))]
    if not levels:
        yield f"{where}: the audit policy has no rules (nothing is logged)"
    elif all(level == "None" for level in levels):
        yield f"{where}: every audit rule has level None (nothing is logged)"


def _configured_files(view: ApiServerView, kind: str, path: str | None, missing: str,
                      check: Callable[[Mapping[str, Any], str], Iterator[str]]) -> Iterator[str]:
    """The API server's documents of ``kind``: at ``path`` (its flag's value), or for a
    joining replica (no flags of its own) wherever its user-data writes them; ``missing``
    when there are none, then ``check(doc, where)`` on each."""
    if path is None:
        if not view.files.documents("JoinConfiguration"):
            return
        found = list(view.files.documents(kind))
    else:
        found = [(path, doc) for doc in view.files.documents_at(path, kind)]
    if not found:
        yield missing
    for where, doc in found:
        yield from check(doc, where)


@rule("apiserver-audit-logging",
      "The API server writes an audit log with a policy that records every request at "
      "Metadata level or above, and keeps it (max age, backups, size).",
      cis=("1.2.16", "1.2.17", "1.2.18", "1.2.19", "3.2.1"))
def apiserver_audit_logging(type_: str, inputs: Mapping[str, Any], options: Options) -> Iterator[str]:
    view = api_server_view(type_, inputs, options)
    if view is None:
        return
    yield from _no_kubeadm(view)
    if view.flags is None:
        yield from _configured_files(view, "Policy", None, "no audit Policy file for the API server's "
                                     "--audit-policy-file", _audit_policy_problems)
        return
    if not view.flags.get("audit-log-path"):
        yield "--audit-log-path is not set: no audit log is written"
    policy = view.flags.get("audit-policy-file")
    if not policy:
        yield "--audit-policy-file is not set: the API server audits nothing"
    else:
        yield from _configured_files(view, "Policy", policy[-1], f"--audit-policy-file={policy[-1]} but the "
                                     "user-data writes no audit Policy there", _audit_policy_problems)
    for flag, minimum, cis in AUDIT_MINIMUMS:
        values = view.flags.get(flag)
        if not values:
            yield f"--{flag} is not set ({cis}: at least {minimum})"
            continue
        try:
            ok = int(values[-1]) >= minimum
        except ValueError:
            ok = False
        if not ok:
            yield f"--{flag}={values[-1]} ({cis}: at least {minimum})"


def _encryption_problems(doc: Mapping[str, Any], where: str) -> Iterator[str]:
    covered = False
    for entry in _list(doc.get("resources")):
        entry = _dict(entry)
        names = {str(r) for r in _list(entry.get("resources"))}
        if not names & {"secrets", "*.", "*.*"}:
            continue
        covered = True
        providers = [_dict(p) for p in _list(entry.get("providers"))]
        first = next(iter(providers[0]), None) if providers else None
        if first not in STRONG_PROVIDERS:
            yield (f"{where}: Secrets are written with provider {first!r}; the first provider must be "
                   f"one of {', '.join(sorted(STRONG_PROVIDERS))}")
        if first in ("aescbc", "aesgcm", "secretbox") and not _list(_dict(providers[0][first]).get("keys")):
            yield f"{where}: the {first} provider has no keys"
    if not covered:
        yield f"{where}: no entry encrypts 'secrets'"


@rule("apiserver-secrets-encryption",
      "The API server encrypts Secrets at rest (--encryption-provider-config naming an "
      "EncryptionConfiguration whose first provider for secrets is a real cipher).",
      cis=("1.2.27", "1.2.28"))
def apiserver_secrets_encryption(type_: str, inputs: Mapping[str, Any], options: Options) -> Iterator[str]:
    view = api_server_view(type_, inputs, options)
    if view is None:
        return
    yield from _no_kubeadm(view)
    if view.flags is None:
        yield from _configured_files(view, "EncryptionConfiguration", None, "no EncryptionConfiguration for "
                                     "the API server's --encryption-provider-config", _encryption_problems)
        return
    config = view.flags.get("encryption-provider-config")
    if not config:
        yield "--encryption-provider-config is not set: Secrets are stored in etcd in clear"
        return
    yield from _configured_files(view, "EncryptionConfiguration", config[-1],
                                 f"--encryption-provider-config={config[-1]} but the user-data neither writes "
                                 "an EncryptionConfiguration there nor renders one to it", _encryption_problems)
