"""The webhook endpoint: events POSTed for a streaming pipeline, kept in its inbox.

An event is answered 202 only once it is on disk, so it is never lost, whether or not the
stream runs; the stream's webhook source reads the inbox. Callers present the source's own
token (`options.token` or `options.token_env`), not the server's; an empty token refuses
every call. It may come as `?token=` too, unlike the server's: many senders can only be
given a URL.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool

from cairn.errors import CairnError
from cairn.project.config import Project
from cairn.project.pipeline import PIPELINE_FILE, PipelineSettings
from cairn.project.yaml_file import validate
from cairn.server.auth import token_matches
from cairn.stream import inbox
from cairn.stream.webhook import WebhookOptions, webhook_options

router = APIRouter(prefix="/api")


@router.post("/pipelines/{pipeline}/events", status_code=status.HTTP_202_ACCEPTED)
async def post_events(pipeline: str, request: Request) -> dict[str, int]:
    """Accept events (`Authorization: Bearer TOKEN` or `?token=`): a JSON array is one
    message per element, any other body one message."""
    project: Project = request.app.state.project
    options = await run_in_threadpool(_options, project, pipeline)
    _check_token(request, options)
    body = await _body(request, options.max_body_bytes)
    folder = inbox.folder(project.state_dir / "streams" / pipeline)
    accepted = await run_in_threadpool(inbox.deliver, folder, body)
    return {"accepted": accepted}


def _options(project: Project, pipeline: str) -> WebhookOptions:
    """The pipeline's webhook options; a caller who may not have the token yet learns only
    that there is no webhook here, not why (no such pipeline, a broken pipeline.yaml)."""
    try:
        settings_file = project.pipeline_dir(pipeline) / PIPELINE_FILE
        settings = validate(PipelineSettings, settings_file) if settings_file.is_file() else None
        if settings is not None and settings.source is not None and (
                settings.source.kind == "webhook"):
            return webhook_options(settings.source)
    except CairnError:
        pass
    raise HTTPException(status.HTTP_404_NOT_FOUND,
                        "there is no streaming pipeline with a webhook source at this address")


def _check_token(request: Request, options: WebhookOptions) -> None:
    expected = options.expected()
    if not expected:  # an empty token is a mistake, never an open door
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this webhook's token is not set or "
                            "empty on the server, so it accepts no calls")
    authorization = request.headers.get("authorization", "")
    presented = (authorization[7:] if authorization.lower().startswith("bearer ")
                 else request.query_params.get("token", ""))
    if not token_matches(expected, presented):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this webhook needs its token",
                            headers={"WWW-Authenticate": "Bearer"})


async def _body(request: Request, limit: int) -> bytes:
    """The request's body, refused (413) past `limit` bytes before it is all read."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)
    return bytes(body)


def _too_large(limit: int) -> HTTPException:
    return HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                         f"the body is over this webhook's limit of {limit} bytes "
                         "(options.max_body_bytes)")
