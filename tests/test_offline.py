"""The offline engine: runs a real Pulumi program under mocks and records the graph."""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import random
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pulumi
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from fleetform.engine.checks import ProviderCheckError
from fleetform.engine.mocks.base import INVOKE_MOCKS, InvokeCall
from fleetform.engine.mocks.fleet import FleetMocks
from fleetform.engine.records import (
    SECRET_MASK,
    DuplicateResourceError,
    ProgramResult,
    Resource,
    canonical_order,
)
from fleetform.engine.run import run_program

# Importing the provider SDKs' deprecated classes warns; not this module's concern.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TOY = Path(__file__).parent / "fixtures" / "toy_program"
STACK_URN = "urn:pulumi:dev::toy::pulumi:pulumi:Stack::toy-dev"
AWS_PROVIDER = "urn:pulumi:dev::toy::pulumi:providers:aws::aws-euw1"
GCP_PROVIDER = "urn:pulumi:dev::toy::pulumi:providers:gcp::gcp-euw1"
NODE = "urn:pulumi:dev::toy::toy:index:Node::toy-node"
VOLUME = "urn:pulumi:dev::toy::toy:index:Node$aws:ebs/volume:Volume::toy-node-data"
INSTANCE = "urn:pulumi:dev::toy::toy:index:Node$aws:ec2/instance:Instance::toy-node-vm"


def run_toy(**config: Any) -> ProgramResult:
    return run_program(
        TOY,
        project="toy",
        stack="dev",
        config={"aws:region": "us-east-1", **{f"toy:{k}": v for k, v in config.items()}},
    )


def as_json(result: ProgramResult) -> str:
    return json.dumps(
        {
            "resources": [r.to_json() for r in result.resources],
            "outputs": result.outputs,
            "secret_outputs": result.secret_outputs,
        }
    )


def write_program(directory: Path, source: str, **files: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "__main__.py").write_text(textwrap.dedent(source))
    for name, text in files.items():
        (directory / f"{name}.py").write_text(textwrap.dedent(text))
    return directory


@pytest.fixture(scope="module")
def toy() -> ProgramResult:
    return run_toy()


@pytest.fixture(scope="module")
def by_urn(toy: ProgramResult) -> dict[str, Resource]:
    return {r.urn: r for r in toy.resources}


def provider_urn(resource: Resource) -> str | None:
    return resource.provider.rsplit("::", 1)[0] if resource.provider else None


# --------------------------------------------------------------------------------------
# The recorded graph


def test_urns_follow_the_engine_and_parents_are_recorded(by_urn: dict[str, Resource]) -> None:
    stack = by_urn[STACK_URN]
    assert stack.parent is None and stack.type == "pulumi:pulumi:Stack"
    node = by_urn[NODE]
    assert node.parent == STACK_URN and node.custom is False and node.provider is None
    # Children of a component carry its type in their URN and point at it as parent.
    assert by_urn[VOLUME].parent == NODE
    assert by_urn[INSTANCE].parent == NODE
    assert {r.parent for r in by_urn.values() if r.urn != STACK_URN} == {STACK_URN, NODE}


def test_resources_use_the_explicit_providers(by_urn: dict[str, Resource]) -> None:
    aws_provider = by_urn[AWS_PROVIDER]
    assert aws_provider.custom and aws_provider.inputs["region"] == "eu-west-1"
    aws = [r for r in by_urn.values() if r.type.startswith("aws:")]
    gcp = [r for r in by_urn.values() if r.type.startswith("gcp:")]
    assert len(aws) == 9 and len(gcp) == 4
    # Includes the component's children, which inherit `providers={"aws": ...}`.
    assert {provider_urn(r) for r in aws} == {AWS_PROVIDER}
    assert {provider_urn(r) for r in gcp} == {GCP_PROVIDER}
    # The reference is "<urn>::<id>" with the provider's (mock) id.
    assert by_urn[INSTANCE].provider == by_urn[VOLUME].provider
    assert by_urn[INSTANCE].provider.startswith(AWS_PROVIDER + "::")  # type: ignore[union-attr]
    key = next(r for r in by_urn.values() if r.type == "tls:index/privateKey:PrivateKey")
    assert key.provider is None  # default provider


