"""The FastAPI application: the API, the built web UI, and errors as JSON problems."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST

from cairn import __version__
from cairn.errors import CairnError
from cairn.io.secrets import redact
from cairn.monitor.prometheus import MetricsExporter
from cairn.notebook.session import Notebooks
from cairn.project.config import Project
from cairn.server import ai, history, notebooks, projects, streams
from cairn.server.guard import RequestGuard
from cairn.server.stats import router as stats_router
from cairn.server.webhook import router as webhook_router

STATIC = Path(__file__).parent / "static"
_STATUS_OF = {"unknown-pipeline": 404, "unknown-block": 404, "unknown-run": 404,
              "no-output": 404, "block-exists": 409, "pipeline-exists": 409, "busy": 409,
              "not-streaming": 404, "outside-project": 403}


def create_app(project: Project, token: str | None = None, scheduler: bool = True,
               allowed_hosts: Collection[str] = ()) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        thread = None
        if scheduler:  # triggers fire while the server runs
            from cairn.schedule.scheduler import Scheduler

            thread = threading.Thread(target=Scheduler(project).run, args=(stop,), daemon=True,
                                      name="cairn-scheduler")
            thread.start()
        yield
        stop.set()
        if thread is not None:  # it stops the stream processes it started
            thread.join(timeout=30)
        app.state.metrics.close()
        app.state.notebooks.close()  # pipeline runs go on: they are `cairn run` processes

    app = FastAPI(title="Cairn", version=__version__, lifespan=lifespan,
                  description="Edit, run and inspect the pipelines of a Cairn project.")
    app.state.project = project
    # Host, origin, token and content type are checked before any route (docs/api.md).
    app.add_middleware(RequestGuard, token=token, allowed_hosts=allowed_hosts)
    app.state.notebooks = Notebooks(project)
    app.state.runs = []

    @app.exception_handler(CairnError)
    async def problems(_request: Request, error: CairnError) -> JSONResponse:
        kinds = [p.kind for p in error.problems]
        code = next((_STATUS_OF[k] for k in kinds if k in _STATUS_OF), 400)
        return JSONResponse(
            {"detail": redact(str(error)),
             "problems": [{**p.to_dict(), "message": redact(p.message)}
                          for p in error.problems]},
            status_code=code)

    app.include_router(projects.router)
    app.include_router(notebooks.router)
    app.include_router(history.router)
    app.include_router(stats_router)
    app.include_router(streams.router)
    app.include_router(ai.router)
    app.include_router(history.triggers)  # guarded by each trigger's own token
    app.include_router(webhook_router)  # guarded by each webhook source's own token

    # Prometheus scrapes this; with a server token it needs it too (bearer_token).
    app.state.metrics = MetricsExporter(project.metadata_url)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    if (STATIC / "index.html").is_file():
        app.mount("/assets", StaticFiles(directory=STATIC / "assets", check_dir=False),
                  name="assets")

        @app.get("/", include_in_schema=False)
        def index() -> FileResponse:
            return FileResponse(STATIC / "index.html")

    return app
