"""Kubernetes access for one cluster incarnation: the admin kubeconfig, one explicit
``kubernetes.Provider``, and a readiness gate every Kubernetes resource depends on.

The gate waits (polling ``/readyz`` with the admin client certificate) until the
control plane answers, so `pulumi up` does not fail while the API servers boot.
The machine running `pulumi up` must reach the API endpoint (a public endpoint with
its address in ``api.allowed_cidrs``, or a VPN/bastion into the cluster network).
"""

from __future__ import annotations

import ssl
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult

from components.identity import ClusterIdentity
from fleetform.plan import names
from fleetform.plan.kubeconfig import AdminAccess, admin_kubeconfig
from fleetform.plan.model import ClusterPlan

READY_TIMEOUT_SECONDS = 1800


class _ReadinessProvider(ResourceProvider):
    """Polls https://<endpoint>/readyz over mutual TLS until it answers 200."""

    def _wait(self, props: dict[str, Any]) -> None:
        deadline = time.monotonic() + float(props.get("timeout", READY_TIMEOUT_SECONDS))
        with tempfile.TemporaryDirectory() as d:
            ca, cert, key = Path(d, "ca.pem"), Path(d, "cert.pem"), Path(d, "key.pem")
            ca.write_text(props["ca_pem"])
            cert.write_text(props["cert_pem"])
            key.write_text(props["key_pem"])
            key.chmod(0o600)
            ctx = ssl.create_default_context(cafile=str(ca))
            ctx.load_cert_chain(str(cert), str(key))
            last = "no answer yet"
            while time.monotonic() < deadline:
                try:
                    with urllib.request.urlopen(f"{props['server']}/readyz", context=ctx, timeout=10) as r:
                        if r.status == 200:
                            return
                        last = f"HTTP {r.status}"
                except Exception as exc:  # booting: refused, DNS not yet, TLS not yet
                    last = str(exc)
                time.sleep(10)
        raise TimeoutError(f"{props['server']} not ready after {props.get('timeout')}s: {last}")

    def create(self, props: dict[str, Any]) -> CreateResult:
        self._wait(props)
        return CreateResult(id_=props["server"], outs={"server": props["server"]})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return DiffResult(changes=olds.get("server") != news.get("server"))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        self._wait(news)
        return UpdateResult(outs={"server": news["server"]})


class ApiReadiness(pulumi.dynamic.Resource):
    server: pulumi.Output[str]

    def __init__(self, name: str, server: str, ca_pem: pulumi.Input[str], cert_pem: pulumi.Input[str],
                 key_pem: pulumi.Input[str], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(_ReadinessProvider(), name, {
            "server": server, "ca_pem": ca_pem, "cert_pem": cert_pem,
            "key_pem": pulumi.Output.secret(key_pem), "timeout": READY_TIMEOUT_SECONDS,
        }, opts)


class KubeAccess(pulumi.ComponentResource):
    """Admin kubeconfig + provider + readiness gate of one incarnation."""

    provider: k8s.Provider
    ready: ApiReadiness
    kubeconfig: pulumi.Output[str]

    def __init__(self, name: str, plan: ClusterPlan, identity: ClusterIdentity, server: str,
                 depends_on: list[pulumi.Resource], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleetform:index:KubeAccess", name, None, opts)
        ca = identity.bundle("kubernetes-ca")
        self.kubeconfig = pulumi.Output.secret(pulumi.Output.all(
            ca=ca, cert=identity.admin.cert_pem, key=identity.admin.key_pem,
        ).apply(lambda a: admin_kubeconfig([AdminAccess(plan.name, server, a["ca"], a["cert"], a["key"])])))
        self.ready = ApiReadiness(names.child(name, "ready"), server, ca, identity.admin.cert_pem,
                                  identity.admin.key_pem,
                                  pulumi.ResourceOptions(parent=self, depends_on=depends_on))
        self.provider = k8s.Provider(
            names.child(name, "k8s"),
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            # Resources wait for the gate: they are created only once the API answers.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.ready]),
        )
        self.register_outputs({"server": server})

    def opts(self, parent: pulumi.Resource, **kw: Any) -> pulumi.ResourceOptions:
        """Options for a Kubernetes resource: this provider, after the gate."""
        deps = list(kw.pop("depends_on", []))
        return pulumi.ResourceOptions(parent=parent, provider=self.provider, depends_on=[self.ready, *deps], **kw)
