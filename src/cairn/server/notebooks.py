"""API routes for notebooks: run blocks in the pipeline's worker, stream what happens."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, WebSocket, WebSocketDisconnect, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from cairn.errors import CairnError, Problem
from cairn.notebook.session import Notebooks, NotebookSession, WorkerGone
from cairn.server.params import (
    MAX_INT,
    BlockName,
    BodyName,
    Offset,
    OutputName,
    PipelineName,
)

NO_SUCH_PIPELINE = 4404  # the WebSocket's close code for a pipeline that does not exist
router = APIRouter(prefix="/api/notebooks")
PageSize = Annotated[int, Query(ge=1, le=1000, description="Rows in one page.")]


def _notebooks(request: Request | WebSocket) -> Notebooks:
    notebooks: Notebooks = request.app.state.notebooks
    return notebooks


async def _ask(session: NotebookSession, command: str, **arguments: Any) -> Any:
    """A worker's answer; its problems become the API's errors."""
    try:
        reply = await run_in_threadpool(session.request, command, **arguments)
    except WorkerGone as gone:
        raise HTTPException(status.HTTP_409_CONFLICT, f"{gone}; restart the worker") from None
    except TimeoutError:
        raise HTTPException(status.HTTP_504_GATEWAY_TIMEOUT, "the worker did not answer") from None
    if "problems" in reply:
        raise CairnError([Problem(**p) for p in reply["problems"]])
    if "error" in reply:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, reply["error"])
    return reply.get("result")


@router.get("/{pipeline}")
async def get_state(pipeline: PipelineName, request: Request) -> dict[str, Any]:
    session = _notebooks(request).get(pipeline)
    if session.status == "dead":
        return {"worker": "dead", "running": None, "blocks": {},
                "message": session.dead_message}
    state: dict[str, Any] = await _ask(session, "state")
    return state


class RunBlocks(BaseModel):
    block: BodyName | None = None
    mode: Literal["block", "downstream", "all"] = "block"
    item: int | None = Field(default=None, ge=0, le=MAX_INT)  # one item of a mapped block


@router.post("/{pipeline}/run", status_code=status.HTTP_202_ACCEPTED)
async def run(pipeline: PipelineName, body: RunBlocks, request: Request) -> dict[str, Any]:
    session = _notebooks(request).get(pipeline)
    state: dict[str, Any] = await _ask(session, "run", block=body.block, mode=body.mode,
                                       item=body.item)
    return state


@router.post("/{pipeline}/interrupt", status_code=status.HTTP_204_NO_CONTENT)
async def interrupt(pipeline: PipelineName, request: Request) -> None:
    await _ask(_notebooks(request).get(pipeline), "interrupt")


@router.post("/{pipeline}/restart", status_code=status.HTTP_204_NO_CONTENT)
async def restart(pipeline: PipelineName, request: Request) -> None:
    await run_in_threadpool(_notebooks(request).get(pipeline).restart)


@router.get("/{pipeline}/blocks/{block}/output")
async def output_page(pipeline: PipelineName, block: BlockName, name: OutputName,
                      request: Request, offset: Offset = 0, limit: PageSize = 50,
                      ) -> dict[str, Any]:
    page: dict[str, Any] = await _ask(_notebooks(request).get(pipeline), "page", block=block,
                                      name=name, offset=offset, limit=limit)
    return page


@router.websocket("/{pipeline}/ws")
async def stream(websocket: WebSocket, pipeline: PipelineName) -> None:
    """The notebook's events; the guard checked its origin and token (`?token=` here)."""
    await websocket.accept()
    # A page closed or reloaded, or the worker ended or hangs: the socket just ends (the
    # page reconnects and shows the worker's state); nothing for the server's log.
    with contextlib.suppress(WebSocketDisconnect, WorkerGone, TimeoutError):
        await _send_events(websocket, pipeline)


async def _send_events(websocket: WebSocket, pipeline: str) -> None:
    try:
        session = _notebooks(websocket).get(pipeline)
    except CairnError as error:
        # Accepted first so the browser sees the code (a refused handshake is only 1006):
        # the page shows that the pipeline does not exist and does not reconnect.
        await websocket.close(code=NO_SUCH_PIPELINE,
                              reason=error.problems[0].message.encode()[:120].decode(
                                  errors="ignore"))
        return
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    session.listeners.add(queue)
    closed: asyncio.Future[Any] | None = None
    try:
        if session.status != "dead":
            state = await run_in_threadpool(session.request, "state")
            await websocket.send_json({"type": "state", "state": state.get("result")})
        else:
            await websocket.send_json({"type": "worker", "worker": "dead",
                                       "message": session.dead_message})
        # Wait for the next event and for the client at once, to notice a close promptly.
        closed = asyncio.ensure_future(websocket.receive())
        while True:
            event = asyncio.ensure_future(queue.get())
            await asyncio.wait({event, closed}, return_when=asyncio.FIRST_COMPLETED)
            if closed.done():
                event.cancel()
                break
            await websocket.send_json(event.result())
    finally:
        session.listeners.discard(queue)
        if closed is not None:
            closed.cancel()
