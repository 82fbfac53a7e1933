"""Every validation rule, each asserting the exact ``<file>: <path>: <message>`` lines."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fleetform.plan.fleet import plan_fleet

from .helpers import (
    BASE,
    BASE_FILE,
    HEADER,
    STACK,
    load,
    plan_text,
    problems,
    problems_of,
    stack_text,
    write_stack,
)

QUORUM = "(an odd count keeps a quorum)"


def one(name: str, extra: str = "", *, cloud: str = "aws", region: str = "eu-west-1", index: int | None = 1) -> str:
    """A one-line cluster entry."""
    net = f", network: {{index: {index}}}" if index is not None else ""
    more = f", {extra}" if extra else ""
    return f"  - {{name: {name}, cloud: {cloud}, region: {region}{more}{net}}}\n"


def clusters(*entries: str) -> str:
    return "clusters:\n" + "".join(entries)


def fleet(text: str, entries: str) -> str:
    """Fleet keys (an indented triple-quoted block) followed by a clusters list."""
    return textwrap.dedent(text).strip("\n") + "\n" + entries


# ---------------------------------------------------------------- YAML


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write_stack(tmp_path, """\
        config:
          fleetform:base: fleet.yaml
          fleetform:fleet:
            clusters:
              - name: a
                cloud: aws
               region: eu-west-1
        """)
    assert problems_of(path) == [
        f"{STACK}: line 7, column 8: YAML syntax error: this line starts at column 8, which lines up with "
        "no block above it (the list items of the block from line 5 start at column 7): indent it with "
        "exactly as many spaces as the lines it belongs with"]


def test_unclosed_flow_list_names_the_line(tmp_path: Path) -> None:
    path = write_stack(tmp_path, stack_text("clusters: [\n  - name: a\n"))
    assert problems_of(path) == [
        f"{STACK}: line 5, column 7: YAML syntax error: a '- ' list item inside brackets ([...] or {{...}}): "
        "close the bracket before it, or write the list as '- ' lines without brackets"]


def test_duplicate_yaml_key_is_an_error_not_last_one_wins(tmp_path: Path) -> None:
    path = write_stack(tmp_path, stack_text("""
        clusters:
          - name: a
            cloud: aws
            name: b
    """))
    assert problems_of(path) == [
        f"{STACK}: line 7, column 9: YAML syntax error: duplicate key 'name' (first on line 5)"]


# ---------------------------------------------------------------- unknown keys


def test_unknown_top_level_key(tmp_path: Path) -> None:
    path = write_stack(tmp_path, "conifg:\n  fleetform:fleet: {}\n")
    assert problems_of(path) == [
        f"{STACK}: conifg: unknown top-level key (did you mean 'config'?); "
        "the fleet lives under config: fleetform:fleet",
        f"{STACK}: config: required: a config block with 'fleetform:fleet'",
    ]


def test_pulumi_own_top_level_keys_are_allowed(tmp_path: Path) -> None:
    path = write_stack(tmp_path, "encryptionsalt: v1:abc\nsecretsprovider: passphrase\n"
                       + stack_text(clusters(one("a"))))
    assert problems_of(path) == []


def test_unknown_fleetform_config_key(tmp_path: Path) -> None:
    path = write_stack(tmp_path, stack_text(clusters(one("a"))) + "  fleetform:bsae: fleet.yaml\n")
    assert problems_of(path) == [
        f"{STACK}: config.fleetform:bsae: unknown fleetform setting (did you mean 'fleetform:base'?)"]


def test_unknown_fleet_key(tmp_path: Path) -> None:
    assert problems(tmp_path, "clsuters: []") == [
        f"{STACK}: fleet.clsuters: unknown key 'clsuters' (did you mean 'clusters'?)",
        f"{STACK}: fleet.clusters: the fleet has no clusters; add at least one",
    ]


def test_unknown_cluster_key(tmp_path: Path) -> None:
    assert problems(tmp_path, clusters(one("a", "regoin: eu-west-2"))) == [
        f"{STACK}: fleet.clusters[0].regoin: unknown key 'regoin' (did you mean 'region'?)"]


def test_unknown_nested_keys(tmp_path: Path) -> None:
    assert problems(tmp_path, clusters(
        one("a", "etcd: {member: 3}, workers: [{name: general, mx: 3}], network: {index: 1, nodecidr: 10.0.0.0/24}",
            index=None),
    )) == [
        f"{STACK}: fleet.clusters[0].etcd.member: unknown key 'member' (did you mean 'members'?)",
        f"{STACK}: fleet.clusters[0].network.nodecidr: unknown key 'nodecidr' (did you mean 'node_cidr'?)",
        f"{STACK}: fleet.clusters[0].workers[0].mx: unknown key 'mx' (did you mean 'max'?)",
    ]


def test_unknown_key_without_a_close_match_has_no_hint(tmp_path: Path) -> None:
    assert problems(tmp_path, clusters(one("a", "zzz: 1"))) == [
        f"{STACK}: fleet.clusters[0].zzz: unknown key 'zzz'"]


def test_unknown_key_in_defaults_and_profiles(tmp_path: Path) -> None:
    assert problems(tmp_path, fleet("""
        defaults:
          etcd: {disk: 10}
        profiles:
          edge:
            controlplane: {replicas: 1}
    """, clusters(one("a")))) == [
        f"{STACK}: fleet.defaults.etcd.disk: unknown key 'disk' (did you mean 'disk_gb'?)",
        f"{STACK}: fleet.profiles.edge.controlplane: unknown key 'controlplane' (did you mean 'control_plane'?)",
    ]


def test_unknown_key_in_the_base_file(tmp_path: Path) -> None:
    base = BASE.replace("  network:\n", "  netwrok:\n", 1)
    assert problems(tmp_path, clusters(one("a")), base_text=base) == [
        f"{BASE_FILE}: fleet.netwrok: unknown key 'netwrok' (did you mean 'network'?)"]


# ---------------------------------------------------------------- types


def test_numbers_and_booleans_written_as_strings(tmp_path: Path) -> None:
    assert problems(tmp_path, clusters(one(
        "a", 'etcd: {members: "3", disk_gb: "50"}, api: {public: "true"}, decommission: "yes", '
        'network: {index: "1"}', index=None))) == [
        f"{STACK}: fleet.clusters[0].api.public: expected true or false, got the string 'true' (remove the quotes)",
        f"{STACK}: fleet.clusters[0].decommission: expected true or false, got the string 'yes' (remove the quotes)",
        f"{STACK}: fleet.clusters[0].etcd.disk_gb: expected a whole number, got the string '50' (remove the quotes)",
        f"{STACK}: fleet.clusters[0].etcd.members: expected a whole number, got the string '3' (remove the quotes)",
        f"{STACK}: fleet.clusters[0].network.index: expected a whole number, got the string '1' (remove the quotes)",
    ]


def test_boolean_is_not_a_number(tmp_path: Path) -> None:
    assert problems(tmp_path, clusters(one("a", "etcd: {members: true}"))) == [
        f"{STACK}: fleet.clusters[0].etcd.members: expected a whole number, got a boolean"]


def test_kubernetes_version_as_a_yaml_number(tmp_path: Path) -> None:
    assert problems(tmp_path, clusters(one("a", "kubernetes_version: 1.37"))) == [
        f"{STACK}: fleet.clusters[0].kubernetes_version: expected a string, got the number 1.37: quote it, "
        'like kubernetes_version: "1.37" (unquoted, YAML reads a version as a number: 1.30 becomes 1.3)']


def test_wrong_container_types(tmp_path: Path) -> None:
    assert problems(tmp_path, clusters(
        one("a", "workers: {name: x}, profiles: edge"),
    )) == [
        f"{STACK}: fleet.clusters[0].profiles: expected a list, got the string 'edge'",
        f"{STACK}: fleet.clusters[0].workers: expected a list, got a mapping",
    ]


def test_cluster_entry_must_be_a_mapping(tmp_path: Path) -> None:
    # Either wording is fine; one mistake must give one line.
    [line] = problems(tmp_path, "clusters: [abc]")
    assert line in (f"{STACK}: fleet.clusters[0]: expected a mapping, got the string 'abc'",
                    f"{STACK}: fleet.clusters[0]: expected a cluster (a mapping), got the string 'abc'")


@pytest.mark.parametrize(("body", "line"), [
    ("defaults:\n" + clusters(one("a")), "fleet.defaults: expected a mapping, got null"),
    ("profiles: {x: }\n" + clusters(one("a")), "fleet.profiles.x: expected a mapping, got null"),
])
def test_empty_blocks_are_reported(tmp_path: Path, body: str, line: str) -> None:
    assert problems(tmp_path, body) == [f"{STACK}: {line}"]


# ---------------------------------------------------------------- fleet header


def test_wrong_api_version(tmp_path: Path) -> None:
    assert problems(tmp_path, "apiVersion: fleetform/v2\n" + clusters(one("a"))) == [
        f"{STACK}: fleet.apiVersion: 'fleetform/v2' is not one of fleetform/v1"]


def test_missing_api_version_name_and_domain(tmp_path: Path) -> None:
    assert problems(tmp_path, clusters(one("a")), base=None, base_text=None) == [
        f"{STACK}: fleet.apiVersion: required",
        f"{STACK}: fleet.domain: required",
        f"{STACK}: fleet.name: required",
    ]


def test_fleet_name_and_domain_format(tmp_path: Path) -> None:
    assert problems(tmp_path, "name: Acme\ndomain: Fleet.example\n" + clusters(one("a"))) == [
        f"{STACK}: fleet.domain: 'Fleet.example' is not a lowercase DNS name like 'fleet.example.com'",
        f"{STACK}: fleet.name: 'Acme' is not a DNS-1123 label (lowercase letters, digits and '-', "
        "starting with a letter, at most 63 characters)",
    ]


def test_gcp_project_format(tmp_path: Path) -> None:
    assert problems(tmp_path, "clouds: {gcp: {project: X}}\n" + clusters(one("a"))) == [
        f"{STACK}: fleet.clouds.gcp.project: 'X' does not have the expected format "
        "(^[a-z][-a-z0-9]{4,28}[a-z0-9]$)"]


# ---------------------------------------------------------------- cluster names


@pytest.mark.parametrize("name", ["Eu_Core", "1abc", "a-", "-a", "a.b", "x" * 64])
def test_cluster_name_must_be_a_dns_label(tmp_path: Path, name: str) -> None:
    assert problems(tmp_path, clusters(one(f"'{name}'"))) == [
        f"{STACK}: fleet.clusters[0].name: {name!r} is not a DNS-1123 label (lowercase letters, digits "
        "and '-', starting with a letter, at most 63 characters)"]


@pytest.mark.parametrize("name", ["a", "eu-core", "a1", "x" * 38])
def test_valid_cluster_names(tmp_path: Path, name: str) -> None:
    assert problems(tmp_path, clusters(one(name))) == []


def test_a_cluster_name_too_long_for_its_certificates_is_refused_by_validate(tmp_path: Path) -> None:
    """A DNS label of up to 63 characters, but the etcd members' certificate subjects
    (<member>.<cluster>.<domain>) must fit X.509's 64: validate says what to change."""
    (line,) = problems(tmp_path, clusters(one("x" * 63)))
    assert line.startswith(f"{STACK}: fleet.clusters[0].name: the etcd-0-server and etcd-0-peer certificates' "
                           "common name ")
    assert "X.509 allows 64 (5 more certificate subjects are too long as well): shorten the cluster name to at " \
           "most 38 characters" in line