def test_dependencies(by_urn: dict[str, Resource]) -> None:
    instance = by_urn[INSTANCE]
    assert instance.dependencies == tuple(
        sorted(
            [
                "urn:pulumi:dev::toy::aws:ec2/subnet:Subnet::toy-subnet",
                "urn:pulumi:dev::toy::tls:index/privateKey:PrivateKey::toy-key",
                VOLUME,  # through the apply that renders user_data
            ]
        )
    )
    record = by_urn["urn:pulumi:dev::toy::aws:route53/record:Record::toy-api"]
    # depends_on=[component] expands to the component's children.
    assert set(record.dependencies) == {
        "urn:pulumi:dev::toy::aws:route53/zone:Zone::toy-zone",
        VOLUME,
        INSTANCE,
    }


def test_options_protect_ignore_changes_aliases(by_urn: dict[str, Resource]) -> None:
    assert by_urn[VOLUME].protect is True
    assert not by_urn[INSTANCE].protect
    assert by_urn[INSTANCE].ignore_changes == ("userData", "ami")
    assert by_urn[NODE].aliases == ("urn:pulumi:dev::toy::toy:index:Node::toy-old",)
    # Own alias, plus the ones inherited from the renamed parent (as the engine does).
    assert by_urn[INSTANCE].aliases == (
        "urn:pulumi:dev::toy::toy:index:Node$aws:ec2/instance:Instance::toy-node-instance",
        "urn:pulumi:dev::toy::toy:index:Node$aws:ec2/instance:Instance::toy-old-vm",
        "urn:pulumi:dev::toy::toy:index:Node$aws:ec2/instance:Instance::toy-old-instance",
    )
    assert by_urn[VOLUME].aliases == (
        "urn:pulumi:dev::toy::toy:index:Node$aws:ebs/volume:Volume::toy-old-data",
    )


def test_apply_rendered_user_data_and_invokes(by_urn: dict[str, Resource]) -> None:
    inputs = by_urn[INSTANCE].inputs
    user_data = inputs["userData"]
    assert user_data.startswith("#cloud-config\nhostname: toy-node\n")
    assert "  - ssh-ed25519 AAAA" in user_data  # the tls mock's OpenSSH public key
    assert "# data volume vol-" in user_data  # the volume's mock id
    assert "zones eu-west-1a,eu-west-1b" in user_data  # AZ invoke, region of the provider
    assert inputs["ami"].startswith("ami-") and len(inputs["ami"]) == 21  # getAmi invoke
    assert inputs["subnetId"].startswith("subnet-")
    assert by_urn[VOLUME].inputs == {"availabilityZone": "eu-west-1a", "size": 20}


def test_secrets_are_masked_in_inputs_and_outputs(
    toy: ProgramResult, by_urn: dict[str, Resource]
) -> None:
    version = by_urn[
        "urn:pulumi:dev::toy::aws:secretsmanager/secretVersion:SecretVersion::toy-key-secret-v"
    ]
    assert version.inputs["secretString"] == SECRET_MASK
    assert version.inputs["secretId"].startswith(
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:"
    )
    assert toy.outputs["private_key"] == SECRET_MASK
    assert toy.outputs["db"] == {"user": "toy", "password": SECRET_MASK}
    recorded = json.dumps([r.to_json() for r in toy.resources]) + json.dumps(toy.outputs)
    assert "hunter2" not in recorded and "PRIVATE KEY" not in recorded


def test_secret_outputs_reveal(toy: ProgramResult, by_urn: dict[str, Resource]) -> None:
    assert toy.secret_outputs["db"] == {"user": "toy", "password": "hunter2"}
    key = serialization.load_pem_private_key(toy.secret_outputs["private_key"].encode(), None)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    # The mock key is real: its public half is what the apply rendered into user_data.
    openssh = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    assert f"  - {openssh.decode()}\n" in by_urn[INSTANCE].inputs["userData"]
    assert SECRET_MASK not in json.dumps(toy.secret_outputs)
    # Non-secret outputs are the same either way.
    assert toy.secret_outputs["node_ip"] == toy.outputs["node_ip"]


