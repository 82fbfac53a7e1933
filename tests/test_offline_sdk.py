"""The offline engine's SDK shortcuts (`fleetform/engine/sdk.py`) change nothing a
program sees, registers or exports: each run here goes once with them and once through
the Pulumi SDK's own functions, and the two must agree exactly."""

from __future__ import annotations

import contextlib
import json
import random
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi.runtime import resource_cycle_breaker

from fleetform.engine import records
from fleetform.engine import run as offline
from fleetform.engine import sdk as offline_sdk
from fleetform.engine.records import ProgramResult
from fleetform.engine.run import run_program

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ROOT = Path(__file__).resolve().parents[1]


def write_program(directory: Path, source: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "__main__.py").write_text(textwrap.dedent(source))
    return directory


def as_json(result: ProgramResult) -> str:
    return json.dumps({"resources": [r.to_json() for r in result.resources],
                       "outputs": result.outputs, "secret_outputs": result.secret_outputs},
                      sort_keys=True)


def both_ways(monkeypatch: pytest.MonkeyPatch, program: Path, config: dict[str, Any] | None = None,
              *, project: str = "p", stack: str = "s") -> tuple[Any, Any]:
    """The run's result (or the exception it raised) with the shortcuts, then without."""
    outcomes = []
    for shortcuts in (offline_sdk.sdk_shortcuts, contextlib.nullcontext):
        monkeypatch.setattr(offline, "sdk_shortcuts", shortcuts)
        try:
            outcomes.append(run_program(program, project=project, stack=stack, config=config or {}))
        except Exception as exc:  # compared below
            outcomes.append(exc)
    return outcomes[0], outcomes[1]


TYPED_PROGRAM = """
    import pulumi
    import pulumi_aws as aws

    class Plain(pulumi.CustomResource):
        size: pulumi.Output[int]
        def __init__(self, name, size, opts=None):
            super().__init__("acme:index:Plain", name, {"size": size, "computed": None}, opts)

    class Group(pulumi.ComponentResource):
        def __init__(self, name):
            super().__init__("acme:index:Group", name)
            self.vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block="10.1.0.0/16",
                                   opts=pulumi.ResourceOptions(parent=self))
            # Declared outputs read before the VPC is registered (settled later) ...
            self.subnet = aws.ec2.Subnet(f"{name}-subnet", vpc_id=self.vpc.id,
                                         cidr_block=self.vpc.cidr_block.apply(lambda c: c.replace("/16", "/24")),
                                         opts=pulumi.ResourceOptions(parent=self))
            self.register_outputs({})

    group = Group("g")
    plain = Plain("plain", 3, pulumi.ResourceOptions(depends_on=[group]))
    secret = aws.secretsmanager.Secret("s", name="s")
    version = aws.secretsmanager.SecretVersion("sv", secret_id=secret.id, secret_string="hunter2")
    # depends_on as the SDK gets it in other shapes: resources next to an Output of one.
    late = Plain("late", 4, pulumi.ResourceOptions(depends_on=[secret, pulumi.Output.from_input(version)]))
    # ... and after (inside an apply, once registration came back), directly via pulumi.get.
    pulumi.export("arn_after", group.vpc.urn.apply(lambda _: group.vpc.arn))
    pulumi.export("tags_all", group.subnet.id.apply(lambda _: pulumi.get(group.subnet, "tags_all")))
    pulumi.export("subnet_cidr", group.subnet.cidr_block)
    pulumi.export("unset", group.vpc.ipv6_cidr_block)
    pulumi.export("unset_known", group.vpc.ipv6_cidr_block.is_known())
    pulumi.export("secret_string", version.secret_string)
    pulumi.export("secret_is_secret", version.secret_string.is_secret())
    pulumi.export("plain_size", plain.size)
    pulumi.export("plain_computed", plain.computed)
    pulumi.export("deps", pulumi.Output.all(group.vpc.arn, plain.size).apply(lambda v: str(v)))
"""