def test_cluster_names_are_unique(tmp_path: Path) -> None:
    assert problems(tmp_path, clusters(
        one("a"), one("b", index=2), one("a", cloud="gcp", region="europe-west1", index=3))) == [
        f"{STACK}: fleet.clusters[2].name: duplicate cluster name 'a' (also fleet.clusters[0])"]


def test_empty_fleet(tmp_path: Path) -> None:
    line = [f"{STACK}: fleet.clusters: the fleet has no clusters; add at least one"]
    assert problems(tmp_path, "clusters: []") == line
    assert problems(tmp_path, "name: acme") == line


# ---------------------------------------------------------------- cloud, region, zones


def test_unknown_cloud(tmp_path: Path) -> None:
    assert problems(tmp_path, clusters(one("a", cloud="azure"))) == [
        f"{STACK}: fleet.clusters[0].cloud: 'azure' is not one of aws, gcp"]


def test_region_must_be_valid_for_the_cloud(tmp_path: Path) -> None:
    assert problems(tmp_path, clusters(
        one("a", region="eu-west-9"),
        one("b", cloud="gcp", region="eu-west-1", index=2),
        one("c", cloud="aws", region="europe-west1", index=3),
        one("d", cloud="gcp", region="europe-west1", index=4),
    )) == [
        f"{STACK}: fleet.clusters[0].region: 'eu-west-9' is not a supported AWS region (did you mean 'eu-west-3'?)",
        f"{STACK}: fleet.clusters[1].region: 'eu-west-1' is not a supported GCP region (did you mean 'us-west1'?)",
        f"{STACK}: fleet.clusters[2].region: 'europe-west1' is not a supported AWS region (did you mean 'eu-west-1'?)",
    ]


