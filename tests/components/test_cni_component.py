"""The ``Cni`` component under the offline engine: assert the resource graph it registers.

A small Pulumi program (written to a temporary directory) plans a fleet from a stack file
with all three plugins on both clouds and a ClusterMesh, builds each cluster's identity
(the real ``SharedIdentity``) and Kubernetes access (the real ``KubeAccess``: explicit
provider + readiness gate), and hangs a ``Cni`` on each, exactly as ``Cluster`` does.
``fleetform.engine.run.run_program`` records every RegisterResource request.
"""

from __future__ import annotations

import base64
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from fleetform.engine.records import SECRET_MASK, ProgramResult, Resource
from fleetform.engine.run import run_program
from fleetform.plan.cni import helm_values
from fleetform.plan.firewall import base_rules
from fleetform.plan.fleet import plan_fleet
from fleetform.plan.load import load_stack_file
from fleetform.plan.model import FleetPlan

PROGRAM = '''
from pathlib import Path

import pulumi
import pulumi_tls as tls

from components.cni import Cni, CniArgs
from components.identity import SharedIdentity
from components.kube import KubeAccess
from fleetform.plan import names
from fleetform.plan.load import load_stack_file
from fleetform.plan.fleet import plan_fleet

cfg = pulumi.Config("test")
fleet = plan_fleet(load_stack_file(Path(cfg.require("stack_file"))))
tls_provider = tls.Provider("tls")
shared = SharedIdentity(names.child(fleet.fleet, "identity"), fleet.fleet,
                        pulumi.ResourceOptions(providers=[tls_provider]))
for plan in fleet.clusters:
    identity = shared.cluster(plan.name)
    kube = KubeAccess(names.child(plan.key, "kube"), plan, identity,
                      server=f"https://{plan.api.incarnation_dns}:6443", depends_on=[])
    Cni(names.child(plan.key, "cni"), CniArgs(fleet.fleet, plan, kube, identity))
'''

FLEET = """\
config:
  fleetform:fleet:
    apiVersion: fleetform/v1
    name: acme
    domain: fleet.acme.example
    clouds: {gcp: {project: acme-fleet}}
    mesh: {clusters: [eu-mesh, us-mesh]}
    clusters:
      - {name: eu-mesh, cloud: aws, region: eu-west-1, network: {index: 1},
         cni: {plugin: cilium, cilium: {hubble: true, kube_proxy_replacement: true}}}
      - {name: us-mesh, cloud: gcp, region: us-central1, network: {index: 2}}
      - {name: eu-calico, cloud: gcp, region: europe-west1, network: {index: 3},
         cni: {plugin: calico, calico: {mode: bgp}}}
      - {name: edge-flannel, cloud: aws, region: eu-central-1, network: {index: 4},
         cni: {plugin: flannel}, decommission: true}
"""

RELEASE = "kubernetes:helm.sh/v3:Release"
NAMESPACE = "kubernetes:core/v1:Namespace"
GUARD = "pulumi-python:dynamic:Resource"


class Graph:
    def __init__(self, result: ProgramResult, plan: FleetPlan) -> None:
        self.resources = result.resources
        self.plan = plan
        self.by_urn = {r.urn: r for r in result.resources}

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    def named(self, name: str) -> Resource:
        (found,) = [r for r in self.resources if r.name == name]
        return found

    def children(self, parent: Resource, type_: str | None = None) -> list[Resource]:
        return [r for r in self.resources if r.parent == parent.urn and (type_ is None or r.type == type_)]

    def _key(self, cluster: str) -> str:
        """A cluster name (its serving incarnation) or an incarnation key."""
        keys = {c.key for c in self.plan.clusters}
        return cluster if cluster in keys else self.plan.cluster(cluster).key

    def cni(self, cluster: str) -> Resource:
        return self.named(f"{self._key(cluster)}-cni")

    def kube_provider(self, cluster: str) -> Resource:
        return self.named(f"{self._key(cluster)}-kube-k8s")

    def gate(self, cluster: str) -> Resource:
        return self.named(f"{self._key(cluster)}-kube-ready")


