"""One cluster's add-on bundle: every add-on's files and the Flux Kustomizations that
apply them in order (the CNI first), versioned by a hash of the whole content."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from . import access, ccm, cni, csi, csr_approver, logging, metrics, snapshots, upgrades
from .autoscaler import render as autoscaler
from .context import CONTROLLERS, AddonContext
from .model import FLUX_DIR, Addon, AddonFile, Bundle, content_version
from .render import file, kustomization


def _upgrade_controller(ctx: AddonContext) -> Addon | None:
    # Its pods need the pod network.
    return None if ctx.roll is None else replace(upgrades.render(ctx.roll)[0], depends_on=(cni.NAME,))


def _upgrades(ctx: AddonContext) -> Addon | None:
    return None if ctx.roll is None else upgrades.render(ctx.roll)[1]


# Render order is bootstrap order: each add-on's dependencies come before it.
RENDERERS: tuple[Callable[[AddonContext], Addon | None], ...] = (
    cni.render, ccm.render, csi.render, autoscaler, csr_approver.render, metrics.render, access.render, snapshots.render,
    logging.render, _upgrade_controller, _upgrades)
# Objects the API refuses to patch (a Job's template) are replaced.
FORCED = frozenset({snapshots.NAME})


def _flux(addons: tuple[Addon, ...]) -> tuple[AddonFile, ...]:
    return tuple(file(f"{FLUX_DIR}/{a.name}.yaml", [kustomization(a.name, a.name, a.depends_on,
                                                                   force=a.name in FORCED)])
                 for a in addons)


def _check_identities(ctx: AddonContext) -> None:
    """On AWS a pod off the host network cannot use the machine's role (IMDSv2 with one
    hop), and the controllers' charts run them there: each needs its federated identity."""
    if ctx.cloud != "aws":
        return
    missing = [c for c in CONTROLLERS if ctx.identity(c) is None]
    if missing:
        raise ValueError(f"cluster {ctx.key}: on AWS, {', '.join(missing)} need a federated identity: their pods "
                         "cannot reach the instance role (IMDSv2, hop limit 1)")


def render_bundle(ctx: AddonContext) -> Bundle:
    _check_identities(ctx)
    addons: list[Addon] = []
    for render in RENDERERS:
        addon = render(ctx)
        if addon is None:
            continue
        missing = [d for d in addon.depends_on if d not in {a.name for a in addons}]
        if missing:
            raise ValueError(f"add-on {addon.name} of {ctx.cluster} depends on {missing}, rendered later or not at all")
        addons.append(addon)
    flux = _flux(tuple(addons))
    files = {f.path: f.text for a in addons for f in a.files} | {f.path: f.text for f in flux}
    return Bundle(cluster=ctx.cluster, version=content_version(files), addons=tuple(addons), flux=flux)
