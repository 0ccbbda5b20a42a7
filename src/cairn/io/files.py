"""Read and write tables as CSV, Parquet and JSON files at any fsspec URL, from inside blocks.

Files are parsed and written by pyarrow over fsspec file objects, so local folders, S3,
HTTP(S) and in-memory stores behave alike; compression is inferred from the suffix. Writes
replace the old file only once the new one is complete: locally through a temporary file
and a rename, on other stores through a single upload of the finished bytes.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import uuid
from collections.abc import Callable, Iterator
from contextlib import suppress
from functools import partial
from typing import IO, TYPE_CHECKING, Any, Literal, get_args

from cairn.errors import CairnError, Problem
from cairn.io.secrets import redact

if TYPE_CHECKING:
    import pyarrow as pa
    from fsspec import AbstractFileSystem

    from cairn.io.connection import Connection

FrameKind = Literal["pandas", "polars", "arrow"]
WriteMode = Literal["overwrite", "fail"]

FORMATS = ("csv", "parquet", "json", "jsonl")
# Suffixes (and the names users pass as `format=`) for each format.
_FORMAT_NAMES = {"csv": "csv", "parquet": "parquet", "pq": "parquet", "json": "json",
                 "jsonl": "jsonl", "ndjson": "jsonl"}
_FRAME_KINDS = get_args(FrameKind)
_WRITE_MODES = get_args(WriteMode)
# The fsspec backends Cairn ships as extras; others get fsspec's own install advice.
_EXTRAS = {"s3": "s3", "s3a": "s3"}
_JSON_ROWS_PER_BATCH = 65_536


def read_file(url: str, format: str | None = None, *, as_: FrameKind = "pandas",
              connection: Connection | None = None, storage_options: dict[str, Any] | None = None,
              **read_options: Any) -> Any:
    """Read the table at `url` (a glob reads every matching file into one table).

    `read_options` go to pyarrow's reader: the fields of `pyarrow.csv.ReadOptions`,
    `ParseOptions` and `ConvertOptions` for CSV, of `pyarrow.json`'s for JSON, and
    `pyarrow.parquet.read_table`'s keywords for Parquet.
    """
    if as_ not in _FRAME_KINDS:
        raise _error("bad-options", f"cannot return a table as {as_!r}",
                     hint="as_ is one of " + ", ".join(_FRAME_KINDS))
    url, options = location(url, connection, storage_options)
    fmt = file_format(url, format)
    fs, path = filesystem(url, options)
    tables = [_read_table(fs, one, shown, fmt, read_options)
              for one, shown in _matches(fs, path, url)]
    return _as_kind(_concat(tables), as_)


def write_file(frame: Any, url: str, format: str | None = None, *,
               connection: Connection | None = None,
               storage_options: dict[str, Any] | None = None,
               mode: WriteMode = "overwrite") -> str:
    """Write a pandas, polars or pyarrow table to `url`; return the full URL written.

    `mode="fail"` refuses to replace an existing file (checked just before writing, so two
    writers racing for the same new file may both succeed).
    """
    if mode not in _WRITE_MODES:
        raise _error("bad-options", f"unknown write mode {mode!r}",
                     hint="mode is one of " + ", ".join(_WRITE_MODES))
    url, options = location(url, connection, storage_options)
    fmt = file_format(url, format)
    table = _to_arrow(frame)
    fs, path = filesystem(url, options)
    if mode == "fail" and fs.exists(path):
        raise _error("file-exists", f"{url} already exists",
                     hint='pass mode="overwrite" to replace it')
    encode = partial(_encode, table, fmt, url, _compression(path))
    if _is_local(fs):
        _write_local(path, encode)
        return str(path)
    # Object stores show an upload only once it completes, so one PUT of the finished bytes
    # is atomic; streaming through fs.open would publish a partial file if encoding failed.
    buffer = io.BytesIO()
    encode(buffer)
    fs.pipe_file(path, buffer.getvalue())
    return str(fs.unstrip_protocol(path))


def _error(kind: str, message: str, hint: str | None = None) -> CairnError:
    """A CairnError whose texts show no secret: URLs may carry tokens or passwords."""
    return CairnError(Problem(kind, redact(message), hint=redact(hint) if hint else None))


# Where a URL points


def location(url: str, connection: Connection | None,
              storage_options: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """The URL joined to the connection's base URL, and the storage options to open it with."""
    options: dict[str, Any] = {}
    if connection is not None:
        url = _join(_base_url(connection), url)
        options.update(connection.settings.get("options") or {})
    options.update(storage_options or {})
    return url, options


def _base_url(connection: Connection) -> str:
    base = connection.settings.get("url")
    if connection.kind != "files" or not base:
        raise _error(
            "bad-connection", f"connection {connection.name!r} is not a files connection "
            "with a url", hint="a files connection looks like {kind: files, url: s3://bucket/x}")
    if is_relative(str(base)):
        return str(connection.root / str(base))
    return str(base)


