"""fleetform's security rules, as pure functions over resource data.

The same functions run in two places:

* under ``pulumi preview|up --policy-pack policies`` (Pulumi CrossGuard), wrapped by
  ``policies/pack.py`` into ``ResourceValidationPolicy`` / ``StackValidationPolicy``;
* inside ``fleetform plan``, over the resources the offline engine recorded
  (``fleetform/engine/policy.py``).

A *resource rule* is ``check(type, inputs, options) -> iterable of messages``; a *stack
rule* is ``check(subjects, context) -> iterable of (urn, message)`` for the rules that
relate resources to each other (which security group belongs to which plane, which key
signs the root CA). Rules read plain data only: dicts, lists, strings, numbers, booleans.
A value that is not known yet (a preview) or hidden (a masked secret) raises
``Unknown``; callers report that the rule could not run rather than pass or fail it.

Nothing here imports Pulumi. Every rule is documented in ``docs/security.md``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import email
import functools
import gzip
import re
import shlex
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

__all__ = [
    "MASKED",
    "RULES",
    "UNKNOWN",
    "Context",
    "Options",
    "Rule",
    "Subject",
    "Unknown",
    "cloud_config_files",
    "machine_role",
    "rule",
    "user_data_texts",
]


# ---------------------------------------------------------------- values we cannot see


class _UnknownValue:
    """A value the engine does not know yet (``pulumi preview`` of a new resource)."""

    _instance: _UnknownValue | None = None

    def __new__(cls) -> _UnknownValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN: Any = _UnknownValue()
# How the offline engine shows a secret input (fleetform.engine.records.SECRET_MASK).
MASKED = "[secret]"


class Unknown(Exception):
    """A rule needed a value that is unknown (preview) or masked (secret)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def _seen(value: Any, what: str) -> Any:
    if value is UNKNOWN or value == MASKED:
        raise Unknown(what)
    return value


# ---------------------------------------------------------------- what a rule sees


@dataclass(frozen=True)
class Options:
    """The resource options and graph facts a rule may use."""

    urn: str = ""
    name: str = ""
    parent: str | None = None
    protect: bool = False
    dependencies: tuple[str, ...] = ()
    # property name -> URNs its value came from (CrossGuard stack validation knows them).
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # True when secret values are masked in ``inputs`` (the offline engine): every other
    # string is then known to be stored in plain text and may be scanned for secrets.
    secrets_masked: bool = False


@dataclass(frozen=True)
class Subject:
    """One resource: its type, its properties and its options."""

    type: str
    inputs: Mapping[str, Any]
    options: Options

    @property
    def urn(self) -> str:
        return self.options.urn


@dataclass(frozen=True)
class Context:
    """Stack-wide facts that are not resource data."""

    # Clusters (names or incarnation keys) with ``decommission: true``: their etcd data
    # disks are deliberately unprotected (step one of the two-step removal).
    decommissioning: frozenset[str] = frozenset()


ResourceCheck = Callable[[str, Mapping[str, Any], Options], Iterable[str]]
StackCheck = Callable[[Sequence[Subject], Context], Iterable[tuple[str, str]]]


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    # Which promise of docs/security.md the rule keeps, and the CIS items it covers.
    cis: tuple[str, ...] = ()
    enforcement: str = "mandatory"
    resource_check: ResourceCheck | None = None
    stack_check: StackCheck | None = None


RULES: list[Rule] = []


def rule(name: str, description: str, *, cis: Sequence[str] = (), stack: bool = False,
         enforcement: str = "mandatory") -> Callable[[Any], Any]:
    """Register a check function as a rule (``stack=True``: a stack rule)."""

    def register(fn: Any) -> Any:
        RULES.append(Rule(
            name=name, description=description, cis=tuple(cis), enforcement=enforcement,
            resource_check=None if stack else fn, stack_check=fn if stack else None))
        return fn

    return register


# ---------------------------------------------------------------- resource facts

