"""A table of any SQL connection as a stream's sink: appended to, or upserted by key.

Each batch is one transaction of the database. An upsert deletes the rows whose key the
batch has and inserts the batch in that same transaction, which every engine Cairn runs
on supports alike; a batch replayed after a crash therefore leaves the table as it was.
"""

from __future__ import annotations

from typing import Any

from cairn.errors import CairnError, Problem
from cairn.io.database import Database, SQLWork, open_database
from cairn.stream.message import Rows
from cairn.stream.ports import Sink

_BATCH = "__cairn_stream_batch"


class TableSink(Sink):
    """Writes each batch to `settings.table` on the sink's SQL connection."""

    database: Database

    def open(self) -> None:
        assert self.connection is not None
        self.database = open_database(self.connection)
        self.dialect = self.connection.dialect
        self.exists = False  # known to exist: an upsert needs the table it deletes from

    def write(self, rows: Rows) -> None:
        if not len(rows):
            return
        table = rows.table()
        target = str(self.settings.table)
        if self.settings.mode == "append" or not (self.exists or self._exists(target)):
            self.database.write(target, table, policy="append")
        else:
            self.database.run(self._upsert(target, _last_per_key(table, self.settings.key)))
        if self.connection is not None and self.connection.kind == "duckdb":
            # DuckDB locks its file for one process: let other readers in between batches.
            self.database.close()

    def close(self) -> None:
        self.database.close()

    def _exists(self, target: str) -> bool:
        try:
            self.database.query(f"SELECT 1 FROM {self._name(target)} WHERE 1 = 0")
        except Exception:  # any refusal means there is no such table yet
            return False
        self.exists = True
        return True

    def _upsert(self, target: str, table: Any) -> SQLWork:
        from cairn.blocks.sql_analysis import Statement

        missing = [key for key in self.settings.key if key not in table.column_names]
        if missing:
            raise CairnError(Problem(
                "upsert-key", f"sink {target}: the rows have no column {missing[0]!r} of the "
                f"upsert key", hint=f"the rows have: {', '.join(table.column_names)}"))
        matches = " AND ".join(f"b.{self._quote(k)} = t.{self._quote(k)}"
                               for k in self.settings.key)
        delete = (f"DELETE FROM {self._name(target)} AS t WHERE EXISTS "
                  f"(SELECT 1 FROM {_BATCH} AS b WHERE {matches})")
        if self.dialect == "mysql":  # MySQL names the alias before FROM
            delete = (f"DELETE t FROM {self._name(target)} AS t WHERE EXISTS "
                      f"(SELECT 1 FROM {_BATCH} AS b WHERE {matches})")
        return SQLWork(target, [Statement(delete, 1), Statement(f"SELECT * FROM {_BATCH}", 2)],
                       frames={_BATCH: table}, policy="append")

    def _quote(self, name: str) -> str:
        from sqlglot import exp

        return exp.to_identifier(name, quoted=True).sql(dialect=self.dialect)

    def _name(self, table: str) -> str:
        schema = self.connection.schema if self.connection else None
        return f"{self._quote(schema)}.{self._quote(table)}" if schema else self._quote(table)


def _last_per_key(table: Any, key: list[str]) -> Any:
    """One row per key, the batch's last: a replace must not insert a key twice."""
    import pyarrow as pa
    import pyarrow.compute as pc

    positions = pa.array(range(table.num_rows))
    newest = (table.append_column("__position", positions)
              .group_by(key, use_threads=False).aggregate([("__position", "max")]))
    return table.take(pc.sort_indices(newest["__position_max"]))


SINK = TableSink
