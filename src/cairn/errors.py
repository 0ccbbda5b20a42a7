"""Problems found in a project, as data: each one knows its file, line and a hint."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the user's input, located as precisely as we can."""

    kind: str
    message: str
    file: str | None = None
    line: int | None = None
    hint: str | None = None

    def describe(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        text = f"{where}{self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class CairnError(Exception):
    """Raised when user input is wrong; carries the problems so every shell can show them."""

    def __init__(self, problems: Problem | Sequence[Problem]) -> None:
        self.problems: list[Problem] = (
            [problems] if isinstance(problems, Problem) else list(problems)
        )
        super().__init__("\n".join(p.describe() for p in self.problems))


def close_matches(name: str, choices: Iterable[str]) -> list[str]:
    """Up to three of `choices` that look like a mistyped `name`, closest first."""
    return difflib.get_close_matches(name, sorted(choices), n=3, cutoff=0.5)


def closest(name: str, choices: Iterable[str]) -> str | None:
    """A hint naming the choices closest to a mistyped name, if any are close."""
    options = sorted(choices)
    matches = close_matches(name, options)
    if matches:
        return "did you mean " + " or ".join(repr(m) for m in matches) + "?"
    if options:
        return "known names: " + ", ".join(options[:10])
    return None


def relative(path: Path, root: Path) -> str:
    """A path as the user would type it from the project root."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


class BlockError(Exception):
    """A block failed in a way we can point at: the file, the line and what went wrong."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None,
                 detail: str = "") -> None:
        self.message = message
        self.file = file
        self.line = line
        self.detail = detail
        super().__init__(message)

    def describe(self) -> str:
        where = f"{self.file}:{self.line}: " if self.file and self.line else (
            f"{self.file}: " if self.file else "")
        return f"{where}{self.message}" + (f"\n{self.detail}" if self.detail else "")