def test_explicit_zones_belong_to_the_region(tmp_path: Path) -> None:
    assert problems(tmp_path, clusters(one("a", "zones: [eu-west-1a, eu-west-2b, eu-west-1d]"))) == [
        f"{STACK}: fleet.clusters[0].zones[1]: 'eu-west-2b' is not a zone of eu-west-1 "
        "(zones: eu-west-1a, eu-west-1b, eu-west-1c)",
        f"{STACK}: fleet.clusters[0].zones[2]: 'eu-west-1d' is not a zone of eu-west-1 "
        "(zones: eu-west-1a, eu-west-1b, eu-west-1c)",
    ]


@pytest.mark.parametrize(("zones", "message"), [
    ("[]", "an explicit zone list cannot be empty"),
    ("[us-east-1a, us-east-1a]", "zones are listed more than once"),
    ("[us-east-1a, us-east-1b, us-east-1c, us-east-1d, us-east-1e]", "at most 4 zones per cluster"),
])
def test_explicit_zone_list_shape(tmp_path: Path, zones: str, message: str) -> None:
    assert problems(tmp_path, clusters(one("a", f"zones: {zones}", region="us-east-1"))) == [
        f"{STACK}: fleet.clusters[0].zones: {message}"]


def test_gcp_cluster_needs_a_project(tmp_path: Path) -> None:
    body = HEADER.replace("clouds: {gcp: {project: acme-fleet}}\n", "") + clusters(
        one("a", cloud="gcp", region="europe-west1", index=None))
    assert problems(tmp_path, body, base=None, base_text=None) == [
        f"{STACK}: fleet.clouds.gcp.project: required: cluster 'a' runs on GCP"]


def test_aws_only_fleet_needs_no_gcp_project(tmp_path: Path) -> None:
    body = HEADER.replace("clouds: {gcp: {project: acme-fleet}}\n", "") + clusters(one("a", index=None))
    assert problems(tmp_path, body, base=None, base_text=None) == []


# ---------------------------------------------------------------- planes


