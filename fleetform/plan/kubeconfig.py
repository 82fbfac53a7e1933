"""Kubeconfig documents (pure): the admin kubeconfig per cluster and the fleet ones.

The fleet kubeconfig (stack output ``kubeconfig``; ``fleetform kubeconfig`` offline) has
one context per cluster and one per tenant namespace (``<cluster>/<tenant>``), people
signing in through ``kubectl oidc-login``; the admin one (``admin_kubeconfig``) carries
each cluster's break-glass client certificate.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from fleetform.plan.identity import IdentityPlan
    from fleetform.plan.model import ClusterPlan, FleetPlan


WIDTH = 80  # yaml.safe_dump's default line width


def _unfoldable(line: str) -> bool:
    """A block-style line PyYAML could not fold: its scalars (a key and a value after
    ``- `` entries) are plain and have no space to break at, so PyYAML's pure-Python
    emitter writes it whole at any width, as libyaml does at width -1."""
    body = line.lstrip(" ")
    while body.startswith("- "):
        body = body[2:]
    key, sep, value = body.partition(": ")
    parts = (key, value) if sep else (body,)
    # A key of 100+ characters: the emitters' limits for a simple (``key:``) form differ.
    return len(key) < 100 and all(" " not in part and part[:1] not in ("'", '"', "?") for part in parts)


def _safe_dump(doc: Any) -> str:
    """``yaml.safe_dump(doc, sort_keys=False)``, byte for byte, on libyaml when it can be.

    libyaml's emitter (``yaml.CSafeDumper``, in the pinned PyYAML wheel) writes the same
    bytes as the pure-Python one except where they fold long lines, choose the form of a
    long mapping key or quote. With width -1 libyaml never folds; its text is kept when
    it has no quoted scalar at all (no ``'`` or ``"``) and every line past the width is one
    PyYAML could not have folded either (plain scalars without a space: base64 data,
    server URLs) with a short key; otherwise
    the pure-Python dumper writes it, exactly as before.
    """
    if hasattr(yaml, "CSafeDumper"):
        text = yaml.dump(doc, Dumper=yaml.CSafeDumper, sort_keys=False, width=-1)
        if "'" not in text and '"' not in text and all(len(line) <= WIDTH or _unfoldable(line)
                                   for line in text.split("\n")):
            return text
    return yaml.safe_dump(doc, sort_keys=False)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@dataclass(frozen=True)
class AdminAccess:
    context: str  # kubeconfig context name (the cluster name, or cluster@cloud-region)
    server: str  # https://api.<cluster>.<domain>:6443
    ca_pem: str
    client_cert_pem: str
    client_key_pem: str


def admin_kubeconfig(entries: Sequence[AdminAccess], current: str | None = None) -> str:
    """A kubeconfig with a client certificate per cluster (break-glass admin access)."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": e.context, "cluster": {"server": e.server,
                                                      "certificate-authority-data": b64(e.ca_pem)}}
                     for e in entries],
        "users": [{"name": f"{e.context}-admin", "user": {"client-certificate-data": b64(e.client_cert_pem),
                                                          "client-key-data": b64(e.client_key_pem)}}
                  for e in entries],
        "contexts": [{"name": e.context, "context": {"cluster": e.context, "user": f"{e.context}-admin"}}
                     for e in entries],
        "current-context": current or (entries[0].context if entries else ""),
    }
    return _safe_dump(doc)


# ------------------------------------------------------------ the fleet kubeconfig

EXEC_API_VERSION = "client.authentication.k8s.io/v1"
OIDC_USER = "oidc"
# Stand-ins for what only `pulumi up` knows (certificates): valid base64, obviously fake.
PLACEHOLDER_CA = (
    "-----BEGIN CERTIFICATE-----\n"
    "PLACEHOLDER: the cluster CA is known after `pulumi up`;\n"
    "read it from the stack output `kubeconfig`.\n"
    "-----END CERTIFICATE-----\n"
)
PLACEHOLDER_CLIENT_CERT = PLACEHOLDER_CA.replace("cluster CA", "admin client certificate").replace(
    "`kubeconfig`", "`admin_kubeconfig`"
)
PLACEHOLDER_CLIENT_KEY = (
    "PLACEHOLDER: the admin client key is in the secret stack output `admin_kubeconfig`.\n"
)


@dataclass(frozen=True)
class Endpoint:
    name: str  # cluster entry and context name
    server: str
    ca_pem: str


@dataclass(frozen=True)
class NamespaceContext:
    context: str  # "<cluster>/<tenant>"
    cluster: str
    namespace: str


# The `kubectl oidc-login` plugin's own binary. Called directly rather than through
# `kubectl`: a kubectl that contacts the cluster before it runs a plugin (gcloud's version
# dispatcher does) would run the credential plugin again - which runs kubectl again.
OIDC_LOGIN_COMMAND = "kubectl-oidc_login"