def test_mock_outputs_are_realistic(toy: ProgramResult) -> None:
    out = toy.outputs
    assert ipaddress.ip_address(out["node_ip"]) in ipaddress.ip_network("10.20.1.0/24")
    assert ipaddress.ip_address(out["gcp_ip"]) in ipaddress.ip_network("10.30.0.0/24")
    assert out["sa_email"] == "toy-node@toy-project.iam.gserviceaccount.com"
    policy = json.loads(out["assume_role_policy"])
    assert policy == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"Service": "ec2.amazonaws.com"},
            }
        ],
    }
    assert toy.unknown_invokes == ()


def test_to_json_shape(by_urn: dict[str, Resource]) -> None:
    assert list(by_urn[INSTANCE].to_json()) == [
        "urn",
        "type",
        "name",
        "parent",
        "provider",
        "dependencies",
        "inputs",
        "protect",
        "ignore_changes",
        "aliases",
    ]
    json.dumps(by_urn[INSTANCE].to_json())  # plain JSON


# --------------------------------------------------------------------------------------
# Determinism, isolation, progress


def test_two_runs_are_identical_and_on_resource_sees_each_registration(toy: ProgramResult) -> None:
    seen: list[Resource] = []
    again = run_program(
        TOY, project="toy", stack="dev", config={"aws:region": "us-east-1"}, on_resource=seen.append
    )
    assert as_json(again) == as_json(toy)
    # Live, once per registration (in the order they happened).
    assert sorted(r.urn for r in seen) == sorted(r.urn for r in again.resources)
    assert len({r.urn for r in seen}) == len(seen)


def test_resources_come_in_a_valid_registration_order(toy: ProgramResult) -> None:
    position = {r.urn: i for i, r in enumerate(toy.resources)}
    assert toy.resources[0].urn == STACK_URN
    for r in toy.resources[1:]:
        before = [r.parent, provider_urn(r), *r.dependencies]
        assert all(position[u] < position[r.urn] for u in before if u in position), r.urn
    # A component's children follow it.
    node = position[NODE]
    assert {position[VOLUME], position[INSTANCE]} <= set(range(node + 1, node + 4))


def test_canonical_order_ignores_scheduling(toy: ProgramResult) -> None:
    """Any valid order the SDK happens to produce maps to the same canonical one."""
    rng = random.Random(7)
    for _ in range(5):
        shuffled = _random_valid_order(list(toy.resources), rng)
        assert canonical_order(shuffled) == toy.resources


def _random_valid_order(records: list[Resource], rng: random.Random) -> list[Resource]:
    placed: set[str] = set()
    urns = {r.urn for r in records}
    out: list[Resource] = []
    pending = list(records)
    while pending:
        ready = [
            r
            for r in pending
            if all(u in placed for u in (r.parent, provider_urn(r), *r.dependencies) if u in urns)
        ]
        pick = rng.choice(ready)
        pending.remove(pick)
        placed.add(pick.urn)
        out.append(pick)
    return out


