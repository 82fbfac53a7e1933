"""The network plugin under the offline engine: the REAL program, and the graph it registers.

The plugin is the first add-on of each incarnation's bundle: its Flux objects (Helm
repositories, releases in install order, its namespace) are a file in the incarnation's
own bucket, applied by the cluster's own Flux. The program never talks to a cluster: no
``kubernetes:`` resource. What stays a resource: the plugin guard, and a mesh member's
ClusterMesh CA values in the cloud's secret store.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "planes"))

from planes_support import Registration, run_stack, write_stack

from fleetform.engine.records import SECRET_MASK, ProgramResult, Resource
from fleetform.engine.run import run_program
from fleetform.plan.cni import helm_values
from fleetform.plan.firewall import base_rules
from fleetform.plan.fleet import plan_fleet
from fleetform.plan.load import load_stack_file
from fleetform.plan.model import FleetPlan

ROOT = Path(__file__).resolve().parents[2]

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

GUARD = "pulumi-python:dynamic:Resource"
OBJECT_TYPES = ("aws:s3/bucketObjectv2:BucketObjectv2", "gcp:storage/bucketObject:BucketObject")


class Graph:
    def __init__(self, result: ProgramResult, plan: FleetPlan,
                 registrations: dict[str, Registration] | None = None) -> None:
        self.resources = result.resources
        self.plan = plan
        self.by_urn = {r.urn: r for r in result.resources}
        self.registrations = registrations or {}

    def content(self, r: Resource) -> str:
        """A bucket object's text (S3: its content; Cloud Storage: its text asset)."""
        if "content" in r.inputs:
            return str(r.inputs["content"])
        return str(r.inputs["source"]["asset"]["text"])  # Cloud Storage: a text asset

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

    def bundle_file(self, cluster: str, path: str) -> Resource:
        return self.named(f"{self._key(cluster)}-addons-file-{path.replace('/', '-').replace('.', '-')}")

    def cni_objects(self, cluster: str) -> list[dict[str, Any]]:
        plugin = self.plan.cluster(cluster).cni.plugin if cluster in {c.name for c in self.plan.clusters} else next(
            c.cni.plugin for c in self.plan.clusters if c.key == cluster)
        return [o for o in yaml.safe_load_all(self.content(self.bundle_file(cluster, f"cni/{plugin}.yaml"))) if o]

    def releases(self, cluster: str) -> list[dict[str, Any]]:
        return [o for o in self.cni_objects(cluster) if o["kind"] == "HelmRelease"]

    def namespaces(self, cluster: str) -> list[dict[str, Any]]:
        return [o for o in self.cni_objects(cluster) if o["kind"] == "Namespace"]

    def repository_url(self, cluster: str, name: str) -> str:
        (repo,) = [o for o in self.cni_objects(cluster) if o["kind"] == "HelmRepository" and o["metadata"]["name"] == name]
        return str(repo["spec"]["url"])


def run(tmp_path: Path, fleet: str = FLEET) -> Graph:
    tmp_path.mkdir(parents=True, exist_ok=True)
    stack_file = tmp_path / "Pulumi.test.yaml"
    stack_file.write_text(fleet)
    stack = run_stack(stack_file)
    return Graph(stack, stack.plan, stack.registrations)  # type: ignore[arg-type]


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
    assert graph.cni(cluster).type == "fleetform:index:Cni"
    found = graph.releases(cluster)
    assert [(r["spec"]["releaseName"], r["spec"]["chart"]["spec"]["chart"], r["spec"]["chart"]["spec"]["version"],
             graph.repository_url(cluster, r["spec"]["chart"]["spec"]["sourceRef"]["name"]),
             r["spec"]["targetNamespace"]) for r in found] == releases
    flux = yaml.safe_load(graph.content(graph.bundle_file(cluster, "flux/cni.yaml")))
    # The first add-on: nothing before it, its own folder of the bundle.
    assert flux["kind"] == "Kustomization" and flux["metadata"]["name"] == "cni"
    assert flux["spec"]["path"] == "./cni" and "dependsOn" not in flux["spec"]


@pytest.mark.parametrize("cluster", ["eu-mesh", "us-mesh", "eu-calico", "edge-flannel"])
def test_the_plugin_reaches_the_cluster_through_its_own_bucket_never_its_api(graph: Graph, cluster: str) -> None:
    key = graph.plan.cluster(cluster).key
    bucket = graph.named(f"{key}-addons-bucket")
    path = f"cni/{graph.plan.cluster(cluster).cni.plugin}.yaml"
    published = graph.bundle_file(cluster, path)
    assert published.type in OBJECT_TYPES and published.type.split(":")[0] == graph.plan.cluster(cluster).cloud
    assert published.inputs["key" if published.type.startswith("aws") else "name"] == path
    assert bucket.urn in published.dependencies
    assert not [r for r in graph.resources if r.type.startswith(("kubernetes:", "pulumi:providers:kubernetes"))]


