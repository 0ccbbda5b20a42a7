"""API routes for the project, its pipelines, block files and project files."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from cairn import service
from cairn.errors import relative
from cairn.graph.build import Graph
from cairn.project import editing, rename
from cairn.project.config import Project
from cairn.project.pipeline import Pipeline
from cairn.server.history import run_json
from cairn.server.params import BlockName, BodyName, NameList, PipelineName, ProjectPath

router = APIRouter(prefix="/api")


def project_of(request: Request) -> Project:
    project: Project = request.app.state.project
    return project


def graph_json(project: Project, pipeline: Pipeline, graph: Graph) -> dict[str, Any]:
    def problem(p: Any) -> dict[str, Any]:
        document: dict[str, Any] = p.to_dict()
        if document.get("file"):
            document["file"] = relative(project.root / document["file"], project.root.resolve())
        return document

    try:
        layers = graph.layers() if not any(p.kind == "cycle" for p in graph.problems) else [
            list(graph.order)]
    except ValueError:
        layers = [list(graph.order)]
    notes = service.block_notes(project, pipeline)
    return {
        "blocks": [{"name": b, "language": pipeline.blocks[b].language,
                    "file": relative(pipeline.blocks[b].file, project.root),
                    "notes": notes.get(b, {})}
                   for b in graph.order],
        "edges": [{"from": e.source, "to": e.target, "names": list(e.names)}
                  for e in graph.edges()],
        "errors": [problem(p) for p in graph.problems],
        "warnings": [problem(p) for p in graph.warnings],
        "layers": layers,
    }


@router.get("/project")
def get_project(request: Request) -> dict[str, Any]:
    project = project_of(request)
    metadata = service.open_metadata(project)
    try:
        pipelines = []
        for name in project.pipeline_names():
            from cairn.project.pipeline import block_files

            latest = metadata.latest_run(name)
            pipelines.append({"name": name,
                              "blocks": len(block_files(project.pipeline_dir(name))),
                              "last_run": run_json(latest) if latest else None})
    finally:
        metadata.close()
    return {"name": project.settings.name, "root": str(project.root), "pipelines": pipelines}


@router.get("/pipelines/{pipeline}")
def get_pipeline(pipeline: PipelineName, request: Request) -> dict[str, Any]:
    project = project_of(request)
    loaded, graph = service.plan(project, pipeline)
    blocks = [asdict(editing.read_block(project, pipeline, b)) for b in graph.order]
    return {"name": pipeline, "blocks": blocks, "graph": graph_json(project, loaded, graph)}


class NewPipeline(BaseModel):
    name: BodyName


@router.post("/pipelines", status_code=status.HTTP_201_CREATED)
def create_pipeline(body: NewPipeline, request: Request) -> dict[str, Any]:
    """An empty pipeline (a folder with a pipeline.yaml), for the notebook to fill."""
    editing.create_pipeline(project_of(request), body.name)
    return get_pipeline(body.name, request)


class Order(BaseModel):
    blocks: NameList


@router.put("/pipelines/{pipeline}/order")
def reorder_blocks(pipeline: PipelineName, body: Order, request: Request) -> dict[str, Any]:
    """Write the notebook's order of the cards as the `blocks:` list of pipeline.yaml."""
    editing.reorder_blocks(project_of(request), pipeline, body.blocks)
    return get_pipeline(pipeline, request)


class Sources(BaseModel):
    sources: dict[str, str] = {}


@router.post("/pipelines/{pipeline}/analyze")
def analyze(pipeline: PipelineName, body: Sources, request: Request) -> dict[str, Any]:
    project = project_of(request)
    loaded, graph = service.plan(project, pipeline, sources=body.sources)
    return graph_json(project, loaded, graph)


class NewBlock(BaseModel):
    name: BodyName
    language: Literal["python", "sql", "r"] = "python"


@router.post("/pipelines/{pipeline}/blocks", status_code=status.HTTP_201_CREATED)
def create_block(pipeline: PipelineName, body: NewBlock, request: Request) -> dict[str, Any]:
    return asdict(editing.create_block(project_of(request), pipeline, body.name, body.language))


class Save(BaseModel):
    source: str
    base_hash: str | None = None


@router.put("/pipelines/{pipeline}/blocks/{block}", response_model=None)
def save_block(pipeline: PipelineName, block: BlockName, body: Save,
               request: Request) -> dict[str, Any] | JSONResponse:
    try:
        saved = editing.save_block(project_of(request), pipeline, block, body.source,
                                   body.base_hash)
    except editing.EditConflict as conflict:
        return JSONResponse({"detail": f"{conflict.current.file} changed on disk",
                             "current": asdict(conflict.current)},
                            status_code=status.HTTP_409_CONFLICT)
    return asdict(saved)


class Rename(BaseModel):
    name: BodyName
    # Rewrite the blocks that read the old name to read the new one.
    update_readers: bool = False


@router.post("/pipelines/{pipeline}/blocks/{block}/rename")
def rename_block(pipeline: PipelineName, block: BlockName, body: Rename,
                 request: Request) -> dict[str, Any]:
    renamed = rename.rename_block(project_of(request), pipeline, block, body.name,
                                  body.update_readers)
    return {**asdict(renamed.block), "readers": [asdict(r) for r in renamed.readers]}


@router.get("/pipelines/{pipeline}/blocks/{block}/readers")
def block_readers(pipeline: PipelineName, block: BlockName, request: Request) -> dict[str, Any]:
    """The blocks a rename would leave reading a name nothing defines."""
    readers = rename.readers_of(project_of(request), pipeline, block)
    return {"readers": [asdict(r) for r in readers]}


@router.delete("/pipelines/{pipeline}/blocks/{block}", status_code=status.HTTP_204_NO_CONTENT)
def delete_block(pipeline: PipelineName, block: BlockName, request: Request) -> Response:
    editing.delete_block(project_of(request), pipeline, block)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/files")
def read_file(path: ProjectPath, request: Request) -> dict[str, str]:
    try:
        target = editing.project_file(project_of(request), path)
    except PermissionError as error:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(error)) from None
    if not target.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no file {path}")
    return {"path": path, "text": target.read_text(encoding="utf-8", errors="replace")}