def run(tmp_path: Path, fleet: str = FLEET) -> Graph:
    program = tmp_path / "program"
    program.mkdir(parents=True, exist_ok=True)
    (program / "__main__.py").write_text(textwrap.dedent(PROGRAM))
    stacks = tmp_path / "stacks"
    stacks.mkdir(exist_ok=True)
    stack_file = stacks / "Pulumi.test.yaml"
    stack_file.write_text(fleet)
    # The program imports components/ and fleetform/ from the repository (installed editable).
    result = run_program(program, project="fleetform", stack="test",
                         config={"test:stack_file": str(stack_file)})
    return Graph(result, plan_fleet(load_stack_file(stack_file)))


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Graph:
    return run(tmp_path_factory.mktemp("cni"))


def _plain_values(values: Any) -> Any:
    return json.loads(json.dumps(values))


# ---------------------------------------------------------------- releases


@pytest.mark.parametrize(("cluster", "releases"), [
    ("eu-mesh", [("cilium", "cilium", "1.20.2", "https://helm.cilium.io/", "kube-system")]),
    ("us-mesh", [("cilium", "cilium", "1.20.2", "https://helm.cilium.io/", "kube-system")]),
    ("eu-calico", [
        ("calico-crds", "crd.projectcalico.org.v1", "v3.32.2", "https://docs.tigera.io/calico/charts",
         "tigera-operator"),
        ("calico", "tigera-operator", "v3.32.2", "https://docs.tigera.io/calico/charts", "tigera-operator")]),
    ("edge-flannel", [("flannel", "flannel", "v0.28.9", "https://flannel-io.github.io/flannel/", "kube-flannel")]),
])
def test_each_cluster_gets_its_plugins_pinned_releases(graph: Graph, cluster: str,
                                                       releases: list[tuple[str, ...]]) -> None:
    cni = graph.cni(cluster)
    assert cni.type == "fleetform:index:Cni"
    found = graph.children(cni, RELEASE)
    assert [(r.inputs["name"], r.inputs["chart"], r.inputs["version"], r.inputs["repositoryOpts"]["repo"],
             r.inputs["namespace"]) for r in found] == releases
    for r in found:
        # Resource name keyed by the plugin's release: a plugin change is never an in-place upgrade.
        assert r.name == f"{graph.plan.cluster(cluster).key}-cni-{r.inputs['name']}"
        assert r.inputs["timeout"] == 900


@pytest.mark.parametrize("cluster", ["eu-mesh", "us-mesh", "eu-calico", "edge-flannel"])
def test_releases_go_through_the_clusters_provider_behind_its_readiness_gate(graph: Graph, cluster: str) -> None:
    cni = graph.cni(cluster)
    provider = graph.kube_provider(cluster)
    assert provider.type == "pulumi:providers:kubernetes"
    for r in graph.children(cni):
        if r.type in (RELEASE, NAMESPACE):
            assert r.provider is not None and r.provider.startswith(provider.urn + "::")
            assert graph.gate(cluster).urn in r.dependencies
    # Never the default provider: nothing Kubernetes in the graph without an explicit one.
    assert all(r.provider and "::default" not in r.provider for r in graph.of_type(RELEASE))


@pytest.mark.parametrize("cluster", ["eu-mesh", "us-mesh", "eu-calico", "edge-flannel"])
def test_release_values_are_exactly_the_planned_ones(graph: Graph, cluster: str) -> None:
    plan = graph.plan.cluster(cluster)
    planned = helm_values(plan.cni)
    for r in graph.children(graph.cni(cluster), RELEASE):
        values = r.inputs.get("values", {})
        expected = _plain_values(planned[r.inputs["name"]])
        if plan.cni.mesh is not None:
            values = dict(values)
            tls = values.pop("tls")
            assert tls["ca"]["key"] == SECRET_MASK  # recorded masked: never in clear
            assert base64.b64decode(tls["ca"]["cert"]).startswith(b"-----BEGIN CERTIFICATE-----")
        assert values == expected


