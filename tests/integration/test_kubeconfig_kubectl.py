"""The offline fleet kubeconfig (``fleetform kubeconfig``) with the real ``kubectl``:
contexts listed, a tenant context selected, its namespace in the minified view."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.unit.helpers import stack_text, write_stack


def kubectl_binary() -> str | None:
    """A real kubectl. Google Cloud SDK's ``kubectl`` is a version dispatcher that first
    asks the current context's server for its version; its real binaries sit next to it
    (``kubectl.1.33``...): use the newest of those."""
    found = shutil.which("kubectl")
    if found is None:
        return None
    real = Path(found).resolve()
    versions = sorted(real.parent.glob("kubectl.1.*"), key=lambda p: int(p.name.rsplit(".", 1)[1]))
    return str(versions[-1]) if versions else str(real)


KUBECTL = kubectl_binary()
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed"),
]

FLEET = """\
identity:
  oidc: {issuer_url: "https://login.acme.example", client_id: fleetform, extra_scopes: [email, groups]}
  admins_group: platform-admins
tenants:
  - {name: payments, group: team-payments, selector: {regions: ["eu-*", "europe-*"]}}
  - {name: search, group: team-search, clusters: [us-core]}
clusters:
  - {name: eu-core, cloud: aws, region: eu-west-1, network: {index: 1}}
  - {name: us-core, cloud: aws, region: us-east-1, network: {index: 2}}
  - {name: eu-gke, cloud: gcp, region: europe-west1, network: {index: 3}}
"""
CONTEXTS = ["eu-core", "us-core", "eu-gke", "eu-core/payments", "us-core/search", "eu-gke/payments"]


def fleetform(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fleetform", *args], capture_output=True, text=True, check=False)


def kubectl(kubeconfig: Path, *args: str) -> str:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    done = subprocess.run([str(KUBECTL), *args], capture_output=True, text=True, env=env, check=False,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture()
def kubeconfig(tmp_path: Path) -> Path:
    stack = write_stack(tmp_path, stack_text(FLEET))
    out = tmp_path / "kubeconfig"
    done = fleetform("kubeconfig", "--file", str(stack), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert out.stat().st_mode & 0o777 == 0o600
    return out


def test_get_contexts_lists_every_cluster_and_tenant_namespace(kubeconfig: Path) -> None:
    names = kubectl(kubeconfig, "config", "get-contexts", "-o", "name").split()
    assert names == sorted(CONTEXTS) or sorted(names) == sorted(CONTEXTS)
    table = kubectl(kubeconfig, "config", "get-contexts")
    row = next(line for line in table.splitlines() if " eu-core/payments " in f" {line} ")
    assert row.split()[-1] == "payments"


def test_use_tenant_context_and_minified_view_has_its_namespace(kubeconfig: Path) -> None:
    kubectl(kubeconfig, "config", "use-context", "eu-gke/payments")
    assert kubectl(kubeconfig, "config", "current-context").strip() == "eu-gke/payments"
    view = yaml.safe_load(kubectl(kubeconfig, "config", "view", "--minify"))
    assert [c["name"] for c in view["contexts"]] == ["eu-gke/payments"]
    ctx = view["contexts"][0]["context"]
    assert ctx == {"cluster": "eu-gke", "namespace": "payments", "user": "oidc"}
    assert view["clusters"][0]["cluster"]["server"] == "https://api.eu-gke.fleet.acme.example:6443"
    execution = view["users"][0]["user"]["exec"]
    # the `kubectl oidc-login` plugin's binary (kubelogin), called directly
    assert execution["command"] == "kubectl-oidc_login"
    assert execution["args"][0] == "get-token"
    assert "--oidc-issuer-url=https://login.acme.example" in execution["args"]
    # kubectl reads the namespace of the current context.
    raw = yaml.safe_load(kubectl(kubeconfig, "config", "view", "--minify", "--raw"))
    assert raw["contexts"][0]["context"]["namespace"] == "payments"


def test_cluster_context_has_no_namespace(kubeconfig: Path) -> None:
    kubectl(kubeconfig, "config", "use-context", "us-core")
    view = yaml.safe_load(kubectl(kubeconfig, "config", "view", "--minify"))
    assert "namespace" not in view["contexts"][0]["context"]


def test_admin_kubeconfig_has_client_certificates_per_cluster(tmp_path: Path) -> None:
    stack = write_stack(tmp_path, stack_text(FLEET))
    out = tmp_path / "admin"
    assert fleetform("kubeconfig", "--file", str(stack), "--admin", "-o", str(out)).returncode == 0
    assert sorted(kubectl(out, "config", "get-contexts", "-o", "name").split()) == sorted(CONTEXTS[:3])
    kubectl(out, "config", "use-context", "eu-core")
    view = yaml.safe_load(kubectl(out, "config", "view", "--minify"))
    user = view["users"][0]
    assert user["name"] == "eu-core-admin"
    # kubectl redacts the (placeholder) certificate data: both are present.
    assert set(user["user"]) == {"client-certificate-data", "client-key-data"}


def test_placeholders_are_said_to_be_placeholders(kubeconfig: Path) -> None:
    raw = yaml.safe_load(textwrap.dedent(kubeconfig.read_text()))
    import base64

    ca = base64.b64decode(raw["clusters"][0]["cluster"]["certificate-authority-data"]).decode()
    assert "PLACEHOLDER" in ca and "pulumi up" in ca
