"""What a micro-stack's offline plan depends on, as one digest, to re-plan only what changed.

A cluster stack's run is a pure function of: the program's source (the Pulumi program,
the fleetform package it imports, the policy pack) and the tool and SDK versions; the
fleet-level settings of the stack file (everything but its list of clusters); that
cluster's own entry and plan (every incarnation); and the fleet stack's outputs it reads
through its StackReference. `stack_digest` hashes exactly those, canonically (sorted
keys, no whitespace), so a previous synth whose recorded digest for a stack is equal
holds that stack's result, and only the stacks whose digest changed are run again.

The digests are written next to a synth's output (`INPUTS_FILE`) and read back from it;
`reuse.py` decides with them which micro-stacks `plan|synth --reuse DIR` runs.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import fleetform

INPUTS_FILE = "stack-inputs.json"
# Bumped when what a digest covers changes: every old digest is then stale.
SCHEMA = 1
# What the program's behaviour is made of: the program, the package, the rules.
SOURCES = ("__main__.py", "Pulumi.yaml", "components", "fleetform", "policies")
# Distributions whose code runs in a plan: the SDK, the providers' SDKs, the mocks' libraries.
DISTRIBUTIONS = ("pulumi", "pulumi-aws", "pulumi-gcp", "pulumi-tls", "pulumi-random", "pulumi-kubernetes",
                 "cryptography", "PyYAML", "pydantic", "gmpy2")


def _files(root: Path) -> Iterable[Path]:
    for name in SOURCES:
        path = root / name
        if path.is_file():
            yield path
        elif path.is_dir():
            yield from (p for p in sorted(path.rglob("*")) if p.is_file() and "__pycache__" not in p.parts
                        and p.suffix not in (".pyc", ".pyo"))


@functools.cache
def program_digest(root: Path) -> str:
    """sha256 over the program's source files (relative path and bytes of each)."""
    h = hashlib.sha256()
    root = root.resolve()
    for path in _files(root):
        data = path.read_bytes()
        h.update(f"{path.relative_to(root).as_posix()}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


@functools.cache
def tool_versions() -> dict[str, str]:
    found = {"fleetform": fleetform.__version__}
    for dist in DISTRIBUTIONS:
        try:
            found[dist] = version(dist)
        except PackageNotFoundError:
            found[dist] = "-"
    return found


def fleet_settings(fleet: Mapping[str, Any]) -> dict[str, Any]:
    """The stack file's fleet without its clusters: what every cluster stack reads."""
    return {k: v for k, v in fleet.items() if k != "clusters"}


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def stack_digest(*, stack: str, program: str, settings: Mapping[str, Any], cluster: Sequence[Mapping[str, Any]],
                 fleet_outputs: Mapping[str, Any]) -> str:
    """The digest of one micro-stack's inputs. ``program``: `program_digest`; ``settings``:
    `fleet_settings`; ``cluster``: that cluster's stack-file entry and plans (JSON);
    ``fleet_outputs``: the fleet stack's outputs the stack reads (plain, secrets revealed:
    a rotated key must change the digest)."""
    return hashlib.sha256(canonical({
        "schema": SCHEMA, "stack": stack, "program": program, "versions": tool_versions(),
        "settings": settings, "cluster": list(cluster), "fleet_outputs": fleet_outputs,
    })).hexdigest()


def digests_text(digests: Mapping[str, str]) -> str:
    """``INPUTS_FILE``'s text: stack name -> digest, sorted."""
    return json.dumps({"schema": SCHEMA, "stacks": dict(sorted(digests.items()))}, indent=2) + "\n"


def write_digests(out: Path, digests: Mapping[str, str]) -> str:
    """Write ``out/INPUTS_FILE``; its text."""
    text = digests_text(digests)
    (out / INPUTS_FILE).write_text(text, encoding="utf-8", newline="\n")
    return text


def read_digests(directory: Path) -> dict[str, str]:
    """A previous synth's digests; {} when it has none or they are of another schema (all
    stale: everything is re-planned)."""
    try:
        data = json.loads((directory / INPUTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(data.get("stacks"), dict):
        return {}
    return {str(k): str(v) for k, v in data["stacks"].items()}


def stale(digests: Mapping[str, str], previous: Mapping[str, str]) -> list[str]:
    """Stacks to re-plan: new ones and those whose inputs changed, in name order."""
    return sorted(name for name, digest in digests.items() if previous.get(name) != digest)