def test_plan_dependent_values_reach_the_releases(graph: Graph) -> None:
    eu = graph.plan.cluster("eu-mesh")
    (cilium,) = graph.children(graph.cni("eu-mesh"), RELEASE)
    v = cilium.inputs["values"]
    assert v["ipam"]["operator"]["clusterPoolIPv4PodCIDRList"] == [eu.network.pod_cidr]
    assert v["cluster"] == {"name": "eu-mesh", "id": 2}
    assert (v["k8sServiceHost"], v["k8sServicePort"]) == (eu.api.dns, 6443)
    assert v["MTU"] == 1400 and v["hubble"]["enabled"] is True
    calico = graph.children(graph.cni("eu-calico"), RELEASE)[-1].inputs["values"]
    assert calico["installation"]["calicoNetwork"]["ipPools"][0]["cidr"] == graph.plan.cluster("eu-calico").network.pod_cidr
    assert calico["installation"]["calicoNetwork"]["bgp"] == "Enabled"
    flannel = graph.children(graph.cni("edge-flannel"), RELEASE)[0].inputs["values"]
    assert flannel["podCidr"] == graph.plan.cluster("edge-flannel").network.pod_cidr


# ---------------------------------------------------------------- ordering, namespaces


def test_calico_installs_its_crds_first_in_its_own_namespace(graph: Graph) -> None:
    cni = graph.cni("eu-calico")
    (ns,) = graph.children(cni, NAMESPACE)
    assert ns.inputs["metadata"] == {"name": "tigera-operator"}
    crds, operator = graph.children(cni, RELEASE)
    assert ns.urn in crds.dependencies and ns.urn in operator.dependencies
    assert crds.urn in operator.dependencies


def test_flannel_namespace_allows_its_privileged_pods(graph: Graph) -> None:
    cni = graph.cni("edge-flannel")
    (ns,) = graph.children(cni, NAMESPACE)
    assert ns.inputs["metadata"] == {"name": "kube-flannel",
                                     "labels": {"pod-security.kubernetes.io/enforce": "privileged"}}
    (release,) = graph.children(cni, RELEASE)
    assert ns.urn in release.dependencies


def test_cilium_uses_kube_system_and_creates_no_namespace(graph: Graph) -> None:
    assert graph.children(graph.cni("eu-mesh"), NAMESPACE) == []


# ---------------------------------------------------------------- the plugin guard


@pytest.mark.parametrize("cluster", ["eu-mesh", "eu-calico", "edge-flannel"])
def test_every_release_waits_for_the_plugin_guard(graph: Graph, cluster: str) -> None:
    cni = graph.cni(cluster)
    (guard,) = graph.children(cni, GUARD)
    assert guard.name == f"{graph.plan.cluster(cluster).key}-cni-plugin"
    assert guard.inputs["plugin"] == graph.plan.cluster(cluster).cni.plugin
    assert guard.inputs["cluster"] == cluster
    for r in graph.children(cni, RELEASE):
        assert guard.urn in r.dependencies


def test_live_clusters_protect_their_plugin_decommissioned_ones_do_not(graph: Graph) -> None:
    for cluster, protect in (("eu-mesh", True), ("eu-calico", True), ("edge-flannel", False)):
        for r in graph.children(graph.cni(cluster)):
            assert r.protect is protect, (cluster, r.name)