@pytest.mark.parametrize("cluster", ["eu-mesh", "us-mesh", "eu-calico", "edge-flannel"])
def test_release_values_are_exactly_the_planned_ones(graph: Graph, cluster: str) -> None:
    plan = graph.plan.cluster(cluster)
    planned = helm_values(plan.cni)
    for r in graph.releases(cluster):
        values = dict(r["spec"].get("values") or {})
        expected = dict(_plain_values(planned[r["spec"]["releaseName"]]))
        if plan.cni.mesh is not None:
            # The peers too: by their load balancers' planned addresses.
            assert values["clustermesh"]["config"]["clusters"] == [
                {"name": p.name, "ips": list(p.ips), "port": p.port} for p in plan.cni.mesh.peers]
            # The CA comes from a Secret the boot installer writes: never in the bundle.
            assert r["spec"]["valuesFrom"] == [{"kind": "Secret", "name": "fleetform-cni-secret-values",
                                                "valuesKey": "values.yaml"}]
        assert "tls" not in values
        # The plan's values, plus the bundle's image digests (fleetform/addons/cni.py).
        assert {k: values.get(k) for k in expected} == expected


def test_plan_dependent_values_reach_the_releases(graph: Graph) -> None:
    eu = graph.plan.cluster("eu-mesh")
    (cilium,) = graph.releases("eu-mesh")
    v = cilium["spec"]["values"]
    assert v["ipam"]["operator"]["clusterPoolIPv4PodCIDRList"] == [eu.network.pod_cidr]
    assert v["cluster"] == {"name": "eu-mesh", "id": 2}
    assert (v["k8sServiceHost"], v["k8sServicePort"]) == (eu.api.dns, 6443)
    assert v["MTU"] == 1400 and v["hubble"]["enabled"] is True
    calico = graph.releases("eu-calico")[-1]["spec"]["values"]
    assert calico["installation"]["calicoNetwork"]["ipPools"][0]["cidr"] == graph.plan.cluster("eu-calico").network.pod_cidr
    assert calico["installation"]["calicoNetwork"]["bgp"] == "Enabled"
    flannel = graph.releases("edge-flannel")[0]["spec"]["values"]
    assert flannel["podCidr"] == graph.plan.cluster("edge-flannel").network.pod_cidr


# ---------------------------------------------------------------- the plugin guard


@pytest.mark.parametrize("cluster", ["eu-mesh", "eu-calico", "edge-flannel"])
def test_every_bundle_file_waits_for_the_plugin_guard(graph: Graph, cluster: str) -> None:
    cni = graph.cni(cluster)
    (guard,) = graph.children(cni, GUARD)
    key = graph.plan.cluster(cluster).key
    assert guard.name == f"{key}-cni-plugin"
    assert guard.inputs["plugin"] == graph.plan.cluster(cluster).cni.plugin
    assert guard.inputs["cluster"] == cluster
    files = [r for r in graph.resources if r.name.startswith(f"{key}-addons-file-")]
    assert files and all(guard.urn in r.dependencies for r in files)


def test_live_clusters_protect_their_plugin_decommissioned_ones_do_not(graph: Graph) -> None:
    for cluster, protect in (("eu-mesh", True), ("eu-calico", True), ("edge-flannel", False)):
        for r in graph.children(graph.cni(cluster)):
            assert r.protect is protect, (cluster, r.name)


def test_a_plugin_change_keeps_the_guard_and_replaces_the_releases(tmp_path: Path) -> None:
    before = run(tmp_path / "before")
    after = run(tmp_path / "after", FLEET.replace("cni: {plugin: calico, calico: {mode: bgp}}",
                                                  "cni: {plugin: flannel}"))
    key = before.plan.cluster("eu-calico").key
    # Same guard (its state remembers calico: its check refuses flannel before any file changes)...
    assert before.named(f"{key}-cni-plugin").urn == after.named(f"{key}-cni-plugin").urn
    assert after.named(f"{key}-cni-plugin").inputs["plugin"] == "flannel"
    # ...and the bundle names the new plugin's releases only.
    assert [r["metadata"]["name"] for r in before.releases("eu-calico")] == ["calico-crds", "calico"]
    assert [r["metadata"]["name"] for r in after.releases("eu-calico")] == ["flannel"]


