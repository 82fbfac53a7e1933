"""Per-cluster CNI: chart pins, the plan-dependent Helm values of each plugin, datapath
ports in the firewall (exactly those, between the cluster's own nodes), kube-proxy
skipped only with Cilium's replacement, per-plugin options, ClusterMesh planning and its
validation errors (exact ``<file>: <path>: <message>`` lines), and the plugin-change guard."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from components.dynamic import PluginGuardProvider
from fleetform.bootstrap.inputs import SecretStore
from fleetform.bootstrap.kubeadm import kubeadm_control_plane_documents
from fleetform.bootstrap.nodes import control_plane_node
from fleetform.catalog.versions import CNI_CHARTS
from fleetform.plan.cni import ChartPin, helm_values
from fleetform.plan.firewall import LB_HEALTH_CHECKS, NODE_ROLES, FirewallRule, base_rules
from fleetform.plan.fleet import plan_fleet
from fleetform.plan.load import load_stack_file
from fleetform.plan.model import ClusterPlan, FleetPlan

from .helpers import ROOT, STACK, plan_text, problems

# ---------------------------------------------------------------- helpers


def cluster(name: str, cni: dict[str, Any] | None = None, *, cloud: str = "aws", index: int = 1,
            extra: str = "") -> str:
    region = "eu-west-1" if cloud == "aws" else "europe-west1"
    cni_part = f", cni: {json.dumps(cni)}" if cni is not None else ""
    more = f", {extra}" if extra else ""
    return (f"  - {{name: {name}, cloud: {cloud}, region: {region}, network: {{index: {index}}}"
            f"{cni_part}{more}}}\n")


def fleet(*entries: str, head: str = "") -> str:
    return head + "clusters:\n" + "".join(entries)


def plan_one(tmp_path: Path, cni: dict[str, Any] | None, *, cloud: str = "aws", index: int = 1) -> ClusterPlan:
    return plan_text(tmp_path, fleet(cluster("a", cni, cloud=cloud, index=index))).cluster("a")


def datapath(plan: ClusterPlan) -> set[FirewallRule]:
    """The plan's rules beyond the base rules every cluster gets."""
    return set(plan.firewall) - set(base_rules(plan.api.allowed_cidrs))


def among_nodes(*ports: tuple[str, int]) -> set[tuple[str, str, str, int]]:
    return {(target, source, proto, port) for proto, port in ports for target in NODE_ROLES
            for source in NODE_ROLES}


def shape(rules: set[FirewallRule]) -> set[tuple[str, str, str, int]]:
    out: set[tuple[str, str, str, int]] = set()
    for r in rules:
        assert r.ports[0] == r.ports[1]
        out.add((r.target, r.source, r.protocol, r.ports[0]))
    return out


# ---------------------------------------------------------------- chart pins


EXPECTED_PINS = {
    "cilium": [("cilium", "cilium", "1.20.2", "https://helm.cilium.io/")],
    "calico": [("calico-crds", "crd.projectcalico.org.v1", "v3.32.2", "https://docs.tigera.io/calico/charts"),
               ("calico", "tigera-operator", "v3.32.2", "https://docs.tigera.io/calico/charts")],
    "flannel": [("flannel", "flannel", "v0.28.9", "https://flannel-io.github.io/flannel/")],
}
NAMESPACE = {"cilium": "kube-system", "calico": "tigera-operator", "flannel": "kube-flannel"}


@pytest.mark.parametrize("plugin", ["cilium", "calico", "flannel"])
def test_each_plugin_has_pinned_charts_and_its_namespace(tmp_path: Path, plugin: str) -> None:
    cni = plan_one(tmp_path, {"plugin": plugin}).cni
    assert [tuple(vars(p).values()) for p in cni.charts] == EXPECTED_PINS[plugin]
    assert cni.charts == tuple(ChartPin(*pin) for pin in CNI_CHARTS[plugin])
    assert cni.namespace == NAMESPACE[plugin]
    # The plugin's own chart is the last one installed (Calico's CRDs come first).
    assert (cni.chart, cni.chart_version, cni.repository) == EXPECTED_PINS[plugin][-1][1:]
    assert set(helm_values(cni)) == {pin[0] for pin in EXPECTED_PINS[plugin]}