def test_failed_run_does_not_leak_into_the_next(toy: ProgramResult, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        run_toy(fail="apply")
    assert as_json(run_toy()) == as_json(toy)
    # A different program right after: nothing of the toy survives.
    other = write_program(
        tmp_path / "other",
        """
        import pulumi
        pulumi.export("project", pulumi.get_project())
        """,
    )
    result = run_program(other, project="other", stack="prod", config={})
    assert [r.type for r in result.resources] == ["pulumi:pulumi:Stack"]
    assert result.resources[0].urn == "urn:pulumi:prod::other::pulumi:pulumi:Stack::other-prod"
    assert result.outputs == {"project": "other"}


def test_caller_state_is_untouched(tmp_path: Path) -> None:
    path_before, cwd_before = list(sys.path), Path.cwd()
    program = write_program(
        tmp_path / "cwd",
        """
        import os
        import pulumi
        pulumi.export("cwd", os.getcwd())
        pulumi.export("root", pulumi.get_root_directory())
        """,
    )
    result = run_program(program, project="p", stack="s", config={})
    # The program runs from its own directory, as under `pulumi up`...
    assert result.outputs == {"cwd": str(program.resolve()), "root": str(program.resolve())}
    # ...and the caller's process and Pulumi context are as they were.
    assert sys.path == path_before and Path.cwd() == cwd_before
    assert pulumi.runtime.get_root_resource() is None
    assert "__main__" in sys.modules and sys.modules["__main__"].__name__ == "__main__"


def test_program_modules_are_reexecuted_each_run(tmp_path: Path) -> None:
    program = write_program(
        tmp_path / "modules",
        """
        import pulumi
        import toy_counter
        toy_counter.RUNS.append(1)
        pulumi.export("runs", len(toy_counter.RUNS))
        """,
        toy_counter="RUNS: list[int] = []\n",
    )
    first = run_program(program, project="p", stack="s", config={})
    second = run_program(program, project="p", stack="s", config={})
    assert first.outputs == second.outputs == {"runs": 1}
    assert "toy_counter" not in sys.modules


def test_exceptions_keep_the_callers_classes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A package the caller already imported is the one the program uses, so the caller
    can catch the program's exceptions by class."""
    program = write_program(
        tmp_path / "lib",
        """
        import toylib.errors
        raise toylib.errors.ToyLibError("from the program")
        """,
    )
    (program / "toylib").mkdir()
    (program / "toylib" / "__init__.py").write_text("")
    (program / "toylib" / "errors.py").write_text("class ToyLibError(Exception):\n    pass\n")
    monkeypatch.syspath_prepend(str(program))
    import toylib  # type: ignore[import-not-found]  # the package, not yet its submodule

    try:
        for _ in range(2):
            with pytest.raises(Exception, match="from the program") as info:
                run_program(program, project="p", stack="s", config={})
            assert info.value.__class__ is sys.modules["toylib.errors"].ToyLibError
        assert sys.modules["toylib"] is toylib
    finally:
        for name in ("toylib", "toylib.errors"):
            sys.modules.pop(name, None)


def test_structured_config_and_async_entrypoint(tmp_path: Path) -> None:
    program = write_program(
        tmp_path / "config",
        """
        import pulumi
        config = pulumi.Config("fleetform")
        pulumi.export("fleet", config.require_object("fleet"))
        pulumi.export("base", config.require("base"))
        pulumi.export("debug", config.require_bool("debug"))
        pulumi.export("region", pulumi.Config("aws").require("region"))

        async def main():
            return {"late": "from pulumi.run"}

        pulumi.run(main)
        """,
    )
    fleet = {"clusters": [{"name": "a", "cloud": "aws"}], "defaults": {"etcd": {"members": 3}}}
    result = run_program(
        program,
        project="fleetform",
        stack="dev",
        config={
            "fleetform:fleet": fleet,
            "fleetform:base": "fleet.yaml",
            "fleetform:debug": True,
            "aws:region": "eu-central-1",
        },
    )
    assert result.outputs == {
        "fleet": fleet,
        "base": "fleet.yaml",
        "debug": True,
        "region": "eu-central-1",
        "late": "from pulumi.run",
    }


def test_unknown_invokes_return_empty_and_are_reported(tmp_path: Path) -> None:
    program = write_program(
        tmp_path / "invoke",
        """
        import pulumi
        answer = pulumi.runtime.invoke("acme:index:getThing", {"x": 1}).value
        pulumi.export("answer", answer)
        """,
    )
    result = run_program(program, project="p", stack="s", config={})
    assert result.outputs == {"answer": {}}
    assert result.unknown_invokes == ("acme:index:getThing",)


def test_replacement_options_and_property_dependencies_are_recorded(tmp_path: Path) -> None:
    program = write_program(
        tmp_path / "options",
        """
        import pulumi

        a = pulumi.CustomResource("acme:index:Thing", "a", {"size": 1})
        b = pulumi.CustomResource("acme:index:Thing", "b", {"size": 2})
        pulumi.CustomResource(
            "acme:index:Thing", "c", {"from_a": a.id, "from_b": b.urn, "plain": 3},
            pulumi.ResourceOptions(delete_before_replace=True, replace_on_changes=["plain"],
                                   depends_on=[b]))
        """,
    )
    result = run_program(program, project="p", stack="s", config={})
    by_name = {r.name: r for r in result.resources}
    a, b, c = by_name["a"], by_name["b"], by_name["c"]
    assert (c.delete_before_replace, c.replace_on_changes) == (True, ("plain",))
    assert (a.delete_before_replace, a.replace_on_changes) == (False, ())
    assert c.property_dependencies["from_a"] == (a.urn,)
    assert c.property_dependencies["from_b"] == (b.urn,)
    assert c.property_dependencies.get("plain", ()) == ()
    assert set(c.dependencies) == {a.urn, b.urn}
    assert "delete_before_replace" not in c.to_json()  # the recorded graph's shape is unchanged


def test_declared_output_properties_resolve_as_the_sdk_resolves_them(tmp_path: Path) -> None:
    """The engine's `transfer_properties` (one future per output property): values,
    secretness, unknown-ness and the resource dependency of every declared property."""
    program = write_program(
        tmp_path / "outputs",
        """
        import pulumi

        a = pulumi.CustomResource(
            "acme:index:Thing", "a",
            {"size": 1, "token": pulumi.Output.secret("t"), "label": "x", "computed": None},
            pulumi.ResourceOptions(additional_secret_outputs=["label"]))
        b = pulumi.CustomResource("acme:index:Thing", "b", {"from_size": a.size, "plain": 2})
        c = pulumi.CustomResource("acme:index:Thing", "c", {"from_token": a.token})
        pulumi.export("size", a.size)
        pulumi.export("token", a.token)
        pulumi.export("label", a.label)
        pulumi.export("computed", a.computed.apply(repr))
        pulumi.export("computed_known", a.computed.is_known())
        pulumi.export("computed_secret", a.computed.is_secret())
        """,
    )
    result = run_program(program, project="p", stack="s", config={})
    by_name = {r.name: r for r in result.resources}
    a, b, c = by_name["a"], by_name["b"], by_name["c"]
    assert result.secret_outputs["size"] == 1 and result.outputs["size"] == 1
    assert result.outputs["token"] == SECRET_MASK and result.secret_outputs["token"] == "t"
    assert result.outputs["label"] == SECRET_MASK and result.secret_outputs["label"] == "x"
    assert (result.outputs["computed"], result.outputs["computed_known"]) == ("None", True)
    assert result.outputs["computed_secret"] is False
    assert b.dependencies == (a.urn,) and b.property_dependencies["from_size"] == (a.urn,)
    assert b.inputs == {"from_size": 1, "plain": 2}
    assert c.inputs == {"from_token": SECRET_MASK}
    assert c.property_dependencies["from_token"] == (a.urn,)


def test_kubeconfig_on_libyaml_is_byte_identical() -> None:
    """`kubeconfig._safe_dump` (libyaml when it can be) writes what `yaml.safe_dump` does."""
    import yaml

    from fleetform.plan.kubeconfig import _safe_dump

    rng = random.Random(7)
    alphabet = "abcXYZ019 -_:./'\"#\u00e9\n"

    def text(n: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(n))

    docs: list[Any] = [
        {"clusters": [{"name": "c0", "cluster": {"certificate-authority-data": "QUJD" * 300}}]},
        {"k" * 130: "v", "long": "word " * 40, "quoted": "a: b " * 30, "empty": ""},
        {"hint": "Install the kubelogin plugin: `kubectl krew install oidc-login` (https://x)."},
    ]
    for _ in range(300):
        docs.append({
            "apiVersion": "v1",
            "preferences": {},
            "users": [{"name": text(rng.randint(0, 120)), "user": {"data": text(rng.randint(0, 200))}}
                      for _ in range(rng.randint(0, 3))],
            "current-context": text(rng.randint(0, 10)),
        })
    for doc in docs:
        assert _safe_dump(doc) == yaml.safe_dump(doc, sort_keys=False)


# --------------------------------------------------------------------------------------
# Errors reach the caller as the program raised them


def test_custom_exception_before_any_resource_propagates() -> None:
    with pytest.raises(ValueError, match="failing before any resource") as info:
        run_toy(fail="early")
    assert type(info.value).__name__ == "ToyError"


def test_custom_exception_inside_apply_propagates_unwrapped() -> None:
    with pytest.raises(ValueError, match=r"^toy: failing inside an apply$") as info:
        run_toy(fail="apply")
    # The SDK re-wraps it twice as a plain ValueError; the engine hands back the original.
    assert type(info.value).__name__ == "ToyError"


def test_unknown_keyword_argument_raises_type_error() -> None:
    with pytest.raises(TypeError, match="cidr_blok"):
        run_toy(fail="typo")


def test_duplicate_urn_is_refused() -> None:
    with pytest.raises(DuplicateResourceError, match="toy-vpc"):
        run_toy(fail="duplicate")


def test_missing_program() -> None:
    with pytest.raises(FileNotFoundError):
        run_program(TOY / "nope", project="p", stack="s", config={})


# --------------------------------------------------------------------------------------
# Mocks on their own


def test_policy_document_merges_like_the_provider() -> None:
    source = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Sid": "A", "Effect": "Deny", "Action": "*"}]}
    )
    token = "aws:iam/getPolicyDocument:getPolicyDocument"
    call = InvokeCall(
        token=token,
        args={
            "sourcePolicyDocuments": [source],
            "statements": [
                {"sid": "A", "actions": ["s3:GetObject", "s3:ListBucket"], "resources": ["*"]},
                {
                    "sid": "B",
                    "actions": ["sts:AssumeRoleWithWebIdentity"],
                    "principals": [{"type": "Federated", "identifiers": ["arn:oidc"]}],
                    "conditions": [
                        {"test": "StringEquals", "variable": "oidc:sub", "values": ["system:x"]}
                    ],
                },
            ],
        },
        provider_inputs={},
        mocks=FleetMocks(),
    )
    doc = json.loads(INVOKE_MOCKS[token](call)["json"])
    assert doc["Statement"] == [
        {
            "Sid": "A",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:ListBucket"],
            "Resource": "*",
        },
        {
            "Sid": "B",
            "Effect": "Allow",
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Principal": {"Federated": "arn:oidc"},
            "Condition": {"StringEquals": {"oidc:sub": "system:x"}},
        },
    ]