def test_a_plugin_change_keeps_the_guard_and_moves_the_release(tmp_path: Path) -> None:
    before = run(tmp_path / "before")
    after = run(tmp_path / "after", FLEET.replace("cni: {plugin: calico, calico: {mode: bgp}}",
                                                  "cni: {plugin: flannel}"))
    key = before.plan.cluster("eu-calico").key
    # Same guard (its state remembers calico: its check refuses flannel before anything runs)...
    assert before.named(f"{key}-cni-plugin").urn == after.named(f"{key}-cni-plugin").urn
    assert after.named(f"{key}-cni-plugin").inputs["plugin"] == "flannel"
    # ...and no release of one plugin is ever upgraded into another's.
    old = {r.name for r in before.children(before.cni("eu-calico"), RELEASE)}
    new = {r.name for r in after.children(after.cni("eu-calico"), RELEASE)}
    assert old == {f"{key}-cni-calico-crds", f"{key}-cni-calico"} and new == {f"{key}-cni-flannel"}


# ---------------------------------------------------------------- ClusterMesh CA


def test_one_clustermesh_ca_from_the_fleet_root_shared_by_every_member(graph: Graph) -> None:
    (mesh,) = graph.of_type("fleetform:index:MeshIdentity")
    assert mesh.name == "acme-mesh" and mesh.parent is not None and mesh.parent.endswith("::fleetform-test")
    certs = [r for r in graph.children(mesh) if r.type == "tls:index/locallySignedCert:LocallySignedCert"]
    keys = [r for r in graph.children(mesh) if r.type == "tls:index/privateKey:PrivateKey"]
    assert len(certs) == 1 and len(keys) == 1
    (cert,) = certs
    assert cert.inputs["isCaCertificate"] is True
    assert cert.inputs["caPrivateKeyPem"] == SECRET_MASK
    root_cert = graph.named("acme-identity-root-ca-cert")
    assert root_cert.urn in cert.dependencies  # signed by the fleet root
    # The fleet's explicit TLS provider, like the rest of the PKI.
    assert cert.provider is not None and cert.provider.startswith("urn:pulumi:test::fleetform::pulumi:providers:tls::tls::")
    # Both members' releases carry it (as values, the key masked).
    for member in ("eu-mesh", "us-mesh"):
        (release,) = graph.children(graph.cni(member), RELEASE)
        assert cert.urn in release.dependencies
        assert release.inputs["values"]["tls"]["ca"]["key"] == SECRET_MASK


def test_no_mesh_no_clustermesh_ca(tmp_path: Path) -> None:
    graph = run(tmp_path, FLEET.replace("    mesh: {clusters: [eu-mesh, us-mesh]}\n", ""))
    assert graph.of_type("fleetform:index:MeshIdentity") == []
    for cluster in ("eu-mesh", "us-mesh"):
        (release,) = graph.children(graph.cni(cluster), RELEASE)
        assert "clustermesh" not in release.inputs["values"] and "tls" not in release.inputs["values"]


# ---------------------------------------------------------------- datapath ports on AWS and GCP

ADAPTER_PROGRAM = '''
from pathlib import Path

import pulumi

from components.clouds import adapter_for
from components.clouds.base import ClusterContext
from fleetform.plan import names
from fleetform.plan.load import load_stack_file
from fleetform.plan.fleet import plan_fleet


class Dummy(pulumi.ComponentResource):
    def __init__(self, name, opts=None):
        super().__init__("fleetform:test:Dummy", name, None, opts)
        self.register_outputs({})


cfg = pulumi.Config("test")
fleet = plan_fleet(load_stack_file(Path(cfg.require("stack_file"))))
for plan in fleet.clusters:
    owner = Dummy(plan.key)
    adapter = adapter_for(ClusterContext(fleet=fleet, plan=plan, owner=owner))
    net = adapter.network(names.child(plan.key, "network"), owner)
    ids = {role: adapter.identity(names.child(plan.key, role.replace("_", "-")), role, owner)
           for role in ("etcd", "control_plane", "worker")}
    adapter.firewall(names.child(plan.key, "firewall"), list(plan.firewall), net, ids, owner)
'''

