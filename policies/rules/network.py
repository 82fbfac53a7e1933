"""Network rules over the whole stack: which planes wear which security groups, service
accounts and network tags, and that only a cluster's control plane reaches its etcd."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from policies.rules.base import (
    AWS_MACHINES,
    AWS_SG,
    AWS_SG_INGRESS,
    AWS_SG_RULE,
    ETCD_CLIENT_PORT,
    ETCD_PEER_PORT,
    GCP_FIREWALL,
    GCP_MACHINES,
    Context,
    Rule,
    Subject,
    _dict,
    _list,
    _seen,
    incarnation,
    machine_role,
    registry,
    tags,
)

RULES: list[Rule] = []
rule = registry(RULES)



def _sg_ids(s: Subject) -> list[str]:
    """The security groups an AWS machine (or template) attaches."""
    ids: list[Any] = []
    ids += _list(s.inputs.get("vpcSecurityGroupIds"))
    ids += _list(s.inputs.get("securityGroups"))
    for ni in _list(s.inputs.get("networkInterfaces")):
        ids += _list(_dict(ni).get("securityGroups"))
    return [str(_seen(i, "security group id")) for i in ids]


def _service_accounts(s: Subject) -> list[str]:
    account = s.inputs.get("serviceAccount")
    accounts = account if isinstance(account, list) else [account]
    return [str(_seen(_dict(a).get("email"), "serviceAccount.email")) for a in accounts
            if _dict(a).get("email") is not None]


def _network_tags(s: Subject) -> list[str]:
    value = s.inputs.get("tags")
    return [str(t) for t in value] if isinstance(value, list) else []


@dataclass
class _Planes:
    """Which identities (security groups / service accounts / network tags) each plane of
    each cluster incarnation wears, taken from the machines themselves."""

    etcd: dict[str, set[str]] = field(default_factory=dict)
    control_plane: dict[str, set[str]] = field(default_factory=dict)
    # identity -> every (role, incarnation) that wears it
    worn_by: dict[str, set[tuple[str | None, str]]] = field(default_factory=dict)

    def add(self, identity: str, role: str | None, key: str) -> None:
        self.worn_by.setdefault(identity, set()).add((role, key))
        if role == "etcd":
            self.etcd.setdefault(key, set()).add(identity)
        elif role == "control_plane":
            self.control_plane.setdefault(key, set()).add(identity)

    def only_control_plane(self, key: str) -> set[str]:
        """The control plane's identities that nothing else wears."""
        return {i for i in self.control_plane.get(key, set())
                if self.worn_by.get(i) == {("control_plane", key)}}


def _planes(subjects: Sequence[Subject], cloud: str) -> tuple[_Planes, list[tuple[Subject, str]]]:
    planes = _Planes()
    etcd_machines: list[tuple[Subject, str]] = []
    for s in subjects:
        if s.type not in (AWS_MACHINES if cloud == "aws" else GCP_MACHINES):
            continue
        role = machine_role(s.type, s.inputs, s.options)
        key = incarnation(s.inputs)
        identities = (_sg_ids(s) if cloud == "aws"
                      else _service_accounts(s) + [f"tag:{t}" for t in _network_tags(s)])
        for identity in identities:
            planes.add(identity, role, key)
        if role == "etcd":
            etcd_machines.append((s, key))
    return planes, etcd_machines


def _port_range(low: Any, high: Any) -> tuple[int, int]:
    try:
        lo = int(low)
        hi = int(high) if high is not None else lo
    except (TypeError, ValueError):
        return 0, 65535
    if lo < 0 or hi < 0:
        return 0, 65535  # -1: every port (ICMP types aside)
    return lo, hi


_PROTOCOLS = {"6": "tcp", "17": "udp", "-1": "all", "all": "all", "1": "icmp", "58": "icmpv6"}


def _protocol(value: Any) -> str:
    text = str(value).lower()
    return _PROTOCOLS.get(text, text)


def _judge(protocol: str, ports: tuple[int, int], sources: list[str], etcd: set[str],
           control_plane: set[str], describe: str) -> Iterator[str]:
    """Whether one ingress permission into an etcd member is one etcd allows."""
    if protocol == "tcp" and ports == (ETCD_CLIENT_PORT, ETCD_CLIENT_PORT):
        bad = [s for s in sources if s not in control_plane]
        if bad or not sources:
            yield (f"{describe}: etcd's client port {ETCD_CLIENT_PORT} is open to "
                   f"{', '.join(bad) or 'nothing identifiable'}; only the cluster's own control plane may reach it")
    elif protocol == "tcp" and ports == (ETCD_PEER_PORT, ETCD_PEER_PORT):
        bad = [s for s in sources if s not in etcd]
        if bad or not sources:
            yield (f"{describe}: etcd's peer port {ETCD_PEER_PORT} is open to "
                   f"{', '.join(bad) or 'nothing identifiable'}; only the cluster's etcd members may reach it")
    else:
        shown = f"{ports[0]}" if ports[0] == ports[1] else f"{ports[0]}-{ports[1]}"
        yield (f"{describe}: opens {protocol}/{shown} on an etcd member to {', '.join(sources) or 'everyone'}; "
               f"etcd accepts only {ETCD_CLIENT_PORT} from its control plane and {ETCD_PEER_PORT} from its peers")


