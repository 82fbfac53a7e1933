"""AWS data sources (invokes) as pulumi-aws 7 answers them."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from fleetform.engine.mocks.aws import az_id_prefix
from fleetform.engine.mocks.base import ACCOUNT_ID, InvokeCall, digest, invoke_mock

# --------------------------------------------------------------------------------------
# Invokes


@invoke_mock("aws:ec2/getAmi:getAmi")
def _get_ami(i: InvokeCall) -> dict[str, Any]:
    filters = {f.get("name"): f.get("values", []) for f in i.args.get("filters", []) or []}
    name_pattern = (filters.get("name") or [i.args.get("nameRegex", "fleetform-node-*")])[0]
    arch = (filters.get("architecture") or ["x86_64"])[0]
    owners = i.args.get("owners") or ["099720109477"]
    owner = next((o for o in owners if str(o).isdigit()), "099720109477")
    image_id = f"ami-{i.hex(17)}"
    name = re.sub(r"[*?]", "", str(name_pattern)).strip("-_.") + "-20250101"
    return {
        "id": image_id,
        "imageId": image_id,
        "arn": f"arn:aws:ec2:{i.region}::image/{image_id}",
        "name": name,
        "architecture": arch,
        "ownerId": owner,
        "owners": owners,
        "imageOwnerAlias": "amazon" if owner == "amazon" else "",
        "imageLocation": f"{owner}/{name}",
        "imageType": "machine",
        "creationDate": "2025-01-01T00:00:00.000Z",
        "description": f"{name} (fleetform offline mock)",
        "rootDeviceName": "/dev/sda1",
        "rootDeviceType": "ebs",
        "rootSnapshotId": f"snap-{i.hex(17, 'snap')}",
        "virtualizationType": "hvm",
        "hypervisor": "xen",
        "enaSupport": True,
        "bootMode": "uefi-preferred",
        "platformDetails": "Linux/UNIX",
        "usageOperation": "RunInstances",
        "state": "available",
        "public": True,
        "mostRecent": bool(i.args.get("mostRecent", False)),
        "region": i.region,
        "filters": i.args.get("filters", []),
        "tags": {},
        "blockDeviceMappings": [
            {
                "deviceName": "/dev/sda1",
                "ebs": {"volume_size": "8", "volume_type": "gp3", "delete_on_termination": "true"},
                "noDevice": "",
                "virtualName": "",
            }
        ],
        "productCodes": [],
        "stateReason": {"code": "UNSET", "message": "UNSET"},
    }


@invoke_mock("aws:index/getAvailabilityZones:getAvailabilityZones")
def _get_azs(i: InvokeCall) -> dict[str, Any]:
    region = i.region
    excluded = set(i.args.get("excludeNames", []) or [])
    excluded_ids = set(i.args.get("excludeZoneIds", []) or [])
    zones = [
        (f"{region}{letter}", f"{az_id_prefix(region)}-az{n}")
        for n, letter in enumerate("abc", start=1)
    ]
    zones = [(z, zid) for z, zid in zones if z not in excluded and zid not in excluded_ids]
    return {
        "id": region,
        "names": [z for z, _ in zones],
        "zoneIds": [zid for _, zid in zones],
        "groupNames": [region] * len(zones),
        "state": i.args.get("state", "available"),
        "region": region,
    }


@invoke_mock("aws:index/getCallerIdentity:getCallerIdentity")
def _get_caller_identity(_i: InvokeCall) -> dict[str, Any]:
    return {
        "id": ACCOUNT_ID,
        "accountId": ACCOUNT_ID,
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/fleetform-offline",
        "userId": "AIDAFLEETFORMOFFLINE",
    }


@invoke_mock("aws:index/getRegion:getRegion")
def _get_region(i: InvokeCall) -> dict[str, Any]:
    region = str(i.args.get("name") or i.region)
    return {
        "id": region,
        "name": region,
        "region": region,
        "endpoint": f"ec2.{region}.amazonaws.com",
        "description": f"{region} (fleetform offline mock)",
    }


@invoke_mock("aws:route53/getZone:getZone")
def _get_zone(i: InvokeCall) -> dict[str, Any]:
    """An existing hosted zone, found by name or id."""
    name = str(i.args.get("name") or "example.com").rstrip(".")
    zone_id = str(
        i.args.get("zoneId") or "Z" + base64.b32encode(digest("zone", name)).decode()[:20]
    )
    n = int.from_bytes(digest(zone_id, "ns")[:4], "big")
    name_servers = [
        f"ns-{(n + k * 517) % 2048}.awsdns-{(n >> 11) % 64 + k:02d}.{tld}"
        for k, tld in enumerate(["com", "net", "org", "co.uk"])
    ]
    return {
        "id": zone_id,
        "zoneId": zone_id,
        "name": name,
        "arn": f"arn:aws:route53:::hostedzone/{zone_id}",
        "nameServers": name_servers,
        "primaryNameServer": name_servers[0],
        "privateZone": bool(i.args.get("privateZone", False)),
        "vpcId": i.args.get("vpcId", ""),
        "comment": "fleetform offline mock",
        "callerReference": f"fleetform-{zone_id}",
        "resourceRecordSetCount": 2,
        "tags": i.args.get("tags", {}),
        "linkedServiceDescription": "",
        "linkedServicePrincipal": "",
    }


def _one_or_many(values: Iterable[Any]) -> Any:
    """The AWS provider renders a single-element set as a bare string."""
    items = list(values)
    return items[0] if len(items) == 1 else items


def _policy_statement(raw: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if raw.get("sid"):
        out["Sid"] = raw["sid"]
    out["Effect"] = raw.get("effect") or "Allow"
    for key, wire in [
        ("actions", "Action"),
        ("notActions", "NotAction"),
        ("resources", "Resource"),
        ("notResources", "NotResource"),
    ]:
        if raw.get(key):
            out[wire] = _one_or_many(raw[key])
    for key, wire in [("principals", "Principal"), ("notPrincipals", "NotPrincipal")]:
        principals = raw.get(key) or []
        if not principals:
            continue
        if any(p.get("type") == "*" for p in principals):
            out[wire] = "*"
            continue
        by_type: dict[str, list[Any]] = {}
        for p in principals:
            by_type.setdefault(str(p.get("type")), []).extend(p.get("identifiers") or [])
        out[wire] = {t: _one_or_many(ids) for t, ids in by_type.items()}
    conditions = raw.get("conditions") or []
    if conditions:
        cond: dict[str, dict[str, Any]] = {}
        for item in conditions:
            cond.setdefault(str(item.get("test")), {})[str(item.get("variable"))] = _one_or_many(
                item.get("values") or []
            )
        out["Condition"] = cond
    return out


def _merge_by_sid(base: list[dict[str, Any]], extra: list[dict[str, Any]]) -> list[dict[str, Any]]:
    merged = list(base)
    for statement in extra:
        sid = statement.get("Sid")
        index = next((n for n, s in enumerate(merged) if sid and s.get("Sid") == sid), None)
        if index is None:
            merged.append(statement)
        else:
            merged[index] = statement
    return merged


@invoke_mock("aws:iam/getPolicyDocument:getPolicyDocument")
def _get_policy_document(i: InvokeCall) -> dict[str, Any]:
    """A real IAM JSON policy, merged like the provider does (source <- own <- override)."""
    statements: list[dict[str, Any]] = []
    for doc in i.args.get("sourcePolicyDocuments", []) or []:
        statements = _merge_by_sid(statements, json.loads(doc).get("Statement", []))
    statements = _merge_by_sid(
        statements, [_policy_statement(s) for s in i.args.get("statements", []) or []]
    )
    for doc in i.args.get("overridePolicyDocuments", []) or []:
        statements = _merge_by_sid(statements, json.loads(doc).get("Statement", []))
    policy: dict[str, Any] = {"Version": i.args.get("version") or "2012-10-17"}
    if i.args.get("policyId"):
        policy["Id"] = i.args["policyId"]
    policy["Statement"] = statements
    text = json.dumps(policy, indent=2)
    return {
        "id": str(int.from_bytes(digest(text)[:4], "big")),
        "json": text,
        "minifiedJson": json.dumps(policy, separators=(",", ":")),
        "statements": i.args.get("statements", []),
        "version": policy["Version"],
    }

