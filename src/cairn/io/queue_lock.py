"""An inter-process lock on a file, granted in the order processes asked for it.

A waiter writes a ticket into a queue folder beside the file and takes the lock when its
ticket is the oldest. Each ticket is held under `flock` by its waiter, so the ticket of a
process that died is recognised (its lock is free) and removed instead of blocking the
queue; the lock itself is an `flock` too, which the kernel releases when its holder dies.
Whoever holds the lock writes who they are into the lock file, for the error that a waiter
who gives up shows.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

# How often a waiter looks at the queue. Short, because a release is only seen by polling.
_POLL_S = 0.002
_POLL_MAX_S = 0.02


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, as its holder described itself."""

    pid: int
    command: str
    users: tuple[str, ...]
    since: float

    def describe(self) -> str:
        doing = f", running {'; '.join(self.users)}" if self.users else ""
        return f"process {self.pid} ({self.command}){doing}"


class LockTimeout(Exception):
    """Waited `waited` seconds; `holder` held the lock (None if it could not be read)."""

    def __init__(self, waited: float, holder: Holder | None, waiting: int) -> None:
        super().__init__(f"waited {waited:.0f} s")
        self.waited = waited
        self.holder = holder
        self.waiting = waiting


def _is_held(path: Path) -> bool:
    """Whether some live process holds an flock on `path` (False if it is gone)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a lock taken just now
    return False


class QueueLock:
    """A first-come, first-served lock between processes; not re-entrant, one holder.

    Threads of one process must not wait on the same `QueueLock` at once: callers share
    one per file and one holder per process (see `duckdb_share.py`)."""

    def __init__(self, path: Path) -> None:
        self.lock_path = path.with_name(path.name + ".lock")
        self.queue = path.with_name(path.name + ".queue")
        self._fd: int | None = None

    def acquire(self, timeout: float, command: str) -> None:
        """Wait in line for the lock; `LockTimeout` after `timeout` seconds."""
        self.queue.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        ticket, ticket_fd = self._take_ticket()
        started = time.monotonic()
        poll = _POLL_S
        try:
            while True:
                waiting = self._tickets()
                ahead = waiting[:waiting.index(ticket.name)] if ticket.name in waiting else []
                if ahead and not _is_held(self.queue / ahead[0]):
                    with contextlib.suppress(FileNotFoundError):  # its waiter died
                        (self.queue / ahead[0]).unlink()
                    continue
                if not ahead:
                    with contextlib.suppress(BlockingIOError):
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                waited = time.monotonic() - started
                if waited >= timeout:
                    raise LockTimeout(waited, self.holder(), len(waiting) - 1)
                # First in line: the lock is about to be free, look often; else back off.
                time.sleep(_POLL_S if not ahead else poll)
                poll = min(poll * 1.5, _POLL_MAX_S)
        except BaseException:
            os.close(fd)
            raise
        finally:
            with contextlib.suppress(FileNotFoundError):
                ticket.unlink()
            os.close(ticket_fd)
        self._fd = fd
        self.describe([], command)

    def _take_ticket(self) -> tuple[Path, int]:
        """A ticket named by arrival time, locked before it appears in the queue, so a
        ticket in the queue whose lock is free always belongs to a dead waiter."""
        name = f"{time.time_ns():020d}-{os.getpid()}-{threading.get_ident()}"
        draft = self.queue / f".{name}"
        fd = os.open(draft, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.rename(draft, self.queue / name)
        return self.queue / name, fd

    def _tickets(self) -> list[str]:
        try:
            return sorted(n for n in os.listdir(self.queue) if not n.startswith("."))
        except FileNotFoundError:
            return []

    def others_waiting(self) -> bool:
        return bool(self._tickets())

    def describe(self, users: list[str], command: str) -> None:
        """Record who holds the lock now, for waiters' error messages."""
        if self._fd is None:
            return
        text = json.dumps({"pid": os.getpid(), "command": command, "users": users,
                           "since": time.time()}).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, text, 0)

    def holder(self) -> Holder | None:
        try:
            data = json.loads(self.lock_path.read_text())
            return Holder(int(data["pid"]), str(data["command"]),
                          tuple(data["users"]), float(data["since"]))
        except (OSError, ValueError, KeyError, TypeError):  # being rewritten, or never was
            return None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None

    def forget(self) -> None:
        """In a forked child: drop the parent's lock without touching it."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # the parent's descriptor stays open, and its lock
            self._fd = None
