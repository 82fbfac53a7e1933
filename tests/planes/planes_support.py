"""Running whole stacks under the offline engine and reading the recorded graph.

Shared by the plane tests (``tests/planes``, where pytest puts this directory on
``sys.path``) and by ``python -m tests.golden`` (which imports it as
``tests.planes.planes_support``). Pure helpers, no pytest.

``run_stack`` runs the REAL ``__main__.py`` with a stack file's ``config`` mapping, exactly
as ``fleetform plan`` does, and additionally keeps, per URN, what the engine's monitor
answered (the mock id and outputs: security-group ids, service-account emails, random
values; replacement options are on the ``Resource`` record itself). It does so by wrapping
``RecordingMonitor.RegisterResource`` for the duration of the run; nothing else changes.
"""

from __future__ import annotations

import base64
import gzip
import shutil
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import yaml

from fleetform.engine import records
from fleetform.engine.monitor import RecordingMonitor
from fleetform.engine.records import Resource
from fleetform.engine.run import run_program
from fleetform.plan.fleet import plan_fleet
from fleetform.plan.load import load_stack_file
from fleetform.plan.model import ClusterPlan, FleetPlan

ROOT = Path(__file__).resolve().parents[2]
STACKS = ROOT / "stacks"
PROJECT = "fleetform"
STACK_TYPE = "pulumi:pulumi:Stack"
COMPONENT_PREFIX = "fleetform:index:"
DYNAMIC_TYPE = "pulumi-python:dynamic:Resource"

# Resources that carry a machine's boot document, and where.
AWS_INSTANCE = "aws:ec2/instance:Instance"
AWS_LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
GCP_INSTANCE = "gcp:compute/instance:Instance"
GCP_TEMPLATE = "gcp:compute/instanceTemplate:InstanceTemplate"
MACHINE_TYPES = (AWS_INSTANCE, AWS_LAUNCH_TEMPLATE, GCP_INSTANCE, GCP_TEMPLATE)


@dataclass(frozen=True)
class Registration:
    """What the engine answered for one RegisterResource."""

    id: str
    outputs: dict[str, Any]  # mock outputs, secrets revealed
    secret_inputs: dict[str, Any] = field(default_factory=dict)  # revealed, secret versions only


@dataclass(frozen=True)
class Invoke:
    token: str
    provider: str | None
    args: dict[str, Any]


@dataclass
class StackRun:
    stack: str
    path: Path
    plan: FleetPlan
    resources: tuple[Resource, ...]
    registrations: dict[str, Registration]
    invokes: list[Invoke]
    by_urn: dict[str, Resource] = field(init=False)
    by_id: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.by_urn = {r.urn: r for r in self.resources}
        self.by_id = {reg.id: urn for urn, reg in self.registrations.items() if reg.id}

    # ---- navigation
    def children(self, urn: str) -> list[Resource]:
        return [r for r in self.resources if r.parent == urn]

    def ancestors(self, r: Resource) -> Iterator[Resource]:
        parent = r.parent
        while parent:
            p = self.by_urn[parent]
            yield p
            parent = p.parent

    def component_of(self, r: Resource) -> Resource | None:
        """The nearest ``fleetform:index:*`` component above ``r``."""
        return next((a for a in self.ancestors(r) if a.type.startswith(COMPONENT_PREFIX)), None)

    def cluster_of(self, r: Resource) -> Resource | None:
        """The ``Cluster`` component ``r`` belongs to (``r`` itself if it is one)."""
        if r.type == COMPONENT_PREFIX + "Cluster":
            return r
        return next((a for a in self.ancestors(r) if a.type == COMPONENT_PREFIX + "Cluster"), None)

    def component(self, type_name: str, name: str) -> Resource:
        matches = [r for r in self.resources if r.type == COMPONENT_PREFIX + type_name and r.name == name]
        assert len(matches) == 1, f"expected one {type_name} named {name!r}, found {len(matches)}"
        return matches[0]

    def cluster(self, plan: ClusterPlan) -> Resource:
        return self.component("Cluster", plan.key)

    def owned(self, component: Resource) -> list[Resource]:
        """Resources whose nearest fleetform component is ``component``."""
        return [r for r in self.resources if (c := self.component_of(r)) is not None and c.urn == component.urn]

    def in_cluster(self, plan: ClusterPlan) -> list[Resource]:
        cluster = self.cluster(plan)
        return [r for r in self.resources if (c := self.cluster_of(r)) is not None and c.urn == cluster.urn]

    def of_type(self, type_: str, within: Iterable[Resource] | None = None) -> list[Resource]:
        return [r for r in (self.resources if within is None else within) if r.type == type_]

    # ---- engine answers
    def id_of(self, r: Resource) -> str:
        return self.registrations[r.urn].id

    def outputs(self, r: Resource) -> dict[str, Any]:
        return self.registrations[r.urn].outputs

    def resolve(self, ref: str) -> Resource:
        """The resource a recorded input refers to by its mock id."""
        return self.by_urn[self.by_id[ref]]

    def provider_of(self, r: Resource) -> Resource | None:
        urn = provider_urn(r)
        return self.by_urn[urn] if urn else None


