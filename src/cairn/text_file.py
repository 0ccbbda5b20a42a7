"""Read a project file (settings or block) as text, refusing what no project file should be:
too large, not UTF-8, or holding NUL bytes. Each refusal names the file and, where there
is one, the line."""

from __future__ import annotations

from pathlib import Path

from cairn.errors import CairnError, Problem

# Generous for hand-written settings and blocks; a file past it is data put in the wrong
# place (or an attack on the parser), and reading it would only make the CLI hang.
MAX_FILE_BYTES = 10 * 1024 * 1024


def read_text(path: Path, limit: int = MAX_FILE_BYTES) -> str:
    """The file's text, or a CairnError saying what is wrong with it."""
    size = path.stat().st_size
    if size > limit:
        raise CairnError(Problem(
            "file-too-large", f"the file is {size / 1e6:.1f} MB, more than the "
            f"{limit / 1e6:.0f} MB a project file may be", file=str(path),
            hint="keep data in data files or tables, not in settings or block files"))
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CairnError(Problem(
            "not-utf8", f"the file is not UTF-8 text (byte 0x{data[error.start]:02x} at "
            f"offset {error.start})", file=str(path),
            line=data.count(b"\n", 0, error.start) + 1,
            hint="save the file as UTF-8")) from None
    nul = text.find("\0")
    if nul >= 0:
        raise CairnError(Problem(
            "nul-byte", "the file contains a NUL byte, which text files do not",
            file=str(path), line=text.count("\n", 0, nul) + 1,
            hint="the file may be binary, or damaged; save it again as text"))
    return text
