"""API routes of managed streams: their state, and starting or stopping one (docs/api.md)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request

from cairn.project.config import Project
from cairn.server.params import PipelineName
from cairn.stream import manage
from cairn.stream.manage import StreamView

router = APIRouter(prefix="/api/streams")


def _project(request: Request) -> Project:
    project: Project = request.app.state.project
    return project


def _plain(view: StreamView) -> dict[str, Any]:
    """A stream as JSON: times in ISO 8601 UTC with a `Z`."""
    return {key: value.isoformat() + "Z" if hasattr(value, "isoformat") else value
            for key, value in asdict(view).items()}


@router.get("")
def list_streams(request: Request) -> list[dict[str, Any]]:
    """Every streaming pipeline with its process's state and figures."""
    return [_plain(view) for view in manage.list_streams(_project(request))]


@router.get("/{pipeline}")
def get_stream(pipeline: PipelineName, request: Request) -> dict[str, Any]:
    return _plain(manage.get_stream(_project(request), pipeline))


@router.post("/{pipeline}/start")
def start_stream(pipeline: PipelineName, request: Request) -> dict[str, Any]:
    """Ask for the stream to run; the scheduler starts it within a second."""
    return _plain(manage.start_stream(_project(request), pipeline))


@router.post("/{pipeline}/stop")
def stop_stream(pipeline: PipelineName, request: Request) -> dict[str, Any]:
    """Stop the stream and wait for its process to end (at most about 15 s)."""
    return _plain(manage.stop_stream(_project(request), pipeline))
