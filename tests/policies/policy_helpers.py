"""Helpers of the policy tests: run the real program, mutate its records, and evaluate the
rules both ways — offline (``fleetform.engine.policy.evaluate``) and through pulumi-policy's own
analyzer servicer (what ``pulumi preview --policy-pack policies`` talks to)."""

from __future__ import annotations

import base64
import copy
import gzip
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `policies` is the project's pack, not this test directory
    sys.path.insert(0, str(ROOT))

from google.protobuf import struct_pb2  # noqa: E402
from pulumi.runtime.proto import analyzer_pb2  # noqa: E402
from pulumi_policy import EnforcementLevel  # noqa: E402
from pulumi_policy.policy import _PolicyAnalyzerServicer  # noqa: E402

from fleetform.engine.policy import Violation, evaluate  # noqa: E402
from policies import rules  # noqa: E402
from policies.pack import PACK_NAME, build_policies  # noqa: E402

Record = dict[str, Any]
PROD_STACK = ROOT / "stacks" / "Pulumi.prod.yaml"


def prod_config() -> dict[str, Any]:
    return dict(yaml.safe_load(PROD_STACK.read_text())["config"])


def prod_released() -> frozenset[str]:
    """What the prod stack itself releases (the pack reads it from the stack config): the
    etcd copy of edge-fra's migration target, in phase prepare."""
    from fleetform.engine.policy import released
    from fleetform.plan.fleet import plan_fleet
    from fleetform.plan.load import load_stack_file

    return released(plan_fleet(load_stack_file(PROD_STACK)))


def records(resources: Iterable[Any]) -> list[Record]:
    return [r.to_json() | {"type": r.type, "name": r.name,
                           "property_dependencies": {k: list(v) for k, v in r.property_dependencies.items()}}
            for r in resources]


# ---------------------------------------------------------------- finding and editing


def find(recs: list[Record], type_: str, *, name: str = "", role: str | None = None,
         cloud: str | None = None) -> Record:
    """The first record of ``type_`` whose name contains ``name`` (and of ``role``)."""
    for r in recs:
        if r["type"] != type_ or name not in r["name"]:
            continue
        if cloud is not None and not r["type"].startswith(cloud):
            continue
        opts = rules.Options(urn=r["urn"])
        if role is not None and rules.machine_role(r["type"], r["inputs"], opts) != role:
            continue
        return r
    raise LookupError(f"no {type_} named *{name}* ({role})")


def of_incarnation(recs: list[Record], key: str) -> list[Record]:
    """The records of one cluster incarnation (and the fleet-wide identity)."""
    return [r for r in recs if key in r["urn"] or "SharedIdentity" in r["urn"]]


def user_data(r: Record) -> str:
    if r["type"] == rules.AWS_INSTANCE:
        return gzip.decompress(base64.b64decode(r["inputs"]["userDataBase64"])).decode()
    if r["type"] == rules.AWS_LAUNCH_TEMPLATE:
        return gzip.decompress(base64.b64decode(r["inputs"]["userData"])).decode()
    return str(r["inputs"]["metadata"]["user-data"])


def set_user_data(r: Record, text: str) -> None:
    if r["type"] == rules.AWS_INSTANCE:
        r["inputs"]["userDataBase64"] = base64.b64encode(gzip.compress(text.encode(), mtime=0)).decode()
    elif r["type"] == rules.AWS_LAUNCH_TEMPLATE:
        r["inputs"]["userData"] = base64.b64encode(gzip.compress(text.encode(), mtime=0)).decode()
    else:
        r["inputs"]["metadata"]["user-data"] = text


def edit_files(r: Record, edit: Callable[[dict[str, str]], None]) -> None:
    """Edit the ``write_files`` of a machine's cloud-config as {path: content}."""
    text = user_data(r)
    doc = yaml.safe_load(text)
    files = {f["path"]: f["content"] for f in doc["write_files"]}
    edit(files)
    meta = {f["path"]: f for f in doc["write_files"]}
    doc["write_files"] = [{**meta.get(p, {"owner": "root:root", "permissions": "0644"}), "path": p,
                           "content": c} for p, c in files.items()]
    set_user_data(r, "#cloud-config\n" + yaml.safe_dump(doc, sort_keys=True))


def edit_yaml(r: Record, path: str, edit: Callable[[list[dict[str, Any]]], None]) -> None:
    """Edit the YAML documents of one file of a machine's user-data."""

    def change(files: dict[str, str]) -> None:
        docs = list(yaml.safe_load_all(files[path]))
        edit(docs)
        files[path] = yaml.safe_dump_all(docs, sort_keys=False)

    edit_files(r, change)


