"""Explain a block's failure in terms of the user's code, not Cairn's internals."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path

from cairn.errors import BlockError
from cairn.io.secrets import redact

_INTERNAL = tuple(str(Path(__file__).parents[1] / part) for part in ("runtime", "blocks", "io"))


@dataclass
class Failure:
    message: str
    file: str | None
    line: int | None
    traceback: str

    def describe(self) -> str:
        where = f"{self.file}:{self.line}: " if self.file and self.line else ""
        text = f"{where}{self.message}"
        return f"{text}\n{self.traceback}" if self.traceback else text


def describe_failure(error: BaseException, block_file: str) -> Failure:
    """The message, the user's file and line, and a traceback without Cairn's frames;
    secret values masked, since all of it is shown and kept in the history."""
    failure = _describe(error, block_file)
    return Failure(redact(failure.message), failure.file, failure.line,
                   redact(failure.traceback))


def _describe(error: BaseException, block_file: str) -> Failure:
    if isinstance(error, BlockError):
        return Failure(error.message, error.file, error.line, error.detail)
    frames = [
        frame for frame in traceback.extract_tb(error.__traceback__)
        if not frame.filename.startswith(_INTERNAL)
    ]
    line = None
    for frame in frames:
        if frame.filename == block_file:
            line = frame.lineno
    lines = traceback.format_list(frames) if frames else []
    lines += traceback.format_exception_only(error)
    message = "".join(traceback.format_exception_only(error)).strip()
    return Failure(message, block_file, line, "Traceback (most recent call last):\n"
                   + "".join(lines).rstrip())
