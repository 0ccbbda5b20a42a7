"""Tables between Python and R: one raw little-endian file per column, in R's own layout.

Debian's R has no Arrow package, and CSV loses digits of doubles (data.table writes 15) and
is slow to parse. R reads and writes raw vectors with `readBin`/`writeBin` at memory speed,
so each column crosses as the bytes R keeps: doubles as float64, integers, logicals and dates
(days) as int32 with R's NA code, timestamps as float64 seconds with their time zone, and
strings NUL-terminated with a separate validity vector. See `r/run.R` for R's side.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

R_NA_INTEGER = np.iinfo(np.int32).min
_TICKS_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_INT32 = (np.iinfo(np.int32).min + 1, np.iinfo(np.int32).max)


def _fits_int32(column: pa.Array) -> bool:
    bounds = pc.min_max(column)
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    return low is None or (_INT32[0] <= low and high <= _INT32[1])


def _int32_bytes(column: pa.Array) -> bytes:
    values = column.cast(pa.int32()).fill_null(R_NA_INTEGER)
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype="<i4").tobytes()


def _double_bytes(column: pa.Array) -> bytes:
    values = column.cast(pa.float64()).fill_null(np.nan)
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype="<f8").tobytes()


def _string_bytes(column: pa.Array) -> tuple[bytes, bytes]:
    """NUL-terminated UTF-8 strings (as R's writeBin makes them) and a validity vector."""
    strings = column.cast(pa.string())
    count = len(strings)
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int32)[
        strings.offset : strings.offset + count + 1]
    data_buffer = strings.buffers()[2]
    data = (np.frombuffer(data_buffer, dtype=np.uint8)[offsets[0] : offsets[-1]]
            if data_buffer is not None else np.zeros(0, np.uint8))
    if (data == 0).any():
        raise ValueError("a string holds a NUL character, which R cannot represent")
    terminated = np.insert(data, offsets[1:] - offsets[0], 0)
    valid = np.asarray(strings.is_valid(), dtype=np.uint8)
    return terminated.tobytes(), valid.tobytes()


def write_table(table: pa.Table, folder: Path, prefix: str) -> dict[str, Any]:
    """Write a table's columns for R; return their description for run.R."""
    columns = []
    for index, (field, chunks) in enumerate(zip(table.schema, table.columns, strict=True), 1):
        column = chunks.combine_chunks()
        kind = field.type
        entry: dict[str, Any] = {"name": field.name, "file": f"{prefix}.{index}.bin"}
        if pa.types.is_dictionary(kind):
            column, kind = column.dictionary_decode(), kind.value_type
        if pa.types.is_boolean(kind):
            entry["type"], payload = "logical", _int32_bytes(column)
        elif pa.types.is_integer(kind) and _fits_int32(column):
            entry["type"], payload = "integer", _int32_bytes(column)
        elif pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(
                kind):
            entry["type"], payload = "double", _double_bytes(column)
        elif pa.types.is_date(kind):
            entry["type"], payload = "Date", _int32_bytes(column.cast(pa.date32()))
        elif pa.types.is_timestamp(kind):
            # From the stored unit: a cast to microseconds refuses nanoseconds it would drop,
            # and R's double seconds cannot hold them anyway.
            ticks = column.cast(pa.int64()).cast(pa.float64(), safe=False)
            entry["type"], entry["tz"] = "POSIXct", kind.tz or "UTC"
            payload = _double_bytes(pc.divide(ticks, float(_TICKS_PER_SECOND[kind.unit])))
        else:
            entry["type"], entry["valid"] = "character", f"{prefix}.{index}.valid"
            payload, valid = _string_bytes(column)
            (folder / entry["valid"]).write_bytes(valid)
        (folder / entry["file"]).write_bytes(payload)
        columns.append(entry)
    return {"kind": "table", "rows": table.num_rows, "columns": columns}


def _read_column(folder: Path, column: dict[str, Any], rows: int) -> pa.Array:
    raw = (folder / column["file"]).read_bytes()
    kind = column["type"]
    if kind == "double":
        return pa.array(np.frombuffer(raw, dtype="<f8"), from_pandas=True)
    if kind == "POSIXct":
        seconds = np.frombuffer(raw, dtype="<f8")
        missing = np.isnan(seconds)
        micros = np.round(np.where(missing, 0, seconds) * 1e6).astype(np.int64)
        return pa.array(micros, mask=missing, type=pa.timestamp("us", tz=column["tz"]))
    if kind == "character":
        data = np.frombuffer(raw, dtype=np.uint8)
        ends = np.flatnonzero(data == 0)
        offsets = np.concatenate([[0], ends - np.arange(rows)]).astype(np.int32)
        strings = pa.StringArray.from_buffers(rows, pa.py_buffer(offsets.tobytes()),
                                              pa.py_buffer(data[data != 0].tobytes()))
        valid = np.frombuffer((folder / column["valid"]).read_bytes(), dtype=np.uint8) != 0
        return pc.if_else(pa.array(valid), strings, pa.scalar(None, pa.string()))
    values = np.frombuffer(raw, dtype="<i4")
    missing = values == R_NA_INTEGER
    if kind == "logical":
        return pa.array(values != 0, mask=missing)
    if kind == "Date":
        return pa.array(values, mask=missing, type=pa.int32()).cast(pa.date32())
    return pa.array(values, mask=missing, type=pa.int32())


def read_table(folder: Path, description: dict[str, Any]) -> pa.Table:
    """A table R wrote with run.R's write_output."""
    columns = description["columns"]
    rows = int(description["rows"])
    return pa.table([_read_column(folder, c, rows) for c in columns],
                    names=[c["name"] for c in columns])