AWS_INSTANCE = "aws:ec2/instance:Instance"
AWS_SPOT = "aws:ec2/spotInstanceRequest:SpotInstanceRequest"
AWS_LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
AWS_LAUNCH_CONFIGURATION = "aws:ec2/launchConfiguration:LaunchConfiguration"
AWS_VOLUME = "aws:ebs/volume:Volume"
AWS_VOLUME_ATTACHMENT = "aws:ec2/volumeAttachment:VolumeAttachment"
AWS_SG = "aws:ec2/securityGroup:SecurityGroup"
AWS_SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
AWS_SG_INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
AWS_SUBNET = "aws:ec2/subnet:Subnet"
AWS_EIP = "aws:ec2/eip:Eip"
AWS_EIP_ASSOCIATION = "aws:ec2/eipAssociation:EipAssociation"
GCP_INSTANCE = "gcp:compute/instance:Instance"
GCP_TEMPLATE = "gcp:compute/instanceTemplate:InstanceTemplate"
GCP_REGION_TEMPLATE = "gcp:compute/regionInstanceTemplate:RegionInstanceTemplate"
GCP_FROM_TEMPLATE = "gcp:compute/instanceFromTemplate:InstanceFromTemplate"
GCP_DISK = "gcp:compute/disk:Disk"
GCP_REGION_DISK = "gcp:compute/regionDisk:RegionDisk"
GCP_FIREWALL = "gcp:compute/firewall:Firewall"
TLS_SELF_SIGNED = "tls:index/selfSignedCert:SelfSignedCert"
TLS_PRIVATE_KEY = "tls:index/privateKey:PrivateKey"

AWS_MACHINES = frozenset({AWS_INSTANCE, AWS_SPOT, AWS_LAUNCH_TEMPLATE, AWS_LAUNCH_CONFIGURATION})
GCP_MACHINES = frozenset({GCP_INSTANCE, GCP_TEMPLATE, GCP_REGION_TEMPLATE, GCP_FROM_TEMPLATE})
MACHINES = AWS_MACHINES | GCP_MACHINES
ETCD_DISKS = frozenset({AWS_VOLUME, GCP_DISK, GCP_REGION_DISK})

ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
ROLES = ("etcd", "control_plane", "worker")
_PLANE_COMPONENTS = {
    "fleetform:index:EtcdDataPlane": "etcd",
    "fleetform:index:ControlPlane": "control_plane",
    "fleetform:index:WorkerPlane": "worker",
}


def urn_type(urn: str) -> str:
    """The resource's own type token from its URN ('' if it is no URN)."""
    parts = urn.split("::")
    return parts[2].split("$")[-1] if len(parts) >= 4 else ""


def ancestry(urn: str) -> tuple[str, ...]:
    """The type tokens of the resource's parents, outermost first, then its own."""
    parts = urn.split("::")
    return tuple(parts[2].split("$")) if len(parts) >= 4 else ()


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    if isinstance(value, list | tuple):
        return list(value)
    return [] if value is None else [value]


def tags(inputs: Mapping[str, Any]) -> dict[str, str]:
    """AWS tags (``tagsAll`` under ``tags``) or GCP labels, as strings."""
    merged: dict[str, str] = {}
    for key in ("tagsAll", "tags", "labels"):
        for k, v in _dict(inputs.get(key)).items():
            if isinstance(v, str):
                merged[str(k)] = v
    return merged


def machine_role(type_: str, inputs: Mapping[str, Any], options: Options) -> str | None:
    """etcd / control_plane / worker, from fleetform's ``plane`` tag or the component tree."""
    plane = tags(inputs).get("plane")
    if plane in ROLES:
        return plane
    if "etcd-member" in tags(inputs):
        return "etcd"
    for component in reversed(ancestry(options.urn)):
        if component in _PLANE_COMPONENTS:
            return _PLANE_COMPONENTS[component]
    return None


def incarnation(inputs: Mapping[str, Any]) -> str:
    t = tags(inputs)
    return t.get("incarnation") or t.get("cluster") or ""


# ---------------------------------------------------------------- user-data

# (property, encoding) of each machine type's user-data.
_USER_DATA: dict[str, tuple[tuple[str, str], ...]] = {
    AWS_INSTANCE: (("userData", "text"), ("userDataBase64", "base64")),
    AWS_SPOT: (("userData", "text"), ("userDataBase64", "base64")),
    AWS_LAUNCH_CONFIGURATION: (("userData", "text"), ("userDataBase64", "base64")),
    # The provider sends a launch template's user data as given: base64 (EC2's format).
    AWS_LAUNCH_TEMPLATE: (("userData", "base64"),),
}
_GCP_USER_DATA_KEYS = ("user-data", "startup-script")


