"""`fleetform status`: the fleet table from a stack's outputs, offline."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fleetform.addons.model import content_version
from fleetform.cli.main import main
from fleetform.plan.credentials import earliest_expiry


@pytest.fixture(scope="module")
def dev_outputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The outputs the dev stack's program exports (offline engine, as `fleetform synth`)."""
    out = tmp_path_factory.mktemp("synth") / "dev"
    assert main(["synth", "--stack", "dev", "--out", str(out)]) == 0
    return out / "outputs.json"


def _status(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(["status", "--stack", "dev", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_outputs_mark_every_incarnation_deployed_with_its_version(
        dev_outputs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _status(capsys, "--outputs", str(dev_outputs))
    rows = data["incarnations"]
    assert rows and all(r["deployed"] for r in rows)
    assert all(r["kubernetes"]["deployed"] == r["kubernetes"]["planned"] for r in rows)
    assert data["not_in_stack_file"] == []


def test_an_incarnation_missing_from_the_outputs_is_not_deployed_and_an_extra_one_is_named(
        dev_outputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outputs = json.loads(dev_outputs.read_text())
    first = sorted(outputs["incarnations"])[0]
    outputs["incarnations"]["old-aws-us-west-2"] = outputs["incarnations"].pop(first)
    edited = tmp_path / "outputs.json"
    edited.write_text(json.dumps(outputs))
    data = _status(capsys, "--outputs", str(edited))
    row = next(r for r in data["incarnations"] if r["incarnation"] == first)
    assert row["deployed"] is False and row["kubernetes"]["deployed"] is None
    assert data["not_in_stack_file"] == ["old-aws-us-west-2"]


def test_without_outputs_nothing_is_claimed_deployed(capsys: pytest.CaptureFixture[str]) -> None:
    rows = _status(capsys)["incarnations"]
    assert rows and not any(r["deployed"] for r in rows)
    assert all(r["load_balancer"] is None for r in rows)


def test_a_file_that_is_not_stack_outputs_is_a_located_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "o.json"
    bad.write_text("{not json")
    assert main(["status", "--stack", "dev", "--outputs", str(bad)]) == 2
    assert capsys.readouterr().err.startswith(f"{bad}: line 1, column 2: not JSON")


def test_outputs_carry_the_published_bundle_and_the_earliest_certificate_expiry(
        dev_outputs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _status(capsys, "--outputs", str(dev_outputs))["incarnations"]
    outputs = json.loads(dev_outputs.read_text())
    for row in rows:
        # The bundle version is the content hash of exactly the files synth shows for it.
        folder = dev_outputs.parent / "addons" / row["cluster"]
        files = {p.relative_to(folder).as_posix(): p.read_text() for p in folder.rglob("*") if p.is_file()}
        assert files and row["addons"] == content_version(files)
        # The earliest expiry is a leaf's: before every CA of the cluster.
        expiry = datetime.datetime.strptime(row["certificates_expire"], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.UTC)
        cas = x509.load_pem_x509_certificates(outputs["identity"]["cluster_cas"][row["cluster"]].encode())
        assert cas and all(expiry < ca.not_valid_after_utc for ca in cas)
        assert row["certificates_expire"] == outputs["incarnations"][row["incarnation"]]["certificates"][
            "earliest_expiry"]


def test_earliest_expiry_reads_every_certificate_of_every_bundle() -> None:
    assert earliest_expiry([]) is None
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "t")])

    def cert(days: int) -> str:
        start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
        built = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                 .serial_number(days).not_valid_before(start).not_valid_after(start + datetime.timedelta(days=days))
                 .sign(key, hashes.SHA256()))
        return built.public_bytes(serialization.Encoding.PEM).decode()

    assert earliest_expiry([cert(30) + cert(10), "", cert(20)]) == "2026-01-11T00:00:00Z"