# ---------------------------------------------------------------- values from the plan


@pytest.mark.parametrize(("cloud", "index", "mtu"), [("aws", 1, 9001), ("gcp", 9, 1460)])
def test_cilium_values_come_from_the_plan(tmp_path: Path, cloud: str, index: int, mtu: int) -> None:
    plan = plan_one(tmp_path, {"plugin": "cilium"}, cloud=cloud, index=index)
    assert plan.network.pod_cidr == f"10.{index}.0.0/17"
    assert helm_values(plan.cni) == {"cilium": {
        "cluster": {"name": "a", "id": index + 1},  # derived from the network slot
        "ipam": {"mode": "cluster-pool", "operator": {
            "clusterPoolIPv4PodCIDRList": [f"10.{index}.0.0/17"], "clusterPoolIPv4MaskSize": 24}},
        "routingMode": "tunnel",
        "tunnelProtocol": "vxlan",
        "tunnelPort": 8472,
        "MTU": mtu,  # the underlay: Cilium subtracts the VXLAN overhead itself
        "kubeProxyReplacement": False,
        "hubble": {"enabled": False, "relay": {"enabled": False}},
    }}
    assert plan.cni.mtu == mtu - 50


def test_cilium_kube_proxy_replacement_gets_the_api_endpoint(tmp_path: Path) -> None:
    plan = plan_one(tmp_path, {"plugin": "cilium", "cilium": {"kube_proxy_replacement": True}})
    values = helm_values(plan.cni)["cilium"]
    assert values["kubeProxyReplacement"] is True
    assert (values["k8sServiceHost"], values["k8sServicePort"]) == (plan.api.dns, plan.api.port)
    assert values["k8sServiceHost"] == "api.a.fleet.acme.example"
    assert plan.cni.skips_kube_proxy


def test_cilium_hubble_and_explicit_cluster_id(tmp_path: Path) -> None:
    plan = plan_one(tmp_path, {"plugin": "cilium", "cilium": {"hubble": True, "cluster_id": 7}})
    values = helm_values(plan.cni)["cilium"]
    assert values["hubble"] == {"enabled": True, "relay": {"enabled": True}, "listenAddress": ":4244"}
    assert values["cluster"] == {"name": "a", "id": 7}


def test_long_cluster_names_fit_ciliums_32_characters(tmp_path: Path) -> None:
    # Longer than Cilium's 32, within what the etcd member certificates allow (38).
    name = "a" + "b" * 36
    plan = plan_text(tmp_path, fleet(cluster(name, {"plugin": "cilium"}))).cluster(name)
    cilium_name = helm_values(plan.cni)["cilium"]["cluster"]["name"]
    assert len(cilium_name) <= 32 and cilium_name.startswith("abbb") and cilium_name[-1].isalnum()


@pytest.mark.parametrize(("cloud", "index", "mtu"), [("aws", 2, 8951), ("gcp", 5, 1410)])
@pytest.mark.parametrize("mode", ["vxlan", "bgp"])
def test_calico_installation_comes_from_the_plan(tmp_path: Path, cloud: str, index: int, mtu: int,
                                                  mode: str) -> None:
    plan = plan_one(tmp_path, {"plugin": "calico", "calico": {"mode": mode}}, cloud=cloud, index=index)
    assert helm_values(plan.cni) == {
        "calico-crds": {},
        "calico": {
            "installation": {
                "enabled": True,
                "kubernetesProvider": "",
                "cni": {"type": "Calico", "ipam": {"type": "Calico"}},
                "calicoNetwork": {
                    "bgp": "Enabled" if mode == "bgp" else "Disabled",
                    "mtu": mtu,  # the pods' MTU: node MTU - 50
                    "ipPools": [{"cidr": f"10.{index}.0.0/17", "encapsulation": "VXLAN",
                                 "natOutgoing": "Enabled", "nodeSelector": "all()", "blockSize": 26}],
                },
            },
            "kubernetesServiceEndpoint": {"host": "api.a.fleet.acme.example", "port": "6443"},
        },
    }


