"""The dynamic providers run as the engine runs them: in the SDK's own provider host
(``python -m pulumi.dynamic``, a fresh interpreter started outside the repository),
spoken to over gRPC on 127.0.0.1, loading each provider from its serialized form.

Every operation the engine sends is exercised: Check (the guard that refuses), Create,
Read (refresh), Diff, Update and Delete (destroy). The serialized forms recorded below
are what stacks hold in their state today: they must keep loading.
"""

from __future__ import annotations

import base64
import os
import pickletools
import selectors
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format, struct_pb2
from pulumi.dynamic.dynamic import PROVIDER_KEY, serialize_provider
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from components.dynamic import (
    ImagePinProvider,
    MigrationGateProvider,
    PluginGuardProvider,
    RotationGateProvider,
    UpgradeGateProvider,
)
from fleetform.plan.rotation import ROOT
from fleetform.plan.upgrade_gate import GateState

# What `serialize_provider` produced when these providers were introduced, i.e. what
# the engine's state of every stack holds. Renaming a class or moving the module
# breaks refresh and destroy of those stacks: these must keep loading.
RECORDED = {
    "MigrationGateProvider":
        "gASVMwAAAAAAAACMEmNvbXBvbmVudHMuZHluYW1pY5SMFU1pZ3JhdGlvbkdhdGVQcm92aWRlcpSTlCmBlC4=",
    "PluginGuardProvider":
        "gASVMQAAAAAAAACMEmNvbXBvbmVudHMuZHluYW1pY5SME1BsdWdpbkd1YXJkUHJvdmlkZXKUk5QpgZQu",
    "ImagePinProvider":
        "gASVLgAAAAAAAACMEmNvbXBvbmVudHMuZHluYW1pY5SMEEltYWdlUGluUHJvdmlkZXKUk5QpgZQu",
    "RotationGateProvider":
        "gASVMgAAAAAAAACMEmNvbXBvbmVudHMuZHluYW1pY5SMFFJvdGF0aW9uR2F0ZVByb3ZpZGVylJOUKYGULg==",
    "UpgradeGateProvider":
        "gASVMQAAAAAAAACMEmNvbXBvbmVudHMuZHluYW1pY5SME1VwZ3JhZGVHYXRlUHJvdmlkZXKUk5QpgZQu",
}
GATE_URN = "urn:pulumi:dev::fleetform::fleetform:index:ClusterName$pulumi-python:dynamic:Resource::shop-migration"
IMAGE_URN = "urn:pulumi:dev::fleetform::fleetform:index:Cluster$pulumi-python:dynamic:Resource::shop-aws-eu-west-1-image"
GUARD_URN = "urn:pulumi:dev::fleetform::fleetform:index:Cni$pulumi-python:dynamic:Resource::shop-cni-plugin"
ROTATION_URN = "urn:pulumi:dev::fleetform::fleetform:index:ClusterName$pulumi-python:dynamic:Resource::shop-ca-rotation"
UPGRADE_URN = "urn:pulumi:dev::fleetform::fleetform:index:Fleet$pulumi-python:dynamic:Resource::acme-upgrades"
START_TIMEOUT_S = 60
CALL_TIMEOUT_S = 30


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[provider_pb2_grpc.ResourceProviderStub]:
    """The SDK's dynamic provider host, as `pulumi` launches it, from a directory
    outside the repository (the provider must load from the installed packages)."""
    cwd = tmp_path_factory.mktemp("dynamic-host")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    proc = subprocess.Popen([sys.executable, "-u", "-m", "pulumi.dynamic"], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout=START_TIMEOUT_S):
            pytest.fail(f"the dynamic provider host printed no port within {START_TIMEOUT_S}s")
        port = int(proc.stdout.readline().decode().strip())
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=START_TIMEOUT_S)
        yield provider_pb2_grpc.ResourceProviderStub(channel)
        channel.close()
    finally:
        proc.kill()
        proc.wait(timeout=START_TIMEOUT_S)