def provider_urn(r: Resource) -> str | None:
    """The provider reference without its id (``urn::id``)."""
    return r.provider.rsplit("::", 1)[0] if r.provider else None


def cloud_counts(resources: Iterable[Resource]) -> Counter[str]:
    """How many resources of each cloud type (aws:/gcp:) there are."""
    return Counter(r.type for r in resources if r.type.startswith(("aws:", "gcp:")))


# --------------------------------------------------------------------------- running


@contextmanager
def _capturing(registrations: dict[str, Registration], invokes: list[Invoke]) -> Iterator[None]:
    register, invoke = RecordingMonitor.RegisterResource, RecordingMonitor.Invoke

    def register_and_keep(self: RecordingMonitor, request: Any) -> Any:
        response = register(self, request)
        state = self.resources.get(response.urn)
        secret_inputs: dict[str, Any] = {}
        if request.type.endswith(("secretVersion:SecretVersion",)):
            secret_inputs = records._plain(records._from_struct(request.object), reveal=True)
        registrations[response.urn] = Registration(
            id=response.id,
            outputs=records._plain(state.state, reveal=True) if state is not None else {},
            secret_inputs=secret_inputs,
        )
        return response

    def invoke_and_keep(self: RecordingMonitor, request: Any) -> Any:
        invokes.append(Invoke(request.tok, request.provider or None,
                              records._plain(records._from_struct(request.args), reveal=True)))
        return invoke(self, request)

    with mock.patch.object(RecordingMonitor, "RegisterResource", register_and_keep), \
            mock.patch.object(RecordingMonitor, "Invoke", invoke_and_keep):
        yield


def stack_config(path: Path) -> dict[str, Any]:
    """The ``config`` mapping of a stack file, as ``pulumi up`` hands it to the program."""
    return dict(yaml.safe_load(path.read_text())["config"])


def stack_name(path: Path) -> str:
    return path.name.removeprefix("Pulumi.").removesuffix(".yaml")


def run_stack(path: Path) -> StackRun:
    """Run the real program for one stack file (``stacks/Pulumi.<stack>.yaml`` or a copy
    holding its own ``fleet.yaml``) and plan the same file for expectations."""
    stack = stack_name(path)
    plan = plan_fleet(load_stack_file(path, label=f"stacks/{path.name}"))
    registrations: dict[str, Registration] = {}
    invokes: list[Invoke] = []
    with _capturing(registrations, invokes):
        result = run_program(ROOT, project=PROJECT, stack=stack, config=stack_config(path))
    return StackRun(stack, path, plan, result.resources, registrations, invokes)


def write_stack(directory: Path, name: str, document: dict[str, Any]) -> Path:
    """A stack file in ``directory`` next to a copy of the shared ``fleet.yaml``."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(STACKS / "fleet.yaml", directory / "fleet.yaml")
    path = directory / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


TWIN_REGIONS = {"aws": "eu-west-1", "gcp": "europe-west1"}


def twin_document(cloud: str, **etcd: Any) -> dict[str, Any]:
    """The twin cluster on ``cloud``: same name, settings and network slot on both clouds."""
    return {
        "config": {
            "fleetform:base": "fleet.yaml",
            "fleetform:fleet": {
                "clusters": [{
                    "name": "twin",
                    "cloud": cloud,
                    "region": TWIN_REGIONS[cloud],
                    "network": {"index": 30},
                    "etcd": {"members": 3, "roll": ["etcd-1"], **etcd},
                    "control_plane": {"replicas": 3, "roll": ["cp-1"]},
                    "workers": [{"name": "general", "min": 1, "max": 3}],
                }],
            },
        },
    }


# ------------------------------------------------------------------------- user data


def user_data(r: Resource) -> str | None:
    """The boot document a machine resource carries, decoded (AWS: gzip + base64)."""
    if r.type == AWS_INSTANCE:
        encoded = r.inputs.get("userDataBase64")
    elif r.type == AWS_LAUNCH_TEMPLATE:
        encoded = r.inputs.get("userData")
    elif r.type in (GCP_INSTANCE, GCP_TEMPLATE):
        metadata = r.inputs.get("metadata") or {}
        return metadata.get("user-data") if isinstance(metadata, dict) else None
    else:
        return None
    if not isinstance(encoded, str) or encoded == records.SECRET_MASK:
        return encoded
    return gzip.decompress(base64.b64decode(encoded)).decode()


# ---------------------------------------------------------------------------- golden

GOLDEN_FIELDS = ("urn", "type", "parent", "provider", "protect", "ignore_changes")


def graph(resources: Iterable[Resource]) -> list[dict[str, Any]]:
    """The reviewable shape of a resource graph: structure and options, no inputs
    (inputs carry mock ids, PEMs and documents that would drown every real change)."""
    return sorted(
        (
            {
                "urn": r.urn,
                "type": r.type,
                "parent": r.parent,
                "provider": provider_urn(r),
                "protect": r.protect,
                "ignore_changes": sorted(r.ignore_changes),
            }
            for r in resources
        ),
        key=lambda entry: entry["urn"],
    )