@pytest.mark.parametrize(("cloud", "mtu"), [("aws", 9001), ("gcp", 1460)])
def test_flannel_values_come_from_the_plan(tmp_path: Path, cloud: str, mtu: int) -> None:
    plan = plan_one(tmp_path, {"plugin": "flannel"}, cloud=cloud, index=3)
    assert helm_values(plan.cni) == {"flannel": {
        "podCidr": "10.3.0.0/17",
        "flannel": {"backend": "vxlan", "backendPort": 8472, "mtu": mtu},
    }}


def test_default_cni_is_cilium_without_options(tmp_path: Path) -> None:
    cni = plan_one(tmp_path, None).cni
    assert (cni.plugin, cni.hubble, cni.kube_proxy_replacement, cni.calico_mode) == ("cilium", False, False, None)


# ---------------------------------------------------------------- datapath ports


CASES: list[tuple[dict[str, Any], set[tuple[str, int]]]] = [
    ({"plugin": "cilium"}, {("udp", 8472), ("tcp", 4240)}),
    ({"plugin": "cilium", "cilium": {"hubble": True}}, {("udp", 8472), ("tcp", 4240), ("tcp", 4244)}),
    ({"plugin": "cilium", "cilium": {"kube_proxy_replacement": True}}, {("udp", 8472), ("tcp", 4240)}),
    ({"plugin": "calico"}, {("udp", 4789), ("tcp", 5473)}),
    ({"plugin": "calico", "calico": {"mode": "bgp"}}, {("udp", 4789), ("tcp", 5473), ("tcp", 179)}),
    ({"plugin": "flannel"}, {("udp", 8472)}),
]


@pytest.mark.parametrize(("cni", "ports"), CASES, ids=[json.dumps(c[0]) for c in CASES])
def test_firewall_opens_exactly_the_datapath_ports_between_the_clusters_nodes(
        tmp_path: Path, cni: dict[str, Any], ports: set[tuple[str, int]]) -> None:
    by_cloud = {}
    for cloud in ("aws", "gcp"):
        plan = plan_one(tmp_path, cni, cloud=cloud)
        rules = datapath(plan)
        # Nothing extra: node roles only (never etcd, the API LB or a CIDR), both directions.
        assert shape(rules) == among_nodes(*ports)
        assert {(p, n) for p, n, _ in plan.cni.ports} == ports
        assert all(r.why for r in rules)
        by_cloud[cloud] = shape(rules)
    # The same rules on both clouds (the adapters translate them; see the component tests).
    assert by_cloud["aws"] == by_cloud["gcp"]


def test_prod_stack_plans_each_cluster_with_its_plugins_release_and_ports() -> None:
    plan = plan_fleet(load_stack_file(ROOT / "stacks" / "Pulumi.prod.yaml", label="stacks/Pulumi.prod.yaml"))
    expected = {"cilium": {("udp", 8472), ("tcp", 4240)}, "calico": {("udp", 4789), ("tcp", 5473)},
                "flannel": {("udp", 8472)}}
    seen = set()
    for c in plan.clusters:
        seen.add(c.cni.plugin)
        assert [tuple(vars(p).values()) for p in c.cni.charts] == EXPECTED_PINS[c.cni.plugin]
        assert shape(datapath(c)) == among_nodes(*expected[c.cni.plugin])
        assert c.cni.pod_cidr == c.network.pod_cidr
        assert c.to_json()["cni_detail"]["values"] == json.loads(json.dumps(helm_values(c.cni)))
    assert seen == {"cilium", "calico", "flannel"}


# ---------------------------------------------------------------- kube-proxy


def _pem_material() -> tuple[dict[str, str], dict[str, str]]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    pem = {k: cert_pem for k in ("kubernetes-ca", "front-proxy-ca", "etcd-ca", "apiserver-etcd-client")}
    pem["service-account-public"] = public
    secret = {k: f"a/{k}" for k in ("kubernetes-ca-key", "front-proxy-ca-key", "service-account-key",
                                    "apiserver-etcd-client-key", "bootstrap-token", "encryption-key")}
    return pem, secret


