"""Resource types and counts per cluster and plane, grouped by component ancestry.

Every plane component owns exactly the cloud resources listed here (``aws:``/``gcp:``
types; certificates and random values are counted by their own tests), computed from
the plan: members, replicas, zones, NAT setting, public API, pools.
"""

from __future__ import annotations

from collections import Counter

import pytest
from planes_support import StackRun, cloud_counts

from fleetform.addons.build import CloudFacts, addon_context
from fleetform.addons.bundle import render_bundle
from fleetform.addons.context import CONTROLLERS, LOG_SHIPPER
from fleetform.plan import names
from fleetform.plan.firewall import EgressRule, egress_rules
from fleetform.plan.identity import plan_identity
from fleetform.plan.load import load_stack_file
from fleetform.plan.model import ClusterPlan

# Secrets each plane stores (etcd: per member; control plane: per cluster).
ETCD_SECRETS_PER_MEMBER = 3  # server key, peer key, credentials (what its reload timer reads)
# CA keys, SA key, etcd client key, encryption key, bootstrap token, and the etcd client
# credentials and service-account keys the replicas' renewal timer reads.
CONTROL_PLANE_SECRETS = 8


def _firewall_permissions(plan: ClusterPlan) -> int:
    """EC2 rules: one per distinct (target, source, protocol, ports) of the plan."""
    return len({(r.target, r.source, r.protocol, r.ports) for r in plan.firewall})


def _gcp_firewall_rules(plan: ClusterPlan) -> int:
    """GCP rules: one per (target, source) of the plan; the LB originates nothing. Egress:
    per etcd / control-plane destination one allow, and one deny-all each."""
    ingress = len({(r.target, r.source) for r in plan.firewall if r.source != "api_lb"})
    egress = {(r.source, plan.network.node_cidr if r.destination_is_role else r.destination)
              for r in _egress(plan) if r.source in ("etcd", "control_plane")}
    return ingress + len(egress) + 2


def _egress(plan: ClusterPlan) -> list[EgressRule]:
    peers = tuple((p.cluster, p.node_cidr) for p in plan.cni.mesh.peers) if plan.cni.mesh is not None else ()
    return egress_rules(plan.network.node_cidr, plan.network.pod_cidr, peers)


