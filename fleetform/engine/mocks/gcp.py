"""GCP resources and data sources as pulumi-gcp 10 returns them."""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Callable
from typing import Any

from fleetform.engine.checks import ProviderCheckError
from fleetform.engine.mocks.base import (
    EPOCH,
    GOOGLEAPIS,
    InvokeCall,
    ResourceCall,
    ResourceHandler,
    digest,
    invoke_mock,
    kebab,
    number,
    public_ip,
    resource_mock,
    type_parts,
)

_GCP_ZONAL = {
    "instance",
    "disk",
    "instanceGroup",
    "instanceGroupManager",
    "instanceFromTemplate",
    "nodeGroup",
    "networkEndpointGroup",
    "targetInstance",
}
_GCP_REGIONAL = {
    "subnetwork",
    "address",
    "forwardingRule",
    "targetPool",
    "router",
    "vpnGateway",
    "vpnTunnel",
    "interconnectAttachment",
}


def _gcp_location(c: ResourceCall) -> tuple[str, str]:
    """(collection, location path) for a compute resource, e.g. ('subnetworks', 'regions/r')."""
    _, _, kind = type_parts(c.type)
    simple = kind[0].lower() + kind[1:]
    if simple.startswith("region") and simple != "region":
        simple = simple[6].lower() + simple[7:]
        scope = f"regions/{c.gcp_region}"
    elif simple.startswith("global") and simple != "global":
        simple = simple[6].lower() + simple[7:]
        scope = "global"
    elif simple in _GCP_ZONAL:
        scope = f"zones/{c.gcp_zone}"
    elif simple in _GCP_REGIONAL:
        scope = f"regions/{c.gcp_region}"
    else:
        scope = "global"
    plural = simple + ("es" if simple.endswith("s") else "s")
    return plural, scope


def _gcp_labels(c: ResourceCall) -> dict[str, Any]:
    labels = dict(c.get("labels", {}))
    return {
        "effectiveLabels": {**labels, "goog-pulumi-provisioned": "true"},
        "pulumiLabels": {**labels, "goog-pulumi-provisioned": "true"},
    }


