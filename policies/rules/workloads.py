"""The rule on workloads fleetform itself runs inside a cluster (the etcd snapshot Job and
CronJob): pinned images and least privilege.

``pod_problems`` is the check itself, over a plain Pod spec; the rule applies it to every
pod template of the Kubernetes objects in the program, and renderers' tests apply it to
the documents they render."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from policies.rules.base import Options, Rule, _dict, _list, load_yaml_all, registry

RULES: list[Rule] = []
rule = registry(RULES)

# type token -> path of the pod template in the object's spec
POD_TEMPLATES: Mapping[str, tuple[str, ...]] = {
    "kubernetes:core/v1:Pod": (),
    "kubernetes:batch/v1:Job": ("template",),
    "kubernetes:batch/v1:CronJob": ("jobTemplate", "spec", "template"),
    "kubernetes:apps/v1:Deployment": ("template",),
    "kubernetes:apps/v1:DaemonSet": ("template",),
    "kubernetes:apps/v1:StatefulSet": ("template",),
}
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
# The add-on bundle's files (bucket objects): the snapshot Job and CronJob travel there.
BUNDLE_OBJECTS = ("aws:s3/bucketObjectv2:BucketObjectv2", "gcp:storage/bucketObject:BucketObject")
BUNDLE_KINDS = {"Job": "kubernetes:batch/v1:Job", "CronJob": "kubernetes:batch/v1:CronJob"}


def bundle_workloads(type_: str, inputs: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(type token, object) of the Jobs and CronJobs in an add-on bundle file: the text of
    an S3 object's ``content`` or a Cloud Storage object's text asset."""
    if type_ not in BUNDLE_OBJECTS:
        return []
    text = inputs.get("content")
    if not isinstance(text, str):
        text = _dict(_dict(inputs.get("source")).get("asset")).get("text")
    if not isinstance(text, str):
        return []
    try:
        docs = list(load_yaml_all(text))
    except yaml.YAMLError:
        return []
    return [(BUNDLE_KINDS[d["kind"]], d) for d in docs if isinstance(d, dict) and d.get("kind") in BUNDLE_KINDS]


def _seccomp(context: Mapping[str, Any]) -> str | None:
    value = _dict(context.get("seccompProfile")).get("type")
    return str(value) if value is not None else None


def _root_host_files(pod: Mapping[str, Any]) -> bool:
    """The pod mounts files of its node (hostPath), which only root may read there."""
    return any("hostPath" in _dict(v) for v in _list(pod.get("volumes")))


def pod_problems(pod: Mapping[str, Any], where: str = "pod") -> Iterator[str]:
    """What keeps a Pod spec from least privilege: an image by tag, an automounted
    service-account token, no RuntimeDefault seccomp profile, a writable root filesystem,
    privilege escalation, capabilities beyond none, root without a reason (root is
    accepted only for a pod that reads host files, and then with no capability at all)."""
    if pod.get("automountServiceAccountToken") is not False:
        yield f"{where}: automountServiceAccountToken is not false (mount a projected token only where needed)"
    pod_context = _dict(pod.get("securityContext"))
    containers = [_dict(c) for key in ("initContainers", "containers") for c in _list(pod.get(key))]
    if not containers:
        yield f"{where}: no containers"
    for c in containers:
        name = f"{where} container {c.get('name')!r}"
        context = _dict(c.get("securityContext"))
        image = str(c.get("image") or "")
        if not DIGEST.search(image):
            yield f"{name}: image {image!r} is not pinned by digest (@sha256:...)"
        if (_seccomp(context) or _seccomp(pod_context)) not in ("RuntimeDefault", "Localhost"):
            yield f"{name}: no RuntimeDefault seccomp profile"
        if context.get("readOnlyRootFilesystem") is not True:
            yield f"{name}: the root filesystem is writable (readOnlyRootFilesystem is not true)"
        if context.get("allowPrivilegeEscalation") is not False:
            yield f"{name}: allowPrivilegeEscalation is not false"
        if context.get("privileged") is True:
            yield f"{name}: privileged"
        capabilities = _dict(context.get("capabilities"))
        if "ALL" not in [str(x) for x in _list(capabilities.get("drop"))]:
            yield f"{name}: capabilities are not all dropped"
        added = [str(x) for x in _list(capabilities.get("add"))]
        if added:
            yield f"{name}: adds capabilities {', '.join(added)}"
        user = context.get("runAsUser", pod_context.get("runAsUser"))
        non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
        if user == 0 and not _root_host_files(pod):
            yield f"{name}: runs as root without reading host files; run as a non-root user"
        elif user is None and non_root is not True:
            yield f"{name}: neither runAsNonRoot nor a runAsUser: the image decides (often root)"


def pod_template(type_: str, inputs: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The Pod spec of a workload object's inputs (None for other types)."""
    path = POD_TEMPLATES.get(type_)
    if path is None:
        return None
    node: Any = _dict(inputs.get("spec"))
    for key in path:
        node = _dict(node).get(key)
    return _dict(_dict(node).get("spec")) if path else _dict(node)


@rule("workloads-least-privilege",
      "fleetform's own workloads (the etcd snapshot Job and CronJob) pull images by digest "
      "and run with least privilege: no automounted service-account token, RuntimeDefault "
      "seccomp, read-only root filesystem, no privilege escalation, every capability "
      "dropped, non-root unless the pod reads root-only host files.",
      cis=("5.1.6", "5.2.6", "5.2.7", "5.2.9", "5.7.2"))
def workloads_least_privilege(type_: str, inputs: Mapping[str, Any], options: Options) -> Iterator[str]:
    for kind, obj in [(type_, inputs), *bundle_workloads(type_, inputs)]:
        pod = pod_template(kind, obj)
        if pod is None:
            continue
        name = _dict(_dict(obj.get("metadata"))).get("name") or options.name
        yield from pod_problems(pod, f"{name}")
