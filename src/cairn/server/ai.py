"""API routes of AI-assisted blocks: generate, explain and fix, none of which saves a file."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from cairn.ai import generate
from cairn.ai.context import build_context
from cairn.ai.generate import Generated
from cairn.project.config import Project
from cairn.server.params import BlockName, BodyName, PipelineName

router = APIRouter(prefix="/api/pipelines/{pipeline}")


def _project(request: Request) -> Project:
    project: Project = request.app.state.project
    return project


def _proposal(generated: Generated) -> dict[str, Any]:
    """A proposed block for review; the UI saves it through the block-file routes."""
    return {"name": generated.name, "language": generated.language, "code": generated.code,
            "source": generated.source, "template": generated.template,
            "attempts": generated.attempts,
            "problems": [problem.to_dict() for problem in generated.problems]}


class Description(BaseModel):
    description: str = Field(max_length=100_000)
    language: Literal["python", "sql", "r"] | None = None
    name: BodyName | None = None


@router.post("/generate")
def generate_block(pipeline: PipelineName, body: Description, request: Request) -> dict[str, Any]:
    """A new block from a description, by the configured model or else a template."""
    return _proposal(generate.generate_block(_project(request), pipeline, body.description,
                                             body.language, body.name))


@router.get("/generate/context")
def generation_context(pipeline: PipelineName, request: Request,
                       language: Literal["python", "sql", "r"] = "python") -> dict[str, str]:
    """Exactly what a model would be sent for a new block in `language`, besides the
    description: the instructions and the pipeline's context."""
    context = build_context(_project(request), pipeline, language)
    return {"text": generate.system_prompt(context)}


@router.post("/blocks/{block}/explain")
def explain_block(pipeline: PipelineName, block: BlockName, request: Request) -> dict[str, str]:
    return {"text": generate.explain_block(_project(request), pipeline, block)}


@router.post("/blocks/{block}/fix")
def fix_block(pipeline: PipelineName, block: BlockName, request: Request) -> dict[str, Any]:
    """A corrected version of the whole block file, from its recent errors."""
    return _proposal(generate.fix_block(_project(request), pipeline, block))
