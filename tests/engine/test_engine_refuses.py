"""A registration a provider would refuse fails the offline run, as preview would, and the
mocks never shorten or correct a value."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from fleetform.cli import validate
from fleetform.cli.main import main
from fleetform.engine.checks import ProviderCheckError
from fleetform.engine.run import run_program


def program(directory: Path, body: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "__main__.py").write_text(
        "import pulumi\nimport pulumi_aws as aws\nimport pulumi_gcp as gcp\n" + textwrap.dedent(body)
    )
    return directory


def run(directory: Path) -> list[str]:
    result = run_program(directory, project="p", stack="s", config={"aws:region": "eu-west-1"})
    return [r.type for r in result.resources]


def test_auto_named_target_group_over_32_fails_the_run(tmp_path: Path) -> None:
    name = "eu-core-aws-eu-west-1-control-plane-api-tg"
    prog = program(tmp_path / "tg", f"""
        aws.lb.TargetGroup("{name}", port=6443, protocol="TCP", vpc_id="vpc-1")
    """)
    with pytest.raises(ProviderCheckError) as exc:
        run(prog)
    assert exc.value.problems == [
        "could not make instance of 'aws:lb/targetGroup:TargetGroup': name "
        f"'{name}-' plus 7 random chars is longer than maximum length 32"
    ]


def test_given_names_reach_the_outputs_unchanged(tmp_path: Path) -> None:
    prog = program(tmp_path / "ok", """
        lb = aws.lb.LoadBalancer("lb", name="acme-api-0123456789abcdef0123456",
                                 load_balancer_type="network", subnets=["subnet-1"])
        b = gcp.storage.Bucket("b", name="acme-snapshots", location="EU")
        pulumi.export("lb", lb.name)
        pulumi.export("bucket", b.name)
    """)
    result = run_program(prog, project="p", stack="s", config={"aws:region": "eu-west-1"})
    assert result.outputs == {"lb": "acme-api-0123456789abcdef0123456", "bucket": "acme-snapshots"}


def test_an_uppercase_gcp_firewall_name_is_refused_not_lowercased(tmp_path: Path) -> None:
    prog = program(tmp_path / "fw", """
        gcp.compute.Firewall("fw", name="Api-From-LB", network="net",
                             allows=[gcp.compute.FirewallAllowArgs(protocol="tcp")])
    """)
    with pytest.raises(ProviderCheckError) as exc:
        run(prog)
    assert exc.value.problems == [
        "gcp:compute/firewall:Firewall resource 'fw' has a problem: \"name\" (\"Api-From-LB\") "
        "doesn't match regexp \"^(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)$\". "
        "Examine values at 'fw.name'."
    ]


def test_the_cli_reports_it_like_preview(monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    def refuse(_args: object) -> int:
        raise ProviderCheckError(["aws:lb/loadBalancer:LoadBalancer resource 'lb' has a problem: x"])

    monkeypatch.setattr(validate, "run", refuse)
    assert main(["validate", "--stack", "dev"]) == 1
    err = capsys.readouterr().err
    assert err == "error: aws:lb/loadBalancer:LoadBalancer resource 'lb' has a problem: x\n"
    assert "internal error" not in err
