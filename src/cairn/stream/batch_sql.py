"""SQL blocks of a stream: each micro-batch queried in a scratch DuckDB database.

The block reads the batch (and earlier blocks' outputs) as tables by their names, as in a
batch pipeline, through the same `run_sql`; its result comes back as an Arrow table. The
database lives in a temporary folder for the life of the stream process.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cairn.blocks.spec import BlockSpec
from cairn.blocks.sql_run import run_sql
from cairn.io.connection import Connection
from cairn.io.pool import Databases
from cairn.runtime.values import table_kind
from cairn.stream.message import Rows

BATCH_CONNECTION = "__stream_batch"


class BatchSQL:
    """Runs SQL blocks on batches; `close` removes the scratch database."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="cairn-stream-"))
        self.databases = Databases({BATCH_CONNECTION: Connection(
            BATCH_CONNECTION, "duckdb", {"path": str(self.folder / "batch.duckdb")})})

    def run(self, spec: BlockSpec, available: Mapping[str, Any]) -> dict[str, Any]:
        """The block's result table, by the block's name."""
        tables = {name: value if table_kind(value) else Rows(value).table()
                  for name, value in available.items()
                  if name in spec.references and (table_kind(value) or isinstance(value, list))}
        here = dataclasses.replace(spec, connection=BATCH_CONNECTION)
        run_sql(here, tables, available, self.databases, "table", "replace")
        return {spec.name: self.databases.get(BATCH_CONNECTION).read(spec.name)}

    def close(self) -> None:
        self.databases.close()
        shutil.rmtree(self.folder, ignore_errors=True)