def _struct(props: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(props)
    return s


def _plain(s: struct_pb2.Struct) -> dict[str, Any]:
    return {k: v for k, v in json_format.MessageToDict(s).items() if k != PROVIDER_KEY}


def _with(provider: str, props: dict[str, Any]) -> dict[str, Any]:
    return {**props, PROVIDER_KEY: provider}


GATE_NONE = {"cluster": "shop", "phase": "none", "source": "shop", "target": "", "release_source": False,
             "data": "none"}
GATE_PREPARE = {"cluster": "shop", "phase": "prepare", "source": "shop-aws-eu-west-1",
                "target": "shop-gcp-europe-west1", "release_source": False, "data": "etcd-snapshot"}
GATE_FINALIZE = {**GATE_PREPARE, "phase": "finalize"}


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_recorded_forms_are_what_the_program_serializes(name: str) -> None:
    provider = {"MigrationGateProvider": MigrationGateProvider, "PluginGuardProvider": PluginGuardProvider,
                "ImagePinProvider": ImagePinProvider, "RotationGateProvider": RotationGateProvider,
                "UpgradeGateProvider": UpgradeGateProvider}[name]
    assert serialize_provider(provider()) == RECORDED[name]
    # By reference: the class path and nothing else (no captured state, no secrets).
    ops = [op.name for op, _, _ in pickletools.genops(base64.b64decode(RECORDED[name]))]
    assert "STACK_GLOBAL" in ops and "BUILD" not in ops


def test_migration_gate_lifecycle(host: provider_pb2_grpc.ResourceProviderStub) -> None:
    p = RECORDED["MigrationGateProvider"]
    # First `up`: no state; a cluster that does not move.
    check = host.Check(provider_pb2.CheckRequest(urn=GATE_URN, olds=_struct({}), news=_struct(_with(p, GATE_NONE))),
                       timeout=CALL_TIMEOUT_S)
    assert list(check.failures) == []
    created = host.Create(provider_pb2.CreateRequest(urn=GATE_URN, properties=_struct(_with(p, GATE_NONE))),
                          timeout=CALL_TIMEOUT_S)
    assert created.id == "shop/migration"
    assert _plain(created.properties) == GATE_NONE
    state = _with(p, GATE_NONE)

    # Refresh: the gate reads back exactly its state.
    read = host.Read(provider_pb2.ReadRequest(id=created.id, urn=GATE_URN, properties=_struct(state)),
                     timeout=CALL_TIMEOUT_S)
    assert read.id == created.id and _plain(read.properties) == GATE_NONE

    # Skipping `prepare` is refused with what to write instead.
    check = host.Check(provider_pb2.CheckRequest(urn=GATE_URN, olds=_struct(state),
                                                 news=_struct(_with(p, GATE_FINALIZE))), timeout=CALL_TIMEOUT_S)
    assert [f.property for f in check.failures] == ["phase"]
    assert "phase: prepare" in check.failures[0].reason

    # `prepare` is allowed, is a change, and updates the state.
    check = host.Check(provider_pb2.CheckRequest(urn=GATE_URN, olds=_struct(state),
                                                 news=_struct(_with(p, GATE_PREPARE))), timeout=CALL_TIMEOUT_S)
    assert list(check.failures) == []
    diff = host.Diff(provider_pb2.DiffRequest(id=created.id, urn=GATE_URN, olds=_struct(state),
                                              news=_struct(_with(p, GATE_PREPARE))), timeout=CALL_TIMEOUT_S)
    assert diff.changes == provider_pb2.DiffResponse.DIFF_SOME
    updated = host.Update(provider_pb2.UpdateRequest(id=created.id, urn=GATE_URN, olds=_struct(state),
                                                     news=_struct(_with(p, GATE_PREPARE))), timeout=CALL_TIMEOUT_S)
    assert _plain(updated.properties) == GATE_PREPARE
    state = _with(p, GATE_PREPARE)
    same = host.Diff(provider_pb2.DiffRequest(id=created.id, urn=GATE_URN, olds=_struct(state),
                                              news=_struct(state)), timeout=CALL_TIMEOUT_S)
    assert same.changes == provider_pb2.DiffResponse.DIFF_NONE

    # Destroy loads the provider from the state alone.
    host.Delete(provider_pb2.DeleteRequest(id=created.id, urn=GATE_URN, properties=_struct(state)),
                timeout=CALL_TIMEOUT_S)


def test_rotation_gate_lifecycle(host: provider_pb2_grpc.ResourceProviderStub) -> None:
    p = RECORDED["RotationGateProvider"]
    none = {"cluster": "shop", "generation": 0, "phase": "none", "migrating": False}
    prepare = {**none, "generation": 1, "phase": "prepare"}
    complete = {**none, "generation": 1, "phase": "complete"}

    def check(olds: dict[str, Any], news: dict[str, Any]) -> list[Any]:
        return list(host.Check(provider_pb2.CheckRequest(urn=ROTATION_URN, olds=_struct(olds),
                                                         news=_struct(_with(p, news))), timeout=CALL_TIMEOUT_S).failures)

    assert check({}, none) == []
    created = host.Create(provider_pb2.CreateRequest(urn=ROTATION_URN, properties=_struct(_with(p, none))),
                          timeout=CALL_TIMEOUT_S)
    assert created.id == "shop/ca-rotation" and _plain(created.properties) == none
    state = _with(p, none)
    read = host.Read(provider_pb2.ReadRequest(id=created.id, urn=ROTATION_URN, properties=_struct(state)),
                     timeout=CALL_TIMEOUT_S)
    assert _plain(read.properties) == none
    # `complete` before `prepare` was applied: refused, saying what to write.
    failures = check(state, complete)
    assert [f.property for f in failures] == ["phase"] and "phase: prepare" in failures[0].reason
    # A rotation while the cluster migrates: refused.
    assert "migrating" in check(state, {**prepare, "migrating": True})[0].reason
    # `prepare`, then `complete`.
    assert check(state, prepare) == []
    diff = host.Diff(provider_pb2.DiffRequest(id=created.id, urn=ROTATION_URN, olds=_struct(state),
                                              news=_struct(_with(p, prepare))), timeout=CALL_TIMEOUT_S)
    assert diff.changes == provider_pb2.DiffResponse.DIFF_SOME
    updated = host.Update(provider_pb2.UpdateRequest(id=created.id, urn=ROTATION_URN, olds=_struct(state),
                                                     news=_struct(_with(p, prepare))), timeout=CALL_TIMEOUT_S)
    state = _with(p, _plain(updated.properties))
    assert check(state, complete) == []
    # Whether a migration runs is context, not state.
    same = host.Diff(provider_pb2.DiffRequest(id=created.id, urn=ROTATION_URN, olds=_struct(state),
                                              news=_struct(_with(p, {**prepare, "migrating": True}))),
                     timeout=CALL_TIMEOUT_S)
    assert same.changes == provider_pb2.DiffResponse.DIFF_NONE
    host.Delete(provider_pb2.DeleteRequest(id=created.id, urn=ROTATION_URN, properties=_struct(state)),
                timeout=CALL_TIMEOUT_S)


def test_upgrade_gate_lifecycle(host: provider_pb2_grpc.ResourceProviderStub) -> None:
    """The fleet's wave gate, loaded from its recorded form in the SDK's own host: check
    keeps the wave's start, refuses advancing before the soak, and the state round-trips."""
    p = RECORDED["UpgradeGateProvider"]

    def gate(wave: str, versions: dict[str, str]) -> dict[str, Any]:
        return GateState("1.37.1", wave, ("canary", "prod"), {"canary": 3600, "prod": 3600},
                         {"canary": ("a",), "prod": ("b",)}, versions,
                         upgraded=tuple(c for c, v in versions.items() if v == "1.37.1")).to_json()

    def check(olds: dict[str, Any], news: dict[str, Any]) -> provider_pb2.CheckResponse:
        return host.Check(provider_pb2.CheckRequest(urn=UPGRADE_URN, olds=_struct(olds),
                                                    news=_struct(_with(p, news))), timeout=CALL_TIMEOUT_S)

    canary = gate("canary", {"a": "1.37.1", "b": "1.36.3"})
    first = check({}, canary)
    assert list(first.failures) == []
    checked = _plain(first.inputs)
    assert abs(checked["since"] - time.time()) < 60  # the wave's start, recorded by check
    created = host.Create(provider_pb2.CreateRequest(urn=UPGRADE_URN, properties=_struct(_with(p, checked))),
                          timeout=CALL_TIMEOUT_S)
    assert created.id == "upgrades"
    state = _with(p, _plain(created.properties))
    read = host.Read(provider_pb2.ReadRequest(id=created.id, urn=UPGRADE_URN, properties=_struct(state)),
                     timeout=CALL_TIMEOUT_S)
    assert _plain(read.properties) == _plain(created.properties)
    # The next wave before the canary's soak: refused on the wave.
    early = check(state, gate("prod", {"a": "1.37.1", "b": "1.37.1"}))
    assert [f.property for f in early.failures] == ["wave"]
    # After the soak: allowed, the state changes and the update carries it.
    soaked = {**state, "since": time.time() - 3601}
    later = check(soaked, gate("prod", {"a": "1.37.1", "b": "1.37.1"}))
    assert list(later.failures) == []
    news = _with(p, _plain(later.inputs))
    diff = host.Diff(provider_pb2.DiffRequest(id=created.id, urn=UPGRADE_URN, olds=_struct(soaked),
                                              news=_struct(news)), timeout=CALL_TIMEOUT_S)
    assert diff.changes == provider_pb2.DiffResponse.DIFF_SOME
    updated = host.Update(provider_pb2.UpdateRequest(id=created.id, urn=UPGRADE_URN, olds=_struct(soaked),
                                                     news=_struct(news)), timeout=CALL_TIMEOUT_S)
    assert _plain(updated.properties)["wave"] == "prod"
    host.Delete(provider_pb2.DeleteRequest(id=created.id, urn=UPGRADE_URN, properties=_struct(news)),
                timeout=CALL_TIMEOUT_S)


def test_plugin_guard_lifecycle(host: provider_pb2_grpc.ResourceProviderStub) -> None:
    p = RECORDED["PluginGuardProvider"]
    cilium = {"cluster": "shop", "plugin": "cilium"}
    calico = {"cluster": "shop", "plugin": "calico"}
    created = host.Create(provider_pb2.CreateRequest(urn=GUARD_URN, properties=_struct(_with(p, cilium))),
                          timeout=CALL_TIMEOUT_S)
    assert created.id == "shop/cilium" and _plain(created.properties) == cilium
    state = _with(p, cilium)

    check = host.Check(provider_pb2.CheckRequest(urn=GUARD_URN, olds=_struct(state), news=_struct(_with(p, calico))),
                       timeout=CALL_TIMEOUT_S)
    assert [f.property for f in check.failures] == ["plugin"]
    assert "Keep cni.plugin: cilium" in check.failures[0].reason
    check = host.Check(provider_pb2.CheckRequest(urn=GUARD_URN, olds=_struct(state), news=_struct(state)),
                       timeout=CALL_TIMEOUT_S)
    assert list(check.failures) == []

    read = host.Read(provider_pb2.ReadRequest(id=created.id, urn=GUARD_URN, properties=_struct(state)),
                     timeout=CALL_TIMEOUT_S)
    assert _plain(read.properties) == cilium
    # A renamed cluster (same plugin) is a change the guard records.
    renamed = {"cluster": "shop2", "plugin": "cilium"}
    diff = host.Diff(provider_pb2.DiffRequest(id=created.id, urn=GUARD_URN, olds=_struct(state),
                                              news=_struct(_with(p, renamed))), timeout=CALL_TIMEOUT_S)
    assert diff.changes == provider_pb2.DiffResponse.DIFF_SOME
    updated = host.Update(provider_pb2.UpdateRequest(id=created.id, urn=GUARD_URN, olds=_struct(state),
                                                     news=_struct(_with(p, renamed))), timeout=CALL_TIMEOUT_S)
    assert _plain(updated.properties) == renamed
    host.Delete(provider_pb2.DeleteRequest(id=created.id, urn=GUARD_URN, properties=_struct(_with(p, renamed))),
                timeout=CALL_TIMEOUT_S)


def test_image_pin_keeps_the_first_image_until_an_explicit_pin(
        host: provider_pb2_grpc.ResourceProviderStub) -> None:
    p = RECORDED["ImagePinProvider"]
    first = {"scope": "shop-aws-eu-west-1", "latest": "ami-0aaa", "pinned": ""}
    created = host.Create(provider_pb2.CreateRequest(urn=IMAGE_URN, properties=_struct(_with(p, first))),
                          timeout=CALL_TIMEOUT_S)
    assert _plain(created.properties)["image"] == "ami-0aaa"
    state = _with(p, {**first, "image": "ami-0aaa"})

    # A newer image is published: the lookup answers another id, nothing changes.
    newer = _with(p, {**first, "latest": "ami-0bbb"})
    diff = host.Diff(provider_pb2.DiffRequest(id=created.id, urn=IMAGE_URN, olds=_struct(state), news=_struct(newer)),
                     timeout=CALL_TIMEOUT_S)
    assert diff.changes == provider_pb2.DiffResponse.DIFF_NONE
    read = host.Read(provider_pb2.ReadRequest(id=created.id, urn=IMAGE_URN, properties=_struct(state)),
                     timeout=CALL_TIMEOUT_S)
    assert _plain(read.properties)["image"] == "ami-0aaa"

    # The stack file pins the newer one: an explicit move.
    pinned = _with(p, {**first, "latest": "ami-0bbb", "pinned": "ami-0bbb"})
    diff = host.Diff(provider_pb2.DiffRequest(id=created.id, urn=IMAGE_URN, olds=_struct(state), news=_struct(pinned)),
                     timeout=CALL_TIMEOUT_S)
    assert diff.changes == provider_pb2.DiffResponse.DIFF_SOME
    updated = host.Update(provider_pb2.UpdateRequest(id=created.id, urn=IMAGE_URN, olds=_struct(state),
                                                     news=_struct(pinned)), timeout=CALL_TIMEOUT_S)
    assert _plain(updated.properties)["image"] == "ami-0bbb"
    state = _with(p, _plain(updated.properties))

    # Dropping the pin later keeps the image in use.
    unpinned = _with(p, {**first, "latest": "ami-0ccc"})
    updated = host.Update(provider_pb2.UpdateRequest(id=created.id, urn=IMAGE_URN, olds=_struct(state),
                                                     news=_struct(unpinned)), timeout=CALL_TIMEOUT_S)
    assert _plain(updated.properties)["image"] == "ami-0bbb"
    host.Delete(provider_pb2.DeleteRequest(id=created.id, urn=IMAGE_URN, properties=_struct(state)),
                timeout=CALL_TIMEOUT_S)


def test_a_broken_serialized_form_fails_loudly(host: provider_pb2_grpc.ResourceProviderStub) -> None:
    """A state whose provider no longer imports fails the operation with the reason
    (what a rename of a provider class would do to every existing stack)."""
    moved = base64.b64encode(base64.b64decode(RECORDED["PluginGuardProvider"]).replace(
        b"components.dynamic", b"components.dynamix")).decode()
    with pytest.raises(grpc.RpcError) as err:
        host.Delete(provider_pb2.DeleteRequest(id="shop/cilium", urn=GUARD_URN,
                                               properties=_struct(_with(moved, {"cluster": "shop", "plugin": "x"}))),
                    timeout=CALL_TIMEOUT_S)
    assert "components.dynamix" in str(err.value.details())


def test_module_imports_only_the_sdk_and_pure_planning() -> None:
    """What loading a provider pulls in: no cloud SDK, no Kubernetes provider."""
    code = ("import sys, components.dynamic; "
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('pulumi_aws', 'pulumi_gcp', 'pulumi_kubernetes', 'pulumi_tls', 'pulumi_random')]; "
            "print(','.join(sorted(bad)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path("/"), capture_output=True, text=True,
                         timeout=START_TIMEOUT_S, check=True)
    assert out.stdout.strip() == ""


