"""What every bridged provider does before a resource reaches the cloud: auto-naming, the
Terraform schema's validators, and the engine's report of a failed check.

Each function reproduces one piece of provider or engine code offline, with the same
message text, so a registration that a real preview would refuse fails here the same way.
The source of every message is listed in docs/provider-checks.md.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# A check reads a resource's name and inputs and returns the provider's own messages.
Check = Callable[[str, str, Mapping[str, Any]], list[str]]

# Random characters tfbridge appends to an auto-name (AutoName's Randlen).
RANDLEN = 7
# terraform-plugin-sdk id.PrefixedUniqueId: the prefix, a UTC timestamp to 1/10000 s without
# its dot (18 digits) and an 8-hex-digit counter (id.UniqueIDSuffixLength = 26).
UNIQUE_ID_SUFFIX_LENGTH = 26


@dataclass(frozen=True)
class AutoName:
    """One provider's auto-naming of a property (tfbridge AutoNameOptions)."""

    prop: str  # Pulumi (camelCase) property name
    maxlen: int
    separator: str = "-"
    lower: bool = False  # AutoNameTransform(strings.ToLower), applied to the URN name only
    randlen: int = RANDLEN
    # Properties that conflict with this one: when the program sets one, no default is made.
    unless: tuple[str, ...] = ()

    def prefix(self, urn_name: str) -> str:
        return (urn_name.lower() if self.lower else urn_name) + self.separator

    def error(self, type_token: str, urn_name: str) -> str | None:
        """tfbridge's error when the name plus its random suffix cannot fit."""
        prefix = self.prefix(urn_name)
        if self.maxlen > 0 and len(prefix) + self.randlen > self.maxlen:
            return (
                f"could not make instance of '{type_token}': name '{prefix}' plus "
                f"{self.randlen} random chars is longer than maximum length {self.maxlen}"
            )
        return None

    def value(self, urn_name: str, suffix: str) -> str:
        return self.prefix(urn_name) + suffix[: self.randlen]


def default_suffix(urn_name: str) -> str:
    """A stand-in for the random suffix when the caller has none (hex, like tfbridge's)."""
    return hashlib.sha256(urn_name.encode()).hexdigest()[:RANDLEN]


def go_quote(value: str) -> str:
    """Go's %q for the ASCII strings the validators print."""
    return json.dumps(value)


def check_failure(type_token: str, urn_name: str, reason: str, prop: str | None = None) -> str:
    """The engine's line for a failed provider check (diag.GetResourceInvalidError), with
    tfbridge's pointer to the property (NewCheckFailure)."""
    if prop:
        reason = f"{reason}. Examine values at '{urn_name}.{prop}'."
    return f"{type_token} resource '{urn_name}' has a problem: {reason}"


def present(inputs: Mapping[str, Any], prop: str) -> bool:
    """Whether the program set a property (None and empty collections count as unset)."""
    value = inputs.get(prop)
    if value is None:
        return False
    if isinstance(value, list | dict | str):
        return len(value) > 0
    return True


# ---- terraform-plugin-sdk helper/validation and helper/schema


def string_len_between(k: str, value: str, lo: int, hi: int) -> list[str]:
    if len(value) < lo or len(value) > hi:
        return [f"expected length of {k} to be in the range ({lo} - {hi}), got {value}"]
    return []


def string_match(k: str, value: str, pattern: str, message: str) -> list[str]:
    if re.search(pattern, value) is None:
        if message:
            return [f"invalid value for {k} ({message})"]
        return [
            f"expected value of {k} to match regular expression {go_quote(pattern)}, "
            f"got {value}"
        ]
    return []


def validate_regexp(k: str, value: str, pattern: str) -> list[str]:
    """terraform-provider-google verify.ValidateRegexp."""
    if re.search(pattern, value) is None:
        return [f"{go_quote(k)} ({go_quote(value)}) doesn't match regexp {go_quote(pattern)}"]
    return []


def conflicts_with(
    inputs: Mapping[str, Any], key: tuple[str, str], others: Sequence[tuple[str, str]]
) -> list[str]:
    """helper/schema validateConflictingAttributes: only a set attribute is checked;
    names are (Pulumi, Terraform) pairs."""
    wire, k = key
    if not present(inputs, wire):
        return []
    for other_wire, other in others:
        if present(inputs, other_wire):
            return [f"ConflictsWith. {go_quote(k)}: conflicts with {other}"]
    return []


def exactly_one_of(inputs: Mapping[str, Any], k: str, keys: Sequence[tuple[str, str]]) -> list[str]:
    """helper/schema validateExactlyOneAttribute; ``keys`` are (Pulumi, Terraform) names."""
    all_keys = sorted({tf for _, tf in keys})
    specified = sorted(tf for wire, tf in keys if present(inputs, wire))
    if not specified:
        return [f"ExactlyOne. {go_quote(k)}: one of `{','.join(all_keys)}` must be specified"]
    if len(specified) > 1:
        return [
            f"ExactlyOne. {go_quote(k)}: only one of `{','.join(all_keys)}` can be specified, "
            f"but `{','.join(specified)}` were specified."
        ]
    return []


@dataclass(frozen=True)
class Rules:
    """Everything one provider checks for one resource type."""

    autoname: AutoName | None = None
    checks: tuple[Check, ...] = ()


def run(
    table: Mapping[str, Rules], type_token: str, urn_name: str, inputs: Mapping[str, Any],
    suffix: str | None,
) -> list[str]:
    """Auto-name first (its error stops Check, as in tfbridge), then every validator on the
    inputs the provider would see, auto-name included."""
    rules = table.get(type_token)
    if rules is None:
        return []
    effective = dict(inputs)
    auto = rules.autoname
    if (
        auto is not None
        and not present(inputs, auto.prop)
        and not any(present(inputs, other) for other in auto.unless)
    ):
        error = auto.error(type_token, urn_name)
        if error is not None:
            return [error]
        effective[auto.prop] = auto.value(urn_name, suffix or default_suffix(urn_name))
    problems: list[str] = []
    for check in rules.checks:
        problems.extend(check(type_token, urn_name, effective))
    return problems


def field(
    prop: str, tf: str, validator: Callable[[str, str], list[str]]
) -> Check:
    """A check of one string property by a Terraform ValidateFunc, reported on that property."""

    def check(type_token: str, urn_name: str, inputs: Mapping[str, Any]) -> list[str]:
        value = inputs.get(prop)
        if not isinstance(value, str) or not value:
            return []
        return [
            check_failure(type_token, urn_name, reason, prop) for reason in validator(tf, value)
        ]

    return check


def schema_rule(
    prop: str, rule: Callable[[Mapping[str, Any]], list[str]]
) -> Check:
    """A check of a combination of properties (ConflictsWith, ExactlyOneOf), reported on
    ``prop``."""

    def check(type_token: str, urn_name: str, inputs: Mapping[str, Any]) -> list[str]:
        return [check_failure(type_token, urn_name, reason, prop) for reason in rule(inputs)]

    return check
