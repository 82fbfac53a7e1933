"""Whole stacks under the offline engine, each run ONCE per test session.

A full prod run takes tens of seconds, so every stack is a session fixture and the tests
only read the recorded graph. Stacks used:

- ``dev`` and ``prod``: the real ``stacks/Pulumi.<stack>.yaml``;
- ``prod_mesh``: prod with a ClusterMesh across clouds (``eu-core`` on AWS, ``us-gcp``
  on GCP);
- ``prod_reordered``: prod with its clusters (and each cluster's worker pools) in reverse
  order, in a temporary stacks directory with its own ``fleet.yaml``;
- ``twin_aws`` / ``twin_gcp``: stack ``twin`` with one cluster ``twin`` of identical
  settings (3 etcd members, 3 replicas, one pool, ``etcd.roll: [etcd-1]``) on AWS and on
  GCP: the same stack before and after moving the cluster to the other cloud.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from planes_support import (
    STACKS,
    TWIN_REGIONS,
    StackRun,
    run_stack,
    stack_config,
    twin_document,
    write_stack,
)


@pytest.fixture(scope="session")
def dev() -> StackRun:
    return run_stack(STACKS / "Pulumi.dev.yaml")


@pytest.fixture(scope="session")
def prod() -> StackRun:
    return run_stack(STACKS / "Pulumi.prod.yaml")


@pytest.fixture(scope="session", params=["dev", "prod"])
def stack(request: pytest.FixtureRequest) -> StackRun:
    """Each real stack in turn (tests that hold for every stack)."""
    run: StackRun = request.getfixturevalue(request.param)
    return run


@pytest.fixture(scope="session")
def prod_mesh(tmp_path_factory: pytest.TempPathFactory) -> StackRun:
    config = copy.deepcopy(stack_config(STACKS / "Pulumi.prod.yaml"))
    config["fleetform:fleet"]["mesh"] = {"clusters": ["eu-core", "us-gcp"]}
    return run_stack(write_stack(tmp_path_factory.mktemp("mesh"), "prod", {"config": config}))


@pytest.fixture(scope="session")
def prod_reordered(tmp_path_factory: pytest.TempPathFactory) -> StackRun:
    config = copy.deepcopy(stack_config(STACKS / "Pulumi.prod.yaml"))
    fleet = config["fleetform:fleet"]
    fleet["clusters"] = list(reversed(fleet["clusters"]))
    for cluster in fleet["clusters"]:
        if "workers" in cluster:
            cluster["workers"] = list(reversed(cluster["workers"]))
    path = write_stack(tmp_path_factory.mktemp("reordered"), "prod", {"config": config})
    return run_stack(path)


@pytest.fixture(scope="session")
def twin_stacks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``<cloud>/Pulumi.twin.yaml``: one stack, ``twin``, written once per cloud (as if
    the cluster had been moved by editing its stack file)."""
    directory = tmp_path_factory.mktemp("twins")
    for cloud in TWIN_REGIONS:
        write_stack(directory / cloud, "twin", twin_document(cloud))
    return directory


@pytest.fixture(scope="session")
def twin_aws(twin_stacks: Path) -> StackRun:
    return run_stack(twin_stacks / "aws" / "Pulumi.twin.yaml")


@pytest.fixture(scope="session")
def twin_gcp(twin_stacks: Path) -> StackRun:
    return run_stack(twin_stacks / "gcp" / "Pulumi.twin.yaml")


@pytest.fixture(scope="session", params=["aws", "gcp"])
def twin(request: pytest.FixtureRequest) -> StackRun:
    run: StackRun = request.getfixturevalue(f"twin_{request.param}")
    return run
