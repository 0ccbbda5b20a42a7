"""API routes for the dashboards: every pipeline's health, one pipeline's trends, a run's
block timeline and a search of its logs (docs/monitoring.md)."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from cairn import service
from cairn.monitor import log_search, stats
from cairn.project.config import Project
from cairn.server.params import BlockFilter, PipelineName, RunId, SearchText

router = APIRouter(prefix="/api")

Days = Annotated[int, Query(ge=1, le=366, description="The window: this many days up to "
                            "today (UTC).")]


def _plain(value: Any) -> Any:
    """A result as JSON: times in ISO 8601 UTC with a `Z`, days as `YYYY-MM-DD`."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, datetime):  # before `date`: a datetime is a date too
        return value.isoformat() + "Z"
    if isinstance(value, date):
        return value.isoformat()
    return value


def _project(request: Request) -> Project:
    project: Project = request.app.state.project
    return project


@router.get("/stats")
def all_stats(request: Request, days: Days = 7) -> dict[str, Any]:
    """Every pipeline's health: last run, success rate, p50/p95 duration, next run."""
    project = _project(request)
    metadata = service.open_metadata(project)
    try:
        return {"days": days, "pipelines": _plain(stats.health(project, metadata, days))}
    finally:
        metadata.close()


@router.get("/pipelines/{pipeline}/stats")
def pipeline_stats(pipeline: PipelineName, request: Request, days: Days = 30) -> dict[str, Any]:
    """A pipeline's health, its runs in the window, failures per day and per-block figures."""
    project = _project(request)
    metadata = service.open_metadata(project)
    try:
        result: dict[str, Any] = _plain(stats.trend(project, metadata, pipeline, days))
        return result
    finally:
        metadata.close()


@router.get("/runs/{run_id}/timeline")
def run_timeline(run_id: RunId, request: Request) -> dict[str, Any]:
    """A run and each block attempt in it: queued, started and ended times, metrics."""
    metadata = service.open_metadata(_project(request))
    try:
        result: dict[str, Any] = _plain(stats.timeline(metadata, run_id))
        return result
    finally:
        metadata.close()


@router.get("/runs/{run_id}/logs")
def search_logs(run_id: RunId, request: Request, block: BlockFilter = None,
                q: SearchText = "") -> dict[str, Any]:
    """The lines of the run's logs (or of one block's) holding `q`, with line numbers."""
    project = _project(request)
    metadata = service.open_metadata(project)
    try:
        found = log_search.search_logs(metadata, service.variable_store(project), run_id,
                                       block or None, q)
    finally:
        metadata.close()
    result: dict[str, Any] = _plain(found)
    return result
