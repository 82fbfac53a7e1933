"""`pulumi up` needs only the clouds' APIs: the graph of every example stack.

- No ``kubernetes:`` resource or provider, no dynamic resource polling a cluster.
- Each incarnation's first control-plane replica installs Flux on the incarnation's own
  add-on bucket; the other replicas don't.
- The in-cluster controllers' federated identities hold exactly the permissions their
  upstream projects publish (fleetform/catalog/permissions.py), each trusting exactly its
  own service account under its own cluster's issuer; node identities hold none of them.
- AWS resources carry the tags the cloud controller manager and the autoscaler look for.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from planes_support import StackRun, user_data

from fleetform.bootstrap.flux import INSTALLER, UNIT
from fleetform.catalog.permissions import FEDERATED, federated, permissions
from fleetform.engine.synth import addon_bundles
from fleetform.plan.identity import controller_grant_name, gcp_custom_role_id

NODE_ROLES = ("etcd", "control-plane", "worker")
CONTROLLER_ACTION_PREFIXES = ("ec2:", "elasticloadbalancing:", "autoscaling:", "kms:", "eks:", "iam:")


def _doc(text: Any) -> dict[str, Any]:
    return text if isinstance(text, dict) else json.loads(text)


def test_nothing_talks_to_a_cluster(stack: StackRun) -> None:
    # The one exception the design allows: the management cluster the stack file names as
    # reachable (GitOps registration, components/management.py). Nothing else, and never
    # from a Cluster.
    for r in stack.resources:
        if r.type.startswith(("kubernetes:", "pulumi:providers:kubernetes")):
            kinds = {a.type for a in stack.ancestors(r)}
            assert "fleetform:index:Management" in kinds and "fleetform:index:Cluster" not in kinds, r.urn
    # The only dynamic resources are state keepers (plugin guard, migration gate): none
    # carries a server address or credentials to poll one.
    for r in stack.resources:
        if r.type == "pulumi-python:dynamic:Resource":
            assert not {"server", "ca_pem", "cert_pem", "key_pem"} & set(r.inputs), r.name


def test_the_first_replica_installs_flux_on_its_own_bucket(stack: StackRun) -> None:
    for plan in stack.plan.clusters:
        bucket = next(r for r in stack.in_cluster(plan) if r.name == f"{plan.key}-addons-bucket")
        name = bucket.inputs.get("bucket") or bucket.inputs.get("name") or stack.outputs(bucket).get("bucket")
        assert name
        for r in stack.in_cluster(plan):
            if "-control-plane-cp-" not in r.name or r.type not in (
                    "aws:ec2/instance:Instance", "gcp:compute/instance:Instance"):
                continue
            doc = yaml.safe_load(user_data(r) or "")
            files = {f["path"]: f["content"] for f in doc["write_files"]}
            first = r.name.endswith("-cp-0")
            assert (INSTALLER in files) is first and (f"/etc/systemd/system/{UNIT}" in files) is first, r.name
            script = files["/usr/local/lib/fleetform/bootstrap.sh"]
            assert (f"systemctl enable --now --no-block {UNIT}" in script) is first
            # Every replica's kubelet registers with its provider ID, with the external provider.
            assert "ff_write_provider_id /run/fleetform/provider-id" in script
            assert "cloud-provider" in files["/etc/kubernetes/fleetform/kubeadm.yaml.tmpl"]
            if first:
                source = yaml.safe_load(files["/etc/fleetform/addons/source.yaml"])
                assert source["spec"]["bucketName"] == name and source["spec"]["provider"] == plan.cloud
                assert bucket.urn in r.dependencies


def test_the_add_on_bucket_is_read_by_the_control_plane_only(stack: StackRun) -> None:
    for plan in stack.plan.clusters:
        inside = stack.in_cluster(plan)
        if plan.cloud == "aws":
            policies = [r for r in inside if r.type == "aws:iam/rolePolicy:RolePolicy"
                        and r.name.startswith(f"{plan.key}-addons-bucket-")]
            assert [p.name for p in policies] == [f"{plan.key}-addons-bucket-access-control-plane"]
            actions = {a for s in _doc(policies[0].inputs["policy"])["Statement"]
                       for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
            assert actions == {"s3:GetObject", "s3:ListBucket"}
        else:
            grants = [r for r in inside if r.type == "gcp:storage/bucketIAMMember:BucketIAMMember"
                      and r.name.startswith(f"{plan.key}-addons-bucket-")]
            assert [(g.name, g.inputs["role"]) for g in grants] == [
                (f"{plan.key}-addons-bucket-reader-control-plane", "roles/storage.objectViewer")]


def _federated_pairs(stack: StackRun) -> set[tuple[str, str]]:
    """(logical cluster, cloud) pairs the controllers run in (both clouds during a move)."""
    return {(c.name, c.cloud) for c in stack.plan.clusters}


def test_each_controller_has_exactly_its_published_permissions(stack: StackRun) -> None:
    roles = {r.inputs["name"]: r for r in stack.resources if r.type == "aws:iam/role:Role"}
    policies = {r.name: r for r in stack.resources if r.type == "aws:iam/rolePolicy:RolePolicy"}
    accounts = {r.inputs["accountId"]: r for r in stack.resources if r.type == "gcp:serviceaccount/account:Account"}
    custom = {r.inputs["roleId"]: r for r in stack.resources if r.type == "gcp:projects/iAMCustomRole:IAMCustomRole"}
    members = [r for r in stack.resources if r.type == "gcp:projects/iAMMember:IAMMember"]
    pairs = _federated_pairs(stack)
    assert pairs
    for cluster, cloud in pairs:
        for perm in federated(cloud):
            grant = controller_grant_name(perm.controller, cluster)
            namespace, account = perm.service_account
            subject = f"system:serviceaccount:{namespace}:{account}"
            if cloud == "aws":
                base = next(n for n in policies if n.endswith(f"-workload-{grant}-policy"))
                assert _doc(policies[base].inputs["policy"]) == _doc(perm.aws_policy())
                role = next(r for r in roles.values() if r.name == base.removesuffix("-policy"))
                trust = _doc(role.inputs["assumeRolePolicy"])
                assert len(trust["Statement"]) == 1  # this cluster's issuer only
                (cond,) = trust["Statement"][0]["Condition"].values()
                assert [v for k, v in cond.items() if k.endswith(":sub")] == [subject]
                # Nothing else attached to the controller's role.
                assert not [r for r in stack.resources if r.type == "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
                            and r.name.startswith(role.name + "-")]
            else:
                (sa,) = [a for a in accounts.values() if a.name.endswith(f"-workload-{grant}")]
                granted = {m.inputs["role"] for m in members if m.name.startswith(sa.name + "-")}
                role_id = gcp_custom_role_id(stack.plan.fleet, stack.plan.stack,
                                             grant.removesuffix(f"-{cluster}"))
                assert sorted(custom[role_id].inputs["permissions"]) == sorted(perm.gcp_permissions)
                assert {g for g in granted if not g.startswith("roles/")} == {stack.outputs(custom[role_id])["name"]}
                assert {g for g in granted if g.startswith("roles/")} == set(perm.gcp_roles)
                assert len(granted) == len(perm.gcp_roles) + 1  # + the custom role
                binding = [m for m in stack.resources if m.type == "gcp:serviceaccount/iAMMember:IAMMember"
                           and m.name == f"{sa.name}-{cluster}"]
                assert len(binding) == 1 and binding[0].inputs["member"].endswith(f"/{cluster}/{subject}")
    assert {p.controller for p in federated("aws")} == set(FEDERATED)


def test_node_identities_hold_no_controller_permission(stack: StackRun) -> None:
    for plan in stack.plan.clusters:
        if plan.cloud != "aws":
            for r in stack.in_cluster(plan):
                # The one project role a node identity holds: writing logs (its log shipper).
                if r.type == "gcp:projects/iAMMember:IAMMember" and r.inputs.get("role") != "roles/logging.logWriter":
                    raise AssertionError(f"{r.name}: a node identity holds a controller's project role")
            continue
        inside = stack.in_cluster(plan)
        # The machines' roles (each etcd member's, control plane, workers), not service
        # roles (flow logs).
        node_roles = {stack.outputs(r).get("name") or r.inputs.get("name") for r in inside
                      if r.type == "aws:iam/role:Role" and (r.name.endswith(("-control-plane", "-worker"))
                                                            or "etcd-member" in r.inputs.get("tags", {}))}
        assert len(node_roles) == 2 + len(plan.etcd.members), node_roles
        checked = 0
        for r in inside:
            if r.type != "aws:iam/rolePolicy:RolePolicy" or r.inputs.get("role") not in node_roles:
                continue
            checked += 1
            for s in _doc(r.inputs["policy"])["Statement"]:
                actions = [s["Action"]] if isinstance(s["Action"], str) else s["Action"]
                # Node roles read/write their own buckets, nothing of the controllers'.
                assert all(a.startswith(("s3:", "kms:Decrypt", "kms:GenerateDataKey")) for a in actions) and not any(
                    a.startswith(CONTROLLER_ACTION_PREFIXES[:3]) for a in actions), (r.name, actions)
        assert checked, f"{plan.key}: no node role policy found"  # at least the add-on bucket's reader
    assert permissions("aws", "cloud-controller-manager").aws_actions()


def test_aws_resources_carry_the_controllers_tags(stack: StackRun) -> None:
    for plan in stack.plan.clusters:
        if plan.cloud != "aws":
            continue
        owned = f"kubernetes.io/cluster/{plan.name}"
        inside = stack.in_cluster(plan)
        for type_ in ("aws:ec2/subnet:Subnet", "aws:ec2/securityGroup:SecurityGroup", "aws:ec2/instance:Instance",
                      "aws:ec2/vpc:Vpc"):
            found = [r for r in inside if r.type == type_]
            assert found and all(r.inputs["tags"].get(owned) == "owned" for r in found), type_
        subnets = [r for r in inside if r.type == "aws:ec2/subnet:Subnet"]
        assert all(("kubernetes.io/role/elb" in r.inputs["tags"]) != ("kubernetes.io/role/internal-elb" in r.inputs["tags"])
                   for r in subnets)
        for asg in (r for r in inside if r.type == "aws:autoscaling/group:Group"):
            tags = {t["key"]: t["value"] for t in asg.inputs["tags"]}
            assert tags["k8s.io/cluster-autoscaler/enabled"] == "true"
            assert tags[f"k8s.io/cluster-autoscaler/{plan.name}"] == "owned"
            assert tags[owned] == "owned"


def test_gcp_autoscaler_drives_exactly_the_zonal_groups_the_graph_makes(stack: StackRun) -> None:
    """The cluster-autoscaler's `--nodes=min:max:<MIG URL>` (its chart's
    `autoscalingGroups`) in the published bundle name every zonal MIG of the cluster and
    nothing else; each group's bounds start at its size, and per pool they sum to the pool's."""
    bundles = addon_bundles([r.to_json() for r in stack.resources], stack.plan)
    seen = False
    for plan in stack.plan.clusters:
        if plan.cloud != "gcp":
            continue
        seen = True
        docs = yaml.safe_load_all(bundles[f"addons/{plan.context}/cluster-autoscaler/gcp.yaml"])
        (release,) = [d for d in docs if d and d["kind"] == "HelmRelease"]
        rendered = {g["name"]: (g["minSize"], g["maxSize"]) for g in release["spec"]["values"]["autoscalingGroups"]}
        migs = stack.of_type("gcp:compute/instanceGroupManager:InstanceGroupManager", stack.in_cluster(plan))
        by_url = {stack.outputs(m)["instanceGroup"]: m for m in migs}
        assert set(rendered) == set(by_url) and len(migs) == sum(len(p.zones) for p in plan.workers)
        for url, m in by_url.items():
            assert rendered[url][0] == m.inputs["targetSize"] and "targetSize" in m.ignore_changes
        for pool in plan.workers:
            mine = [rendered[u] for u, m in by_url.items() if m.name.startswith(f"{plan.key}-workers-{pool.name}-")]
            assert len(mine) == len(pool.zones)
            assert (sum(lo for lo, _ in mine), sum(hi for _, hi in mine)) == (pool.min, pool.max)
    assert seen, "the stack has a GCP cluster"