@pytest.mark.parametrize(("cni", "skipped"), [
    ({"plugin": "cilium", "cilium": {"kube_proxy_replacement": True}}, True),
    ({"plugin": "cilium"}, False),
    ({"plugin": "cilium", "cilium": {"hubble": True, "kube_proxy_replacement": False}}, False),
    ({"plugin": "calico", "calico": {"mode": "bgp"}}, False),
    ({"plugin": "flannel"}, False),
])
def test_kubeadm_skips_kube_proxy_only_with_cilium_replacement(tmp_path: Path, cni: dict[str, Any],
                                                               skipped: bool) -> None:
    plan = plan_one(tmp_path, cni)
    pem, secret = _pem_material()
    inputs = control_plane_node(plan, 0, SecretStore("aws", "eu-west-1"), pem, secret)
    assert inputs.skip_kube_proxy is skipped
    # The rendered kubeadm configuration (replica 0 runs `kubeadm init`).
    docs = {d["kind"]: d for d in kubeadm_control_plane_documents(inputs)}
    assert ("addon/kube-proxy" in docs["InitConfiguration"].get("skipPhases", [])) is skipped
    assert (docs["ClusterConfiguration"].get("proxy") == {"disabled": True}) is skipped


# ---------------------------------------------------------------- options


def test_options_for_another_plugin_are_an_error_where_written(tmp_path: Path) -> None:
    assert problems(tmp_path, fleet(cluster("a", {"plugin": "flannel", "cilium": {"hubble": True}}))) == [
        f"{STACK}: fleet.clusters[0].cni.cilium: options for cilium, but this cluster's cni.plugin is "
        "'flannel': options apply to the chosen plugin only (remove them, or use cni.flannel)"]


def test_plugin_options_inherited_from_defaults_are_located_in_defaults(tmp_path: Path) -> None:
    body = "defaults:\n  cni: {calico: {mode: bgp}}\n" + fleet(cluster("a", {"plugin": "cilium"}))
    assert problems(tmp_path, body) == [
        f"{STACK}: fleet.defaults.cni.calico: options for calico, but this cluster's cni.plugin is "
        "'cilium': options apply to the chosen plugin only (remove them, or use cni.cilium)"]


@pytest.mark.parametrize(("cni", "line"), [
    ({"plugin": "cilium", "cilium": {"hubbel": True}},
     "fleet.clusters[0].cni.cilium.hubbel: unknown key 'hubbel' (did you mean 'hubble'?)"),
    ({"plugin": "calico", "calico": {"mode": "ipip"}},
     "fleet.clusters[0].cni.calico.mode: 'ipip' is not one of vxlan, bgp"),
    ({"plugin": "calico", "calico": {"typha": False}},
     "fleet.clusters[0].cni.calico.typha: unknown key 'typha'"),
    ({"plugin": "flannel", "flannel": {"backend": "host-gw"}},
     "fleet.clusters[0].cni.flannel.backend: unknown key 'backend'"),
    ({"plugin": "cilium", "cilium": {"hubble": 1}},
     "fleet.clusters[0].cni.cilium.hubble: expected true or false, got the number 1"),
    ({"plugin": "cilium", "cilium": {"cluster_id": 256}},
     "fleet.clusters[0].cni.cilium.cluster_id: input should be less than or equal to 255, got the number 256"),
    ({"plugin": "cilium", "cilium": {"cluster_id": 0}},
     "fleet.clusters[0].cni.cilium.cluster_id: input should be greater than or equal to 1, got the number 0"),
])
def test_unknown_or_invalid_options_are_rejected(tmp_path: Path, cni: dict[str, Any], line: str) -> None:
    assert problems(tmp_path, fleet(cluster("a", cni))) == [f"{STACK}: {line}"]


def test_cilium_cluster_named_default_is_rejected(tmp_path: Path) -> None:
    assert problems(tmp_path, fleet(cluster("default", {"plugin": "cilium"}))) == [
        f"{STACK}: fleet.clusters[0].name: 'default' is reserved by Cilium for clusters without a "
        "cluster id; pick another name"]


# ---------------------------------------------------------------- cluster ids


