"""One DuckDB file shared by every process of a project, one use at a time.

DuckDB lets a single process open a database file for writing. So each process opens the
file only while it holds the file's `QueueLock`, and threads of one process share that
connection. When the last user of a process is done, the connection stays open (opening
one costs about 10 ms) until another process queues for the file or it has been idle for
`LINGER_S`; then it is closed and the lock passes on, in the order processes asked.
While another process waits, new users of this process queue behind it instead of joining,
so no process can keep the file forever.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cairn.errors import CairnError, Problem
from cairn.io.queue_lock import LockTimeout, QueueLock

LINGER_S = 1.0
# While another process waits, new uses may still start this long after the file was taken.
TURN_S = 0.05
# How long a use waits for the project's other processes to be done with the file.
LOCK_TIMEOUT_S = 600.0
_WATCH_S = 0.005

# What the current thread is doing, as the holder shows it to processes waiting for the
# file: "run R, block B"; set by whoever runs blocks.
warehouse_user: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "warehouse_user", default=None)


def _command() -> str:
    words = [os.path.basename(sys.argv[0]) if sys.argv else "python", *sys.argv[1:4]]
    return " ".join(words)


class SharedDuckDB:
    """The connection of this process to one DuckDB file, and the file's lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = QueueLock(path)
        self._changed = threading.Condition()
        self._state = "free"  # free | acquiring | held | idle
        self._users: dict[int, str] = {}  # thread id -> what it does
        self._depth = threading.local()
        self._connection: Any = None
        self._idle_since = 0.0
        self._acquired_at = 0.0
        self._watcher: threading.Thread | None = None

    @contextlib.contextmanager
    def connection(self, name: str, timeout: float) -> Iterator[Any]:
        """The open connection, for the duration of one use (a block, a query)."""
        depth = getattr(self._depth, "n", 0)
        if depth:  # a use within a use of this thread: already counted
            self._depth.n = depth + 1
            try:
                yield self._connection
            finally:
                self._depth.n -= 1
            return
        self._enter(name, timeout)
        self._depth.n = 1
        try:
            yield self._connection
        finally:
            self._depth.n = 0
            self._leave()

    def _enter(self, name: str, timeout: float) -> None:
        user = warehouse_user.get() or "a query"
        give_up = time.monotonic() + timeout
        with self._changed:
            while True:
                if self._may_join():
                    self._join(user)
                    return
                if self._state == "free":
                    self._state = "acquiring"
                    break
                if time.monotonic() > give_up:
                    raise self._busy(name, LockTimeout(timeout, self.lock.holder(), 0))
                self._changed.wait(0.05)  # short: a thread interrupt is seen between waits
        try:
            self.lock.acquire(max(0.0, give_up - time.monotonic()), _command())
            self._connection = self._open(name, give_up)
        except LockTimeout as error:
            self._reset()
            raise self._busy(name, error) from None
        except BaseException:
            self._reset()
            raise
        with self._changed:
            self._acquired_at = time.monotonic()
            self._join(user)
            if self._watcher is None:
                self._watcher = threading.Thread(target=self._watch_idle, daemon=True,
                                                 name="cairn-duckdb-linger")
                self._watcher.start()

    def _may_join(self) -> bool:
        """Whether a new use may start on the open connection now. While another process
        waits, only within this process's turn: a hand-over costs a close and an open."""
        return self._state in ("held", "idle") and (
            time.monotonic() - self._acquired_at < TURN_S or not self.lock.others_waiting())

    def _join(self, user: str) -> None:
        self._state = "held"
        self._users[threading.get_ident()] = user
        self.lock.describe(sorted(self._users.values()), _command())
        self._changed.notify_all()

    def _leave(self) -> None:
        with self._changed:
            self._users.pop(threading.get_ident(), None)
            if self._users:
                self.lock.describe(sorted(self._users.values()), _command())
                return
            self._state, self._idle_since = "idle", time.monotonic()
            self.lock.describe([], _command())
            self._changed.notify_all()

    def _watch_idle(self) -> None:
        """Close the idle connection once another process waits or it idled long enough.
        It looks only after an idle moment: threads of this process often start the next
        use right away, and a hand-over costs a close and an open."""
        while True:
            with self._changed:
                while self._state != "idle":
                    self._changed.wait()
            time.sleep(_WATCH_S)
            with self._changed:
                if self._state == "idle" and (
                        time.monotonic() - self._idle_since >= LINGER_S
                        or self.lock.others_waiting()):
                    self._close()

    def close_if_idle(self) -> None:
        with self._changed:
            if self._state == "idle":
                self._close()

    def _reset(self) -> None:
        with self._changed:
            self._close()

    def _close(self) -> None:
        """Close the connection and release the lock (with `_changed` held)."""
        try:
            if self._connection is not None:
                self._connection.close()
        finally:
            self._connection = None
            self.lock.release()
            self._state = "free"
            self._changed.notify_all()

    def _open(self, name: str, give_up: float) -> Any:
        """Connect; retried while a process outside Cairn (DuckDB's CLI, an IDE) has it."""
        import duckdb

        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            try:
                return duckdb.connect(str(self.path))
            except duckdb.IOException as error:
                if "lock" not in str(error).lower() or time.monotonic() > give_up:
                    raise CairnError(Problem(
                        "warehouse", f"cannot open the DuckDB database {self.path} "
                        f"(connection {name}): {error}",
                        hint="a program outside Cairn may hold it open; close it")) from None
                time.sleep(0.05)

    def _busy(self, name: str, error: LockTimeout) -> CairnError:
        holder = error.holder.describe() if error.holder else "another process"
        others = f"; {error.waiting} more waiting" if error.waiting else ""
        return CairnError(Problem(
            "warehouse-busy",
            f"the DuckDB database {self.path} (connection {name}) stayed busy for "
            f"{error.waited:.0f} s: {holder} holds it{others}",
            hint=f"wait for it to finish or stop it, or raise `lock_timeout` of connection "
                 f"{name} in io_config.yaml"))

    def forget(self) -> None:
        """In a forked child: the parent's connection and lock are not this process's."""
        _abandoned.append(self._connection)  # closing it here would write to the parent's file
        self._connection = None
        self.lock.forget()
        self._changed = threading.Condition()
        self._state, self._users, self._watcher = "free", {}, None


_shared: dict[Path, SharedDuckDB] = {}
_shared_lock = threading.Lock()
_abandoned: list[Any] = []


def shared_duckdb(path: Path) -> SharedDuckDB:
    """This process's one handle on the DuckDB file at `path`."""
    key = path.resolve()
    with _shared_lock:
        if key not in _shared:
            _shared[key] = SharedDuckDB(key)
        return _shared[key]


def _after_fork() -> None:
    global _shared_lock
    _shared_lock = threading.Lock()
    for shared in _shared.values():
        shared.forget()
    _shared.clear()


os.register_at_fork(after_in_child=_after_fork)
