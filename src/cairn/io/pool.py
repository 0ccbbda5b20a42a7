"""The databases a run talks to, opened on first use and closed together."""

from __future__ import annotations

import threading
from collections.abc import Mapping

from cairn.errors import CairnError, Problem, closest
from cairn.io.connection import Connection
from cairn.io.database import Database, open_database


class Databases:
    """SQL connections by name; each is opened once, when a block first needs it."""

    def __init__(self, connections: Mapping[str, Connection]) -> None:
        self.connections = dict(connections)
        self._open: dict[str, Database] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Database:
        with self._lock:
            if name not in self._open:
                connection = self.connections.get(name)
                if connection is None or not connection.is_sql:
                    sql = [n for n, c in self.connections.items() if c.is_sql]
                    raise CairnError(Problem("unknown-connection",
                                             f"no SQL connection named {name!r}",
                                             hint=closest(name, sql)))
                self._open[name] = open_database(connection)
            return self._open[name]

    def close(self) -> None:
        with self._lock:
            for database in self._open.values():
                database.close()
            self._open.clear()