def test_mocks_answer_with_plain_secrets_under_the_stock_monitor() -> None:
    """The mocks also work with pulumi's own MockMonitor (secret sentinels in inputs)."""
    mocks = FleetMocks(config={"aws:region": "ap-south-1"})
    args = pulumi.runtime.MockResourceArgs(
        typ="aws:ec2/instance:Instance",
        name="vm",
        inputs={
            "privateIp": "10.0.0.9",
            "userData": {
                "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
                "value": "x",
            },
        },
        custom=True,
    )
    rid, state = mocks.new_resource(args)
    assert rid is not None and rid.startswith("i-")
    assert state["privateIp"] == "10.0.0.9" and state["userData"] == "x"
    assert state["arn"] == f"arn:aws:ec2:ap-south-1:123456789012:instance/{rid}"
    assert mocks.new_resource(args) == (rid, state)  # deterministic


SHAPES = """
import pulumi


class Group(pulumi.ComponentResource):
    def __init__(self, name, n, opts=None):
        super().__init__("shapes:index:Group", name, None, opts)
        self.items = [
            pulumi.CustomResource(
                "shapes:index:Item", f"{name}-{i}", {"size": i}, pulumi.ResourceOptions(parent=self)
            )
            for i in range(n)
        ]
        self.register_outputs({})


groups = [Group(f"g{g}", 4) for g in range(4)]
for g, group in enumerate(groups):
    # depends_on a component: the SDK walks its children in set (address) order.
    after = groups[(g + 1) % len(groups)]
    ids = pulumi.Output.all(*[item.id for item in group.items])
    ids.apply(
        lambda v, g=g, after=after: pulumi.CustomResource(
            "shapes:index:Late",
            f"late-{g}",
            {"ids": v},
            pulumi.ResourceOptions(depends_on=[after]),
        )
    )
pulumi.export("n", len(groups))
"""


