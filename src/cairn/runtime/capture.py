"""Route print output and logging of each block to that block, even with blocks in threads.

While a run is going, `sys.stdout`, `sys.stderr` and a root logging handler send what a
thread writes to the sink of the block that thread runs; other threads write as before.
"""

from __future__ import annotations

import codecs
import logging
import os
import selectors
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, TextIO

LineSink = Callable[[str, str], None]  # (stream, text)
_current = threading.local()


class _RoutedStream:
    def __init__(self, stream_name: str, fallback: TextIO) -> None:
        self.stream_name = stream_name
        self.fallback = fallback

    def write(self, text: str) -> int:
        sink: LineSink | None = getattr(_current, "sink", None)
        if sink is None:
            return self.fallback.write(text)
        sink(self.stream_name, text)
        return len(text)

    def flush(self) -> None:
        self.fallback.flush()

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name: str) -> object:
        return getattr(self.fallback, name)


class _RoutedLogHandler(logging.Handler):
    def __init__(self, fallback: TextIO) -> None:
        super().__init__(level=logging.DEBUG)
        self.fallback = fallback

    def emit(self, record: logging.LogRecord) -> None:
        sink: LineSink | None = getattr(_current, "sink", None)
        if sink is not None:
            sink("log", self.format(record) + "\n")
        elif record.levelno >= logging.WARNING:
            # Not from a block: what Python would print without any handler installed.
            self.fallback.write(self.format(record) + "\n")


@contextmanager
def routed_output() -> Iterator[None]:
    """Install the routing for the duration of a run."""
    old_out, old_err = sys.stdout, sys.stderr
    handler = _RoutedLogHandler(old_err)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(min(old_level, logging.INFO) if old_level else logging.INFO)
    sys.stdout = _RoutedStream("stdout", old_out)
    sys.stderr = _RoutedStream("stderr", old_err)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = old_out, old_err
        root.removeHandler(handler)
        root.setLevel(old_level)


@contextmanager
def block_output(sink: LineSink) -> Iterator[None]:
    """Send this thread's output to `sink` while the block runs."""
    _current.sink = sink
    try:
        yield
    finally:
        _current.sink = None


def log_line(text: str) -> None:
    """A logging line already formatted elsewhere (a block's own process) to this thread's
    block, as its logging handler would send it; on stderr when no block runs here."""
    sink: LineSink | None = getattr(_current, "sink", None)
    if sink is not None:
        sink("log", text + "\n")
    else:
        sys.stderr.write(text + "\n")


def copy_child_output(process: subprocess.Popen[bytes],
                      stderr_line: Callable[[str], None]) -> None:
    """Copy a block's child process (R, an isolated block) to this thread's block until
    both pipes close: stdout as it comes (the block's log makes lines of it), stderr line by
    line through `stderr_line`, which tells the child's marked lines from plain ones."""
    assert process.stdout is not None and process.stderr is not None
    decoders = {pipe: codecs.getincrementaldecoder("utf-8")("replace")
                for pipe in (process.stdout, process.stderr)}
    partial = ""  # of stderr: the rest of its last line
    with selectors.DefaultSelector() as selector:
        for each in decoders:
            selector.register(each, selectors.EVENT_READ)
        while selector.get_map():
            # Wake up now and then: the runner stops a block (timeout, Ctrl-C) by raising an
            # exception in its thread, which lands between Python instructions, never inside
            # a select() that waits for a silent child. For the same reason a read takes
            # what the pipe holds and never waits for the end of a line.
            for key, _ in selector.select(timeout=0.1):
                pipe: IO[bytes] = key.fileobj  # type: ignore[assignment]
                chunk = os.read(pipe.fileno(), 1 << 16)
                if not chunk:
                    selector.unregister(pipe)
                    continue
                text = decoders[pipe].decode(chunk)
                if pipe is process.stdout:
                    sys.stdout.write(text)
                    continue
                *lines, partial = (partial + text).split("\n")
                for line in lines:
                    stderr_line(line)
    if partial:
        stderr_line(partial)
