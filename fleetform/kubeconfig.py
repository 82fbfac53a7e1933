"""Kubeconfig documents (pure): the admin kubeconfig per cluster and the fleet one."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

import yaml


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
    return yaml.safe_dump(doc, sort_keys=False)
