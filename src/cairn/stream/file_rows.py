"""A file's rows one at a time, each as the JSON bytes of a message, from any row on.

JSON lines are read line by line and Parquet by row groups (skipping whole groups before
the first row wanted), CSV in blocks; a JSON document is read whole.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterator
from typing import Any

Rows = Generator[tuple[bytes, bool], None, None]
_ROWS_PER_READ = 1024  # Parquet and CSV rows decoded at a time


def rows(fs: Any, path: str, fmt: str, start: int) -> Rows:
    """The rows of the file at `path` from row `start`, each with whether it is the last."""
    yield from _with_last(_READERS[fmt](fs, path, start))


def _with_last(values: Iterator[bytes]) -> Iterator[tuple[bytes, bool]]:
    previous: bytes | None = None
    for value in values:
        if previous is not None:
            yield previous, False
        previous = value
    if previous is not None:
        yield previous, True


def _json(row: Any) -> bytes:
    return json.dumps(row, ensure_ascii=False, separators=(",", ":"),
                      default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v),
                      ).encode()


def _jsonl(fs: Any, path: str, start: int) -> Iterator[bytes]:
    with fs.open(path, "rb", compression="infer") as handle:
        rows = (line.strip() for line in handle)
        for index, line in enumerate(row for row in rows if row):
            if index >= start:
                yield line


def _json_document(fs: Any, path: str, start: int) -> Iterator[bytes]:
    with fs.open(path, "rb", compression="infer") as handle:
        data = handle.read().strip()  # one document: read whole
    if not data:
        return
    parsed = json.loads(data)
    rows = [_json(item) for item in parsed] if isinstance(parsed, list) else [data]
    yield from rows[start:]


def _csv(fs: Any, path: str, start: int) -> Iterator[bytes]:
    import pyarrow.csv as csv

    # As `read_file` reads CSV: an unquoted empty field is a null, a quoted one "".
    convert = csv.ConvertOptions(strings_can_be_null=True, quoted_strings_can_be_null=False)
    with fs.open(path, "rb", compression="infer") as handle:
        reader = csv.open_csv(handle, convert_options=convert)
        seen = 0
        for batch in reader:
            if seen + batch.num_rows > start:
                yield from (_json(row) for row in batch.slice(max(0, start - seen)).to_pylist())
            seen += batch.num_rows


def _parquet(fs: Any, path: str, start: int) -> Iterator[bytes]:
    import pyarrow.parquet as pq

    with fs.open(path, "rb") as handle:
        parquet = pq.ParquetFile(handle)
        groups: list[int] = []
        seen = 0
        for group in range(parquet.num_row_groups):  # skip whole row groups before `start`
            rows = parquet.metadata.row_group(group).num_rows
            if seen + rows > start or groups:
                groups.append(group)
            else:
                seen += rows
        for batch in parquet.iter_batches(batch_size=_ROWS_PER_READ, row_groups=groups):
            if seen + batch.num_rows > start:
                yield from (_json(row) for row in batch.slice(max(0, start - seen)).to_pylist())
            seen += batch.num_rows


_READERS = {"jsonl": _jsonl, "json": _json_document, "csv": _csv, "parquet": _parquet}
