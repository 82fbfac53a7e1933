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


ZONAL_GROUP = """
    t = gcp.compute.InstanceTemplate("t", machine_type="e2-medium", disks=[
        gcp.compute.InstanceTemplateDiskArgs(source_image="debian-cloud/debian-12")],
        network_interfaces=[gcp.compute.InstanceTemplateNetworkInterfaceArgs(network="default")])
    g = gcp.compute.InstanceGroupManager("g", name={name!r}, base_instance_name={base!r}, {zone}
        versions=[gcp.compute.InstanceGroupManagerVersionArgs(instance_template=t.self_link_unique)])
    pulumi.export("group", g.instance_group)
    pulumi.export("id", g.id)
"""


def test_a_zonal_group_lives_in_a_zone_and_reports_its_instance_group_url(tmp_path: Path) -> None:
    prog = program(tmp_path / "ok", ZONAL_GROUP.format(name="web-a", base="web-a", zone='zone="europe-west4-a",'))
    result = run_program(prog, project="p", stack="s", config={"gcp:project": "acme", "gcp:region": "europe-west4"})
    assert result.outputs == {
        "group": "https://www.googleapis.com/compute/v1/projects/acme/zones/europe-west4-a/instanceGroups/web-a",
        "id": "projects/acme/zones/europe-west4-a/instanceGroupManagers/web-a"}


def test_a_zonal_group_without_a_zone_or_with_a_bad_name_is_refused(tmp_path: Path) -> None:
    prog = program(tmp_path / "nozone", ZONAL_GROUP.format(name="web-a", base="web-a", zone=""))
    with pytest.raises(ProviderCheckError) as exc:
        run_program(prog, project="p", stack="s", config={"gcp:project": "acme", "gcp:region": "europe-west4"})
    assert exc.value.problems == ["Cannot determine zone: set in this resource, or set provider-level zone."]
    prog = program(tmp_path / "names", ZONAL_GROUP.format(name="Web_A", base="w" * 59, zone='zone="europe-west4-a",'))
    with pytest.raises(ProviderCheckError) as exc:
        run_program(prog, project="p", stack="s", config={"gcp:project": "acme", "gcp:region": "europe-west4"})
    assert exc.value.problems == [
        "googleapi: Error 400: Invalid value for field 'resource.name': 'Web_A'. "
        "Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)', invalid",
        f"googleapi: Error 400: Invalid value for field 'resource.baseInstanceName': '{'w' * 59}'. "
        "Must be a match of regex '[a-z][-a-z0-9]{0,57}', invalid"]


def _nlb_program(directory: Path, ip: str, *, internal: bool = True) -> Path:
    return program(directory, f"""
        vpc = aws.ec2.Vpc("vpc", cidr_block="10.0.0.0/16")
        subnet = aws.ec2.Subnet("s", vpc_id=vpc.id, cidr_block="10.0.1.0/27", availability_zone="eu-west-1a")
        aws.lb.LoadBalancer("lb", name="acme-mesh", load_balancer_type="network", internal={internal},
                            subnet_mappings=[aws.lb.LoadBalancerSubnetMappingArgs(
                                subnet_id=subnet.id, private_ipv4_address="{ip}")])
    """)


@pytest.mark.parametrize("ip", ["10.0.2.6", "10.0.1.3", "10.0.1.31"])
def test_an_nlb_address_outside_its_subnet_or_reserved_is_refused(tmp_path: Path, ip: str) -> None:
    with pytest.raises(ProviderCheckError) as exc:
        run(_nlb_program(tmp_path / "nlb", ip))
    (problem,) = exc.value.problems
    assert problem.startswith(f"InvalidConfigurationRequest: the private IPv4 address '{ip}' is not a valid "
                              "address of subnet 'subnet-")
    assert problem.endswith("(10.0.1.0/27)")


def test_an_nlb_address_inside_its_subnet_is_taken(tmp_path: Path) -> None:
    assert "aws:lb/loadBalancer:LoadBalancer" in run(_nlb_program(tmp_path / "nlb", "10.0.1.6"))


def test_a_private_address_on_an_internet_facing_nlb_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProviderCheckError, match="for an internal load balancer only"):
        run(_nlb_program(tmp_path / "nlb", "10.0.1.6", internal=False))


def test_a_subnet_reservation_outside_its_subnet_is_refused(tmp_path: Path) -> None:
    prog = program(tmp_path / "scr", """
        subnet = aws.ec2.Subnet("s", vpc_id="vpc-1", cidr_block="10.0.1.0/27")
        aws.ec2.SubnetCidrReservation("r", subnet_id=subnet.id, cidr_block="10.0.2.6/32",
                                      reservation_type="explicit")
    """)
    with pytest.raises(ProviderCheckError, match=r"'10.0.2.6/32' is not within the subnet's CIDR '10.0.1.0/27'"):
        run(prog)


@pytest.mark.parametrize(("ip", "refused"), [("10.1.0.6", False), ("10.1.1.6", True), ("10.1.0.1", True),
                                             ("10.1.0.254", True)])
def test_a_gcp_internal_address_must_be_a_usable_address_of_its_subnetwork(
        tmp_path: Path, ip: str, refused: bool) -> None:
    prog = program(tmp_path / "addr", f"""
        subnet = gcp.compute.Subnetwork("s", name="nodes", network="net", region="europe-west1",
                                        ip_cidr_range="10.1.0.0/24")
        gcp.compute.Address("a", name="mesh", region="europe-west1", address_type="INTERNAL",
                            subnetwork=subnet.id, purpose="GCE_ENDPOINT", address="{ip}")
    """)
    if not refused:
        assert "gcp:compute/address:Address" in run(prog)
        return
    with pytest.raises(ProviderCheckError, match=rf"'resource.address': '{ip}'. Requested internal IP is outside"):
        run(prog)
