"""Building blocks of the stack-file models: the strict base model and the value types
(DNS labels and names, CIDRs, label maps) shared by every section of the format."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict

API_VERSION = "fleetform/v1"
CNI_PLUGINS: tuple[str, ...] = ("cilium", "calico", "flannel")
ETCD_MEMBER_COUNTS: tuple[int, ...] = (1, 3, 5, 7)

_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_LABEL_KEY = re.compile(r"^([a-z0-9.-]{1,253}/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


def _dns_label(v: str) -> str:
    if not _DNS_LABEL.match(v):
        raise ValueError(
            f"{v!r} is not a DNS-1123 label (lowercase letters, digits and '-', "
            "starting with a letter, at most 63 characters)"
        )
    return v


def _dns_name(v: str) -> str:
    if not _DNS_NAME.match(v):
        raise ValueError(f"{v!r} is not a lowercase DNS name like 'fleet.example.com'")
    return v


def _cidr(v: str) -> str:
    try:
        net = ipaddress.ip_network(v, strict=True)
    except ValueError as exc:
        raise ValueError(f"{v!r} is not a valid IPv4 CIDR ({exc})") from None
    if net.version != 4:
        raise ValueError(f"{v!r} is not an IPv4 CIDR (IPv6 is not supported yet)")
    return str(net)


def _labels(v: dict[str, str]) -> dict[str, str]:
    for key in v:
        if not _LABEL_KEY.match(key):
            raise ValueError(f"{key!r} is not a valid label key")
    return v


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
DnsName = Annotated[str, AfterValidator(_dns_name)]
Cidr = Annotated[str, AfterValidator(_cidr)]
Labels = Annotated[dict[str, str], AfterValidator(_labels)]
Cloud = Literal["aws", "gcp"]
CniPlugin = Literal["cilium", "calico", "flannel"]


class Model(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