@pytest.mark.parametrize("members", [0, 2, 4, 6, 8, 9, -1])
def test_etcd_members_must_be_1_3_5_or_7(tmp_path: Path, members: int) -> None:
    assert problems(tmp_path, clusters(one("a", f"etcd: {{members: {members}}}"))) == [
        f"{STACK}: fleet.clusters[0].etcd.members: {members} is not one of 1, 3, 5, 7 {QUORUM}"]


@pytest.mark.parametrize("members", [1, 3, 5, 7])
def test_etcd_members_allowed(tmp_path: Path, members: int) -> None:
    plan = plan_text(tmp_path, clusters(one("a", f"etcd: {{members: {members}}}")))
    assert len(plan.cluster("a").etcd.members) == members


def test_control_plane_needs_a_replica(tmp_path: Path) -> None:
    assert problems(tmp_path, clusters(one("a", "control_plane: {replicas: 0}"))) == [
        f"{STACK}: fleet.clusters[0].control_plane.replicas: input should be greater than or equal to 1, "
        "got the number 0"]


def test_etcd_disk_bounds(tmp_path: Path) -> None:
    assert problems(tmp_path, clusters(one("a", "etcd: {disk_gb: 5}"))) == [
        f"{STACK}: fleet.clusters[0].etcd.disk_gb: input should be greater than or equal to 10, got the number 5"]


def test_unknown_size(tmp_path: Path) -> None:
    assert problems(tmp_path, clusters(one("a", "etcd: {size: huge}"))) == [
        f"{STACK}: fleet.clusters[0].etcd.size: 'huge' is not one of small, medium, large, xlarge"]


def test_worker_pool_rules(tmp_path: Path) -> None:
    assert problems(tmp_path, """
        clusters:
          - name: a
            cloud: aws
            region: eu-west-1
            network: {index: 1}
            workers:
              - {name: general, min: 5, max: 2}
              - {name: both, size: small, machine_type: m5.large}
    """) == [
        f"{STACK}: fleet.clusters[0].workers[0].min: min 5 is greater than max 2",
        f"{STACK}: fleet.clusters[0].workers[1].machine_type: give either size or machine_type, not both",
    ]


def test_worker_pool_needs_size_or_machine_type(tmp_path: Path) -> None:
    body = HEADER + clusters(one("a", "workers: [{name: x}]", index=None))
    assert problems(tmp_path, body, base=None, base_text=None) == [
        f"{STACK}: fleet.clusters[0].workers[0]: give either size or machine_type"]


def test_worker_pool_names_are_unique(tmp_path: Path) -> None:
    body = HEADER + clusters(one("a", "workers: [{name: x, size: small}, {name: x, size: large}]", index=None))
    assert problems(tmp_path, body, base=None, base_text=None) == [
        f"{STACK}: fleet.clusters[0].workers[1].name: duplicate worker pool 'x' (also workers[0])"]


def test_worker_pool_names_are_unique_even_over_inherited_pools(tmp_path: Path) -> None:
    # The base file's defaults have a `general` pool, so the cluster's list is merged.
    assert problems(tmp_path, clusters(one("a", "workers: [{name: x, size: small}, {name: x, size: large}]"))) == [
        f"{STACK}: fleet.clusters[0].workers[1].name: duplicate worker pool 'x' (also workers[0])"]


def test_worker_pool_name_is_a_dns_label(tmp_path: Path) -> None:
    assert problems(tmp_path, clusters(one("a", "workers: [{name: GPU, size: small}]"))) == [
        f"{STACK}: fleet.clusters[0].workers[0].name: 'GPU' is not a DNS-1123 label (lowercase letters, "
        "digits and '-', starting with a letter, at most 63 characters)"]


def test_label_keys(tmp_path: Path) -> None:
    assert problems(tmp_path, clusters(one("a", "labels: {'bad key!': x}"))) == [
        f"{STACK}: fleet.clusters[0].labels: 'bad key!' is not a valid label key"]
    assert problems(tmp_path, clusters(one("a", "labels: {team: 3}"))) == [
        f"{STACK}: fleet.clusters[0].labels.team: expected a string, got the number 3: quote it, "
        'like team: "3"']


# ---------------------------------------------------------------- Kubernetes and CNI


@pytest.mark.parametrize(("version", "message"), [
    ("1.34", "'1.34' is outside the supported window (1.35, 1.36, 1.37); the newest is the default"),
    ("1.38", "'1.38' is outside the supported window (1.35, 1.36, 1.37); the newest is the default"),
    ("1.37.9", "'1.37.9' is not a known 1.37 patch release (known: 1.37.0, 1.37.1)"),
    ("v1.37", "'v1.37' is not a Kubernetes version like '1.37' or '1.37.1'"),
    ("1", "'1' is not a Kubernetes version like '1.37' or '1.37.1'"),
    ("1.37.1.2", "'1.37.1.2' is not a Kubernetes version like '1.37' or '1.37.1'"),
])
def test_kubernetes_version_window(tmp_path: Path, version: str, message: str) -> None:
    assert problems(tmp_path, clusters(one("a", f"kubernetes_version: '{version}'"))) == [
        f"{STACK}: fleet.clusters[0].kubernetes_version: {message}"]


