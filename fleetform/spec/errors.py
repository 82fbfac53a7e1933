"""User-facing errors: every problem names the file and the path inside it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_:@/-][A-Za-z0-9_:@./-]*")


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the user's input, printed as ``<file>: <path>: <message>``."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.message}"


class FleetError(Exception):
    """Invalid input. Carries every problem found, so users fix them all in one go.

    Raised before any resource is registered; the CLI prints the problems and exits 2.
    """

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(dict.fromkeys(problems))
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class Loc:
    """Where a value came from: a file and a dotted path inside it."""

    file: str
    path: str

    def child(self, key: str | int) -> Loc:
        if isinstance(key, int):
            return Loc(self.file, f"{self.path}[{key}]")
        # Keys that would break the one-line `<file>: <path>: <message>` form (empty,
        # line breaks, odd characters) are quoted.
        text = key if _PLAIN_KEY.fullmatch(key) else f"[{key!r}]"
        if text.startswith("["):
            return Loc(self.file, f"{self.path}{text}")
        return Loc(self.file, f"{self.path}.{text}" if self.path else text)

    def problem(self, message: str) -> Problem:
        return Problem(self.file, self.path, message)