def test_cluster_ids_derive_from_network_slots_and_never_move(tmp_path: Path) -> None:
    two = plan_text(tmp_path, fleet(cluster("a", index=4), cluster("b", index=9)))
    three = plan_text(tmp_path, fleet(cluster("a", index=4), cluster("c", index=2), cluster("b", index=9)))
    assert [two.cluster(n).cni.cluster_id for n in ("a", "b")] == [5, 10]
    assert [three.cluster(n).cni.cluster_id for n in ("a", "b", "c")] == [5, 10, 3]


def test_non_cilium_clusters_have_no_cluster_id(tmp_path: Path) -> None:
    plan = plan_text(tmp_path, fleet(cluster("a", {"plugin": "calico"}), cluster("b", {"plugin": "flannel"}, index=2)))
    assert [c.cni.cluster_id for c in plan.clusters] == [None, None]


def test_duplicate_cluster_id_is_reported_at_the_explicit_id(tmp_path: Path) -> None:
    body = fleet(cluster("a", index=1), cluster("b", {"plugin": "cilium", "cilium": {"cluster_id": 2}}, index=5))
    assert problems(tmp_path, body) == [
        f"{STACK}: fleet.clusters[1].cni.cilium.cluster_id: duplicate cluster id 2: also used by cluster 'a' "
        "(derived from its network slot 1); Cilium cluster ids must be unique fleet-wide (1..255)"]


def test_two_explicit_duplicate_ids_are_both_reported(tmp_path: Path) -> None:
    body = fleet(cluster("a", {"plugin": "cilium", "cilium": {"cluster_id": 9}}, index=1),
                 cluster("b", {"plugin": "cilium", "cilium": {"cluster_id": 9}}, index=2))
    assert problems(tmp_path, body) == [
        f"{STACK}: fleet.clusters[0].cni.cilium.cluster_id: duplicate cluster id 9: also used by cluster 'b' "
        "(cni.cilium.cluster_id); Cilium cluster ids must be unique fleet-wide (1..255)",
        f"{STACK}: fleet.clusters[1].cni.cilium.cluster_id: duplicate cluster id 9: also used by cluster 'a' "
        "(cni.cilium.cluster_id); Cilium cluster ids must be unique fleet-wide (1..255)"]


# ---------------------------------------------------------------- ClusterMesh validation

MESH = "mesh: {clusters: [a, b]}\n"


def test_mesh_member_must_use_cilium(tmp_path: Path) -> None:
    body = fleet(cluster("a"), cluster("b", {"plugin": "calico"}, index=2), head=MESH)
    assert problems(tmp_path, body) == [
        f"{STACK}: fleet.mesh.clusters[1]: cluster 'b' uses calico; ClusterMesh joins Cilium clusters only "
        "(its cni.plugin must be cilium)"]


def test_mesh_with_per_cluster_stacks_is_valid(tmp_path: Path) -> None:
    """Members name each other by planned addresses: nothing crosses between their stacks."""
    body = fleet(cluster("a"), cluster("b", index=2), head=MESH + "stacks: per-cluster\n")
    assert problems(tmp_path, body) == []


def test_mesh_member_must_exist(tmp_path: Path) -> None:
    body = fleet(cluster("alpha"), cluster("b", index=2), head="mesh: {clusters: [alpah, b]}\n")
    assert problems(tmp_path, body) == [
        f"{STACK}: fleet.mesh.clusters[0]: unknown cluster 'alpah' (did you mean 'alpha'?)"]


def test_mesh_member_listed_twice_and_a_mesh_of_one(tmp_path: Path) -> None:
    body = fleet(cluster("a"), cluster("b", index=2), head="mesh: {clusters: [a, a]}\n")
    assert problems(tmp_path, body) == [
        f"{STACK}: fleet.mesh.clusters: a mesh needs at least two clusters",
        f"{STACK}: fleet.mesh.clusters[1]: 'a' is listed twice (also mesh.clusters[0])"]


def test_mesh_member_needs_a_cluster_id(tmp_path: Path) -> None:
    explicit = ("network: {node_cidr: 172.16.0.0/20, pod_cidr: 172.17.0.0/16, "
                "service_cidr: 172.18.0.0/20}")
    body = ("mesh: {clusters: [a, b]}\nclusters:\n"
            + cluster("a")
            + f"  - {{name: b, cloud: aws, region: eu-west-1, {explicit}}}\n")
    assert problems(tmp_path, body) == [
        f"{STACK}: fleet.mesh.clusters[1]: cluster 'b' has no cluster id: it has explicit CIDRs (no network "
        "slot); set its cni.cilium.cluster_id (1..255)"]


