"""The bounds of every name, number and path the API takes, declared once.

Routes take these types, so an odd value (a name past what a file system can hold, a NUL
byte, a number past 64 bits) is refused with a 422 naming the parameter before any route
code, file or database sees it. Whether a name is a *valid* pipeline or block name is the
project's to say (`cairn.project.names`, 400 `bad-name`); these are only the outer bounds.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator, Field

from cairn.project.names import MAX_NAME_CHARACTERS

# No path separators and no control characters (NUL included): a name is never a path.
NAME_PATTERN = r"^[^/\\\x00-\x1f\x7f]+$"
# A file path inside the project: separators allowed, control characters not.
PATH_PATTERN = r"^[^\x00-\x1f\x7f]+$"
MAX_BLOCK_CHARACTERS = 200  # a block file's stem, with room for its suffix within 255 bytes
MAX_RUN_ID_CHARACTERS = 200
MAX_PATH_CHARACTERS = 4096
MAX_ROWS = 10_000  # the most list entries one call returns
MAX_INT = 2**63 - 1  # what SQLite, PostgreSQL and MySQL integers hold
# File systems hold 255 bytes per name; a block file's suffix and a temporary file's
# additions must fit too. Characters are not bytes: 100 emoji are 400 bytes.
MAX_NAME_BYTES = 200


def _fits_a_file_name(name: str | None) -> str | None:
    if name is not None and len(name.encode("utf-8", errors="surrogatepass")) > MAX_NAME_BYTES:
        raise ValueError(f"a name is at most {MAX_NAME_BYTES} bytes in UTF-8")
    return name


FileName = AfterValidator(_fits_a_file_name)

PipelineName = Annotated[str, FileName, Path(
    min_length=1, max_length=MAX_NAME_CHARACTERS, pattern=NAME_PATTERN,
    description="A pipeline's name.")]
BlockName = Annotated[str, FileName, Path(
    min_length=1, max_length=MAX_BLOCK_CHARACTERS, pattern=NAME_PATTERN,
    description="A block's name.")]
RunId = Annotated[str, FileName, Path(
    min_length=1, max_length=MAX_RUN_ID_CHARACTERS, pattern=NAME_PATTERN,
    description="A run id, a unique part of one, or `latest`.")]
TriggerName = Annotated[str, FileName, Path(
    min_length=1, max_length=MAX_NAME_CHARACTERS, pattern=NAME_PATTERN,
    description="A trigger's name.")]
PipelineFilter = Annotated[str | None, FileName, Query(
    min_length=1, max_length=MAX_NAME_CHARACTERS, pattern=NAME_PATTERN,
    description="Only this pipeline's.")]
BlockFilter = Annotated[str | None, FileName, Query(
    min_length=1, max_length=MAX_BLOCK_CHARACTERS, pattern=NAME_PATTERN,
    description="Only this block's.")]
OutputName = Annotated[str, FileName, Query(
    min_length=1, max_length=MAX_BLOCK_CHARACTERS, pattern=NAME_PATTERN,
    description="An output's name.")]
ProjectPath = Annotated[str, Query(
    min_length=1, max_length=MAX_PATH_CHARACTERS, pattern=PATH_PATTERN,
    description="A file's path relative to the project.")]
Limit = Annotated[int, Query(ge=1, le=MAX_ROWS, description="At most this many.")]
Offset = Annotated[int, Query(ge=0, le=MAX_INT, description="Skip this many first.")]
SearchText = Annotated[str, Query(max_length=1000, description="The text to find.")]

# Names in request bodies (a new pipeline's or block's, a rename's): only bounded here, so
# the project's own check says what is wrong with a name (400 `bad-name`).
BodyName = Annotated[str, FileName, Field(max_length=MAX_BLOCK_CHARACTERS)]
NameList = Annotated[list[Annotated[str, FileName, Field(max_length=MAX_BLOCK_CHARACTERS)]],
                     Field(max_length=MAX_ROWS)]
