"""What a control-plane replica waits for before kubeadm: a quorum of etcd, not every member.

The API server works as soon as etcd has a quorum; waiting for every member would hold
a replica's boot hostage to one member being replaced, rebooted or slow. kubeadm's
preflight asks every external endpoint for its version and fails on one that does not
answer (``ExternalEtcdVersion``): while some member is down, that one check is skipped,
and only then.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

ETCD_WAIT_SECONDS = 3600
SKIP_PREFLIGHT_VAR = "FF_KUBEADM_PREFLIGHT"


def quorum(members: int) -> int:
    return members // 2 + 1


def etcd_quorum_wait_lines(endpoints: Sequence[str], ca: str, cert: str, key: str) -> list[str]:
    """Define ``etcd_healthy_count`` and wait until a quorum of ``endpoints`` (https URLs)
    reports healthy; then set ``FF_KUBEADM_PREFLIGHT`` to the kubeadm flag that skips the
    per-endpoint version check when some member is still down (empty otherwise)."""
    if not endpoints:
        raise ValueError("no etcd endpoints")
    need = quorum(len(endpoints))
    urls = " ".join(shlex.quote(e) for e in endpoints)
    return [
        "# The API server needs a quorum of etcd, not every member.",
        "etcd_healthy_count() {",
        "  local ep n=0",
        f"  for ep in {urls}; do",
        f'    if [[ "$(curl -fsS --max-time 5 --cacert {ca} --cert {cert} --key {key} "$ep/health" 2>/dev/null)"'
        " == *'\"health\":\"true\"'* ]]; then",
        "      n=$((n + 1))",
        "    fi",
        "  done",
        '  echo "$n"',
        "}",
        f'etcd_quorum() {{ [ "$(etcd_healthy_count)" -ge {need} ]; }}',
        f'ff_wait "a quorum ({need} of {len(endpoints)}) of etcd members" {ETCD_WAIT_SECONDS} etcd_quorum',
        f"{SKIP_PREFLIGHT_VAR}=",
        f'if [ "$(etcd_healthy_count)" -lt {len(endpoints)} ]; then',
        '  ff_log "etcd has a quorum but not every member: kubeadm skips its per-member version check"',
        f"  {SKIP_PREFLIGHT_VAR}=--ignore-preflight-errors=ExternalEtcdVersion",
        "fi",
    ]


def kubeadm_preflight_arg() -> str:
    """The (possibly empty) flag to append to a kubeadm command line, unquoted on purpose:
    empty expands to no argument."""
    return f"${{{SKIP_PREFLIGHT_VAR}:+\"${SKIP_PREFLIGHT_VAR}\"}}"
