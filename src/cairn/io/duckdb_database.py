"""DuckDB, embedded: frames are scanned in place through Arrow, no copy."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from cairn.io.database import (
    Database,
    Policy,
    SQLResult,
    SQLWork,
    StatementProfile,
    checkpoint_values,
    policy_refusal,
    statement_error,
    upsert_refusal,
)
from cairn.io.duckdb_share import LOCK_TIMEOUT_S, shared_duckdb
from cairn.io.upsert import STAGED, delete_matching, empty_copy, last_per_key


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class DuckDBDatabase(Database):
    """A DuckDB file, shared with the project's other processes: each use (a block, a
    query) holds the file's inter-process lock and a cursor of this process's connection."""

    param_prefix = "$"

    def __init__(self, connection: Any) -> None:
        super().__init__(connection)
        self.path = connection.path()
        self._shared = shared_duckdb(self.path)
        self._timeout = float(connection.settings.get("lock_timeout", LOCK_TIMEOUT_S))

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[Any]:
        with self._shared.connection(self.connection.name, self._timeout) as connection:
            cursor = connection.cursor()
            try:
                if self.schema:
                    cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(self.schema)}")
                    cursor.execute(f"SET search_path = '{self.schema},main'")
                yield cursor
            finally:
                cursor.close()

    def qualified(self, table: str) -> str:
        return f"{quote(self.schema)}.{quote(table)}" if self.schema else quote(table)

    def _existing(self, cursor: Any, table: str) -> str | None:
        # All rows: a result left unfinished would refuse the next `cursor.sql`.
        rows = cursor.execute(
            "SELECT table_type FROM information_schema.tables "
            "WHERE table_schema = ? AND table_name = ?",
            [self.schema or "main", table],
        ).fetchall()
        return None if not rows else ("view" if rows[0][0] == "VIEW" else "table")

    def run(self, work: SQLWork) -> SQLResult:
        with self._cursor() as cursor:
            return self._run(cursor, work)

    def _run(self, cursor: Any, work: SQLWork) -> SQLResult:
        import duckdb

        try:
            cursor.begin()
            for name, frame in work.frames.items():
                cursor.register(name, frame)  # a view over the frame: no copy

            def execute(text: str, parameters: dict[str, Any]) -> int | None:
                cursor.execute(text, parameters or None)
                return None

            profile, last = self._run_statements(work, execute)
            started = time.perf_counter()
            try:
                written = self._materialize(cursor, work, last.text)
            except duckdb.Error as error:
                raise statement_error(len(work.statements), last, error) from None
            rows = self._count(cursor, work.target)
            profile.append(StatementProfile(len(work.statements), last.line,
                                            time.perf_counter() - started, rows))
            checkpoints = checkpoint_values(work, self.qualified(work.target), lambda sql: (
                cursor.execute(sql).fetchone() or [None])[0])
            cursor.commit()
            return SQLResult(rows, profile, checkpoints, written)
        except BaseException:
            cursor.rollback()
            raise

    def _materialize(self, cursor: Any, work: SQLWork, query: str) -> int | None:
        """Make the block's table or view; an upsert returns the rows it wrote."""
        target = self.qualified(work.target)
        parameters = {
            k: v for k, v in work.parameters.items() if f"${k}" in query
        } or None
        existing = self._existing(cursor, work.target)
        if existing is not None and work.policy == "fail":
            raise policy_refusal(target)
        if work.policy == "upsert":
            return self._upsert(cursor, work, target, query, parameters, existing)
        if work.materialize == "view":
            if existing == "table":
                cursor.execute(f"DROP TABLE {target}")
            cursor.execute(f"CREATE OR REPLACE VIEW {target} AS {query}", parameters)
        elif existing == "table" and work.policy == "append":
            cursor.execute(f"INSERT INTO {target} {query}", parameters)
        else:
            if existing == "view":
                cursor.execute(f"DROP VIEW {target}")
            cursor.execute(f"CREATE OR REPLACE TABLE {target} AS {query}", parameters)
        return None

    def _upsert(self, cursor: Any, work: SQLWork, target: str, query: str,
                parameters: dict[str, Any] | None, existing: str | None) -> int:
        if work.materialize == "view" or existing == "view":
            raise upsert_refusal(target)
        rows = last_per_key(cursor.sql(query, params=parameters).to_arrow_table(), work.key,
                            target)
        if existing is None:
            cursor.execute(empty_copy(target, query), parameters)
        cursor.register(STAGED, rows)
        try:
            cursor.execute(delete_matching(target, work.key, quote))
            cursor.execute(f"INSERT INTO {target} BY NAME SELECT * FROM {STAGED}")
        finally:
            cursor.unregister(STAGED)
        return int(rows.num_rows)

    def _count(self, cursor: Any, table: str) -> int:
        row = cursor.execute(f"SELECT count(*) FROM {self.qualified(table)}").fetchone()
        return int(row[0]) if row else 0

    def read(self, table: str, limit: int | None = None) -> Any:
        suffix = f" LIMIT {int(limit)}" if limit is not None else ""
        return self.query(f"SELECT * FROM {self.qualified(table)}{suffix}")

    def count(self, table: str) -> int:
        with self._cursor() as cursor:
            return self._count(cursor, table)

    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> Any:
        with self._cursor() as cursor:
            return cursor.sql(sql, params=dict(parameters) if parameters else None
                              ).to_arrow_table()

    def write(self, table: str, frame: Any, policy: Policy = "replace",
              key: Sequence[str] = ()) -> int:
        from cairn.blocks.sql_analysis import Statement

        work = SQLWork(table, [Statement("SELECT * FROM __cairn_frame", 1)],
                       frames={"__cairn_frame": frame}, policy=policy, key=list(key))
        result = self.run(work)
        return result.written if result.written is not None else result.rows

    def check(self) -> None:
        self.query("SELECT 1")

    def close(self) -> None:
        self._shared.close_if_idle()  # else the file passes on when its last use ends

