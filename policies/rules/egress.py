"""The rule on egress per role: etcd members and control-plane machines reach the
internet only on HTTPS/HTTP (packages, releases, cloud APIs), etcd reaches its peers on
the peer port and nothing else inside the network, and control planes reach private
address space (their nodes, pods and mesh peers) only. Workers' egress stays open: it
is their workloads' egress, which network policies inside the cluster govern."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence
from typing import Any

from policies.rules.base import (
    ETCD_PEER_PORT,
    GCP_FIREWALL,
    Context,
    Rule,
    Subject,
    _dict,
    _list,
    _seen,
    registry,
)
from policies.rules.network import _gcp_ranges, _planes, _port_range, _protocol

RULES: list[Rule] = []
rule = registry(RULES)

AWS_SG_EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
AWS_SG = "aws:ec2/securityGroup:SecurityGroup"
AWS_SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
# What etcd and control planes may reach on the internet: HTTPS (cloud APIs, secret
# stores, buckets, release downloads, registries) and HTTP (Ubuntu's apt mirrors).
WEB_PORTS = frozenset({80, 443})
PRIVATE = tuple(ipaddress.ip_network(n) for n in
                ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"))


def _private(cidr: str) -> bool:
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    return any(net.version == p.version and net.subnet_of(p) for p in PRIVATE)  # type: ignore[arg-type]


def _web(protocol: str, ports: tuple[int, int]) -> bool:
    return protocol == "tcp" and ports[0] == ports[1] and ports[0] in WEB_PORTS


def _judge(role: str, protocol: str, ports: tuple[int, int], destinations: list[str],
           peers: set[str]) -> str | None:
    """Why one egress permission of an etcd / control-plane machine is too wide (None: fine)."""
    if _web(protocol, ports):
        return None
    shown = f"{protocol}/{ports[0]}" + ("" if ports[0] == ports[1] else f"-{ports[1]}")
    if role == "etcd":
        if protocol == "tcp" and ports == (ETCD_PEER_PORT, ETCD_PEER_PORT) and destinations and all(
                d in peers or _private(d) for d in destinations):
            return None
        return (f"etcd egress {shown} to {', '.join(destinations) or 'everywhere'}: etcd reaches only tcp/80 and "
                f"tcp/443 outside and its peers on tcp/{ETCD_PEER_PORT}")
    wide = [d for d in destinations if d not in peers and not _private(d)] or ([] if destinations else ["everywhere"])
    if not wide:
        return None
    return (f"control-plane egress {shown} to {', '.join(wide)}: outside private address space only tcp/80 "
            "and tcp/443 are allowed")


def _aws_egress(s: Subject) -> Iterator[tuple[str | None, str, tuple[int, int], list[str]]]:
    i = s.inputs
    if s.type == AWS_SG_EGRESS:
        dest = [str(_seen(i[k], k)) for k in ("referencedSecurityGroupId", "cidrIpv4", "cidrIpv6", "prefixListId")
                if i.get(k)]
        yield (str(_seen(i.get("securityGroupId"), "securityGroupId")), _protocol(i.get("ipProtocol")),
               _port_range(i.get("fromPort"), i.get("toPort")), dest)
    elif s.type == AWS_SG_RULE and i.get("type") == "egress":
        dest = [str(_seen(x, "destination")) for k in ("cidrBlocks", "ipv6CidrBlocks", "prefixListIds")
                for x in _list(i.get(k))]
        if i.get("sourceSecurityGroupId"):
            dest.append(str(_seen(i["sourceSecurityGroupId"], "sourceSecurityGroupId")))
        yield (str(_seen(i.get("securityGroupId"), "securityGroupId")), _protocol(i.get("protocol")),
               _port_range(i.get("fromPort"), i.get("toPort")), dest)


def _role_of(identity: str, worn_by: dict[str, set[tuple[str | None, str]]]) -> str | None:
    roles = {role for role, _ in worn_by.get(identity, set())}
    return "etcd" if "etcd" in roles else "control_plane" if "control_plane" in roles else None


@rule("egress-per-role",
      "etcd members and control-plane machines reach only what they need: tcp/80 and "
      "tcp/443 anywhere, etcd its peers on tcp/2380, control planes private address space "
      "(their cluster and mesh peers). AWS: no wider egress rule on their security groups; "
      "GCP: an egress deny-all on their service accounts below narrower allows.",
      stack=True)
def egress_per_role(subjects: Sequence[Subject], context: Context) -> Iterator[tuple[str, str]]:
    aws, _ = _planes(subjects, "aws")
    gcp, _ = _planes(subjects, "gcp")
    for s in subjects:
        if s.type in (AWS_SG_EGRESS, AWS_SG_RULE):
            for group, protocol, ports, dest in _aws_egress(s):
                role = _role_of(group or "", aws.worn_by)
                if role is None:
                    continue
                peers = set().union(*aws.etcd.values()) if role == "etcd" else set()
                why = _judge(role, protocol, ports, dest, peers)
                if why:
                    yield s.urn, why
        elif s.type == AWS_SG:
            for n, entry in enumerate(_list(s.inputs.get("egress"))):
                e = _dict(entry)
                dest = [str(x) for k in ("cidrBlocks", "ipv6CidrBlocks") for x in _list(e.get(k))]
                tag_role = _dict(s.inputs.get("tags")).get("plane")
                if tag_role in ("etcd", "control_plane"):
                    why = _judge(str(tag_role), _protocol(e.get("protocol")),
                                 _port_range(e.get("fromPort"), e.get("toPort")), dest, set())
                    if why:
                        yield s.urn, f"egress[{n}]: {why}"
    yield from _gcp(subjects, gcp.worn_by)


def _gcp_targets(i: Any) -> list[str]:
    return [str(_seen(x, "targetServiceAccounts")) for x in _list(i.get("targetServiceAccounts"))]


def _gcp(subjects: Sequence[Subject], worn_by: dict[str, set[tuple[str | None, str]]]) -> Iterator[tuple[str, str]]:
    guarded: dict[str, int] = {}  # identity -> priority of its egress deny-all
    allows: list[tuple[Subject, str, int]] = []
    for s in subjects:
        if s.type != GCP_FIREWALL:
            continue
        i = s.inputs
        if str(_seen(i.get("direction"), "direction") or "INGRESS").upper() != "EGRESS" or i.get("disabled") is True:
            continue
        priority = int(_seen(i.get("priority"), "priority") if i.get("priority") is not None else 1000)
        targets = _gcp_targets(i) or sorted(worn_by)  # untargeted: every VM of the network
        ranges = [str(_seen(x, "destinationRanges")) for x in _list(i.get("destinationRanges"))]
        if _list(i.get("denies")) and "0.0.0.0/0" in ranges and any(
                _protocol(_dict(d).get("protocol")) == "all" for d in _list(i.get("denies"))):
            for t in targets:
                guarded[t] = min(priority, guarded.get(t, 65535))
        for t in targets:
            allows.append((s, t, priority))
    identities = {i for i in worn_by if _role_of(i, worn_by) is not None and not i.startswith("tag:")}
    for identity in sorted(identities):
        if identity not in guarded:
            role = _role_of(identity, worn_by)
            yield "", (f"{identity} ({role}) has no egress deny-all firewall rule: GCP's implied rule lets it "
                       "reach everything")
    for s, identity, priority in allows:
        role = _role_of(identity, worn_by)
        if role is None or identity not in guarded or priority >= guarded[identity]:
            continue
        ranges = [str(x) for x in _list(s.inputs.get("destinationRanges"))]
        for allow in _list(s.inputs.get("allows")):
            allow = _dict(allow)
            for ports in _gcp_ranges(allow.get("ports")):
                why = _judge(role, _protocol(allow.get("protocol")), ports, ranges, set())
                if why:
                    yield s.urn, f"{why} ({identity})"
