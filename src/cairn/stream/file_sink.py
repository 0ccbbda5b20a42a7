"""Files under a folder or object-store prefix as a stream's sink: one file per batch.

A file is written whole (a local one through a synced temporary, an object in one upload),
so a reader never sees part of a batch. Names sort by time; a replayed batch writes a new
file, so files sinks give at-least-once results.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from cairn.io.files import write_file
from cairn.stream.message import Rows
from cairn.stream.ports import Sink


class FileSink(Sink):
    """Writes each batch as `<url>/<time>-<pid>-<n>.<format>`."""

    def open(self) -> None:
        url = str(self.settings.url)
        if self.connection is None and "://" not in url and not Path(url).is_absolute():
            url = str(self.scope.root / url)
            Path(url).mkdir(parents=True, exist_ok=True)
        self.base = url.rstrip("/")
        self.written = 0

    def write(self, rows: Rows) -> None:
        if not len(rows):
            return
        self.written += 1
        name = f"{time.time_ns()}-{os.getpid()}-{self.written:06d}.{self.settings.format}"
        write_file(rows.table(), f"{self.base}/{name}", self.settings.format,
                   connection=self.connection)


SINK = FileSink
