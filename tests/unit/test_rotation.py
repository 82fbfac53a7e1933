"""CA rotation in phases: the gate's rules and the trust each phase gives."""

from __future__ import annotations

import itertools

import pytest

from fleetform.plan.pki import PkiSettings, kubeadm_encryption_algorithm
from fleetform.plan.rotation import (
    PHASES,
    ROOT,
    RotationState,
    ServiceAccountKeys,
    bundle,
    check_spec,
    check_transition,
    parse,
    state_problems,
)

NONE = RotationState()


def S(gen: int, phase: str) -> RotationState:
    return RotationState(gen, phase)  # type: ignore[arg-type]


def valid_states(max_gen: int = 4) -> list[RotationState]:
    return [s for g in range(max_gen + 1) for p in PHASES if not state_problems(s := S(g, p))]


def test_a_rotation_is_prepare_then_complete() -> None:
    assert check_transition("eu", NONE, S(1, "prepare")) is None
    assert check_transition("eu", S(1, "prepare"), S(1, "complete")) is None
    assert check_transition("eu", S(1, "complete"), S(2, "prepare")) is None
    assert check_transition("eu", S(2, "prepare"), S(2, "complete")) is None


def test_skipping_prepare_is_refused_and_says_what_to_write() -> None:
    why = check_transition("eu", NONE, S(1, "complete"))
    assert why is not None and "`generation: 1, phase: prepare`" in why and "docs/credentials.md" in why
    # A bare generation (the shorthand for complete) is the same jump.
    assert check_transition("eu", S(1, "complete"), parse(2)) is not None


def test_completing_before_prepare_was_applied_is_refused() -> None:
    # The gate holds what the last `pulumi up` applied: still generation 0.
    assert check_transition("eu", NONE, S(1, "complete")) is not None
    assert check_transition("eu", S(1, "complete"), S(2, "complete")) is not None


def test_no_skipping_generations_no_going_back_no_overlapping_rotations() -> None:
    assert "one generation at a time" in (check_transition("eu", S(1, "complete"), S(3, "prepare")) or "")
    assert "not undone" in (check_transition("eu", S(2, "prepare"), S(1, "complete")) or "")
    assert "key is gone" in (check_transition("eu", S(2, "complete"), S(1, "complete")) or "")
    assert "still in `phase: prepare`" in (check_transition("eu", S(1, "prepare"), S(2, "prepare")) or "")
    assert "already complete" in (check_transition("eu", S(1, "complete"), S(1, "prepare")) or "")


def test_rotation_while_migrating_is_refused_by_the_gate() -> None:
    why = check_transition("eu", NONE, S(1, "prepare"), migrating=True)
    assert why is not None and "migrating" in why
    # Nothing changes: a migration may go on while a finished rotation stays as it is.
    assert check_transition("eu", S(1, "complete"), S(1, "complete"), migrating=True) is None


def test_a_new_gate_accepts_what_the_stack_says() -> None:
    for s in valid_states():
        assert check_transition("eu", None, s) is None


def test_every_allowed_transition_keeps_trusting_what_was_issued() -> None:
    """The no-outage invariant: after any transition the gate allows, every certificate
    issued under the last applied state is still trusted, and any client still holding
    the last applied bundle trusts what is issued now once the previous step finished."""
    allowed = 0
    for old, new in itertools.product(valid_states(), repeat=2):
        if check_transition("eu", old, new) is None:
            allowed += 1
            assert old.issuing in new.trusted, (old, new)
            assert new.issuing in old.trusted or new.phase == "prepare", (old, new)
            assert set(old.trusted) & set(new.trusted), (old, new)
    assert allowed > len(valid_states())


def test_trust_per_phase() -> None:
    assert NONE.trusted == (0,) and NONE.issuing == 0 and NONE.retiring is None
    assert S(3, "prepare").trusted == (3, 2) and S(3, "prepare").retiring == 2
    assert S(3, "complete").trusted == (3,)
    assert bundle(S(1, "prepare"), {0: "OLD\n", 1: "NEW"}) == "NEW\nOLD\n"  # issuing CA first
    assert bundle(S(1, "complete"), {0: "OLD\n", 1: "NEW\n"}) == "NEW\n"
    with pytest.raises(KeyError):
        bundle(S(2, "prepare"), {2: "X"})


def test_service_account_tokens_of_the_old_key_stay_valid_until_complete() -> None:
    assert ServiceAccountKeys.of(S(1, "prepare")) == ServiceAccountKeys(1, (1, 0))
    assert ServiceAccountKeys.of(S(1, "complete")) == ServiceAccountKeys(1, (1,))


def test_parse_and_state_rules() -> None:
    assert parse(None) == NONE and parse(0) == NONE
    assert parse(2) == S(2, "complete")
    assert parse({"generation": 1, "phase": "prepare"}) == S(1, "prepare")
    assert state_problems(S(1, "none"))[0][0] == ("phase",)
    assert state_problems(S(0, "prepare"))[0][0] == ("generation",)
    assert RotationState.from_json({"generation": 1, "phase": "prepare"}) == S(1, "prepare")
    assert RotationState.from_json({}) is None
    assert RotationState.from_json({"generation": -1, "phase": "complete"}) is None
    assert RotationState.from_json({"generation": 2.0, "phase": "complete"}) == S(2, "complete")  # over gRPC
    assert RotationState.from_json({"generation": 1.5, "phase": "complete"}) is None
    assert RotationState.from_json(S(2, "complete").to_json()) == S(2, "complete")


def test_spec_rules_are_located() -> None:
    problems = check_spec({"eu": S(1, "prepare"), "us": S(1, "none"), ROOT: S(1, "prepare")}, ["eu"])
    paths = [p for p, _ in problems]
    assert ("eu", "phase") in paths and ("us", "phase") in paths and (ROOT, "phase") in paths
    root_msg = next(m for p, m in problems if p == (ROOT, "phase"))
    assert "eu is migrating" in root_msg
    assert check_spec({"eu": S(1, "complete")}, ["eu"]) == []


def test_kubeadm_issues_keys_of_the_fleets_algorithm() -> None:
    assert kubeadm_encryption_algorithm(PkiSettings()) == "ECDSA-P256"  # the default for new fleets
    assert kubeadm_encryption_algorithm(PkiSettings(ecdsa_curve="P384")) == "ECDSA-P384"
    assert kubeadm_encryption_algorithm(PkiSettings(algorithm="RSA", rsa_bits=3072)) == "RSA-3072"


def test_the_gate_checks_what_the_engine_hands_it() -> None:
    from components.dynamic import rotation_gate_check as gate_check
    from components.dynamic import rotation_gate_inputs as gate_inputs

    applied = gate_inputs("eu", RotationState(), False)
    assert gate_check(applied, gate_inputs("eu", S(1, "prepare"), False)) is None
    assert "needs `phase: prepare` applied first" in (gate_check(applied, gate_inputs("eu", S(1, "complete"), False)) or "")
    assert "migrating" in (gate_check(applied, gate_inputs("eu", S(1, "prepare"), True)) or "")
    assert gate_check({}, gate_inputs("eu", S(3, "complete"), False)) is None  # a new gate