def gcp_generic(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    _, service, kind = type_parts(c.type)
    name = c.autoname()
    out: dict[str, Any] = {"name": name, "project": c.project}
    if service == "compute":
        collection, scope = _gcp_location(c)
        rid = f"projects/{c.project}/{scope}/{collection}/{name}"
        out["selfLink"] = f"{GOOGLEAPIS}/compute/v1/{rid}"
        out["creationTimestamp"] = EPOCH
        if scope.startswith("regions/"):
            out["region"] = c.gcp_region
        if scope.startswith("zones/"):
            out["zone"] = c.gcp_zone
    else:
        rid = f"projects/{c.project}/{kebab(kind)}s/{name}"
    if "labels" in c.inputs:
        out.update(_gcp_labels(c))
    return rid, out


# --------------------------------------------------------------------------------------
# GCP


def project_number(project: str) -> str:
    return number(12, "project-number", project)


def _gcp_compute(
    extra: Callable[[ResourceCall, dict[str, Any]], dict[str, Any]] | None = None,
) -> ResourceHandler:
    def handler(c: ResourceCall) -> tuple[str, dict[str, Any]]:
        rid, out = gcp_generic(c)
        if extra is not None:
            out.update(extra(c, out))
        return rid, out

    return handler


resource_mock("gcp:compute/network:Network")(
    _gcp_compute(lambda c, _o: {"networkId": c.number(19, "id"), "numericId": c.number(19, "id")})
)


@resource_mock("gcp:compute/subnetwork:Subnetwork")
def _gcp_subnetwork(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    rid, out = gcp_generic(c)
    cidr = c.get("ipCidrRange")
    gateway = ""
    if isinstance(cidr, str):
        gateway = str(ipaddress.ip_network(cidr, strict=False).network_address + 1)
    out.update(
        {
            "gatewayAddress": gateway,
            "subnetworkId": int(c.number(18, "id")),
            "fingerprint": c.hex(16, "fp"),
            "state": "READY",
        }
    )
    return rid, out


def _gcp_network_interfaces(c: ResourceCall) -> list[dict[str, Any]]:
    nics: list[dict[str, Any]] = []
    for i, nic in enumerate(c.get("networkInterfaces", []) or []):
        nic = dict(nic)
        subnet = c.mocks.lookup(nic.get("subnetwork"), "gcp:compute/subnetwork:Subnetwork") or {}
        nic["networkIp"] = c.mocks.allocate_ip(
            subnet.get("ipCidrRange") or "10.128.0.0/20", f"{c.seed}#{i}", nic.get("networkIp")
        )
        nic.setdefault("name", f"nic{i}")
        if subnet:
            nic["subnetwork"] = subnet.get("selfLink", nic.get("subnetwork"))
            nic.setdefault("network", subnet.get("network"))
        nic["accessConfigs"] = [
            {**ac, "natIp": ac.get("natIp") or public_ip(f"{c.seed}#{i}#{j}")}
            for j, ac in enumerate(nic.get("accessConfigs") or [])
        ]
        nics.append(nic)
    return nics


@resource_mock("gcp:compute/instance:Instance")
def _gcp_instance(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    rid, out = gcp_generic(c)
    out.update(
        {
            "networkInterfaces": _gcp_network_interfaces(c),
            "instanceId": c.number(19, "id"),
            "currentStatus": "RUNNING",
            "cpuPlatform": "Intel Cascade Lake",
            "metadataFingerprint": c.hex(16, "mfp"),
            "labelFingerprint": c.hex(16, "lfp"),
            "tagsFingerprint": c.hex(16, "tfp"),
            **_gcp_labels(c),
        }
    )
    return rid, out


def _template_extra(c: ResourceCall, out: dict[str, Any]) -> dict[str, Any]:
    return {
        "selfLinkUnique": f"{out.get('selfLink')}?uniqueId={c.number(19, 'uid')}",
        "numericId": c.number(19, "id"),
        "metadataFingerprint": c.hex(16, "mfp"),
        "tagsFingerprint": c.hex(16, "tfp"),
        **_gcp_labels(c),
    }


resource_mock(
    "gcp:compute/instanceTemplate:InstanceTemplate",
    "gcp:compute/regionInstanceTemplate:RegionInstanceTemplate",
)(_gcp_compute(_template_extra))


def _igm_extra(c: ResourceCall, out: dict[str, Any]) -> dict[str, Any]:
    group = str(out.get("selfLink", "")).replace("/instanceGroupManagers/", "/instanceGroups/")
    return {
        "instanceGroup": group,
        "instanceGroupManagerId": int(c.number(18, "id")),
        "fingerprint": c.hex(16, "fp"),
        "statuses": [{"isStable": True}],
    }


resource_mock("gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager")(_gcp_compute(_igm_extra))

# The Compute API's patterns (compute v1 discovery document), refused at create.
_API_NAME = r"(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)"
_API_BASE_INSTANCE_NAME = r"[a-z][-a-z0-9]{0,57}"


def _api_pattern(field: str, value: Any, pattern: str) -> list[str]:
    if isinstance(value, str) and re.fullmatch(pattern, value):
        return []
    return [f"googleapi: Error 400: Invalid value for field 'resource.{field}': '{value}'. "
            f"Must be a match of regex '{pattern}', invalid"]


def _zonal_igm_problems(c: ResourceCall) -> list[str]:
    problems: list[str] = []
    if not (c.get("zone") or c.provider_inputs.get("zone") or c.mocks.config_str("gcp:zone")):
        problems.append("Cannot determine zone: set in this resource, or set provider-level zone.")
    problems += _api_pattern("name", c.autoname(), _API_NAME)
    problems += _api_pattern("baseInstanceName", c.get("baseInstanceName"), _API_BASE_INSTANCE_NAME)
    size = c.get("targetSize")
    if isinstance(size, int) and size < 0:
        problems.append(f"googleapi: Error 400: Invalid value for field 'resource.targetSize': '{size}'. "
                        "Must be greater than or equal to 0, invalid")
    return problems


@resource_mock("gcp:compute/instanceGroupManager:InstanceGroupManager")
def _gcp_zonal_igm(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    """A zonal group: created in the resource's zone or the provider's (tpgresource.GetZone),
    never in a region; its name and base instance name as the API accepts them. Its
    ``instanceGroup`` is the zonal group's URL that load-balancer backends take."""
    # Only a creation carries the required base instance name (a read of an existing
    # group carries no inputs and is not checked).
    if "baseInstanceName" in c.inputs and (problems := _zonal_igm_problems(c)):
        raise ProviderCheckError(problems)
    rid, out = gcp_generic(c)
    out.update(_igm_extra(c, out))
    return rid, out


resource_mock("gcp:compute/disk:Disk")(
    _gcp_compute(
        lambda c, _o: {
            "diskId": c.number(19, "id"),
            "labelFingerprint": c.hex(16, "lfp"),
            "users": [],
            **_gcp_labels(c),
        }
    )
)


def _gcp_ip(c: ResourceCall, requested_key: str) -> str:
    requested = c.get(requested_key)
    if c.get("addressType") == "INTERNAL" or str(c.get("loadBalancingScheme", "")).startswith(
        "INTERNAL"
    ):
        subnet = c.mocks.lookup(c.get("subnetwork"), "gcp:compute/subnetwork:Subnetwork") or {}
        return c.mocks.allocate_ip(subnet.get("ipCidrRange") or "10.128.0.0/20", c.seed, requested)
    return str(requested or public_ip(c.seed))


def _internal_address_problems(c: ResourceCall) -> list[str]:
    """An internal address the Compute API refuses: one outside its subnetwork's primary
    range, or among the four the subnetwork keeps (its first two and last two)."""
    requested = c.get("address")
    if c.get("addressType") != "INTERNAL" or not isinstance(requested, str) or not requested:
        return []
    subnet = c.mocks.lookup(c.get("subnetwork"), "gcp:compute/subnetwork:Subnetwork") or {}
    cidr = subnet.get("ipCidrRange")
    if not isinstance(cidr, str):
        return []
    net, addr = ipaddress.IPv4Network(cidr), ipaddress.IPv4Address(requested)
    if addr in net and net.network_address + 2 <= addr <= net.broadcast_address - 2:
        return []
    return [f"googleapi: Error 400: Invalid value for field 'resource.address': '{requested}'. "
            f"Requested internal IP is outside the subnetwork CIDR range {cidr} or is reserved, invalid"]


def _gcp_address(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    if problems := _internal_address_problems(c):
        raise ProviderCheckError(problems)
    return _gcp_address_outputs(c)


_gcp_address_outputs = _gcp_compute(
    lambda c, _o: {
        "address": _gcp_ip(c, "address"),
        "addressId": int(c.number(18, "id")),
        "users": [],
        "labelFingerprint": c.hex(16, "lfp"),
        **_gcp_labels(c),
    }
)
resource_mock("gcp:compute/address:Address", "gcp:compute/globalAddress:GlobalAddress")(_gcp_address)


def _forwarding_rule_extra(c: ResourceCall, _out: dict[str, Any]) -> dict[str, Any]:
    requested = c.get("ipAddress")
    address = c.mocks.lookup(
        requested, "gcp:compute/address:Address", "gcp:compute/globalAddress:GlobalAddress"
    )
    ip = str(address.get("address")) if address else _gcp_ip(c, "ipAddress")
    return {
        "ipAddress": ip,
        "forwardingRuleId": int(c.number(18, "id")),
        "labelFingerprint": c.hex(16, "lfp"),
        "pscConnectionStatus": "",
        **_gcp_labels(c),
    }


resource_mock(
    "gcp:compute/forwardingRule:ForwardingRule",
    "gcp:compute/globalForwardingRule:GlobalForwardingRule",
)(_gcp_compute(_forwarding_rule_extra))

resource_mock(
    "gcp:compute/backendService:BackendService",
    "gcp:compute/regionBackendService:RegionBackendService",
)(
    _gcp_compute(
        lambda c, _o: {"generatedId": int(c.number(9, "id")), "fingerprint": c.hex(16, "fp")}
    )
)


@resource_mock(
    "gcp:compute/healthCheck:HealthCheck", "gcp:compute/regionHealthCheck:RegionHealthCheck"
)
def _gcp_health_check(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    rid, out = gcp_generic(c)
    kinds = ["tcp", "http", "https", "http2", "ssl", "grpc"]
    kind = next((k for k in kinds if c.get(f"{k}HealthCheck")), "tcp")
    out.update({"type": kind.upper(), "healthCheckId": int(c.number(18, "id"))})
    return rid, out


@resource_mock("gcp:compute/routerNat:RouterNat")
def _gcp_router_nat(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    name = c.autoname()
    return f"{c.project}/{c.gcp_region}/{c.get('router', '')}/{name}", {
        "name": name,
        "project": c.project,
        "region": c.gcp_region,
    }


@resource_mock("gcp:compute/attachedDisk:AttachedDisk")
def _gcp_attached_disk(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    instance = str(c.get("instance", "")).rsplit("/", 1)[-1]
    disk = str(c.get("disk", "")).rsplit("/", 1)[-1]
    return f"projects/{c.project}/zones/{c.gcp_zone}/instances/{instance}/{disk}", {
        "project": c.project,
        "zone": c.gcp_zone,
        "deviceName": c.get("deviceName", disk),
    }


@resource_mock("gcp:dns/managedZone:ManagedZone")
def _gcp_managed_zone(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    name = c.autoname()
    shard = int.from_bytes(digest(c.seed, "ns")[:1], "big") % 5 + 1
    return f"projects/{c.project}/managedZones/{name}", {
        "name": name,
        "project": c.project,
        "managedZoneId": int(c.number(18, "id")),
        "nameServers": [f"ns-cloud-{x}{shard}.googledomains.com." for x in "abcd"],
        "creationTime": EPOCH,
        "visibility": c.get("visibility", "public"),
        **_gcp_labels(c),
    }


@resource_mock("gcp:dns/recordSet:RecordSet")
def _gcp_record_set(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    zone = str(c.get("managedZone", "")).rsplit("/", 1)[-1]
    return (
        f"projects/{c.project}/managedZones/{zone}/rrsets/{c.get('name', c.name)}/{c.get('type', 'A')}",
        {"project": c.project},
    )


@resource_mock("gcp:serviceaccount/account:Account")
def _gcp_service_account(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    account_id = str(c.get("accountId", c.name))
    email = f"{account_id}@{c.project}.iam.gserviceaccount.com"
    rid = f"projects/{c.project}/serviceAccounts/{email}"
    return rid, {
        "email": email,
        "name": rid,
        "member": f"serviceAccount:{email}",
        "uniqueId": c.number(21, "uid"),
        "project": c.project,
    }


def _gcp_iam_member(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    target = next(
        (
            str(c.inputs[k])
            for k in (
                "serviceAccountId",
                "secretId",
                "bucket",
                "project",
                "cryptoKeyId",
                "instanceName",
            )
            if c.inputs.get(k)
        ),
        c.project,
    )
    etag = "BwY" + base64.b64encode(digest(c.seed, "etag")[:6]).decode()
    return f"{target}/{c.get('role', '')}/{c.get('member', '')}", {"etag": etag}


for _token in [
    "gcp:projects/iAMMember:IAMMember",
    "gcp:serviceaccount/iAMMember:IAMMember",
    "gcp:serviceaccount/iAMBinding:IAMBinding",
    "gcp:secretmanager/secretIamMember:SecretIamMember",
    "gcp:storage/bucketIAMMember:BucketIAMMember",
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember",
]:
    resource_mock(_token)(_gcp_iam_member)


@resource_mock("gcp:secretmanager/secret:Secret")
def _gcp_secret(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    secret_id = str(c.get("secretId", c.name))
    return f"projects/{c.project}/secrets/{secret_id}", {
        "name": f"projects/{project_number(c.project)}/secrets/{secret_id}",
        "project": c.project,
        "createTime": EPOCH,
        **_gcp_labels(c),
    }


@resource_mock("gcp:secretmanager/secretVersion:SecretVersion")
def _gcp_secret_version(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    secret = c.mocks.lookup(c.get("secret"), "gcp:secretmanager/secret:Secret") or {}
    secret_name = str(secret.get("name") or c.get("secret", ""))
    name = f"{secret_name}/versions/1"
    return name, {
        "name": name,
        "version": "1",
        "createTime": EPOCH,
        "enabled": c.get("enabled", True),
    }


@resource_mock("gcp:storage/bucket:Bucket")
def _gcp_bucket(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    name = c.autoname()
    return name, {
        "name": name,
        "project": c.project,
        "url": f"gs://{name}",
        "selfLink": f"{GOOGLEAPIS}/storage/v1/b/{name}",
        "projectNumber": int(project_number(c.project)),
        "timeCreated": EPOCH,
        **_gcp_labels(c),
    }


@resource_mock("gcp:iam/workloadIdentityPool:WorkloadIdentityPool")
def _gcp_wif_pool(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    pool = str(c.get("workloadIdentityPoolId", c.name))
    return f"projects/{c.project}/locations/global/workloadIdentityPools/{pool}", {
        "name": f"projects/{project_number(c.project)}/locations/global/workloadIdentityPools/{pool}",
        "state": "ACTIVE",
        "project": c.project,
    }


@resource_mock("gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider")
def _gcp_wif_provider(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    pool = str(c.get("workloadIdentityPoolId", "pool"))
    provider = str(c.get("workloadIdentityPoolProviderId", c.name))
    path = f"locations/global/workloadIdentityPools/{pool}/providers/{provider}"
    return f"projects/{c.project}/{path}", {
        "name": f"projects/{project_number(c.project)}/{path}",
        "state": "ACTIVE",
        "project": c.project,
    }


@resource_mock("gcp:kms/keyRing:KeyRing")
def _gcp_key_ring(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    name = c.autoname()
    return f"projects/{c.project}/locations/{c.get('location', 'global')}/keyRings/{name}", {
        "name": name,
        "project": c.project,
    }


@resource_mock("gcp:kms/cryptoKey:CryptoKey")
def _gcp_crypto_key(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    name = c.autoname()
    return f"{c.get('keyRing', '')}/cryptoKeys/{name}", {"name": name, **_gcp_labels(c)}




@invoke_mock("gcp:compute/getImage:getImage")
def _gcp_get_image(i: InvokeCall) -> dict[str, Any]:
    project = str(i.args.get("project") or i.project)
    family = i.args.get("family")
    name = str(i.args.get("name") or f"{family or 'image'}-v20250101")
    rid = f"projects/{project}/global/images/{name}"
    return {
        "id": rid,
        "name": name,
        "family": family or "",
        "project": project,
        "selfLink": f"{GOOGLEAPIS}/compute/v1/{rid}",
        "imageId": number(19, "image", rid),
        "diskSizeGb": 10,
        "archiveSizeBytes": 0,
        "status": "READY",
        "creationTimestamp": EPOCH,
        "description": f"{name} (fleetform offline mock)",
        "labels": {},
        "licenses": [],
        "labelFingerprint": i.hex(16, "lfp"),
        "sourceDisk": "",
        "sourceDiskId": "",
        "sourceImageId": "",
    }


@invoke_mock("gcp:compute/getZones:getZones")
def _gcp_get_zones(i: InvokeCall) -> dict[str, Any]:
    region = i.gcp_region
    return {
        "id": f"projects/{i.project}/regions/{region}",
        "names": [f"{region}-{letter}" for letter in "abc"],
        "project": i.project,
        "region": region,
        "status": i.args.get("status", "UP"),
    }


@invoke_mock("gcp:organizations/getProject:getProject")
def _gcp_get_project(i: InvokeCall) -> dict[str, Any]:
    project = i.project
    return {
        "id": f"projects/{project}",
        "projectId": project,
        "name": project,
        "number": project_number(project),
        "orgId": number(12, "org"),
        "autoCreateNetwork": True,
        "labels": {},
        "effectiveLabels": {},
        "pulumiLabels": {},
    }