def expected_aws(plan: ClusterPlan) -> dict[str, Counter[str]]:
    zones = len(plan.network.subnets)
    nats = zones if plan.network.nat == "per_zone" else 1
    members, replicas = len(plan.etcd.members), len(plan.control_plane.replicas)
    lbs = 2 if plan.api.public else 1  # internal NLB (+ an internet-facing twin)
    planes = {
        "network": Counter({
            "aws:ec2/vpc:Vpc": 1,
            "aws:ec2/internetGateway:InternetGateway": 1,
            "aws:ec2/subnet:Subnet": 2 * zones,  # private + public per zone
            "aws:ec2/routeTable:RouteTable": 1 + zones,  # public + one private per zone
            "aws:ec2/route:Route": 1 + zones,
            "aws:ec2/routeTableAssociation:RouteTableAssociation": 2 * zones,
            "aws:ec2/eip:Eip": nats,
            "aws:ec2/natGateway:NatGateway": nats,
            # an explicit reservation per fixed address (etcd members, control-plane
            # replicas, a ClusterMesh member's NLB address in each zone)
            "aws:ec2/subnetCidrReservation:SubnetCidrReservation": members + replicas + (
                zones if plan.cni.mesh is not None else 0),
            "aws:route53/zone:Zone": 1,
            # control plane, worker, one per etcd member; flow-log delivery
            "aws:iam/role:Role": 2 + members + 1,
            "aws:iam/rolePolicy:RolePolicy": 1,  # flow-log delivery into its log group
            "aws:iam/instanceProfile:InstanceProfile": 2 + members,
            "aws:ec2/securityGroup:SecurityGroup": 4,  # + api_lb
            "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": 1,  # adopted, without rules
            "aws:ec2/flowLog:FlowLog": 1,
            "aws:cloudwatch/logGroup:LogGroup": 1,
            "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": len(_egress(plan)),
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": _firewall_permissions(plan),
        }),
        "etcd": Counter({
            "aws:ec2/instance:Instance": members,
            "aws:ebs/volume:Volume": members,
            "aws:ec2/volumeAttachment:VolumeAttachment": members,
            "aws:route53/record:Record": members,  # etcd-<n>
            "aws:secretsmanager/secret:Secret": ETCD_SECRETS_PER_MEMBER * members,
            "aws:secretsmanager/secretVersion:SecretVersion": ETCD_SECRETS_PER_MEMBER * members,
            "aws:secretsmanager/secretPolicy:SecretPolicy": ETCD_SECRETS_PER_MEMBER * members,
        }),
        "control-plane": Counter({
            "aws:ec2/instance:Instance": replicas,
            "aws:lb/loadBalancer:LoadBalancer": lbs,
            "aws:lb/targetGroup:TargetGroup": lbs,
            "aws:lb/listener:Listener": lbs,
            "aws:lb/targetGroupAttachment:TargetGroupAttachment": lbs * replicas,
            # api + api-<cloud>-<region> private, + api-<cloud>-<region> public; the public
            # api.<cluster> belongs to the cluster's name (ClusterName), not to a plane.
            "aws:route53/record:Record": 2 + (lbs - 1),
            "aws:secretsmanager/secret:Secret": CONTROL_PLANE_SECRETS,
            "aws:secretsmanager/secretVersion:SecretVersion": CONTROL_PLANE_SECRETS,
            "aws:secretsmanager/secretPolicy:SecretPolicy": CONTROL_PLANE_SECRETS,
        }),
    }
    for pool in plan.workers:
        planes[f"workers-{pool.name}"] = Counter({
            "aws:ec2/launchTemplate:LaunchTemplate": 1,
            "aws:autoscaling/group:Group": 1,
        })
    return planes


def expected_gcp(plan: ClusterPlan) -> dict[str, Counter[str]]:
    members, replicas = len(plan.etcd.members), len(plan.control_plane.replicas)
    lbs = 2 if plan.api.public else 1  # internal forwarding rule (+ an external one)
    planes = {
        "network": Counter({
            "gcp:compute/network:Network": 1,
            "gcp:compute/subnetwork:Subnetwork": 1,  # regional: serves every zone
            "gcp:logging/projectBucketConfig:ProjectBucketConfig": 1,  # its flow logs, with retention
            "gcp:logging/projectSink:ProjectSink": 1,
            "gcp:compute/router:Router": 1,
            "gcp:compute/routerNat:RouterNat": 1,  # regional Cloud NAT, whatever `nat` says
            "gcp:dns/managedZone:ManagedZone": 1,
            "gcp:serviceaccount/account:Account": 2 + members,  # control plane, worker, each etcd member
            "gcp:compute/firewall:Firewall": _gcp_firewall_rules(plan),
            # The Kubernetes nodes' identities (control plane, workers) write logs: every
            # example stack ships them (logging.enabled defaults to true).
            "gcp:projects/iAMMember:IAMMember": 2,
            # a ClusterMesh member's load-balancer address, reserved before any machine
            "gcp:compute/address:Address": 1 if plan.cni.mesh is not None else 0,
        }),
        "etcd": Counter({
            "gcp:compute/instance:Instance": members,
            "gcp:compute/disk:Disk": members,
            "gcp:compute/address:Address": members,  # the member's reserved internal IP
            "gcp:dns/recordSet:RecordSet": members,
            "gcp:secretmanager/secret:Secret": ETCD_SECRETS_PER_MEMBER * members,
            "gcp:secretmanager/secretVersion:SecretVersion": ETCD_SECRETS_PER_MEMBER * members,
            "gcp:secretmanager/secretIamMember:SecretIamMember": ETCD_SECRETS_PER_MEMBER * members,
        }),
        "control-plane": Counter({
            "gcp:compute/instance:Instance": replicas,
            "gcp:compute/regionHealthCheck:RegionHealthCheck": 1,
            "gcp:compute/instanceGroup:InstanceGroup": len({r.zone for r in plan.control_plane.replicas}),
            "gcp:compute/regionBackendService:RegionBackendService": lbs,
            # The LB's address(es) + each replica's reserved internal IP (joins go through cp-0's).
            "gcp:compute/address:Address": lbs + replicas,
            "gcp:compute/forwardingRule:ForwardingRule": lbs,
            "gcp:dns/recordSet:RecordSet": 2 + (lbs - 1),  # as on AWS: api.<cluster> public is the name's
            "gcp:secretmanager/secret:Secret": CONTROL_PLANE_SECRETS,
            "gcp:secretmanager/secretVersion:SecretVersion": CONTROL_PLANE_SECRETS,
            # The bootstrap token is read by control plane and workers, and written (new
            # versions only) by the control plane.
            "gcp:secretmanager/secretIamMember:SecretIamMember": CONTROL_PLANE_SECRETS + 2,
        }),
    }
    for pool in plan.workers:
        # No CPU autoscaler: the cluster-autoscaler (an add-on) sizes the group.
        planes[f"workers-{pool.name}"] = Counter({
            "gcp:compute/instanceTemplate:InstanceTemplate": 1,
            # One zonal group per zone: cluster-autoscaler scales zonal MIGs only.
            "gcp:compute/instanceGroupManager:InstanceGroupManager": len(pool.zones),
        })
    return planes