@pytest.mark.parametrize(("version", "resolved"), [
    ("1.35", "1.35.6"), ("1.36", "1.36.3"), ("1.37", "1.37.1"), ("1.37.0", "1.37.0"), ("1.35.2", "1.35.2"),
])
def test_kubernetes_minor_resolves_to_newest_patch(tmp_path: Path, version: str, resolved: str) -> None:
    plan = plan_text(tmp_path, clusters(one("a", f"kubernetes_version: '{version}'")))
    assert plan.cluster("a").kubernetes_version == resolved


def test_kubernetes_version_defaults_to_newest(tmp_path: Path) -> None:
    body = HEADER + clusters(one("a", index=None))
    path = write_stack(tmp_path, stack_text(body, base=None), base_text=None)
    assert plan_fleet(load(path)).cluster("a").kubernetes_version == "1.37.1"


def test_cni_plugin_set(tmp_path: Path) -> None:
    assert problems(tmp_path, clusters(one("a", "cni: {plugin: calicoo}"))) == [
        f"{STACK}: fleet.clusters[0].cni.plugin: 'calicoo' is not one of cilium, calico, flannel"]


# ---------------------------------------------------------------- addresses


def test_explicit_cidrs_must_be_valid_ipv4_networks(tmp_path: Path) -> None:
    assert problems(tmp_path, clusters(one(
        "a", "network: {node_cidr: 10.1.0.1/16, pod_cidr: 'fd00::/64', service_cidr: 300.0.0.0/8}", index=None,
    ))) == [
        f"{STACK}: fleet.clusters[0].network.node_cidr: '10.1.0.1/16' is not a valid IPv4 CIDR "
        "(10.1.0.1/16 has host bits set)",
        f"{STACK}: fleet.clusters[0].network.pod_cidr: 'fd00::/64' is not an IPv4 CIDR (IPv6 is not supported yet)",
        f"{STACK}: fleet.clusters[0].network.service_cidr: '300.0.0.0/8' is not a valid IPv4 CIDR "
        "('300.0.0.0/8' does not appear to be an IPv4 or IPv6 network)",
    ]


def test_explicit_cidrs_are_used(tmp_path: Path) -> None:
    plan = plan_text(tmp_path, clusters(one(
        "a", "network: {node_cidr: 172.16.0.0/20, pod_cidr: 172.20.0.0/16, service_cidr: 172.21.0.0/20}",
        index=None)))
    net = plan.cluster("a").network
    assert (net.node_cidr, net.pod_cidr, net.service_cidr, net.slot, net.source) == (
        "172.16.0.0/20", "172.20.0.0/16", "172.21.0.0/20", None, "explicit")


def test_explicit_cidrs_pairwise_disjoint_inside_a_cluster(tmp_path: Path) -> None:
    # Sorted: two of the lines share a path, and their order is not stable (see
    # test_error_order_is_the_same_on_every_run).
    assert sorted(problems(tmp_path, clusters(one(
        "a", "network: {node_cidr: 10.1.0.0/18, pod_cidr: 10.1.0.0/17, service_cidr: 10.1.0.0/20}", index=None,
    )))) == [
        f"{STACK}: fleet.clusters[0].network.pod_cidr: 10.1.0.0/17 overlaps this cluster's node cidr 10.1.0.0/18",
        f"{STACK}: fleet.clusters[0].network.service_cidr: 10.1.0.0/20 overlaps this cluster's node cidr "
        "10.1.0.0/18",
        f"{STACK}: fleet.clusters[0].network.service_cidr: 10.1.0.0/20 overlaps this cluster's pod cidr "
        "10.1.0.0/17",
    ]


def test_node_and_pod_cidrs_disjoint_across_clusters(tmp_path: Path) -> None:
    assert problems(tmp_path, clusters(
        one("a", "network: {node_cidr: 172.16.0.0/18, pod_cidr: 172.17.0.0/17, service_cidr: 172.18.0.0/20}",
            index=None),
        one("b", "network: {node_cidr: 172.17.64.0/18, pod_cidr: 172.16.0.0/17, service_cidr: 172.18.0.0/20}",
            index=None),
    )) == [
        f"{STACK}: fleet.clusters[1].network.node_cidr: 172.17.64.0/18 overlaps the pod cidr 172.17.0.0/17 "
        "of cluster 'a'",
        f"{STACK}: fleet.clusters[1].network.pod_cidr: 172.16.0.0/17 overlaps the node cidr 172.16.0.0/18 "
        "of cluster 'a'",
    ]


def test_service_cidrs_may_repeat_across_clusters(tmp_path: Path) -> None:
    assert problems(tmp_path, clusters(
        one("a", "network: {index: 1, service_cidr: 192.168.0.0/20}", index=None),
        one("b", "network: {index: 2, service_cidr: 192.168.0.0/20}", index=None),
    )) == []


def test_explicit_cidr_overlapping_another_clusters_slot(tmp_path: Path) -> None:
    assert problems(tmp_path, clusters(
        one("a", index=1),
        one("b", "network: {node_cidr: 10.1.128.0/20, pod_cidr: 172.20.0.0/16, service_cidr: 172.21.0.0/20}",
            index=None),
    )) == [f"{STACK}: fleet.clusters[1].network.node_cidr: 10.1.128.0/20 overlaps the node cidr 10.1.128.0/18 "
           "of cluster 'a'"]


