"""`cairn stream PIPELINE`: one stream process, recorded as a run, reporting as it goes.

The process is a run of the pipeline (trigger `stream`) from start to stop: its blocks'
output goes to their logs, its counters to the `streams` table every second, and the
source's position to the checkpoints. SIGTERM or Ctrl-C stop it after the current batch.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from cairn.errors import CairnError, Problem, closest
from cairn.ids import RunId
from cairn.io.config import load_connections
from cairn.io.connection import Connection
from cairn.io.duckdb_share import warehouse_user
from cairn.io.secrets import redact
from cairn.project.config import Project
from cairn.project.pipeline import Pipeline
from cairn.project.streaming import SinkSettings
from cairn.runtime.capture import routed_output
from cairn.service import checked_plan, heartbeat, new_run_id
from cairn.stream.loop import SinkTarget, StreamLoop, StreamStats
from cairn.stream.ports import Sink, Source, StreamScope, make_sink, make_source
from cairn.stream.recording import StreamRecord
from cairn.stream.transform import Transformer


@dataclass
class StreamResult:
    run_id: RunId
    stats: StreamStats


def stream_scope(project: Project, name: str, batch_size: int | None = None) -> StreamScope:
    return StreamScope(name, project.root, project.state_dir / "streams" / name, batch_size)


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
    scope = stream_scope(project, name, settings.batch.max_messages)
    connections = load_connections(project)
    run_id = new_run_id()
    warehouse_user.set(f"stream {name} (run {run_id})")  # named to processes waiting for it
    transformer = Transformer(pipeline, graph, run_id)
    record = StreamRecord(project, pipeline, run_id)
    transformer.capture = record.capture
    opened: list[Source | Sink] = []
    loop: StreamLoop | None = None
    stop = threading.Event()
    # Signals only ask to stop, from here until everything is closed: a SIGTERM while
    # closing must not kill the process before it acknowledged what its sinks hold.
    with _stop_on_signals(stop):
        try:
            source = make_source(settings.source, _connection(
                connections, settings.source.connection, "source"), scope)
            if getattr(source, "holds_position", False):
                source.restore(record.checkpoints())
            targets = [SinkTarget(_sink(sink, connections, project, scope, opened),
                                  transformer.checked_output(sink.from_, sink.target))
                       for sink in settings.sinks]
            dead_letter = _sink(settings.dead_letter or SinkSettings(
                url=str(scope.state_dir / "dead_letter"), format="jsonl"),
                connections, project, scope, opened)
            source.open()
            opened.append(source)
            loop = StreamLoop(source, transformer, targets, dead_letter, settings.batch,
                              record.record_position, record.report, stop)
            record.report(loop.stats)  # connected: running from now on
            started(run_id)
            with (routed_output(), contextlib.chdir(project.root),
                  heartbeat(project, run_id)):
                loop.run(stop_when_idle)
            record.record_position(source, force=True)
        except Exception as error:
            message = _error_text(error)
            record.finish(_stats(loop), message)
            if isinstance(error, CairnError):
                raise
            traceback.print_exc()  # where it broke, for the process's log
            raise CairnError(Problem(
                "stream-failed", f"stream {name} stopped: {message}",
                hint="nothing after the last acknowledged batch is lost: fix the cause and "
                     "start it again (a managed stream restarts by itself, with backoff)",
            )) from error
        else:
            record.finish(loop.stats, None)
        finally:
            for part in reversed(opened):
                with contextlib.suppress(Exception):  # closing what is left is all we can do
                    part.close()
            transformer.close()
            record.close()
    return StreamResult(run_id, loop.stats)


def _stats(loop: StreamLoop | None) -> StreamStats:
    return loop.stats if loop is not None else StreamStats()


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


def _error_text(error: Exception) -> str:
    if isinstance(error, CairnError):
        return "; ".join(problem.describe() for problem in error.problems)
    return redact(f"{type(error).__name__}: {error}")


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT finish the current batch, then stop."""
    def ask(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, ask) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
