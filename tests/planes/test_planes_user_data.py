"""Every rendered user-data, as the graph carries it: valid cloud-config, no secrets.

AWS instances carry it gzipped and base64-encoded in ``userDataBase64``, launch templates
in ``userData``; GCP instances and templates in ``metadata["user-data"]`` in clear.
Secrets (keys, the bootstrap token, the encryption key) live in the cloud's secret store
and must never be in a document: machines fetch them at boot with their own identity.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from planes_support import MACHINE_TYPES, StackRun, user_data

SECRET_VERSIONS = {
    "aws:secretsmanager/secretVersion:SecretVersion": "secretString",
    "gcp:secretmanager/secretVersion:SecretVersion": "secretData",
}


def documents(run: StackRun) -> dict[str, str]:
    docs: dict[str, str] = {}
    for r in run.resources:
        if r.type in MACHINE_TYPES:
            text = user_data(r)
            assert isinstance(text, str) and text, f"{r.urn}: no user-data"
            docs[r.urn] = text
    return docs


def secret_values(run: StackRun) -> dict[str, str]:
    """Every value stored in a secret store, by the secret version's name."""
    values: dict[str, str] = {}
    for r in run.resources:
        key = SECRET_VERSIONS.get(r.type)
        if key:
            value = run.registrations[r.urn].secret_inputs.get(key)
            assert isinstance(value, str) and value, f"{r.urn}: secret value not captured"
            values[r.name] = value
    return values


def bootstrap_tokens(run: StackRun) -> dict[str, tuple[str, str]]:
    """Control plane -> (token id, token secret) as the mocks generated them."""
    tokens: dict[str, tuple[str, str]] = {}
    for cp in run.resources:
        if cp.type == "fleetform:index:ControlPlane":
            owned = {r.name: r for r in run.owned(cp)}
            token_id = run.outputs(owned[f"{cp.name}-token-id"])["result"]
            token_secret = run.outputs(owned[f"{cp.name}-token-secret"])["result"]
            tokens[cp.name] = (token_id, token_secret)
    return tokens


def test_every_machine_carries_a_cloud_config_document(stack: StackRun) -> None:
    docs = documents(stack)
    machines = sum(len(p.etcd.members) + len(p.control_plane.replicas) + len(p.workers) for p in stack.plan.clusters)
    assert len(docs) == machines
    for urn, text in docs.items():
        assert text.startswith("#cloud-config\n"), urn
        parsed = yaml.safe_load(text)
        assert isinstance(parsed, dict) and parsed.get("write_files") and parsed.get("runcmd"), urn


def test_no_private_key_or_stored_secret_in_any_document(stack: StackRun) -> None:
    docs = documents(stack)
    secrets = secret_values(stack)
    assert secrets
    # Each secret value, and for multi-line ones (PEM keys) each line of their body.
    needles = {v for v in secrets.values() if len(v) >= 16}
    needles |= {line for v in secrets.values() for line in v.splitlines()
                if len(line) >= 16 and not line.startswith("-----")}
    for urn, text in docs.items():
        assert "PRIVATE KEY" not in text, urn
        leaked = sorted(n[:12] + "…" for n in needles if n in text)
        assert leaked == [], f"{urn}: secret material in user-data: {leaked}"


def test_no_bootstrap_token_in_any_document(stack: StackRun) -> None:
    docs = documents(stack)
    tokens = bootstrap_tokens(stack)
    assert len(tokens) == len(stack.plan.clusters)
    stored = set(secret_values(stack).values())
    for cp, (token_id, token_secret) in tokens.items():
        token = f"{token_id}.{token_secret}"
        assert token in stored, f"{cp}: the bootstrap token is not in the secret store"
        for urn, text in docs.items():
            assert token not in text and token_secret not in text, f"{urn} carries {cp}'s bootstrap token"


def _cloud_init() -> str:
    path = shutil.which("cloud-init")
    if path is None:
        message = "cloud-init is not installed (run: bash scripts/install-system-tools.sh)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.mark.integration
def test_cloud_init_schema_accepts_every_distinct_document(
        dev: StackRun, prod: StackRun, tmp_path: Path) -> None:
    cloud_init = _cloud_init()
    distinct = sorted({text for run in (dev, prod) for text in documents(run).values()})
    assert len(distinct) >= 20  # both clouds, all roles, every member of prod

    def validate(item: tuple[int, str]) -> tuple[int, subprocess.CompletedProcess[str]]:
        index, text = item
        path = tmp_path / f"user-data-{index}.yaml"
        path.write_text(text)
        return index, subprocess.run([cloud_init, "schema", "--config-file", str(path)],
                                     capture_output=True, text=True, timeout=120)

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        results = list(pool.map(validate, enumerate(distinct)))
    for index, result in results:
        head = distinct[index].splitlines()[:3]
        assert result.returncode == 0, f"document {index} {head}: {result.stdout}{result.stderr}"
        assert "Valid cloud-config" in result.stdout, index
        assert "deprecat" not in (result.stdout + result.stderr).lower(), index
