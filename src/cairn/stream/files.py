"""The files source: the rows of new files under a folder or object-store prefix, as messages.

Cairn holds the position as a watermark, like the timestamp strategy of incremental blocks:
the newest modification time of the files committed in full, the names committed within
`lookback_seconds` of it (so the set stays small), and the file partly consumed with its
rows consumed. Files are read oldest first, and only once their size has held for
`settle_seconds`, so a file still being written waits. Local files count as modified when
moved in too (their inode change time), so an old file moved into the folder is new.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cairn.errors import CairnError, Problem
from cairn.io.connection import Connection
from cairn.io.files import file_format, filesystem, is_relative, location
from cairn.project.streaming import SourceSettings
from cairn.stream.file_rows import Rows, rows
from cairn.stream.message import Message
from cairn.stream.ports import Source, StreamScope

_IDLE_SECONDS = 0.05  # how long an idle fetch sleeps between looks


class FilesOptions(BaseModel):
    """A files source's `options`."""

    model_config = ConfigDict(extra="forbid")

    settle_seconds: float = Field(default=1.0, ge=0)  # a file's size must hold this long
    poll_seconds: float = Field(default=1.0, gt=0)  # how often the folder is listed
    # Object stores may date a file by the start of its upload: this much older than the
    # newest file committed, a file not committed yet is still new.
    lookback_seconds: float = Field(default=0.0, ge=0)
    storage_options: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class _File:
    path: str  # as the filesystem names it
    name: str  # relative to the watched folder: how positions name it
    modified: float
    size: int


@dataclass
class _Mark:
    """A message's handle: its file, the file's rows consumed through it, and the empty
    files passed after it (committed with it)."""

    file: _File
    index: int
    last: bool
    empties: list[_File] = field(default_factory=list)