def test_dynamic_providers_live_in_the_one_stable_module() -> None:
    """A provider class elsewhere would be pickled under a path that moves with the code."""
    root = Path(__file__).resolve().parents[2]
    allowed = {"components/dynamic.py", "components/kube.py"}  # kube.py: the API readiness check, going away
    found = sorted(str(p.relative_to(root)) for d in ("components", "fleetform") for p in (root / d).rglob("*.py")
                   if "(ResourceProvider)" in p.read_text() and str(p.relative_to(root)) not in allowed)
    assert found == []


def test_root_rotation_gate_lifecycle(host: provider_pb2_grpc.ResourceProviderStub) -> None:
    """The fleet root's gate is the same provider with ``cluster: root``: it refuses a root
    rotation while any cluster migrates, and `complete` before `prepare` was applied."""
    p = RECORDED["RotationGateProvider"]
    none = {"cluster": ROOT, "generation": 0, "phase": "none", "migrating": False}
    prepare, complete = {**none, "generation": 1, "phase": "prepare"}, {**none, "generation": 1, "phase": "complete"}

    def check(olds: dict[str, Any], news: dict[str, Any]) -> list[Any]:
        return list(host.Check(provider_pb2.CheckRequest(urn=ROTATION_URN, olds=_struct(olds),
                                                         news=_struct(_with(p, news))), timeout=CALL_TIMEOUT_S).failures)

    created = host.Create(provider_pb2.CreateRequest(urn=ROTATION_URN, properties=_struct(_with(p, none))),
                          timeout=CALL_TIMEOUT_S)
    assert created.id == f"{ROOT}/ca-rotation" and _plain(created.properties) == none
    state = _with(p, none)
    assert [f.property for f in check(state, complete)] == ["phase"]
    assert "migrat" in check(state, {**prepare, "migrating": True})[0].reason
    updated = host.Update(provider_pb2.UpdateRequest(id=created.id, urn=ROTATION_URN, olds=_struct(state),
                                                     news=_struct(_with(p, prepare))), timeout=CALL_TIMEOUT_S)
    state = _with(p, _plain(updated.properties))
    assert _plain(updated.properties) == prepare and check(state, complete) == []
    host.Delete(provider_pb2.DeleteRequest(id=created.id, urn=ROTATION_URN, properties=_struct(state)),
                timeout=CALL_TIMEOUT_S)