def _join(base: str, url: str) -> str:
    if not is_relative(url):
        return url
    return posixpath.join(base.rstrip("/"), url) if "://" in base else os.path.join(base, url)


def is_relative(url: str) -> bool:
    return "://" not in url and "::" not in url and not os.path.isabs(url)


def file_format(url: str, format: str | None) -> str:
    """The format named by `format`, else the one the URL's suffix (before .gz etc.) implies."""
    from fsspec.utils import compressions

    if format is not None:
        fmt = _FORMAT_NAMES.get(format.lower().lstrip("."))
        message = f"unknown file format {format!r}"
    else:
        name = url.split("?")[0].rstrip("/").rsplit("/", 1)[-1].lower()
        parts = name.split(".")[1:]
        if parts and parts[-1] in compressions:
            parts.pop()
        fmt = _FORMAT_NAMES.get(parts[-1]) if parts else None
        message = f"cannot tell the file format of {url} from its suffix"
    if fmt is None:
        raise _error("unknown-format", message,
                     hint="supported formats: " + ", ".join(FORMATS)
                     + " (pass format=... to choose one)")
    return fmt


def filesystem(url: str, options: dict[str, Any]) -> tuple[AbstractFileSystem, str]:
    """The fsspec filesystem and path for a URL, or a CairnError naming what to install."""
    import fsspec
    from fsspec.core import split_protocol, url_to_fs

    protocol = split_protocol(url)[0] or "file"
    if protocol not in fsspec.available_protocols():
        raise _error("unknown-protocol", f"no filesystem is known for {url}",
                     hint="fsspec knows: " + ", ".join(fsspec.available_protocols()))
    try:
        fs, path = url_to_fs(url, **options)
    except ImportError as error:
        extra = _EXTRAS.get(protocol)
        raise _error(
            "missing-backend", f"{url} needs the {protocol}:// filesystem, which is not installed",
            hint=f"install cairn[{extra}]" if extra else str(error)) from error
    return fs, path


def _is_local(fs: AbstractFileSystem) -> bool:
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem)


def _compression(path: str) -> str | None:
    from fsspec.core import get_compression

    compression: str | None = get_compression(path, "infer")
    return compression


# Reading


def _matches(fs: AbstractFileSystem, path: str, url: str) -> list[tuple[str, str]]:
    """The paths to read, each with the URL that error messages show for it."""
    from fsspec.core import has_magic

    if not has_magic(path):
        return [(path, url)]
    found = sorted(fs.glob(path))
    if not found:
        raise _error("missing-file", f"no files match {url}")
    return [(one, str(fs.unstrip_protocol(one))) for one in found]


def _read_table(fs: AbstractFileSystem, path: str, shown: str, fmt: str,
                options: dict[str, Any]) -> pa.Table:
    try:
        with fs.open(path, "rb", compression="infer") as handle:
            return _READERS[fmt](handle, options)
    except FileNotFoundError as error:
        raise _error("missing-file", f"no file at {shown}") from error
    except (ValueError, TypeError) as error:  # malformed data, wrong options (Arrow's too)
        raise _error("unreadable-file", f"cannot read {shown} as {fmt}: {error}") from error


def _read_csv(handle: IO[bytes], options: dict[str, Any]) -> pa.Table:
    import pyarrow.csv as csv

    # An unquoted empty field is a null, a quoted one an empty string: that is how
    # write_file tells them apart (pyarrow would read both as "").
    options = {"strings_can_be_null": True, "quoted_strings_can_be_null": False, **options}
    read, parse, convert = _arrow_options(
        options, (csv.ReadOptions, csv.ParseOptions, csv.ConvertOptions), "csv")
    return csv.read_csv(handle, read_options=read, parse_options=parse, convert_options=convert)


def _read_parquet(handle: IO[bytes], options: dict[str, Any]) -> pa.Table:
    import pyarrow.parquet as pq

    return pq.read_table(handle, **options)


def _read_json(handle: IO[bytes], options: dict[str, Any]) -> pa.Table:
    """JSON lines, or one array of records (recognised by its `[`), read the same way."""
    import pyarrow as pa
    import pyarrow.json as pjson

    data = handle.read()
    if data.lstrip()[:1] == b"[":
        # pyarrow reads only JSON lines; re-encoding keeps its type inference for both.
        data = b"\n".join(json.dumps(record).encode() for record in json.loads(data))
    if not data.strip():
        return pa.table({})
    read, parse = _arrow_options(options, (pjson.ReadOptions, pjson.ParseOptions), "json")
    return pjson.read_json(io.BytesIO(data), read_options=read, parse_options=parse)


