"""Loading stack files and layering: base file <- stack file; defaults <- profiles (in
listed order) <- cluster keys; and errors reported where the value was written."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetform.plan.load import load_config
from fleetform.spec.errors import FleetError

from .helpers import (
    BASE,
    BASE_FILE,
    HEADER,
    STACK,
    load,
    load_text,
    plan_text,
    problems,
    problems_of,
    stack_text,
    write_stack,
)

# ---------------------------------------------------------------- base <- stack file


def test_stack_file_deep_merges_over_the_base_file(tmp_path: Path) -> None:
    spec = load_text(tmp_path, """
        network: {cluster_prefix: 20}
        clouds:
          aws: {default_tags: {env: dev}}
        defaults:
          etcd: {disk_gb: 80}
        clusters:
          - {name: a, cloud: aws, region: eu-west-1, network: {index: 1}}
    """)
    # Maps merge key by key: what the stack file does not say comes from the base.
    assert spec.network.supernet == "10.0.0.0/8"
    assert spec.network.cluster_prefix == 20
    assert spec.clouds.aws.default_tags == {"owner": "platform-team", "env": "dev"}
    assert spec.clouds.gcp.project == "acme-fleet"
    assert spec.name == "acme"
    assert spec.domain == "fleet.acme.example"
    assert set(spec.compliance) == {"gdpr"}
    etcd = spec.cluster("a").etcd
    assert (etcd.members, etcd.size, etcd.disk_gb) == (3, "medium", 80)


def test_stack_file_adds_profiles_next_to_the_base_profiles(tmp_path: Path) -> None:
    spec = load_text(tmp_path, """
        profiles:
          single:
            etcd: {members: 1}
            control_plane: {replicas: 1}
        clusters:
          - {name: a, cloud: aws, region: eu-west-1, profiles: [edge, single], network: {index: 1}}
    """)
    c = spec.cluster("a")
    assert c.profiles == ("edge", "single")
    # edge (from the base file) and single (from the stack file) both applied.
    assert (c.etcd.members, c.etcd.size, c.etcd.disk_gb) == (1, "small", 20)
    assert (c.control_plane.replicas, c.control_plane.size) == (1, "small")
    assert c.network.nat == "single"


def test_stack_file_overrides_a_base_scalar(tmp_path: Path) -> None:
    spec = load_text(tmp_path, """
        defaults: {kubernetes_version: "1.36"}
        clusters:
          - {name: a, cloud: aws, region: eu-west-1, network: {index: 1}}
    """)
    c = spec.cluster("a")
    assert c.kubernetes_version == "1.36"
    assert c.cni.plugin == "cilium"  # the rest of the base defaults stay


def test_base_and_stack_clusters_merge_by_name(tmp_path: Path) -> None:
    base = BASE + "  clusters:\n    - {name: a, cloud: aws, region: eu-west-1, network: {index: 1}}\n"
    spec = load(write_stack(tmp_path, stack_text("""
        clusters:
          - {name: a, region: eu-west-2}
          - {name: b, cloud: gcp, region: europe-west1, network: {index: 2}}
    """), base_text=base))
    assert [c.name for c in spec.clusters] == ["a", "b"]
    a = spec.cluster("a")
    assert (a.cloud, a.region, a.network.index) == ("aws", "eu-west-2", 1)


def test_stack_name_comes_from_the_file_name(tmp_path: Path) -> None:
    path = write_stack(tmp_path, stack_text("""
        clusters: [{name: a, cloud: aws, region: eu-west-1, network: {index: 1}}]
    """), name="dev")
    assert load(path).stack == "dev"


def test_other_config_namespaces_are_left_to_pulumi(tmp_path: Path) -> None:
    path = write_stack(tmp_path, """\
        config:
          aws:region: eu-west-1
          gcp:project: other
          fleetform:base: fleet.yaml
          fleetform:fleet:
            clusters: [{name: a, cloud: aws, region: eu-west-1, network: {index: 1}}]
        """)
    assert problems_of(path) == []


def test_load_config_takes_the_config_object_and_names_the_label(tmp_path: Path) -> None:
    write_stack(tmp_path, "config: {}\n")  # writes stacks/fleet.yaml
    fleet = {"clusters": [{"name": "a", "cloud": "aws", "region": "eu-west-1", "network": {"index": 1}}]}
    spec = load_config(fleet, "fleet.yaml", stack="prod", label="stacks/Pulumi.prod.yaml",
                       stacks_dir=tmp_path / "stacks")
    assert spec.stack == "prod"
    assert spec.cluster("a").etcd.members == 3

    fleet["clusters"][0]["etcd"] = {"members": 2}
    with pytest.raises(FleetError) as exc:
        load_config(fleet, "fleet.yaml", stack="prod", label="stacks/Pulumi.prod.yaml",
                    stacks_dir=tmp_path / "stacks")
    assert [str(p) for p in exc.value.problems] == [
        "stacks/Pulumi.prod.yaml: fleet.clusters[0].etcd.members: 2 is not one of 1, 3, 5, 7 "
        "(an odd count keeps a quorum)"]


def test_without_a_base_file_the_stack_file_holds_everything(tmp_path: Path) -> None:
    path = write_stack(tmp_path, stack_text(HEADER + """
