"""`cairn stream PIPELINE`: one stream process, recorded as a run, reporting as it goes.

The process is a run of the pipeline (trigger `stream`) from start to stop: its blocks'
output goes to their logs, its counters to the `streams` table every second, and the
source's position to the checkpoints. SIGTERM or Ctrl-C stop it after the current batch.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from cairn.errors import CairnError, Problem, closest
from cairn.ids import BlockName, RunId
from cairn.io.config import load_connections
from cairn.io.connection import Connection
from cairn.io.secrets import redact
from cairn.project.config import Project
from cairn.project.pipeline import Pipeline
from cairn.project.streaming import SinkSettings
from cairn.runtime.capture import block_output, routed_output
from cairn.runtime.runner import LogSink, Outcome
from cairn.service import (
    checked_plan,
    heartbeat,
    new_run_id,
    open_metadata,
    utc_now,
    variable_store,
)
from cairn.store.metadata import MetadataStore
from cairn.store.stream_state import StreamStates
from cairn.stream.loop import SinkTarget, StreamLoop, StreamStats
from cairn.stream.ports import Sink, Source, StreamScope, make_sink, make_source
from cairn.stream.transform import Transformer

SOURCE_BLOCK = "source"  # the checkpoints of a stream's position are under this name
POSITION_EVERY_S = 5.0  # a broker keeps the position itself; the history shows it this often
POSITION_VERSIONS = 1000  # versions of a position kept in the history


@dataclass
class StreamResult:
    run_id: RunId
    stats: StreamStats


def stream_scope(project: Project, name: str) -> StreamScope:
    return StreamScope(name, project.root, project.state_dir / "streams" / name)


def streaming_pipeline(project: Project, name: str) -> tuple[Pipeline, Any]:
    """The pipeline and its graph, refused unless it is a streaming pipeline."""
    pipeline, graph = checked_plan(project, name)
    if pipeline.settings.type != "streaming":
        raise CairnError(Problem(
            "not-streaming", f"pipeline {name} is not a streaming pipeline",
            file=str(pipeline.folder / "pipeline.yaml"),
            hint=f"run it with `cairn run {name}`, or give it `type: streaming`, a `source` "
                 "and `sinks`"))
    return pipeline, graph


def run_stream(project: Project, name: str, stop_when_idle: float | None = None,
               started: Callable[[RunId], None] = lambda run_id: None) -> StreamResult:
    """Consume the pipeline's source until stopped; the run ends `success` on a clean stop
    and `failed` (the error re-raised) when anything breaks the stream."""
    pipeline, graph = streaming_pipeline(project, name)
    settings = pipeline.settings
    assert settings.source is not None
    scope = stream_scope(project, name)
    connections = load_connections(project)
    metadata = open_metadata(project)
    states = StreamStates(metadata)
    run_id = new_run_id()
    transformer = Transformer(pipeline, graph, run_id)
    metadata.create_run(run_id, name, list(pipeline.blocks), pipeline.variables, utc_now(),
                        trigger="stream")
    states.report(name, status="running", run_id=run_id, pid=os.getpid(),
                  host=socket.gethostname(), started_at=utc_now(), heartbeat_at=utc_now(),
                  messages_in=0, messages_out=0, dead_letters=0, batches=0, rate=None,
                  lag=None, latency_p50_ms=None, latency_p99_ms=None)
    logs = {block: LogSink(variable_store(project).log_path(run_id, block), block, 1,
                           _EchoOutput()) for block in pipeline.blocks}
    block_runs = {block: metadata.start_block(run_id, name, block, 1) for block in logs}
    transformer.capture = lambda block: block_output(logs[block])
    opened: list[Source | Sink] = []
    loop: StreamLoop | None = None
    try:
        source = make_source(settings.source, _connection(connections, settings.source
                                                          .connection, "source"), scope)
        if getattr(source, "holds_position", False):
            source.restore(metadata.checkpoint_values(name, SOURCE_BLOCK))
        targets = [SinkTarget(_sink(sink, connections, project, scope, opened),
                              sink.from_ or transformer.main_output())
                   for sink in settings.sinks]
        dead_letter = _sink(settings.dead_letter or SinkSettings(
            url=str(scope.state_dir / "dead_letter"), format="jsonl"),
            connections, project, scope, opened)
        source.open()
        opened.append(source)
        positions = _PositionRecorder(metadata, name, run_id)
        loop = StreamLoop(source, transformer, targets, dead_letter, settings.batch,
                          positions.record, _reporter(metadata, states, name, run_id))
        started(run_id)
        with (_stop_on_signals(loop), routed_output(), contextlib.chdir(project.root),
              heartbeat(project, run_id)):
            loop.run(stop_when_idle)
        positions.record(source, force=True)
    except KeyboardInterrupt:  # a second Ctrl-C while closing: still a stop
        _finish(metadata, states, name, run_id, block_runs, loop, None)
        raise
    except Exception as error:
        message = _error_text(error)
        _finish(metadata, states, name, run_id, block_runs, loop, message)
        if isinstance(error, CairnError):
            raise
        traceback.print_exc()  # where it broke, for the process's log
        raise CairnError(Problem(
            "stream-failed", f"stream {name} stopped: {message}",
            hint="nothing after the last acknowledged batch is lost: fix the cause and "
                 "start it again (a managed stream restarts by itself, with backoff)",
        )) from error
    finally:
        for part in reversed(opened):
            with contextlib.suppress(Exception):  # closing what is left is all we can do
                part.close()
        for sink in logs.values():
            sink.close()
        transformer.close()
    _finish(metadata, states, name, run_id, block_runs, loop, None)
    metadata.close()
    return StreamResult(run_id, loop.stats)


def _connection(connections: dict[str, Connection], name: str | None,
                role: str) -> Connection | None:
    if name is None:
        return None
    if name not in connections:
        raise CairnError(Problem("unknown-connection", f"the stream's {role} names connection "
                                 f"{name!r}, which io_config.yaml does not have",
                                 hint=closest(name, connections)))
    return connections[name]


def _sink(settings: SinkSettings, connections: dict[str, Connection], project: Project,
          scope: StreamScope, opened: list[Source | Sink]) -> Sink:
    name = settings.connection or (project.settings.default_connection if settings.table
                                   else None)
    sink = make_sink(settings, _connection(connections, name, f"sink {settings.target!r}"),
                     scope)
    sink.open()
    opened.append(sink)
    return sink


class _PositionRecorder:
    """Records the source's position after each batch when Cairn holds it (it is then the
    only record of it), else every few seconds and at the end; only when it moved."""

    def __init__(self, metadata: MetadataStore, name: str, run_id: RunId) -> None:
        self.metadata, self.name, self.run_id = metadata, name, run_id
        self.last: dict[str, Any] | None = None
        self.at = 0.0

    def record(self, source: Source, force: bool = False) -> None:
        holds = getattr(source, "holds_position", False)
        if not (holds or force) and time.monotonic() - self.at < POSITION_EVERY_S:
            return
        values = source.position()
        if values and values != self.last:
            self.metadata.save_checkpoints(self.name, SOURCE_BLOCK, values, self.run_id,
                                           POSITION_VERSIONS)
            self.last = values
        self.at = time.monotonic()


class _EchoOutput:
    """Shows blocks' output on the process's own terminal too (the logs keep it)."""

    def block_started(self, block: BlockName, attempt: int) -> None:
        pass

    def block_output(self, block: BlockName, stream: str, line: str) -> None:
        print(f"[{block}] {line}", file=sys.__stdout__, flush=True)

    def block_finished(self, block: BlockName, outcome: Outcome) -> None:
        pass


def _reporter(metadata: MetadataStore, states: StreamStates, name: str,
              run_id: RunId) -> Callable[[StreamStats], None]:
    def report(stats: StreamStats) -> None:
        states.report(name, status="running", heartbeat_at=utc_now(),
                      messages_in=stats.messages_in, messages_out=stats.messages_out,
                      dead_letters=stats.dead_letters, batches=stats.batches, rate=stats.rate,
                      lag=stats.lag, latency_p50_ms=stats.percentile(0.5),
                      latency_p99_ms=stats.percentile(0.99))

    return report


def _error_text(error: Exception) -> str:
    if isinstance(error, CairnError):
        return "; ".join(problem.describe() for problem in error.problems)
    return redact(f"{type(error).__name__}: {error}")


def _finish(metadata: MetadataStore, states: StreamStates, name: str, run_id: RunId,
            block_runs: dict[BlockName, int], loop: StreamLoop | None,
            message: str | None) -> None:
    """Record the end of the process's run: a clean stop succeeds, an error fails it."""
    stats = loop.stats if loop is not None else StreamStats()
    status = "failed" if message else "success"
    last = list(block_runs)[-1] if block_runs else None
    for block, block_run in block_runs.items():
        metadata.finish_block(block_run, status, rows_out=stats.messages_out
                              if block == last else None)
    metadata.finish_run(run_id, status, message)
    states.report(name, status="failed" if message else "stopped", heartbeat_at=utc_now(),
                  messages_in=stats.messages_in, messages_out=stats.messages_out,
                  dead_letters=stats.dead_letters, batches=stats.batches,
                  **({"last_error": message, "last_error_at": utc_now()} if message else {}))


@contextlib.contextmanager
def _stop_on_signals(loop: StreamLoop) -> Iterator[None]:
    """SIGTERM and SIGINT finish the current batch, then stop."""
    def stop(signum: int, frame: Any) -> None:
        loop.stop.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
