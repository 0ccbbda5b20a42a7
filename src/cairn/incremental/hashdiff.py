"""Hash-based change detection for Python blocks: which rows of a table are new, changed or
deleted since the block's last successful run.

Each row's compared columns are hashed in DuckDB and the (key, hash) pairs written to a
Parquet file in the project's state folder; the diff joins them with the previous run's
file in DuckDB, so millions of keys never become Python objects. The
block's checkpoint names the file, so a file becomes the one compared against only when
the block succeeds."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cairn.errors import BlockError
from cairn.io.duckdb_database import quote
from cairn.runtime.context import RunContext

HASH = "__cairn_hash"
ROWS = "__cairn_rows"
CURRENT = "__cairn_current"  # this run's (key, hash) pairs
DIFF = "__cairn_diff"  # the keys whose hash differs, new or gone
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class Changes:
    """What changed since the last successful run, as Arrow tables (`.to_pandas()` or
    `polars.from_arrow` for a frame), in no particular order."""

    new: Any  # pyarrow.Table: rows whose key the last run did not have
    changed: Any  # pyarrow.Table: rows whose compared columns differ from the last run's
    deleted: Any  # pyarrow.Table: the key columns of the last run's rows now gone
    first_run: bool  # no previous hashes (first run, or after a reset): everything is new

    def __len__(self) -> int:
        return int(self.new.num_rows + self.changed.num_rows + self.deleted.num_rows)


def detect_changes(context: RunContext, rows: Any, key: str | Sequence[str], *,
                   name: str = "rows", compare: Sequence[str] | None = None,
                   keep: int = 2) -> Changes:
    """Compare `rows` (a pandas, polars or pyarrow table, or the path of a Parquet file — or
    of a CSV file ending in .csv — which DuckDB reads without loading it whole) with the
    rows the block's last successful run passed under the same `name`, matching them by
    `key` (one column or several) and comparing the `compare` columns (by default all the
    others).

    Stages checkpoint `name` to point at this run's hashes: it is committed if the block
    succeeds, so a block that fails after detecting sees the same changes next time.
    Keeps the committed hashes file and the `keep` files before it; older ones are
    deleted (`cairn checkpoints reset --to` an older version then fails clearly)."""
    import duckdb

    from cairn.project.config import find_project

    keys = [key] if isinstance(key, str) else list(key)
    if not _NAME.fullmatch(name):
        raise BlockError(f"detect_changes: name {name!r} must be letters, digits, '_', '.' "
                         "or '-' (it names a checkpoint and a folder)")
    state_dir = find_project().state_dir  # runs execute in the project folder
    folder = state_dir / "state" / context.pipeline / context.block / name
    folder.mkdir(parents=True, exist_ok=True)

    database = duckdb.connect(config={"temp_directory": str(state_dir / "tmp")})
    try:
        if isinstance(rows, str | Path):
            reader = "read_csv" if Path(rows).suffix.lower() == ".csv" else "read_parquet"
            database.sql(f"CREATE VIEW {ROWS} AS SELECT * FROM {reader}("
                         f"{_literal(Path(rows))})")
        else:
            database.register(ROWS, rows)
        columns = database.sql(f"SELECT * FROM {ROWS} LIMIT 0").columns
        compared = _compared_columns(columns, keys, compare)
        hasher = f"duckdb {duckdb.__version__}"
        previous = _previous_hashes(context, name, keys, hasher, state_dir)
        current = folder / f"{time.time_ns():020d}-{context.run_id}-{context.attempt}.parquet"
        count = _write_hashes(database, keys, compared, current)
        if previous is None:
            changes = Changes(_all(database, f"SELECT * FROM {ROWS}"),
                              _all(database, f"SELECT * FROM {ROWS} LIMIT 0"),
                              _all(database, f"SELECT {_list(keys)} FROM {ROWS} LIMIT 0"),
                              first_run=True)
        else:
            changes = _diff(database, keys, previous)
    finally:
        database.close()
    context.set_checkpoint(name, {"hashes": current.relative_to(state_dir).as_posix(),
                                  "key": keys, "rows": count, "hash": hasher})
    _prune(folder, previous, keep)
    return changes


def _previous_hashes(context: RunContext, name: str, keys: list[str], hasher: str,
                     state_dir: Path) -> Path | None:
    """The hashes file of the last successful run, None when there is none."""
    value = context.checkpoint(name)
    if value is None:
        return None
    reset = f"start afresh with `cairn checkpoints reset {context.pipeline} {context.block}`"
    if not (isinstance(value, dict) and isinstance(value.get("hashes"), str)
            and isinstance(value.get("key"), list)):
        raise BlockError(f"checkpoint {name!r} is not a hashes checkpoint: {value!r}",
                         detail=f"hint: pick another name, or {reset}")
    if value["key"] != keys:
        raise BlockError(f"checkpoint {name!r} holds hashes keyed by {value['key']}, not "
                         f"{keys}", detail=f"hint: {reset} (everything is new again)")
    if value.get("hash", hasher) != hasher:  # DuckDB may hash values differently now
        context.logger.warning("checkpoint %r was hashed by %s, this run by %s: rows may "
                               "be reported as changed once", name, value["hash"], hasher)
    path: Path = state_dir / str(value["hashes"])
    if not path.is_file():
        raise BlockError(f"the hashes file {path} of checkpoint {name!r} is missing",
                         detail=f"hint: {reset} (everything is new again)")
    return path


def _compared_columns(columns: list[str], keys: list[str],
                      compare: Sequence[str] | None) -> list[str]:
    wanted = [*keys, *(compare or [])]
    missing = [column for column in wanted if column not in columns]
    if missing:
        raise BlockError(f"detect_changes: no column {', '.join(map(repr, missing))} in the "
                         f"rows", detail=f"hint: the columns are {', '.join(columns)}")
    if compare is not None:
        return list(compare)
    return [column for column in columns if column not in keys]


def _list(columns: Sequence[str], prefix: str = "") -> str:
    return ", ".join(prefix + quote(column) for column in columns)


def _write_hashes(database: Any, keys: list[str], compared: list[str], path: Path) -> int:
    """Hash each row into table CURRENT (DuckDB spills it to disk when memory runs short)
    and copy it to `path`, whole or not at all; the row count."""
    # DuckDB's hash of the row combines one hash per value, NULL having its own, so no
    # separator can be confused; 64 bits make a missed change a 2^-64 chance per row.
    hashed = f"hash(row({_list(compared)}))" if compared else "0::UBIGINT"
    absent = " OR ".join(f"{quote(k)} IS NULL" for k in keys)
    row = database.execute(f"SELECT count(*) FILTER ({absent}) FROM {ROWS}").fetchone()
    if row[0]:
        raise BlockError(f"detect_changes: {row[0]} rows have no value in key "
                         f"{', '.join(keys)}", detail="hint: filter them out or choose a "
                         "key that every row has")
    database.execute(f"CREATE TEMP TABLE {CURRENT} AS "
                     f"SELECT {_list(keys)}, {hashed} AS {HASH} FROM {ROWS}")
    duplicate = database.execute(f"SELECT {_list(keys)}, count(*) FROM {CURRENT} "
                                 "GROUP BY ALL HAVING count(*) > 1 LIMIT 1").fetchone()
    if duplicate is not None:
        raise BlockError(f"detect_changes: key {', '.join(keys)} is not unique: "
                         f"{duplicate[:-1]} is on {duplicate[-1]} rows",
                         detail="hint: pass every column that identifies a row as the key")
    partial = path.with_name(path.name + ".tmp")
    written = database.execute(f"COPY {CURRENT} TO {_literal(partial)} (FORMAT parquet)"
                               ).fetchone()
    os.replace(partial, path)
    return int(written[0])


def _diff(database: Any, keys: list[str], previous: Path) -> Changes:
    """One join of the current hashes with the previous ones finds the keys that differ;
    only the rows of those are then read."""
    import duckdb

    using = f"USING ({_list(keys)})"
    try:
        database.execute(
            f"CREATE TEMP TABLE {DIFF} AS SELECT {_list(keys)}, b.{HASH} IS NULL AS fresh, "
            f"n.{HASH} IS NULL AS gone FROM {CURRENT} n FULL JOIN {_parquet(previous)} b "
            f"{using} WHERE n.{HASH} IS DISTINCT FROM b.{HASH}")
    except duckdb.Error as error:  # e.g. a key column whose type changed
        raise BlockError(f"detect_changes: cannot compare with the previous hashes "
                         f"{previous}: {error}", detail="hint: if the key's type changed, "
                         "reset the checkpoint with `cairn checkpoints reset`") from None

    def rows_where(condition: str) -> Any:
        return _all(database, f"SELECT r.* FROM {ROWS} r SEMI JOIN "
                              f"(SELECT {_list(keys)} FROM {DIFF} WHERE {condition}) {using}")

    return Changes(rows_where("fresh"), rows_where("NOT fresh AND NOT gone"),
                   _all(database, f"SELECT {_list(keys)} FROM {DIFF} WHERE gone"),
                   first_run=False)


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _parquet(path: Path) -> str:
    return f"read_parquet({_literal(path)})"


def _all(database: Any, query: str) -> Any:
    return database.sql(query).to_arrow_table()


def _prune(folder: Path, committed: Path | None, keep: int) -> None:
    """Delete the hashes files older than the committed one but the `keep` newest of them:
    superseded versions and files of failed attempts. Newer files may belong to a
    running attempt; they go once a later one is committed. Names sort by time."""
    if committed is None:
        return
    older = sorted(path for path in folder.iterdir() if path.name < committed.name)
    for path in older[:max(len(older) - keep, 0)]:
        path.unlink(missing_ok=True)
