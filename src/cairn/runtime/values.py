"""How block outputs are written to and read from files.

Tables (pandas, polars, pyarrow) go to Arrow IPC files, written in slices so a large frame
is never copied whole; JSON scalars to JSON; anything else is pickled. A mapped block's
outputs are lists of references to its items' files. Every file is
written under a temporary name, flushed to disk and renamed, so a reader sees the whole
value or nothing.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cairn.atomic import atomic_file

TABLE_KINDS = ("pandas", "polars", "arrow")
_SLICE_ROWS = 1_000_000


@dataclass(frozen=True)
class TableRef:
    """An output that lives in a database as a table or view, not in a file."""

    name: str
    connection: str = "warehouse"


@dataclass
class StoredOutput:
    """Where one output went: its kind, file (relative to the block folder) and size."""

    name: str
    kind: str
    file: str | None = None
    rows: int | None = None
    bytes: int = 0
    note: str | None = None
    connection: str | None = None  # for tables kept in a database

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def table_kind(value: object) -> str | None:
    """'pandas', 'polars' or 'arrow' for a DataFrame-like value, without importing them."""
    module = type(value).__module__.split(".")[0]
    name = type(value).__name__
    if module == "pandas" and name == "DataFrame":
        return "pandas"
    if module == "polars" and name == "DataFrame":
        return "polars"
    if module == "pyarrow" and name == "Table":
        return "arrow"
    return None


def _arrow_batches(value: Any, kind: str) -> Iterator[Any]:
    import pyarrow as pa

    if kind == "arrow":
        yield from value.to_batches(max_chunksize=_SLICE_ROWS)
    elif kind == "polars":
        yield from value.to_arrow().to_batches(max_chunksize=_SLICE_ROWS)
    else:
        import pandas as pd

        index = value.index
        keep_index = not (isinstance(index, pd.RangeIndex) and index.start == 0
                          and index.step == 1)
        for start in range(0, max(len(value), 1), _SLICE_ROWS):
            chunk = value.iloc[start : start + _SLICE_ROWS]
            yield pa.RecordBatch.from_pandas(chunk, preserve_index=keep_index)


def _write_table(value: Any, kind: str, path: Path) -> int:
    import pyarrow as pa

    rows = 0
    with atomic_file(path) as handle:
        sink = pa.PythonFile(handle, mode="w")
        writer = None
        for batch in _arrow_batches(value, kind):
            if writer is None:
                writer = pa.ipc.new_file(sink, batch.schema)
            writer.write_batch(batch)
            rows += batch.num_rows
        if writer is not None:
            writer.close()
    return rows


def is_json_scalar(value: object) -> bool:
    return value is None or type(value) in (bool, int, float, str)


def write_value(value: Any, folder: Path, name: str) -> StoredOutput:
    """Write one output into `folder`; values that cannot be stored are recorded as such."""
    if isinstance(value, TableRef):
        return StoredOutput(name, "table", note=value.name, connection=value.connection)
    kind = table_kind(value)
    if kind is not None:
        import pyarrow as pa

        path = folder / f"{name}.arrow"
        try:
            rows = _write_table(value, kind, path)
            return StoredOutput(name, kind, path.name, rows, path.stat().st_size)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            pass  # columns of arbitrary Python objects: pickle the frame instead
    if is_json_scalar(value) and not (isinstance(value, float) and value != value):
        path = folder / f"{name}.json"
        with atomic_file(path) as handle:
            handle.write(json.dumps(value).encode())
        return StoredOutput(name, "json", path.name, None, path.stat().st_size)
    try:
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as error:  # modules, open files, lambdas: usable in-run, not storable
        return StoredOutput(name, "unstored", note=f"{type(value).__name__}: {error}")
    path = folder / f"{name}.pkl"
    with atomic_file(path) as handle:
        handle.write(payload)
    return StoredOutput(name, "pickle", path.name, None, len(payload))


def write_items(folder: Path, name: str,
                items: list[tuple[str, StoredOutput | None]]) -> StoredOutput:
    """A mapped block's output `name`: the ordered list of its items' outputs, written as
    references to the files each item stored (in sibling folders), not as a copy."""
    path = folder / f"{name}.items.json"
    payload = json.dumps([[unit, output and output.to_dict()] for unit, output in items])
    with atomic_file(path) as handle:
        handle.write(payload.encode())
    return StoredOutput(name, "items", path.name, None, len(payload))


def read_arrow(path: Path) -> Any:
    """A memory-mapped Arrow table: no copy until someone converts it."""
    import pyarrow as pa

    with pa.memory_map(str(path)) as source:
        return pa.ipc.open_file(source).read_all()


def read_value(output: StoredOutput, folder: Path) -> Any:
    """Read an output back as the kind of object the block produced."""
    if output.kind == "table":
        return TableRef(output.note or output.name, output.connection or "warehouse")
    if output.file is None:
        raise FileNotFoundError(f"{output.name} was not stored ({output.note})")
    path = folder / output.file
    if output.kind == "items":
        return [None if item is None else read_value(StoredOutput(**item), folder.parent / unit)
                for unit, item in json.loads(path.read_bytes())]
    if output.kind == "json":
        return json.loads(path.read_bytes())
    if output.kind == "pickle":
        return pickle.loads(path.read_bytes())
    table = read_arrow(path)
    if output.kind == "pandas":
        return table.to_pandas()
    if output.kind == "polars":
        import polars as pl

        return pl.from_arrow(table)
    return table