def _aws_permissions(s: Subject) -> Iterator[tuple[str | None, str, tuple[int, int], list[str]]]:
    """(target group id or None for the group itself, protocol, ports, sources) per rule."""
    i = s.inputs
    if s.type == AWS_SG_INGRESS:
        sources = [str(_seen(i[k], k)) for k in ("referencedSecurityGroupId", "cidrIpv4", "cidrIpv6", "prefixListId")
                   if i.get(k)]
        yield (str(_seen(i.get("securityGroupId"), "securityGroupId")), _protocol(i.get("ipProtocol")),
               _port_range(i.get("fromPort"), i.get("toPort")), sources)
    elif s.type == AWS_SG_RULE and i.get("type") == "ingress":
        target = str(_seen(i.get("securityGroupId"), "securityGroupId"))
        sources = [str(_seen(x, "source")) for k in ("cidrBlocks", "ipv6CidrBlocks", "prefixListIds")
                   for x in _list(i.get(k))]
        if i.get("sourceSecurityGroupId"):
            sources.append(str(_seen(i["sourceSecurityGroupId"], "sourceSecurityGroupId")))
        if i.get("self"):
            sources.append(target)
        yield target, _protocol(i.get("protocol")), _port_range(i.get("fromPort"), i.get("toPort")), sources
    elif s.type == AWS_SG:
        for entry in _list(i.get("ingress")):
            e = _dict(entry)
            sources = [str(_seen(x, "source")) for k in ("securityGroups", "cidrBlocks", "ipv6CidrBlocks",
                                                       "prefixListIds") for x in _list(e.get(k))]
            if e.get("self"):
                sources.append("self")
            yield None, _protocol(e.get("protocol")), _port_range(e.get("fromPort"), e.get("toPort")), sources


def _gcp_ranges(ports: Any) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for p in _list(ports):
        lo, _, hi = str(p).partition("-")
        out.append(_port_range(lo, hi or lo))
    return out or [(0, 65535)]


@rule("etcd-only-from-control-plane",
      "etcd is reachable only from its own cluster's control plane: on AWS the only ingress "
      "into an etcd member's security groups is tcp/2379 from groups worn by that cluster's "
      "control-plane machines alone (and tcp/2380 among members); on GCP the same with "
      "firewall rules on the planes' service accounts.",
      stack=True)
def etcd_only_from_control_plane(subjects: Sequence[Subject], context: Context) -> Iterator[tuple[str, str]]:
    aws, aws_etcd = _planes(subjects, "aws")
    gcp, _ = _planes(subjects, "gcp")
    for s, _key in aws_etcd:
        if not _sg_ids(s):
            yield s.urn, "an etcd member without a security group of its own (the VPC default group applies)"
    # Security groups tagged as etcd's (inline rules have no id to match on).
    tagged_etcd = {s.urn: incarnation(s.inputs) for s in subjects
                   if s.type == AWS_SG and tags(s.inputs).get("plane") == "etcd"}
    for s in subjects:
        if s.type in (AWS_SG_INGRESS, AWS_SG_RULE, AWS_SG):
            for target, protocol, ports, sources in _aws_permissions(s):
                keys = ([k for k, groups in aws.etcd.items() if target in groups] if target is not None
                        else [tagged_etcd[s.urn]] if s.urn in tagged_etcd else [])
                for key in keys:
                    # "self": an inline rule's own group, which is an etcd group.
                    etcd = aws.etcd.get(key, set()) | {"self"}
                    yield from ((s.urn, m) for m in _judge(
                        protocol, ports, sources, etcd, aws.only_control_plane(key),
                        f"ingress into etcd group {target or 'of ' + key}"))
        elif s.type == GCP_FIREWALL:
            i = s.inputs
            if str(i.get("direction") or "INGRESS").upper() != "INGRESS" or i.get("disabled") is True:
                continue
            targets = [str(_seen(x, "targetServiceAccounts")) for x in _list(i.get("targetServiceAccounts"))]
            targets += [f"tag:{_seen(x, 'targetTags')}" for x in _list(i.get("targetTags"))]
            sources = [str(_seen(x, "sourceServiceAccounts")) for x in _list(i.get("sourceServiceAccounts"))]
            sources += [f"tag:{_seen(x, 'sourceTags')}" for x in _list(i.get("sourceTags"))]
            sources += [str(_seen(x, "sourceRanges")) for x in _list(i.get("sourceRanges"))]
            keys = sorted(k for k, ids in gcp.etcd.items() if not targets or ids & set(targets))
            for key in keys:
                for allow in _list(i.get("allows")):
                    allow = _dict(allow)
                    protocol = _protocol(allow.get("protocol"))
                    for ports in _gcp_ranges(allow.get("ports")):
                        yield from ((s.urn, m) for m in _judge(
                            protocol, ports, sources, gcp.etcd.get(key, set()), gcp.only_control_plane(key),
                            f"firewall into etcd of {key}" + ("" if targets else " (no target: every VM)")))