@dataclass(frozen=True)
class OidcLogin:
    """``kubectl oidc-login`` (int128/kubelogin) as the exec credential plugin."""

    issuer_url: str
    client_id: str
    extra_scopes: tuple[str, ...] = ()

    def user(self) -> dict[str, object]:
        args = [
            "get-token",
            f"--oidc-issuer-url={self.issuer_url}",
            f"--oidc-client-id={self.client_id}",
        ]
        args += [f"--oidc-extra-scope={s}" for s in self.extra_scopes]
        return {
            "exec": {
                "apiVersion": EXEC_API_VERSION,
                "command": OIDC_LOGIN_COMMAND,
                "args": args,
                "interactiveMode": "IfAvailable",
                "provideClusterInfo": False,
                "installHint": "Install the kubelogin plugin: `kubectl krew install oidc-login` "
                "(https://github.com/int128/kubelogin).",
            }
        }


def fleet_kubeconfig(
    endpoints: Sequence[Endpoint],
    namespaces: Sequence[NamespaceContext],
    login: OidcLogin | None,
    current: str | None = None,
) -> str:
    """People's kubeconfig: one cluster and one context per cluster, one context per
    tenant namespace; every context signs in through the fleet's SSO."""
    user = {"user": OIDC_USER} if login is not None else {}
    contexts = [{"name": e.name, "context": {"cluster": e.name, **user}} for e in endpoints]
    contexts += [
        {"name": n.context, "context": {"cluster": n.cluster, "namespace": n.namespace, **user}}
        for n in namespaces
    ]
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {
                "name": e.name,
                "cluster": {"server": e.server, "certificate-authority-data": b64(e.ca_pem)},
            }
            for e in endpoints
        ],
        "users": [{"name": OIDC_USER, "user": login.user()}] if login is not None else [],
        "contexts": contexts,
        "current-context": current or (endpoints[0].name if endpoints else ""),
    }
    return _safe_dump(doc)


# ------------------------------------------------------------ from the plan


@dataclass(frozen=True)
class Layout:
    """Which contexts a fleet kubeconfig has: (context, server, logical cluster) per
    endpoint, the tenant-namespace contexts, and how people sign in."""

    endpoints: tuple[tuple[str, str, str], ...]
    namespaces: tuple[NamespaceContext, ...]
    login: OidcLogin | None

    @property
    def clusters(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for _, _, c in self.endpoints))


def layout(identity: IdentityPlan, plan: FleetPlan, *, admin: bool = False) -> Layout:
    """One context per logical cluster, ``<cluster>``, on its logical API name, and (people
    only) one per ``<cluster>/<tenant>``. While a cluster moves, ``<cluster>`` is the
    incarnation that serves it (source in prepare, target from cutover) and the other one
    is ``<cluster>@<cloud>-<region>``; both then use their incarnation API names, which
    name one place each, instead of the logical name that DNS hands over."""
    endpoints: list[tuple[str, str, str]] = []
    by_name: dict[str, list[ClusterPlan]] = {}
    for c in plan.clusters:
        by_name.setdefault(c.name, []).append(c)
    for name, incarnations in by_name.items():
        moving = len(incarnations) > 1
        for c in sorted(incarnations, key=lambda i: not i.serving):
            host = c.api.incarnation_dns if moving else c.api.dns
            endpoints.append((c.context, f"https://{host}:{c.api.port}", name))
    namespaces = tuple(
        NamespaceContext(f"{c}/{t.name}", c, t.namespace)
        for c in by_name
        for t in identity.tenants_on(c)
    )
    sso = identity.sso
    login = OidcLogin(sso.issuer_url, sso.client_id, sso.extra_scopes) if sso is not None else None
    return Layout(tuple(endpoints), () if admin else namespaces, login)


def people_kubeconfig(lay: Layout, ca_pems: Mapping[str, str]) -> str:
    """``ca_pems``: logical cluster -> its kubernetes CA (missing: a placeholder)."""
    return fleet_kubeconfig(
        [Endpoint(ctx, server, ca_pems.get(c, PLACEHOLDER_CA)) for ctx, server, c in lay.endpoints],
        lay.namespaces,
        lay.login,
    )


def fleet_admin_kubeconfig(lay: Layout, creds: Mapping[str, tuple[str, str, str]]) -> str:
    """``creds``: logical cluster -> (CA, admin client certificate, its key); missing:
    placeholders."""
    placeholder = (PLACEHOLDER_CA, PLACEHOLDER_CLIENT_CERT, PLACEHOLDER_CLIENT_KEY)
    return admin_kubeconfig(
        [AdminAccess(ctx, server, *creds.get(c, placeholder)) for ctx, server, c in lay.endpoints]
    )