def test_mesh_member_duplicate_id_and_mesh_path_mtu_bounds(tmp_path: Path) -> None:
    body = fleet(cluster("a"), cluster("b", {"plugin": "cilium", "cilium": {"cluster_id": 2}}, index=7),
                 head="mesh: {clusters: [a, b], path_mtu: 1000}\n")
    assert problems(tmp_path, body) == [
        f"{STACK}: fleet.mesh.path_mtu: input should be greater than or equal to 1280, got the number 1000"]
    body = body.replace("path_mtu: 1000", "path_mtu: 1500")
    assert problems(tmp_path, body) == [
        f"{STACK}: fleet.clusters[1].cni.cilium.cluster_id: duplicate cluster id 2: also used by cluster 'a' "
        "(derived from its network slot 1); Cilium cluster ids must be unique fleet-wide (1..255)"]


# ---------------------------------------------------------------- ClusterMesh plan


def mesh_plan(tmp_path: Path, head: str = MESH) -> FleetPlan:
    return plan_text(tmp_path, fleet(
        cluster("a", {"plugin": "cilium", "cilium": {"kube_proxy_replacement": True}}, index=1),
        cluster("b", cloud="gcp", index=2),
        cluster("c", {"plugin": "calico"}, index=3), head=head))


def test_mesh_members_learn_their_peers_and_expose_the_mesh_api(tmp_path: Path) -> None:
    plan = mesh_plan(tmp_path)
    a, b = plan.cluster("a"), plan.cluster("b")
    mesh = helm_values(a.cni)["cilium"]["clustermesh"]
    assert mesh == {
        "useAPIServer": True,
        # Peers by their load balancers' planned addresses (GCP: one in its regional
        # subnetwork), dialled as b.mesh.cilium.io.
        "config": {"enabled": True, "clusters": [{"name": "b", "ips": ["10.2.128.6"], "port": 32003}]},
        "apiserver": {
            # No cloud-controller-manager: a NodePort of its own (32000 + cluster id),
            # behind fleetform's load balancer (components/mesh.py).
            "service": {"type": "NodePort", "nodePort": 32002, "externalTrafficPolicy": "Cluster"},
            "tls": {"authMode": "cluster", "server": {
                "extraDnsNames": ["clustermesh.a.fleet.acme.example"],
                "extraIpAddresses": ["10.1.128.6", "10.1.136.6", "10.1.144.6"]}},
        },
    }
    # AWS: one per zone subnet the NLB spans, at the same offset of each.
    assert a.cni.mesh is not None and a.cni.mesh.lb_ips == tuple(
        (s.zone, s.private_cidr.replace(".0/21", ".6")) for s in a.network.subnets)
    b_mesh = helm_values(b.cni)["cilium"]["clustermesh"]
    assert b_mesh["config"]["clusters"] == [{"name": "a", "ips": ["10.1.128.6", "10.1.136.6", "10.1.144.6"],
                                             "port": 32002}]
    assert b_mesh["apiserver"]["service"] == {"type": "NodePort", "nodePort": 32003,
                                              "externalTrafficPolicy": "Cluster"}
    assert [c.cni.cluster_id for c in (a, b)] == [2, 3]
    # The CA is a secret the component adds; the plan never holds key material.
    assert "tls" not in helm_values(a.cni)["cilium"]


def test_mesh_members_mtu_follows_the_path_between_clusters(tmp_path: Path) -> None:
    plan = mesh_plan(tmp_path)
    assert [plan.cluster(n).cni.mtu for n in "abc"] == [1350, 1350, 8951]
    assert helm_values(plan.cluster("a").cni)["cilium"]["MTU"] == 1400
    plan = mesh_plan(tmp_path, head="mesh: {clusters: [a, b], path_mtu: 8500}\n")
    assert [plan.cluster(n).cni.mtu for n in "ab"] == [8450, 1410]  # GCP's own 1460 is lower