clusters: [{name: a, cloud: gcp, region: europe-west1}]
""", base=None), base_text=None)
    spec = load(path)
    c = spec.cluster("a")
    # Built-in defaults when nothing is layered.
    assert c.kubernetes_version is None
    assert (c.etcd.members, c.etcd.size, c.etcd.disk_gb) == (3, "medium", 50)
    assert (c.control_plane.replicas, c.control_plane.size) == (3, "medium")
    assert [(p.name, p.size, p.min, p.max) for p in c.workers] == [("general", "medium", 1, 3)]
    assert c.cni.plugin == "cilium"
    assert spec.network.supernet == "10.0.0.0/8"
    assert spec.network.cluster_prefix == 16


# ---------------------------------------------------------------- defaults <- profiles <- cluster


PROFILES = """
defaults:
  etcd: {size: medium, disk_gb: 30}
profiles:
  p1: {etcd: {size: small, disk_gb: 20}}
  p2: {etcd: {size: large}}
clusters:
  - {name: one-two, cloud: aws, region: eu-west-1, profiles: [p1, p2], network: {index: 1}}
  - {name: two-one, cloud: aws, region: eu-west-1, profiles: [p2, p1], network: {index: 2}}
  - {name: own, cloud: aws, region: eu-west-1, profiles: [p1, p2], etcd: {size: xlarge}, network: {index: 3}}
  - {name: none, cloud: aws, region: eu-west-1, network: {index: 4}}
