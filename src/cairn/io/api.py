"""What block code calls to reach named connections: query and write databases, read and
write files. During a run these use the run's open connections and profile; elsewhere
(a script, a notebook) the project found from the working directory."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal

from cairn.errors import BlockError, CairnError, Problem, closest
from cairn.io.connection import Connection
from cairn.io.pool import Databases

FrameKind = Literal["pandas", "polars", "arrow"]

_lock = threading.Lock()
_active: tuple[Databases, str] | None = None  # the run's connections and default SQL one


@contextmanager
def active_connections(databases: Databases, default: str) -> Iterator[None]:
    """Make a run's connections the ones block code reaches."""
    global _active
    with _lock:
        previous, _active = _active, (databases, default)
    try:
        yield
    finally:
        with _lock:
            _active = previous


def _session() -> tuple[Databases, str]:
    global _active
    with _lock:
        if _active is None:
            from cairn.io.config import load_connections
            from cairn.project.config import find_project

            project = find_project()
            _active = (Databases(load_connections(project)), project.settings.default_connection)
        return _active


def _as_kind(table: Any, kind: FrameKind) -> Any:
    from cairn.io.numbers import plain_numbers, to_pandas

    if kind == "arrow":
        return plain_numbers(table)
    if kind == "polars":
        import polars as pl

        return pl.from_arrow(plain_numbers(table))
    return to_pandas(table)


def read_sql(query: str, connection: str | None = None, *, as_: FrameKind = "pandas",
             params: Mapping[str, Any] | None = None) -> Any:
    """Rows of a query (or a whole table, given its name) from a SQL connection.
    `params` bind to `:name` placeholders (`$name` on DuckDB)."""
    databases, default = _session()
    database = databases.get(connection or default)
    if query.strip().isidentifier():
        return _as_kind(database.read(query.strip()), as_)
    return _as_kind(database.query(query, params), as_)


def sql_engine(connection: str | None = None) -> Any:
    """The SQLAlchemy engine of a connection (not DuckDB's), for what the functions here
    do not cover."""
    from cairn.io.alchemy_database import AlchemyDatabase

    databases, default = _session()
    database = databases.get(connection or default)
    if not isinstance(database, AlchemyDatabase):
        raise BlockError(f"connection {connection or default} is DuckDB, which has no "
                         "SQLAlchemy engine",
                         detail="hint: use read_sql/write_table on it, or name a connection "
                         "of another kind from io_config.yaml")
    return database.engine


def write_table(frame: Any, table: str, connection: str | None = None, *,
                policy: Literal["replace", "append", "fail", "upsert"] = "replace",
                key: Sequence[str] = ()) -> int:
    """Store a pandas, polars or pyarrow table in a SQL connection by its fastest bulk path;
    `replace` swaps the whole table in at once; `upsert` replaces the rows with the same
    `key` (the frame's last row per key wins) and adds the others. Returns the rows
    written."""
    if policy == "upsert" and not key:
        raise BlockError(f"write_table({table!r}, policy='upsert') needs the key columns",
                         detail="hint: write_table(frame, table, policy='upsert', key=['id'])")
    databases, default = _session()
    return databases.get(connection or default).write(table, frame, policy, key)


def _files(name: str | None) -> Connection | None:
    if name is None:
        return None
    databases, _ = _session()
    connection = databases.connections.get(name)
    if connection is None or connection.kind != "files":
        files = [n for n, c in databases.connections.items() if c.kind == "files"]
        raise CairnError(Problem("unknown-connection", f"no files connection named {name!r}",
                                 hint=closest(name, files)))
    return connection


def read_file(url: str, format: str | None = None, *, connection: str | None = None,
              as_: FrameKind = "pandas", **options: Any) -> Any:
    """A CSV, Parquet or JSON file (or a glob of them) at any fsspec URL, or relative to a
    files connection."""
    from cairn.io import files

    return files.read_file(url, format, as_=as_, connection=_files(connection), **options)


def write_file(frame: Any, url: str, format: str | None = None, *,
               connection: str | None = None,
               mode: Literal["overwrite", "fail"] = "overwrite") -> str:
    """Write a table as CSV, Parquet or JSON at any fsspec URL; returns the URL written."""
    from cairn.io import files

    return files.write_file(frame, url, format, connection=_files(connection), mode=mode)
