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


# ---------------------------------------------------------------- production and secrets

PRODUCTION_STACKS = ("prod", "production")
# Secrets providers whose data key is wrapped by a key-management service: the state's
# secrets (every CA private key among them) are then as safe as that key.
KMS_PROVIDERS = ("awskms://", "gcpkms://", "azurekeyvault://", "hashivault://")
SECRETS_SETUP = "docs/security.md#secrets-in-the-state-a-kms-backed-secrets-provider"


def is_production_stack(stack: str) -> bool:
    """``prod``, ``production`` and their suffixed forms (``prod-eu``) are production."""
    return any(stack == s or stack.startswith(f"{s}-") for s in PRODUCTION_STACKS)


def secrets_provider_warning(doc: object, label: str, stack: str) -> str | None:
    """A warning for a production stack file (its parsed top level ``doc``) whose
    ``secretsprovider`` is not KMS-backed: the state holds every CA private key."""
    if not is_production_stack(stack):
        return None
    value = doc.get("secretsprovider") if isinstance(doc, dict) else None
    if isinstance(value, str) and value.startswith(KMS_PROVIDERS):
        return None
    what = ("no secretsprovider (the backend's default)" if value is None
            else f"secretsprovider {value!r} is not KMS-backed")
    return (f"{label}: secretsprovider: production stack {stack!r} has {what}; the state holds every CA "
            f"private key: use {', '.join(p.rstrip(':/') for p in KMS_PROVIDERS)} ({SECRETS_SETUP})")
