"""One writer at a time for a project's editable files (block files, pipeline.yaml).

An edit reads a file, checks it (the editor's base hash, a name being free) and writes:
two editors doing that at once would both pass the check and one edit would be lost. The
lock is an `flock` on a file under .cairn/, so it serializes the threads of one server as
well as `cairn serve`, the CLI and other servers of the same project (every open of the
file is locked on its own, even within one process).
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cairn.project.config import Project

LOCK_FILE = "edit.lock"
# The projects whose lock this thread holds: an edit made of edits (a rename rewriting its
# readers) takes it once; a second flock by the same thread would wait for itself.
_held = threading.local()


@contextmanager
def edit_lock(project: Project) -> Iterator[None]:
    """Hold the project's edit lock: read, check and write within it."""
    held: set[Path] = _held.__dict__.setdefault("roots", set())
    root = project.root.resolve()
    if root in held:
        yield
        return
    project.state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(project.state_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        held.add(root)
        try:
            yield
        finally:
            held.discard(root)
    finally:
        os.close(fd)  # closing the last descriptor releases the lock