PLANE_TYPES = {"network": "Network", "etcd": "EtcdDataPlane", "control-plane": "ControlPlane",
               "snapshots": "SnapshotStore", "addons": "AddonPublication", "clustermesh": "ClusterMeshEndpoint"}


def bundle_file_count(stack: StackRun, plan: ClusterPlan) -> int:
    """The incarnation's bundle (fleetform/addons) has one object per file; its files
    depend on the plan only (stand-ins for the clouds' facts)."""
    spec = load_stack_file(stack.path, label=f"stacks/{stack.path.name}")
    source = any(c.migration is not None and c.migration.receives_snapshot and c.migration.source_key == plan.key
                 for c in stack.plan.clusters)
    gcp = plan.cloud == "gcp"
    shippers = () if gcp or stack.plan.logging.on("aws") is None else (LOG_SHIPPER,)
    facts = CloudFacts(identities={c: "-" for c in (*CONTROLLERS, *shippers)}, network="-" if gcp else None,
                       subnetwork="-" if gcp else None, snapshot_bucket="-" if source else None,
                       snapshot_writer="-" if source else None, snapshot_credentials="-" if source else None)
    return len(render_bundle(addon_context(stack.plan, plan, plan_identity(spec, stack.plan), facts)).files())


def expected_addons(stack: StackRun, plan: ClusterPlan) -> Counter[str]:
    """The add-on bucket (read by the control plane only), one object per bundle file,
    and a ClusterMesh member's CA values in the secret store."""
    files = bundle_file_count(stack, plan)
    mesh = plan.cni.mesh is not None
    if plan.cloud == "aws":
        counts = Counter({t: 1 for t in (
            "aws:s3/bucket:Bucket", "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "aws:s3/bucketVersioning:BucketVersioning", "aws:iam/rolePolicy:RolePolicy")})
        counts["aws:s3/bucketObjectv2:BucketObjectv2"] = files
        if mesh:
            counts.update({"aws:secretsmanager/secret:Secret": 1, "aws:secretsmanager/secretVersion:SecretVersion": 1,
                           "aws:secretsmanager/secretPolicy:SecretPolicy": 1})
        return counts
    counts = Counter({"gcp:storage/bucket:Bucket": 1, "gcp:storage/bucketIAMMember:BucketIAMMember": 1,
                      "gcp:storage/bucketObject:BucketObject": files})
    if mesh:
        counts.update({"gcp:secretmanager/secret:Secret": 1, "gcp:secretmanager/secretVersion:SecretVersion": 1,
                       "gcp:secretmanager/secretIamMember:SecretIamMember": 1})
    return counts


def with_snapshot_store(plan: ClusterPlan, planes: dict[str, Counter[str]]) -> dict[str, Counter[str]]:
    """A migration target receiving etcd data has its snapshot bucket (until finalize)."""
    m = plan.migration
    if m is None or not m.receives_snapshot:
        return planes
    if plan.cloud == "aws":
        store = Counter({t: 1 for t in (
            "aws:s3/bucket:Bucket", "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "aws:s3/bucketVersioning:BucketVersioning",
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")})
        # readers (each etcd member restores from the snapshot), writer (federated)
        store["aws:iam/rolePolicy:RolePolicy"] = len(plan.etcd.members) + 1
    else:
        store = Counter({"gcp:storage/bucket:Bucket": 1,
                         "gcp:storage/bucketIAMMember:BucketIAMMember": len(plan.etcd.members) + 1})
    return {**planes, "snapshots": store}


def with_mesh_endpoint(plan: ClusterPlan, planes: dict[str, Counter[str]]) -> dict[str, Counter[str]]:
    """A ClusterMesh member's API load balancer in front of its worker pools, and its
    private DNS name (components/mesh.py)."""
    if plan.cni.mesh is None:
        return planes
    if plan.cloud == "aws":
        endpoint = Counter({"aws:lb/loadBalancer:LoadBalancer": 1, "aws:lb/targetGroup:TargetGroup": 1,
                            "aws:lb/listener:Listener": 1, "aws:route53/record:Record": 1,
                            "aws:autoscaling/attachment:Attachment": len(plan.workers)})
    else:
        # one zonal group per pool and zone is a backend; its planned address is the network's
        endpoint = Counter({"gcp:compute/regionHealthCheck:RegionHealthCheck": 1,
                            "gcp:compute/regionBackendService:RegionBackendService": 1,
                            "gcp:compute/forwardingRule:ForwardingRule": 1,
                            "gcp:dns/recordSet:RecordSet": 1})
    return {**planes, "clustermesh": endpoint}


def _planes(plan: ClusterPlan) -> dict[str, Counter[str]]:
    return with_mesh_endpoint(plan, with_snapshot_store(
        plan, expected_aws(plan) if plan.cloud == "aws" else expected_gcp(plan)))


@pytest.fixture(params=["dev", "prod", "prod_mesh"])
def any_stack(request: pytest.FixtureRequest) -> StackRun:
    run: StackRun = request.getfixturevalue(request.param)
    return run


def test_every_plane_owns_exactly_its_cloud_resources(any_stack: StackRun) -> None:
    stack = any_stack
    for plan in stack.plan.clusters:
        expected = _planes(plan)
        expected["addons"] = expected_addons(stack, plan)
        for plane, counts in expected.items():
            component = stack.component(PLANE_TYPES.get(plane, "WorkerPlane"), f"{plan.key}-{plane}")
            actual = cloud_counts(stack.owned(component))
            assert actual == counts, f"{component.name}: got {dict(actual)}, expected {dict(counts)}"


def test_cloud_resources_live_only_in_planes_or_the_fleet(any_stack: StackRun) -> None:
    """A cluster's cloud resources are all in its planes (the Cluster itself only holds
    the provider); the rest are fleet-level (shared identity, federation)."""
    stack = any_stack
    for plan in stack.plan.clusters:
        cluster = stack.cluster(plan)
        direct = cloud_counts(stack.owned(cluster))
        assert direct == Counter(), f"{plan.key}: cloud resources directly on the Cluster: {dict(direct)}"
        planned = sum(sum(c.values()) for c in _planes(plan).values())
        planned += sum(expected_addons(stack, plan).values())
        in_cluster = cloud_counts(stack.in_cluster(plan))
        assert sum(in_cluster.values()) == planned, f"{plan.key}: cloud resources outside the planes"


def test_the_public_name_belongs_to_the_cluster_name(stack: StackRun) -> None:
    """`api.<cluster>` (public) is one record under the cluster's `ClusterName`, made in the
    serving incarnation's cloud; a private cluster has none there."""
    for name in dict.fromkeys(c.name for c in stack.plan.clusters):
        serving = stack.plan.cluster(name)
        owned = cloud_counts(stack.owned(stack.component("ClusterName", name)))
        record = "aws:route53/record:Record" if serving.cloud == "aws" else "gcp:dns/recordSet:RecordSet"
        assert owned == (Counter({record: 1}) if serving.api.public else Counter()), name


@pytest.mark.parametrize("stack_name", ["dev", "prod"])
def test_counts_for_the_example_stacks(stack_name: str, request: pytest.FixtureRequest) -> None:
    """The same counts, written out for the checked-in stacks (a sanity net for the
    plan-derived expectations above)."""
    run: StackRun = request.getfixturevalue(stack_name)
    instances = {p.key: (len(run.of_type("aws:ec2/instance:Instance", run.in_cluster(p)))
                         + len(run.of_type("gcp:compute/instance:Instance", run.in_cluster(p))))
                 for p in run.plan.clusters}
    if stack_name == "dev":  # single-member planes (profile `single`)
        assert instances == {"dev-aws-aws-eu-west-1": 2, "dev-gcp-gcp-europe-west1": 2}
        return
    assert instances == {
        "eu-core-aws-eu-west-1": 5 + 3,  # ha: 5 etcd members, 3 replicas
        "us-core-aws-us-east-1": 5 + 3,
        "eu-gke-gcp-europe-west1": 3 + 3,
        "us-gcp-gcp-us-central1": 3 + 3,
        "edge-fra-aws-eu-central-1": 3 + 3,
        "edge-fra-gcp-europe-west3": 3 + 3,  # edge-fra moving to GCP (phase prepare)
        "edge-iad-gcp-us-east4": 3 + 3,
    }
    eu_core = run.plan.cluster("eu-core")
    # Public API on AWS: an internal and an internet-facing NLB.
    nlbs = run.of_type("aws:lb/loadBalancer:LoadBalancer", run.in_cluster(eu_core))
    assert sorted(r.inputs["internal"] for r in nlbs) == [False, True]
    # NAT per zone by default, one for the edge profile.
    nats = {p.name: len(run.of_type("aws:ec2/natGateway:NatGateway", run.in_cluster(p)))
            for p in run.plan.clusters if p.cloud == "aws"}
    assert nats == {"eu-core": 3, "us-core": 3, "edge-fra": 1}


def test_machines_and_pools_follow_the_plan(stack: StackRun) -> None:
    """Fixed addresses, zones and DNS names of members; min/max of pools."""
    for plan in stack.plan.clusters:
        inside = stack.in_cluster(plan)
        etcd = stack.component("EtcdDataPlane", f"{plan.key}-etcd")
        owned = stack.owned(etcd)
        if plan.cloud == "aws":
            by_member = {r.inputs["tags"]["etcd-member"]: r for r in stack.of_type("aws:ec2/instance:Instance", owned)}
            volumes = {r.name.removeprefix(f"{etcd.name}-").removesuffix("-data"): r
                       for r in stack.of_type("aws:ebs/volume:Volume", owned)}
            records = {r.inputs["name"]: r.inputs["records"] for r in stack.of_type("aws:route53/record:Record", owned)}
            for m in plan.etcd.members:
                assert by_member[m.name].inputs["privateIp"] == m.ip
                assert stack.resolve(by_member[m.name].inputs["subnetId"]).inputs["availabilityZone"] == m.zone
                assert volumes[m.name].inputs["availabilityZone"] == m.zone
                assert volumes[m.name].inputs["size"] == plan.etcd.disk_gb
                assert records[m.dns] == [m.ip]
            for pool in plan.workers:
                group = stack.component("WorkerPlane", f"{plan.key}-workers-{pool.name}")
                (asg,) = stack.of_type("aws:autoscaling/group:Group", stack.owned(group))
                assert (asg.inputs["minSize"], asg.inputs["maxSize"]) == (pool.min, pool.max)
                zones = {stack.resolve(s).inputs["availabilityZone"] for s in asg.inputs["vpcZoneIdentifiers"]}
                assert zones == set(pool.zones)
        else:
            addresses = {r.inputs["address"] for r in stack.of_type("gcp:compute/address:Address", owned)}
            assert addresses == {m.ip for m in plan.etcd.members}
            instances = {r.name.removeprefix(f"{etcd.name}-"): r for r in stack.of_type("gcp:compute/instance:Instance", owned)}
            records = {r.inputs["name"]: r.inputs["rrdatas"] for r in stack.of_type("gcp:dns/recordSet:RecordSet", owned)}
            for m in plan.etcd.members:
                assert instances[m.name].inputs["zone"] == m.zone
                assert instances[m.name].inputs["networkInterfaces"][0]["networkIp"] == m.ip
                assert records[m.dns + "."] == [m.ip]
            for pool in plan.workers:
                group = stack.component("WorkerPlane", f"{plan.key}-workers-{pool.name}")
                assert not stack.of_type("gcp:compute/regionAutoscaler:RegionAutoscaler", stack.owned(group))
                migs = stack.of_type("gcp:compute/instanceGroupManager:InstanceGroupManager", stack.owned(group))
                assert {m.inputs["zone"]: m.inputs["name"] for m in migs} == {
                    z: names.zonal_worker_group(plan.key, pool.name, z) for z in pool.zones}
                # Together they start at the pool's minimum; the cluster-autoscaler owns
                # each group's size after that.
                assert sum(m.inputs["targetSize"] for m in migs) == pool.min
                assert all("targetSize" in m.ignore_changes for m in migs)
                (template,) = stack.of_type("gcp:compute/instanceTemplate:InstanceTemplate", stack.owned(group))
                labels = template.inputs["labels"]
                assert (labels["cluster-autoscaler-enabled"], labels["cluster-autoscaler-name"]) == ("true", plan.name)
        # Every subnet of the plan exists (AWS: private + public per zone).
        if plan.cloud == "aws":
            cidrs = {r.inputs["cidrBlock"] for r in stack.of_type("aws:ec2/subnet:Subnet", inside)}
            assert cidrs == {c for s in plan.network.subnets for c in (s.private_cidr, s.public_cidr)}
        else:
            (subnet,) = stack.of_type("gcp:compute/subnetwork:Subnetwork", inside)
            assert subnet.inputs["ipCidrRange"] == plan.network.node_cidr


def test_load_balancers_front_every_replica(stack: StackRun) -> None:
    for plan in stack.plan.clusters:
        cp = stack.component("ControlPlane", f"{plan.key}-control-plane")
        owned = stack.owned(cp)
        if plan.cloud == "aws":
            replicas = {stack.id_of(r) for r in stack.of_type("aws:ec2/instance:Instance", owned)}
            for tg in stack.of_type("aws:lb/targetGroup:TargetGroup", owned):
                assert (tg.inputs["port"], tg.inputs["protocol"]) == (6443, "TCP")
                arn = stack.outputs(tg)["arn"]
                targets = {a.inputs["targetId"] for a in stack.of_type("aws:lb/targetGroupAttachment:TargetGroupAttachment", owned)
                           if a.inputs["targetGroupArn"] == arn}
                assert targets == replicas
        else:
            replicas = {stack.outputs(r)["selfLink"] for r in stack.of_type("gcp:compute/instance:Instance", owned)}
            grouped = {i for g in stack.of_type("gcp:compute/instanceGroup:InstanceGroup", owned) for i in g.inputs["instances"]}
            assert grouped == replicas
            for rule in stack.of_type("gcp:compute/forwardingRule:ForwardingRule", owned):
                assert rule.inputs["ports"] == ["6443"]
