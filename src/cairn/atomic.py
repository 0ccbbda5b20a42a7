"""Write files so that a reader sees the old content or the new, never a part."""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

# `.NAME.PID.HEX.tmp`: the pid says whose it is, so that one left by a process that died
# (SIGKILL, power loss: no `finally` ran) can be told from one being written now.
_TEMPORARY = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp")
# Past this age a temporary is an orphan whatever its pid says: the pid may have been
# reused by an unrelated process, and no single write takes a day.
ORPHAN_AGE_S = 24 * 3600


@contextmanager
def atomic_file(path: Path) -> Iterator[IO[bytes]]:
    """Open a temporary file that replaces `path` only once it is complete and on disk."""
    # Unique per writer: two threads saving the same file must not share a temporary.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temporary, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_atomically(path: Path, data: bytes) -> None:
    with atomic_file(path) as handle:
        handle.write(data)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def orphaned_temporaries(root: Path, now: float | None = None) -> list[Path]:
    """The temporaries of `atomic_file` under `root` whose writer is gone: its process is
    not alive, or the file is older than ORPHAN_AGE_S."""
    now = time.time() if now is None else now
    found = []
    for folder, _, names in os.walk(root):
        for name in names:
            match = _TEMPORARY.fullmatch(name)
            if match is None:
                continue
            path = Path(folder, name)
            try:
                age = now - path.stat().st_mtime
            except FileNotFoundError:  # its writer just renamed or removed it
                continue
            if age > ORPHAN_AGE_S or not _alive(int(match["pid"])):
                found.append(path)
    return sorted(found)


def remove_orphaned_temporaries(root: Path) -> list[Path]:
    """Delete what `orphaned_temporaries` finds; return what it deleted."""
    removed = []
    for path in orphaned_temporaries(root):
        try:
            path.unlink()
        except FileNotFoundError:  # another process cleaning at the same time
            continue
        removed.append(path)
    return removed