PLUGINS_ON_BOTH_CLOUDS = """\
config:
  fleetform:fleet:
    apiVersion: fleetform/v1
    name: acme
    domain: fleet.acme.example
    clouds: {gcp: {project: acme-fleet}}
    mesh: {clusters: [cil-aws, cil-gcp]}
    clusters:
      - {name: cil-aws, cloud: aws, region: eu-west-1, network: {index: 1}, cni: {plugin: cilium, cilium: {hubble: true}}}
      - {name: cil-gcp, cloud: gcp, region: europe-west1, network: {index: 2}, cni: {plugin: cilium, cilium: {hubble: true}}}
      - {name: cal-aws, cloud: aws, region: eu-central-1, network: {index: 3}, cni: {plugin: calico, calico: {mode: bgp}}}
      - {name: cal-gcp, cloud: gcp, region: us-central1, network: {index: 4}, cni: {plugin: calico, calico: {mode: bgp}}}
      - {name: fla-aws, cloud: aws, region: us-east-1, network: {index: 5}, cni: {plugin: flannel}}
      - {name: fla-gcp, cloud: gcp, region: us-east4, network: {index: 6}, cni: {plugin: flannel}}
"""
ROLE_KEYS = {"etcd": "etcd", "control-plane": "control_plane", "worker": "worker", "api-lb": "api_lb"}
DATAPATH = {
    "cil": {("udp", 8472), ("tcp", 4240), ("tcp", 4244)},
    "cal": {("udp", 4789), ("tcp", 5473), ("tcp", 179)},
    "fla": {("udp", 8472)},
}
NODES = ("control_plane", "worker")
AWS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
GCP_RULE = "gcp:compute/firewall:Firewall"


def _opened(result: ProgramResult, plan: Any) -> set[tuple[str, str, str, int]]:
    """(target role, source role or CIDR, protocol, port) as the cloud resources open them."""
    prefix = f"{plan.key}-firewall-"
    opened: set[tuple[str, str, str, int]] = set()
    for r in result.resources:
        if not r.name.startswith(prefix) or r.type not in (AWS_RULE, GCP_RULE):
            continue
        if r.type == GCP_RULE and r.inputs["direction"] == "EGRESS":
            continue
        target_key, _, source_part = r.name[len(prefix):].partition("-from-")
        target = ROLE_KEYS[target_key]
        if r.type == AWS_RULE:
            source = r.inputs.get("cidrIpv4") or ROLE_KEYS[source_part.rsplit("-", 2)[0]]
            allows = [(r.inputs["ipProtocol"], r.inputs["fromPort"], r.inputs["toPort"])]
        else:
            source = ROLE_KEYS.get(source_part) or r.inputs["sourceRanges"][0]
            allows = []
            for allow in r.inputs["allows"]:
                for ports in allow["ports"]:
                    low, _, high = ports.partition("-")
                    allows.append((allow["protocol"], int(low), int(high or low)))
        for proto, low, high in allows:
            opened.update((target, source, proto, port) for port in range(low, high + 1))
    return opened


def test_aws_and_gcp_open_exactly_each_plugins_ports_between_the_clusters_nodes(tmp_path: Path) -> None:
    program = tmp_path / "program"
    program.mkdir()
    (program / "__main__.py").write_text(textwrap.dedent(ADAPTER_PROGRAM))
    stack_file = tmp_path / "Pulumi.fw.yaml"
    stack_file.write_text(PLUGINS_ON_BOTH_CLOUDS)
    result = run_program(program, project="fleetform", stack="fw", config={"test:stack_file": str(stack_file)})
    fleet = plan_fleet(load_stack_file(stack_file))
    assert {(c.cni.plugin, c.cloud) for c in fleet.clusters} == {
        (p, cloud) for p in ("cilium", "calico", "flannel") for cloud in ("aws", "gcp")}
    base_ports = {(r.protocol, r.ports[0]) for r in base_rules(())}
    for plan in fleet.clusters:
        opened = _opened(result, plan)
        ports = DATAPATH[plan.name[:3]]
        node_to_node = {o for o in opened if o[0] in NODES and o[1] in NODES}
        # Exactly the plugin's ports (with its options), every node role to every node role.
        assert {o for o in node_to_node if (o[2], o[3]) not in base_ports} == {
            (t, s, p, port) for t in NODES for s in NODES for p, port in ports}, plan.name
        # Nothing else reaches those ports, except (ClusterMesh) the peers' nodes.
        peers = {p.node_cidr for p in plan.cni.mesh.peers} if plan.cni.mesh else set()
        for target, source, proto, port in opened - node_to_node:
            if (proto, port) in ports:
                assert source in peers and target in NODES and (proto, port) in {("udp", 8472), ("tcp", 4240)}
        # ...and the ClusterMesh API's node port on the workers (behind its load balancer).
        api = {("worker", cidr, "tcp", plan.cni.mesh.port) for cidr in peers} if plan.cni.mesh else set()
        assert {(s, p, port) for t, s, p, port in opened - api if s in peers} == {
            (cidr, p, port) for cidr in peers for p, port in (("udp", 8472), ("tcp", 4240))}
        assert api <= opened


