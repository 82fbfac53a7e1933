"""Random values as pulumi-random 4 returns them (deterministic)."""

from __future__ import annotations

import base64
import string
from typing import Any

from fleetform.engine.mocks.base import ResourceCall, digest, resource_mock, stream

# --------------------------------------------------------------------------------------
# random


_SPECIAL = "!@#$%&*()-_=+[]{}<>:?"


def _random_chars(c: ResourceCall) -> str:
    length = int(c.get("length", 16))
    classes: list[tuple[str, int]] = []
    if c.get("upper", True):
        classes.append((string.ascii_uppercase, int(c.get("minUpper", 0))))
    if c.get("lower", True):
        classes.append((string.ascii_lowercase, int(c.get("minLower", 0))))
    if c.get("numeric", c.get("number", True)):
        classes.append((string.digits, int(c.get("minNumeric", 0))))
    if c.get("special", True):
        classes.append((str(c.get("overrideSpecial") or _SPECIAL), int(c.get("minSpecial", 0))))
    alphabet = "".join(chars for chars, _ in classes) or string.ascii_letters
    data = stream(length * 2 + 64, c.seed, "chars")
    out = [alphabet[b % len(alphabet)] for b in data[:length]]
    # Satisfy the minimums deterministically by overwriting from the front.
    pos = 0
    for chars, minimum in classes:
        for k in range(minimum):
            if pos < length:
                out[pos] = chars[data[length + pos + k] % len(chars)]
                pos += 1
    return "".join(out)


@resource_mock("random:index/randomPassword:RandomPassword")
def _random_password(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    result = _random_chars(c)
    bcrypt = "$2a$10$" + base64.b64encode(digest(c.seed, "bcrypt") * 2).decode()[:53]
    return "none", {"result": result, "bcryptHash": bcrypt}


@resource_mock("random:index/randomString:RandomString")
def _random_string(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    result = _random_chars(c)
    return result, {"result": result}


@resource_mock("random:index/randomId:RandomId")
def _random_id(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    raw = stream(int(c.get("byteLength", 8)), c.seed, "id")
    prefix = str(c.get("prefix", ""))
    b64url = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return prefix + b64url, {
        "hex": prefix + raw.hex(),
        "b64Std": prefix + base64.b64encode(raw).decode(),
        "b64Url": prefix + b64url,
        "dec": prefix + str(int.from_bytes(raw, "big")),
    }


@resource_mock("random:index/randomBytes:RandomBytes")
def _random_bytes(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    raw = stream(int(c.get("length", 32)), c.seed, "bytes")
    return "none", {"base64": base64.b64encode(raw).decode(), "hex": raw.hex()}


@resource_mock("random:index/randomInteger:RandomInteger")
def _random_integer(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    low, high = int(c.get("min", 0)), int(c.get("max", 0))
    result = low + int.from_bytes(digest(c.seed, "int")[:8], "big") % max(1, high - low + 1)
    return str(result), {"result": result}


@resource_mock("random:index/randomUuid:RandomUuid")
def _random_uuid(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    result = c.uuid("uuid")
    return result, {"result": result}


_PET_ADJECTIVES = [
    "brave",
    "calm",
    "eager",
    "fancy",
    "gentle",
    "happy",
    "jolly",
    "keen",
    "lucky",
    "proud",
]
_PET_NAMES = [
    "otter",
    "lynx",
    "heron",
    "panda",
    "koala",
    "falcon",
    "badger",
    "gecko",
    "walrus",
    "yak",
]


@resource_mock("random:index/randomPet:RandomPet")
def _random_pet(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    length = int(c.get("length", 2))
    data = digest(c.seed, "pet")
    words = [_PET_ADJECTIVES[data[i] % len(_PET_ADJECTIVES)] for i in range(length - 1)]
    words.append(_PET_NAMES[data[-1] % len(_PET_NAMES)])
    if c.get("prefix"):
        words.insert(0, str(c.get("prefix")))
    return str(c.get("separator", "-")).join(words), {}


@resource_mock("random:index/randomShuffle:RandomShuffle")
def _random_shuffle(c: ResourceCall) -> tuple[str, dict[str, Any]]:
    items = list(c.get("inputs", []))
    ordered = sorted(items, key=lambda v: digest(c.seed, "shuffle", v))
    count = int(c.get("resultCount", len(ordered)) or len(ordered))
    return "-", {"results": ordered[:count]}


