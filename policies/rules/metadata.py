"""Rules on what a GCP node's pods can reach of its identity: the metadata server is
concealed from pods (hostNetwork system components keep it), and the node's OAuth
scopes are only those it needs."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from policies.rules.base import (
    GCP_MACHINES,
    Options,
    Rule,
    _dict,
    _list,
    _seen,
    machine_role,
    registry,
)
from policies.rules.bootfiles import boot_files

RULES: list[Rule] = []
rule = registry(RULES)

METADATA_IP = "169.254.169.254"
# Secret Manager, which every node reads its boot secrets from, accepts no narrower scope
# than cloud-platform; IAM on the node's own service account limits what it may do.
ALLOWED_SCOPES = frozenset({"https://www.googleapis.com/auth/cloud-platform", "cloud-platform"})
# An nftables rule set that drops forwarded (pod) traffic to the metadata server: a
# chain on the forward hook with a drop (or reject) of that destination. Traffic of
# hostNetwork pods leaves through the output hook and is not affected.
_FORWARD_HOOK = re.compile(r"type\s+filter\s+hook\s+forward\b")
_DROP = re.compile(r"ip\s+daddr\s+" + re.escape(METADATA_IP) + r"(/32)?\b[^\n;]*\b(drop|reject)\b")


def concealment_files(files: Mapping[str, str]) -> list[str]:
    """Paths of the files that drop pods' traffic to the metadata server."""
    return [p for p, c in sorted(files.items()) if _FORWARD_HOOK.search(c) and _DROP.search(c)]


@rule("gcp-metadata-concealed",
      "GCP nodes that run pods (control plane, workers) drop pods' traffic to the metadata "
      "server at boot (nftables, forward hook), so no pod can take the node's service-account "
      "token; hostNetwork system components keep access.",
      cis=("5.4.1 (GKE benchmark: metadata concealment)",))
def gcp_metadata_concealed(type_: str, inputs: Mapping[str, Any], options: Options) -> Iterator[str]:
    if type_ not in GCP_MACHINES or machine_role(type_, inputs, options) not in ("control_plane", "worker"):
        return
    files = boot_files(type_, inputs)
    if not concealment_files(dict(files.files)):
        yield (f"nothing in the user-data drops pods' traffic to the metadata server ({METADATA_IP}): any pod "
               "can read the node's service-account token and, through it, the node's secrets")
        return
    if not any("nft -f" in c or "nftables" in c for c in files.files.values() if "ExecStart" in c):
        yield "the metadata-concealment rules are written but no systemd unit loads them at boot"


@rule("gcp-node-scopes",
      "GCP machines carry only the OAuth scopes they need (cloud-platform, the only scope "
      "Secret Manager accepts); IAM on the machine's own service account decides the rest.")
def gcp_node_scopes(type_: str, inputs: Mapping[str, Any], options: Options) -> Iterator[str]:
    if type_ not in GCP_MACHINES:
        return
    account = _seen(inputs.get("serviceAccount"), "serviceAccount")
    for a in account if isinstance(account, list) else [account]:
        scopes = [str(_seen(x, "serviceAccount.scopes")) for x in _list(_dict(a).get("scopes"))]
        extra = sorted(set(scopes) - ALLOWED_SCOPES)
        if extra:
            yield f"serviceAccount.scopes has scopes the node does not need: {', '.join(extra)}"