# ---------------------------------------------------------------- the real program

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def prod() -> tuple[ProgramResult, FleetPlan]:
    """The project's own __main__.py on the prod stack, with eu-core and us-gcp meshed."""
    import yaml

    config = yaml.safe_load((ROOT / "stacks" / "Pulumi.prod.yaml").read_text())["config"]
    config["fleetform:fleet"]["mesh"] = {"clusters": ["eu-core", "us-gcp"]}
    result = run_program(ROOT, project="fleetform", stack="prod", config=config)
    from fleetform.plan.load import load_config

    plan = plan_fleet(load_config(config["fleetform:fleet"], config["fleetform:base"], stack="prod",
                                  label="stacks/Pulumi.prod.yaml", stacks_dir=ROOT / "stacks"))
    return result, plan


def test_the_program_installs_every_prod_clusters_plugin_through_its_own_cluster(
        prod: tuple[ProgramResult, FleetPlan]) -> None:
    result, plan = prod
    graph = Graph(result, plan)
    assert {c.cni.plugin for c in plan.clusters} == {"cilium", "calico", "flannel"}
    for c in plan.clusters:  # every incarnation (edge-fra's move target too)
        cni = graph.cni(c.key)
        assert cni.parent == graph.named(c.key).urn  # a child of its Cluster
        releases = graph.children(cni, RELEASE)
        assert [(r.inputs["chart"], r.inputs["version"], r.inputs["namespace"]) for r in releases] == [
            (pin.chart, pin.version, c.cni.namespace) for pin in c.cni.charts]
        for r in releases:
            assert r.provider is not None and r.provider.startswith(graph.kube_provider(c.key).urn + "::")
            assert graph.gate(c.key).urn in r.dependencies
            values = dict(r.inputs.get("values", {}))
            values.pop("tls", None)
            planned = dict(_plain_values(helm_values(c.cni)[r.inputs["name"]]))
            # The peers' endpoints are their load balancers' addresses (Outputs, checked in
            # tests/components/test_mesh_endpoint.py); the rest is exactly the plan.
            mesh, planned_mesh = values.pop("clustermesh", None), planned.pop("clustermesh", None)
            assert values == planned
            assert (mesh is None) == (planned_mesh is None)
            if mesh is not None and planned_mesh is not None:
                assert mesh["apiserver"]["service"] == planned_mesh["apiserver"]["service"]
    # The meshed pair shares the fleet's one ClusterMesh CA.
    (mesh,) = graph.of_type("fleetform:index:MeshIdentity")
    (ca_cert,) = [r for r in graph.children(mesh) if r.type.endswith(":LocallySignedCert")]
    for member in ("eu-core", "us-gcp"):
        (release,) = graph.children(graph.cni(member), RELEASE)
        assert ca_cert.urn in release.dependencies
    assert plan.cluster("eu-core").cni.mesh is not None and plan.cluster("us-core").cni.mesh is None
