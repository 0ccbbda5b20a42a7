"""API routes for pipeline runs: start one as `cairn run` would, list and inspect them."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from cairn import ids, service
from cairn.errors import CairnError
from cairn.project.config import Project
from cairn.server.auth import token_matches
from cairn.server.guard import is_json
from cairn.server.params import (
    MAX_INT,
    BlockName,
    BodyName,
    Limit,
    PipelineFilter,
    PipelineName,
    RunId,
    TriggerName,
)

router = APIRouter(prefix="/api")
triggers = APIRouter(prefix="/api")  # guarded by each trigger's own token, not the server's


def _time(value: Any) -> str | None:
    return value.isoformat() + "Z" if value is not None else None


def run_json(record: Any) -> dict[str, Any]:
    return {"id": record.id, "pipeline": record.pipeline, "status": record.status,
            "started_at": _time(record.started_at), "ended_at": _time(record.ended_at),
            "duration_s": record.duration_s, "error": record.error}


def _block_run_json(record: Any) -> dict[str, Any]:
    return {"block": record.block, "attempt": record.attempt, "status": record.status,
            "started_at": _time(record.started_at), "ended_at": _time(record.ended_at),
            "duration_s": record.duration_s, "rows_out": record.rows_out,
            "output_bytes": record.output_bytes, "peak_memory_bytes": record.peak_memory_bytes,
            "error": record.error}


def _project(request: Request) -> Project:
    project: Project = request.app.state.project
    return project


class RunRequest(BaseModel):
    variables: dict[str, Any] = {}


@router.post("/pipelines/{pipeline}/runs", status_code=status.HTTP_202_ACCEPTED)
def start_run(pipeline: PipelineName, body: RunRequest, request: Request) -> dict[str, str]:
    """A real run of the saved files, in a `cairn run` process of its own."""
    project = _project(request)
    service.checked_plan(project, pipeline, body.variables)  # refuse a broken pipeline now
    run_id = service.new_run_id()
    command = [sys.executable, "-m", "cairn", "--profile", project.profile, "run", pipeline,
               "--project", str(project.root), "--quiet", "--run-id", run_id]
    for key, value in body.variables.items():
        command += ["--var", f"{key}={json.dumps(value)}"]
    runs: list[subprocess.Popen[bytes]] = request.app.state.runs
    runs[:] = [p for p in runs if p.poll() is None]  # collect the finished ones
    runs.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 start_new_session=True))
    return {"run_id": run_id}


@router.get("/runs")
def list_runs(request: Request, pipeline: PipelineFilter = None,
              limit: Limit = 50) -> list[dict[str, Any]]:
    metadata = service.open_metadata(_project(request))
    try:
        return [run_json(r) for r in metadata.list_runs(pipeline, limit)]
    finally:
        metadata.close()


@router.get("/runs/{run_id}")
def get_run(run_id: RunId, request: Request) -> dict[str, Any]:
    metadata = service.open_metadata(_project(request))
    try:
        record = metadata.find_run(run_id)
        document = run_json(record)
        document["blocks"] = [_block_run_json(b) for b in metadata.block_runs(record.id)]
    finally:
        metadata.close()
    return document


@router.get("/runs/{run_id}/logs/{block}")
def get_logs(run_id: RunId, block: BlockName, request: Request) -> dict[str, str]:
    project = _project(request)
    metadata = service.open_metadata(project)
    try:
        record = metadata.find_run(run_id)
    finally:
        metadata.close()
    path = service.variable_store(project).log_path(ids.RunId(record.id),
                                                   ids.BlockName(block))
    if not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"block {block} wrote no log in this run")
    return {"text": path.read_text(encoding="utf-8", errors="replace")}


_VARIABLES_BODY = {"requestBody": {"required": False, "content": {"application/json": {
    "schema": {"type": "object", "additionalProperties": True, "title": "Variables"}}}}}


@triggers.post("/pipelines/{pipeline}/trigger", status_code=status.HTTP_202_ACCEPTED,
               openapi_extra=_VARIABLES_BODY)
async def api_trigger(pipeline: str, request: Request) -> dict[str, str]:
    """Queue a run for the `api` trigger whose token the call carries (`Authorization:
    Bearer TOKEN`); the JSON body becomes run variables. The scheduler starts it.

    The token is checked before anything else: a caller without it learns nothing, not
    even whether the pipeline exists, nor what is wrong with its body."""
    authorization = request.headers.get("authorization", "")
    presented = authorization[7:] if authorization.lower().startswith("bearer ") else ""
    trigger = await run_in_threadpool(_api_trigger, _project(request), pipeline, presented)
    if trigger is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "no API trigger of this pipeline has "
                            "that token", headers={"WWW-Authenticate": "Bearer"})
    variables = await _variables(request)
    return await run_in_threadpool(_queue_run, _project(request), pipeline, trigger, variables)


def _api_trigger(project: Project, pipeline: str, presented: str) -> Any:
    """The `api` trigger of the pipeline whose token is `presented`, if any."""
    from cairn.project.pipeline import load_pipeline

    try:
        settings = load_pipeline(project, pipeline).settings
    except CairnError:  # no such pipeline, or a broken one: said only to token holders
        return None
    return next((t for t in settings.triggers
                 if t.api is not None and token_matches(t.api.expected(), presented)), None)


async def _variables(request: Request) -> dict[str, Any]:
    """The body as run variables: a JSON object, or nothing."""
    body = await request.body()
    if not body:
        return {}
    if not is_json(request.headers):
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                            "send the variables as JSON (Content-Type: application/json)")
    try:
        variables = json.loads(body)
    except ValueError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"the body is not JSON: {error}") from None
    if not isinstance(variables, dict):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "the body must be a JSON object of run variables")
    return variables


def _queue_run(project: Project, pipeline: str, trigger: Any,
               variables: dict[str, Any]) -> dict[str, str]:
    metadata = service.open_metadata(project)
    try:
        state = metadata.trigger_states(pipeline).get(trigger.name)
        if state is not None and state.paused:
            raise HTTPException(status.HTTP_409_CONFLICT, f"trigger {trigger.name} is paused")
        run_id = service.new_run_id()
        metadata.create_scheduled_run(run_id, pipeline, trigger.name, run_id, service.utc_now(),
                                      {**trigger.variables, **variables}, "queued")
    finally:
        metadata.close()
    return {"run_id": run_id, "trigger": trigger.name}


@router.get("/pipelines/{pipeline}/triggers")
def list_pipeline_triggers(pipeline: PipelineName, request: Request) -> list[dict[str, Any]]:
    """The pipeline's triggers: kind, schedule, paused or not, next fire time (UTC)."""
    from cairn.schedule.listing import list_triggers

    return [{"name": row.trigger, "kind": row.kind, "when": row.when, "catch_up": row.catch_up,
             "paused": row.paused, "next_fire": _time(row.next_fire)}
            for row in list_triggers(_project(request), pipeline)]