def test_typed_and_plain_resources_record_and_export_as_under_the_sdk(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    program = write_program(tmp_path / "typed", TYPED_PROGRAM)
    fast, sdk = both_ways(monkeypatch, program, {"aws:region": "eu-west-1"})
    assert isinstance(fast, ProgramResult) and isinstance(sdk, ProgramResult)
    assert as_json(fast) == as_json(sdk)
    # What the comparison covers: declared outputs read early, late, unset and secret.
    assert fast.outputs["subnet_cidr"] == "10.1.0.0/24"
    assert fast.outputs["arn_after"].startswith("arn:aws:ec2:")
    assert fast.outputs["secret_string"] == records.SECRET_MASK
    assert fast.secret_outputs["secret_string"] == "hunter2"
    assert fast.outputs.get("unset") is None and fast.outputs["unset_known"] is True
    plain = next(r for r in fast.resources if r.name == "plain")
    assert {r.name for r in fast.resources if r.urn in plain.dependencies} == {"g-vpc", "g-subnet"}
    late = next(r for r in fast.resources if r.name == "late")
    assert {r.name for r in fast.resources if r.urn in late.dependencies} == {"s", "sv"}


def test_a_failed_registration_fails_its_declared_outputs_as_under_the_sdk(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    program = write_program(tmp_path / "dup", """
        import pulumi
        import pulumi_aws as aws

        first = aws.ec2.Vpc("v", cidr_block="10.1.0.0/16")
        again = aws.ec2.Vpc("v", cidr_block="10.2.0.0/16")
        pulumi.export("arn", again.arn)
    """)
    fast, sdk = both_ways(monkeypatch, program, {"aws:region": "eu-west-1"})
    assert isinstance(fast, records.DuplicateResourceError)
    assert type(fast) is type(sdk) and str(fast) == str(sdk)


def test_a_dependency_cycle_is_refused_as_under_the_sdk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    program = write_program(tmp_path / "cycle", """
        import pulumi

        group = pulumi.ComponentResource("acme:index:Group", "g")
        # A child that depends on its own parent component: depends on itself.
        pulumi.CustomResource("acme:index:Thing", "t", {},
                              pulumi.ResourceOptions(parent=group, depends_on=[group]))
    """)
    fast, sdk = both_ways(monkeypatch, program)
    assert isinstance(fast, RuntimeError) and "circular dependency" in str(fast)
    assert type(fast) is type(sdk) and str(fast) == str(sdk)


def test_the_cycle_check_answers_as_the_sdks_on_random_graphs() -> None:
    class Node:
        def __init__(self, i: int) -> None:
            self.i = i

    rng = random.Random(11)
    for _ in range(200):
        n = rng.randint(2, 12)
        ours, theirs = [Node(i) for i in range(n)], [Node(i) for i in range(n)]
        for _ in range(rng.randint(1, 40)):
            a, b = rng.randrange(n), rng.randrange(n)
            assert (offline_sdk._declare_dependency(ours[a], ours[b])
                    == resource_cycle_breaker.declare_dependency(theirs[a], theirs[b]))
        for mine, sdks in zip(ours, theirs, strict=True):
            assert ({d.i for d in resource_cycle_breaker._deps(mine)}
                    == {d.i for d in resource_cycle_breaker._deps(sdks)})


def test_a_property_read_through_a_hand_written_getter_is_made_at_registration() -> None:
    import pulumi
    import pulumi_aws as aws

    class Custom(aws.ec2.Vpc):
        @property
        def cidr_block(self) -> pulumi.Output[str]:
            return self.__dict__["cidr_block"]  # type: ignore[no-any-return]

    assert offline_sdk._lazy_property(aws.ec2.Vpc, "cidr_block")
    assert not offline_sdk._lazy_property(Custom, "cidr_block")
    assert offline_sdk._lazy_property(Custom, "arn")
    assert not offline_sdk._lazy_property(pulumi.CustomResource, "size")


def test_the_prod_stack_records_and_exports_as_under_the_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole program: every record (inputs, dependencies, options) and every output."""
    config = dict(yaml.safe_load((ROOT / "stacks" / "Pulumi.prod.yaml").read_text())["config"])
    fast, sdk = both_ways(monkeypatch, ROOT, config, project="fleetform", stack="prod")
    assert isinstance(fast, ProgramResult) and isinstance(sdk, ProgramResult)
    assert len(fast.resources) > 1000
    assert as_json(fast) == as_json(sdk)