def test_mesh_opens_vxlan_and_health_from_the_peers_nodes_only(tmp_path: Path) -> None:
    meshed = mesh_plan(tmp_path)
    alone = plan_text(tmp_path, fleet(
        cluster("a", {"plugin": "cilium", "cilium": {"kube_proxy_replacement": True}}, index=1),
        cluster("b", cloud="gcp", index=2), cluster("c", {"plugin": "calico"}, index=3)))
    for me, peer in (("a", "b"), ("b", "a")):
        extra = set(meshed.cluster(me).firewall) - set(alone.cluster(me).firewall)
        peer_cidr = meshed.cluster(peer).network.node_cidr
        api_port = meshed.cluster(me).cni.mesh.port
        assert shape(extra) == {(t, peer_cidr, proto, port) for t in NODE_ROLES
                                for proto, port in (("udp", 8472), ("tcp", 4240))} | {
            # The ClusterMesh API's node port on the workers: the peer's nodes and the
            # load balancer's health checks only.
            ("worker", peer_cidr, "tcp", api_port), ("worker", LB_HEALTH_CHECKS, "tcp", api_port)}
        assert set(alone.cluster(me).firewall) <= set(meshed.cluster(me).firewall)
    assert meshed.cluster("c") == alone.cluster("c")  # non-members untouched


def test_plans_are_deterministic(tmp_path: Path) -> None:
    assert mesh_plan(tmp_path).to_json() == mesh_plan(tmp_path).to_json()


def test_small_pod_cidrs_shrink_ciliums_blocks_and_warn(tmp_path: Path) -> None:
    head = "network: {cluster_prefix: 22}\n"
    plan = plan_text(tmp_path, fleet(cluster("a", index=1), cluster("f", {"plugin": "flannel"}, index=2),
                                     head=head))
    a = plan.cluster("a")
    assert a.network.pod_cidr.endswith("/23")
    # 13 nodes (3 control plane + 10 workers at max) need 16 blocks: /27 each.
    assert helm_values(a.cni)["cilium"]["ipam"]["operator"]["clusterPoolIPv4MaskSize"] == 27
    assert any("cluster 'a': Cilium gives each node a /27" in w for w in plan.warnings)
    assert any("cluster 'f': Flannel uses a /24" in w and "room for 2 nodes" in w for w in plan.warnings)


# ---------------------------------------------------------------- the plugin-change guard


def test_changing_a_live_clusters_plugin_is_refused_with_a_clear_message() -> None:
    guard = PluginGuardProvider()
    result = guard.check({"cluster": "eu-core", "plugin": "cilium"}, {"cluster": "eu-core", "plugin": "calico"})
    assert [f.property for f in result.failures] == ["plugin"]
    message = result.failures[0].reason
    assert "cluster 'eu-core' runs cilium" in message
    assert "not supported" in message and "migrate" in message and "docs/cni.md" in message


@pytest.mark.parametrize("olds", [{}, {"cluster": "eu-core", "plugin": "calico"}])
def test_first_install_and_unchanged_plugin_pass_the_guard(olds: dict[str, str]) -> None:
    news = {"cluster": "eu-core", "plugin": "calico"}
    assert PluginGuardProvider().check(olds, news).failures == []


def test_cost_counts_every_load_balancer_a_cluster_gets(tmp_path: Path) -> None:
    """The API's internal load balancer, its internet-facing twin for a public API, and a
    ClusterMesh member's endpoint: each at the cloud's load balancer price."""
    from fleetform.catalog.sizes import HOURS_PER_MONTH, LOAD_BALANCER_HOUR

    plan = plan_text(tmp_path, fleet(
        cluster("a", index=1), cluster("b", index=2, extra="api: {public: true, allowed_cidrs: [203.0.113.0/24]}"),
        cluster("c", index=3), cluster("d", index=4), head="mesh: {clusters: [c, d]}\n"))
    lb = round(LOAD_BALANCER_HOUR["aws"] * HOURS_PER_MONTH, 2)
    network = {c.name: c.cost.network for c in plan.clusters}
    assert network["b"] == pytest.approx(network["a"] + lb, abs=0.011)
    assert network["c"] == network["d"] == pytest.approx(network["a"] + lb, abs=0.011)