class Pause(BaseModel):
    paused: bool


@router.put("/pipelines/{pipeline}/triggers/{trigger}")
def pause_trigger(pipeline: PipelineName, trigger: TriggerName, body: Pause,
                  request: Request) -> dict[str, Any]:
    """Pause or resume a trigger."""
    from cairn.schedule.listing import set_paused

    set_paused(_project(request), pipeline, trigger, body.paused)
    return {"name": trigger, "paused": body.paused}


def _checkpoint_json(row: Any) -> dict[str, Any]:
    return {"pipeline": row.pipeline, "block": row.block, "name": row.name,
            "version": row.version, "value": None if row.value is None else json.loads(row.value),
            "run_id": row.run_id, "source": row.source, "created_at": _time(row.created_at),
            "note": row.note}


@router.get("/checkpoints")
def list_checkpoints(request: Request, pipeline: PipelineFilter = None,
                     history: bool = False) -> list[dict[str, Any]]:
    """Incremental blocks' checkpoints: the current versions, or with `history` all."""
    return [_checkpoint_json(row) for row in
            service.list_checkpoints(_project(request), pipeline, history)]


class CheckpointReset(BaseModel):
    block: BodyName | None = None  # else every block of the pipeline
    to_version: int | None = Field(default=None, ge=1, le=MAX_INT)  # back to that version
    to_value: Any = None  # the new value; neither: no value, the next run takes everything
    note: str = "reset through the API"


@router.post("/pipelines/{pipeline}/checkpoints/reset")
def reset_checkpoints(pipeline: PipelineName, body: CheckpointReset,
                      request: Request) -> list[dict[str, Any]]:
    """Reset checkpoints for a backfill, as `cairn checkpoints reset` does."""
    value = json.dumps(body.to_value) if "to_value" in body.model_fields_set else None
    done = service.reset_checkpoints(_project(request), pipeline, body.block, body.to_version,
                                     value, body.note)
    return [{"block": block, "name": name, "version": version}
            for block, name, version in done]
