"""Managed streams as the CLI and the API show them: each with its state, started and
stopped by asking (`desired`), which the scheduler's supervisor acts on."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row

from cairn.errors import CairnError, Problem, closest
from cairn.project.config import Project
from cairn.project.pipeline import PIPELINE_FILE, PipelineSettings
from cairn.project.yaml_file import validate
from cairn.store.metadata import MetadataStore, utcnow
from cairn.store.stream_state import StreamStates
from cairn.stream.supervisor import LIVE, STALE_SECONDS, STOP_SECONDS, Supervisor

_COUNTERS = ("run_id", "pid", "host", "started_at", "heartbeat_at", "restarts",
             "next_start_at", "messages_in", "messages_out", "dead_letters", "batches", "rate",
             "lag", "latency_p50_ms", "latency_p99_ms", "last_error", "last_error_at")


@dataclass
class StreamView:
    """A stream as shown. `status` is the process's, except `stale` (running, but silent
    for STALE_SECONDS: hung or gone) and `stopping` (asked to stop, still running)."""

    pipeline: str
    source: str  # e.g. `redis orders`
    desired: str
    status: str
    problem: str | None = None  # pipeline.yaml cannot be read
    run_id: str | None = None
    pid: int | None = None
    host: str | None = None
    started_at: datetime | None = None
    heartbeat_at: datetime | None = None
    restarts: int = 0
    next_start_at: datetime | None = None
    messages_in: int = 0
    messages_out: int = 0
    dead_letters: int = 0
    batches: int = 0
    rate: float | None = None
    lag: int | None = None
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None


def list_streams(project: Project) -> list[StreamView]:
    """Every streaming pipeline, and any other whose process still runs or restarts."""
    rows = _rows(project)
    views = []
    for name, (settings, problem) in _streaming(project).items():
        if settings is not None or name in rows:
            views.append(_view(name, settings, problem, rows.get(name)))
    for name, row in rows.items():
        if not any(view.pipeline == name for view in views) and row.status != "stopped":
            views.append(_view(name, None, None, row))
    return sorted(views, key=lambda view: view.pipeline)


def get_stream(project: Project, pipeline: str) -> StreamView:
    settings = _require(project, pipeline)
    return _view(pipeline, settings, None, _rows(project).get(pipeline))


def start_stream(project: Project, pipeline: str, wait: float = 0.0) -> StreamView:
    """Ask for the stream to run (clearing the backoff of earlier crashes); with `wait`,
    wait that long for a supervisor to start it."""
    _require(project, pipeline)
    metadata = _metadata(project)
    try:
        StreamStates(metadata).desire(pipeline, "running")
    finally:
        metadata.close()
    deadline = time.monotonic() + wait
    view = get_stream(project, pipeline)
    while view.status not in ("running", "restarting", "failed") and time.monotonic() < deadline:
        time.sleep(0.2)
        view = get_stream(project, pipeline)
    return view


def stop_stream(project: Project, pipeline: str, timeout: float = STOP_SECONDS) -> StreamView:
    """Ask for the stream to stop and stop its process: SIGTERM (it finishes its batch),
    SIGKILL after `timeout`. A process on another host is stopped by the supervisor there;
    this waits for it as long."""
    _require(project, pipeline)
    metadata = _metadata(project)
    try:
        states = StreamStates(metadata)
        states.desire(pipeline, "stopped")
        Supervisor(project, metadata).stop_now(pipeline, timeout)
        deadline = time.monotonic() + timeout
        while _running(states.get(pipeline)) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        metadata.close()
    return get_stream(project, pipeline)


def _running(row: Row[Any] | None) -> bool:
    return row is not None and row.status in LIVE and not _stale(row)


def _stale(row: Row[Any]) -> bool:
    return (row.heartbeat_at is None
            or utcnow() - row.heartbeat_at > timedelta(seconds=STALE_SECONDS))


def _view(name: str, settings: PipelineSettings | None, problem: str | None,
          row: Row[Any] | None) -> StreamView:
    source = settings.source if settings is not None else None
    described = f"{source.kind} {source.topic or source.url or ''}".strip() if source else ""
    if row is None:
        return StreamView(name, described, "running", "stopped", problem)
    status = row.status
    if status in LIVE and _stale(row):
        status = "stale"
    elif status in LIVE and row.desired == "stopped":
        status = "stopping"
    values = {column: getattr(row, column) for column in _COUNTERS}
    return StreamView(name, described, row.desired, status, problem, **values)


def _rows(project: Project) -> dict[str, Row[Any]]:
    metadata = _metadata(project)
    try:
        return {row.pipeline: row for row in StreamStates(metadata).all()}
    finally:
        metadata.close()


def _streaming(project: Project) -> dict[str, tuple[PipelineSettings | None, str | None]]:
    """Streaming pipelines' settings; pipelines whose pipeline.yaml is broken, with why."""
    found: dict[str, tuple[PipelineSettings | None, str | None]] = {}
    for name in project.pipeline_names():
        path = project.pipelines_dir / name / PIPELINE_FILE
        if not path.is_file():
            continue
        try:
            settings = validate(PipelineSettings, path)
        except CairnError as error:
            found[name] = (None, str(error))
            continue
        if settings.type == "streaming":
            found[name] = (settings, None)
    return found


def _require(project: Project, pipeline: str) -> PipelineSettings:
    folder = project.pipeline_dir(pipeline)  # unknown-pipeline, with the closest name
    path = folder / PIPELINE_FILE
    settings = validate(PipelineSettings, path) if path.is_file() else PipelineSettings()
    if settings.type != "streaming":
        streams = [n for n, (s, _) in _streaming(project).items() if s is not None]
        raise CairnError(Problem(
            "not-streaming", f"pipeline {pipeline} is not a streaming pipeline", file=str(path),
            hint=closest(pipeline, streams) or "a stream has `type: streaming` in "
            "pipeline.yaml"))
    return settings


def _metadata(project: Project) -> MetadataStore:
    # Not `service.open_metadata`: the supervisor, which knows why a stream process ended,
    # records it on the process's run; looking must not mark that run first.
    return MetadataStore(project.metadata_url)
