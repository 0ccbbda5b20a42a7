"""A table of any SQL connection as a stream's sink: appended to, or upserted by key.

Each batch is one transaction of the database. An upsert (`io/upsert.py`) keeps the
batch's last row of each key, deletes the stored rows with those keys and inserts the
rows, in that one transaction, which every engine Cairn runs on supports alike; a batch
replayed after a crash therefore leaves the table as it was.
"""

from __future__ import annotations

from cairn.errors import BlockError, CairnError, Problem
from cairn.io.database import Database, open_database
from cairn.stream.message import Rows
from cairn.stream.ports import Sink


class TableSink(Sink):
    """Writes each batch to `settings.table` on the sink's SQL connection."""

    database: Database

    def open(self) -> None:
        assert self.connection is not None
        self.database = open_database(self.connection)

    def write(self, rows: Rows) -> None:
        if not len(rows):
            return
        target = str(self.settings.table)
        try:
            self.database.write(target, rows.table(), policy=self.settings.mode,
                                key=self.settings.key)
        except BlockError as error:  # the rows do not fit the upsert: a setting to fix
            raise CairnError(Problem("sink-rows", f"sink {target}: {error.message}",
                                     hint=error.detail.removeprefix("hint: "))) from None
        if self.connection is not None and self.connection.kind == "duckdb":
            # DuckDB locks its file for one process: let other readers in between batches.
            self.database.close()

    def close(self) -> None:
        self.database.close()


SINK = TableSink
