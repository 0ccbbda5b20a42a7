"""Stream processes as the operating system sees them: alive or not, stopping one, its log."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cairn.project.config import Project

_TAIL_BYTES = 4096
_TAIL_LINES = 12


def log_path(project: Project, pipeline: str) -> Path:
    """Where a managed stream process writes its stdout and stderr."""
    return project.state_dir / "streams" / pipeline / "process.log"


def stream_process(pid: int, pipeline: str) -> bool:
    """Whether `pid` is a live `cairn stream PIPELINE` process. The command line is checked
    (where /proc exists) so that a pid reused by another program is not mistaken for it;
    a zombie, whose command line is empty, counts as ended."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's process: not one of ours
    if not Path("/proc/self").is_dir():
        return True
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"stream" in words and pipeline.encode() in words


@dataclass
class Child:
    """A stream process being watched: one started here (`process`) or one adopted."""

    pipeline: str
    pid: int
    started: datetime
    process: subprocess.Popen[bytes] | None = None
    stop_sent: float | None = None  # monotonic time of our SIGTERM
    killed: bool = False

    def ended(self) -> bool:
        if self.process is not None:
            return self.process.poll() is not None
        return not stream_process(self.pid, self.pipeline)

    def kill(self) -> None:
        self.killed = True
        _send(self.pid, signal.SIGKILL)


def ask_to_stop(project: Project, pipeline: str, pid: int) -> None:
    """SIGTERM the process once, whoever asks: the supervisor and `cairn streams stop` may
    both, and a second SIGTERM would cut short its closing (acknowledging, leaving the
    group). The first to create the process's marker file sends it."""
    marker = _marker(project, pipeline, pid)
    marker.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return
    _send(pid, signal.SIGTERM)


def forget_stop(project: Project, pipeline: str, pid: int) -> None:
    """Remove the marker of an ended process (its pid may come again)."""
    _marker(project, pipeline, pid).unlink(missing_ok=True)


def terminate(project: Project, pipeline: str, pid: int, timeout: float) -> bool:
    """Ask the process to stop (it finishes its batch and exits); SIGKILL it after
    `timeout` seconds. True when it had to be killed."""
    ask_to_stop(project, pipeline, pid)
    if _wait_gone(pid, pipeline, timeout):
        return False
    _send(pid, signal.SIGKILL)
    _wait_gone(pid, pipeline, 5.0)
    return True


def _marker(project: Project, pipeline: str, pid: int) -> Path:
    return log_path(project, pipeline).with_name(f"stopping-{pid}")


def _send(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
        os.kill(pid, signum)


def _wait_gone(pid: int, pipeline: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while stream_process(pid, pipeline):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def signal_text(code: int) -> str:
    """A process's return code in words: `exited with code 1`, `killed by signal 9 (SIGKILL)`."""
    if code >= 0:
        return f"exited with code {code}"
    try:
        name = f" ({signal.Signals(-code).name})"
    except ValueError:
        name = ""
    return f"killed by signal {-code}{name}"


def log_tail(path: Path) -> str:
    """The last lines of a process log, or "" when there is none."""
    try:
        with path.open("rb") as file:
            start = max(0, file.seek(0, os.SEEK_END) - _TAIL_BYTES)
            file.seek(start)
            lines = file.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    lines = lines[1 if start else 0:][-_TAIL_LINES:]  # the first may be cut
    return "\n".join(lines).strip()
