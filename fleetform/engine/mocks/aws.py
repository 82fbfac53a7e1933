"""AWS resources as pulumi-aws 7 returns them."""

from __future__ import annotations

import base64
import ipaddress
import json
import string
from typing import Any

from fleetform.bootstrap.document import AWS_USER_DATA_LIMIT
from fleetform.engine.checks import ProviderCheckError
from fleetform.engine.mocks.base import (
    ACCOUNT_ID,
    EPOCH,
    ResourceCall,
    ResourceHandler,
    digest,
    kebab,
    public_ip,
    resource_mock,
    type_parts,
)


def _tags(c: ResourceCall) -> dict[str, Any]:
    """tagsAll = provider default tags under the resource's own tags."""
    default_tags: Any = c.provider_inputs.get("defaultTags") or {}
    if isinstance(default_tags, str):
        try:
            default_tags = json.loads(default_tags)
        except ValueError:
            default_tags = {}
    merged: dict[str, Any] = {}
    if isinstance(default_tags, dict):
        merged.update(default_tags.get("tags") or {})
    merged.update(c.get("tags", {}))
    return {"tagsAll": merged}


def aws_generic(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    _, service, kind = type_parts(c.type)
    rid = f"{kebab(kind)}-{c.hex(17)}"
    return rid, {"arn": c.arn(service, f"{kebab(kind)}/{rid}"), **_tags(c)}


# --------------------------------------------------------------------------------------
# AWS


def _aws_ec2(prefix: str, kind: str) -> ResourceHandler:
    def handler(c: ResourceCall) -> tuple[str, dict[str, Any]]:
        rid = f"{prefix}-{c.hex(17)}"
        return rid, {"arn": c.arn("ec2", f"{kind}/{rid}"), "ownerId": ACCOUNT_ID, **_tags(c)}

    return handler


for _token, _prefix, _kind in [
    ("aws:ec2/securityGroup:SecurityGroup", "sg", "security-group"),
    ("aws:ec2/internetGateway:InternetGateway", "igw", "internet-gateway"),
    ("aws:ec2/routeTable:RouteTable", "rtb", "route-table"),
    ("aws:ec2/networkAcl:NetworkAcl", "acl", "network-acl"),
    ("aws:ec2/placementGroup:PlacementGroup", "pg", "placement-group"),
    ("aws:ec2/vpcEndpoint:VpcEndpoint", "vpce", "vpc-endpoint"),
]:
    resource_mock(_token)(_aws_ec2(_prefix, _kind))


@resource_mock("aws:ec2/vpc:Vpc")
def _aws_vpc(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    rid = f"vpc-{c.hex(17)}"
    return rid, {
        "arn": c.arn("ec2", f"vpc/{rid}"),
        "ownerId": ACCOUNT_ID,
        "defaultNetworkAclId": f"acl-{c.hex(17, 'acl')}",
        "defaultRouteTableId": f"rtb-{c.hex(17, 'rtb')}",
        "mainRouteTableId": f"rtb-{c.hex(17, 'rtb')}",
        "defaultSecurityGroupId": f"sg-{c.hex(17, 'sg')}",
        "dhcpOptionsId": f"dopt-{c.hex(17, 'dopt')}",
        "instanceTenancy": c.get("instanceTenancy", "default"),
        "enableDnsSupport": c.get("enableDnsSupport", True),
        **_tags(c),
    }


@resource_mock("aws:ec2/subnet:Subnet")
def _aws_subnet(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    rid = f"subnet-{c.hex(17)}"
    az = c.get("availabilityZone", f"{c.region}a")
    return rid, {
        "arn": c.arn("ec2", f"subnet/{rid}"),
        "ownerId": ACCOUNT_ID,
        "availabilityZone": az,
        "availabilityZoneId": f"{az_id_prefix(c.region)}-az{(ord(az[-1]) - ord('a')) % 6 + 1}",
        **_tags(c),
    }


def az_id_prefix(region: str) -> str:
    """us-east-1 -> use1 (the prefix of AWS zone ids)."""
    parts = region.split("-")
    if len(parts) < 3:
        return region
    return parts[0] + "".join(p[0] for p in parts[1:-1]) + parts[-1]


@resource_mock("aws:ec2/securityGroupRule:SecurityGroupRule")
def _aws_sg_rule(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    return f"sgrule-{c.number(10)}", {"securityGroupRuleId": f"sgr-{c.hex(17)}"}


@resource_mock(
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
)
def _aws_vpc_sg_rule(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    rid = f"sgr-{c.hex(17)}"
    return rid, {
        "arn": c.arn("ec2", f"security-group-rule/{rid}"),
        "securityGroupRuleId": rid,
        **_tags(c),
    }


def _subnet_cidr(c: ResourceCall, subnet_ref: Any) -> str | None:
    subnet = c.mocks.lookup(subnet_ref, "aws:ec2/subnet:Subnet")
    cidr = (subnet or {}).get("cidrBlock") or (subnet or {}).get("ipCidrRange")
    return cidr if isinstance(cidr, str) else None


def _private_dns(region: str, ip: str) -> str:
    domain = "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"
    return f"ip-{ip.replace('.', '-')}.{domain}"



def _user_data_problems(c: ResourceCall, prop: str, action: str, *, encoded: bool) -> list[str]:
    """EC2 refuses user data over 16 KB in raw form when an instance is created or
    launched from a template (`pulumi up`, never preview). ``encoded``: the property
    holds base64 (an instance's ``userDataBase64``, a launch template's ``userData``),
    else the text itself (an instance's ``userData``)."""
    value = c.inputs.get(prop)
    if not isinstance(value, str) or not value:
        return []
    try:
        raw = base64.b64decode(value, validate=True) if encoded else value.encode()
    except ValueError:  # binascii.Error: the provider's base64 check reports it
        return []
    if len(raw) <= AWS_USER_DATA_LIMIT:
        return []
    return [f"{action}: api error InvalidParameterValue: User data is limited to {AWS_USER_DATA_LIMIT} bytes "
            f"(this one is {len(raw)} bytes)"]


@resource_mock("aws:ec2/instance:Instance")
def _aws_instance(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    problems = (_user_data_problems(c, "userDataBase64", "creating EC2 Instance", encoded=True)
                + _user_data_problems(c, "userData", "creating EC2 Instance", encoded=False))
    if problems:
        raise ProviderCheckError(problems)
    rid = f"i-{c.hex(17)}"
    subnet = c.mocks.lookup(c.get("subnetId"), "aws:ec2/subnet:Subnet")
    ip = c.mocks.allocate_ip(_subnet_cidr(c, c.get("subnetId")), c.seed, c.get("privateIp"))
    out: dict[str, Any] = {
        "arn": c.arn("ec2", f"instance/{rid}"),
        "privateIp": ip,
        "privateDns": _private_dns(c.region, ip),
        "primaryNetworkInterfaceId": f"eni-{c.hex(17, 'eni')}",
        "instanceState": "running",
        "availabilityZone": c.get(
            "availabilityZone", (subnet or {}).get("availabilityZone", f"{c.region}a")
        ),
        "publicIp": "",
        "publicDns": "",
        **_tags(c),
    }
    if c.get("associatePublicIpAddress"):
        out["publicIp"] = public_ip(c.seed)
        out["publicDns"] = f"ec2-{out['publicIp'].replace('.', '-')}.compute-1.amazonaws.com"
    return rid, out


@resource_mock("aws:ec2/networkInterface:NetworkInterface")
def _aws_eni(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    rid = f"eni-{c.hex(17)}"
    ips = c.get("privateIps") or []
    ip = c.mocks.allocate_ip(
        _subnet_cidr(c, c.get("subnetId")), c.seed, c.get("privateIp") or (ips[0] if ips else None)
    )
    return rid, {
        "arn": c.arn("ec2", f"network-interface/{rid}"),
        "privateIp": ip,
        "privateIps": ips or [ip],
        "privateDnsName": _private_dns(c.region, ip),
        "macAddress": ":".join(c.hex(12, "mac")[i : i + 2] for i in range(0, 12, 2)),
        "ownerId": ACCOUNT_ID,
        **_tags(c),
    }


@resource_mock("aws:ec2/eip:Eip")
def _aws_eip(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    rid = f"eipalloc-{c.hex(17)}"
    ip = public_ip(c.seed)
    return rid, {
        "arn": c.arn("ec2", f"elastic-ip/{rid}"),
        "allocationId": rid,
        "publicIp": ip,
        "publicDns": f"ec2-{ip.replace('.', '-')}.compute-1.amazonaws.com",
        "domain": c.get("domain", "vpc"),
        **_tags(c),
    }


@resource_mock("aws:ec2/natGateway:NatGateway")
def _aws_nat(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    rid = f"nat-{c.hex(17)}"
    eip = c.mocks.lookup(c.get("allocationId"), "aws:ec2/eip:Eip") or {}
    return rid, {
        "networkInterfaceId": f"eni-{c.hex(17, 'eni')}",
        "publicIp": eip.get("publicIp", public_ip(c.seed)),
        "privateIp": c.mocks.allocate_ip(_subnet_cidr(c, c.get("subnetId")), c.seed),
        **_tags(c),
    }


@resource_mock("aws:ec2/route:Route")
def _aws_route(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    dest = c.get("destinationCidrBlock") or c.get("destinationIpv6CidrBlock") or ""
    return f"r-{c.get('routeTableId', '')}{digest(dest).hex()[:10]}", {
        "origin": "CreateRoute",
        "state": "active",
    }


@resource_mock("aws:ec2/routeTableAssociation:RouteTableAssociation")
def _aws_rtb_assoc(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    return f"rtbassoc-{c.hex(17)}", {}


@resource_mock("aws:ebs/volume:Volume")
def _aws_volume(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    rid = f"vol-{c.hex(17)}"
    return rid, {
        "arn": c.arn("ec2", f"volume/{rid}"),
        "createTime": EPOCH,
        "type": c.get("type", "gp3"),
        "encrypted": c.get("encrypted", False),
        **_tags(c),
    }


@resource_mock("aws:ec2/volumeAttachment:VolumeAttachment")
def _aws_volume_attachment(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    return f"vai-{c.number(10)}", {}


@resource_mock("aws:ec2/launchTemplate:LaunchTemplate")
def _aws_launch_template(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    if problems := _user_data_problems(c, "userData", "launching an EC2 instance from this launch template",
                                       encoded=True):
        raise ProviderCheckError(problems)
    rid = f"lt-{c.hex(17)}"
    return rid, {
        "arn": c.arn("ec2", f"launch-template/{rid}"),
        "name": c.autoname(),
        "latestVersion": 1,
        "defaultVersion": 1,
        **_tags(c),
    }


@resource_mock("aws:ec2/keyPair:KeyPair")
def _aws_key_pair(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    name = c.autoname("keyName")
    return name, {
        "arn": c.arn("ec2", f"key-pair/{name}"),
        "keyName": name,
        "keyPairId": f"key-{c.hex(17)}",
        "keyType": "ed25519" if str(c.get("publicKey", "")).startswith("ssh-ed25519") else "rsa",
        "fingerprint": ":".join(c.hex(32, "fp")[i : i + 2] for i in range(0, 32, 2)),
        **_tags(c),
    }


@resource_mock("aws:autoscaling/group:Group")
def _aws_asg(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    name = c.autoname()
    return name, {
        "name": name,
        "arn": c.arn(
            "autoscaling", f"autoScalingGroup:{c.uuid('asg')}:autoScalingGroupName/{name}"
        ),
    }


def _lb_kind(c: ResourceCall) -> str:
    return {"network": "net", "gateway": "gwy"}.get(
        str(c.get("loadBalancerType", "application")), "app"
    )


def _subnet_mapping_problems(c: ResourceCall, mappings: list[dict[str, Any]]) -> list[str]:
    """What CreateLoadBalancer refuses in ``SubnetMappings``: a private IPv4 address on an
    internet-facing load balancer, or one that is not an address of its subnet that
    instances could hold (inside the subnet's CIDR, past AWS's four reserved addresses,
    before its broadcast address); two mappings in one subnet."""
    problems: list[str] = []
    seen: set[str] = set()
    for m in mappings:
        subnet, ip = m.get("subnetId"), m.get("privateIpv4Address")
        if isinstance(subnet, str) and subnet in seen:
            problems.append(f"InvalidConfigurationRequest: subnet '{subnet}' is mapped more than once")
        seen.add(str(subnet))
        if not ip:
            continue
        if not c.get("internal"):
            problems.append("InvalidConfigurationRequest: a private IPv4 address can be set for an internal "
                            f"load balancer only (got '{ip}' for an internet-facing one)")
            continue
        cidr = _subnet_cidr(c, subnet)
        if cidr is None:
            continue
        net, addr = ipaddress.IPv4Network(cidr), ipaddress.IPv4Address(str(ip))
        if addr not in net or not net.network_address + 4 <= addr < net.broadcast_address:
            problems.append(f"InvalidConfigurationRequest: the private IPv4 address '{ip}' is not a valid "
                            f"address of subnet '{subnet}' ({cidr})")
    return problems


@resource_mock("aws:ec2/subnetCidrReservation:SubnetCidrReservation")
def _aws_subnet_cidr_reservation(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    """CreateSubnetCidrReservation refuses a CIDR outside its subnet."""
    cidr, reserved = _subnet_cidr(c, c.get("subnetId")), c.get("cidrBlock")
    if cidr is not None and isinstance(reserved, str) and not ipaddress.IPv4Network(reserved).subnet_of(
            ipaddress.IPv4Network(cidr)):
        raise ProviderCheckError([f"InvalidParameterValue: the CIDR '{reserved}' is not within the subnet's "
                                  f"CIDR '{cidr}'"])
    return aws_generic(c)


@resource_mock("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
def _aws_lb(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    name = c.autoname()
    suffix = f"{_lb_kind(c)}/{name}/{c.hex(16)}"
    arn = c.arn("elasticloadbalancing", f"loadbalancer/{suffix}")
    internal = "internal-" if c.get("internal") else ""
    mappings = [m for m in c.get("subnetMappings") or [] if isinstance(m, dict)]
    if problems := _subnet_mapping_problems(c, mappings):
        raise ProviderCheckError(problems)
    subnets = c.get("subnets") or [m.get("subnetId") for m in mappings]
    vpc = (
        (c.mocks.lookup(subnets[0], "aws:ec2/subnet:Subnet") or {}).get("vpcId")
        if subnets
        else None
    )
    return arn, {
        "arn": arn,
        "arnSuffix": suffix,
        "name": name,
        "dnsName": f"{internal}{name}-{c.hex(16, 'dns')}.elb.{c.region}.amazonaws.com",
        # Canonical hosted zone of the ELB service; per region in reality, fixed shape here.
        "zoneId": "Z" + c.hex(13, "zone").upper(),
        "vpcId": vpc or f"vpc-{c.hex(17, 'vpc')}",
        "loadBalancerType": c.get("loadBalancerType", "application"),
        **_tags(c),
    }


@resource_mock("aws:lb/targetGroup:TargetGroup", "aws:alb/targetGroup:TargetGroup")
def _aws_target_group(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    name = c.autoname()
    suffix = f"targetgroup/{name}/{c.hex(16)}"
    arn = c.arn("elasticloadbalancing", suffix)
    return arn, {"arn": arn, "arnSuffix": suffix, "name": name, "loadBalancerArns": [], **_tags(c)}


@resource_mock("aws:lb/listener:Listener", "aws:alb/listener:Listener")
def _aws_listener(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    lb_arn = str(c.get("loadBalancerArn", ""))
    lb_part = (
        lb_arn.split(":loadbalancer/", 1)[-1]
        if ":loadbalancer/" in lb_arn
        else f"app/lb/{c.hex(16, 'lb')}"
    )
    arn = c.arn("elasticloadbalancing", f"listener/{lb_part}/{c.hex(16)}")
    return arn, {"arn": arn, **_tags(c)}


@resource_mock("aws:lb/targetGroupAttachment:TargetGroupAttachment")
def _aws_tg_attachment(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    return f"{c.get('targetGroupArn', 'tg')}-{c.number(20)}", {}


@resource_mock("aws:route53/zone:Zone")
def _aws_zone(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    zone_id = "Z" + base64.b32encode(digest(c.seed, "zone")).decode()[:20]
    n = int.from_bytes(digest(c.seed, "ns")[:4], "big")
    name_servers = [
        f"ns-{(n + i * 517) % 2048}.awsdns-{(n >> 11) % 64 + i:02d}.{tld}"
        for i, tld in enumerate(["com", "net", "org", "co.uk"])
    ]
    return zone_id, {
        "zoneId": zone_id,
        "arn": f"arn:aws:route53:::hostedzone/{zone_id}",
        "nameServers": name_servers,
        "primaryNameServer": name_servers[0],
        "name": str(c.get("name", c.name)).rstrip("."),
        **_tags(c),
    }


@resource_mock("aws:route53/record:Record")
def _aws_record(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    name = str(c.get("name", c.name)).rstrip(".")
    zone = c.mocks.lookup(c.get("zoneId"), "aws:route53/zone:Zone") or {}
    zone_name = str(zone.get("name", ""))
    fqdn = name if not zone_name or name.endswith(zone_name) else f"{name}.{zone_name}"
    return f"{c.get('zoneId', '')}_{name}_{c.get('type', 'A')}", {"fqdn": fqdn}


def _iam_named(kind: str, *, id_is_arn: bool = False, prefix: str = "AROA") -> ResourceHandler:
    def handler(c: ResourceCall) -> tuple[str, dict[str, Any]]:
        name = c.autoname()
        path = str(c.get("path", "/"))
        arn = f"arn:aws:iam::{ACCOUNT_ID}:{kind}{path}{name}"
        out = {
            "name": name,
            "arn": arn,
            "createDate": EPOCH,
            "uniqueId": prefix + base64.b32encode(digest(c.seed, "uid")).decode()[:17],
            **_tags(c),
        }
        return (arn if id_is_arn else name), out

    return handler


resource_mock("aws:iam/role:Role")(_iam_named("role"))
resource_mock("aws:iam/instanceProfile:InstanceProfile")(
    _iam_named("instance-profile", prefix="AIPA")
)
resource_mock("aws:iam/user:User")(_iam_named("user", prefix="AIDA"))


@resource_mock("aws:iam/policy:Policy")
def _aws_iam_policy(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    name = c.autoname()
    arn = f"arn:aws:iam::{ACCOUNT_ID}:policy{c.get('path', '/')}{name}"
    return arn, {
        "name": name,
        "arn": arn,
        "policyId": "ANPA" + base64.b32encode(digest(c.seed, "pid")).decode()[:17],
        "attachmentCount": 0,
        **_tags(c),
    }


@resource_mock("aws:iam/rolePolicy:RolePolicy")
def _aws_role_policy(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    name = c.autoname()
    return f"{c.get('role', '')}:{name}", {"name": name}


@resource_mock("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
def _aws_role_policy_attachment(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    return f"{c.get('role', '')}-{c.number(20)}", {}


@resource_mock("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
def _aws_oidc(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    url = str(c.get("url", c.name)).removeprefix("https://")
    arn = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{url}"
    return arn, {"arn": arn, **_tags(c)}


@resource_mock("aws:secretsmanager/secret:Secret")
def _aws_secret(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    name = c.autoname()
    suffix = "".join(string.ascii_letters[b % 52] for b in digest(c.seed, "secret")[:6])
    arn = c.arn("secretsmanager", f"secret:{name}-{suffix}")
    return arn, {"arn": arn, "name": name, **_tags(c)}


@resource_mock("aws:secretsmanager/secretVersion:SecretVersion")
def _aws_secret_version(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    secret = c.mocks.lookup(c.get("secretId"), "aws:secretsmanager/secret:Secret") or {}
    secret_arn = str(secret.get("arn") or c.get("secretId", ""))
    version = c.uuid("version")
    return f"{secret_arn}|{version}", {
        "arn": secret_arn,
        "secretArn": secret_arn,
        "versionId": version,
        "versionStages": c.get("versionStages") or ["AWSCURRENT"],
    }


@resource_mock("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
def _aws_bucket(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    name = c.autoname("bucket")
    return name, {
        "bucket": name,
        "arn": f"arn:aws:s3:::{name}",
        "bucketDomainName": f"{name}.s3.amazonaws.com",
        "bucketRegionalDomainName": f"{name}.s3.{c.region}.amazonaws.com",
        "bucketRegion": c.region,
        "region": c.region,
        "hostedZoneId": "Z3AQBSTGFYJSTF",
        **_tags(c),
    }


@resource_mock("aws:kms/key:Key")
def _aws_kms_key(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    key_id = c.uuid("kms")
    return key_id, {"keyId": key_id, "arn": c.arn("kms", f"key/{key_id}"), **_tags(c)}


@resource_mock("aws:ssm/parameter:Parameter")
def _aws_ssm_parameter(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    name = c.autoname()
    return name, {
        "name": name,
        "arn": c.arn("ssm", f"parameter/{name.lstrip('/')}"),
        "version": 1,
        **_tags(c),
    }