def _arrow_options(options: dict[str, Any], classes: tuple[type, ...], fmt: str) -> list[Any]:
    """Sort keyword options into the pyarrow option objects whose fields they name."""
    import inspect

    left = dict(options)
    built = []
    for cls in classes:
        fields = {name for name, value in vars(cls).items() if inspect.isdatadescriptor(value)}
        built.append(cls(**{name: left.pop(name) for name in list(left) if name in fields}))
    if left:
        names = ", ".join(cls.__module__ + "." + cls.__name__ for cls in classes)
        raise _error("bad-options", f"unknown {fmt} read options: {', '.join(sorted(left))}",
                     hint=f"the fields of {names}")
    return built


_READERS: dict[str, Callable[[IO[bytes], dict[str, Any]], pa.Table]] = {
    "csv": _read_csv, "parquet": _read_parquet, "json": _read_json, "jsonl": _read_json}


def _concat(tables: list[pa.Table]) -> pa.Table:
    if len(tables) == 1:
        return tables[0]
    import pyarrow as pa

    # Files of one glob may differ slightly (a column all empty in one CSV file, int vs float).
    return pa.concat_tables(tables, promote_options="permissive")


def _as_kind(table: pa.Table, kind: FrameKind) -> Any:
    if kind == "arrow":
        return table
    if kind == "pandas":
        return table.to_pandas()
    try:
        import polars as pl
    except ImportError as error:
        raise _error("missing-package", "as_='polars' needs polars",
                     hint="pip install polars") from error
    return pl.from_arrow(table)


# Writing


def _to_arrow(frame: Any) -> pa.Table:
    """A pyarrow Table of a pandas, polars or pyarrow frame (a pandas index other than a
    RangeIndex becomes columns)."""
    import pyarrow as pa

    if isinstance(frame, pa.Table):
        return frame
    if isinstance(frame, pa.RecordBatch):
        return pa.Table.from_batches([frame])
    module = type(frame).__module__.split(".")[0]
    if module == "polars" and type(frame).__name__ == "DataFrame":
        return frame.to_arrow()
    if module == "pandas" and type(frame).__name__ == "DataFrame":
        return pa.Table.from_pandas(frame)
    raise _error("bad-value", f"cannot write a {type(frame).__name__} as a file",
                 hint="write_file takes a pandas, polars or pyarrow table")


def _encode(table: pa.Table, fmt: str, url: str, compression: str | None,
            sink: IO[bytes]) -> None:
    """Write `table` as `fmt` into `sink`, compressed as the URL's suffix says."""
    import pyarrow as pa
    from fsspec.compression import compr

    writer = _WRITERS[fmt]
    try:
        if compression is None:
            writer(table, sink)  # the caller still has to sync and close `sink`
        else:
            with compr[compression](sink, mode="wb") as target:
                writer(table, target)
    except (pa.ArrowException, TypeError, ValueError) as error:  # types the format cannot hold
        raise _error("unwritable", f"cannot write this table to {url} as {fmt}: {error}",
                     hint="Parquet holds every Arrow type") from error


def _write_csv(table: pa.Table, sink: IO[bytes]) -> None:
    import pyarrow.csv as csv

    csv.write_csv(table, sink)


def _write_parquet(table: pa.Table, sink: IO[bytes]) -> None:
    import pyarrow.parquet as pq

    pq.write_table(table, sink)


def _json_rows(table: pa.Table) -> Iterator[bytes]:
    for batch in table.to_batches(max_chunksize=_JSON_ROWS_PER_BATCH):
        for row in batch.to_pylist():
            yield json.dumps(row, default=_json_value, ensure_ascii=False,
                             allow_nan=False).encode()


def _json_value(value: object) -> str:
    """Dates, times and timestamps as ISO 8601 text: JSON has no type for them."""
    isoformat = getattr(value, "isoformat", None)
    if isoformat is None:
        raise TypeError(f"{type(value).__name__} values have no JSON form")
    return str(isoformat())


def _write_json(table: pa.Table, sink: IO[bytes]) -> None:
    sink.write(b"[")
    for number, row in enumerate(_json_rows(table)):
        sink.write((b",\n" if number else b"\n") + row)
    sink.write(b"\n]\n")


def _write_jsonl(table: pa.Table, sink: IO[bytes]) -> None:
    for row in _json_rows(table):
        sink.write(row + b"\n")


_WRITERS: dict[str, Callable[[pa.Table, IO[bytes]], None]] = {
    "csv": _write_csv, "parquet": _write_parquet, "json": _write_json, "jsonl": _write_jsonl}


def _write_local(path: str, encode: Callable[[IO[bytes]], None]) -> None:
    """Write through a temporary file beside `path`, synced and renamed over it, so a reader
    sees the old file or the whole new one."""
    folder, name = os.path.split(path)
    os.makedirs(folder, exist_ok=True)
    # Unique per writer: blocks in threads of one process may write the same file.
    temporary = os.path.join(folder, f".{name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "xb") as handle:
            encode(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
