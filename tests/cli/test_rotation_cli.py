"""CA rotation in phases as a user runs it: located errors (exit 2) for bad input, the
gate's rules against the applied stack (`plan --against`), the resources each phase
keeps, and the credential inventory `plan` prints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cli_support import copy_dev_stack, fleetform, no_traceback


def rotating(value: Any, **pki: Any) -> Any:
    def edit(fleet: dict[str, Any]) -> None:
        ident = fleet.setdefault("identity", {})
        ident.setdefault("pki", {}).update(pki)
        if value is not None:
            ident["pki"]["rotate"] = {"dev-aws": value}

    return edit


def _lines(out: Any) -> list[str]:
    return [line.split(": ", 1)[1] for line in out.stderr.strip().splitlines()]


def test_bad_rotation_input_is_a_located_error(tmp_path: Path) -> None:
    cases = {
        "gen0": (rotating({"generation": 0, "phase": "prepare"}),
                 "fleet.identity.pki.rotate.dev-aws.generation: `phase: prepare` needs generation 1 or more"),
        "lifetime": (rotating(None, intermediate_validity_days=200),
                     "fleet.identity.pki.intermediate_validity_days: kubeadm issues its certificates"),
        # kubeadm's certificates live 365 days: renewing 400 days ahead is refused by the schema.
        "renew": (rotating(None, renewal={"kubeadm_renew_before_days": 400}),
                  "fleet.identity.pki.renewal.kubeadm_renew_before_days"),
    }
    for name, (edit, expected) in cases.items():
        path = copy_dev_stack(tmp_path / name, edit)
        out = fleetform("validate", "--file", str(path))
        assert out.returncode == 2, (name, out.stdout, out.stderr)
        assert any(line.startswith(expected) for line in _lines(out)), (name, out.stderr)
        no_traceback(out)
    # The leaf checks stay: a leaf cannot outlive its CA either.
    path = copy_dev_stack(tmp_path / "leaf", rotating(None, leaf_validity_days=2000))
    out = fleetform("validate", "--file", str(path))
    assert out.returncode == 2 and "a leaf certificate cannot outlive its CA" in out.stderr


def test_rotation_while_migrating_is_refused(tmp_path: Path) -> None:
    def edit(fleet: dict[str, Any]) -> None:
        rotating({"generation": 1, "phase": "prepare"})(fleet)
        fleet["clusters"][0]["migrate"] = {"to": {"cloud": "gcp", "region": "europe-west4"}, "phase": "prepare"}

    path = copy_dev_stack(tmp_path / "moving", edit)
    out = fleetform("validate", "--file", str(path))
    assert out.returncode == 2
    assert "fleet.identity.pki.rotate.dev-aws.phase: cluster 'dev-aws' cannot rotate while dev-aws is migrating" \
        in out.stderr
    no_traceback(out)


def test_phases_against_the_applied_stack_and_what_each_keeps(tmp_path: Path) -> None:
    applied = tmp_path / "applied"
    before = copy_dev_stack(tmp_path / "before", rotating(None))
    assert fleetform("synth", "--file", str(before), "--out", str(applied)).returncode == 0

    # complete without prepare applied: refused in preview, located at the rotation.
    skip = copy_dev_stack(tmp_path / "skip", rotating({"generation": 1, "phase": "complete"}))
    out = fleetform("plan", "--file", str(skip), "--against", str(applied), "--no-resources")
    assert out.returncode == 2  # --against needs the program run: that is an error too
    out = fleetform("plan", "--file", str(skip), "--against", str(applied))
    assert out.returncode == 2, out.stderr
    assert "fleet.identity.pki.rotate.dev-aws: cluster 'dev-aws': `phase: complete` of generation 1 needs " \
           "`phase: prepare` applied first" in out.stderr
    # A bare generation is the same jump.
    bare = copy_dev_stack(tmp_path / "bare", rotating(1))
    assert fleetform("plan", "--file", str(bare), "--against", str(applied)).returncode == 2

    # prepare: both generations' CAs exist; the gate records the phase.
    prepare = copy_dev_stack(tmp_path / "prepare", rotating({"generation": 1, "phase": "prepare"}))
    prepared = tmp_path / "prepared"
    out = fleetform("plan", "--file", str(prepare), "--against", str(applied), "--json")
    assert out.returncode == 0, out.stderr
    assert fleetform("synth", "--file", str(prepare), "--out", str(prepared)).returncode == 0
    names = {r["name"] for r in json.loads((prepared / "resources.json").read_text())}
    for ca in ("kubernetes-ca", "etcd-ca", "front-proxy-ca"):
        assert any(n.endswith(f"dev-aws-{ca}-cert") for n in names), ca
        assert any(n.endswith(f"dev-aws-{ca}-g1-cert") for n in names), ca
    gate = next(r for r in json.loads((prepared / "resources.json").read_text())
                if r["name"] == "dev-aws-ca-rotation")
    assert gate["inputs"]["generation"] == 1 and gate["inputs"]["phase"] == "prepare"

    # complete after prepare: allowed; the old generation's CAs are gone.
    complete = copy_dev_stack(tmp_path / "complete", rotating({"generation": 1, "phase": "complete"}))
    out = fleetform("plan", "--file", str(complete), "--against", str(prepared), "--json")
    assert out.returncode == 0, out.stderr
    names = {r["name"] for r in json.loads(out.stdout)["resources"]}
    assert any(n.endswith("dev-aws-kubernetes-ca-g1-cert") for n in names)
    assert not any(n.endswith("dev-aws-kubernetes-ca-cert") for n in names)
    # And going back is refused.
    back = copy_dev_stack(tmp_path / "back", rotating(None))
    out = fleetform("plan", "--file", str(back), "--against", str(prepared))
    assert out.returncode == 2 and "a rotation is not undone" in out.stderr
    no_traceback(out)


def test_plan_lists_every_credential_with_its_renewal(tmp_path: Path) -> None:
    path = copy_dev_stack(tmp_path / "dev", rotating({"generation": 1, "phase": "prepare"}))
    out = fleetform("plan", "--file", str(path), "--no-resources", "--json")
    assert out.returncode == 0, out.stderr
    creds = json.loads(out.stdout)["credentials"]
    names = {(c["scope"], c["name"]) for c in creds["credentials"]}
    assert ("dev-aws", "kubernetes CA [generation 1, phase prepare]") in names
    assert ("dev-gcp", "kubernetes CA") in names
    # The documents install every renewal: nothing expires unrenewed, nothing to warn about.
    assert creds["warnings"] == []
    assert all(c["renewal"] for c in creds["credentials"])
    token = next(c for c in creds["credentials"] if c["scope"] == "dev-gcp" and c["name"].startswith("bootstrap token"))
    assert token["lifetime_hours"] == 6 and "timer" in token["renewal"]
    text = fleetform("plan", "--file", str(path), "--no-resources")
    assert "credentials (lifetime, how they are renewed):" in text.stdout
    assert "NOT RENEWED" not in text.stdout and "warning: dev-gcp: bootstrap token" not in text.stdout


def rotating_root(value: Any) -> Any:
    def edit(fleet: dict[str, Any]) -> None:
        fleet.setdefault("identity", {}).setdefault("pki", {})["rotate_root"] = value

    return edit


def test_bad_root_rotation_input_is_a_located_error(tmp_path: Path) -> None:
    cases = {
        "gen0": (rotating_root({"generation": 0, "phase": "prepare"}),
                 "fleet.identity.pki.rotate_root.generation: `phase: prepare` needs generation 1 or more"),
        "negative": (rotating_root(-1), "fleet.identity.pki.rotate_root: a generation counts up from 0"),
        "phase": (rotating_root({"generation": 1, "phase": "later"}), "fleet.identity.pki.rotate_root"),
    }
    for name, (edit, expected) in cases.items():
        path = copy_dev_stack(tmp_path / name, edit)
        for command in ("validate", "plan"):
            out = fleetform(command, "--file", str(path), *(["--no-resources"] if command == "plan" else []))
            assert out.returncode == 2, (name, command, out.stdout, out.stderr)
            assert any(line.startswith(expected) for line in _lines(out)), (name, command, out.stderr)
            no_traceback(out)


def test_root_rotation_while_a_cluster_migrates_is_refused(tmp_path: Path) -> None:
    def edit(fleet: dict[str, Any]) -> None:
        rotating_root({"generation": 1, "phase": "prepare"})(fleet)
        fleet["clusters"][0]["migrate"] = {"to": {"cloud": "gcp", "region": "europe-west4"}, "phase": "prepare"}

    out = fleetform("validate", "--file", str(copy_dev_stack(tmp_path / "moving", edit)))
    assert out.returncode == 2
    assert "fleet.identity.pki.rotate_root.phase: the fleet root cannot rotate while dev-aws is migrating" \
        in out.stderr
    no_traceback(out)


def test_root_phases_against_the_applied_stack(tmp_path: Path) -> None:
    applied = tmp_path / "applied"
    before = copy_dev_stack(tmp_path / "before", rotating(None))
    assert fleetform("synth", "--file", str(before), "--out", str(applied)).returncode == 0

    # complete without prepare applied (or a bare generation): refused, located.
    for name, value in (("skip", {"generation": 1, "phase": "complete"}), ("bare", 1)):
        skip = copy_dev_stack(tmp_path / name, rotating_root(value))
        out = fleetform("plan", "--file", str(skip), "--against", str(applied))
        assert out.returncode == 2, (name, out.stderr)
        assert "fleet.identity.pki.rotate_root: the fleet root: `phase: complete` of generation 1 needs " \
               "`phase: prepare` applied first" in out.stderr, name
        no_traceback(out)

    # prepare: both roots; every cluster CA certified by both; the gate records the phase.
    prepare = copy_dev_stack(tmp_path / "prepare", rotating_root({"generation": 1, "phase": "prepare"}))
    prepared = tmp_path / "prepared"
    assert fleetform("plan", "--file", str(prepare), "--against", str(applied)).returncode == 0
    assert fleetform("synth", "--file", str(prepare), "--out", str(prepared)).returncode == 0
    resources = json.loads((prepared / "resources.json").read_text())
    names = {r["name"] for r in resources}
    assert {"acme-identity-root-ca-cert", "acme-identity-root-ca-g1-cert"} <= names
    for cluster in ("dev-aws", "dev-gcp"):
        for ca in ("kubernetes-ca", "etcd-ca", "front-proxy-ca"):
            assert {f"acme-identity-{cluster}-{ca}-cert", f"acme-identity-{cluster}-{ca}-root-g1-cert"} <= names
            # One key per CA, whichever root certifies it.
            assert f"acme-identity-{cluster}-{ca}-root-g1-key" not in names
    protect = {r["name"]: r["protect"] for r in resources}
    # The retiring root is no longer protected (complete deletes it); the new one is.
    assert protect["acme-identity-root-ca-g1-cert"] and not protect["acme-identity-root-ca-cert"]
    gate = next(r for r in resources if r["name"] == "acme-identity-root-rotation")
    assert (gate["inputs"]["cluster"], gate["inputs"]["generation"], gate["inputs"]["phase"]) == ("root", 1, "prepare")
    # Another rotation while this one is in prepare is refused.
    gen2 = copy_dev_stack(tmp_path / "gen2", rotating_root({"generation": 2, "phase": "prepare"}))
    out = fleetform("plan", "--file", str(gen2), "--against", str(prepared))
    assert out.returncode == 2 and "generation 1 is still in `phase: prepare`" in out.stderr

    # complete after prepare: allowed; the old root and its certificates are gone.
    complete = copy_dev_stack(tmp_path / "complete", rotating_root({"generation": 1, "phase": "complete"}))
    out = fleetform("plan", "--file", str(complete), "--against", str(prepared), "--json")
    assert out.returncode == 0, out.stderr
    names = {r["name"] for r in json.loads(out.stdout)["resources"]}
    assert "acme-identity-root-ca-g1-cert" in names and "acme-identity-root-ca-cert" not in names
    assert "acme-identity-dev-aws-kubernetes-ca-root-g1-cert" in names
    assert "acme-identity-dev-aws-kubernetes-ca-cert" not in names
    # Going back is refused.
    back = copy_dev_stack(tmp_path / "back", rotating_root(None))
    out = fleetform("plan", "--file", str(back), "--against", str(prepared))
    assert out.returncode == 2 and "a rotation is not undone" in out.stderr
    no_traceback(out)


def test_a_cluster_rotation_rotates_its_service_account_key(tmp_path: Path) -> None:
    prepare = copy_dev_stack(tmp_path / "prepare", rotating({"generation": 1, "phase": "prepare"}))
    out = fleetform("plan", "--file", str(prepare), "--json")
    assert out.returncode == 0, out.stderr
    names = {r["name"] for r in json.loads(out.stdout)["resources"]}
    # Both keys during prepare; the other cluster keeps its one key.
    assert {"acme-identity-dev-aws-service-account-key", "acme-identity-dev-aws-service-account-g1-key"} <= names
    assert "acme-identity-dev-gcp-service-account-g1-key" not in names
    complete = copy_dev_stack(tmp_path / "complete", rotating({"generation": 1, "phase": "complete"}))
    out = fleetform("plan", "--file", str(complete), "--json")
    names = {r["name"] for r in json.loads(out.stdout)["resources"]}
    assert "acme-identity-dev-aws-service-account-g1-key" in names
    assert "acme-identity-dev-aws-service-account-key" not in names
