"""Shared helpers for the unit tests: write stack files into a temporary project and
collect the ``<file>: <path>: <message>`` lines a user would see."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from fleetform.plan.fleet import plan_fleet
from fleetform.plan.load import load_config, load_stack_file
from fleetform.plan.model import FleetPlan
from fleetform.spec.errors import FleetError
from fleetform.spec.models import FleetSpec

ROOT = Path(__file__).resolve().parents[2]

# A fixed copy of a shared base (like stacks/fleet.yaml), so these tests do not move
# when the example stacks are edited.
BASE = """\
fleet:
  apiVersion: fleetform/v1
  name: acme
  domain: fleet.acme.example
  clouds:
    aws:
      default_tags: {owner: platform-team}
    gcp:
      project: acme-fleet
  network:
    supernet: 10.0.0.0/8
    cluster_prefix: 16
  compliance:
    gdpr:
      regions: ["eu-*", "europe-*"]
  logging: {aws_region: eu-west-1, gcp_location: europe-west1}
  defaults:
    kubernetes_version: "1.37"
    cni: {plugin: cilium}
    etcd: {members: 3, size: medium, disk_gb: 50}
    control_plane: {replicas: 3, size: medium}
    workers:
      - {name: general, size: medium, min: 3, max: 10}
  profiles:
    edge:
      etcd: {size: small, disk_gb: 20}
      control_plane: {size: small}
      network: {nat: single}
      workers:
        - {name: general, size: small, min: 1, max: 4}
    ha:
      etcd: {members: 5, size: large, disk_gb: 100}
      control_plane: {replicas: 3, size: large}
"""

# How errors name the files written by ``write_stack`` (relative, as the CLI prints them).
STACK = "stacks/Pulumi.t.yaml"
BASE_FILE = "stacks/fleet.yaml"

# A complete fleet header for stack files that use no base file.
HEADER = """\
apiVersion: fleetform/v1
name: acme
domain: fleet.acme.example
clouds: {gcp: {project: acme-fleet}}
"""


def stack_text(fleet_body: str, *, base: str | None = "fleet.yaml") -> str:
    """A Pulumi stack file whose ``fleetform:fleet`` holds ``fleet_body`` (YAML)."""
    head = "config:\n"
    if base is not None:
        head += f"  fleetform:base: {base}\n"
    head += "  fleetform:fleet:\n"
    return head + textwrap.indent(textwrap.dedent(fleet_body).strip("\n") + "\n", "    ")


def write_stack(tmp_path: Path, text: str, *, base_text: str | None = BASE, name: str = "t") -> Path:
    """Write ``stacks/Pulumi.<name>.yaml`` (and ``stacks/fleet.yaml``) under ``tmp_path``."""
    stacks = tmp_path / "stacks"
    stacks.mkdir(exist_ok=True)
    if base_text is not None:
        (stacks / "fleet.yaml").write_text(textwrap.dedent(base_text), encoding="utf-8")
    path = stacks / f"Pulumi.{name}.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(path: Path) -> FleetSpec:
    return load_stack_file(path, label=f"stacks/{path.name}")


def load_text(tmp_path: Path, fleet_body: str, **kw: Any) -> FleetSpec:
    return load(write_stack(tmp_path, stack_text(fleet_body), **kw))


def plan_text(tmp_path: Path, fleet_body: str, **kw: Any) -> FleetPlan:
    return plan_fleet(load_text(tmp_path, fleet_body, **kw))


def problems_of(path: Path) -> list[str]:
    """Every line ``validate`` would print (load, then plan), or [] when valid."""
    try:
        plan_fleet(load(path))
    except FleetError as exc:
        return [str(p) for p in exc.problems]
    return []


def problems(tmp_path: Path, fleet_body: str, *, base: str | None = "fleet.yaml", **kw: Any) -> list[str]:
    return problems_of(write_stack(tmp_path, stack_text(fleet_body, base=base), **kw))


def plan_dict(fleet: dict[str, Any], tmp_path: Path, *, stack: str = "t") -> FleetPlan:
    """Plan a fleet given as a ``fleetform:fleet`` object (no base file)."""
    return plan_fleet(load_config(fleet, None, stack=stack, label="t.yaml", stacks_dir=tmp_path))