def cluster_configuration(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return next(d for d in docs if d.get("kind") == "ClusterConfiguration")


def set_flag(docs: list[dict[str, Any]], name: str, value: str | None) -> None:
    """Set (or, with None, drop) an API-server flag of the ClusterConfiguration."""
    args = cluster_configuration(docs)["apiServer"]["extraArgs"]
    args[:] = [a for a in args if a["name"] != name]
    if value is not None:
        args.append({"name": name, "value": value})


# ---------------------------------------------------------------- evaluating


def offline(recs: Iterable[Record], rule: str, *, decommissioning: Iterable[str] = (),
            outputs: Mapping[str, Any] | None = None) -> set[tuple[str, str]]:
    """(urn, message) of the mandatory violations of one rule, offline (in the prod
    stack's own context: what it releases, plus ``decommissioning``)."""
    found = evaluate(recs, only=[rule], decommissioning={*decommissioning, *prod_released()}, outputs=outputs)
    return {(v.urn, v.message) for v in found if v.mandatory}


def unchecked(recs: Iterable[Record], rule: str) -> list[Violation]:
    return [v for v in evaluate(recs, only=[rule]) if not v.mandatory]


def _struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(json.loads(json.dumps(value)))
    return s


def _options(r: Record) -> analyzer_pb2.AnalyzerResourceOptions:
    return analyzer_pb2.AnalyzerResourceOptions(protect=bool(r.get("protect")),
                                                parent=r.get("parent") or "")


def servicer(decommissioning: Iterable[str] = ()) -> _PolicyAnalyzerServicer:
    """pulumi-policy's analyzer, serving the pack's policies, configured like the engine does."""
    server = _PolicyAnalyzerServicer(PACK_NAME, "0.1.0", build_policies(), EnforcementLevel.MANDATORY)
    names = list(decommissioning)
    if names:
        server.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig={
            "protected-etcd-data-and-root-ca": analyzer_pb2.PolicyConfig(
                enforcementLevel=analyzer_pb2.MANDATORY, properties=_struct({"decommissioning": names}))}),
            None)
    return server


def _diagnostics(response: analyzer_pb2.AnalyzeResponse, rule: str, urn: str) -> Iterator[tuple[str, str, int]]:
    for d in response.diagnostics:
        if d.policyName == rule:
            # pulumi-policy prefixes the policy's description; the engine fills in the URN.
            message = d.message.split("\n", 1)[1] if "\n" in d.message else d.message
            yield d.urn or urn, message, d.enforcementLevel


def analyze(recs: Iterable[Record], rule: str, *, decommissioning: Iterable[str] = (),
            server: _PolicyAnalyzerServicer | None = None) -> set[tuple[str, str, int]]:
    """(urn, message, enforcement level) of one rule through pulumi-policy's Analyze /
    AnalyzeStack, from protobuf requests as the engine sends them."""
    server = server or servicer(decommissioning)
    recs = list(recs)
    kind = next(r for r in rules.RULES if r.name == rule)
    found: set[tuple[str, str, int]] = set()
    if kind.resource_check is not None:
        for r in recs:
            response = server.Analyze(analyzer_pb2.AnalyzeRequest(
                type=r["type"], properties=_struct(r["inputs"]), urn=r["urn"], name=r["name"],
                options=_options(r)), None)
            found.update(_diagnostics(response, rule, r["urn"]))
    else:
        request = analyzer_pb2.AnalyzeStackRequest(resources=[analyzer_pb2.AnalyzerResource(
            type=r["type"], properties=_struct(r["inputs"]), urn=r["urn"], name=r["name"],
            options=_options(r), parent=r.get("parent") or "", dependencies=r.get("dependencies") or [],
            propertyDependencies={k: analyzer_pb2.AnalyzerPropertyDependencies(urns=list(v))
                                  for k, v in (r.get("property_dependencies") or {}).items()},
        ) for r in recs])
        found.update(_diagnostics(server.AnalyzeStack(request, None), rule, ""))
    return found


def both(recs: list[Record], rule: str, *, decommissioning: Iterable[str] = (),
         pack_subset: Iterable[Record] | None = None) -> set[tuple[str, str]]:
    """The rule's mandatory violations offline, asserted identical through the pack.

    ``pack_subset``: the records to send through the analyzer (a smaller set keeps the
    protobuf round trips fast; the offline evaluation always sees everything)."""
    mine = offline(recs, rule, decommissioning=decommissioning)
    subset = list(pack_subset) if pack_subset is not None else recs
    theirs = analyze(subset, rule, decommissioning=[*decommissioning, *sorted(prod_released())])
    assert {(u, m) for u, m, level in theirs if level == analyzer_pb2.MANDATORY} == {
        (u, m) for u, m in mine if any(r["urn"] == u for r in subset)}
    return mine


def mutated(recs: list[Record]) -> list[Record]:
    return copy.deepcopy(recs)
