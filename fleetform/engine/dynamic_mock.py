"""The offline engine runs the program's dynamic providers for real.

A dynamic resource carries its provider, serialized, in the ``__provider`` input. The
engine of `pulumi up` loads it and calls ``create``; so does this mock, with the same
loader (dill): the outputs the provider computes (an image pin's ``image``) are the ones
the program sees, and a provider that cannot be loaded fails the run. Only providers
that say they touch nothing outside the engine's state (``runs_offline``) are run.

``check`` is not called here: the program's guards judge a change against the previous
state, which an offline run does not have (``plan --against DIR`` applies the same rules
to a previous synth).
"""

from __future__ import annotations

import base64
from typing import Any

import dill  # type: ignore[import-untyped]
from pulumi.dynamic import ResourceProvider

from fleetform.engine.mocks.base import ResourceCall, resource_mock

PROVIDER_KEY = "__provider"
DYNAMIC_TYPE = "pulumi-python:dynamic:Resource"


def load_provider(serialized: str) -> ResourceProvider:
    provider = dill.loads(base64.b64decode(serialized))
    if not isinstance(provider, ResourceProvider):
        raise TypeError(f"__provider holds a {type(provider).__name__}, not a dynamic ResourceProvider")
    return provider


@resource_mock(DYNAMIC_TYPE)
def _dynamic(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    provider = load_provider(str(c.inputs[PROVIDER_KEY]))
    if not getattr(provider, "runs_offline", False):
        # A provider that talks to something real (a cluster's API) is not run here.
        return f"{c.name}-{c.hex(8)}", {}
    props = {k: v for k, v in c.inputs.items() if k != PROVIDER_KEY}
    created = provider.create(props)
    return str(created.id), dict(created.outs or {})
