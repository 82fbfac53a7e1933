"""Fixtures of the bootstrap tests (the helpers live in bootstrap_helpers.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from bootstrap_helpers import (
    TestPKI,
    make_control_plane_inputs,
    make_etcd_inputs,
    make_worker_inputs,
    render_matrix,
)

from fleetform.bootstrap import ControlPlaneInputs, EtcdNodeInputs, WorkerInputs


@pytest.fixture(scope="session")
def pki() -> TestPKI:
    return TestPKI()


@pytest.fixture(scope="session")
def etcd_inputs(pki: TestPKI) -> Callable[..., EtcdNodeInputs]:
    return make_etcd_inputs(pki)


@pytest.fixture(scope="session")
def control_plane_inputs(pki: TestPKI) -> Callable[..., ControlPlaneInputs]:
    return make_control_plane_inputs(pki)


@pytest.fixture(scope="session")
def worker_inputs(pki: TestPKI) -> Callable[..., WorkerInputs]:
    return make_worker_inputs(pki)


@pytest.fixture(scope="session")
def documents(pki: TestPKI) -> dict[str, str]:
    """Every kind of rendered document for both clouds (see bootstrap_helpers.render_matrix)."""
    return render_matrix(pki)
