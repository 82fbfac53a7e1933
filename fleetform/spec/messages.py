"""Messages for stack-file problems: pydantic's errors in the user's words, and
did-you-mean hints for unknown names."""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel


def _unwrap(tp: Any) -> list[Any]:
    """The concrete types inside Optional/Union/Annotated."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(tp):
            out.extend(_unwrap(arg))
        return out
    return [tp]


def _model_at(model: type[BaseModel], path: Sequence[str | int]) -> type[BaseModel] | None:
    """The model class that validates the mapping found at ``path``."""
    current: Any = model
    for key in path:
        nxt: Any = None
        for tp in _unwrap(current):
            if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(key, str):
                field = next((f for n, f in tp.model_fields.items() if key in (n, f.alias)), None)
                if field is not None:
                    nxt = field.annotation
            elif typing.get_origin(tp) in (list, tuple) and isinstance(key, int):
                nxt = typing.get_args(tp)[0]
            elif typing.get_origin(tp) is dict and isinstance(key, str):
                nxt = typing.get_args(tp)[1]
            if nxt is not None:
                break
        if nxt is None:
            return None
        current = nxt
    for tp in _unwrap(current):
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return tp
    return None


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


_TYPE_WORDS = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "float_type": "a number",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
    "tuple_type": "a list",
}


def describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def error_message(err: Any, model: type[BaseModel]) -> str:
    kind = err["type"]
    value = err.get("input")
    loc = tuple(err["loc"])
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        keys = [f.alias or n for n, f in parent.model_fields.items()] if parent else []
        return f"unknown key {loc[-1]!r}{did_you_mean(str(loc[-1]), keys)}"
    if kind == "literal_error":
        expected = re.findall(r"'([^']*)'", err.get("ctx", {}).get("expected", ""))
        return f"{value!r} is not one of {', '.join(expected)}"
    if kind in _TYPE_WORDS:
        hint = (
            " (remove the quotes)"
            if isinstance(value, str) and kind.split("_")[0] in ("int", "bool", "float")
            else ""
        )
        if kind == "string_type" and isinstance(value, int | float) and not isinstance(value, bool):
            # YAML reads 1.30 as the number 1.3: versions (and any text that looks like a
            # number) must be quoted.
            key = str(loc[-1]) if loc else "value"
            hint = (f': quote it, like {key}: "1.37" (unquoted, YAML reads a version as a number: '
                    "1.30 becomes 1.3)" if "version" in key else f': quote it, like {key}: "{value}"')
        return f"expected {_TYPE_WORDS[kind]}, got {describe(value)}{hint}"
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    if kind == "string_pattern_mismatch":
        return f"{value!r} does not have the expected format ({err['ctx']['pattern']})"
    msg = str(err["msg"])
    return f"{msg[0].lower()}{msg[1:]}, got {describe(value)}"
