"""What a stream process leaves in the history: its run and its blocks' attempts and logs,
its row of `streams` (reported every second), its source's position as checkpoints, and
the alerts of its end."""

from __future__ import annotations

import os
import socket
import sys
import time
from contextlib import AbstractContextManager
from typing import Any

from cairn.ids import BlockName, RunId
from cairn.project.config import Project
from cairn.project.pipeline import Pipeline
from cairn.runtime.capture import block_output
from cairn.runtime.runner import LogSink, Outcome
from cairn.service import open_metadata, utc_now, variable_store
from cairn.store.stream_state import StreamStates
from cairn.stream.loop import StreamStats
from cairn.stream.ports import Source

SOURCE_BLOCK = "source"  # the checkpoints of a stream's position are under this name
POSITION_EVERY_S = 5.0  # a broker keeps the position itself; the history shows it this often
POSITION_VERSIONS = 1000  # versions of a position kept in the history


class StreamRecord:
    """Opens the run of a stream process and keeps its traces up to date until `finish`."""

    def __init__(self, project: Project, pipeline: Pipeline, run_id: RunId) -> None:
        self.project = project
        self.name = pipeline.name
        self.run_id = run_id
        self.metadata = open_metadata(project)
        self.states = StreamStates(self.metadata)
        self.metadata.create_run(run_id, self.name, list(pipeline.blocks),
                                 pipeline.variables, utc_now(), trigger="stream")
        self.states.report(self.name, status="starting", run_id=run_id, pid=os.getpid(),
                           host=socket.gethostname(), started_at=utc_now(),
                           heartbeat_at=utc_now(), **_counters(StreamStats()), rate=None,
                           lag=None, latency_p50_ms=None, latency_p99_ms=None)
        self.logs = {block: LogSink(variable_store(project).log_path(run_id, block), block, 1,
                                    _EchoOutput()) for block in pipeline.blocks}
        self.block_runs = {block: self.metadata.start_block(run_id, self.name, block, 1)
                           for block in pipeline.blocks}
        self.alerts: Any = None
        if project.settings.alerts.routes:  # the end of the stream alerts like a run's
            from cairn.monitor.watch import RunAlerts

            self.alerts = RunAlerts(project, pipeline.settings, run_id)
        self.position: dict[str, Any] | None = None
        self.position_at = 0.0

    def capture(self, block: BlockName) -> AbstractContextManager[None]:
        """Where a block's print output and logging go while it runs."""
        return block_output(self.logs[block])

    def checkpoints(self) -> dict[str, Any]:
        return self.metadata.checkpoint_values(self.name, SOURCE_BLOCK)

    def record_position(self, source: Source, force: bool = False) -> None:
        """After each batch when Cairn holds the position (it is then its only record),
        else every few seconds and at the end; only when it moved."""
        holds = getattr(source, "holds_position", False)
        if not (holds or force) and time.monotonic() - self.position_at < POSITION_EVERY_S:
            return
        values = source.position()
        if values and values != self.position:
            self.metadata.save_checkpoints(self.name, SOURCE_BLOCK, values, self.run_id,
                                           POSITION_VERSIONS)
            self.position = values
        self.position_at = time.monotonic()

    def report(self, stats: StreamStats) -> None:
        self.states.report(self.name, status="running", heartbeat_at=utc_now(),
                           **_counters(stats), rate=stats.rate, lag=stats.lag,
                           latency_p50_ms=stats.percentile(0.5),
                           latency_p99_ms=stats.percentile(0.99))

    def finish(self, stats: StreamStats, error: str | None) -> None:
        """A clean stop succeeds; an error fails the run and shows in the stream's row."""
        status = "failed" if error else "success"
        last = list(self.block_runs)[-1] if self.block_runs else None
        for block, block_run in self.block_runs.items():
            self.metadata.finish_block(block_run, status, rows_out=stats.messages_out
                                       if block == last else None)
        self.metadata.finish_run(self.run_id, status, error)
        failure = {"last_error": error, "last_error_at": utc_now()} if error else {}
        self.states.report(self.name, status="failed" if error else "stopped",
                           heartbeat_at=utc_now(), **_counters(stats), **failure)
        if self.alerts is not None:
            self.alerts.finished()

    def close(self) -> None:
        for sink in self.logs.values():
            sink.close()
        if self.alerts is not None:
            self.alerts.close()
        self.metadata.close()


def _counters(stats: StreamStats) -> dict[str, int]:
    return {"messages_in": stats.messages_in, "messages_out": stats.messages_out,
            "dead_letters": stats.dead_letters, "batches": stats.batches}


class _EchoOutput:
    """Shows blocks' output on the process's own terminal too (the logs keep it)."""

    def block_started(self, block: BlockName, attempt: int) -> None:
        pass

    def block_output(self, block: BlockName, stream: str, line: str) -> None:
        print(f"[{block}] {line}", file=sys.__stdout__, flush=True)

    def block_finished(self, block: BlockName, outcome: Outcome) -> None:
        pass
