"""The supervisor: keeps each streaming pipeline's `cairn stream` process as the user wants
it (the `streams` row's `desired`), restarting one that ends with exponential backoff.

The scheduler calls `tick` every half second. A process this supervisor did not start but
that runs on this host (left by an earlier scheduler, or started by hand) is adopted, never
doubled; a row another host keeps fresh belongs to that host's supervisor. Of supervisors
deciding at once, one starts the stream (`StreamStates.claim`).
"""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import Row

from cairn.monitor.json_logs import log_event
from cairn.project.config import Project
from cairn.project.pipeline import PipelineSettings
from cairn.project.streaming import RestartSettings
from cairn.store.metadata import MetadataStore, utcnow
from cairn.store.stream_state import StreamStates
from cairn.stream.processes import (
    Child,
    ask_to_stop,
    forget_stop,
    log_path,
    log_tail,
    signal_text,
    stream_process,
    terminate,
)

log = logging.getLogger("cairn.scheduler")

STALE_SECONDS = 10.0  # a process silent this long is hung or gone (it beats every second)
STOP_SECONDS = 15.0  # after SIGTERM, this long to finish its batch before SIGKILL
LIVE = ("starting", "running")
_ROTATE_BYTES = 5 * 2**20  # process.log is moved to process.log.1 beyond this


def _state(pipeline: str, status: str, message: str, pid: int | None,
           level: int = logging.INFO) -> None:
    """A line for the operator when a stream's process changes state."""
    log_event(log, level, "stream_state", f"stream {pipeline} {status}: {message}",
              pipeline=pipeline, status=status, pid=pid)


def backoff(restart: RestartSettings, restarts: int, ran: float) -> tuple[int, float]:
    """The count of crashes in a row after one more, and the seconds to wait: `delay`
    doubled by each crash, at most `max_delay`; a process that ran `reset_after` counts 1."""
    count = 1 if ran > restart.reset_after else restarts + 1
    return count, min(restart.delay * 2.0 ** min(count - 1, 60), restart.max_delay)


