"""The offline engine runs the program's dynamic providers for real.

A dynamic resource carries its provider, serialized, in the ``__provider`` input. The
engine of `pulumi up` loads it and calls ``check`` then ``create``; so does this mock,
with the same loader (dill), on a first `up` (no previous state): a guard that refuses
its inputs fails the offline run as it would fail the preview, and the outputs the
provider computes (an image pin's ``image``) are the ones the program sees.
"""

from __future__ import annotations

import base64
from typing import Any

import dill  # type: ignore[import-untyped]
from pulumi.dynamic import ResourceProvider

from .mocks import ResourceCall, resource_mock

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
    props = {k: v for k, v in c.inputs.items() if k != PROVIDER_KEY}
    checked = provider.check({}, props)
    if checked.failures:
        raise ValueError("; ".join(f"{f.property}: {f.reason}" for f in checked.failures))
    created = provider.create(dict(checked.inputs))
    return str(created.id), dict(created.outs or {})
