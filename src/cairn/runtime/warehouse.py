"""The embedded DuckDB database where SQL blocks run and their tables stay."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from cairn.errors import CairnError, Problem


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Warehouse:
    """One DuckDB connection per process, opened on first use; a cursor per block."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._connection: Any = None
        self._lock = threading.Lock()

    def cursor(self) -> Any:
        with self._lock:
            if self._connection is None:
                import duckdb

                self.path.parent.mkdir(parents=True, exist_ok=True)
                try:
                    self._connection = duckdb.connect(str(self.path))
                except duckdb.Error as error:
                    raise CairnError(
                        Problem(
                            "warehouse",
                            f"cannot open the DuckDB warehouse {self.path}: {error}",
                            hint="another process may be using it; wait for it to finish",
                        )
                    ) from None
            return self._connection.cursor()

    def read(self, table: str) -> Any:
        """A warehouse table as a pandas DataFrame."""
        cursor = self.cursor()
        try:
            return cursor.sql(f"SELECT * FROM {quote(table)}").df()
        finally:
            cursor.close()

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