class Supervisor:
    """The stream processes of one project that run on this host."""

    def __init__(self, project: Project, metadata: MetadataStore) -> None:
        self.project = project
        self.metadata = metadata
        self.states = StreamStates(metadata)
        self.host = socket.gethostname()
        self.children: dict[str, Child] = {}

    def command(self, pipeline: str) -> list[str]:
        return [sys.executable, "-m", "cairn", "--profile", self.project.profile, "stream",
                pipeline, "--project", str(self.project.root)]

    def tick(self, pipelines: Mapping[str, PipelineSettings]) -> None:
        """Act on every streaming pipeline (`pipelines`: every valid pipeline's settings)."""
        rows = {row.pipeline: row for row in self.states.all()}
        streaming = {name for name, s in pipelines.items() if s.type == "streaming"}
        for name in sorted(streaming | set(self.children)):
            try:
                self._supervise(name, pipelines.get(name), rows.get(name))
            except Exception as error:  # one stream's trouble must not stall the others
                log.warning("stream %s: %s: %s", name, type(error).__name__, error)

    def shutdown(self) -> None:
        """Stop every process watched here (SIGTERM, then SIGKILL), leaving `desired` as it
        is: the next supervisor starts them again."""
        for child in self.children.values():
            child.stop_sent = time.monotonic()
            ask_to_stop(self.project, child.pipeline, child.pid)
        deadline = time.monotonic() + STOP_SECONDS
        while any(not c.ended() for c in self.children.values()) and time.monotonic() < deadline:
            time.sleep(0.1)
        for child in list(self.children.values()):
            if not child.ended():
                child.kill()
                if child.process is not None:
                    child.process.wait()
            self._record_end(child, None)
        self.children.clear()

    def stop_now(self, name: str, timeout: float = STOP_SECONDS) -> None:
        """Stop the stream's process if it runs on this host, waiting for it to end, so that
        `cairn streams stop` works without a scheduler too."""
        row = self.states.get(name)
        if row is None:
            return
        if row.host == self.host and row.pid and stream_process(row.pid, name):
            child = Child(name, row.pid, row.started_at or utcnow(), stop_sent=time.monotonic())
            child.killed = terminate(self.project, name, row.pid, timeout)
            self._record_end(child, None)
        elif row.status == "restarting":
            self.states.report(name, status="stopped", next_start_at=None)

    def _supervise(self, name: str, settings: PipelineSettings | None,
                   row: Row[Any] | None) -> None:
        child = self.children.get(name)
        if child is not None and child.ended():
            del self.children[name]
            self._record_end(child, settings)
            row, child = self.states.get(name), None
        if child is None and row is not None:
            child = self._adopt(row)
            if child is None and self._gone(row):
                self._record_end(Child(name, row.pid or 0, row.started_at or utcnow()), settings)
                row = self.states.get(name)
        wanted = self._wanted(name, settings, row)
        if wanted == "stopped" and child is not None:
            self._stop(child)
        elif wanted == "stopped" and row is not None and row.status == "restarting":
            self.states.report(name, status="stopped", next_start_at=None)
        elif wanted == "running" and child is None and settings is not None and self._due(row):
            self._start(name, settings, row)

    def _wanted(self, name: str, settings: PipelineSettings | None,
                row: Row[Any] | None) -> str | None:
        if settings is None:
            # A pipeline that is gone stops; one whose pipeline.yaml is broken is left as it
            # is, so that a typo does not stop a stream.
            gone = not (self.project.pipelines_dir / name).is_dir()
            return "stopped" if gone else None
        if settings.type != "streaming":
            return "stopped"
        return row.desired if row is not None else "running"

    def _adopt(self, row: Row[Any]) -> Child | None:
        if row.host != self.host or not row.pid or not stream_process(row.pid, row.pipeline):
            return None
        child = self.children[row.pipeline] = Child(row.pipeline, row.pid,
                                                   row.started_at or utcnow())
        _state(row.pipeline, "running", f"watching its running process {row.pid}", row.pid)
        return child

    def _gone(self, row: Row[Any]) -> bool:
        """Whether the row tells of a process that ended with nobody recording it."""
        silent = (row.heartbeat_at is None
                  or utcnow() - row.heartbeat_at > timedelta(seconds=STALE_SECONDS))
        if row.host != self.host:
            return row.status in (*LIVE, "failed") and silent
        # On this host `_adopt` saw no process; `starting` may be another supervisor's
        # moment between claiming the row and starting the process.
        return row.status in ("running", "failed") or (row.status == "starting" and silent)

    def _due(self, row: Row[Any] | None) -> bool:
        if row is None:
            return True
        if row.status in LIVE:
            return False  # live elsewhere
        return row.next_start_at is None or row.next_start_at <= utcnow()

    def _start(self, name: str, settings: PipelineSettings, row: Row[Any] | None) -> None:
        now = utcnow()
        if not self.states.claim(
                name, row.updated_at if row is not None else None, status="starting",
                host=self.host, pid=None, run_id=None, started_at=now, heartbeat_at=now,
                next_start_at=None, messages_in=0, messages_out=0, dead_letters=0, batches=0,
                rate=None, lag=None, latency_p50_ms=None, latency_p99_ms=None):
            return  # another supervisor started it
        path = log_path(self.project, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_file() and path.stat().st_size > _ROTATE_BYTES:
            path.replace(path.with_name(path.name + ".1"))
        try:
            with path.open("ab") as out:
                out.write(f"--- {now:%Y-%m-%d %H:%M:%S} UTC: started by the scheduler on "
                          f"{self.host}\n".encode())
                out.flush()
                process = subprocess.Popen(self.command(name), stdin=subprocess.DEVNULL,
                                           stdout=out, stderr=subprocess.STDOUT,
                                           start_new_session=True)
        except OSError as error:
            self._crashed(name, settings, f"could not start: {error}", 0.0)
            return
        forget_stop(self.project, name, process.pid)  # one left by an earlier, same pid
        self.children[name] = Child(name, process.pid, now, process)
        self.states.report(name, pid=process.pid)
        _state(name, "starting", f"started process {process.pid}", process.pid)

    def _stop(self, child: Child) -> None:
        if child.stop_sent is None:
            child.stop_sent = time.monotonic()
            ask_to_stop(self.project, child.pipeline, child.pid)
            _state(child.pipeline, "stopping", f"stopping process {child.pid}", child.pid)
        elif not child.killed and time.monotonic() - child.stop_sent > STOP_SECONDS:
            child.kill()

    def _record_end(self, child: Child, settings: PipelineSettings | None) -> None:
        """Record how the process ended: stopped when asked to, else a crash to restart."""
        forget_stop(self.project, child.pipeline, child.pid)
        row = self.states.get(child.pipeline)
        if row is not None and (row.pid or 0) != child.pid:
            return  # another supervisor (or `cairn streams stop`) recorded it first
        code = child.process.returncode if child.process is not None else None
        if child.stop_sent is not None or row is None or row.desired == "stopped":
            # A failure the process reported stays visible; so does a kill.
            status = "failed" if row is not None and row.status == "failed" else "stopped"
            values: dict[str, Any] = {"status": status, "pid": None, "next_start_at": None}
            if child.killed:
                reason = f"did not stop within {STOP_SECONDS:g} s of SIGTERM: killed"
                values.update(last_error=reason, last_error_at=utcnow())
            else:  # a run left open was ended before the process could close it
                reason = (signal_text(code) if code is not None else "ended") + " while stopping"
            self._fail_run(row, reason, "interrupted")
            self.states.report(child.pipeline, **values)
            _state(child.pipeline, status, f"process {child.pid} {reason}", child.pid,
                   logging.INFO if status == "stopped" else logging.WARNING)
            return
        if row.status == "failed" and row.last_error:
            reason = row.last_error  # the process said why
        else:
            reason = self._reason(child, code, row)
        self._fail_run(row, reason, "failed")
        ran = (utcnow() - child.started).total_seconds()
        if settings is None or settings.type != "streaming":
            self.states.report(child.pipeline, status="stopped", pid=None,
                               last_error=reason, last_error_at=utcnow())
            _state(child.pipeline, "stopped", f"process {child.pid} ended: "
                   f"{reason.splitlines()[0]}", child.pid, logging.WARNING)
        else:
            self._crashed(child.pipeline, settings, reason, ran)

    def _reason(self, child: Child, code: int | None, row: Row[Any]) -> str:
        if code is None and row.status == "stopped":
            said = "stopped by itself although it should run"
        elif code is None:
            said = (f"the process ({child.pid}) ended without saying why: killed, or "
                    f"unable to report" if child.pid else "the process never started")
        elif code == 0:
            said = "exited (code 0) although it should run"
        else:
            said = signal_text(code)
        tail = log_tail(log_path(self.project, child.pipeline))
        return f"{said}\n--- the last lines of its log:\n{tail}" if tail else said

    def _crashed(self, name: str, settings: PipelineSettings, reason: str,
                 ran: float) -> None:
        """Wait before starting again: `delay`, doubled by each crash in a row."""
        row = self.states.get(name)
        restarts, delay = backoff(settings.restart, row.restarts if row else 0, ran)
        now = utcnow()
        self.states.report(name, status="restarting", pid=None, restarts=restarts,
                           next_start_at=now + timedelta(seconds=delay),
                           last_error=reason, last_error_at=now)
        _state(name, "restarting", f"{reason.splitlines()[0]}; starting again in {delay:g} s",
               None, logging.WARNING)

    def _fail_run(self, row: Row[Any] | None, reason: str, status: str) -> None:
        """The run of a process that could not finish it says why it ended."""
        if row is None or not row.run_id:
            return
        run = next((r for r in self.metadata.active_runs(row.pipeline) if r.id == row.run_id),
                   None)
        if run is not None:
            self.metadata.interrupt_run(row.run_id, reason, status=status)