def _decode_blob(raw: bytes) -> str:
    if raw[:2] == b"\x1f\x8b":
        with contextlib.suppress(OSError, EOFError):
            raw = gzip.decompress(raw)
    return raw.decode("utf-8", errors="replace")


def _decode(value: str, encoding: str) -> str:
    if encoding == "base64":
        try:
            return _decode_blob(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            return value  # not base64 after all: EC2 would take it as text
    return value


def user_data_texts(type_: str, inputs: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(property, decoded text) of every user-data a machine boots with.

    AWS: ``userData`` (text) / ``userDataBase64`` (base64, gzip inside when compressed);
    launch templates: ``userData`` (base64, gzip inside). GCP: ``metadata["user-data"]``,
    ``metadata["startup-script"]`` and ``metadataStartupScript``. Raises ``Unknown``
    when one is not known or masked.
    """
    out: list[tuple[str, str]] = []
    for prop, encoding in _USER_DATA.get(type_, ()):
        value = inputs.get(prop)
        if value is None or value == "":
            continue
        _seen(value, prop)
        if isinstance(value, str):
            out.append((prop, _decode(value, encoding)))
    if type_ in GCP_MACHINES:
        metadata = inputs.get("metadata")
        _seen(metadata, "metadata")
        for key in _GCP_USER_DATA_KEYS:
            value = _dict(metadata).get(key)
            if value is not None:
                _seen(value, f"metadata.{key}")
                out.append((f"metadata.{key}", str(value)))
        script = inputs.get("metadataStartupScript")
        if script is not None:
            _seen(script, "metadataStartupScript")
            out.append(("metadataStartupScript", str(script)))
    return out


def _write_file_content(entry: Mapping[str, Any]) -> str:
    content = entry.get("content")
    if not isinstance(content, str):
        return ""
    encoding = str(entry.get("encoding") or "").lower()
    try:
        raw: bytes = content.encode()
        if "b64" in encoding or "base64" in encoding:
            raw = base64.b64decode(content)
        if "gz" in encoding:
            raw = gzip.decompress(raw)
        return raw.decode("utf-8", errors="replace")
    except (binascii.Error, ValueError, OSError, EOFError):
        return content


def _parts(text: str) -> list[str]:
    """The documents inside a user-data: MIME multi-part archives are unpacked."""
    head = text.lstrip()[:200].lower()
    if not (head.startswith("content-type: multipart") or head.startswith("mime-version")):
        return [text]
    message = email.message_from_string(text)
    parts: list[str] = []
    for part in message.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            parts.append(_decode_blob(payload))
    return parts


@functools.lru_cache(maxsize=512)
def cloud_config_files(text: str) -> tuple[tuple[str, str], ...]:
    """(path, content) of every ``write_files`` entry of the cloud-config(s) in ``text``."""
    files: list[tuple[str, str]] = []
    for part in _parts(text):
        if not part.lstrip().startswith("#cloud-config"):
            continue
        try:
            doc = yaml.safe_load(part)
        except yaml.YAMLError:
            continue
        for entry in _list(_dict(doc).get("write_files")):
            if isinstance(entry, Mapping) and isinstance(entry.get("path"), str):
                files.append((entry["path"], _write_file_content(entry)))
    return tuple(files)


@functools.lru_cache(maxsize=2048)
def yaml_documents(content: str) -> tuple[Mapping[str, Any], ...]:
    """The mapping documents of a (possibly multi-document) YAML file; () if it is none."""
    if ":" not in content:
        return ()
    try:
        return tuple(d for d in yaml.safe_load_all(content) if isinstance(d, Mapping))
    except yaml.YAMLError:
        return ()


@dataclass(frozen=True)
class BootFiles:
    """The files a machine's user-data writes, and what is rendered from templates."""

    files: Mapping[str, str]
    # destination -> template, from ``ff_render_template SRC DST`` lines of the scripts
    rendered_from: Mapping[str, str]

    def content(self, path: str) -> str | None:
        if path in self.files:
            return self.files[path]
        template = self.rendered_from.get(path)
        return self.files.get(template) if template is not None else None

    def documents(self, kind: str) -> list[tuple[str, Mapping[str, Any]]]:
        return [(path, doc) for path, content in sorted(self.files.items())
                for doc in yaml_documents(content) if doc.get("kind") == kind]

    def documents_at(self, path: str, kind: str) -> list[Mapping[str, Any]]:
        content = self.content(path)
        return [d for d in yaml_documents(content or "") if d.get("kind") == kind]


_RENDER = re.compile(r"ff_render_template\s+(\S+)\s+(\S+)")


def boot_files(type_: str, inputs: Mapping[str, Any]) -> BootFiles:
    files: dict[str, str] = {}
    for _, text in user_data_texts(type_, inputs):
        files.update(cloud_config_files(text))
    rendered = {dst: src for content in files.values() for src, dst in _RENDER.findall(content)}
    return BootFiles(files, rendered)


# ---------------------------------------------------------------- rules: machines


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


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


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


# ---------------------------------------------------------------- rules: bootstrap documents

# Anonymous requests the API server may answer (kubeadm's probes, load-balancer checks
# and bootstrap-token discovery); see fleetform/bootstrap/kubeadm.py.
ANONYMOUS_PATHS = frozenset({
    "/healthz", "/livez", "/readyz",
    "/api/v1/namespaces/kube-public/configmaps/cluster-info",
})
STRONG_PROVIDERS = frozenset({"aescbc", "aesgcm", "secretbox", "kms"})
AUDIT_MINIMUMS = (("audit-log-maxage", 30, "CIS 1.2.17"), ("audit-log-maxbackup", 10, "CIS 1.2.18"),
                  ("audit-log-maxsize", 100, "CIS 1.2.19"))


def _flags(cluster_configuration: Mapping[str, Any]) -> dict[str, list[str]]:
    """apiServer.extraArgs of a kubeadm ClusterConfiguration (v1beta4 list or v1beta3 map)."""
    raw = _dict(cluster_configuration.get("apiServer")).get("extraArgs")
    flags: dict[str, list[str]] = {}
    if isinstance(raw, Mapping):
        for k, v in raw.items():
            flags.setdefault(str(k), []).append(str(v))
    else:
        for item in _list(raw):
            item = _dict(item)
            if "name" in item:
                flags.setdefault(str(item["name"]), []).append(str(item.get("value", "")))
    return flags


def _is_control_plane_join(doc: Mapping[str, Any]) -> bool:
    return doc.get("kind") == "JoinConfiguration" and doc.get("controlPlane") is not None


@dataclass(frozen=True)
class ApiServerView:
    """What a control-plane machine's user-data says about its API server."""

    files: BootFiles
    flags: dict[str, list[str]] | None  # None: a joining replica (flags live in the cluster)


def api_server_view(type_: str, inputs: Mapping[str, Any], options: Options) -> ApiServerView | None:
    """The API server a machine runs, or None if it runs none (etcd members, workers)."""
    if type_ not in MACHINES:
        return None
    role = machine_role(type_, inputs, options)
    if role in ("etcd", "worker"):
        return None
    files = boot_files(type_, inputs)
    configs = files.documents("ClusterConfiguration")
    joins = [d for _, d in files.documents("JoinConfiguration") if _is_control_plane_join(d)]
    if configs:
        flags: dict[str, list[str]] = {}
        for _, doc in configs:
            for k, v in _flags(doc).items():
                flags.setdefault(k, []).extend(v)
        return ApiServerView(files, flags)
    if joins or role == "control_plane":
        return ApiServerView(files, None)
    return None


def _no_kubeadm(view: ApiServerView) -> Iterator[str]:
    if view.flags is None and not view.files.documents("JoinConfiguration"):
        yield "a control-plane machine without a kubeadm configuration in its user-data: nothing proves how its API server runs"


def _check_authn(doc: Mapping[str, Any], where: str) -> Iterator[str]:
    anonymous = _dict(doc.get("anonymous"))
    if anonymous.get("enabled") is False:
        return
    if not anonymous:
        yield f"{where} has no 'anonymous' section: anonymous requests are allowed everywhere"
        return
    paths = [str(_dict(c).get("path")) for c in _list(anonymous.get("conditions"))]
    if not paths:
        yield f"{where} enables anonymous requests without conditions (every path)"
    for path in paths:
        if path not in ANONYMOUS_PATHS:
            yield f"{where} allows anonymous requests to {path!r}; only health endpoints and cluster-info may be anonymous"


def _anonymous_files(view: ApiServerView) -> Iterator[str]:
    docs = view.files.documents("AuthenticationConfiguration")
    if not docs:
        yield "no AuthenticationConfiguration file: anonymous requests would be allowed to every path"
    for path, doc in docs:
        yield from _check_authn(doc, path)


@rule("apiserver-anonymous-auth",
      "The API server answers anonymous requests only on its health endpoints and "
      "cluster-info: a structured AuthenticationConfiguration (--authentication-config) "
      "with anonymous access limited by path conditions, or --anonymous-auth=false.",
      cis=("1.2.1",))
def apiserver_anonymous_auth(type_: str, inputs: Mapping[str, Any], options: Options) -> Iterator[str]:
    view = api_server_view(type_, inputs, options)
    if view is None:
        return
    yield from _no_kubeadm(view)
    if view.flags is None:  # a joining replica: its API server mounts the same files
        if view.files.documents("JoinConfiguration"):
            yield from _anonymous_files(view)
        return
    anonymous = view.flags.get("anonymous-auth", [])
    authn = view.flags.get("authentication-config", [])
    if any(v.lower() != "false" for v in anonymous):
        yield f"--anonymous-auth={anonymous[-1]}"
    if authn:
        docs = view.files.documents_at(authn[-1], "AuthenticationConfiguration")
        if not docs:
            yield f"--authentication-config={authn[-1]} but the user-data writes no AuthenticationConfiguration there"
        for doc in docs:
            if anonymous and "anonymous" in doc:
                yield (f"--anonymous-auth is set and {authn[-1]} configures anonymous access too; "
                       "the API server refuses to start with both")
            elif not anonymous:  # with the flag (false) and no section, the flag decides
                yield from _check_authn(doc, authn[-1])
    elif not anonymous:
        yield ("neither --authentication-config nor --anonymous-auth=false: anonymous requests "
               "reach every path (the flag defaults to true)")


def _audit_policy_problems(doc: Mapping[str, Any], where: str) -> Iterator[str]:
    levels = [str(_dict(r).get("level", "")) for r in _list(doc.get("rules"))]
    if not levels:
        yield f"{where}: the audit policy has no rules (nothing is logged)"
    elif all(level == "None" for level in levels):
        yield f"{where}: every audit rule has level None (nothing is logged)"


def _configured_files(view: ApiServerView, kind: str, path: str | None, missing: str,
                      check: Callable[[Mapping[str, Any], str], Iterator[str]]) -> Iterator[str]:
    """The API server's documents of ``kind``: at ``path`` (its flag's value), or for a
    joining replica (no flags of its own) wherever its user-data writes them; ``missing``
    when there are none, then ``check(doc, where)`` on each."""
    if path is None:
        if not view.files.documents("JoinConfiguration"):
            return
        found = list(view.files.documents(kind))
    else:
        found = [(path, doc) for doc in view.files.documents_at(path, kind)]
    if not found:
        yield missing
    for where, doc in found:
        yield from check(doc, where)


@rule("apiserver-audit-logging",
      "The API server writes an audit log with a policy that records every request at "
      "Metadata level or above, and keeps it (max age, backups, size).",
      cis=("1.2.16", "1.2.17", "1.2.18", "1.2.19", "3.2.1"))
def apiserver_audit_logging(type_: str, inputs: Mapping[str, Any], options: Options) -> Iterator[str]:
    view = api_server_view(type_, inputs, options)
    if view is None:
        return
    yield from _no_kubeadm(view)
    if view.flags is None:
        yield from _configured_files(view, "Policy", None, "no audit Policy file for the API server's "
                                     "--audit-policy-file", _audit_policy_problems)
        return
    if not view.flags.get("audit-log-path"):
        yield "--audit-log-path is not set: no audit log is written"
    policy = view.flags.get("audit-policy-file")
    if not policy:
        yield "--audit-policy-file is not set: the API server audits nothing"
    else:
        yield from _configured_files(view, "Policy", policy[-1], f"--audit-policy-file={policy[-1]} but the "
                                     "user-data writes no audit Policy there", _audit_policy_problems)
    for flag, minimum, cis in AUDIT_MINIMUMS:
        values = view.flags.get(flag)
        if not values:
            yield f"--{flag} is not set ({cis}: at least {minimum})"
            continue
        try:
            ok = int(values[-1]) >= minimum
        except ValueError:
            ok = False
        if not ok:
            yield f"--{flag}={values[-1]} ({cis}: at least {minimum})"


def _encryption_problems(doc: Mapping[str, Any], where: str) -> Iterator[str]:
    covered = False
    for entry in _list(doc.get("resources")):
        entry = _dict(entry)
        names = {str(r) for r in _list(entry.get("resources"))}
        if not names & {"secrets", "*.", "*.*"}:
            continue
        covered = True
        providers = [_dict(p) for p in _list(entry.get("providers"))]
        first = next(iter(providers[0]), None) if providers else None
        if first not in STRONG_PROVIDERS:
            yield (f"{where}: Secrets are written with provider {first!r}; the first provider must be "
                   f"one of {', '.join(sorted(STRONG_PROVIDERS))}")
        if first in ("aescbc", "aesgcm", "secretbox") and not _list(_dict(providers[0][first]).get("keys")):
            yield f"{where}: the {first} provider has no keys"
    if not covered:
        yield f"{where}: no entry encrypts 'secrets'"


@rule("apiserver-secrets-encryption",
      "The API server encrypts Secrets at rest (--encryption-provider-config naming an "
      "EncryptionConfiguration whose first provider for secrets is a real cipher).",
      cis=("1.2.27", "1.2.28"))
def apiserver_secrets_encryption(type_: str, inputs: Mapping[str, Any], options: Options) -> Iterator[str]:
    view = api_server_view(type_, inputs, options)
    if view is None:
        return
    yield from _no_kubeadm(view)
    if view.flags is None:
        yield from _configured_files(view, "EncryptionConfiguration", None, "no EncryptionConfiguration for "
                                     "the API server's --encryption-provider-config", _encryption_problems)
        return
    config = view.flags.get("encryption-provider-config")
    if not config:
        yield "--encryption-provider-config is not set: Secrets are stored in etcd in clear"
        return
    yield from _configured_files(view, "EncryptionConfiguration", config[-1],
                                 f"--encryption-provider-config={config[-1]} but the user-data neither writes "
                                 "an EncryptionConfiguration there nor renders one to it", _encryption_problems)


# etcd reads only its config file when --config-file is given (flags and ETCD_* variables
# are then ignored), so the file is what counts.
_ETCD_EXEC = re.compile(r"^ExecStart=(.*\betcd\b.*)$", re.MULTILINE)


def _etcd_config(files: BootFiles) -> tuple[str, Mapping[str, Any]] | None:
    for content in files.files.values():
        for line in _ETCD_EXEC.findall(content):
            try:
                argv = shlex.split(line)
            except ValueError:
                continue
            for n, arg in enumerate(argv):
                path = None
                if arg == "--config-file" and n + 1 < len(argv):
                    path = argv[n + 1]
                elif arg.startswith("--config-file="):
                    path = arg.split("=", 1)[1]
                if path is not None:
                    docs = yaml_documents(files.content(path) or "")
                    return (path, docs[0]) if docs else (path, {})
    for path, content in sorted(files.files.items()):
        for doc in yaml_documents(content):
            if "data-dir" in doc and ("listen-client-urls" in doc or "initial-cluster" in doc):
                return path, doc
    return None


def _urls(value: Any) -> list[str]:
    return [u.strip() for u in str(value or "").split(",") if u.strip()]


_LOOPBACK = re.compile(r"^http://(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?/?$")


def _etcd_member_problems(path: str, config: Mapping[str, Any]) -> Iterator[str]:
    if not config:
        yield f"the etcd unit reads {path}, which the user-data does not write"
        return
    for section, what, cis in (("client-transport-security", "client", ("2.1", "2.2", "2.3")),
                               ("peer-transport-security", "peer", ("2.4", "2.5", "2.6"))):
        tls = _dict(config.get(section))
        for key in ("cert-file", "key-file", "trusted-ca-file"):
            if not tls.get(key):
                yield f"{path}: {section}.{key} is not set (CIS {cis[0]})"
        if tls.get("client-cert-auth") is not True:
            yield f"{path}: {section}.client-cert-auth is not true: {what}s without a certificate are accepted (CIS {cis[1]})"
        if tls.get("auto-tls") is True:
            yield f"{path}: {section}.auto-tls is true: self-signed certificates (CIS {cis[2]})"
    for key in ("listen-client-urls", "advertise-client-urls", "listen-peer-urls",
                "initial-advertise-peer-urls"):
        for url in _urls(config.get(key)):
            if not url.startswith("https://"):
                yield f"{path}: {key} has {url!r}; etcd must speak TLS only"
    for url in _urls(config.get("listen-metrics-urls")):
        if not (url.startswith("https://") or _LOOPBACK.match(url)):
            yield f"{path}: listen-metrics-urls exposes {url!r} without TLS beyond loopback"


def _apiserver_etcd_problems(view: ApiServerView) -> Iterator[str]:
    for path, doc in view.files.documents("ClusterConfiguration"):
        etcd = _dict(doc.get("etcd"))
        if "local" in etcd:
            yield f"{path}: kubeadm runs a stacked (local) etcd; fleetform's etcd is a dedicated plane"
        external = _dict(etcd.get("external"))
        if not external:
            continue
        for key, cis in (("caFile", "1.2.26"), ("certFile", "1.2.23"), ("keyFile", "1.2.23")):
            if not external.get(key):
                yield f"{path}: etcd.external.{key} is not set: the API server cannot authenticate to etcd (CIS {cis})"
        for url in _list(external.get("endpoints")):
            if not str(url).startswith("https://"):
                yield f"{path}: etcd endpoint {url!r} is not https"
        ca = view.files.content(str(external.get("caFile", "")))
        cert_dir = str(doc.get("certificatesDir") or "/etc/kubernetes/pki")
        kube_ca = view.files.content(f"{cert_dir}/ca.crt")
        if ca and kube_ca and ca.strip() == kube_ca.strip():
            yield f"{path}: etcd trusts the Kubernetes CA; etcd needs a CA of its own (CIS 2.7)"


@rule("etcd-cert-auth",
      "etcd members require client and peer certificates (client-cert-auth on both "
      "listeners, no auto-TLS, TLS-only URLs), and API servers reach etcd with a client "
      "certificate from etcd's own CA.",
      cis=("2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "2.7", "1.2.23", "1.2.26"))
def etcd_cert_auth(type_: str, inputs: Mapping[str, Any], options: Options) -> Iterator[str]:
    if type_ not in MACHINES:
        return
    role = machine_role(type_, inputs, options)
    if role == "worker":
        return
    files = boot_files(type_, inputs)
    found = _etcd_config(files)
    if found is not None:
        yield from _etcd_member_problems(*found)
    elif role == "etcd":
        yield "an etcd member whose user-data carries no etcd configuration: nothing proves TLS client/peer auth"
    view = api_server_view(type_, inputs, options)
    if view is not None:
        yield from _apiserver_etcd_problems(view)


# ---------------------------------------------------------------- rules: secrets

_PEM_KEY = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")
_B64_PEM = re.compile(r"LS0tLS1CRUdJTi[A-Za-z0-9+/]{16,}={0,2}")
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a kubeadm bootstrap token", re.compile(r"(?<![A-Za-z0-9.\-])[a-z0-9]{6}\.[a-z0-9]{16}(?![A-Za-z0-9.\-])")),
    ("an AWS access key id", re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")),
    ("an AWS secret access key", re.compile(r"(?i)aws_secret_access_key\s*[:=]\s*['\"]?[A-Za-z0-9/+=]{40}")),
    ("a GCP service-account key", re.compile(r"\"private_key_id\"\s*:\s*\"[0-9a-f]{20,}\"")),
    ("a JSON Web Token", re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    ("a GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a kubeconfig client key", re.compile(r"client-key-data:\s*['\"]?[A-Za-z0-9+/]{16,}")),
)
_PLACEHOLDER = re.compile(r"^\{\{[^}]+\}\}$")


def secret_findings(text: str) -> list[str]:
    """What secret material ``text`` contains (kinds only: never the value itself)."""
    found: list[str] = []
    if _PEM_KEY.search(text):
        found.append("a PEM private key")
    for blob in _B64_PEM.findall(text):
        try:
            decoded = base64.b64decode(blob + "=" * (-len(blob) % 4)).decode("ascii", errors="replace")
        except (binascii.Error, ValueError):
            continue
        if _PEM_KEY.search(decoded):
            found.append("a base64-encoded PEM private key")
            break
    for what, pattern in _PATTERNS:
        if pattern.search(text):
            found.append(what)
    for doc in yaml_documents(text) if "EncryptionConfiguration" in text else ():
        if doc.get("kind") != "EncryptionConfiguration":
            continue
        for entry in _list(doc.get("resources")):
            for provider in _list(_dict(entry).get("providers")):
                for cfg in _dict(provider).values():
                    for key in _list(_dict(cfg).get("keys")):
                        secret = _dict(key).get("secret")
                        if isinstance(secret, str) and secret and not _PLACEHOLDER.match(secret):
                            found.append("an encryption-at-rest key")
    return list(dict.fromkeys(found))


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _strings(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list | tuple):
        for n, v in enumerate(value):
            yield from _strings(v, f"{path}[{n}]")


@rule("no-secret-material",
      "No private key, token or encryption key in machine user-data (it is readable from "
      "the instance metadata and the cloud console) or in any plain, non-secret value; "
      "machines fetch secrets from the secret store with their own identity.")
def no_secret_material(type_: str, inputs: Mapping[str, Any], options: Options) -> Iterator[str]:
    user_data_props: set[str] = set()
    for prop, text in user_data_texts(type_, inputs):
        user_data_props.add(prop.split(".")[0])
        files = cloud_config_files(text)
        sources = [(f"{prop} {path}", content) for path, content in files] or [(prop, text)]
        for where, content in sources:
            for what in secret_findings(content):
                yield f"{where} contains {what}"
    if options.secrets_masked:
        for path, value in _strings(inputs, ""):
            if path.split(".")[0].split("[")[0] in user_data_props:
                continue
            for what in secret_findings(value):
                yield f"plain (non-secret) value {path} contains {what}; make it an Output.secret"


# ---------------------------------------------------------------- stack rules


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


def _by_urn(subjects: Sequence[Subject]) -> dict[str, Subject]:
    return {s.urn: s for s in subjects}


def _etcd_disks(subjects: Sequence[Subject]) -> list[Subject]:
    by_urn = _by_urn(subjects)
    etcd_machines = {s.urn for s in subjects
                     if s.type in MACHINES and machine_role(s.type, s.inputs, s.options) == "etcd"}
    attached: set[str] = set()
    for s in subjects:
        if s.type == AWS_VOLUME_ATTACHMENT and etcd_machines & set(s.options.dependencies):
            attached |= {d for d in s.options.dependencies
                         if d in by_urn and by_urn[d].type == AWS_VOLUME}
        if s.urn in etcd_machines and s.type == GCP_INSTANCE:
            for disk in _list(s.inputs.get("attachedDisks")):
                source = str(_dict(disk).get("source", ""))
                attached |= {d.urn for d in subjects if d.type in ETCD_DISKS
                             and d.inputs.get("name") and source.rsplit("/", 1)[-1] == d.inputs.get("name")}
    return [s for s in subjects if s.type in ETCD_DISKS and (
        s.urn in attached or tags(s.inputs).get("plane") == "etcd"
        or "fleetform:index:EtcdDataPlane" in ancestry(s.urn))]


@rule("protected-etcd-data-and-root-ca",
      "etcd data disks and the fleet root CA (certificate and key) are protected, so no "
      "single `pulumi up` can delete them; only a cluster marked `decommission: true` "
      "releases its etcd disks (step one of the two-step removal).",
      stack=True)
def protected_state(subjects: Sequence[Subject], context: Context) -> Iterator[tuple[str, str]]:
    for disk in _etcd_disks(subjects):
        t = tags(disk.inputs)
        released = {t.get("cluster"), t.get("incarnation")} & context.decommissioning
        if not disk.options.protect and not released:
            who = t.get("cluster") or "its cluster"
            yield disk.urn, (f"etcd data disk is not protected: removing {who} or one of its members would "
                             f"delete etcd data in one `pulumi up`; protect it unless {who} has decommission: true")
    by_urn = _by_urn(subjects)
    for s in subjects:
        if s.type != TLS_SELF_SIGNED or not _truthy(s.inputs.get("isCaCertificate")):
            continue
        if not s.options.protect:
            yield s.urn, "the root CA certificate is not protected: deleting it re-issues every credential of the fleet"
        keys = s.options.property_dependencies.get("privateKeyPem") or s.options.dependencies
        for key in keys:
            key_subject = by_urn.get(key)
            if (urn_type(key) == TLS_PRIVATE_KEY) and key_subject is not None and not key_subject.options.protect:
                yield key, "the root CA's private key is not protected: deleting it loses the fleet's trust root"


RULE_NAMES = tuple(r.name for r in RULES)
