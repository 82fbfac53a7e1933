"""Finding stack files: ``--stack dev`` means ``stacks/Pulumi.dev.yaml`` of the project."""

from __future__ import annotations

import os
from pathlib import Path

from fleetform.spec.errors import FleetError, Problem


def project_root(start: Path | None = None) -> Path:
    """The nearest directory holding Pulumi.yaml (the current one if none)."""
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "Pulumi.yaml").is_file():
            return d
    return here


def resolve(stack: str | None, file: str | None) -> tuple[Path, str]:
    """(path, label) of the stack file; the label is how errors name it."""
    if file is not None:
        path = Path(file)
        return path, file
    assert stack is not None
    root = project_root()
    path = root / "stacks" / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml")
                       for p in (root / "stacks").glob("Pulumi.*.yaml"))
        raise FleetError([Problem(f"stacks/Pulumi.{stack}.yaml", "-",
                                  f"no such stack (known: {', '.join(known) or 'none'})")])
    try:
        label = os.path.relpath(path)
    except ValueError:
        label = str(path)
    return path, label