def test_order_is_the_same_in_a_fresh_interpreter(tmp_path: Path) -> None:
    """Registration order and mock values do not depend on the str hash seed or on
    object addresses (which decide the SDK's internal scheduling)."""
    program = write_program(tmp_path / "shapes", SHAPES)
    here = [r.to_json() for r in run_program(program, project="p", stack="s", config={}).resources]
    assert len(here) == 1 + 4 * 5 + 4
    script = textwrap.dedent(
        f"""
        import json
        from pathlib import Path
        from fleetform.engine.run import run_program
        r = run_program(Path({str(program)!r}), project="p", stack="s", config={{}})
        print(json.dumps([x.to_json() for x in r.resources]))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
        cwd=Path(__file__).parent.parent,
    ).stdout
    assert json.loads(out) == here


def _new(mocks: FleetMocks, typ: str, logical: str, **inputs: Any) -> dict[str, Any]:
    args = pulumi.runtime.MockResourceArgs(typ=typ, name=logical, inputs=inputs, custom=True)
    args.urn = f"urn:pulumi:s::p::{typ}::{logical}"  # type: ignore[attr-defined]
    return mocks.new_resource(args)[1]


def test_mock_shapes_follow_the_providers() -> None:
    mocks = FleetMocks(config={"gcp:project": "acme"})
    role = _new(mocks, "aws:iam/role:Role", "node", assumeRolePolicy="{}")
    assert role["arn"] == f"arn:aws:iam::123456789012:role/{role['name']}"
    assert role["name"].startswith("node-") and len(role["name"]) == len("node-") + 7
    lb = _new(
        mocks, "aws:lb/loadBalancer:LoadBalancer", "api", loadBalancerType="network", internal=True,
        subnets=["subnet-0123"],
    )
    assert lb["dnsName"].startswith("internal-api-") and lb["dnsName"].endswith(
        ".elb.us-east-1.amazonaws.com"
    )
    assert ":loadbalancer/net/api-" in lb["arn"]
    # `bucket_prefix`: the provider's PrefixedUniqueId (prefix + 26 characters), not the URN name.
    bucket = _new(mocks, "aws:s3/bucket:Bucket", "addons", bucketPrefix="acme-dev-addons-")
    assert re.fullmatch(r"acme-dev-addons-\d{18}[0-9a-f]{8}", bucket["bucket"]), bucket["bucket"]
    assert bucket["arn"].endswith(bucket["bucket"])
    zone = _new(mocks, "aws:route53/zone:Zone", "z", name="fleet.example.")
    assert zone["zoneId"].startswith("Z") and len(zone["nameServers"]) == 4
    sa = _new(mocks, "gcp:serviceaccount/account:Account", "sa", accountId="etcd-node")
    assert sa["email"] == "etcd-node@acme.iam.gserviceaccount.com"
    subnet = _new(
        mocks,
        "gcp:compute/subnetwork:Subnetwork",
        "s",
        ipCidrRange="10.9.0.0/24",
        region="europe-west4",
    )
    assert subnet["selfLink"].endswith(
        f"/projects/acme/regions/europe-west4/subnetworks/{subnet['name']}"
    )
    rule = _new(
        mocks,
        "gcp:compute/forwardingRule:ForwardingRule",
        "api",
        loadBalancingScheme="INTERNAL",
        subnetwork=subnet["selfLink"],
        region="europe-west4",
    )
    assert ipaddress.ip_address(rule["ipAddress"]) in ipaddress.ip_network("10.9.0.0/24")
    secret = _new(mocks, "gcp:secretmanager/secret:Secret", "s", secretId="etcd-key")
    assert secret["name"].startswith("projects/") and secret["name"].endswith("/secrets/etcd-key")
    password = _new(
        mocks, "random:index/randomPassword:RandomPassword", "p", length=24, special=False
    )
    assert len(password["result"]) == 24 and password["result"].isalnum()


def test_tls_mocks_issue_a_real_deterministic_chain() -> None:
    mocks = FleetMocks()
    ca_key = _new(
        mocks, "tls:index/privateKey:PrivateKey", "ca", algorithm="ECDSA", ecdsaCurve="P256"
    )
    ca = _new(
        mocks,
        "tls:index/selfSignedCert:SelfSignedCert",
        "ca",
        privateKeyPem=ca_key["privateKeyPem"],
        subject={"commonName": "fleet root", "organization": "acme"},
        isCaCertificate=True,
        validityPeriodHours=87600,
        allowedUses=["cert_signing", "crl_signing"],
    )
    leaf_key = _new(mocks, "tls:index/privateKey:PrivateKey", "leaf", algorithm="RSA")
    csr = _new(
        mocks,
        "tls:index/certRequest:CertRequest",
        "leaf",
        privateKeyPem=leaf_key["privateKeyPem"],
        subject={"commonName": "etcd-0"},
        dnsNames=["etcd-0.internal"],
        ipAddresses=["10.0.0.5"],
    )
    leaf = _new(
        mocks,
        "tls:index/locallySignedCert:LocallySignedCert",
        "leaf",
        certRequestPem=csr["certRequestPem"],
        caPrivateKeyPem=ca_key["privateKeyPem"],
        caCertPem=ca["certPem"],
        validityPeriodHours=8760,
        allowedUses=["server_auth", "client_auth", "digital_signature"],
    )
    assert ca_key["privateKeyPem"].startswith("-----BEGIN EC PRIVATE KEY-----")
    assert leaf_key["privateKeyPem"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert isinstance(
        serialization.load_pem_private_key(ca_key["privateKeyPem"].encode(), None),
        ec.EllipticCurvePrivateKey,
    )
    leaf_private = serialization.load_pem_private_key(leaf_key["privateKeyPem"].encode(), None)
    assert isinstance(leaf_private, rsa.RSAPrivateKey) and leaf_private.key_size == 2048
    ca_cert = x509.load_pem_x509_certificate(ca["certPem"].encode())
    leaf_cert = x509.load_pem_x509_certificate(leaf["certPem"].encode())
    leaf_cert.verify_directly_issued_by(ca_cert)
    assert ca_cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf_cert.subject.rfc4514_string() == "CN=etcd-0"
    sans = leaf_cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["etcd-0.internal"]
    assert leaf_cert.public_key() == leaf_private.public_key()
    assert (leaf_cert.not_valid_after_utc - leaf_cert.not_valid_before_utc).days == 365
    assert leaf["validityEndTime"] == "2026-01-01T00:00:00Z"
    # Deterministic: a fresh FleetMocks (fresh run) issues byte-identical material.
    again = FleetMocks()
    assert _new(again, "tls:index/privateKey:PrivateKey", "leaf", algorithm="RSA") == leaf_key
    assert (
        _new(
            again,
            "tls:index/privateKey:PrivateKey",
            "ca",
            algorithm="ECDSA",
            ecdsaCurve="P256",
        )
        == ca_key
    )


def test_ec2_refuses_user_data_over_16_kib_at_create() -> None:
    mocks = FleetMocks()
    small = base64.b64encode(b"x" * 16384).decode()
    _new(mocks, "aws:ec2/instance:Instance", "fits", userDataBase64=small, subnetId="subnet-1")
    big = base64.b64encode(b"x" * 16385).decode()
    with pytest.raises(ProviderCheckError, match="User data is limited to 16384 bytes \\(this one is 16385 bytes\\)"):
        _new(mocks, "aws:ec2/instance:Instance", "too-big", userDataBase64=big, subnetId="subnet-1")
    with pytest.raises(ProviderCheckError, match="User data is limited to 16384 bytes"):
        _new(mocks, "aws:ec2/instance:Instance", "too-big-text", userData="x" * 16385, subnetId="subnet-1")
    with pytest.raises(ProviderCheckError, match="launch template"):
        _new(mocks, "aws:ec2/launchTemplate:LaunchTemplate", "lt", userData=big)
