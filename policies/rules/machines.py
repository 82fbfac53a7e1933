"""Rules on machines: no public addresses, IMDSv2, encrypted disks, Shielded VMs, no
default service account."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from policies.rules.base import (
    AWS_EIP,
    AWS_EIP_ASSOCIATION,
    AWS_INSTANCE,
    AWS_LAUNCH_CONFIGURATION,
    AWS_LAUNCH_TEMPLATE,
    AWS_MACHINES,
    AWS_SPOT,
    AWS_SUBNET,
    AWS_VOLUME,
    GCP_MACHINES,
    Options,
    Rule,
    _dict,
    _list,
    _seen,
    _truthy,
    registry,
)

RULES: list[Rule] = []
rule = registry(RULES)



@rule("no-public-ip",
      "No machine gets a public IP address; only load balancers and NAT gateways face the "
      "internet (and subnets never hand out public addresses on launch).")
def no_public_ip(type_: str, inputs: Mapping[str, Any], options: Options) -> Iterator[str]:
    if type_ in (AWS_INSTANCE, AWS_SPOT, AWS_LAUNCH_CONFIGURATION):
        value = _seen(inputs.get("associatePublicIpAddress"), "associatePublicIpAddress")
        if value is not False:
            yield ("associatePublicIpAddress is " + ("true" if value else "not set (the subnet decides)")
                   + "; set it to false: machines are reached through the load balancer only")
    elif type_ == AWS_LAUNCH_TEMPLATE:
        interfaces = [_dict(n) for n in _list(_seen(inputs.get("networkInterfaces"), "networkInterfaces"))]
        if not interfaces:
            yield "no networkInterfaces entry sets associatePublicIpAddress=false (the subnet decides)"
        for n, ni in enumerate(interfaces):
            value = _seen(ni.get("associatePublicIpAddress"), f"networkInterfaces[{n}]")
            if str(value).lower() != "false":
                yield f"networkInterfaces[{n}].associatePublicIpAddress is {value!r}; set it to 'false'"
    elif type_ == AWS_SUBNET:
        if _seen(inputs.get("mapPublicIpOnLaunch"), "mapPublicIpOnLaunch") is True:
            yield "mapPublicIpOnLaunch is true: every instance launched here gets a public IP"
    elif type_ == AWS_EIP:
        for prop in ("instance", "networkInterface", "associateWithPrivateIp"):
            if inputs.get(prop):
                yield (f"an Elastic IP bound to a machine ({prop}); public addresses belong to NAT "
                       "gateways and load balancers only")
    elif type_ == AWS_EIP_ASSOCIATION:
        yield "an Elastic IP association gives a machine a public address"
    elif type_ in GCP_MACHINES:
        interfaces = _list(_seen(inputs.get("networkInterfaces"), "networkInterfaces"))
        for n, ni in enumerate(interfaces):
            ni = _dict(ni)
            if _list(ni.get("accessConfigs")):
                yield f"networkInterfaces[{n}].accessConfigs gives the VM an external IP; remove it"
            if _list(ni.get("ipv6AccessConfigs")):
                yield f"networkInterfaces[{n}].ipv6AccessConfigs gives the VM an external IPv6 address"


@rule("imdsv2-required",
      "EC2 instances and launch templates require IMDSv2 session tokens "
      "(metadataOptions.httpTokens = required).")
def imdsv2_required(type_: str, inputs: Mapping[str, Any], options: Options) -> Iterator[str]:
    if type_ not in AWS_MACHINES:
        return
    metadata = _dict(_seen(inputs.get("metadataOptions"), "metadataOptions"))
    if _seen(metadata.get("httpEndpoint"), "metadataOptions.httpEndpoint") == "disabled":
        return
    tokens = _seen(metadata.get("httpTokens"), "metadataOptions.httpTokens")
    if tokens != "required":
        yield (f"metadataOptions.httpTokens is {tokens!r}" if tokens else "metadataOptions.httpTokens is not set")\
            + ": IMDSv1 lets any SSRF read the node's credentials; set it to 'required'"


@rule("encrypted-disks",
      "Every EBS volume, instance root/data volume and launch-template block device is "
      "encrypted. (GCP encrypts every persistent disk with Google-managed keys; nothing "
      "to check.)")
def encrypted_disks(type_: str, inputs: Mapping[str, Any], options: Options) -> Iterator[str]:
    if type_ == AWS_VOLUME:
        if not _truthy(_seen(inputs.get("encrypted"), "encrypted")):
            yield "the volume is not encrypted; set encrypted=true"
    elif type_ in (AWS_INSTANCE, AWS_SPOT, AWS_LAUNCH_CONFIGURATION):
        root = _seen(inputs.get("rootBlockDevice"), "rootBlockDevice")
        if root is None:
            yield "no rootBlockDevice: the root volume takes the AMI's (unencrypted) default; set encrypted=true"
        elif not _truthy(_seen(_dict(root).get("encrypted"), "rootBlockDevice.encrypted")):
            yield "rootBlockDevice is not encrypted"
        for n, dev in enumerate(_list(inputs.get("ebsBlockDevices"))):
            if not _truthy(_seen(_dict(dev).get("encrypted"), f"ebsBlockDevices[{n}].encrypted")):
                yield f"ebsBlockDevices[{n}] is not encrypted"
    elif type_ == AWS_LAUNCH_TEMPLATE:
        mappings = _list(_seen(inputs.get("blockDeviceMappings"), "blockDeviceMappings"))
        if not mappings:
            yield "no blockDeviceMappings: the root volume takes the AMI's (unencrypted) default"
        for n, mapping in enumerate(mappings):
            ebs = _dict(mapping).get("ebs")
            if ebs is not None and not _truthy(_seen(_dict(ebs).get("encrypted"),
                                                      f"blockDeviceMappings[{n}].ebs.encrypted")):
                yield f"blockDeviceMappings[{n}].ebs is not encrypted"


@rule("gcp-shielded-vm",
      "GCP machines boot as Shielded VMs: secure boot, vTPM and integrity monitoring on.")
def gcp_shielded_vm(type_: str, inputs: Mapping[str, Any], options: Options) -> Iterator[str]:
    if type_ not in GCP_MACHINES:
        return
    config = _seen(inputs.get("shieldedInstanceConfig"), "shieldedInstanceConfig")
    if config is None:
        yield "no shieldedInstanceConfig: secure boot is off by default; enable secure boot, vTPM and integrity monitoring"
        return
    config = _dict(config)
    if _seen(config.get("enableSecureBoot"), "enableSecureBoot") is not True:
        yield "shieldedInstanceConfig.enableSecureBoot is not true"
    for key in ("enableVtpm", "enableIntegrityMonitoring"):
        if _seen(config.get(key), key) is False:
            yield f"shieldedInstanceConfig.{key} is false"


_DEFAULT_ACCOUNT = re.compile(r"^(default|\d+-compute@developer\.gserviceaccount\.com|.+@appspot\.gserviceaccount\.com)$")


@rule("no-default-service-account",
      "GCP machines run as a dedicated, least-privilege service account, never the "
      "project's default compute service account.")
def no_default_service_account(type_: str, inputs: Mapping[str, Any], options: Options) -> Iterator[str]:
    if type_ not in GCP_MACHINES:
        return
    account = _seen(inputs.get("serviceAccount"), "serviceAccount")
    email_ = _seen(_dict(account).get("email"), "serviceAccount.email")
    if not email_:
        yield ("no serviceAccount.email: name the plane's own service account (tools attach the "
               "default compute service account, an Editor of the project, when none is named)")
    elif _DEFAULT_ACCOUNT.match(str(email_)):
        yield f"runs as the default service account {email_!r}; use the plane's own service account"
