"""PostgreSQL, MySQL/MariaDB, SQLite and any other database SQLAlchemy reaches."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from cairn.errors import CairnError, Problem
from cairn.io.arrow_sql import as_arrow, fetch, insert, table_for
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
    used_parameters,
)
from cairn.io.upsert import STAGED, delete_matching, empty_copy, last_per_key


class AlchemyDatabase(Database):
    """A pooled SQLAlchemy engine; each block runs in a transaction of its own."""

    def __init__(self, connection: Any) -> None:
        super().__init__(connection)
        self._engine: sa.Engine | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> sa.Engine:
        with self._lock:
            if self._engine is None:
                url = self.connection.sqlalchemy_url()
                options = dict(self.connection.settings.get("options") or {})
                try:
                    self._engine = sa.create_engine(url, pool_pre_ping=True, **options)
                except (sa.exc.ArgumentError, ImportError) as error:
                    raise CairnError(Problem(
                        "connection",
                        f"cannot use connection {self.connection.name} "
                        f"({url.render_as_string(hide_password=True)}): {error}",
                        hint="check its settings in io_config.yaml; a missing driver is "
                        "installed with `pip install 'cairn[postgres]'` or `'cairn[mysql]'`",
                    )) from None
            return self._engine

    @property
    def is_mysql(self) -> bool:
        return self.engine.dialect.name in ("mysql", "mariadb")

    def quote(self, name: str) -> str:
        return self.engine.dialect.identifier_preparer.quote(name)

    def qualified(self, table: str) -> str:
        return f"{self.quote(self.schema)}.{self.quote(table)}" if self.schema else self.quote(
            table)

    def _begin(self, connection: sa.Connection) -> None:
        """Point unqualified names at the connection's schema for this transaction."""
        if self.schema and self.engine.dialect.name == "postgresql":
            connection.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {self.quote(self.schema)}")
            connection.exec_driver_sql(f"SET LOCAL search_path TO {self.quote(self.schema)}, "
                                       "public")

    @staticmethod
    def _execute(connection: sa.Connection, text: str, parameters: Mapping[str, Any],
                 ) -> sa.CursorResult[Any]:
        # Without parameters the driver sees the text untouched (no `%` or `:` escaping).
        if parameters:
            return connection.execute(sa.text(text), dict(parameters))
        return connection.exec_driver_sql(text)

    def _existing(self, connection: sa.Connection, table: str) -> str | None:
        inspector = sa.inspect(connection)
        if table in inspector.get_view_names(schema=self.schema):
            return "view"
        return "table" if inspector.has_table(table, schema=self.schema) else None

    def _load_frames(self, connection: sa.Connection, frames: Mapping[str, Any]) -> None:
        for name, frame in frames.items():
            data = as_arrow(frame)
            temporary = table_for(name, data.schema, None, temporary=True)
            if connection.dialect.name != "postgresql":  # PostgreSQL drops it at commit
                connection.exec_driver_sql(f"DROP {'TEMPORARY ' if self.is_mysql else ''}"
                                           f"TABLE IF EXISTS {self.quote(name)}")
            temporary.create(connection)
            insert(connection, temporary, data)

    def run(self, work: SQLWork) -> SQLResult:
        with self.engine.begin() as connection:
            self._begin(connection)
            self._load_frames(connection, work.frames)

            def execute(text: str, parameters: dict[str, Any]) -> int | None:
                rowcount = self._execute(connection, text, parameters).rowcount
                return rowcount if rowcount is not None and rowcount >= 0 else None

            profile, last = self._run_statements(work, execute)
            started = time.perf_counter()
            parameters = used_parameters(last.text, work.parameters, self.param_prefix)
            try:
                written = self._materialize(connection, work, last.text, parameters)
            except sa.exc.DBAPIError as error:
                raise statement_error(len(work.statements), last, error) from None
            rows = connection.exec_driver_sql(
                f"SELECT count(*) FROM {self.qualified(work.target)}").scalar_one()
            profile.append(StatementProfile(len(work.statements), last.line,
                                            time.perf_counter() - started, rows))
            checkpoints = checkpoint_values(work, self.qualified(work.target), lambda sql: (
                connection.exec_driver_sql(sql).scalar()))
            return SQLResult(int(rows), profile, checkpoints, written)

    def _materialize(self, connection: sa.Connection, work: SQLWork, query: str,
                     parameters: Mapping[str, Any]) -> int | None:
        """Make the block's table or view; an upsert returns the rows it wrote."""
        target = self.qualified(work.target)
        existing = self._existing(connection, work.target)
        if existing is not None and work.policy == "fail":
            raise policy_refusal(target)
        if work.policy == "upsert":
            if work.materialize == "view":
                raise upsert_refusal(target)
            rows = fetch(self._execute(connection, query, parameters))
            if existing is None:  # the query's column types, not those of the fetched rows
                self._execute(connection, empty_copy(target, query), parameters)
                existing = "table"
            return self._upsert(connection, work.target, rows, work.key, existing)
        if work.materialize == "view":
            if existing is not None:
                connection.exec_driver_sql(f"DROP {existing.upper()} {target}")
            self._execute(connection, f"CREATE VIEW {target} AS {query}", parameters)
        elif existing == "table" and work.policy == "append":
            self._execute(connection, f"INSERT INTO {target} {query}", parameters)
        else:
            building = f"__cairn_{work.target}_{secrets.token_hex(4)}"
            self._execute(connection, f"CREATE TABLE {self.qualified(building)} AS {query}",
                          parameters)
            self._swap(connection, building, work.target, existing)
        return None

    def _upsert(self, connection: sa.Connection, table: str, rows: Any, key: Sequence[str],
                existing: str | None) -> int:
        """Replace the stored rows with the keys of `rows` by them, add the others."""
        target = self.qualified(table)
        if existing == "view":
            raise upsert_refusal(target)
        rows = last_per_key(rows, key, target)
        stored = table_for(table, rows.schema, self.schema, temporary=False)
        if existing is None:
            stored.create(connection)
        else:
            self._load_frames(connection, {STAGED: rows})
            connection.exec_driver_sql(delete_matching(target, key, self.quote, self.is_mysql))
            if connection.dialect.name != "postgresql":  # PostgreSQL drops it at commit
                connection.exec_driver_sql(f"DROP {'TEMPORARY ' if self.is_mysql else ''}"
                                           f"TABLE {self.quote(STAGED)}")
        insert(connection, stored, rows)
        return int(rows.num_rows)

    def _swap(self, connection: sa.Connection, building: str, target: str,
              existing: str | None) -> None:
        """Put the finished table in place of the old one in a single step."""
        new, old = self.qualified(building), self.qualified(target)
        if self.is_mysql:  # MySQL's DDL commits at once, but RENAME TABLE swaps atomically
            if existing == "table":
                retired = self.qualified(f"{building}_old")
                connection.exec_driver_sql(f"RENAME TABLE {old} TO {retired}, {new} TO {old}")
                connection.exec_driver_sql(f"DROP TABLE {retired}")
                return
            if existing == "view":
                connection.exec_driver_sql(f"DROP VIEW {old}")
            connection.exec_driver_sql(f"RENAME TABLE {new} TO {old}")
            return
        if existing == "table":
            try:
                with connection.begin_nested():
                    connection.exec_driver_sql(f"DROP TABLE {old}")
            except sa.exc.DBAPIError:
                # Views depend on the table (PostgreSQL): keep it and replace its rows.
                connection.exec_driver_sql(f"DELETE FROM {old}")
                connection.exec_driver_sql(f"INSERT INTO {old} SELECT * FROM {new}")
                connection.exec_driver_sql(f"DROP TABLE {new}")
                return
        elif existing == "view":
            connection.exec_driver_sql(f"DROP VIEW {old}")
        if connection.dialect.name == "sqlite":
            # Renaming checks every view, and a view may name the table just dropped.
            connection.exec_driver_sql("PRAGMA legacy_alter_table=ON")
        # Transactional DDL: readers see the old table until the commit, then the new one.
        connection.exec_driver_sql(f"ALTER TABLE {new} RENAME TO {self.quote(target)}")

    def read(self, table: str, limit: int | None = None) -> Any:
        query = sa.select(sa.text("*")).select_from(
            sa.table(table, schema=self.schema)).limit(limit)
        with self.engine.connect() as connection:
            return fetch(connection.execute(query))

    def count(self, table: str) -> int:
        with self.engine.connect() as connection:
            return int(connection.exec_driver_sql(
                f"SELECT count(*) FROM {self.qualified(table)}").scalar_one())

    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> Any:
        with self.engine.connect() as connection:
            self._begin(connection)
            return fetch(self._execute(connection, sql, parameters or {}))

    def write(self, table: str, frame: Any, policy: Policy = "replace",
              key: Sequence[str] = ()) -> int:
        data = as_arrow(frame)
        with self.engine.begin() as connection:
            self._begin(connection)
            existing = self._existing(connection, table)
            if existing is not None and policy == "fail":
                raise policy_refusal(self.qualified(table))
            if policy == "upsert":
                return self._upsert(connection, table, data, key, existing)
            if existing == "table" and policy == "append":
                return insert(connection, table_for(table, data.schema, self.schema, False),
                              data)
            building = f"__cairn_{table}_{secrets.token_hex(4)}"
            staged = table_for(building, data.schema, self.schema, temporary=False)
            staged.create(connection)
            insert(connection, staged, data)
            self._swap(connection, building, table, existing)
            return int(data.num_rows)

    def check(self) -> None:
        with self.engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