def test_node_cidr_too_small(tmp_path: Path) -> None:
    assert problems(tmp_path, clusters(one(
        "a", "network: {node_cidr: 172.16.0.0/25, pod_cidr: 172.20.0.0/16, service_cidr: 172.21.0.0/20}",
        index=None))) == [
        f"{STACK}: fleet.clusters[0].network.node_cidr: 172.16.0.0/25 is too small: a node CIDR needs at least "
        "a /24 (8 zone subnets)"]


def test_two_clusters_on_the_same_index(tmp_path: Path) -> None:
    assert problems(tmp_path, clusters(one("a", index=3), one("b", index=3))) == [
        f"{STACK}: fleet.clusters[0].network.index: address slot 3 is claimed by 'a' (network.index), "
        "'b' (network.index); set network.index on one of them to a free slot (free: 0, 1, 2, 4, 5)"]


def test_index_outside_the_supernet(tmp_path: Path) -> None:
    assert problems(tmp_path, clusters(one("a", index=256))) == [
        f"{STACK}: fleet.clusters[0].network.index: index 256 is outside the supernet 10.0.0.0/8 "
        "(256 slots of /16: 0..255)"]


def test_negative_index(tmp_path: Path) -> None:
    assert problems(tmp_path, clusters(one("a", index=-1))) == [
        f"{STACK}: fleet.clusters[0].network.index: input should be greater than or equal to 0, "
        "got the number -1"]


def test_address_space_exhausted(tmp_path: Path) -> None:
    assert problems(tmp_path, "network: {supernet: 10.0.0.0/15}\n" + clusters(
        one("a", index=0), one("b", index=1), one("c", index=None))) == [
        f"{STACK}: fleet.network.supernet: address space exhausted: 3 clusters need a /16 slot but "
        "10.0.0.0/15 has only 2; use a larger supernet or a longer cluster_prefix"]


def test_cluster_prefix_shorter_than_the_supernet(tmp_path: Path) -> None:
    assert problems(tmp_path, "network: {supernet: 10.0.0.0/16, cluster_prefix: 12}\n" + clusters(
        one("a", index=None))) == [
        f"{STACK}: fleet.network.cluster_prefix: /12 slots do not fit in the supernet 10.0.0.0/16"]


def test_cluster_prefix_longer_than_22_is_rejected(tmp_path: Path) -> None:
    # A /23 slot would leave a node CIDR smaller than the /24 eight zone subnets need.
    assert problems(tmp_path, "network: {cluster_prefix: 23}\n" + clusters(one("a"))) == [
        f"{STACK}: fleet.network.cluster_prefix: input should be less than or equal to 22, got the number 23"]


def test_automatic_slots_collision_names_both_clusters(tmp_path: Path) -> None:
    # 'c12' and 'c28' hash to the same /16 slot (161) of 10.0.0.0/8.
    assert problems(tmp_path, clusters(one("c12", index=None), one("c28", index=None))) == [
        f"{STACK}: fleet.clusters[1].network.index: address slot 161 is claimed by 'c12' (hash of its name), "
        "'c28' (hash of its name); set network.index on one of them to a free slot (free: 0, 1, 2, 3, 4)"]


def test_automatic_slot_colliding_with_an_index_is_reported_at_the_automatic_one(tmp_path: Path) -> None:
    assert problems(tmp_path, clusters(one("x", index=161), one("c12", index=None))) == [
        f"{STACK}: fleet.clusters[1].network.index: address slot 161 is claimed by 'x' (network.index), "
        "'c12' (hash of its name); set network.index on one of them to a free slot (free: 0, 1, 2, 3, 4)"]


# ---------------------------------------------------------------- compliance


def test_compliance_rule_restricts_regions(tmp_path: Path) -> None:
    assert problems(tmp_path, clusters(
        one("a", "compliance: [gdpr]", region="us-east-1"),
        one("b", "compliance: [gdpr]", index=2),
        one("c", "compliance: [gdpr]", cloud="gcp", region="europe-west4", index=3),
        one("d", "compliance: [gdpr]", cloud="gcp", region="us-central1", index=4),
    )) == [
        f"{STACK}: fleet.clusters[0].region: 'us-east-1' is not allowed by compliance rule 'gdpr' "
        "(regions: eu-*, europe-*)",
        f"{STACK}: fleet.clusters[3].region: 'us-central1' is not allowed by compliance rule 'gdpr' "
        "(regions: eu-*, europe-*)",
    ]


def test_unknown_compliance_tag(tmp_path: Path) -> None:
    assert problems(tmp_path, clusters(one("a", "compliance: [gdrp]"))) == [
        f"{STACK}: fleet.clusters[0].compliance[0]: unknown compliance rule 'gdrp' (did you mean 'gdpr'?)"]


def test_compliance_rule_needs_regions(tmp_path: Path) -> None:
    assert problems(tmp_path, "compliance: {pci: {regions: []}}\n" + clusters(one("a"))) == [
        f"{STACK}: fleet.compliance.pci.regions: tuple should have at least 1 item after validation, "
        "not 0, got a list"]