# ---------------------------------------------------------------- ClusterMesh CA


def test_one_clustermesh_ca_from_the_fleet_root_shared_by_every_member(graph: Graph) -> None:
    (mesh,) = graph.of_type("fleetform:index:MeshIdentity")
    assert mesh.name == "acme-mesh"
    certs = [r for r in graph.children(mesh) if r.type == "tls:index/locallySignedCert:LocallySignedCert"]
    keys = [r for r in graph.children(mesh) if r.type == "tls:index/privateKey:PrivateKey"]
    assert len(certs) == 1 and len(keys) == 1
    (cert,) = certs
    assert cert.inputs["isCaCertificate"] is True
    assert cert.inputs["caPrivateKeyPem"] == SECRET_MASK
    root_cert = graph.named("acme-identity-root-ca-cert")
    assert root_cert.urn in cert.dependencies  # signed by the fleet root
    assert cert.provider is not None and "pulumi:providers:tls" in cert.provider
    # Both members keep it in their own cloud's secret store (the value masked), read by
    # their control plane only; the boot installer puts it in a Secret.
    for member in ("eu-mesh", "us-mesh"):
        key = graph.plan.cluster(member).key
        stored = [r for r in graph.resources if r.name.startswith(f"{key}-addons-cni-secret-values")]
        assert stored and any(cert.urn in r.dependencies for r in stored), member
        values = [r for r in stored if r.type in ("aws:secretsmanager/secretVersion:SecretVersion",
                                                  "gcp:secretmanager/secretVersion:SecretVersion")]
        assert values and all(SECRET_MASK in json.dumps(r.inputs) for r in values)


def test_no_mesh_no_clustermesh_ca(tmp_path: Path) -> None:
    graph = run(tmp_path, FLEET.replace("    mesh: {clusters: [eu-mesh, us-mesh]}\n", ""))
    assert graph.of_type("fleetform:index:MeshIdentity") == []
    for cluster in ("eu-mesh", "us-mesh"):
        (release,) = graph.releases(cluster)
        assert "clustermesh" not in release["spec"]["values"] and "valuesFrom" not in release["spec"]
        key = graph.plan.cluster(cluster).key
        assert not [r for r in graph.resources if r.name.startswith(f"{key}-addons-cni-secret-values")]


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
    adapter.firewall(names.child(plan.key, "firewall"), list(plan.firewall), net, {r: [i] for r, i in ids.items()}, owner)
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


# ---------------------------------------------------------------- the real program, prod


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Graph:
    """The project's own __main__.py on the prod stack, with eu-core and us-gcp meshed."""
    document = yaml.safe_load((ROOT / "stacks" / "Pulumi.prod.yaml").read_text())
    document["config"]["fleetform:fleet"]["mesh"] = {"clusters": ["eu-core", "us-gcp"]}
    stack = run_stack(write_stack(tmp_path_factory.mktemp("prod"), "prod", document))
    return Graph(stack, stack.plan, stack.registrations)  # type: ignore[arg-type]


def test_the_program_publishes_every_prod_clusters_plugin_in_its_own_bundle(prod: Graph) -> None:
    graph, plan = prod, prod.plan
    assert {c.cni.plugin for c in plan.clusters} == {"cilium", "calico", "flannel"}
    for c in plan.clusters:  # every incarnation (edge-fra's move target too)
        cni = graph.cni(c.key)
        assert cni.parent == graph.named(c.key).urn  # a child of its Cluster
        releases = graph.releases(c.key)
        assert [(r["spec"]["chart"]["spec"]["chart"], r["spec"]["chart"]["spec"]["version"],
                 r["spec"]["targetNamespace"]) for r in releases] == [
            (pin.chart, pin.version, c.cni.namespace) for pin in c.cni.charts]
        for r in releases:
            values = dict(r["spec"].get("values") or {})
            planned = dict(_plain_values(helm_values(c.cni)[r["spec"]["releaseName"]]))
            mesh, planned_mesh = values.pop("clustermesh", None), planned.pop("clustermesh", None)
            assert {k: values.get(k) for k in planned} == planned
            assert (mesh is None) == (planned_mesh is None)
            if mesh is not None and planned_mesh is not None:
                assert mesh["apiserver"]["service"] == planned_mesh["apiserver"]["service"]
    assert not [r for r in graph.resources if r.type.startswith(("kubernetes:", "pulumi:providers:kubernetes"))]
    assert plan.cluster("eu-core").cni.mesh is not None and plan.cluster("us-core").cni.mesh is None
