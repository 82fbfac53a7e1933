"""The fleet kubeconfigs (pure) and ``fleetform kubeconfig`` through the real entry point."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import yaml

from fleetform.plan.fleet import plan_fleet
from fleetform.plan.identity import plan_identity
from fleetform.plan.kubeconfig import (
    OIDC_LOGIN_COMMAND,
    PLACEHOLDER_CA,
    fleet_admin_kubeconfig,
    layout,
    people_kubeconfig,
)

from .helpers import ROOT, load_text, stack_text, write_stack

FLEET = """\
identity:
  oidc: {issuer_url: "https://login.acme.example", client_id: fleetform, extra_scopes: [groups]}
tenants:
  - {name: payments, group: team-payments, clusters: [eu-core]}
clusters:
  - {name: eu-core, cloud: aws, region: eu-west-1, network: {index: 1}}
  - {name: eu-gke, cloud: gcp, region: europe-west1, network: {index: 2}}
"""


def fleetform(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "FLEETFORM_DEBUG"}
    return subprocess.run([sys.executable, "-m", "fleetform", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def test_people_kubeconfig(tmp_path: Path) -> None:
    spec = load_text(tmp_path, FLEET)
    plan = plan_fleet(spec)
    doc = yaml.safe_load(people_kubeconfig(layout(plan_identity(spec, plan), plan), {"eu-core": "CA-PEM"}))
    assert [c["name"] for c in doc["contexts"]] == ["eu-core", "eu-gke", "eu-core/payments"]
    assert doc["contexts"][2]["context"] == {"cluster": "eu-core", "namespace": "payments", "user": "oidc"}
    servers = {c["name"]: c["cluster"]["server"] for c in doc["clusters"]}
    assert servers == {"eu-core": "https://api.eu-core.fleet.acme.example:6443",
                       "eu-gke": "https://api.eu-gke.fleet.acme.example:6443"}
    cas = {c["name"]: base64.b64decode(c["cluster"]["certificate-authority-data"]).decode() for c in doc["clusters"]}
    assert cas == {"eu-core": "CA-PEM", "eu-gke": PLACEHOLDER_CA}
    (user,) = doc["users"]
    assert user["name"] == "oidc"
    assert user["user"]["exec"]["command"] == OIDC_LOGIN_COMMAND
    assert user["user"]["exec"]["args"] == ["get-token", "--oidc-issuer-url=https://login.acme.example",
                                            "--oidc-client-id=fleetform", "--oidc-extra-scope=groups"]
    assert user["user"]["exec"]["apiVersion"] == "client.authentication.k8s.io/v1"
    assert doc["current-context"] == "eu-core"


def test_without_sso_contexts_have_no_user(tmp_path: Path) -> None:
    spec = load_text(tmp_path, "clusters:\n  - {name: a, cloud: aws, region: eu-west-1, network: {index: 1}}\n")
    plan = plan_fleet(spec)
    doc = yaml.safe_load(people_kubeconfig(layout(plan_identity(spec, plan), plan), {}))
    assert doc["users"] == [] and doc["contexts"] == [{"name": "a", "context": {"cluster": "a"}}]


def test_admin_kubeconfig(tmp_path: Path) -> None:
    spec = load_text(tmp_path, FLEET)
    plan = plan_fleet(spec)
    lay = layout(plan_identity(spec, plan), plan, admin=True)
    doc = yaml.safe_load(fleet_admin_kubeconfig(lay, {"eu-core": ("CA", "CERT", "KEY")}))
    assert [c["name"] for c in doc["contexts"]] == ["eu-core", "eu-gke"]  # no tenant contexts
    users = {u["name"]: u["user"] for u in doc["users"]}
    assert base64.b64decode(users["eu-core-admin"]["client-key-data"]).decode() == "KEY"
    assert b"PLACEHOLDER" in base64.b64decode(users["eu-gke-admin"]["client-key-data"])


def test_cli_writes_the_kubeconfig(tmp_path: Path) -> None:
    stack = write_stack(tmp_path, stack_text(FLEET))
    out = fleetform("kubeconfig", "--file", str(stack))
    assert out.returncode == 0, out.stderr
    doc = yaml.safe_load(out.stdout)
    assert [c["name"] for c in doc["contexts"]] == ["eu-core", "eu-gke", "eu-core/payments"]
    target = tmp_path / "kc"
    out = fleetform("kubeconfig", "--file", str(stack), "--admin", "-o", str(target))
    assert out.returncode == 0 and out.stdout == ""
    assert out.stderr == f"wrote {target} (2 cluster(s))\n"
    assert target.stat().st_mode & 0o777 == 0o600
    assert [u["name"] for u in yaml.safe_load(target.read_text())["users"]] == ["eu-core-admin", "eu-gke-admin"]


def test_cli_reports_invalid_input(tmp_path: Path) -> None:
    stack = write_stack(tmp_path, stack_text(FLEET.replace("clusters: [eu-core]", "clusters: [eu-cor]")))
    out = fleetform("kubeconfig", "--file", str(stack))
    assert out.returncode == 2
    assert out.stderr == (f"{stack}: fleet.tenants[0].clusters[0]: no cluster 'eu-cor' in this fleet "
                          "(did you mean 'eu-core'?)\n")
    assert fleetform("kubeconfig").returncode == 2  # --stack or --file is required