# ---------------------------------------------------------------- profiles


def test_listed_profiles_exist(tmp_path: Path) -> None:
    assert problems(tmp_path, clusters(one("a", "profiles: [egde, ha, zzz]"))) == [
        f"{STACK}: fleet.clusters[0].profiles[0]: unknown profile 'egde' (did you mean 'edge'?) "
        "(profiles: edge, ha)",
        f"{STACK}: fleet.clusters[0].profiles[2]: unknown profile 'zzz' (profiles: edge, ha)",
    ]


def test_listed_profile_when_the_fleet_has_none(tmp_path: Path) -> None:
    body = HEADER + clusters(one("a", "profiles: [edge]", index=None))
    assert problems(tmp_path, body, base=None, base_text=None) == [
        f"{STACK}: fleet.clusters[0].profiles[0]: unknown profile 'edge'; the fleet defines no profiles"]


def test_profile_entry_that_is_not_a_name(tmp_path: Path) -> None:
    lines = problems(tmp_path, clusters(one("a", "profiles: [{edge: 1}]")))
    assert lines == [f"{STACK}: fleet.clusters[0].profiles[0]: expected a string, got a mapping"]


def test_name_and_profiles_only_on_clusters(tmp_path: Path) -> None:
    assert problems(tmp_path, fleet("""
        defaults: {name: x, profiles: [edge]}
        profiles:
          p: {name: y, profiles: [edge]}
    """, clusters(one("a")))) == [
        f"{STACK}: fleet.defaults.name: 'name' can only be set on a cluster",
        f"{STACK}: fleet.defaults.profiles: 'profiles' can only be set on a cluster",
        f"{STACK}: fleet.profiles.p.name: 'name' can only be set on a cluster",
        f"{STACK}: fleet.profiles.p.profiles: 'profiles' can only be set on a cluster",
    ]


# ---------------------------------------------------------------- API and etcd roll


def test_public_api_needs_allowed_cidrs(tmp_path: Path) -> None:
    assert problems(tmp_path, clusters(one("a", "api: {public: true}"))) == [
        f"{STACK}: fleet.clusters[0].api.public: a public API endpoint needs api.allowed_cidrs (who may reach it)"]
    assert problems(tmp_path, clusters(one("a", "api: {public: true, allowed_cidrs: [203.0.113.0/24]}"))) == []


def test_allowed_cidrs_are_cidrs(tmp_path: Path) -> None:
    assert problems(tmp_path, clusters(one("a", "api: {allowed_cidrs: [203.0.113.1/24]}"))) == [
        f"{STACK}: fleet.clusters[0].api.allowed_cidrs[0]: '203.0.113.1/24' is not a valid IPv4 CIDR "
        "(203.0.113.1/24 has host bits set)"]


def test_etcd_roll_at_most_the_tolerated_members(tmp_path: Path) -> None:
    assert problems(tmp_path, clusters(
        one("a", "etcd: {roll: [etcd-0, etcd-1]}"),
        one("b", "etcd: {members: 5, roll: [etcd-0, etcd-1, etcd-2]}", index=2),
    )) == [
        f"{STACK}: fleet.clusters[0].etcd.roll: rolling 2 members at once would break quorum: "
        "a 3-member etcd may restart at most 1 per `pulumi up`",
        f"{STACK}: fleet.clusters[1].etcd.roll: rolling 3 members at once would break quorum: "
        "a 5-member etcd may restart at most 2 per `pulumi up`",
    ]


def test_etcd_roll_names_members(tmp_path: Path) -> None:
    assert problems(tmp_path, clusters(one("a", "etcd: {roll: [etcd-9]}"))) == [
        f"{STACK}: fleet.clusters[0].etcd.roll[0]: 'etcd-9' is not a member of this etcd plane "
        "(etcd-0, etcd-1, etcd-2)"]


def test_etcd_roll_allowed(tmp_path: Path) -> None:
    plan = plan_text(tmp_path, clusters(
        one("a", "etcd: {roll: [etcd-2]}"),
        one("b", "etcd: {members: 5, roll: [etcd-0, etcd-4, etcd-0]}", index=2),
        one("c", "etcd: {members: 1, roll: [etcd-0]}", index=3),
    ))
    assert plan.cluster("a").etcd.roll == ("etcd-2",)
    assert plan.cluster("b").etcd.roll == ("etcd-0", "etcd-4")  # repeats count once
    assert plan.cluster("c").etcd.roll == ("etcd-0",)


# ---------------------------------------------------------------- collecting


def test_all_errors_are_collected(tmp_path: Path) -> None:
    assert problems(tmp_path, clusters(
        one("a", region="eu-west-9"),
        one("b", "etcd: {members: 2}", index=2),
        one("c", "cni: {plugin: weave}", index=3),
    )) == [
        f"{STACK}: fleet.clusters[0].region: 'eu-west-9' is not a supported AWS region (did you mean 'eu-west-3'?)",
        f"{STACK}: fleet.clusters[1].etcd.members: 2 is not one of 1, 3, 5, 7 {QUORUM}",
        f"{STACK}: fleet.clusters[2].cni.plugin: 'weave' is not one of cilium, calico, flannel",
    ]


