"""The engine's and the rules' fast paths give exactly what the slow ones they replace give:
GMP's primality test for the mocks' seeded RSA keys, libyaml for the add-on bundles' YAML
and for the documents the policy rules read."""

from __future__ import annotations

import random
from typing import Any

import pytest
import yaml

from fleetform.bootstrap import document
from fleetform.engine.mocks import tls
from policies.rules.base import load_yaml, load_yaml_all

# Strong pseudoprimes to base 2 (composites the base-2 test alone lets through), primes,
# Carmichael numbers and plain composites.
_SPECIAL = [2047, 3277, 4033, 4681, 8321, 15841, 29341, 42799, 49141, 52633, 65281, 74665,
            561, 1105, 1729, 2465, 2821, 6601, 8911, 7919, 104729, 1299709, 2**61 - 1, 2**89 - 1,
            (2**61 - 1) * (2**89 - 1), 3215031751, 2152302898747, 3474749660383]


@pytest.mark.skipif(tls._gmp_strong_prp is None, reason="gmpy2 is not installed")
def test_gmp_primality_answers_as_the_python_miller_rabin() -> None:
    rng = random.Random(18)
    numbers = _SPECIAL + [rng.getrandbits(bits) | 1 | (1 << (bits - 1))
                          for bits in (64, 512, 1024) for _ in range(150)]
    for bases in ((2,), tls._CONFIRM_BASES, (2, 3, 5, 7, 11)):
        for n in numbers:
            if any(n % a == 0 for a in bases):
                continue  # the sieve removed these before any test
            assert tls._strong_probable_prime(n, bases) == tls._miller_rabin(n, bases), (n, bases)


def test_seeded_primes_are_the_same_with_and_without_gmp(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = [tls._seeded_prime(512, "seed", i) for i in range(4)]
    monkeypatch.setattr(tls, "_gmp_strong_prp", None)
    assert [tls._seeded_prime(512, "seed", i) for i in range(4)] == fast


def test_seeded_rsa_keys_pass_openssls_check() -> None:
    """The mock builds its keys without OpenSSL's consistency check; the keys pass it."""
    for seed in ("a", "b"):
        key = tls._rsa_key(2048, seed)
        checked = key.private_numbers().private_key()  # validated
        assert checked.private_numbers() == key.private_numbers() and key.key_size == 2048


def _documents(rng: random.Random) -> list[Any]:
    alphabet = "abcXYZ019 -_:./'\"#|>&*!%@`{}[],?\u00e9\t\n"

    def text(n: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(n))

    def value(depth: int) -> Any:
        kind = rng.randrange(8 if depth < 3 else 5)
        if kind == 0:
            return text(rng.randint(0, 60))
        if kind == 1:
            return "\n".join(text(rng.randint(0, 40)) for _ in range(rng.randint(1, 5)))
        if kind == 2:
            return rng.choice([None, True, False, 0, -3, 2.5, "", "yes", "0o17", "1e3", "~"])
        if kind == 3:
            return "word " * rng.randint(150, 260)  # past the width: folded
        if kind == 4:
            return rng.getrandbits(40)
        if kind == 5:
            return [value(depth + 1) for _ in range(rng.randint(0, 4))]
        return {text(rng.randint(1, 20)) if rng.random() < 0.9 else "k" * rng.randint(95, 135):
                value(depth + 1) for _ in range(rng.randint(0, 5))}

    return [{"apiVersion": "v1", "kind": "ConfigMap", "data": value(0), "more": value(1)} for _ in range(400)]


@pytest.mark.parametrize("literal", [True, False])
def test_dump_as_written_is_byte_identical_to_the_python_emitter(literal: bool) -> None:
    """What the add-on bundles (`addons.render.dump`, `addons.upgrades`) write."""
    py_dumper = document._Dumper if literal else yaml.SafeDumper
    for doc in _documents(random.Random(7 if literal else 8)):
        expected = yaml.dump(doc, Dumper=py_dumper, sort_keys=False, default_flow_style=False, width=1000)
        assert document.dump_as_written(doc, literal=literal) == expected


def test_rules_load_yaml_as_safe_load_does() -> None:
    rng = random.Random(9)
    for doc in _documents(rng):
        for literal in (True, False):
            text = document.dump_as_written(doc, literal=literal)
            assert load_yaml(text) == yaml.safe_load(text)
            stream = text + "---\n" + text
            assert list(load_yaml_all(stream)) == list(yaml.safe_load_all(stream))
    for bad in ("a: [1, 2", "key: 'open", "\tx: 1", "a: b: c", "- a\nb: 1"):
        with pytest.raises(yaml.YAMLError):
            load_yaml(bad)
        with pytest.raises(yaml.YAMLError):
            yaml.safe_load(bad)