class FilesSource(Source):
    """Reads new files in order of modification, a batch ending anywhere inside a file."""

    holds_position = True

    def __init__(self, settings: SourceSettings, connection: Connection | None,
                 scope: StreamScope) -> None:
        super().__init__(settings, connection, scope)
        try:
            self.options = FilesOptions.model_validate(settings.options)
        except ValidationError as error:
            reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                for e in error.errors())
            raise CairnError(Problem("bad-options", f"the files source's options are wrong: "
                                     f"{reasons}", hint="options: settle_seconds, poll_seconds, "
                                     "lookback_seconds, storage_options")) from None
        url = str(settings.url)
        if connection is None and is_relative(url):
            url = str(scope.root / url)
        url, storage = location(url, connection, self.options.storage_options)
        self.fs, self.base = filesystem(url, storage)
        self.base = self.base.rstrip("/")
        self._at: float | None = None  # committed: the watermark
        self._seen: dict[str, float] = {}  # names committed within the lookback, and when
        self._current: str | None = None  # the file partly consumed, and its rows consumed
        self._index = 0
        self._sizes: dict[str, tuple[tuple[int, float], float]] = {}  # settling: since when
        self._queue: deque[_File] = deque()  # settled, in order of reading
        self._reading: tuple[_File, Rows, int] | None = None
        self._taken: set[str] = set()  # fetched in part or full, not committed in full
        self._unacked: _Mark | None = None  # the last message fetched, until committed
        self._scanned = float("-inf")

    def open(self) -> None:
        self._scan()  # a wrong URL or missing credentials show now, not at the first fetch

    def restore(self, checkpoints: dict[str, Any]) -> None:
        self._at = checkpoints.get("modified")
        self._seen = dict(checkpoints.get("files") or {})
        self._current = checkpoints.get("current")
        self._index = int(checkpoints.get("index") or 0)
        self._rewind()

    def position(self) -> dict[str, Any]:
        if self._at is None and self._current is None:
            return {}
        return {"modified": self._at, "files": dict(self._seen), "current": self._current,
                "index": self._index}

    def fetch(self, max_messages: int, max_wait: float) -> list[Message]:
        deadline = time.monotonic() + max_wait
        batch: list[Message] = []
        while True:
            try:
                self._take(batch, max_messages)
            except BaseException:
                self._rewind()  # files fetched in this call must not pass for read
                raise
            left = deadline - time.monotonic()
            if len(batch) >= max_messages or left <= 0:
                if batch:
                    self._unacked = batch[-1].handle
                return batch
            time.sleep(min(_IDLE_SECONDS, left))

    def commit(self, messages: Sequence[Message]) -> None:
        for message in messages:
            mark: _Mark = message.handle
            for done in ([mark.file] if mark.last else []) + mark.empties:
                self._advance(done)
        if messages:
            last: _Mark = messages[-1].handle
            self._current, self._index = (None, 0) if last.last else (last.file.name,
                                                                      last.index)
            if last is self._unacked:
                self._unacked = None

    def close(self) -> None:
        self._rewind()

    def lag(self) -> int:
        """Files waiting (as of the last listing), the one partly read included."""
        return len(self._sizes.keys() | self._taken)

    def sample(self, count: int) -> list[Message]:
        """The last `count` rows of the newest file."""
        files = self._listing()
        if not files:
            return []
        newest = max(files, key=lambda f: (f.modified, f.name))
        rows = deque(enumerate(self._rows(newest, 0)), maxlen=count)
        return [self._message(newest, value, index) for index, (value, _) in rows]

    # -- reading ---------------------------------------------------------------------------
    def _rewind(self) -> None:
        """Forget what was fetched and not committed: the next fetch starts at the position."""
        if self._reading is not None:
            self._reading[1].close()
        self._reading = self._unacked = None
        self._queue.clear()
        self._taken.clear()
        self._scanned = float("-inf")

    def _take(self, batch: list[Message], max_messages: int) -> None:
        while len(batch) < max_messages:
            if self._reading is None:
                found = self._next_file()
                if found is None:
                    return
                start = self._index if found.name == self._current else 0
                self._taken.add(found.name)
                self._reading = (found, self._rows(found, start), start)
            found, rows, index = self._reading
            item = next(rows, None)
            if item is None:  # no rows (left): committed after what was fetched before it
                self._reading = None
                if batch:
                    batch[-1].handle.empties.append(found)
                elif self._unacked is not None:
                    self._unacked.empties.append(found)
                else:
                    self._advance(found)
                continue
            value, last = item
            batch.append(self._message(found, value, index, last))
            self._reading = None if last else (found, rows, index + 1)

    def _next_file(self) -> _File | None:
        if not self._queue and time.monotonic() - self._scanned >= self.options.poll_seconds:
            self._scan()
        while self._queue:
            found = self._queue.popleft()
            if found.name not in self._taken:
                return found
        return None

    def _scan(self) -> None:
        """List the folder; queue the new files whose size has settled, oldest first."""
        now = self._scanned = time.monotonic()
        sizes = {}
        ready = []
        for found in self._listing():
            if found.name in self._taken or not (found.name == self._current
                                                 or self._is_new(found)):
                continue
            state = (found.size, found.modified)
            before = self._sizes.get(found.name)
            since = before[1] if before is not None and before[0] == state else now
            sizes[found.name] = (state, since)
            if now - since >= self.options.settle_seconds:
                ready.append(found)
        self._sizes = sizes
        # The committed position covers one file partly: finish it before any other.
        ready.sort(key=lambda f: (f.name != self._current, f.modified, f.name))
        self._queue = deque(ready)

    def _listing(self) -> list[_File]:
        self.fs.invalidate_cache()  # object stores' clients cache listings: see new files
        found = self.fs.glob(f"{self.base}/{self.settings.pattern}", detail=True)
        files = []
        for path, info in found.items():
            name = path[len(self.base) + 1:] if path.startswith(self.base + "/") else path
            if info.get("type") == "file" and not name.rsplit("/", 1)[-1].startswith("."):
                files.append(_File(path, name, _modified(info), int(info.get("size") or 0)))
        return files

    def _is_new(self, found: _File) -> bool:
        if self._at is None or found.modified > self._at:
            return True
        return (found.modified >= self._at - self.options.lookback_seconds
                and self._seen.get(found.name) != found.modified)

    def _advance(self, done: _File) -> None:
        """Count a file committed in full into the watermark."""
        self._taken.discard(done.name)
        self._sizes.pop(done.name, None)
        self._at = done.modified if self._at is None else max(self._at, done.modified)
        self._seen[done.name] = done.modified
        oldest = self._at - self.options.lookback_seconds
        self._seen = {name: at for name, at in self._seen.items() if at >= oldest}
        if done.name == self._current:
            self._current, self._index = None, 0

    def _message(self, found: _File, value: bytes, index: int, last: bool = False) -> Message:
        return Message(value, topic=found.name, position=f"{found.name}:{index}",
                       timestamp=found.modified, handle=_Mark(found, index + 1, last))

    def _rows(self, found: _File, start: int) -> Rows:
        """The file's rows from row `start`, each as JSON bytes, with whether it is the last."""
        fmt = file_format(found.path, self.settings.format)
        try:
            yield from rows(self.fs, found.path, fmt, start)
        except (OSError, ValueError) as error:  # Arrow's parse errors are ValueErrors
            raise CairnError(Problem(
                "unreadable-file", f"cannot read {found.name} as {fmt}: {error}",
                hint="fix or move the file out of the folder; the stream resumes at it"),
            ) from error


def _modified(info: dict[str, Any]) -> float:
    """When a listed file last changed: local files by their inode change time too."""
    stamps = [info[key] for key in ("mtime", "created", "LastModified", "last_modified",
                                    "updated", "modified") if info.get(key) is not None]
    values = [s.timestamp() if isinstance(s, datetime) else
              datetime.fromisoformat(s).timestamp() if isinstance(s, str) else float(s)
              for s in stamps]
    return max(values) if values else 0.0


SOURCE = FilesSource