def test_a_fleet_header_error_does_not_hide_cluster_errors(tmp_path: Path) -> None:
    base = BASE.replace("name: acme", "name: Acme")
    assert problems(tmp_path, fleet("""
        profiles:
          unused: {etcd: {size: huge}}
    """, clusters(one("a", "zones: [eu-west-1z]"), one("b", "etcd: {members: 2}", index=2))),
        base_text=base) == [
        f"{STACK}: fleet.clusters[0].zones[0]: 'eu-west-1z' is not a zone of eu-west-1 "
        "(zones: eu-west-1a, eu-west-1b, eu-west-1c)",
        f"{STACK}: fleet.clusters[1].etcd.members: 2 is not one of 1, 3, 5, 7 {QUORUM}",
        f"{STACK}: fleet.profiles.unused.etcd.size: 'huge' is not one of small, medium, large, xlarge",
        f"{BASE_FILE}: fleet.name: 'Acme' is not a DNS-1123 label (lowercase letters, digits and '-', "
        "starting with a letter, at most 63 characters)",
    ]


def test_a_defaults_error_does_not_hide_cluster_errors(tmp_path: Path) -> None:
    assert problems(tmp_path, fleet("""
        defaults:
          cni: {plugin: weave}
    """, clusters(one("a", region="eu-west-9"), one("b", "etcd: {members: 2}", index=2)))) == [
        f"{STACK}: fleet.clusters[0].region: 'eu-west-9' is not a supported AWS region (did you mean 'eu-west-3'?)",
        f"{STACK}: fleet.clusters[1].etcd.members: 2 is not one of 1, 3, 5, 7 {QUORUM}",
        f"{STACK}: fleet.defaults.cni.plugin: 'weave' is not one of cilium, calico, flannel",
    ]


def test_errors_are_in_natural_path_order(tmp_path: Path) -> None:
    entries = [one(f"c{i}", index=i + 1) for i in range(12)]
    entries[2] = one("c2", "etcd: {members: 2}", index=3)
    entries[10] = one("c10", "etcd: {members: 2}", index=11)
    lines = problems(tmp_path, clusters(*entries))
    assert [line.split(": ")[1] for line in lines] == ["fleet.clusters[2].etcd.members",
                                                       "fleet.clusters[10].etcd.members"]


def test_a_schema_error_does_not_hide_other_errors_of_the_same_cluster(tmp_path: Path) -> None:
    assert problems(tmp_path, clusters(one("a", "cni: {plugin: x}, etcd: {members: 4}", region="eu-west-9"))) == [
        f"{STACK}: fleet.clusters[0].cni.plugin: 'x' is not one of cilium, calico, flannel",
        f"{STACK}: fleet.clusters[0].etcd.members: 4 is not one of 1, 3, 5, 7 {QUORUM}",
        f"{STACK}: fleet.clusters[0].region: 'eu-west-9' is not a supported AWS region (did you mean 'eu-west-3'?)",
    ]


def test_rule_violation_in_an_unused_profile_is_reported(tmp_path: Path) -> None:
    assert problems(tmp_path, fleet("""
        profiles:
          big: {etcd: {members: 2}}
    """, clusters(one("a")))) == [
        f"{STACK}: fleet.profiles.big.etcd.members: 2 is not one of 1, 3, 5, 7 {QUORUM}"]


def test_error_order_is_the_same_on_every_run(tmp_path: Path) -> None:
    # Two problems on the same path: the message decides their order, never the hash seed.
    body = HEADER.replace("clouds: {gcp: {project: acme-fleet}}\n", "") + clusters(
        one("b", cloud="gcp", region="europe-west1", index=None),
        one("a", cloud="gcp", region="europe-west1", index=None))
    expected = [f"{STACK}: fleet.clouds.gcp.project: required: cluster 'a' runs on GCP",
                f"{STACK}: fleet.clouds.gcp.project: required: cluster 'b' runs on GCP"]
    assert problems(tmp_path, body, base=None, base_text=None) == expected
    # Seeds 0 and 2 printed these two lines in opposite orders before the fix.
    for seed in (0, 2):
        env = {**os.environ, "PYTHONHASHSEED": str(seed)}
        out = subprocess.run([sys.executable, "-m", "fleetform", "validate", "--file", STACK],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert (out.returncode, out.stderr.splitlines()) == (2, expected)


def test_yaml_merge_keys_work(tmp_path: Path) -> None:
    assert problems(tmp_path, """
        clusters:
          - &eu {name: a, cloud: aws, region: eu-west-1, network: {index: 1}}
          - {<<: *eu, name: b, network: {index: 2}}
    """) == []


def test_yaml_anchors_and_aliases_work(tmp_path: Path) -> None:
    plan = plan_text(tmp_path, """
        clusters:
          - {name: a, cloud: aws, region: eu-west-1, network: {index: 1}, workers: &pools [{name: w, size: small}]}
          - {name: b, cloud: aws, region: eu-west-1, network: {index: 2}, workers: *pools}
    """)
    assert [p.name for p in plan.cluster("b").workers] == ["general", "w"]