"""


def test_profiles_apply_in_listed_order_and_cluster_keys_win(tmp_path: Path) -> None:
    spec = load_text(tmp_path, PROFILES)
    got = {c.name: (c.etcd.size, c.etcd.disk_gb) for c in spec.clusters}
    assert got == {
        "one-two": ("large", 20),  # p2 after p1: size from p2, disk from p1
        "two-one": ("small", 20),  # p1 last wins both
        "own": ("xlarge", 20),  # the cluster's own key beats every profile
        "none": ("medium", 30),  # defaults only
    }


def test_maps_deep_merge_through_all_layers(tmp_path: Path) -> None:
    spec = load_text(tmp_path, """
        defaults:
          labels: {team: platform, tier: core}
        profiles:
          edge:
            labels: {tier: edge}
        clusters:
          - name: a
            cloud: aws
            region: eu-west-1
            profiles: [edge]
            labels: {app: shop}
            network: {index: 1}
    """)
    assert spec.cluster("a").labels == {"team": "platform", "tier": "edge", "app": "shop"}


def test_worker_pools_merge_by_name(tmp_path: Path) -> None:
    spec = load_text(tmp_path, """
        clusters:
          - name: a
            cloud: aws
            region: eu-west-1
            profiles: [edge]
            network: {index: 1}
            workers:
              - {name: general, max: 8}
              - {name: gpu, machine_type: g5.xlarge, min: 0, max: 2}
    """)
    pools = [(p.name, p.size, p.machine_type, p.min, p.max) for p in spec.cluster("a").workers]
    assert pools == [
        # defaults (medium 3..10) <- edge (small 1..4) <- cluster (max 8): only max changed
        ("general", "small", None, 1, 8),
        # a new name appends
        ("gpu", None, "g5.xlarge", 0, 2),
    ]


def test_new_pool_names_append_after_the_inherited_ones(tmp_path: Path) -> None:
    spec = load_text(tmp_path, """
        defaults:
          workers:
            - {name: a, size: small}
            - {name: b, size: small}
        clusters:
          - name: x
            cloud: aws
            region: eu-west-1
            network: {index: 1}
            workers:
              - {name: c, size: large}
              - {name: a, max: 9}
    """)
    pools = [(p.name, p.size, p.max) for p in spec.cluster("x").workers]
    # Base pools (general from the base file, then a, b) keep their order; a is
    # changed in place; c is new and appends.
    assert pools == [("general", "medium", 10), ("a", "small", 9), ("b", "small", 3), ("c", "large", 3)]


def test_switching_an_inherited_pool_to_machine_type_needs_size_null(tmp_path: Path) -> None:
    body = """
        clusters:
          - name: a
            cloud: aws
            region: eu-west-1
            network: {index: 1}
            workers:
              - {name: general, machine_type: r6i.large%s}
    """
    # The inherited size stays (an override changes only the given keys) ...
    assert problems(tmp_path, body % "") == [
        f"{STACK}: fleet.clusters[0].workers[0].machine_type: give either size or machine_type, not both: "
        'size came from stacks/fleet.yaml: fleet.defaults.workers[0]; add "size: null" to this pool to '
        "override it"]
    # ... so the override clears it explicitly.
    plan = plan_text(tmp_path, body % ", size: null")
    assert [(p.name, p.machine_type, p.min, p.max) for p in plan.cluster("a").workers] == [
        ("general", "r6i.large", 3, 10)]


def test_lists_that_are_not_named_items_replace(tmp_path: Path) -> None:
    spec = load_text(tmp_path, """
        defaults:
          api: {allowed_cidrs: [198.51.100.0/24, 192.0.2.0/24]}
          zones: [eu-west-1a, eu-west-1b, eu-west-1c]
          compliance: [gdpr]
        clusters:
          - name: a
            cloud: aws
            region: eu-west-1
            api: {allowed_cidrs: [203.0.113.0/24]}
            zones: [eu-west-1b, eu-west-1c, eu-west-1a]
            network: {index: 1}
          - {name: b, cloud: aws, region: eu-west-1, compliance: [], network: {index: 2}}
    """)
    a, b = spec.cluster("a"), spec.cluster("b")
    assert a.api.allowed_cidrs == ("203.0.113.0/24",)
    assert a.zones == ("eu-west-1b", "eu-west-1c", "eu-west-1a")
    assert a.compliance == ("gdpr",)
    assert b.compliance == ()
    assert b.api.allowed_cidrs == ("198.51.100.0/24", "192.0.2.0/24")


def test_an_empty_pool_list_replaces_the_inherited_pools(tmp_path: Path) -> None:
    assert problems(tmp_path, """
        clusters:
          - {name: a, cloud: aws, region: eu-west-1, workers: [], network: {index: 1}}
    """) == [f"{STACK}: fleet.clusters[0].workers: a cluster needs at least one worker pool"]


# ---------------------------------------------------------------- provenance


def test_invalid_value_from_a_base_profile_is_reported_in_the_base_file_once(tmp_path: Path) -> None:
    base = BASE.replace("etcd: {size: small, disk_gb: 20}", "etcd: {size: small, disk_gb: 20, members: 4}")
    assert problems(tmp_path, """
        clusters:
          - {name: a, cloud: aws, region: eu-west-1, profiles: [edge], network: {index: 1}}
          - {name: b, cloud: aws, region: eu-west-1, profiles: [edge], network: {index: 2}}
    """, base_text=base) == [
        f"{BASE_FILE}: fleet.profiles.edge.etcd.members: 4 is not one of 1, 3, 5, 7 "
        "(an odd count keeps a quorum)"]


def test_invalid_value_from_a_stack_profile_names_the_stack_file(tmp_path: Path) -> None:
    # The stack file overrides the base profile: the value the cluster got was written here.
    assert problems(tmp_path, """
        profiles:
          edge:
            etcd: {members: 4}
        clusters:
          - {name: a, cloud: aws, region: eu-west-1, profiles: [edge], network: {index: 1}}
    """) == [
        f"{STACK}: fleet.profiles.edge.etcd.members: 4 is not one of 1, 3, 5, 7 "
        "(an odd count keeps a quorum)"]


def test_invalid_defaults_in_the_base_file_are_reported_there(tmp_path: Path) -> None:
    base = BASE.replace('kubernetes_version: "1.37"', 'kubernetes_version: "1.34"')
    assert problems(tmp_path, """
        clusters:
          - {name: a, cloud: aws, region: eu-west-1, network: {index: 1}}
    """, base_text=base) == [
        f"{BASE_FILE}: fleet.defaults.kubernetes_version: '1.34' is outside the supported window "
        "(1.35, 1.36, 1.37); the newest is the default"]


def test_a_cluster_value_that_fixes_an_inherited_one_is_fine(tmp_path: Path) -> None:
    base = BASE.replace('kubernetes_version: "1.37"', 'kubernetes_version: "1.34"')
    assert problems(tmp_path, """
        clusters:
          - {name: a, cloud: aws, region: eu-west-1, kubernetes_version: "1.36", network: {index: 1}}
    """, base_text=base) == []


def test_schema_error_in_an_unused_profile_is_reported_where_written(tmp_path: Path) -> None:
    assert problems(tmp_path, """
        profiles:
          unused:
            etcd: {members: "3"}
            cni: {plugin: weave}
        clusters:
          - {name: a, cloud: aws, region: eu-west-1, network: {index: 1}}
    """) == [
        f"{STACK}: fleet.profiles.unused.cni.plugin: 'weave' is not one of cilium, calico, flannel",
        f"{STACK}: fleet.profiles.unused.etcd.members: expected a whole number, got the string '3' "
        "(remove the quotes)",
    ]


def test_schema_error_in_defaults_is_reported_once_not_per_cluster(tmp_path: Path) -> None:
    assert problems(tmp_path, """
        defaults:
          cni: {plugin: weave}
        clusters:
          - {name: a, cloud: aws, region: eu-west-1, network: {index: 1}}
          - {name: b, cloud: aws, region: eu-west-1, network: {index: 2}}
    """) == [f"{STACK}: fleet.defaults.cni.plugin: 'weave' is not one of cilium, calico, flannel"]


def test_missing_required_keys_are_reported_at_the_cluster(tmp_path: Path) -> None:
    assert problems(tmp_path, """
        clusters:
          - {name: a, cloud: aws, region: eu-west-1, network: {index: 1}}
          - {name: b, cloud: aws, network: {index: 2}}
          - {region: eu-west-1, network: {index: 3}}
    """) == [
        f"{STACK}: fleet.clusters[1].region: required",
        f"{STACK}: fleet.clusters[2].cloud: required",
        f"{STACK}: fleet.clusters[2].name: required",
    ]


def test_a_pool_without_a_name_is_reported_at_the_pool(tmp_path: Path) -> None:
    assert problems(tmp_path, """
        clusters:
          - {name: a, cloud: aws, region: eu-west-1, workers: [{size: small}], network: {index: 1}}
    """) == [f"{STACK}: fleet.clusters[0].workers[0].name: required"]


# ---------------------------------------------------------------- file structure


def test_missing_base_file(tmp_path: Path) -> None:
    path = write_stack(tmp_path, stack_text("clusters: []", base="nosuch.yaml"))
    assert problems_of(path) == [
        "stacks/Pulumi.t.yaml: config.fleetform:base: the base file 'nosuch.yaml' does not exist "
        "(looked for stacks/nosuch.yaml); fix the name or remove fleetform:base"]


@pytest.mark.parametrize("base", ["../fleet.yaml", "/etc/fleet.yaml", "5", "''"])
def test_base_must_be_a_file_name_inside_stacks(tmp_path: Path, base: str) -> None:
    path = write_stack(tmp_path, stack_text("clusters: []", base=base))
    assert problems_of(path) == [
        f"{STACK}: config.fleetform:base: expected a file name relative to stacks/, like 'fleet.yaml'"]


def test_base_file_holds_only_fleet(tmp_path: Path) -> None:
    path = write_stack(tmp_path, stack_text("clusters: []"), base_text=BASE.replace("fleet:", "fleets:", 1))
    assert problems_of(path) == [
        f"{BASE_FILE}: fleets: unknown top-level key (did you mean 'fleet'?); a base file holds one key, 'fleet'"]


def test_yaml_syntax_error_in_the_base_file_names_the_base_file(tmp_path: Path) -> None:
    path = write_stack(tmp_path, stack_text("clusters: []"), base_text="fleet:\n  name: [acme\n")
    [line] = problems_of(path)
    assert line.startswith(f"{BASE_FILE}: line 3, column 1: YAML syntax error: ")


def test_stack_file_without_fleet(tmp_path: Path) -> None:
    path = write_stack(tmp_path, "config:\n  fleetform:base: fleet.yaml\n")
    assert problems_of(path) == [f"{STACK}: config.fleetform:fleet: required: the fleet definition"]


def test_stack_file_without_config(tmp_path: Path) -> None:
    path = write_stack(tmp_path, "encryptionsalt: abc\n")
    assert problems_of(path) == [f"{STACK}: config: required: a config block with 'fleetform:fleet'"]


def test_empty_stack_file(tmp_path: Path) -> None:
    path = write_stack(tmp_path, "")
    assert problems_of(path) == [f"{STACK}: config: expected a Pulumi stack file (a mapping), got null"]


@pytest.mark.parametrize(("text", "line"), [
    ("- a\n", f"{STACK}: -: expected a Pulumi stack file (a mapping), got a list"),
    ("config: [1]\n", f"{STACK}: config: expected the config block (a mapping), got a list"),
    ("config:\n  fleetform:fleet: [1]\n", f"{STACK}: fleet: expected the fleet (a mapping), got a list"),
])
def test_wrong_shapes_are_named(tmp_path: Path, text: str, line: str) -> None:
    assert problems_of(write_stack(tmp_path, text)) == [line]


def test_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FleetError) as exc:
        load(tmp_path / "stacks" / "Pulumi.gone.yaml")
    assert [str(p) for p in exc.value.problems] == ["stacks/Pulumi.gone.yaml: -: file not found"]
